#!/usr/bin/env python
"""TEST STAND-IN for an RKE2 server (NOT RKE2): installed as /usr/local/bin/rke2 in test images.

No RKE2 can be run on the test machines, so a podman test node runs this program under
``rke2-server.service`` as the RKE2 install script writes it (``Type=notify``, ``KillMode=process``,
``ExecStart=/usr/local/bin/rke2 server``). What it does at every start, as ``rke2 server`` does:

* Reads ``/etc/rancher/rke2/config.yaml``, then ``config.yaml.d/*.yaml``/``*.yml`` by name (a key replaces
  an earlier value, ``key+`` appends), and takes ``kubelet-arg`` and ``kube-apiserver-arg``. Each entry
  ``name=value`` is applied over RKE2's own defaults for that component the way k3s' ``GetArgs`` does (an
  entry replaces the default of its flag, ``name+=v`` appends to it, ``name-=v`` prepends, repeated entries
  stay repeated; the flags come out sorted by name). A config file that cannot be read or parsed stops it
  (exit 1), as ``rke2 server`` refuses to start on one.
* On the first start only: the cluster's certificates and keys under ``server/tls`` (client, server,
  request-header, etcd server and peer CAs and what they sign), the service-account keys, the encryption
  configuration, the egress selector configuration, the kubelet's serving certificate, and the Pod
  Security and audit policies in ``/etc/rancher/rke2``; ``/etc/rancher/rke2/rke2.yaml`` (the admin
  kubeconfig, ``write-kubeconfig-mode`` or 0600) at every start.
* Regenerates the static pod manifests in ``agent/pod-manifests`` at every start (written only when their
  content changes, 0600): ``etcd.yaml`` running ``etcd --config-file`` on the etcd config file it also
  regenerates in ``server/db/etcd/config``, and ``kube-apiserver.yaml`` with the API server flags above
  (image ``rancher/hardened-kubernetes:<release>``); and the kubelet defaults drop-in
  ``agent/etc/kubelet.conf.d/00-rke2-defaults.conf`` (anonymous auth off, Webhook, the static pod path).
* Stages the kubelet (``bin`` -> ``data/<release>-<digest>/bin``, the kubelet stand-in) and runs it as a child
  process with ``--config-dir`` on that directory, ``--read-only-port=0`` and the ``kubelet-arg`` entries
  (after ``--volume-plugin-dir``, ``--file-check-frequency``, ``--sync-frequency``), its output appended to
  ``agent/logs/kubelet.log``. When the kubelet exits, RKE2 logs ``Kubelet exited: exit status N`` and
  starts it again 5 s later; the service itself stays up (rancher/rke2 pkg/podexecutor/staticpod.go).
  The kubelet stand-in runs the static pods, so a changed manifest restarts that pod.
* Tells systemd it is ready (``READY=1``) once the API server answers ``/readyz`` with the admin
  certificate, as the real server does once its control plane is up; a stop kills the kubelet child
  (RKE2 sets a parent-death signal on it), the static pods keep running (containers outlive the kubelet).

Not emulated: ``rke2 agent``, the controller manager, scheduler, kube-proxy and cloud controller (no
manifests are written for them), containerd, CNI, joining other servers, ``etcd-arg``, the CIS profile.
"""

from __future__ import annotations

import base64
import ctypes
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import typing as t
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

import k3s_standin
import standin_common as common
import yaml
from standin_common import StartupError

NAME = "rke2"
CONFIG = os.environ.get("KUBEFORT_STANDIN_RKE2_CONFIG", "/etc/rancher/rke2/config.yaml")
DATA = "/var/lib/rancher/rke2"
RELEASE = "v1.33.4+rke2r1"
TAG = "v1.33.4-rke2r1-build20250814"
RUNTIME = DATA + "/data/v1.33.4-rke2r1-5b3c21e0d7a4/bin"
MANIFESTS = DATA + "/agent/pod-manifests"
KUBELET_CONFIG_DIR = DATA + "/agent/etc/kubelet.conf.d"
KUBELET_LOG = DATA + "/agent/logs/kubelet.log"
TLS = DATA + "/server/tls"
ETCD_CONFIG = DATA + "/server/db/etcd/config"
ADMIN_KUBECONFIG = "/etc/rancher/rke2/rke2.yaml"
KUBELET_RESTART_SECONDS = 5.0


