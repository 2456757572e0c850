"""Fixes land in each distribution's own source of truth: exact new text, then a second run changes nothing."""

from __future__ import annotations

import os
import shutil

import pytest

from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options
from ansible_collections.kubefort.hardening.plugins.plugin_utils._harden import run, select_rules
from kubefort_testlib import REPO, _demo_nodes_script, call_module_factory, tree_hashes

FIXTURES = os.path.join(REPO, "tests", "fixtures", "nodes")
RULES = ["4.2.1", "4.2.2", "4.2.4", "1.2.6", "1.2.7", "1.2.8"]
COMPONENTS = ["kubelet", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kube-proxy"]

# fixture -> {changed node file: (old line, new line)}, the units the restart plan restarts
EXPECTED = {
    "kubespray": ({"/etc/kubernetes/kubelet-config.yaml": ("readOnlyPort: 10255\n", "readOnlyPort: 0\n")}, ["kubelet.service"]),
    "k3s": ({
        "/etc/rancher/k3s/config.yaml": ('  - "read-only-port=10255"\n', '  - "read-only-port=0"\n'),
        "/etc/rancher/k3s/config.yaml.d/50-legacy-monitoring.yaml": (
            '  - "authorization-mode=AlwaysAllow"\n', '  - "authorization-mode=Node,RBAC"\n'),
    }, ["k3s.service"]),
    "rke2": ({"/etc/rancher/rke2/config.yaml": ('kubelet-arg: "anonymous-auth=true"\n', 'kubelet-arg: ["anonymous-auth=false"]\n')},
             ["rke2-server.service"]),
    "microk8s": ({
        "/var/snap/microk8s/current/args/kube-apiserver": ("--authorization-mode=AlwaysAllow\n", "--authorization-mode=Node,RBAC\n"),
        "/var/snap/microk8s/current/args/kubelet": ("--read-only-port=0\n", "--read-only-port=0\n--authorization-mode=Webhook\n"),
    }, ["snap.microk8s.daemon-kubelite.service"]),
    # AL2: bootstrap.sh wrote the flag into a unit drop-in once; the flag is changed on its line.
    "eks-al2": ({"/etc/systemd/system/kubelet.service.d/30-kubelet-extra-args.conf": (
        "--read-only-port=10255'\n", "--read-only-port=0'\n")}, ["kubelet.service"]),
    # AL2023: nodeadm rewrites config.json and 00-nodeadm.conf at every boot: a drop-in of our own.
    "eks-al2023": ({"/etc/kubernetes/kubelet/config.json.d/90-kubefort.conf": (
        None, '{\n  "apiVersion": "kubelet.config.k8s.io/v1beta1",\n  "kind": "KubeletConfiguration",\n  "readOnlyPort": 0\n}\n')}, ["kubelet.service"]),
}


def fixture_copy(tmp_path, name):
    root = os.path.join(str(tmp_path), name)
    shutil.copytree(os.path.join(FIXTURES, name), root, symlinks=True)
    _demo_nodes_script().apply_modes(root)
    return root


def harden(root, check):
    rules = select_rules(COMPONENTS, RULES, [])
    return run(call_module_factory(check=check), root, rules, Options(), check, "/var/lib/kubefort/backups", True)


def read(root, path):
    full = os.path.join(root, path.lstrip("/"))
    return open(full).read() if os.path.exists(full) else None


@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_fix_writes_the_source_of_truth_once(tmp_path, fixture):
    root = fixture_copy(tmp_path, fixture)
    changes, services = EXPECTED[fixture]
    before = {path: read(root, path) for path in changes}
    hashes = tree_hashes(root)

    audit = harden(root, check=True)
    assert tree_hashes(root) == hashes  # check mode writes nothing
    assert audit["round_trips"] == 1
    predicted = {d["after_header"]: d["after"] for d in audit["diff"]}

    applied = harden(root, check=False)
    assert [s["unit"] for s in applied["restart"] if s["kind"] == "unit"] == services
    for path, (old, new) in changes.items():
        after = read(root, path)
        expected = new if old is None else before[path].replace(old, new, 1)
        assert old is None or old in before[path]
        assert after == expected, path
        assert predicted[path] == after  # check mode predicted exactly this text
    generated = [p for p in applied["diff"] if "pod-manifests" in p["after_header"] or "-defaults.conf" in p["after_header"]]
    assert generated == []  # never the files the distribution regenerates

    again = harden(root, check=False)
    assert not again["changed"] and again["diff"] == []
    # AL2023 (version unknown here) runs --config-dir without KUBELET_CONFIG_DROPIN_DIR_ALPHA, which 1.28 and
    # 1.29 refuse: its drop-ins merge as on 1.30+, where kubefort's own drop-in's readOnlyPort 0 wins.
    assert {r["status"] for r in again["results"]} <= {"pass", "not_applicable"}


def test_unknown_version_zero_in_a_losing_dropin_is_not_called_fixed(tmp_path):
    """Version unknown and the 1.28/1.29 variable set: a zero kubefort could only put in a drop-in of its own
    (nodeadm rewrites config.json and 00-nodeadm.conf) would not win on 1.28, so no fix is claimed."""
    root = str(tmp_path / "node")
    shutil.copytree(os.path.join(FIXTURES, "eks-al2023"), root, symlinks=True)
    env = os.path.join(root, "etc/eks/kubelet/environment")
    with open(env, "a") as handle:
        handle.write("KUBELET_CONFIG_DROPIN_DIR_ALPHA=on\n")
    before = {p: read(root, p) for p in ("etc/kubernetes/kubelet/config.json", "etc/kubernetes/kubelet/config.json.d/00-nodeadm.conf")}
    for check in (True, False):
        result = harden(root, check=check)
        port = next(r for r in result["results"] if r["id"] == "kubelet-read-only-port")
        assert port["status"] == "error", port
        assert "version is unknown" in port["message"] and "rewritten by eks" in port["message"], port["message"]
        assert "kubelet/config.json.d/90-kubefort.conf" not in port["changed_files"]
    assert {p: read(root, p) for p in before} == before


# --- the edit primitives -------------------------------------------------------------------------------

from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Rule  # noqa: E402
from ansible_collections.kubefort.hardening.plugins.module_utils._node_snapshot import snapshot  # noqa: E402
from ansible_collections.kubefort.hardening.plugins.plugin_utils._discovery import FIRST_REQUEST, build_node  # noqa: E402
from ansible_collections.kubefort.hardening.plugins.plugin_utils._dist_kubeadm import set_env_line  # noqa: E402
from ansible_collections.kubefort.hardening.plugins.plugin_utils._rancher_args import set_list_entries  # noqa: E402
from ansible_collections.kubefort.hardening.plugins.plugin_utils._edits import Planner  # noqa: E402
from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import evaluate  # noqa: E402


@pytest.mark.parametrize("text, replace, remove, append, expected", [
    # a block list keeps its quoting, comments and the other entries
    ('kubelet-arg:\n  - "a=1"  # why\n  - b=2\nx: 1\n', {0: "a=0"}, set(), [], 'kubelet-arg:\n  - "a=0"  # why\n  - b=2\nx: 1\n'),
    ("kubelet-arg:\n- a=1\n- a=2\n", {0: "a=0"}, {1}, [], "kubelet-arg:\n- a=0\n"),
    ("kubelet-arg:\n  - 'b=2'\n", {}, set(), ["a=0"], "kubelet-arg:\n  - 'b=2'\n  - 'a=0'\n"),
    # a missing key is added at the end, a scalar or flow value becomes a flow list
    ("token: x", {}, set(), ["a=0"], "token: x\nkubelet-arg:\n- a=0\n"),
    ("", {}, set(), ["a=0"], "kubelet-arg:\n- a=0\n"),
    ("kubelet-arg: a=1\n", {None: "a=0"}, set(), [], "kubelet-arg: [a=0]\n"),
    ('kubelet-arg: ["b=2"]  # flow\n', {}, set(), ["a=0"], 'kubelet-arg: ["b=2", "a=0"]  # flow\n'),
])
def test_set_list_entries(text, replace, remove, append, expected):
    assert set_list_entries(text, "kubelet-arg", replace, remove, append, "config.yaml") == expected


@pytest.mark.parametrize("text, line, value, expected", [
    ("ETCD_CLIENT_CERT_AUTH=false\n", 1, "true", "ETCD_CLIENT_CERT_AUTH=true\n"),
    ('A=1\nETCD_X="no"  # keep\n', 2, "yes", 'A=1\nETCD_X="yes"  # keep\n'),
    ("[Service]\nEnvironment=ETCD_X=1 ETCD_Y=2\n", 2, "3", "[Service]\nEnvironment=ETCD_X=3 ETCD_Y=2\n"),
])
def test_set_env_line(text, line, value, expected):
    var = "ETCD_CLIENT_CERT_AUTH" if "CLIENT" in text else "ETCD_X"
    assert set_env_line(text, line, var, value) == expected


PEER_AUTH = Rule(id="test-etcd-peer-client-cert-auth", title="etcd peers must present certificates", component="etcd",
                 section="2 etcd", severity="high", flag="peer-client-cert-auth", operator="eq", expected=True,
                 default={"any": False}, fix="true")


def plan(root):
    r = FIRST_REQUEST
    node = build_node(snapshot(root, r["read"], r["stat"], r["list"], r["units"], r["processes"]))
    findings = evaluate(node, [PEER_AUTH], Options())
    planner = Planner(node)
    planner.plan(findings)
    return node, findings, planner


def test_etcd_env_file_variable_is_fixed_in_place(tmp_path):
    root = fixture_copy(tmp_path, "kubespray")
    node, findings, planner = plan(root)
    assert findings[0].status == "fail" and findings[0].actual == "False"
    assert findings[0].source.endswith("/etc/etcd.env:29")
    edit = planner.edits["/etc/etcd.env"]
    assert edit.after == edit.before.replace("ETCD_PEER_CLIENT_CERT_AUTH=False\n", "ETCD_PEER_CLIENT_CERT_AUTH=true\n")
    assert list(planner.edits) == ["/etc/etcd.env"]  # no flag added to the unit (etcd would refuse to start)


def test_etcd_env_in_a_manifest_is_fixed_in_place(tmp_path):
    root = str(tmp_path)
    manifest = open(os.path.join(REPO, "demo/nodes/cp1/etc/kubernetes/manifests/etcd.yaml")).read()
    manifest = manifest.replace("    image:", "    env:\n    - name: ETCD_PEER_CLIENT_CERT_AUTH\n      value: \"false\"\n    image:", 1)
    manifest = manifest.replace("    - --peer-client-cert-auth=true\n", "")
    path = os.path.join(root, "etc/kubernetes/manifests/etcd.yaml")
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as handle:
        handle.write(manifest)
    _node, findings, planner = plan(root)
    assert findings[0].status == "fail"
    edit = planner.edits["/etc/kubernetes/manifests/etcd.yaml"]
    assert edit.after == manifest.replace('      value: "false"\n', '      value: "true"\n')


def test_k3s_command_line_entry_is_not_edited(tmp_path):
    root = fixture_copy(tmp_path, "k3s")
    unit = os.path.join(root, "etc/systemd/system/k3s.service")
    text = open(unit).read().replace("    server \\\n", "    server \\\n    '--kubelet-arg' \\\n    'anonymous-auth=true' \\\n")
    with open(unit, "w") as handle:
        handle.write(text)
    outcome = harden(root, check=True)
    result = next(r for r in outcome["results"] if r["id"] == "kubelet-anonymous-auth")
    assert result["status"] == "error" and "on the k3s command line" in result["message"]


@pytest.mark.parametrize("running_value, status, restart_only", [("False", "fail", True), ("true", "pass", False)])
def test_running_etcd_reads_its_environment_too(tmp_path, running_value, status, restart_only):
    """A live etcd's settings come from its environment: no false 'restart etcd' from an empty command line."""
    root = fixture_copy(tmp_path, "kubespray")
    env_file = os.path.join(root, "etc/etcd.env")
    with open(env_file) as handle:
        text = handle.read()
    with open(env_file, "w") as handle:
        handle.write(text.replace("ETCD_PEER_CLIENT_CERT_AUTH=False", "ETCD_PEER_CLIENT_CERT_AUTH=true"))
    r = FIRST_REQUEST
    snap = snapshot(root, r["read"], r["stat"], r["list"], r["units"], r["processes"])
    snap["processes"] = {"etcd": [{"pid": 77, "argv": ["/usr/local/bin/etcd"], "start_ticks": 1,
                                   "env": {"ETCD_PEER_CLIENT_CERT_AUTH": running_value}}]}
    etcd = build_node(snap).components["etcd"]
    assert etcd.running_flags.value("peer-client-cert-auth") == running_value
    assert etcd.running_flags.sources("peer-client-cert-auth")[0]["path"] == "/proc/77/environ"
    finding = evaluate(build_node(snap), [PEER_AUTH], Options())[0]
    assert finding.status == status and finding.restart_only is restart_only


def test_k3s_without_config_yaml_gets_one(tmp_path):
    root = str(tmp_path)
    os.makedirs(os.path.join(root, "etc/systemd/system"))
    with open(os.path.join(root, "etc/systemd/system/k3s.service"), "w") as handle:
        handle.write("[Service]\nExecStart=/usr/local/bin/k3s server --kube-apiserver-arg=authorization-mode=AlwaysAllow\n")
    outcome = harden(root, check=False)
    statuses = {r["id"]: r for r in outcome["results"]}
    assert statuses["kubelet-read-only-port"]["status"] == "pass"  # k3s' own --read-only-port=0
    # The API server entry is on the command line: reported with where to change it, not edited.
    assert statuses["apiserver-authorization-mode-rbac"]["status"] == "error"
    assert "k3s.service:2" in statuses["apiserver-authorization-mode-rbac"]["message"]
    assert not os.path.exists(os.path.join(root, "etc/rancher/k3s/config.yaml"))


def test_k3s_config_yaml_is_created_when_missing(tmp_path):
    root = str(tmp_path)
    os.makedirs(os.path.join(root, "etc/systemd/system"))
    with open(os.path.join(root, "etc/systemd/system/k3s.service"), "w") as handle:
        handle.write("[Service]\nExecStart=/usr/local/bin/k3s server\n")
    os.makedirs(os.path.join(root, "var/lib/rancher/k3s/agent/etc/kubelet.conf.d"))
    with open(os.path.join(root, "var/lib/rancher/k3s/agent/etc/kubelet.conf.d/50-mine.conf"), "w") as handle:
        handle.write("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nauthorization:\n  mode: AlwaysAllow\n")
    outcome = harden(root, check=False)
    statuses = {r["id"]: r["status"] for r in outcome["results"]}
    # The user's own drop-in is changed where it is ...
    assert open(os.path.join(root, "var/lib/rancher/k3s/agent/etc/kubelet.conf.d/50-mine.conf")).read().endswith("  mode: Webhook\n")
    # ... and a value from k3s' generated defaults (absent here) is set with a kubelet-arg in a new config.yaml.
    assert statuses["kubelet-authorization-mode"] == "fixed"
    assert not os.path.exists(os.path.join(root, "etc/rancher/k3s/config.yaml"))
    assert not harden(root, check=False)["changed"]


def test_k3s_generated_default_is_overridden_in_a_new_config_yaml(tmp_path):
    root = str(tmp_path)
    os.makedirs(os.path.join(root, "etc/systemd/system"))
    with open(os.path.join(root, "etc/systemd/system/k3s.service"), "w") as handle:
        handle.write("[Service]\nExecStart=/usr/local/bin/k3s server\n")
    os.makedirs(os.path.join(root, "var/lib/rancher/k3s/agent/etc/kubelet.conf.d"))
    with open(os.path.join(root, "var/lib/rancher/k3s/agent/etc/kubelet.conf.d/00-k3s-defaults.conf"), "w") as handle:
        handle.write("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nauthorization:\n  mode: AlwaysAllow\n")
    outcome = harden(root, check=False)
    path = os.path.join(root, "etc/rancher/k3s/config.yaml")
    # The generated file on this node sets no anonymous auth: the flag default (on) is overridden too.
    assert open(path).read() == "kubelet-arg:\n- anonymous-auth=false\n- authorization-mode=Webhook\n"
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert {r["id"]: r["status"] for r in outcome["results"]}["kubelet-authorization-mode"] == "fixed"
    assert not harden(root, check=False)["changed"]
