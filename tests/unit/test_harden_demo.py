"""The headline rules, end to end on the bundled demo nodes: check, apply, check, apply.

Modules run in-process (no Ansible), with the same calls the action plugin makes.
"""

from __future__ import annotations

import os

import pytest

from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options
from ansible_collections.kubefort.hardening.plugins.plugin_utils._harden import HardenError, run, select_rules
from kubefort_testlib import ROOT_OWNED, call_module_factory, demo_node, tree_hashes

FOUNDATION = [
    "apiserver-manifest-permissions", "apiserver-manifest-ownership", "apiserver-anonymous-auth",
    "apiserver-authorization-mode-not-alwaysallow", "apiserver-authorization-mode-node", "apiserver-authorization-mode-rbac",
    "kubelet-config-permissions", "kubelet-config-ownership", "kubelet-anonymous-auth", "kubelet-authorization-mode",
    "kubelet-read-only-port",
]
CONTROL_PLANE = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"]


def audit(root, components, check=True, calls=None, **options):
    rules = select_rules(components, FOUNDATION, [])
    backup_dir = "/var/lib/kubefort/backups"
    return run(call_module_factory(check=check, calls=calls), root, rules, Options(**options), check, backup_dir, True)


def statuses(outcome):
    return {r["id"]: r["status"] for r in outcome["results"]}


def by_id(outcome, rule_id):
    return next(r for r in outcome["results"] if r["id"] == rule_id)


@pytest.mark.parametrize(
    ("node", "components", "expected"),
    [
        pytest.param("cp1", CONTROL_PLANE, {
            "apiserver-manifest-permissions": "would_fix", "apiserver-manifest-ownership": "pass",
            "apiserver-anonymous-auth": "manual",  # 1.28: --anonymous-auth=false would break the probes
            "apiserver-authorization-mode-not-alwaysallow": "would_fix", "apiserver-authorization-mode-node": "would_fix",
            "apiserver-authorization-mode-rbac": "would_fix"}, marks=ROOT_OWNED),
        pytest.param("cp2", CONTROL_PLANE, {
            "apiserver-manifest-permissions": "pass", "apiserver-manifest-ownership": "pass", "apiserver-anonymous-auth": "manual",
            "apiserver-authorization-mode-not-alwaysallow": "pass", "apiserver-authorization-mode-node": "pass",
            "apiserver-authorization-mode-rbac": "pass"}, marks=ROOT_OWNED),
        # 1.33 with --authorization-mode given twice: AlwaysAllow still applies.
        ("cp3", CONTROL_PLANE, {
            "apiserver-anonymous-auth": "would_fix", "apiserver-authorization-mode-not-alwaysallow": "would_fix",
            "apiserver-authorization-mode-node": "pass", "apiserver-authorization-mode-rbac": "pass"}),
        pytest.param("cp1", ["kubelet"], {
            "kubelet-config-permissions": "would_fix", "kubelet-config-ownership": "pass", "kubelet-anonymous-auth": "would_fix",
            "kubelet-authorization-mode": "would_fix", "kubelet-read-only-port": "would_fix"}, marks=ROOT_OWNED),
        # Flags in /etc/default/kubelet override a good config file.
        ("worker1", ["kubelet"], {
            "kubelet-anonymous-auth": "would_fix", "kubelet-authorization-mode": "pass", "kubelet-read-only-port": "would_fix"}),
        # No config file: the kubelet's old flag defaults apply.
        ("worker2", ["kubelet"], {
            "kubelet-config-permissions": "not_applicable", "kubelet-anonymous-auth": "would_fix",
            "kubelet-authorization-mode": "would_fix", "kubelet-read-only-port": "would_fix"}),
        ("worker3", ["kubelet"], {
            "kubelet-anonymous-auth": "pass", "kubelet-authorization-mode": "pass", "kubelet-read-only-port": "pass"}),
        # A worker has no control plane: its rules do not apply.
        ("worker3", CONTROL_PLANE, {"apiserver-authorization-mode-rbac": "not_applicable"}),
    ],
)
def test_check_mode_findings(tmp_path, node, components, expected):
    root = demo_node(tmp_path, node)
    before = tree_hashes(root)
    outcome = audit(root, components)
    got = statuses(outcome)
    assert {k: got[k] for k in expected} == expected
    assert tree_hashes(root) == before, "check mode changed a file"
    assert outcome["changed"] == any(s == "would_fix" for s in got.values())


def test_values_and_sources_are_reported(tmp_path):
    cp3 = audit(demo_node(tmp_path, "cp3"), CONTROL_PLANE)
    result = by_id(cp3, "apiserver-authorization-mode-not-alwaysallow")
    assert result["actual"] == "AlwaysAllow,Node,RBAC"
    assert result["cis"] == "1.2.6"
    assert result["source"].startswith("--authorization-mode at /etc/kubernetes/manifests/kube-apiserver.yaml:18, ")
    worker2 = audit(demo_node(tmp_path, "worker2"), ["kubelet"])
    port = by_id(worker2, "kubelet-read-only-port")
    assert port["actual"] == "10255" and port["source"].startswith("default (kubelet")
    worker1 = audit(demo_node(tmp_path, "worker1"), ["kubelet"])
    assert by_id(worker1, "kubelet-read-only-port")["source"] == "--read-only-port at /etc/default/kubelet:1"
    cp1 = audit(demo_node(tmp_path, "cp1"), ["kubelet"])
    assert by_id(cp1, "kubelet-read-only-port")["source"] == "/var/lib/kubelet/config.yaml:38"


