"""Effective settings and their sources on each distribution's node, from the files its installer writes."""

from __future__ import annotations

import os

import pytest

from ansible_collections.kubefort.hardening.plugins.module_utils._node_snapshot import snapshot
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _dist_rancher
from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import ArgItem
from ansible_collections.kubefort.hardening.plugins.plugin_utils._discovery import FIRST_REQUEST, build_node
from ansible_collections.kubefort.hardening.plugins.plugin_utils._dist_microk8s import parse_args_file
from ansible_collections.kubefort.hardening.plugins.plugin_utils._rancher_args import get_args
from kubefort_testlib import REPO

FIXTURES = os.path.join(REPO, "tests", "fixtures", "nodes")


def node_of(root):
    r = FIRST_REQUEST
    return build_node(snapshot(root, r["read"], r["stat"], r["list"], r["units"], r["processes"]))


def write(root, path, text):
    full = os.path.join(str(root), path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as handle:
        handle.write(text)


@pytest.mark.parametrize("fixture, layout, present", [
    ("kubespray", "kubespray", {"kubelet", "kube-apiserver", "etcd"}),
    ("k3s", "k3s", {"kubelet", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kube-proxy"}),
    ("rke2", "rke2", {"kubelet", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kube-proxy"}),
    ("microk8s", "microk8s", {"kubelet", "kube-apiserver", "kube-scheduler", "kube-proxy"}),
    ("eks-al2", "eks", {"kubelet"}),
    ("eks-al2023", "eks", {"kubelet"}),
])
def test_layout_and_components(fixture, layout, present):
    node = node_of(os.path.join(FIXTURES, fixture))
    assert node.layout == layout
    assert {n for n, c in node.components.items() if c.present} == present
    assert node.errors == []


# (fixture, component, flag or config key, effective value, where it comes from)
EFFECTIVE = [
    # kubespray: KUBELET_ARGS in kubelet.env names --config; readOnlyPort set in that file.
    ("kubespray", "kubelet", "config", "/etc/kubernetes/kubelet-config.yaml", "/etc/kubernetes/kubelet.env:6"),
    ("kubespray", "kubelet", "readOnlyPort", 10255, "/etc/kubernetes/kubelet-config.yaml:21"),
    # kubespray etcd: no flags at all, every setting an ETCD_* variable of /etc/etcd.env.
    ("kubespray", "etcd", "peer-client-cert-auth", "False", "/etc/etcd.env:29"),
    ("kubespray", "etcd", "client-cert-auth", "true", "/etc/etcd.env:24"),
    # k3s: a config.yaml.d drop-in's kube-apiserver-arg+ entry replaces k3s' default Node,RBAC.
    ("k3s", "kube-apiserver", "authorization-mode", "AlwaysAllow", "/etc/rancher/k3s/config.yaml.d/50-legacy-monitoring.yaml:3"),
    ("k3s", "kube-apiserver", "anonymous-auth", "false", "k3s default"),
    ("k3s", "kubelet", "read-only-port", "10255", "/etc/rancher/k3s/config.yaml:10"),
    ("k3s", "etcd", "peer-client-cert-auth", "true", "/var/lib/rancher/k3s/server/db/etcd/config:19"),
    ("rke2", "etcd", "client-cert-auth", "true", "/var/lib/rancher/rke2/server/db/etcd/config:4"),
    ("rke2", "kube-proxy", "healthz-bind-address", "127.0.0.1",
     "/var/lib/rancher/rke2/agent/pod-manifests/kube-proxy.yaml:18"),
    ("k3s", "kubelet", "authentication.anonymous.enabled", False,
     "/var/lib/rancher/k3s/agent/etc/kubelet.conf.d/00-k3s-defaults.conf:4"),
    # RKE2: the user's entry wins over the generated manifest (which is only what runs now).
    ("rke2", "kube-apiserver", "anonymous-auth", "true", "/etc/rancher/rke2/config.yaml:4"),
    ("rke2", "kube-apiserver", "authorization-mode", "Node,RBAC", "/var/lib/rancher/rke2/agent/pod-manifests/kube-apiserver.yaml:26"),
    ("rke2", "kubelet", "anonymous-auth", "true", "/etc/rancher/rke2/config.yaml:5"),
    # microk8s: one flag per line, ${SNAP_DATA} expanded.
    ("microk8s", "kube-apiserver", "authorization-mode", "AlwaysAllow", "/var/snap/microk8s/current/args/kube-apiserver:3"),
    ("microk8s", "kube-apiserver", "client-ca-file", "/var/snap/microk8s/current/certs/ca.crt",
     "/var/snap/microk8s/current/args/kube-apiserver:5"),
    # EKS AL2: the flag in bootstrap.sh's KUBELET_EXTRA_ARGS drop-in beats readOnlyPort: 0 in the JSON file.
    ("eks-al2", "kubelet", "read-only-port", "10255", "/etc/systemd/system/kubelet.service.d/30-kubelet-extra-args.conf:2"),
    ("eks-al2", "kubelet", "readOnlyPort", 0, "/etc/kubernetes/kubelet/kubelet-config.json"),
    # EKS AL2023: the config-dir drop-in from the NodeConfig overrides config.json.
    ("eks-al2023", "kubelet", "readOnlyPort", 10255, "/etc/kubernetes/kubelet/config.json.d/00-nodeadm.conf"),
    ("eks-al2023", "kubelet", "authorization.mode", "Webhook", "/etc/kubernetes/kubelet/config.json"),
]


@pytest.mark.parametrize("fixture, component, setting, value, source", EFFECTIVE)
def test_effective_setting_and_source(fixture, component, setting, value, source):
    comp = node_of(os.path.join(FIXTURES, fixture)).components[component]
    if "." in setting or any(c.isupper() for c in setting):  # a config key, not a flag
        found, actual, where = comp.config_value(setting)
        assert found and actual == value and where == source
        return
    assert comp.disk_flags.value(setting) == value
    src = comp.disk_flags.sources(setting)[-1]
    assert ("%s:%s" % (src["path"], src["line"]) if src.get("line") else src["path"]) == source


def test_k3s_get_args_replace_append_prepend_and_repeat():
    defaults = {"authorization-mode": ("Node,RBAC", {"path": "k3s default"}), "profiling": ("false", {"path": "k3s default"})}
    items = [ArgItem("kube-apiserver-arg", v, "/c.yaml", n, n) for n, v in enumerate(
        ["authorization-mode+=Webhook", "profiling=true", "profiling=false", "--anonymous-auth"])]
    words, sources = get_args(defaults, items)
    assert words == ["--anonymous-auth=true", "--authorization-mode=Node,RBAC", "--authorization-mode=Webhook",
                     "--profiling=true", "--profiling=false"]
    assert sources[1] == {"path": "k3s default"} and sources[2]["line"] == 0


@pytest.mark.parametrize("version, port", [
    (None, "0"), ("v1.31.9+k3s1", "0"), ("1.32.0", None), ("v1.32.3+k3s1", None), ("v1.32.4+k3s1", "0"), ("1.33.1", "0"),
])
def test_k3s_read_only_port_by_release(tmp_path, version, port):
    """k3s 1.32.0-1.32.3 started the kubelet with --config-dir only: the flag default 10255 applied."""
    write(tmp_path, "/etc/rancher/k3s/config.yaml", "write-kubeconfig-mode: '0600'\n")
    node = node_of(str(tmp_path))
    comp = node.components["kubelet"]
    comp.arg_items = []
    _dist_rancher.rancher_kubelet(comp, node.files, _dist_rancher.K3S_DIST, version)
    assert comp.disk_flags.value("read-only-port") == port
    assert comp.mode == "flags" and comp.config_value("authentication.anonymous.enabled")[1] is False


def test_config_yaml_d_replaces_unless_plus(tmp_path):
    write(tmp_path, "/etc/rancher/k3s/config.yaml", "kubelet-arg:\n  - read-only-port=10255\n  - max-pods=10\n")
    write(tmp_path, "/etc/rancher/k3s/config.yaml.d/10-a.yaml", "kubelet-arg: [anonymous-auth=true]\n")
    write(tmp_path, "/etc/rancher/k3s/config.yaml.d/20-b.yaml", "kubelet-arg+: authorization-mode=AlwaysAllow\n")
    comp = node_of(str(tmp_path)).components["kubelet"]
    assert [i.value for i in comp.arg_items] == ["anonymous-auth=true", "authorization-mode=AlwaysAllow"]
    assert comp.disk_flags.value("read-only-port") == "0"  # the 10255 entry was replaced by 10-a.yaml


def test_etcd_env_counts_unless_the_flag_is_set(tmp_path):
    write(tmp_path, "/etc/systemd/system/etcd.service",
          "[Service]\nEnvironmentFile=/etc/etcd.env\nEnvironment=ETCD_AUTO_TLS=true\nExecStart=/usr/local/bin/etcd --client-cert-auth=true\n")
    write(tmp_path, "/etc/etcd.env", "ETCD_CLIENT_CERT_AUTH=false\nETCD_PEER_AUTO_TLS=true\nETCD_NAME=\n")
    node = node_of(str(tmp_path))
    etcd = node.components["etcd"]
    assert etcd.disk_flags.value("client-cert-auth") == "true"  # the flag; etcd would refuse to start
    assert etcd.disk_flags.value("peer-auto-tls") == "true"
    assert etcd.disk_flags.sources("auto-tls") == [{"path": "/etc/systemd/system/etcd.service", "line": 3, "env": "ETCD_AUTO_TLS"}]
    assert not etcd.disk_flags.has("name")  # an empty variable is ignored by etcd
    assert any("ETCD_CLIENT_CERT_AUTH" in e and "etcd exits at start" in e for e in node.errors)


def test_etcd_env_in_a_static_pod(tmp_path):
    manifest = open(os.path.join(REPO, "demo/nodes/cp1/etc/kubernetes/manifests/etcd.yaml")).read()
    manifest = manifest.replace("    - --client-cert-auth=true\n", "").replace(
        "    image:", "    env:\n    - name: ETCD_CLIENT_CERT_AUTH\n      value: \"false\"\n    image:", 1)
    write(tmp_path, "/etc/kubernetes/manifests/etcd.yaml", manifest)
    etcd = node_of(str(tmp_path)).components["etcd"]
    assert etcd.disk_flags.value("client-cert-auth") == "false"
    assert etcd.env_value("client-cert-auth")["var"] == "ETCD_CLIENT_CERT_AUTH"


def test_kube_proxy_config_file_wins_over_flags(tmp_path):
    write(tmp_path, "/etc/systemd/system/kube-proxy.service",
          "[Service]\nExecStart=/usr/local/bin/kube-proxy --config=/etc/kubernetes/kube-proxy.yaml --metrics-bind-address=127.0.0.1:10249\n")
    write(tmp_path, "/etc/kubernetes/kube-proxy.yaml",
          "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmetricsBindAddress: 0.0.0.0:10249\n")
    r = FIRST_REQUEST
    snap = snapshot(str(tmp_path), r["read"] + ["/etc/kubernetes/kube-proxy.yaml"], r["stat"], r["list"], r["units"], r["processes"])
    proxy = build_node(snap).components["kube-proxy"]
    assert not proxy.disk_flags.has("metrics-bind-address") and proxy.ignored_flags == ["metrics-bind-address"]
    assert proxy.config_value("metricsBindAddress")[1] == "0.0.0.0:10249"


def test_kube_proxy_daemonset_is_cluster_side():
    proxy = node_of(os.path.join(REPO, "demo", "nodes", "worker1")).components["kube-proxy"]
    assert not proxy.present and "ConfigMap" in proxy.cluster_side


def test_microk8s_args_file_words():
    words, sources = parse_args_file('--a=${SNAP_DATA}/x\n# comment\n--b="x<1,y<2"  # tail\n\n--c d\n', "/f")
    assert words == ["--a=/var/snap/microk8s/current/x", "--b=x<1,y<2", "--c", "d"]
    assert [s["line"] for s in sources] == [1, 3, 5, 5]


def test_k3s_agent_runs_only_the_kubelet_and_kube_proxy(tmp_path):
    write(tmp_path, "/etc/systemd/system/k3s-agent.service",
          "[Service]\nExecStart=/usr/local/bin/k3s \\\n    agent \\\n    '--kubelet-arg' \\\n    'read-only-port=10255' \\\n\n")
    write(tmp_path, "/etc/rancher/k3s/config.yaml", "server: https://10.0.0.21:6443\ntoken: x\n")
    node = node_of(str(tmp_path))
    assert node.layout == "k3s"
    assert {n for n, c in node.components.items() if c.present} == {"kubelet", "kube-proxy"}
    kubelet = node.components["kubelet"]
    assert kubelet.service == "k3s-agent"
    assert kubelet.disk_flags.value("read-only-port") == "10255"  # the command line entry replaces k3s' 0
    assert kubelet.arg_items[-1].origin == "command-line"


def test_running_etcd_environment_is_read_from_proc(tmp_path):
    from ansible_collections.kubefort.hardening.plugins.module_utils._node_snapshot import scan_processes

    proc = tmp_path / "proc" / "4242"
    proc.mkdir(parents=True)
    (proc / "cmdline").write_bytes(b"/usr/local/bin/etcd\0--name=etcd1\0")
    (proc / "stat").write_text("4242 (etcd) S 1 4242 4242 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 777 0 0\n")
    (proc / "environ").write_bytes(b"PATH=/usr/bin\0ETCD_CLIENT_CERT_AUTH=true\0ETCD_PEER_AUTO_TLS=false\0HOME=/root\0")
    found = scan_processes(["etcd"], proc=str(tmp_path / "proc"))
    assert found["etcd"][0]["env"] == {"ETCD_CLIENT_CERT_AUTH": "true", "ETCD_PEER_AUTO_TLS": "false"}
    assert found["etcd"][0]["start_ticks"] == 777
