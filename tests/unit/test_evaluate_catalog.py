"""Evaluation of the CIS 1.12 catalog: input node -> expected finding and fix, for every kind of rule.

Components are built directly (flags as the pflag parser reads them, kubelet config as merged data,
manifests as real Pod YAML), so each row shows exactly which input gives which result.
"""

from __future__ import annotations

import typing as t

import pytest

from ansible_collections.kubefort.hardening.plugins.plugin_utils import _catalog
from ansible_collections.kubefort.hardening.plugins.module_utils._flags import parse_args
from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import Component, Node
from ansible_collections.kubefort.hardening.plugins.plugin_utils._manifests import load_manifest
from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options, evaluate, parse_duration

MANIFESTS = "/etc/kubernetes/manifests"
PROGRAM = {"kube-apiserver": "kube-apiserver", "kube-controller-manager": "kube-controller-manager",
           "kube-scheduler": "kube-scheduler", "etcd": "etcd"}
IMAGES = {"kube-apiserver": "registry.k8s.io/kube-apiserver", "kube-controller-manager": "registry.k8s.io/kube-controller-manager",
          "kube-scheduler": "registry.k8s.io/kube-scheduler", "etcd": "registry.k8s.io/etcd"}


def stat(mode: str = "0600", uid: int = 0, gid: int = 0, kind: str = "file", owner: t.Optional[str] = "root",
         group: t.Optional[str] = "root") -> t.Dict[str, t.Any]:
    return {"type": kind, "mode": mode, "uid": uid, "gid": gid, "owner": owner, "group": group}


def pod(name: str, args: t.Sequence[str], security: str = "", mounted: bool = False) -> str:
    lines = ["apiVersion: v1", "kind: Pod", "metadata:", "  name: %s" % name, "spec:", "  containers:",
             "  - command:", "    - %s" % PROGRAM[name]]
    lines += ["    - %s" % a for a in args]
    lines += ["    image: %s:v1.30.2" % IMAGES[name], "    name: %s" % name]
    if security:
        lines += ["    securityContext:"] + ["      %s" % s for s in security.split(";")]
    if mounted:
        # /etc/kubernetes from the host, as kubeadm's extraVolumes would mount a configuration directory.
        lines += ["    volumeMounts:", "    - mountPath: /etc/kubernetes", "      name: etc-kubernetes", "  volumes:",
                  "  - hostPath:", "      path: /etc/kubernetes", "    name: etc-kubernetes"]
    return "\n".join(lines) + "\n"


def static(name: str, *args: str, version: t.Optional[str] = "1.30.2", running: t.Optional[t.Sequence[str]] = None,
           security: str = "", mounted: bool = False) -> Component:
    path = "%s/%s.yaml" % (MANIFESTS, name)
    manifest, _name = load_manifest(path, pod(name, args, security, mounted))
    comp = Component(name=name, present=True, kind="static_pod", version=version, manifest=manifest)
    comp.disk_flags = parse_args(name, list(args), [{"path": path, "line": 9 + i, "index": i + 1} for i in range(len(args))])
    if running is not None:
        comp.running_flags = parse_args(name, list(running), [{"path": "/proc/42/cmdline"}] * len(running))
    return comp


def kubelet(*args: str, config: t.Optional[t.Dict[str, t.Any]] = None, version: t.Optional[str] = "1.30.2",
            unit: t.Optional[t.Dict[str, t.Any]] = None) -> Component:
    unit = unit or {"unit": "/usr/lib/systemd/system/kubelet.service",
                    "dropins": ["/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf"]}
    words = list(args) + (["--config=/var/lib/kubelet/config.yaml"] if config is not None else [])
    comp = Component(name="kubelet", present=True, kind="systemd", version=version, unit=unit)
    comp.disk_flags = parse_args("kubelet", words, [{"path": "/etc/default/kubelet", "line": 1}] * len(words))
    if config is not None:
        comp.config_path = "/var/lib/kubelet/config.yaml"
        comp.config = config
    return comp


def proxy(*args: str, config: t.Optional[t.Dict[str, t.Any]] = None) -> Component:
    words = list(args) + (["--config=/var/lib/kube-proxy/config.conf"] if config is not None else [])
    comp = Component(name="kube-proxy", present=True, kind="systemd", version="1.30.2")
    comp.disk_flags = parse_args("kube-proxy", words, [{"path": "/etc/systemd/system/kube-proxy.service", "line": 5}] * len(words))
    if config is not None:
        comp.config_path = "/var/lib/kube-proxy/config.conf"
        comp.config = config
    return comp


BASE_FILES = {
    MANIFESTS: stat("0755", kind="dir"),
    "/etc/kubernetes": stat("0755", kind="dir"),
    "/var/lib/kubelet": stat("0700", kind="dir"),
    "/var/lib/kubelet/config.yaml": stat("0600"),
    "/usr/lib/systemd/system": stat("0755", kind="dir"),
    "/usr/lib/systemd/system/kubelet.service": stat("0600"),
    "/usr/lib/systemd/system/kubelet.service.d": stat("0755", kind="dir"),
    "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf": stat("0600"),
    "/var/lib": stat("0755", kind="dir"),
    "/var/lib/etcd": stat("0700", kind="dir"),
    "/etc/kubernetes/pki": stat("0755", kind="dir"),
    "/etc/kubernetes/pki/ca.crt": stat("0644"),
    "/etc/kubernetes/pki/ca.key": stat("0600"),
    "/etc/kubernetes/admin.conf": stat("0600"),
}
for _name in PROGRAM:
    BASE_FILES["%s/%s.yaml" % (MANIFESTS, _name)] = stat("0600")