def node_ip() -> str:
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def get_args(defaults: dict[str, str], entries: list[str]) -> list[str]:
    """RKE2's (k3s') merge of ``-arg`` entries over a component's default flags, sorted by flag name."""
    initial = dict(defaults)
    values: dict[str, list[str]] = {}
    for entry in entries:
        name, eq, value = entry.lstrip("-").partition("=")
        value = value if eq else "true"
        clean = name.rstrip("+-")
        before = [initial[clean]] if clean in initial else []
        existing = values.get(clean, [])
        if name.endswith("+"):
            new = before + existing + [value]
        elif name.endswith("-"):
            new = [value] + before + existing
        else:
            new = existing + [value]
        initial.pop(clean, None)
        values[clean] = new
    for name, value in initial.items():
        values[name] = [value]
    return ["--%s=%s" % (name, value) for name in sorted(values) for value in values[name]]


def load_config() -> dict:
    merged: dict = {}
    for path in k3s_standin.config_files(CONFIG):
        try:
            with open(path, encoding="utf-8") as handle:
                data = yaml.safe_load(handle) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise StartupError(f"failed to load config file {path}: {' '.join(str(exc).split())}") from None
        if not isinstance(data, dict):
            raise StartupError(f"failed to load config file {path}: not a mapping")
        merged.update({k: v for k, v in data.items() if not str(k).endswith("+")})
    return merged


# --- first start: the cluster's certificates and files ----------------------------------------------------


def pki(ip: str, host: str) -> None:
    """What RKE2 generates on the first start of a server (kept afterwards)."""
    if os.path.exists(os.path.join(TLS, "client-admin.crt")):
        return
    cas = {}
    for name, cn in (("client-ca", "rke2-client-ca"), ("server-ca", "rke2-server-ca"),
                     ("request-header-ca", "rke2-request-header-ca"), ("etcd/server-ca", "etcd-server-ca"),
                     ("etcd/peer-ca", "etcd-peer-ca")):
        cas[name] = (os.path.join(TLS, name + ".crt"), os.path.join(TLS, name + ".key"))
        common.issue(*cas[name], cn)
    serving = ["IP:127.0.0.1", "IP:" + ip, "DNS:localhost", "DNS:kubernetes", "DNS:kubernetes.default", "DNS:" + host]
    leaves = (
        ("serving-kube-apiserver", "kube-apiserver", "", "server-ca", serving),
        ("client-admin", "system:admin", "system:masters", "client-ca", []),
        ("client-kube-apiserver", "system:apiserver", "system:masters", "client-ca", []),
        ("client-auth-proxy", "system:auth-proxy", "", "request-header-ca", []),
        ("client-kubelet", "system:node:" + host, "system:nodes", "client-ca", []),
        ("etcd/client", "etcd-client", "", "etcd/server-ca", []),
        ("etcd/server-client", "etcd-server", "", "etcd/server-ca", ["IP:127.0.0.1", "IP:" + ip, "DNS:localhost"]),
        ("etcd/peer-server-client", "etcd-peer", "", "etcd/peer-ca", ["IP:127.0.0.1", "IP:" + ip, "DNS:localhost"]),
    )
    for name, cn, org, ca, names in leaves:
        common.issue(os.path.join(TLS, name + ".crt"), os.path.join(TLS, name + ".key"), cn, cas[ca], org, names)
    for key in ("service.key", "service.current.key"):
        subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-out", os.path.join(TLS, key)], check=True, capture_output=True)
        os.chmod(os.path.join(TLS, key), 0o600)
    agent = DATA + "/agent"
    common.issue(agent + "/serving-kubelet.crt", agent + "/serving-kubelet.key", host, cas["server-ca"], "",
                 ["IP:127.0.0.1", "IP:" + ip, "DNS:localhost", "DNS:" + host])
    with open(cas["client-ca"][0], encoding="utf-8") as handle:
        common.write_file(agent + "/client-ca.crt", handle.read(), 0o644)
    common.kubeconfig(agent + "/kubelet.kubeconfig", "https://127.0.0.1:6443", cas["server-ca"][0],
                      os.path.join(TLS, "client-kubelet.crt"), os.path.join(TLS, "client-kubelet.key"))
    secret = base64.b64encode(os.urandom(32)).decode()
    common.write_file(DATA + "/server/cred/encryption-config.json", json.dumps({
        "kind": "EncryptionConfiguration", "apiVersion": "apiserver.config.k8s.io/v1",
        "resources": [{"resources": ["secrets"], "providers": [
            {"aescbc": {"keys": [{"name": "aescbckey", "secret": secret}]}}, {"identity": {}}]}]}), 0o600)
    common.write_file(DATA + "/server/etc/egress-selector-config.yaml",
                      "apiVersion: apiserver.k8s.io/v1beta1\nkind: EgressSelectorConfiguration\negressSelections:\n"
                      "- name: cluster\n  connection:\n    proxyProtocol: Direct\n", 0o600)
    if not os.path.exists("/etc/rancher/rke2/rke2-pss.yaml"):
        common.write_file("/etc/rancher/rke2/rke2-pss.yaml",
                          "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n"
                          "- name: PodSecurity\n  configuration:\n    apiVersion: pod-security.admission.config.k8s.io/v1\n"
                          "    kind: PodSecurityConfiguration\n    defaults:\n      enforce: privileged\n"
                          "      enforce-version: latest\n", 0o600)
    if not os.path.exists("/etc/rancher/rke2/audit-policy.yaml"):
        common.write_file("/etc/rancher/rke2/audit-policy.yaml",
                          "apiVersion: audit.k8s.io/v1\nkind: Policy\nmetadata:\n  creationTimestamp: null\n"
                          "rules:\n- level: None\n", 0o600)


