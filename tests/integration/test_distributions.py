"""playbooks/harden.yml on a node tree of every distribution: check -> apply -> check -> apply.

Each fixture (files exactly as kubespray, k3s, RKE2, microk8s and EKS's nodeadm write them) is copied to
a temporary directory and audited offline through kubefort_root. Asserts: check mode writes nothing and
predicts the fixes; apply changes only each distribution's source of truth; the next check is clean and
the last apply changes nothing; the report names each node's layout.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "unit"))

from kubefort_testlib import _demo_nodes_script  # noqa: E402

pytestmark = pytest.mark.integration
BIN = os.path.dirname(sys.executable)
FIXTURES = os.path.join(REPO, "tests", "fixtures", "nodes")
RULES = ["4.2.1", "4.2.2", "4.2.4", "1.2.6", "1.2.7", "1.2.8"]
# host -> (layout, files the apply run must change)
NODES = {
    "kubespray": ("kubespray", {"etc/kubernetes/kubelet-config.yaml"}),
    "k3s": ("k3s", {"etc/rancher/k3s/config.yaml", "etc/rancher/k3s/config.yaml.d/50-legacy-monitoring.yaml"}),
    "rke2": ("rke2", {"etc/rancher/rke2/config.yaml"}),
    "microk8s": ("microk8s", {"var/snap/microk8s/7661/args/kube-apiserver", "var/snap/microk8s/7661/args/kubelet"}),
    "eks-al2": ("eks", {"etc/systemd/system/kubelet.service.d/30-kubelet-extra-args.conf"}),
    "eks-al2023": ("eks", {"etc/kubernetes/kubelet/config.json.d/90-kubefort.conf"}),
}


def hashes(root):
    """sha256 of every file of a node tree, kubefort's backups (inside the tree, offline) left out."""
    found = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            if os.path.islink(path) or os.path.relpath(path, root).startswith("var/lib/kubefort/"):
                continue
            with open(path, "rb") as handle:
                found[os.path.relpath(path, root)] = hashlib.sha256(handle.read()).hexdigest()
    return found


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("distributions"))
    hosts, control_plane = [], []
    for name in NODES:
        root = os.path.join(base, "nodes", name)
        shutil.copytree(os.path.join(FIXTURES, name), root, symlinks=True)
        _demo_nodes_script().apply_modes(root)
        hosts.append("        %s: {kubefort_root: %s}" % (name, root))
        if not name.startswith("eks"):  # EKS nodes are workers: the control plane is AWS's
            control_plane.append(hosts[-1])
    with open(os.path.join(base, "inventory.yml"), "w") as handle:
        handle.write(
            "all:\n  vars:\n    ansible_connection: local\n    ansible_python_interpreter: %s\n"
            "    kubefort_backup_dir: /var/lib/kubefort/backups\n    kubefort_rules: %s\n"
            "  children:\n    kube_control_plane:\n      hosts:\n%s\n    kube_node:\n      hosts:\n%s\n"
            % (sys.executable, json.dumps(RULES), "\n".join(control_plane), "\n".join(hosts)))
    return base


def playbook(project, check, report):
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", ""), ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
               ANSIBLE_NOCOLOR="1")
    args = [os.path.join(BIN, "ansible-playbook"), os.path.join(REPO, "playbooks", "harden.yml"), "-i",
            os.path.join(project, "inventory.yml"), "--diff", "-e", "kubefort_report_dir=%s/" % os.path.join(project, report),
            "-e", '{"kubefort_report_formats": ["json"]}']
    out = subprocess.run(args + (["--check"] if check else []), cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    with open(os.path.join(project, report, "report.json")) as handle:
        data = json.load(handle)
    changed = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", out.stdout, re.M)}
    return data, changed, out.stdout


def statuses(report):
    return {h["name"]: {r["id"]: r["status"] for r in h["results"]} for h in report["hosts"] if h["kind"] == "node"}


def test_check_apply_check_apply(project):
    nodes = os.path.join(project, "nodes")
    before = {name: hashes(os.path.join(nodes, name)) for name in NODES}

    report, changed, stdout = playbook(project, True, "r1")
    assert {name: hashes(os.path.join(nodes, name)) for name in NODES} == before  # check mode writes nothing
    layouts = {h["name"]: h["layout"] for h in report["hosts"] if h["kind"] == "node"}
    assert layouts == {name: layout for name, (layout, _files) in NODES.items()}
    first = statuses(report)
    for name in NODES:
        assert "would_fix" in first[name].values(), name
        assert changed[name] >= 1
    assert "kubelet-arg" in stdout and "--authorization-mode=Node,RBAC" in stdout  # the diff shows the edits

    report, changed, _stdout = playbook(project, False, "r2")
    for name, (_layout, files) in NODES.items():
        now = hashes(os.path.join(nodes, name))
        differ = {p for p in set(now) | set(before[name]) if now.get(p) != before[name].get(p)}
        assert differ == files, name
        assert "fixed" in statuses(report)[name].values()
        assert not [p for p in differ if "pod-manifests" in p or "defaults.conf" in p or "00-nodeadm" in p]
        assert os.listdir(os.path.join(nodes, name, "var/lib/kubefort/backups"))  # backed up before writing

    applied = {name: hashes(os.path.join(nodes, name)) for name in NODES}
    report, changed, _stdout = playbook(project, True, "r3")
    for name in NODES:
        assert set(statuses(report)[name].values()) <= {"pass", "not_applicable"}, statuses(report)[name]
        assert changed[name] == 0

    report, changed, _stdout = playbook(project, False, "r4")
    assert {name: hashes(os.path.join(nodes, name)) for name in NODES} == applied
    assert all(changed[name] == 0 for name in NODES)