def node(*components: Component, files: t.Optional[t.Dict[str, t.Any]] = None) -> Node:
    merged = dict(BASE_FILES)
    merged.update(files or {})
    return Node(root="/", live=False, layout="kubeadm", components={c.name: c for c in components},
                files={p: v for p, v in merged.items() if v is not None}, static_pod_path=MANIFESTS)


def run(rule_id: str, the_node: Node, level: int = 2, **options: t.Any):
    return evaluate(the_node, [_catalog.BY_ID[rule_id]], Options(level=level, **options))[0]


def api(*args: str, files: t.Optional[t.Dict[str, t.Any]] = None, **kwargs: t.Any) -> Node:
    return node(static("kube-apiserver", *args, **kwargs), files=files)


ADMISSION = "/etc/kubernetes/admission.yaml"
ERL = ("apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: EventRateLimit\n"
       "  configuration:\n    apiVersion: eventratelimit.admission.k8s.io/v1alpha1\n    kind: Configuration\n"
       "    limits:\n    - type: Server\n      qps: 5\n      burst: 10\n")
AUDIT = "/etc/kubernetes/audit.yaml"
POLICY = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n"


def text(content: str) -> t.Dict[str, t.Any]:
    return dict(stat("0600"), content=content)


def cm(*args: str, **kwargs: t.Any) -> Node:
    return node(static("kube-controller-manager", *args, **kwargs))


def sched(*args: str, **kwargs: t.Any) -> Node:
    return node(static("kube-scheduler", *args, **kwargs))


def etcd(*args: str, files: t.Optional[t.Dict[str, t.Any]] = None, security: str = "") -> Node:
    return node(static("etcd", "--data-dir=/var/lib/etcd", *args, security=security), files=files)


def kl(*args: str, **kwargs: t.Any) -> Node:
    files = kwargs.pop("files", None)
    return node(kubelet(*args, **kwargs), files=files)


STRONG_API = ("--tls-cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_AES_128_GCM_SHA256")
KUBEADM_CERTS = ("--kubelet-client-certificate=/etc/kubernetes/pki/ca.crt", "--kubelet-client-key=/etc/kubernetes/pki/ca.key")