# --- every start: manifests, the kubelet drop-in, the admin kubeconfig -------------------------------------


def apiserver_defaults(ip: str) -> dict[str, str]:
    tls = TLS + "/"
    return {
        "admission-control-config-file": "/etc/rancher/rke2/rke2-pss.yaml", "advertise-address": ip,
        "allow-privileged": "true", "anonymous-auth": "false",
        "api-audiences": "https://kubernetes.default.svc.cluster.local,rke2",
        "audit-log-maxage": "30", "audit-log-maxbackup": "10", "audit-log-maxsize": "100",
        "audit-log-path": DATA + "/server/logs/audit.log", "audit-policy-file": "/etc/rancher/rke2/audit-policy.yaml",
        "authorization-mode": "Node,RBAC", "bind-address": "0.0.0.0", "cert-dir": tls + "temporary-certs",
        "client-ca-file": tls + "client-ca.crt",
        "egress-selector-config-file": DATA + "/server/etc/egress-selector-config.yaml",
        "enable-admission-plugins": "NodeRestriction", "enable-aggregator-routing": "true",
        "enable-bootstrap-token-auth": "true", "encryption-provider-config": DATA + "/server/cred/encryption-config.json",
        "encryption-provider-config-automatic-reload": "true", "etcd-cafile": tls + "etcd/server-ca.crt",
        "etcd-certfile": tls + "etcd/client.crt", "etcd-keyfile": tls + "etcd/client.key",
        "etcd-servers": "https://127.0.0.1:2379", "kubelet-certificate-authority": tls + "server-ca.crt",
        "kubelet-client-certificate": tls + "client-kube-apiserver.crt", "kubelet-client-key": tls + "client-kube-apiserver.key",
        "profiling": "false", "proxy-client-cert-file": tls + "client-auth-proxy.crt",
        "proxy-client-key-file": tls + "client-auth-proxy.key", "requestheader-allowed-names": "system:auth-proxy",
        "requestheader-client-ca-file": tls + "request-header-ca.crt", "requestheader-extra-headers-prefix": "X-Remote-Extra-",
        "requestheader-group-headers": "X-Remote-Group", "requestheader-username-headers": "X-Remote-User",
        "secure-port": "6443", "service-account-issuer": "https://kubernetes.default.svc.cluster.local",
        "service-account-key-file": tls + "service.key", "service-account-signing-key-file": tls + "service.current.key",
        "service-cluster-ip-range": "10.43.0.0/16", "service-node-port-range": "30000-32767",
        "tls-cert-file": tls + "serving-kube-apiserver.crt", "tls-private-key-file": tls + "serving-kube-apiserver.key",
    }