@ROOT_OWNED
@pytest.mark.parametrize(("node", "components"), [
    ("cp1", CONTROL_PLANE), ("cp1", ["kubelet"]), ("cp3", CONTROL_PLANE), ("worker1", ["kubelet"]), ("worker2", ["kubelet"]),
])
def test_apply_then_check_passes_and_second_apply_changes_nothing(tmp_path, node, components):
    root = demo_node(tmp_path, node)
    calls = []
    first = audit(root, components, check=False, calls=calls)
    assert first["changed"] and not first["failed"]
    assert calls == ["kubefort.hardening.node_facts", "kubefort.hardening.node_files"]
    assert "would_fix" not in statuses(first).values()
    fixed = [r for r in first["results"] if r["status"] == "fixed"]
    assert fixed and all(r["changed_files"] for r in fixed)
    after = audit(root, components)
    assert not after["changed"]
    assert set(statuses(after).values()) <= {"pass", "manual", "not_applicable"}
    hashes = tree_hashes(root)
    again = audit(root, components, check=False)
    assert not again["changed"] and tree_hashes(root) == hashes


@ROOT_OWNED
def test_fix_keeps_comments_and_unrelated_bytes(tmp_path):
    root = demo_node(tmp_path, "cp1")
    path = os.path.join(root, "var/lib/kubelet/config.yaml")
    with open(path) as handle:
        before = handle.read().splitlines()
    audit(root, ["kubelet"], check=False)
    with open(path) as handle:
        after = handle.read().splitlines()
    changed = [(a, b) for a, b in zip(before, after) if a != b]
    assert len(before) == len(after)
    assert changed == [("    enabled: true", "    enabled: false"), ("  mode: AlwaysAllow", "  mode: Webhook"),
                       ("readOnlyPort: 10255", "readOnlyPort: 0")]
    assert "# Left open for the legacy metrics scraper (ticket OPS-1432)." in after
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"


@ROOT_OWNED
def test_backups_are_outside_the_manifest_directory(tmp_path):
    root = demo_node(tmp_path, "cp1")
    manifests = os.path.join(root, "etc/kubernetes/manifests")
    names_before = sorted(os.listdir(manifests))
    with open(os.path.join(manifests, "kube-apiserver.yaml")) as handle:
        original = handle.read()
    outcome = audit(root, CONTROL_PLANE, check=False)
    assert sorted(os.listdir(manifests)) == names_before
    backup = next(b for b in outcome["backups"] if b["path"].endswith("kube-apiserver.yaml"))["backup"]
    assert backup.startswith("/var/lib/kubefort/backups/") and "/manifests" not in os.path.dirname(backup).split("backups")[0]
    with open(os.path.join(root, backup.lstrip("/"))) as handle:
        assert handle.read() == original


@ROOT_OWNED
def test_apiserver_1_33_gets_an_authentication_configuration(tmp_path):
    root = demo_node(tmp_path, "cp3")
    audit(root, CONTROL_PLANE, check=False)
    with open(os.path.join(root, "etc/kubernetes/kubefort/authentication-config.yaml")) as handle:
        config = handle.read()
    assert "apiVersion: apiserver.config.k8s.io/v1beta1" in config and "- path: /livez" in config
    with open(os.path.join(root, "etc/kubernetes/manifests/kube-apiserver.yaml")) as handle:
        manifest = handle.read()
    assert "--authentication-config=/etc/kubernetes/kubefort/authentication-config.yaml" in manifest
    assert "--anonymous-auth" not in manifest
    assert "mountPath: /etc/kubernetes/kubefort" in manifest and "path: /etc/kubernetes/kubefort" in manifest
    assert manifest.count("--authorization-mode=") == 1 and "--authorization-mode=Node,RBAC" in manifest


def test_forced_anonymous_off_on_old_versions(tmp_path):
    root = demo_node(tmp_path, "cp2")
    outcome = audit(root, CONTROL_PLANE, check=True, apiserver_anonymous_force=True)
    assert by_id(outcome, "apiserver-anonymous-auth")["status"] == "would_fix"
    assert "+    - --anonymous-auth=false" in "".join(
        line + "\n" for d in outcome["diff"] for line in __import__("difflib").unified_diff(d["before"].splitlines(), d["after"].splitlines(), lineterm=""))


def test_waivers_skip_the_fix_until_they_expire(tmp_path):
    import datetime

    root = demo_node(tmp_path, "worker1")
    waiver = {"id": "4.2.4", "reason": "scraper migration", "expires": "2027-01-31"}
    outcome = audit(root, ["kubelet"], waivers=[waiver], today=datetime.date(2026, 12, 1))
    result = by_id(outcome, "kubelet-read-only-port")
    assert result["status"] == "waived" and result["waiver"]["reason"] == "scraper migration"
    expired = audit(root, ["kubelet"], waivers=[waiver], today=datetime.date(2027, 2, 1))
    result = by_id(expired, "kubelet-read-only-port")
    assert result["status"] == "would_fix" and "waiver expired on 2027-01-31" in result["message"]


def test_overrides_change_the_expected_value(tmp_path):
    root = demo_node(tmp_path, "worker1")
    outcome = audit(root, ["kubelet"], overrides={"kubelet-read-only-port": 10255})
    assert by_id(outcome, "kubelet-read-only-port")["status"] == "pass"


def test_unknown_rule_id_is_a_clear_error():
    with pytest.raises(HardenError, match=r"unknown rule ID\(s\): 9\.9\.9, no-such-rule\. Use an ID from docs/rules\.md"):
        select_rules(["kubelet"], ["no-such-rule", "9.9.9"], [])