# (rule, node, status, (fix kind, target, value) or None)
CASES = [
    # --- API server -----------------------------------------------------------------------------
    ("apiserver-token-auth-file", api(), "pass", None),
    ("apiserver-token-auth-file", api("--token-auth-file=/etc/tokens.csv"), "fail", None),
    ("apiserver-deny-service-external-ips", api("--enable-admission-plugins=NodeRestriction,DenyServiceExternalIPs"), "pass", None),
    ("apiserver-deny-service-external-ips", api("--enable-admission-plugins=NodeRestriction"), "fail", None),
    ("apiserver-kubelet-client-cert", api(*KUBEADM_CERTS), "pass", None),
    ("apiserver-kubelet-client-cert", api(KUBEADM_CERTS[0]), "fail", None),
    ("apiserver-kubelet-client-cert", api(KUBEADM_CERTS[0], "--kubelet-client-key=/etc/kubernetes/pki/gone.key",
                                          ), "fail", None),
    ("apiserver-kubelet-certificate-authority", api("--kubelet-certificate-authority=/etc/kubernetes/pki/ca.crt"), "pass", None),
    ("apiserver-kubelet-certificate-authority", api(), "fail", None),
    ("apiserver-authorization-mode-not-alwaysallow", api("--authorization-mode=Node,RBAC"), "pass", None),
    ("apiserver-authorization-mode-not-alwaysallow", api(), "fail", ("flag", "authorization-mode", "Node,RBAC")),
    ("apiserver-authorization-mode-node", api("--authorization-mode=RBAC"), "fail", ("flag", "authorization-mode", "Node,RBAC")),
    ("apiserver-authorization-mode-rbac", api("--authorization-mode=Node"), "fail", ("flag", "authorization-mode", "Node,RBAC")),
    ("apiserver-event-rate-limit", api("--enable-admission-plugins=EventRateLimit", "--admission-control-config-file=" + ADMISSION,
                                       mounted=True, files={ADMISSION: text(ERL)}), "pass", None),
    ("apiserver-event-rate-limit", api("--enable-admission-plugins=NodeRestriction"), "fail", None),
    ("apiserver-always-admit", api(), "pass", None),
    ("apiserver-always-admit", api("--enable-admission-plugins=NodeRestriction,AlwaysAdmit"), "fail",
     ("flag", "enable-admission-plugins", "NodeRestriction")),
    ("apiserver-always-pull-images", api("--enable-admission-plugins=AlwaysPullImages"), "pass", None),
    ("apiserver-always-pull-images", api(), "fail", None),
    ("apiserver-service-account-plugin", api(), "pass", None),
    ("apiserver-service-account-plugin", api("--disable-admission-plugins=ServiceAccount,Foo"), "fail",
     ("flag", "disable-admission-plugins", "Foo")),
    ("apiserver-namespace-lifecycle-plugin", api("--disable-admission-plugins=NamespaceLifecycle,X"), "fail",
     ("flag", "disable-admission-plugins", "X")),
    ("apiserver-node-restriction-plugin", api("--enable-admission-plugins=NodeRestriction"), "pass", None),
    ("apiserver-node-restriction-plugin", api(), "fail", ("flag", "enable-admission-plugins", "NodeRestriction")),
    ("apiserver-profiling", api("--profiling=false"), "pass", None),
    ("apiserver-profiling", api(), "fail", ("flag", "profiling", "false")),
    ("apiserver-audit-log-path", api("--audit-log-path=/var/log/audit.log"), "pass", None),
    ("apiserver-audit-log-path", api(), "fail", ("flag_mount", "audit-log-path", "/var/log/kubernetes/audit/audit.log")),
    ("apiserver-audit-log-path", api("--audit-log-path=-"), "fail", ("flag_mount", "audit-log-path", "/var/log/kubernetes/audit/audit.log")),
    ("apiserver-audit-log-maxage", api("--audit-log-maxage=30"), "pass", None),
    ("apiserver-audit-log-maxage", api("--audit-log-maxage=7"), "fail", ("flag", "audit-log-maxage", "30")),
    ("apiserver-audit-log-maxbackup", api(), "fail", ("flag", "audit-log-maxbackup", "10")),
    ("apiserver-audit-log-maxsize", api("--audit-log-maxsize=200"), "pass", None),
    ("apiserver-audit-log-maxsize", api(), "fail", ("flag", "audit-log-maxsize", "100")),
    ("apiserver-request-timeout", api(), "manual", None),
    ("apiserver-service-account-lookup", api(), "pass", None),
    ("apiserver-service-account-lookup", api("--service-account-lookup=false"), "fail", ("flag", "service-account-lookup", "true")),
    ("apiserver-service-account-key-file", api("--service-account-key-file=/etc/kubernetes/pki/ca.crt"), "pass", None),
    ("apiserver-service-account-key-file", api(), "fail", None),
    ("apiserver-etcd-client-cert", api("--etcd-certfile=/etc/kubernetes/pki/ca.crt"), "fail", None),
    ("apiserver-tls-cert", api("--tls-cert-file=/etc/kubernetes/pki/ca.crt", "--tls-private-key-file=/etc/kubernetes/pki/ca.key"), "pass", None),
    ("apiserver-client-ca-file", api("--client-ca-file=/etc/kubernetes/pki/ca.crt"), "pass", None),
    ("apiserver-etcd-cafile", api(), "fail", None),
    ("apiserver-encryption-provider-config", api("--encryption-provider-config=/etc/kubernetes/pki/ca.key"), "pass", None),
    ("apiserver-encryption-provider-config", api("--encryption-provider-config=/etc/kubernetes/enc.yaml"), "fail", None),
    ("apiserver-encryption-provider-config", api(), "fail", None),
    ("apiserver-encryption-providers", api(), "fail", None),
    ("apiserver-tls-cipher-suites", api(STRONG_API), "pass", None),
    ("apiserver-tls-cipher-suites", api(STRONG_API + ",TLS_RSA_WITH_AES_128_CBC_SHA"), "fail", ("flag", "tls-cipher-suites", None)),
    ("apiserver-tls-cipher-suites", api(), "fail", ("flag", "tls-cipher-suites", None)),
    ("apiserver-service-account-extend-token-expiration", api("--service-account-extend-token-expiration=false"), "pass", None),
    ("apiserver-service-account-extend-token-expiration", api(), "fail",
     ("flag", "service-account-extend-token-expiration", "false")),
    ("apiserver-service-account-extend-token-expiration", api(version="1.18.20"), "not_applicable", None),
    ("apiserver-service-account-extend-token-expiration", api(version="1.19.16"), "pass", None),  # default false then
    ("apiserver-insecure-port", api(version="1.18.20"), "fail", ("flag", "insecure-port", "0")),
    ("apiserver-insecure-port", api("--insecure-port=0", version="1.18.20"), "pass", None),
    ("apiserver-insecure-port", api(version="1.30.2"), "not_applicable", None),
    ("apiserver-insecure-bind-address", api(version="1.19.3"), "pass", None),
    ("apiserver-insecure-bind-address", api("--insecure-bind-address=0.0.0.0", version="1.19.3"), "fail",
     ("flag", "insecure-bind-address", "127.0.0.1")),
    # --- controller manager and scheduler -----------------------------------------------------------
    ("controller-manager-terminated-pod-gc-threshold", cm(), "pass", None),
    ("controller-manager-profiling", cm(), "fail", ("flag", "profiling", "false")),
    ("controller-manager-use-service-account-credentials", cm(), "fail", ("flag", "use-service-account-credentials", "true")),
    ("controller-manager-use-service-account-credentials", cm("--use-service-account-credentials=true"), "pass", None),
    ("controller-manager-service-account-private-key-file", cm("--service-account-private-key-file=/etc/kubernetes/pki/ca.key"), "pass", None),
    ("controller-manager-root-ca-file", cm(), "fail", None),
    ("controller-manager-rotate-kubelet-server-certificate", cm(), "pass", None),
    ("controller-manager-rotate-kubelet-server-certificate", cm("--feature-gates=A=true,RotateKubeletServerCertificate=false"),
     "fail", ("flag", "feature-gates", "A=true,RotateKubeletServerCertificate=true")),
    ("controller-manager-bind-address", cm("--bind-address=127.0.0.1"), "pass", None),
    ("controller-manager-bind-address", cm(), "fail", ("flag", "bind-address", "127.0.0.1")),
    ("controller-manager-bind-address", cm("--bind-address=10.0.0.4"), "fail", ("flag", "bind-address", "127.0.0.1")),
    ("controller-manager-insecure-port", cm(version="1.21.5"), "fail", ("flag", "port", "0")),
    ("controller-manager-insecure-port", cm(version="1.22.0"), "not_applicable", None),
    ("scheduler-profiling", sched("--profiling=false"), "pass", None),
    ("scheduler-bind-address", sched(), "fail", ("flag", "bind-address", "127.0.0.1")),
    ("scheduler-insecure-port", sched("--port=0", version="1.22.1"), "pass", None),
    ("scheduler-insecure-port", sched(version="1.23.0"), "not_applicable", None),
    # --- etcd ---------------------------------------------------------------------------------------
    ("etcd-tls-cert", etcd("--cert-file=/etc/kubernetes/pki/ca.crt", "--key-file=/etc/kubernetes/pki/ca.key"), "pass", None),
    ("etcd-tls-cert", etcd(), "fail", None),
    ("etcd-client-cert-auth", etcd("--client-cert-auth=true"), "pass", None),
    ("etcd-client-cert-auth", etcd(), "fail", ("flag", "client-cert-auth", "true")),
    ("etcd-auto-tls", etcd(), "pass", None),
    ("etcd-auto-tls", etcd("--auto-tls"), "fail", ("flag", "auto-tls", "false")),
    ("etcd-peer-tls-cert", etcd("--peer-cert-file=/etc/kubernetes/pki/ca.crt"), "fail", None),
    ("etcd-peer-client-cert-auth", etcd(), "fail", ("flag", "peer-client-cert-auth", "true")),
    ("etcd-peer-auto-tls", etcd("--peer-auto-tls=true"), "fail", ("flag", "peer-auto-tls", "false")),
    ("etcd-unique-ca", etcd(), "fail", None),
    ("etcd-unique-ca", etcd("--trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt"), "manual", None),
    # --- section 3 ----------------------------------------------------------------------------------
    ("users-no-client-certificates", api(), "manual", None),
    ("users-no-service-account-tokens", api(), "manual", None),
    ("users-no-bootstrap-tokens", api(), "manual", None),
    ("apiserver-audit-policy", api("--audit-policy-file=" + AUDIT, mounted=True, files={AUDIT: text(POLICY)}), "pass", None),
    ("apiserver-audit-policy", api(), "fail", None),
    ("apiserver-audit-policy-coverage", api(), "manual", None),
    # --- kubelet ------------------------------------------------------------------------------------
    ("kubelet-anonymous-auth", kl(config={}), "pass", None),
    ("kubelet-anonymous-auth", kl(), "fail", ("flag", "anonymous-auth", "false")),
    ("kubelet-authorization-mode", kl(config={"authorization": {"mode": "AlwaysAllow"}}), "fail",
     ("config", "authorization.mode", "Webhook")),
    ("kubelet-client-ca-file", kl(config={"authentication": {"x509": {"clientCAFile": "/etc/kubernetes/pki/ca.crt"}}}), "pass", None),
    ("kubelet-client-ca-file", kl(config={}), "fail", None),
    ("kubelet-read-only-port", kl(config={}), "pass", None),
    ("kubelet-read-only-port", kl("--read-only-port=0", "--read-only-port=10255", config={}), "fail",
     ("flag", "read-only-port", "0")),
    ("kubelet-streaming-connection-idle-timeout", kl(config={"streamingConnectionIdleTimeout": "0s"}), "pass", None),
    ("kubelet-streaming-connection-idle-timeout", kl("--streaming-connection-idle-timeout=0", config={}), "fail",
     ("flag", "streaming-connection-idle-timeout", "5m0s")),
    ("kubelet-streaming-connection-idle-timeout", kl(config={"streamingConnectionIdleTimeout": "30m"}), "pass", None),
    ("kubelet-make-iptables-util-chains", kl(config={}), "pass", None),
    ("kubelet-make-iptables-util-chains", kl(config={"makeIPTablesUtilChains": False}), "fail",
     ("config", "makeIPTablesUtilChains", True)),
    ("kubelet-hostname-override", kl(config={}), "pass", None),
    ("kubelet-hostname-override", kl("--hostname-override=node-a", config={}), "fail", None),
    ("kubelet-event-qps", kl(config={}), "manual", None),
    ("kubelet-tls-cert", kl(config={"serverTLSBootstrap": True}), "pass", None),
    ("kubelet-tls-cert", kl(config={"tlsCertFile": "/a.crt", "tlsPrivateKeyFile": "/a.key"}), "pass", None),
    ("kubelet-tls-cert", kl(config={}), "fail", None),
    ("kubelet-rotate-certificates", kl(config={"rotateCertificates": True}), "pass", None),
    ("kubelet-rotate-certificates", kl(config={}), "fail", ("config", "rotateCertificates", True)),
    ("kubelet-rotate-server-certificate-gate", kl(config={}), "pass", None),
    ("kubelet-rotate-server-certificate-gate", kl(config={"featureGates": {"RotateKubeletServerCertificate": False}}),
     "fail", ("config", "featureGates.RotateKubeletServerCertificate", True)),
    ("kubelet-tls-cipher-suites", kl(config={"tlsCipherSuites": ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]}), "pass", None),
    ("kubelet-tls-cipher-suites", kl(config={"tlsCipherSuites": ["TLS_RSA_WITH_AES_128_GCM_SHA256"]}), "fail",
     ("config_list", "tlsCipherSuites", None)),
    ("kubelet-pod-pids-limit", kl(config={"podPidsLimit": 4096}), "pass", None),
    ("kubelet-pod-pids-limit", kl(config={}), "fail", None),
    ("kubelet-seccomp-default", kl(config={"seccompDefault": True}), "pass", None),
    ("kubelet-seccomp-default", kl(config={}), "fail", None),
    ("kubelet-cadvisor-port", kl(version="1.10.13"), "fail", ("flag", "cadvisor-port", "0")),
    ("kubelet-cadvisor-port", kl(version="1.11.10"), "pass", None),
    ("kubelet-cadvisor-port", kl("--cadvisor-port=4194", version="1.11.10"), "fail", ("flag", "cadvisor-port", "0")),
    ("kubelet-cadvisor-port", kl(version="1.12.0"), "not_applicable", None),
    # --- kube-proxy ---------------------------------------------------------------------------------
    ("kube-proxy-metrics-bind-address", node(proxy(config={"metricsBindAddress": ""})), "pass", None),
    ("kube-proxy-metrics-bind-address", node(proxy(config={"metricsBindAddress": "0.0.0.0:10249"})), "fail",
     ("config", "metricsBindAddress", "127.0.0.1:10249")),
    ("kube-proxy-metrics-bind-address", node(proxy("--metrics-bind-address=[::]:9100")), "fail",
     ("flag", "metrics-bind-address", "127.0.0.1:9100")),
    ("kube-proxy-metrics-bind-address", node(proxy(config={"metricsBindAddress": "127.0.0.0/8:10249"})), "pass", None),
    ("kube-proxy-healthz-bind-address", node(proxy(config={"healthzBindAddress": ""})), "fail", None),
    ("kube-proxy-healthz-bind-address", node(proxy(config={"healthzBindAddress": "10.0.0.5:10256"})), "pass", None),
]