def pod(name: str, image: str, command: list[str]) -> str:
    container = {"name": name, "image": image, "imagePullPolicy": "IfNotPresent", "command": command[:1],
                 "args": command[1:], "env": [{"name": "NO_PROXY", "value": ".svc,.cluster.local,10.42.0.0/16,10.43.0.0/16"}]}
    manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "labels": {"component": name, "tier": "control-plane"}, "name": name, "namespace": "kube-system"},
        "spec": {"containers": [container], "hostNetwork": True, "priorityClassName": "system-cluster-critical"},
        "status": {}}
    return yaml.safe_dump(manifest, sort_keys=True)


def write_if_changed(path: str, text: str, mode: int) -> None:
    try:
        with open(path, encoding="utf-8") as handle:
            if handle.read() == text:
                return
    except OSError:
        pass
    common.write_file(path, text, mode)


def etcd_config(ip: str, host: str) -> str:
    tls = TLS + "/etcd/"
    return yaml.safe_dump({
        "advertise-client-urls": f"https://{ip}:2379",
        "client-transport-security": {"cert-file": tls + "server-client.crt", "client-cert-auth": True,
                                      "key-file": tls + "server-client.key", "trusted-ca-file": tls + "server-ca.crt"},
        "data-dir": DATA + "/server/db/etcd", "election-timeout": 5000, "experimental-initial-corrupt-check": True,
        "heartbeat-interval": 500, "listen-client-urls": f"https://127.0.0.1:2379,https://{ip}:2379",
        "listen-metrics-urls": "http://127.0.0.1:2381", "listen-peer-urls": f"https://127.0.0.1:2380,https://{ip}:2380",
        "log-outputs": ["stderr"], "name": f"{host}-4f1c2a9e",
        "peer-transport-security": {"cert-file": tls + "peer-server-client.crt", "client-cert-auth": True,
                                    "key-file": tls + "peer-server-client.key", "trusted-ca-file": tls + "peer-ca.crt"},
        "snapshot-count": 10000,
    }, sort_keys=True)


KUBELET_DROPIN = ("apiVersion: kubelet.config.k8s.io/v1beta1\nauthentication:\n  anonymous:\n    enabled: false\n"
                  "  webhook:\n    cacheTTL: 2m0s\n    enabled: true\n  x509:\n    clientCAFile: " + DATA
                  + "/agent/client-ca.crt\nauthorization:\n  mode: Webhook\nhealthzBindAddress: 127.0.0.1\n"
                  "kind: KubeletConfiguration\nstaticPodPath: " + MANIFESTS + "\ntlsCertFile: " + DATA
                  + "/agent/serving-kubelet.crt\ntlsPrivateKeyFile: " + DATA + "/agent/serving-kubelet.key\n")


