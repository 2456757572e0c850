"""Bad input gives a clear message in the result or a task failure: no traceback, no partial write."""

from __future__ import annotations

import os

import pytest

from ansible_collections.kubefort.hardening.plugins.modules import node_facts, node_files
from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options
from ansible_collections.kubefort.hardening.plugins.plugin_utils._harden import HardenError, run, select_rules
from kubefort_testlib import call_module_factory, demo_node, run_module, tree_hashes

CONTROL_PLANE = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"]
RULES = ["1.2.6", "1.2.7", "1.2.8", "1.1.1", "4.2.1", "4.2.2", "4.2.4", "4.1.9"]


def audit(root, components, check=True):
    rules = select_rules(components, RULES, [])
    return run(call_module_factory(check=check), root, rules, Options(), check, "/var/lib/kubefort/backups", False)


def results(outcome):
    return {r["id"]: r for r in outcome["results"]}


def write(root, path, text):
    with open(os.path.join(root, path.lstrip("/")), "w") as handle:
        handle.write(text)


@pytest.mark.parametrize("check", [True, False])
def test_malformed_manifest_is_an_error_result_and_nothing_is_written(tmp_path, check):
    root = demo_node(tmp_path, "cp1")
    write(root, "/etc/kubernetes/manifests/kube-apiserver.yaml", "apiVersion: v1\nkind: Pod\nspec:\n  containers: [\n")
    before = tree_hashes(root)
    outcome = audit(root, CONTROL_PLANE, check=check)
    result = results(outcome)["apiserver-authorization-mode-not-alwaysallow"]
    assert result["status"] == "error"
    assert "/etc/kubernetes/manifests/kube-apiserver.yaml is not valid YAML at line" in result["message"]
    assert "Fix the manifest" in result["message"]
    assert tree_hashes(root) == before


def test_manifest_that_is_not_a_pod(tmp_path):
    root = demo_node(tmp_path, "cp2")
    write(root, "/etc/kubernetes/manifests/kube-apiserver.yaml", "apiVersion: apps/v1\nkind: Deployment\n")
    result = results(audit(root, CONTROL_PLANE))["apiserver-authorization-mode-rbac"]
    assert result["status"] == "error" and "is not a Pod manifest (kind: 'Deployment')" in result["message"]


@pytest.mark.parametrize("check", [True, False])
def test_malformed_kubelet_config(tmp_path, check):
    root = demo_node(tmp_path, "cp1")
    write(root, "/var/lib/kubelet/config.yaml", "authentication:\n  anonymous: {enabled: true\n")
    before = tree_hashes(root)
    outcome = audit(root, ["kubelet"], check=check)
    for rule_id in ("kubelet-anonymous-auth", "kubelet-read-only-port", "kubelet-config-permissions"):
        result = results(outcome)[rule_id]
        assert result["status"] == "error", rule_id
        assert "the kubelet's config file /var/lib/kubelet/config.yaml cannot be parsed" in result["message"]
    assert tree_hashes(root) == before


def test_missing_kubelet_config_file(tmp_path):
    root = demo_node(tmp_path, "worker3")
    os.unlink(os.path.join(root, "var/lib/kubelet/config.yaml"))
    result = results(audit(root, ["kubelet"]))["kubelet-read-only-port"]
    assert result["status"] == "error"
    assert "the kubelet's config file /var/lib/kubelet/config.yaml does not exist" in result["message"]


def test_component_absent_is_not_applicable(tmp_path):
    root = demo_node(tmp_path, "worker3")
    outcome = audit(root, CONTROL_PLANE)
    assert {r["status"] for r in outcome["results"]} == {"not_applicable"}
    assert "kube-apiserver does not run on this node" in results(outcome)["apiserver-authorization-mode-rbac"]["message"]


def test_root_that_does_not_exist_fails_the_task_with_advice(tmp_path):
    with pytest.raises(HardenError, match="is not a directory on this host. Set kubefort_root"):
        audit(str(tmp_path / "nowhere"), ["kubelet"])


def test_wrong_module_option_is_a_task_failure():
    out = run_module(node_facts, {"raed": ["/etc/hosts"]})
    assert out["failed"] and "Unsupported parameters" in out["msg"] and "raed" in out["msg"]


def test_file_changed_since_read_writes_nothing(tmp_path):
    root = demo_node(tmp_path, "worker3")
    path = os.path.join(root, "var/lib/kubelet/config.yaml")
    other = os.path.join(root, "var/lib/kubelet/kubeadm-flags.env")
    before = tree_hashes(root)
    out = run_module(node_files, {"root": root, "files": [
        {"path": "/var/lib/kubelet/kubeadm-flags.env", "content": "X=1\n", "expected_sha256": "absent"},
        {"path": "/var/lib/kubelet/config.yaml", "content": "x: 1\n", "expected_sha256": "0" * 64},
    ]})
    assert out["failed"]
    assert "changed since it was read" in out["msg"] and "nothing was written" in out["msg"]
    assert tree_hashes(root) == before
    assert os.path.exists(path) and os.path.exists(other)


def test_failed_write_restores_files_already_written(tmp_path):
    from ansible_collections.kubefort.hardening.plugins.module_utils._nodefs import sha256_text

    root = demo_node(tmp_path, "worker3")
    with open(os.path.join(root, "var/lib/kubelet/kubeadm-flags.env")) as handle:
        flags_text = handle.read()
    before = tree_hashes(root)
    # The first file is written, the second cannot be (a directory stands where the file goes):
    # the first must be put back.
    out = run_module(node_files, {"root": root, "backup_dir": "/backups", "files": [
        {"path": "/var/lib/kubelet/kubeadm-flags.env", "content": "X=1\n", "expected_sha256": sha256_text(flags_text)},
        {"path": "/etc/kubernetes/manifests", "content": "x: 1\n", "expected_sha256": "absent"},
    ]})
    assert out["failed"] and "every file written before was restored" in out["msg"]
    assert "/etc/kubernetes/manifests is a directory" in out["msg"]
    now = tree_hashes(root)
    assert {k: v for k, v in now.items() if not k.startswith("backups")} == before
    assert not [n for n in os.listdir(os.path.join(root, "etc/kubernetes")) if n.startswith(".kubefort-")]


def test_restore_puts_files_back_byte_for_byte(tmp_path):
    root = demo_node(tmp_path, "cp1")
    before = tree_hashes(root)
    outcome = audit(root, CONTROL_PLANE + ["kubelet"], check=False)
    assert outcome["changed"]
    out = run_module(node_files, {"root": root, "state": "restore", "backups": outcome["backups"]})
    assert out["changed"] and sorted(out["restored"]) == sorted(b["path"] for b in outcome["backups"])
    after = tree_hashes(root)
    assert {k: v for k, v in after.items() if not k.startswith("var/lib/kubefort")} == before