def _case_id(case: t.Tuple[t.Any, ...]) -> str:
    return "%s-%s" % (case[0], case[2])


@pytest.mark.parametrize("rule_id, the_node, status, fix", CASES, ids=[_case_id(c) for c in CASES])
def test_rule_evaluation(rule_id, the_node, status, fix):
    finding = run(rule_id, the_node)
    assert finding.status == status, finding.message
    if fix is None:
        assert finding.fix is None
        return
    assert finding.fix is not None, finding.message
    kind, target, value = fix
    assert (finding.fix.kind, finding.fix.target) == (kind, target)
    if value is not None:
        assert finding.fix.value == value


def test_every_catalog_rule_of_sections_1_to_4_has_a_row():
    rules = {c[0] for c in CASES} | {c[0] for c in FILE_CASES}
    missing = [r.id for r in _catalog.ALL_RULES
               if r.component in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kubelet",
                                  "kube-proxy") and r.id not in rules and r.id != "apiserver-anonymous-auth"]
    assert missing == []


# --- files ------------------------------------------------------------------------------------------

CP = (static("kube-apiserver", "--client-ca-file=/etc/kubernetes/pki/ca.crt"), static("kube-controller-manager",
      "--kubeconfig=/etc/kubernetes/controller-manager.conf"), static("kube-scheduler"), static("etcd", "--data-dir=/var/lib/etcd"))


