"""Every node rule, passing and not passing, on copies of real installer trees, through the engine's entry.

One row per rule of the node-side catalogs (control plane, etcd, node, ports). A row names a real tree
(``demo/nodes``, ``tests/fixtures/nodes``, ``../shared/fixtures/nodes``), what to change in a copy of it
to make the rule pass and what to change to make it not pass (a file mode or owner, a flag in a static pod
manifest or an args file, a kubelet config key, a file to add), and the status the rule must then give.
Node rules run through ``plugin_utils._harden.run`` with node_facts and node_files called in-process (as
``kubefort_testlib`` does), ports rules through the ``ports_audit`` module on captured /proc trees
(``tests/fixtures/proc``): never through the engine's internal check functions.

A non-passing case the collection fixes (``would_fix``) is also applied: the fix must be ``fixed``, a check
afterwards ``pass``, and a second apply must change nothing. A rule that can only be ``manual`` says why.
``test_every_node_rule_has_a_row`` fails when a catalog rule has no row, so a new rule brings its cases.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import threading
import typing as t
from dataclasses import dataclass, field

import pytest
import yaml

from ansible_collections.kubefort.hardening.plugins.plugin_utils import _catalog
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _harden
from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options
from kubefort_testlib import REPO, _demo_nodes_script, call_module_factory, run_module, tree_hashes

NODE_RULES = {rule.id: rule for rule in _catalog.CONTROL_PLANE_RULES + _catalog.NODE_RULES}
PORTS_RULES = {rule.id: rule for rule in _catalog.PORTS_RULES}
BACKUP_DIR = "/var/lib/kubefort/backups"

# ---- the real trees ------------------------------------------------------------------------------------

SHARED_NODES = os.path.join(os.path.dirname(REPO), "shared", "fixtures", "nodes")
FIXTURE_NODES = os.path.join(REPO, "tests", "fixtures", "nodes")
DEMO_NODES = os.path.join(REPO, "demo", "nodes")


def _kubeadm(shared: str, demo: str) -> str:
    """The tree ``kubeadm init``/``join`` wrote (shared/fixtures/nodes), else the demo copy made from it.

    The demo copies differ from the shared trees only in settings the demo weakens on purpose; every case
    sets what its rule judges, so both give the same verdicts.
    """
    path = os.path.join(SHARED_NODES, shared)
    return path if os.path.isdir(path) else os.path.join(DEMO_NODES, demo)


TREES = {
    "kubeadm-cp": _kubeadm("kubeadm-1.28-control-plane", "cp1"),
    "kubeadm-worker": _kubeadm("kubeadm-1.28-worker", "worker3"),
    "microk8s": os.path.join(FIXTURE_NODES, "microk8s"),
    "kubespray": os.path.join(FIXTURE_NODES, "kubespray"),
}
PROC_TREES = os.path.join(REPO, "tests", "fixtures", "proc")

# ---- changes to a copy of a tree -----------------------------------------------------------------------

Step = t.Callable[[str], None]


@dataclass(frozen=True)
class Change:
    """What to do to a node tree, in words (the table's text) and as steps on a copy."""

    text: str
    steps: t.Tuple[Step, ...] = ()

    def __add__(self, other: "Change") -> "Change":
        return Change("%s; %s" % (self.text, other.text), self.steps + other.steps)

    def apply(self, root: str) -> None:
        for step in self.steps:
            step(root)


def host(root: str, path: str) -> str:
    return os.path.join(root, path.lstrip("/"))


def as_is(why: str) -> Change:
    return Change("as installed (%s)" % why)


def mode(path: str, value: str) -> Change:
    return Change("chmod %s %s" % (value, path), (lambda root: os.chmod(host(root, path), int(value, 8)),))


def owner(path: str, uid: int, gid: int) -> Change:
    return Change("chown %d:%d %s" % (uid, gid, path), (lambda root: os.chown(host(root, path), uid, gid),))


def write(path: str, text: str, file_mode: str = "0600") -> Change:
    def step(root: str) -> None:
        target = host(root, path)
        os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(target, int(file_mode, 8))

    return Change("write %s (%s)" % (path, file_mode), (step,))


def mkdir(path: str, dir_mode: str) -> Change:
    def step(root: str) -> None:
        os.makedirs(host(root, path), exist_ok=True)
        os.chmod(host(root, path), int(dir_mode, 8))

    return Change("mkdir -m %s %s" % (dir_mode, path), (step,))


def _edit(path: str, edit: t.Callable[[str], str]) -> Step:
    def step(root: str) -> None:
        with open(host(root, path), encoding="utf-8") as handle:
            text = handle.read()
        with open(host(root, path), "w", encoding="utf-8") as handle:
            handle.write(edit(text))

    return step


def _set_list_flag(lines: t.List[str], flag: str, value: t.Optional[str], prefix: str) -> t.List[str]:
    """Replace every ``--flag``/``--flag=...`` item (``prefix`` before it) by ``--flag=value``, or drop them."""
    out: t.List[str] = []
    done = value is None
    first_flag = None
    for line in lines:
        item = line.strip()[len(prefix):].strip().strip("'\"") if line.strip().startswith(prefix.strip()) else None
        if item is not None and item.startswith("--") and first_flag is None:
            first_flag = len(out)
        if item is not None and (item == "--" + flag or item.startswith("--%s=" % flag)):
            if not done:
                out.append(line[:len(line) - len(line.lstrip())] + prefix.strip() + (" " if prefix.strip() else "")
                           + "--%s=%s" % (flag, value))
                done = True
            continue
        out.append(line)
    if not done:
        assert first_flag is not None, "no flag to put --%s beside" % flag
        line = out[first_flag]
        out.insert(first_flag + 1, line[:len(line) - len(line.lstrip())] + prefix.strip()
                   + (" " if prefix.strip() else "") + "--%s=%s" % (flag, value))
    return out


def flag(path: str, name: str, value: t.Optional[str]) -> Change:
    """Set (or with None remove) a flag in a static pod manifest's command or args."""
    text = "%s: %s" % (os.path.basename(path), "--%s=%s" % (name, value) if value is not None else "no --%s" % name)
    return Change(text, (_edit(path, lambda s: "\n".join(_set_list_flag(s.split("\n"), name, value, "- "))),))


def args_flag(path: str, name: str, value: t.Optional[str]) -> Change:
    """Set (or remove) a flag in an args file of one flag a line (microk8s)."""
    text = "%s: %s" % (path, "--%s=%s" % (name, value) if value is not None else "no --%s" % name)
    return Change(text, (_edit(path, lambda s: "\n".join(_set_list_flag(s.split("\n"), name, value, ""))),))


def image(path: str, tag: str) -> Change:
    """The version a static pod runs (its image tag), e.g. an old release where a removed flag still exists."""
    def edit(text: str) -> str:
        lines = text.split("\n")
        for index, line in enumerate(lines):
            if line.strip().startswith("image: "):
                lines[index] = line.rsplit(":", 1)[0] + ":" + tag
        return "\n".join(lines)

    return Change("%s runs %s" % (os.path.basename(path), tag), (_edit(path, edit),))


def host_path_mount(path: str, directory: str, name: str) -> Change:
    """A hostPath volume and its mount in a static pod (kubeadm's extraVolumes), so the pod can read ``directory``."""
    def edit(text: str) -> str:
        lines = text.split("\n")
        mounts = next(i for i, line in enumerate(lines) if line.strip() == "volumeMounts:")
        pad = " " * (len(lines[mounts]) - len(lines[mounts].lstrip()))
        lines[mounts + 1:mounts + 1] = [pad + "- mountPath: " + directory, pad + "  name: " + name, pad + "  readOnly: true"]
        volumes = next(i for i, line in enumerate(lines) if line.strip() == "volumes:")
        pad = " " * (len(lines[volumes]) - len(lines[volumes].lstrip()))
        lines[volumes + 1:volumes + 1] = [pad + "- hostPath:", pad + "    path: " + directory, pad + "    type: DirectoryOrCreate",
                                          pad + "  name: " + name]
        return "\n".join(lines)

    return Change("%s mounts %s" % (os.path.basename(path), directory), (_edit(path, edit),))


APISERVER_CONFIG = "/etc/kubernetes/apiserver-config"


def apiserver_file(name: str, text: str, flag_name: str) -> Change:
    """A file the API server reads: written, its directory mounted into the pod, and named by its flag."""
    path = "%s/%s" % (APISERVER_CONFIG, name)
    return (write(path, text) + host_path_mount("/etc/kubernetes/manifests/kube-apiserver.yaml", APISERVER_CONFIG, "apiserver-config")
            + flag("/etc/kubernetes/manifests/kube-apiserver.yaml", flag_name, path))


DELETE = object()


def config(key: str, value: t.Any, path: str = "/var/lib/kubelet/config.yaml") -> Change:
    """Set (or with DELETE remove) a dotted key of the kubelet's config file."""
    def edit(text: str) -> str:
        data = yaml.safe_load(text)
        parts = key.split(".")
        node = data
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        if value is DELETE:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value
        return yaml.safe_dump(data, default_flow_style=False, sort_keys=False)

    words = "no %s" % key if value is DELETE else "%s: %s" % (key, yaml.safe_dump(value, default_flow_style=True).strip().rstrip(".").strip())
    return Change("%s in %s" % (words, os.path.basename(path)), (_edit(path, edit),))


def kubelet_extra_args(*flags: str) -> Change:
    """Flags in /etc/default/kubelet (KUBELET_EXTRA_ARGS), where kubeadm's drop-in lets an operator add them."""
    return write("/etc/default/kubelet", 'KUBELET_EXTRA_ARGS="%s"\n' % " ".join(flags), "0644") + Change(
        "KUBELET_EXTRA_ARGS=%s" % " ".join(flags))


def env_var(path: str, name: str, value: str) -> Change:
    """Set a variable in an environment file (kubespray's /etc/etcd.env)."""
    def edit(text: str) -> str:
        lines = [line for line in text.split("\n") if not line.startswith(name + "=")]
        return "\n".join(lines).rstrip("\n") + "\n%s=%s\n" % (name, value)

    return Change("%s=%s in %s" % (name, value, path), (_edit(path, edit),))


# ---- the rows ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    rule_id: str
    tree: str
    passing: t.Optional[Change]
    failing: t.Optional[Change]
    fails_as: t.Optional[str] = None  # default: would_fix when the rule is automated, else fail
    options: t.Mapping[str, t.Any] = field(default_factory=dict)
    manual_only: str = ""  # why the rule can only be manual (then passing and failing are None)
    owned: bool = False  # a file rule: owners and parent directories count, so the copy must be root's

    @property
    def rule(self) -> t.Any:
        return NODE_RULES[self.rule_id]

    def non_passing_status(self) -> str:
        return self.fails_as or ("would_fix" if self.rule.automated else "fail")

    @property
    def needs_root(self) -> str:
        """Why the cases need root ('' when they do not)."""
        if self.owned:
            return "file rules judge owners and parent directories: the copy must be owned by root:root"
        if any("chown" in c.text for c in (self.passing, self.failing) if c is not None):
            return "the case chowns a file"
        return ""


def row(rule_id: str, tree: str, passing: Change, failing: Change, fails_as: t.Optional[str] = None, **options: t.Any) -> Row:
    return Row(rule_id, tree, passing, failing, fails_as, options)


def file_row(rule_id: str, tree: str, passing: Change, failing: Change, fails_as: t.Optional[str] = None) -> Row:
    """A rule on a file's mode or owner (and its parent directory's)."""
    return Row(rule_id, tree, passing, failing, fails_as, owned=True)


def manual(rule_id: str, tree: str, why: str) -> Row:
    return Row(rule_id, tree, None, None, "manual", manual_only=why)


MANIFESTS = "/etc/kubernetes/manifests/"
APISERVER = MANIFESTS + "kube-apiserver.yaml"
CONTROLLER_MANAGER = MANIFESTS + "kube-controller-manager.yaml"
SCHEDULER = MANIFESTS + "kube-scheduler.yaml"
ETCD = MANIFESTS + "etcd.yaml"
PKI = "/etc/kubernetes/pki"
CNI_CONFIG = "/etc/cni/net.d/10-flannel.conflist"
CNI_TEXT = '{"name": "cbr0", "cniVersion": "0.3.1", "plugins": [{"type": "flannel", "delegate": {"hairpinMode": true}}]}\n'
MICROK8S_ARGS = "/var/snap/microk8s/current/args/"
PROXY_KUBECONFIG = "/var/snap/microk8s/current/credentials/proxy.config"
KUBECONFIG_TEXT = "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n"
AUDIT_POLICY = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Metadata\n"
AUDIT_NOTHING = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: None\n"
ENCRYPTION = ("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: [secrets]\n"
              "    providers:\n      - %s\n          keys:\n            - name: key1\n"
              "              secret: c2VjcmV0IGlzIHNlY3VyZSwgb3IgaXMgaXQ/Cg==\n      - identity: {}\n")
ENCRYPTION_AESCBC = ENCRYPTION % "aescbc:"
ENCRYPTION_IDENTITY_FIRST = ENCRYPTION_AESCBC.replace("      - aescbc:", "      - identity: {}\n      - aescbc:", 1)
ADMISSION = ("apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n  - name: EventRateLimit\n"
             "    configuration:\n      apiVersion: eventratelimit.admission.k8s.io/v1alpha1\n      kind: Configuration\n"
             "      limits:\n        - type: Server\n          qps: 50\n          burst: 100\n")
STRONG_APISERVER_CIPHERS = "TLS_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
WEAK_CIPHER = "TLS_RSA_WITH_AES_128_CBC_SHA"
OLD_RELEASE = "v1.19.16"  # the insecure ports and --insecure-bind-address still exist


def file_rows(prefix: str, tree: str, path: str, strict: str, loose: str, fails_as: t.Optional[str] = None) -> t.List[Row]:
    """The -permissions and -ownership rows of one file."""
    return [
        file_row(prefix + "-permissions", tree, mode(path, strict), mode(path, loose), fails_as),
        file_row(prefix + "-ownership", tree, owner(path, 0, 0), owner(path, 1000, 1000), fails_as),
    ]


def apiserver(name: str, good: t.Optional[str], bad: t.Optional[str], rule_id: str, fails_as: t.Optional[str] = None,
              **options: t.Any) -> Row:
    return row(rule_id, "kubeadm-cp", flag(APISERVER, name, good), flag(APISERVER, name, bad), fails_as, **options)


ROWS: t.List[Row] = [
    # 1.1 control-plane files
    *file_rows("apiserver-manifest", "kubeadm-cp", APISERVER, "0600", "0644"),
    *file_rows("controller-manager-manifest", "kubeadm-cp", CONTROLLER_MANAGER, "0600", "0644"),
    *file_rows("scheduler-manifest", "kubeadm-cp", SCHEDULER, "0600", "0644"),
    *file_rows("etcd-manifest", "kubeadm-cp", ETCD, "0600", "0644"),
    file_row("cni-files-permissions", "kubeadm-cp", write(CNI_CONFIG, CNI_TEXT, "0600"), write(CNI_CONFIG, CNI_TEXT, "0644")),
    file_row("cni-files-ownership", "kubeadm-cp", write(CNI_CONFIG, CNI_TEXT) + owner(CNI_CONFIG, 0, 0),
             write(CNI_CONFIG, CNI_TEXT) + owner(CNI_CONFIG, 1000, 1000)),
    file_row("etcd-data-dir-permissions", "kubeadm-cp", mkdir("/var/lib/etcd", "0700"), mkdir("/var/lib/etcd", "0755")),
    # kubespray runs etcd from etcd.service with User=root: root's data directory passes, as etcd:etcd would
    file_row("etcd-data-dir-ownership", "kubespray", mkdir("/var/lib/etcd", "0700") + owner("/var/lib/etcd", 0, 0),
             mkdir("/var/lib/etcd", "0700") + owner("/var/lib/etcd", 1000, 1000)),
    *file_rows("admin-kubeconfig", "kubeadm-cp", "/etc/kubernetes/admin.conf", "0600", "0644"),
    *file_rows("scheduler-kubeconfig", "kubeadm-cp", "/etc/kubernetes/scheduler.conf", "0600", "0644"),
    *file_rows("controller-manager-kubeconfig", "kubeadm-cp", "/etc/kubernetes/controller-manager.conf", "0600", "0644"),
    file_row("pki-ownership", "kubeadm-cp", owner(PKI + "/ca.key", 0, 0), owner(PKI + "/ca.key", 1000, 1000)),
    file_row("pki-certificate-permissions", "kubeadm-cp", mode(PKI + "/ca.crt", "0644"), mode(PKI + "/ca.crt", "0666")),
    file_row("pki-key-permissions", "kubeadm-cp", mode(PKI + "/ca.key", "0600"), mode(PKI + "/ca.key", "0640")),
    # 1.2 API server
    row("apiserver-anonymous-auth", "kubeadm-cp", flag(APISERVER, "anonymous-auth", "false"),
        image(APISERVER, "v1.32.9") + flag(APISERVER, "anonymous-auth", None)),
    apiserver("token-auth-file", None, "/etc/kubernetes/tokens.csv", "apiserver-token-auth-file"),
    apiserver("enable-admission-plugins", "NodeRestriction,DenyServiceExternalIPs", "NodeRestriction",
              "apiserver-deny-service-external-ips"),
    apiserver("kubelet-client-key", PKI + "/apiserver-kubelet-client.key", None, "apiserver-kubelet-client-cert"),
    apiserver("kubelet-certificate-authority", PKI + "/ca.crt", None, "apiserver-kubelet-certificate-authority"),
    apiserver("authorization-mode", "Node,RBAC", "AlwaysAllow", "apiserver-authorization-mode-not-alwaysallow"),
    apiserver("authorization-mode", "Node,RBAC", "RBAC", "apiserver-authorization-mode-node"),
    apiserver("authorization-mode", "Node,RBAC", "Node", "apiserver-authorization-mode-rbac"),
    row("apiserver-event-rate-limit", "kubeadm-cp",
        apiserver_file("admission.yaml", ADMISSION, "admission-control-config-file")
        + flag(APISERVER, "enable-admission-plugins", "NodeRestriction,EventRateLimit"),
        flag(APISERVER, "enable-admission-plugins", "NodeRestriction"), supplied={"admission_config": ADMISSION}),
    apiserver("enable-admission-plugins", "NodeRestriction", "NodeRestriction,AlwaysAdmit", "apiserver-always-admit"),
    apiserver("enable-admission-plugins", "NodeRestriction,AlwaysPullImages", "NodeRestriction", "apiserver-always-pull-images"),
    apiserver("disable-admission-plugins", "StorageObjectInUseProtection", "ServiceAccount", "apiserver-service-account-plugin"),
    apiserver("disable-admission-plugins", "StorageObjectInUseProtection", "NamespaceLifecycle",
              "apiserver-namespace-lifecycle-plugin"),
    apiserver("enable-admission-plugins", "NodeRestriction", "DenyServiceExternalIPs", "apiserver-node-restriction-plugin"),
    apiserver("profiling", "false", "true", "apiserver-profiling"),
    apiserver("audit-log-path", "/var/log/kubernetes/audit/audit.log", "-", "apiserver-audit-log-path"),
    apiserver("audit-log-maxage", "30", "7", "apiserver-audit-log-maxage"),
    apiserver("audit-log-maxbackup", "10", "3", "apiserver-audit-log-maxbackup"),
    apiserver("audit-log-maxsize", "100", "50", "apiserver-audit-log-maxsize"),
    # manual unless the operator chooses the value (kubefort_overrides); then enforced like any setting
    apiserver("request-timeout", "300s", "60s", "apiserver-request-timeout", "would_fix", overrides={"apiserver-request-timeout": "300s"}),
    apiserver("service-account-lookup", "true", "false", "apiserver-service-account-lookup"),
    apiserver("service-account-key-file", PKI + "/sa.pub", None, "apiserver-service-account-key-file"),
    apiserver("etcd-keyfile", PKI + "/apiserver-etcd-client.key", PKI + "/missing-etcd-client.key", "apiserver-etcd-client-cert"),
    apiserver("tls-private-key-file", PKI + "/apiserver.key", None, "apiserver-tls-cert"),
    apiserver("client-ca-file", PKI + "/ca.crt", PKI + "/no-such-ca.crt", "apiserver-client-ca-file"),
    apiserver("etcd-cafile", PKI + "/etcd/ca.crt", None, "apiserver-etcd-cafile"),
    row("apiserver-encryption-provider-config", "kubeadm-cp", apiserver_file("encryption.yaml", ENCRYPTION_AESCBC, "encryption-provider-config"),
        flag(APISERVER, "encryption-provider-config", None), supplied={"encryption_config": ENCRYPTION_AESCBC}),
    row("apiserver-encryption-providers", "kubeadm-cp", apiserver_file("encryption.yaml", ENCRYPTION_AESCBC, "encryption-provider-config"),
        apiserver_file("encryption.yaml", ENCRYPTION_IDENTITY_FIRST, "encryption-provider-config")),
    apiserver("tls-cipher-suites", STRONG_APISERVER_CIPHERS, STRONG_APISERVER_CIPHERS + "," + WEAK_CIPHER,
              "apiserver-tls-cipher-suites"),
    apiserver("service-account-extend-token-expiration", "false", "true", "apiserver-service-account-extend-token-expiration"),
    row("apiserver-insecure-port", "kubeadm-cp", image(APISERVER, OLD_RELEASE) + flag(APISERVER, "insecure-port", "0"),
        image(APISERVER, OLD_RELEASE) + flag(APISERVER, "insecure-port", "8080")),
    row("apiserver-insecure-bind-address", "kubeadm-cp", image(APISERVER, OLD_RELEASE) + flag(APISERVER, "insecure-bind-address", "127.0.0.1"),
        image(APISERVER, OLD_RELEASE) + flag(APISERVER, "insecure-bind-address", "0.0.0.0")),
    # 1.3 controller manager
    # needs the operator's value (kubefort_overrides) before it writes one
    row("controller-manager-terminated-pod-gc-threshold", "kubeadm-cp", flag(CONTROLLER_MANAGER, "terminated-pod-gc-threshold", "10"),
        flag(CONTROLLER_MANAGER, "terminated-pod-gc-threshold", "20000"), overrides={"controller-manager-terminated-pod-gc-threshold": 10}),
    row("controller-manager-profiling", "kubeadm-cp", flag(CONTROLLER_MANAGER, "profiling", "false"),
        flag(CONTROLLER_MANAGER, "profiling", "true")),
    row("controller-manager-use-service-account-credentials", "kubeadm-cp",
        flag(CONTROLLER_MANAGER, "use-service-account-credentials", "true"), flag(CONTROLLER_MANAGER, "use-service-account-credentials", "false")),
    row("controller-manager-service-account-private-key-file", "kubeadm-cp",
        flag(CONTROLLER_MANAGER, "service-account-private-key-file", PKI + "/sa.key"),
        flag(CONTROLLER_MANAGER, "service-account-private-key-file", None)),
    row("controller-manager-root-ca-file", "kubeadm-cp", flag(CONTROLLER_MANAGER, "root-ca-file", PKI + "/ca.crt"),
        flag(CONTROLLER_MANAGER, "root-ca-file", PKI + "/missing-ca.crt")),
    row("controller-manager-rotate-kubelet-server-certificate", "kubeadm-cp",
        flag(CONTROLLER_MANAGER, "feature-gates", "RotateKubeletServerCertificate=true"),
        flag(CONTROLLER_MANAGER, "feature-gates", "RotateKubeletServerCertificate=false")),
    row("controller-manager-bind-address", "kubeadm-cp", flag(CONTROLLER_MANAGER, "bind-address", "127.0.0.1"),
        flag(CONTROLLER_MANAGER, "bind-address", "0.0.0.0")),
    row("controller-manager-insecure-port", "kubeadm-cp", image(CONTROLLER_MANAGER, OLD_RELEASE) + flag(CONTROLLER_MANAGER, "port", "0"),
        image(CONTROLLER_MANAGER, OLD_RELEASE) + flag(CONTROLLER_MANAGER, "port", "10252")),
    # 1.4 scheduler
    row("scheduler-profiling", "kubeadm-cp", flag(SCHEDULER, "profiling", "false"), flag(SCHEDULER, "profiling", "true")),
    row("scheduler-bind-address", "kubeadm-cp", flag(SCHEDULER, "bind-address", "127.0.0.1"), flag(SCHEDULER, "bind-address", "0.0.0.0")),
    row("scheduler-insecure-port", "kubeadm-cp", image(SCHEDULER, OLD_RELEASE) + flag(SCHEDULER, "port", "0"),
        image(SCHEDULER, OLD_RELEASE) + flag(SCHEDULER, "port", "10251")),
    # 2 etcd
    row("etcd-tls-cert", "kubeadm-cp", flag(ETCD, "key-file", PKI + "/etcd/server.key"), flag(ETCD, "key-file", None)),
    row("etcd-client-cert-auth", "kubeadm-cp", flag(ETCD, "client-cert-auth", "true"), flag(ETCD, "client-cert-auth", "false")),
    row("etcd-auto-tls", "kubeadm-cp", flag(ETCD, "auto-tls", "false"), flag(ETCD, "auto-tls", "true")),
    row("etcd-peer-tls-cert", "kubeadm-cp", flag(ETCD, "peer-cert-file", PKI + "/etcd/peer.crt"), flag(ETCD, "peer-cert-file", None)),
    row("etcd-peer-client-cert-auth", "kubespray", env_var("/etc/etcd.env", "ETCD_PEER_CLIENT_CERT_AUTH", "true"),
        env_var("/etc/etcd.env", "ETCD_PEER_CLIENT_CERT_AUTH", "false")),
    row("etcd-peer-auto-tls", "kubeadm-cp", flag(ETCD, "peer-auto-tls", "false"), flag(ETCD, "peer-auto-tls", "true")),
    row("etcd-unique-ca", "kubeadm-cp", flag(ETCD, "trusted-ca-file", PKI + "/etcd/ca.crt"), flag(ETCD, "trusted-ca-file", PKI + "/ca.crt")),
    # 3 control-plane configuration
    manual("users-no-client-certificates", "kubeadm-cp",
           "which users hold client certificates is not on the node: the operator decides, with the API's CSRs and the CA's records"),
    manual("users-no-service-account-tokens", "kubeadm-cp",
           "whether people use service account tokens is a practice, not a setting a node file shows"),
    manual("users-no-bootstrap-tokens", "kubeadm-cp",
           "bootstrap tokens live in the cluster (Secrets in kube-system), not on the node: check them with the cluster rules' dump"),
    row("apiserver-audit-policy", "kubeadm-cp", apiserver_file("audit-policy.yaml", AUDIT_POLICY, "audit-policy-file"),
        apiserver_file("audit-policy.yaml", AUDIT_NOTHING, "audit-policy-file"), "fail"),
    manual("apiserver-audit-policy-coverage", "kubeadm-cp",
           "whether the audit policy covers the cluster's concerns is judged on its content by the operator (3.2.2)"),
    # 4.1 worker node files
    file_row("kubelet-service-file-permissions", "kubeadm-worker",
             mode("/usr/lib/systemd/system/kubelet.service", "0600") + mode("/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf", "0600"),
             mode("/usr/lib/systemd/system/kubelet.service", "0600") + mode("/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf", "0644")),
    file_row("kubelet-service-file-ownership", "kubeadm-worker", owner("/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf", 0, 0),
             owner("/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf", 1000, 1000)),
    # microk8s keeps its credentials in a directory its group may write (0770): the parent directory is fixed too
    file_row("kube-proxy-kubeconfig-permissions", "microk8s", write(PROXY_KUBECONFIG, KUBECONFIG_TEXT, "0600")
             + mode(os.path.dirname(PROXY_KUBECONFIG), "0750"),  # microk8s makes credentials/ 0770
             write(PROXY_KUBECONFIG, KUBECONFIG_TEXT, "0644") + mode(os.path.dirname(PROXY_KUBECONFIG), "0770")),
    file_row("kube-proxy-kubeconfig-ownership", "microk8s", write(PROXY_KUBECONFIG, KUBECONFIG_TEXT) + owner(PROXY_KUBECONFIG, 0, 0),
             write(PROXY_KUBECONFIG, KUBECONFIG_TEXT) + owner(PROXY_KUBECONFIG, 1000, 1000)),
    *file_rows("kubelet-kubeconfig", "kubeadm-cp", "/etc/kubernetes/kubelet.conf", "0600", "0644"),
    *file_rows("kubelet-client-ca", "kubeadm-worker", PKI + "/ca.crt", "0644", "0666"),
    *file_rows("kubelet-config", "kubeadm-worker", "/var/lib/kubelet/config.yaml", "0600", "0644"),
    # 4.2 kubelet
    row("kubelet-anonymous-auth", "kubeadm-worker", config("authentication.anonymous.enabled", False),
        config("authentication.anonymous.enabled", True)),
    row("kubelet-authorization-mode", "kubeadm-worker", config("authorization.mode", "Webhook"), config("authorization.mode", "AlwaysAllow")),
    row("kubelet-client-ca-file", "kubeadm-worker", config("authentication.x509.clientCAFile", PKI + "/ca.crt"),
        config("authentication.x509.clientCAFile", DELETE)),
    row("kubelet-read-only-port", "kubeadm-worker", config("readOnlyPort", 0), config("readOnlyPort", 10255)),
    row("kubelet-streaming-connection-idle-timeout", "kubeadm-worker", config("streamingConnectionIdleTimeout", "5m0s"),
        kubelet_extra_args("--streaming-connection-idle-timeout=0")),
    row("kubelet-make-iptables-util-chains", "kubeadm-worker", config("makeIPTablesUtilChains", True), config("makeIPTablesUtilChains", False)),
    row("kubelet-hostname-override", "kubeadm-worker", kubelet_extra_args("--node-labels=zone=a"),
        kubelet_extra_args("--hostname-override=worker-a")),
    # manual unless the operator chooses the value (kubefort_overrides)
    row("kubelet-event-qps", "kubeadm-worker", config("eventRecordQPS", 50), config("eventRecordQPS", 5), "would_fix",
        overrides={"kubelet-event-qps": 50}),
    row("kubelet-tls-cert", "kubeadm-worker", config("serverTLSBootstrap", True), config("serverTLSBootstrap", DELETE)),
    row("kubelet-rotate-certificates", "kubeadm-worker", config("rotateCertificates", True), config("rotateCertificates", False)),
    row("kubelet-rotate-server-certificate-gate", "kubeadm-worker", config("featureGates", {"RotateKubeletServerCertificate": True}),
        config("featureGates", {"RotateKubeletServerCertificate": False})),
    row("kubelet-tls-cipher-suites", "kubeadm-worker", config("tlsCipherSuites", ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]),
        config("tlsCipherSuites", ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", WEAK_CIPHER])),
    # needs the operator's value (kubefort_overrides) before it writes one
    row("kubelet-pod-pids-limit", "kubeadm-worker", config("podPidsLimit", 4096), config("podPidsLimit", -1),
        overrides={"kubelet-pod-pids-limit": 4096}),
    row("kubelet-seccomp-default", "kubeadm-worker", config("seccompDefault", True), config("seccompDefault", False)),
    row("kubelet-cadvisor-port", "kubeadm-worker", kubelet_extra_args("--cadvisor-port=0"), kubelet_extra_args("--cadvisor-port=4194"),
        fails_as="fail"),  # the kubelet's version is unknown offline and the flag exists only up to 1.11: nothing written
    # 4.3 kube-proxy
    row("kube-proxy-metrics-bind-address", "microk8s", args_flag(MICROK8S_ARGS + "kube-proxy", "metrics-bind-address", "127.0.0.1:10249"),
        args_flag(MICROK8S_ARGS + "kube-proxy", "metrics-bind-address", "0.0.0.0:10249")),
    row("kube-proxy-healthz-bind-address", "microk8s", args_flag(MICROK8S_ARGS + "kube-proxy", "healthz-bind-address", "127.0.0.1:10256"),
        args_flag(MICROK8S_ARGS + "kube-proxy", "healthz-bind-address", "0.0.0.0:10256")),
]


# ---- ports: captured /proc trees (tests/fixtures/proc) and the answers of port_probe -----------------------

TCP_HEADER = {"tcp": "  sl  local_address rem_address   st", "tcp6": "  sl  local_address"}


def _proc_address(address: str) -> t.Tuple[str, str]:
    """The /proc/net file and hex local address of an IP (as the kernel prints them: 32-bit words, host order)."""
    import ipaddress
    import struct

    ip = ipaddress.ip_address(address)
    packed = ip.packed
    words = [struct.unpack("<I", packed[i:i + 4])[0] for i in range(0, len(packed), 4)]
    return ("tcp" if ip.version == 4 else "tcp6"), "".join("%08X" % w for w in words)


def _listen_lines(root: str, port: int) -> t.List[t.Tuple[str, int, t.List[str]]]:
    found = []
    for name in ("tcp", "tcp6"):
        path = os.path.join(root, "net", name)
        with open(path, encoding="ascii") as handle:
            lines = handle.read().split("\n")
        for index, line in enumerate(lines[1:], 1):
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:
                found.append((name, index, fields))
    return found


def _rewrite(root: str, name: str, edit: t.Callable[[t.List[str]], t.List[str]]) -> None:
    path = os.path.join(root, "net", name)
    with open(path, encoding="ascii") as handle:
        lines = handle.read().split("\n")
    with open(path, "w", encoding="ascii") as handle:
        handle.write("\n".join(edit(lines)))


def _add_listener(root: str, address: str, port: int, inode: str) -> None:
    name, hexaddr = _proc_address(address)
    remote = "0" * len(hexaddr) + ":0000"
    line = "  99: %s:%04X %s 0A 00000000:00000000 00:00000000 00000000     0        0 %s 1 0000000000000000 100 0 0 10 0" % (
        hexaddr, port, remote, inode)
    _rewrite(root, name, lambda lines: lines[:1] + [line] + lines[1:])


def listen_on(port: int, address: str) -> Change:
    """The process that listens on ``port`` binds ``address`` instead (its socket keeps its inode)."""
    def step(root: str) -> None:
        found = _listen_lines(root, port)
        assert found, "nothing listens on %d in this capture" % port
        inode = found[0][2][9]
        for name, index, _fields in reversed(found):
            _rewrite(root, name, lambda lines, i=index: lines[:i] + lines[i + 1:])
        _add_listener(root, address, port, inode)

    return Change("port %d bound to %s" % (port, address), (step,))


def stop_listening(port: int) -> Change:
    def step(root: str) -> None:
        for name, index, _fields in reversed(_listen_lines(root, port)):
            _rewrite(root, name, lambda lines, i=index: lines[:i] + lines[i + 1:])

    return Change("nothing listens on %d" % port, (step,))


def start_listening(program: str, port: int, address: str) -> Change:
    """``program`` (by its comm) opens a new listening socket on ``address``:``port``."""
    def step(root: str) -> None:
        pid = next(d for d in os.listdir(root) if d.isdigit() and open(os.path.join(root, d, "comm")).read().strip() == program)
        inode = str(90000 + port)
        fds = os.path.join(root, pid, "fd")
        os.symlink("socket:[%s]" % inode, os.path.join(fds, str(100 + len(os.listdir(fds)))))
        _add_listener(root, address, port, inode)

    return Change("%s listens on %s:%d" % (program, address, port), (step,))


@contextlib.contextmanager
def answering(status: int) -> t.Iterator[int]:
    """A local HTTP server that answers every GET with ``status``; yields its port."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: t.Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def port_probe(name: str, status: int) -> t.Dict[str, t.Any]:
    """What kubefort.hardening.port_probe answers when probe ``name`` gets ``status`` from a real server."""
    from ansible_collections.kubefort.hardening.plugins.modules import port_probe as module

    with answering(status) as port:
        out = run_module(module, {"host": "127.0.0.1", "probes": [{"name": name, "port": port, "scheme": "http", "path": "/pods"}]})
    assert not out.get("failed"), out
    return {"prober": "peer", "host": "127.0.0.1", "probes": out["probes"]}


@dataclass(frozen=True)
class PortsRow:
    rule_id: str
    capture: str  # a directory of tests/fixtures/proc
    passing: Change
    failing: Change
    # probe rules: no /proc file holds what an anonymous request gets; the HTTP status a real server answers
    # port_probe's probe of that name with, passing and failing (as the ports_audit action's probe_results)
    probe: str = ""
    answers: t.Tuple[int, int] = (0, 0)


def probed(rule_id: str, probe: str, denied_status: int) -> PortsRow:
    return PortsRow(rule_id, "kubeadm-control-plane", Change("probe %s answered %d" % (probe, denied_status)),
                    Change("probe %s answered 200" % probe), probe, (denied_status, 200))


PORTS_ROWS: t.List[PortsRow] = [
    PortsRow("ports-kubelet-readonly-closed", "kubeadm-control-plane", stop_listening(10255), listen_on(10255, "::")),
    probed("ports-kubelet-readonly-anonymous", "kubelet-readonly", 401),
    probed("ports-kubelet-api-anonymous", "kubelet-api", 401),
    probed("ports-apiserver-anonymous", "kube-apiserver", 403),
    PortsRow("ports-cadvisor-closed", "kubeadm-control-plane", stop_listening(4194), start_listening("kubelet", 4194, "::")),
    PortsRow("ports-controller-manager-loopback", "kubeadm-control-plane", listen_on(10257, "127.0.0.1"), listen_on(10257, "0.0.0.0")),
    PortsRow("ports-scheduler-loopback", "kubeadm-control-plane", listen_on(10259, "::1"), listen_on(10259, "::")),
    PortsRow("ports-kube-proxy-healthz-binding", "kubeadm-control-plane", listen_on(10256, "127.0.0.1"), listen_on(10256, "::")),
    PortsRow("ports-kube-proxy-metrics-binding", "kubeadm-control-plane", listen_on(10249, "127.0.0.1"), listen_on(10249, "10.0.0.5")),
    PortsRow("ports-felix-health-loopback", "kubeadm-control-plane", listen_on(9099, "127.0.0.1"), listen_on(9099, "0.0.0.0")),
    PortsRow("ports-no-any-address", "kubeadm-control-plane", listen_on(2381, "127.0.0.1"), listen_on(2381, "0.0.0.0")),
]


def ports_audit(tmp_path: t.Any, item: PortsRow, change: Change, status: int) -> t.Dict[str, t.Any]:
    """node_facts lists the sockets of the copied /proc (as the ports_audit action asks it), then the ports engine."""
    from ansible_collections.kubefort.hardening.plugins.plugin_utils import _ports_evaluate
    from ansible_collections.kubefort.hardening.plugins.modules import node_facts

    proc = os.path.join(str(tmp_path), "proc")
    shutil.copytree(os.path.join(PROC_TREES, item.capture), proc, symlinks=True)
    change.apply(proc)
    facts = run_module(node_facts, {"root": "/", "ports": {"proc_path": proc, "probe": False}})
    listing = facts["snapshot"]["ports"]["listing"]
    runs = [port_probe(item.probe, status)] if item.probe else None
    (result,) = [r for r in _ports_evaluate.evaluate(listing, runs, {"rules": [item.rule_id]}) if r["id"] == item.rule_id]
    return result


# ---- running a case through the engine's entry ---------------------------------------------------------


def lay_out(tmp_path: t.Any, tree: str, change: t.Optional[Change]) -> str:
    root = os.path.join(str(tmp_path), "node")
    shutil.copytree(TREES[tree], root, symlinks=True)
    if os.path.exists(os.path.join(root, "MODES")):
        _demo_nodes_script().apply_modes(root)
    if change is not None:
        change.apply(root)
    return root


def harden(root: str, row: Row, check: bool = True) -> t.Dict[str, t.Any]:
    """The rule's result and the run's outcome, from one node_harden run of that rule alone."""
    rules = _harden.select_rules([row.rule.component], [row.rule_id], [])
    outcome = _harden.run(call_module_factory(check=check), root, rules, Options(level=2, **row.options), check,
                          BACKUP_DIR, False)
    (result,) = [r for r in outcome["results"] if r["id"] == row.rule_id]
    return dict(result, _outcome=outcome)


def case_params(rows: t.Sequence[Row], which: str) -> t.List[t.Any]:
    params = []
    for item in rows:
        change = getattr(item, which)
        if change is None:
            continue
        marks = [pytest.mark.root(reason=item.needs_root)] if item.needs_root else []
        params.append(pytest.param(item, id="%s: %s" % (item.rule_id, change.text), marks=marks))
    return params


def explain(result: t.Mapping[str, t.Any]) -> str:
    return "status %s, actual %r, source %r: %s" % (result["status"], result["actual"], result["source"], result["message"])


def test_every_node_rule_has_a_row():
    ports = [r.rule_id for r in PORTS_ROWS]
    assert len(ports) == len(set(ports)) and set(ports) == set(PORTS_RULES), sorted(set(ports) ^ set(PORTS_RULES))
    ids = [r.rule_id for r in ROWS]
    assert len(ids) == len(set(ids)), "one row per rule"
    assert set(ids) == set(NODE_RULES), {"no row": sorted(set(NODE_RULES) - set(ids)), "no rule": sorted(set(ids) - set(NODE_RULES))}
    for item in ROWS:
        if item.manual_only:
            assert item.passing is None and item.failing is None and not item.rule.automated, item.rule_id
        else:
            assert item.passing is not None and item.failing is not None, item.rule_id
            assert item.non_passing_status() in ("would_fix", "fail"), item.rule_id


@pytest.mark.parametrize("item", case_params(ROWS, "passing"))
def test_passing_case(tmp_path, item):
    result = harden(lay_out(tmp_path, item.tree, item.passing), item)
    assert result["status"] == "pass", explain(result)


@pytest.mark.parametrize("item", case_params(ROWS, "failing"))
def test_non_passing_case(tmp_path, item):
    root = lay_out(tmp_path, item.tree, item.failing)
    before = tree_hashes(root)
    result = harden(root, item)
    assert result["status"] == item.non_passing_status(), explain(result)
    assert result["actual"] is None or isinstance(result["actual"], str)
    assert tree_hashes(root) == before, "check mode wrote to the node"


@pytest.mark.parametrize("item", [pytest.param(r, id="%s: %s" % (r.rule_id, r.manual_only)) for r in ROWS if r.manual_only] + [
    pytest.param(r, id="%s: no kubefort_overrides value" % r.rule_id) for r in ROWS
    if "overrides" in r.options and not r.rule.automated])
def test_manual_case(tmp_path, item):
    """Rules only a person can decide are manual, with what to look at; so are the overridable ones without a value."""
    plain = Row(item.rule_id, item.tree, None, None)
    result = harden(lay_out(tmp_path, item.tree, item.passing), plain)
    assert result["status"] == "manual", explain(result)
    assert result["message"], "a manual result says what to check"


@pytest.mark.parametrize("item", case_params([r for r in ROWS if "overrides" in r.options and r.rule.automated], "failing"))
def test_no_value_is_written_before_the_operator_chooses_it(tmp_path, item):
    plain = Row(item.rule_id, item.tree, None, None)
    result = harden(lay_out(tmp_path, item.tree, item.failing), plain, check=False)
    assert result["status"] == "fail" and not result["changed_files"], explain(result)
    assert "kubefort_overrides.%s" % item.rule_id in result["message"]


@pytest.mark.parametrize("item", case_params([r for r in ROWS if r.non_passing_status() == "would_fix"], "failing"))
def test_fix_of_the_non_passing_case_lasts(tmp_path, item):
    """Apply fixes the non-passing case, a check then passes, and a second apply changes nothing."""
    root = lay_out(tmp_path, item.tree, item.failing)
    fixed = harden(root, item, check=False)
    assert fixed["status"] == "fixed", explain(fixed)
    assert fixed["changed_files"] or fixed["_outcome"]["restart"], "a fix names what it changed"
    after = harden(root, item)
    assert after["status"] == "pass", explain(after)
    hashes = tree_hashes(root)
    again = harden(root, item, check=False)
    assert again["status"] == "pass" and not again["_outcome"]["changed"], explain(again)
    assert {p: h for p, h in tree_hashes(root).items() if not p.startswith("var/lib/kubefort/")} == {
        p: h for p, h in hashes.items() if not p.startswith("var/lib/kubefort/")}


@pytest.mark.parametrize("item", [pytest.param(r, id="%s: %s" % (r.rule_id, r.passing.text)) for r in PORTS_ROWS])
def test_ports_passing_case(tmp_path, item):
    result = ports_audit(tmp_path, item, item.passing, item.answers[0])
    assert result["status"] == "pass", explain(result)


@pytest.mark.parametrize("item", [pytest.param(r, id="%s: %s" % (r.rule_id, r.failing.text)) for r in PORTS_ROWS])
def test_ports_non_passing_case(tmp_path, item):
    result = ports_audit(tmp_path, item, item.failing, item.answers[1])
    assert result["status"] == "fail", explain(result)
