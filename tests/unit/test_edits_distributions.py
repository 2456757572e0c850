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

# fixture -> {changed node file: (old line, new line)}, the services to restart
EXPECTED = {
    "kubespray": ({"/etc/kubernetes/kubelet-config.yaml": ("readOnlyPort: 10255\n", "readOnlyPort: 0\n")}, []),
    "k3s": ({
        "/etc/rancher/k3s/config.yaml": ('  - "read-only-port=10255"\n', "  - read-only-port=0\n"),
        "/etc/rancher/k3s/config.yaml.d/50-legacy-monitoring.yaml": (
            '  - "authorization-mode=AlwaysAllow"\n', "  - authorization-mode=Node,RBAC\n"),
    }, ["k3s"]),
    "rke2": ({"/etc/rancher/rke2/config.yaml": ('kubelet-arg: "anonymous-auth=true"\n', "kubelet-arg: [anonymous-auth=false]\n")},
             ["rke2-server"]),
    "microk8s": ({
        "/var/snap/microk8s/current/args/kube-apiserver": ("--authorization-mode=AlwaysAllow\n", "--authorization-mode=Node,RBAC\n"),
        "/var/snap/microk8s/current/args/kubelet": ("--read-only-port=0\n", "--read-only-port=0\n--authorization-mode=Webhook\n"),
    }, ["snap.microk8s.daemon-kubelite"]),
    "eks-al2023": ({"/etc/kubernetes/kubelet/config.json.d/90-kubefort.conf": (
        None, '{\n  "apiVersion": "kubelet.config.k8s.io/v1beta1",\n  "kind": "KubeletConfiguration",\n  "readOnlyPort": 0\n}\n')}, []),
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
    assert applied["restart"]["services"] == services
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
    assert {r["status"] for r in again["results"]} <= {"pass", "not_applicable"}