def cp(**files: t.Any) -> Node:
    return node(*CP, kubelet(config={"authentication": {"x509": {"clientCAFile": "/etc/kubernetes/pki/ca.crt"}}}),
                files={k.replace("__", "/"): v for k, v in files.items()})


def cpf(files: t.Dict[str, t.Any]) -> Node:
    return node(*CP, kubelet(config={"authentication": {"x509": {"clientCAFile": "/etc/kubernetes/pki/ca.crt"}}},
                             unit=None), proxy("--kubeconfig=/var/lib/kube-proxy/kubeconfig.conf"), files=files)


KCONF = {"/etc/kubernetes/controller-manager.conf": stat("0600"), "/etc/kubernetes/scheduler.conf": stat("0600"),
         "/etc/kubernetes/kubelet.conf": stat("0600"), "/var/lib/kube-proxy": stat("0755", kind="dir"),
         "/var/lib/kube-proxy/kubeconfig.conf": stat("0600")}


def files(**changes: t.Any) -> t.Dict[str, t.Any]:
    merged = dict(KCONF)
    merged.update(changes)
    return merged


FILE_CASES = [
    ("apiserver-manifest-permissions", files(), "pass", []),
    ("apiserver-manifest-permissions", files(**{MANIFESTS + "/kube-apiserver.yaml": stat("0644")}), "fail",
     [(MANIFESTS + "/kube-apiserver.yaml", "0600", None)]),
    ("apiserver-manifest-ownership", files(**{MANIFESTS + "/kube-apiserver.yaml": stat(uid=1000, owner="ubuntu")}), "fail",
     [(MANIFESTS + "/kube-apiserver.yaml", None, "root")]),
    ("controller-manager-manifest-permissions", files(**{MANIFESTS + "/kube-controller-manager.yaml": stat("0640")}), "fail",
     [(MANIFESTS + "/kube-controller-manager.yaml", "0600", None)]),
    ("controller-manager-manifest-ownership", files(), "pass", []),
    ("scheduler-manifest-permissions", files(**{MANIFESTS + "/kube-scheduler.yaml": stat("0400")}), "pass", []),
    ("scheduler-manifest-ownership", files(), "pass", []),
    ("etcd-manifest-permissions", files(**{MANIFESTS + "/etcd.yaml": stat("0666")}), "fail", [(MANIFESTS + "/etcd.yaml", "0600", None)]),
    ("etcd-manifest-ownership", files(), "pass", []),
    ("cni-files-permissions", files(), "not_applicable", []),
    ("cni-files-permissions", files(**{"/etc/cni/net.d": stat("0755", kind="dir"),
                                       "/etc/cni/net.d/10-calico.conflist": stat("0644")}), "fail", []),
    ("cni-files-ownership", files(**{"/etc/cni/net.d/10-flannel.conflist": stat("0600")}), "pass", []),
    ("etcd-data-dir-permissions", files(), "pass", []),
    ("etcd-data-dir-permissions", files(**{"/var/lib/etcd": stat("0755", kind="dir")}), "fail", [("/var/lib/etcd", "0700", None)]),
    ("etcd-data-dir-ownership", files(), "pass", []),
    ("admin-kubeconfig-permissions", files(**{"/etc/kubernetes/super-admin.conf": stat("0644")}), "fail",
     [("/etc/kubernetes/super-admin.conf", "0600", None)]),
    ("admin-kubeconfig-permissions", files(), "pass", []),
    ("admin-kubeconfig-ownership", files(), "pass", []),
    ("scheduler-kubeconfig-permissions", files(**{"/etc/kubernetes/scheduler.conf": stat("0644")}), "fail",
     [("/etc/kubernetes/scheduler.conf", "0600", None)]),
    ("scheduler-kubeconfig-ownership", files(), "pass", []),
    ("controller-manager-kubeconfig-permissions", files(), "pass", []),
    ("controller-manager-kubeconfig-ownership", files(**{"/etc/kubernetes/controller-manager.conf": stat(gid=5, group="tty")}),
     "fail", [("/etc/kubernetes/controller-manager.conf", None, "root")]),
    ("pki-ownership", files(**{"/etc/kubernetes/pki/ca.key": stat(uid=1000, owner=None)}), "fail",
     [("/etc/kubernetes/pki/ca.key", None, "root")]),
    ("pki-certificate-permissions", files(**{"/etc/kubernetes/pki/ca.crt": stat("0666")}), "fail",
     [("/etc/kubernetes/pki/ca.crt", "0644", None)]),
    ("pki-key-permissions", files(**{"/etc/kubernetes/pki/ca.key": stat("0640"), "/etc/kubernetes/pki/sa.key": stat("0644")}),
     "fail", [("/etc/kubernetes/pki/ca.key", "0600", None), ("/etc/kubernetes/pki/sa.key", "0600", None)]),
    ("kubelet-service-file-permissions", files(), "pass", []),
    ("kubelet-service-file-permissions", files(**{"/usr/lib/systemd/system/kubelet.service": stat("0644")}), "fail",
     [("/usr/lib/systemd/system/kubelet.service", "0600", None)]),
    ("kubelet-service-file-ownership", files(), "pass", []),
    ("kube-proxy-kubeconfig-permissions", files(**{"/var/lib/kube-proxy/kubeconfig.conf": stat("0644")}), "fail",
     [("/var/lib/kube-proxy/kubeconfig.conf", "0600", None)]),
    ("kube-proxy-kubeconfig-ownership", files(**{"/var/lib/kube-proxy/kubeconfig.conf": None}), "not_applicable", []),
    ("kubelet-kubeconfig-permissions", files(), "pass", []),
    ("kubelet-kubeconfig-ownership", files(), "pass", []),
    ("kubelet-client-ca-permissions", files(**{"/etc/kubernetes/pki/ca.crt": stat("0664")}), "fail",
     [("/etc/kubernetes/pki/ca.crt", "0644", None)]),
    ("kubelet-client-ca-ownership", files(), "pass", []),
    ("kubelet-config-permissions", files(), "pass", []),
    ("kubelet-config-ownership", files(), "pass", []),
]