def lay_out(config: dict, ip: str, host: str) -> list[str]:
    """Everything RKE2 writes at start; returns the kubelet's command line."""
    pki(ip, host)
    mode = int(str(config.get("write-kubeconfig-mode") or "0600"), 8)
    common.kubeconfig(ADMIN_KUBECONFIG, "https://127.0.0.1:6443", TLS + "/server-ca.crt", TLS + "/client-admin.crt",
                      TLS + "/client-admin.key", mode)
    os.makedirs(os.path.dirname(ETCD_CONFIG), mode=0o700, exist_ok=True)  # etcd's data directory
    write_if_changed(ETCD_CONFIG, etcd_config(ip, host), 0o600)
    os.makedirs(MANIFESTS, exist_ok=True)
    write_if_changed(MANIFESTS + "/etcd.yaml", pod("etcd", "index.docker.io/rancher/hardened-etcd:v3.5.21-k3s1-build20250612",
                                                   ["etcd", "--config-file=" + ETCD_CONFIG]), 0o600)
    apiserver = get_args(apiserver_defaults(ip), k3s_standin.arg_entries(CONFIG, "kube-apiserver-arg", sys.argv[2:]))
    write_if_changed(MANIFESTS + "/kube-apiserver.yaml",
                     pod("kube-apiserver", "index.docker.io/rancher/hardened-kubernetes:" + TAG, ["kube-apiserver", *apiserver]),
                     0o600)
    write_if_changed(KUBELET_CONFIG_DIR + "/00-rke2-defaults.conf", KUBELET_DROPIN, 0o600)
    if not os.path.exists(RUNTIME + "/kubelet"):
        os.makedirs(RUNTIME, exist_ok=True)
        os.symlink(os.path.join(common.LIB_DIR, "kubelet_standin.py"), RUNTIME + "/kubelet")
    if not os.path.islink(DATA + "/bin"):
        os.symlink(RUNTIME, DATA + "/bin")
    defaults = {"config-dir": KUBELET_CONFIG_DIR, "hostname-override": host, "kubeconfig": DATA + "/agent/kubelet.kubeconfig",
                "node-ip": ip, "node-labels": "", "read-only-port": "0"}
    extra = ["--volume-plugin-dir=/var/lib/kubelet/volumeplugins", "--file-check-frequency=5s", "--sync-frequency=30s"]
    return [DATA + "/bin/kubelet", *extra, *get_args(defaults, k3s_standin.arg_entries(CONFIG, "kubelet-arg", sys.argv[2:]))]


def notify_when_ready() -> None:
    """READY=1 once the API server answers /readyz to the admin certificate."""
    context = ssl.create_default_context(cafile=TLS + "/server-ca.crt")
    context.check_hostname = False
    context.load_cert_chain(TLS + "/client-admin.crt", TLS + "/client-admin.key")
    while True:
        try:
            with urllib.request.urlopen("https://127.0.0.1:6443/readyz", context=context, timeout=3) as answer:
                if answer.status == 200:
                    common.log(NAME, "I API server ready")
                    common.notify_ready()
                    return
        except OSError:
            pass
        time.sleep(1)


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def run_kubelet(command: list[str]) -> None:
    """Start the kubelet, and start it again 5 s after it exits, for as long as RKE2 runs."""
    os.makedirs(os.path.dirname(KUBELET_LOG), exist_ok=True)
    env = dict(os.environ, KUBEFORT_STANDIN_KUBELET_VERSION=RELEASE.split("+", maxsplit=1)[0])
    env.pop("NOTIFY_SOCKET", None)
    while True:
        common.log(NAME, "I Running kubelet " + " ".join(command[1:]))
        with open(KUBELET_LOG, "ab") as log:
            child = subprocess.Popen(command, stdout=log, stderr=log, env=env, preexec_fn=_die_with_parent)
            signal.signal(signal.SIGTERM, _stop_with(child))
            code = child.wait()
        common.log(NAME, f"E Kubelet exited: exit status {code}")
        time.sleep(KUBELET_RESTART_SECONDS)


def _stop_with(child: subprocess.Popen) -> t.Callable[..., None]:
    """SIGTERM (systemctl stop, KillMode=process): the kubelet child goes too, as RKE2's death signal does."""
    def stop(*_args: t.Any) -> None:
        child.kill()
        sys.exit(0)
    return stop


def main() -> int:
    common.present_as(__file__)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        if sys.argv[1:2] != ["server"]:
            raise StartupError("the RKE2 stand-in runs only as 'rke2 server'")
        host = socket.gethostname()
        ip = node_ip()
        command = lay_out(load_config(), ip, host)
    except (StartupError, OSError, subprocess.CalledProcessError) as exc:
        common.die(NAME, str(exc))
    common.log(NAME, f"I Starting rke2 {RELEASE} server")
    threading.Thread(target=notify_when_ready, daemon=True).start()
    run_kubelet(command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