@pytest.mark.parametrize("rule_id, changes, status, fixes", FILE_CASES, ids=[_case_id(c) for c in FILE_CASES])
def test_file_rule(rule_id, changes, status, fixes):
    the_node = cpf(changes)
    the_node.components["kubelet"].unit = {"unit": "/usr/lib/systemd/system/kubelet.service",
                                           "dropins": ["/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf"]}
    finding = run(rule_id, the_node)
    assert finding.status == status, finding.message
    rule = _catalog.BY_ID[rule_id]
    got = [(f.target, f.mode, f.owner) for f in finding.fixes]
    assert got == (fixes if rule.automated else [])


# --- the cases a naive reader gets wrong ------------------------------------------------------------


def test_last_single_flag_wins():
    assert run("apiserver-profiling", api("--profiling=false", "--profiling=true")).status == "fail"
    assert run("apiserver-profiling", api("--profiling=true", "--profiling=false")).status == "pass"


def test_list_flags_accumulate():
    finding = run("apiserver-authorization-mode-not-alwaysallow",
                  api("--authorization-mode=AlwaysAllow", "--authorization-mode=Node,RBAC"))
    assert finding.status == "fail" and finding.actual == "AlwaysAllow,Node,RBAC"
    assert finding.fix.value == "Node,RBAC"


def test_flag_only_kubelet_has_the_read_only_port_open():
    finding = run("kubelet-read-only-port", kl())
    assert (finding.status, finding.actual) == ("fail", "10255")
    assert finding.source.startswith("default (kubelet")


@pytest.mark.parametrize("rule_id, the_node", [("controller-manager-bind-address", cm()), ("scheduler-bind-address", sched())])
def test_absent_bind_address_means_every_address(rule_id, the_node):
    finding = run(rule_id, the_node)
    assert (finding.status, finding.actual) == ("fail", "0.0.0.0")
    assert "every address" in finding.message


def test_running_process_that_differs_from_the_manifest_needs_a_restart():
    the_node = node(static("kube-scheduler", "--profiling=false", running=["--profiling=true"]))
    finding = run("scheduler-profiling", the_node)
    assert finding.status == "fail" and finding.restart_only and finding.fix is None


def test_too_open_parent_directory_fails_a_file_that_is_itself_fine():
    the_node = cpf(files(**{MANIFESTS: stat("0777", kind="dir")}))
    finding = run("apiserver-manifest-permissions", the_node)
    assert finding.status == "fail" and finding.actual == "0600"
    assert "parent directory %s is mode 0777" % MANIFESTS in finding.message
    assert [(f.target, f.mode) for f in finding.fixes] == [(MANIFESTS, "0755")]


def test_parent_directory_owned_by_a_user_is_reported_without_a_fix():
    the_node = cpf(files(**{"/var/lib/kubelet": stat("0755", uid=1000, owner="ubuntu", kind="dir")}))
    finding = run("kubelet-config-permissions", the_node)
    assert finding.status == "fail" and "is owned by ubuntu" in finding.message and not finding.fixes


def test_parent_directory_and_file_are_fixed_together():
    the_node = cpf(files(**{"/var/lib/kubelet": stat("0775", kind="dir"), "/var/lib/kubelet/config.yaml": stat("0644")}))
    finding = run("kubelet-config-permissions", the_node)
    assert [(f.target, f.mode) for f in finding.fixes] == [("/var/lib/kubelet/config.yaml", "0600"), ("/var/lib/kubelet", "0755")]


def test_etcd_owner_without_an_etcd_user_static_pod_as_root():
    # kubeadm: no etcd user on the host, etcd runs as root, the data directory is root:root 0700.
    finding = run("etcd-data-dir-ownership", etcd())
    assert finding.status == "pass"
    assert "runs as 0:0" in finding.message and finding.expected == "etcd:etcd, or 0:0"


def test_etcd_owner_by_numeric_id_of_the_pods_run_as_user():
    the_node = etcd(security="runAsUser: 2000;runAsGroup: 2000",
                    files={"/var/lib/etcd": stat("0700", uid=2000, gid=2000, owner=None, group=None, kind="dir")})
    assert run("etcd-data-dir-ownership", the_node).status == "pass"


def test_etcd_owner_mismatch_is_fixed_with_numeric_ids_no_user_needed():
    the_node = etcd(security="runAsUser: 2000;runAsGroup: 2000")
    finding = run("etcd-data-dir-ownership", the_node)
    assert finding.status == "fail"
    assert (finding.fix.target, finding.fix.owner, finding.fix.group) == ("/var/lib/etcd", "2000", "2000")


def test_etcd_owner_by_name_when_the_user_exists():
    the_node = etcd(files={"/var/lib/etcd": stat("0700", uid=998, gid=998, owner="etcd", group="etcd", kind="dir")},
                    security="runAsUser: 998;runAsGroup: 998")
    assert run("etcd-data-dir-ownership", the_node).status == "pass"


def test_missing_data_dir_of_a_running_etcd_is_an_error_not_a_pass():
    the_node = etcd(files={"/var/lib/etcd": {"type": "missing"}})
    the_node.components["etcd"].process = {"pid": 42, "argv": ["etcd", "--data-dir=/var/lib/etcd"], "start_ticks": 1}
    finding = run("etcd-data-dir-permissions", the_node)
    assert finding.status == "error" and "/var/lib/etcd does not exist" in finding.message


def test_data_dir_of_an_etcd_that_never_started_is_not_applicable_yet():
    finding = run("etcd-data-dir-permissions", etcd(files={"/var/lib/etcd": {"type": "missing"}}))
    assert finding.status == "not_applicable" and "created when etcd first starts" in finding.message


# --- versions, profiles, overrides, supplied content --------------------------------------------------


def test_unknown_version_never_writes_a_versioned_flag():
    finding = run("apiserver-insecure-port", api(version=None))
    assert finding.status == "fail" and finding.fix is None
    assert "version" in finding.message


def test_level_2_rules_do_not_apply_to_a_level_1_profile():
    finding = run("kubelet-event-qps", kl(config={}), level=1)
    assert finding.status == "not_applicable" and "level 2" in finding.message


def test_manual_rule_becomes_enforced_with_an_override():
    finding = run("apiserver-request-timeout", api(), overrides={"apiserver-request-timeout": "300s"})
    assert finding.status == "fail" and finding.fix.value == "300s"


def test_override_value_and_its_display_text_are_separate_fields():
    finding = run("apiserver-request-timeout", api(), overrides={"apiserver-request-timeout": "300s"})
    assert (finding.expected_value, finding.expected) == ("300s", "300s (override)")
    plain = run("kubelet-read-only-port", kl(config={"readOnlyPort": 10255}))
    assert (plain.expected_value, plain.expected) == (None, None)


def test_value_needing_a_decision_is_fixed_only_with_an_override():
    without = run("kubelet-pod-pids-limit", kl(config={}))
    assert without.fix is None and "kubefort_overrides.kubelet-pod-pids-limit" in without.message
    with_value = run("kubelet-pod-pids-limit", kl(config={}), overrides={"kubelet-pod-pids-limit": 2048})
    assert (with_value.fix.kind, with_value.fix.target, with_value.fix.value) == ("config", "podPidsLimit", 2048)


def test_overridden_cipher_list():
    finding = run("kubelet-tls-cipher-suites", kl(config={"tlsCipherSuites": ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]}),
                  overrides={"kubelet-tls-cipher-suites": ["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"]})
    assert finding.status == "fail" and finding.fix.value == ["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"]


def test_supplied_audit_policy_is_what_the_fix_writes():
    without = run("apiserver-audit-policy", api())
    assert without.fix is None and "kubefort_apiserver_audit_policy" in without.message
    policy = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n"
    finding = run("apiserver-audit-policy", api(), supplied={"audit_policy": policy})
    assert finding.fix.kind == "supplied_file" and finding.fix.target == "audit-policy-file"
    assert finding.fix.value == {"path": "/etc/kubernetes/kubefort/audit-policy.yaml", "content": policy}


def test_event_rate_limit_with_an_existing_admission_config_is_left_to_the_operator():
    finding = run("apiserver-event-rate-limit", api("--admission-control-config-file=" + ADMISSION, mounted=True,
                                                    files={ADMISSION: text(ERL)}),
                  supplied={"admission_config": "kind: AdmissionConfiguration\n"})
    assert finding.status == "fail" and finding.fix is None and "by hand" in finding.message


def test_kubelet_config_zero_duration_is_the_default_but_the_flag_zero_is_not():
    assert run("kubelet-streaming-connection-idle-timeout", kl(config={"streamingConnectionIdleTimeout": "0s"})).status == "pass"
    assert run("kubelet-streaming-connection-idle-timeout", kl("--streaming-connection-idle-timeout=0s", config={})).status == "fail"


@pytest.mark.parametrize("text, seconds", [("4h0m0s", 14400), ("5m", 300), ("0", 0), ("0s", 0), ("1h30m", 5400),
                                           ("300ms", 0.3), ("soon", None), ("5", None)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


def test_cluster_side_kube_proxy_settings_are_manual():
    comp = proxy(config={"metricsBindAddress": "0.0.0.0:10249"})
    comp.cluster_side = "ConfigMap kube-system/kube-proxy"
    finding = run("kube-proxy-metrics-bind-address", node(comp))
    assert finding.status == "manual" and "ConfigMap kube-system/kube-proxy" in finding.message


def test_stat_paths_asks_for_what_file_rules_and_file_flags_need():
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import stat_paths

    the_node = node(static("kube-apiserver", "--encryption-provider-config=/etc/kubernetes/enc/config.yaml",
                           "--client-ca-file=/etc/kubernetes/ssl/ca.crt"),
                    static("etcd", "--data-dir=/data/etcd"))
    ids = ("apiserver-encryption-provider-config", "etcd-data-dir-permissions", "pki-key-permissions",
           "apiserver-client-ca-file")
    rules = [_catalog.BY_ID[r] for r in ids]
    assert stat_paths(the_node, rules) == ["/etc/kubernetes/enc/config.yaml", "/data/etcd", "/data",
                                           "/etc/kubernetes/ssl/**", "/etc/kubernetes/ssl/ca.crt"]


def test_kubelet_kubeconfig_before_tls_bootstrap_is_not_applicable():
    the_node = node(kubelet("--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf",
                            "--kubeconfig=/etc/kubernetes/kubelet.conf", config={}),
                    files={"/etc/kubernetes/kubelet.conf": {"type": "missing"}})
    finding = run("kubelet-kubeconfig-permissions", the_node)
    assert finding.status == "not_applicable" and "TLS bootstrap" in finding.message
    without_bootstrap = node(kubelet("--kubeconfig=/etc/kubernetes/kubelet.conf", config={}),
                             files={"/etc/kubernetes/kubelet.conf": {"type": "missing"}})
    assert run("kubelet-kubeconfig-permissions", without_bootstrap).status == "error"
