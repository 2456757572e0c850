"""Audit log results say whether audit events are written at all, and the API server's audit and admission
files are written where a host-process API server reads its flags (k3s, microk8s) — never into a manifest a
distribution regenerates (RKE2).

CIS 1.2.16-1.2.19 are scored on the --audit-log-* flags (kube-bench reads only those); whether the API server
writes any event depends on its audit policy, CIS 3.2.1 (apiserver-audit-policy, its own fail). So the audit
log rules keep their status and their message says that nothing is written, and how to change that.
Everything runs through the engine's entry (``_harden.run``) on copies of the bundled installer trees.
"""

from __future__ import annotations

import os
import shutil
import typing as t

import pytest

from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import Node, covers
from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options
from ansible_collections.kubefort.hardening.plugins.plugin_utils._harden import run, select_rules
from kubefort_testlib import REPO, _demo_nodes_script, call_module_factory, tree_hashes

FIXTURES = os.path.join(REPO, "tests", "fixtures", "nodes")
AUDIT_LOG = ["apiserver-audit-log-path", "apiserver-audit-log-maxage", "apiserver-audit-log-maxbackup",
             "apiserver-audit-log-maxsize"]
AUDITING = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Metadata\n"
NOTHING = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: None\n"
ADMISSION = (
    "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n  - name: EventRateLimit\n"
    "    configuration:\n      apiVersion: eventratelimit.admission.k8s.io/v1alpha1\n      kind: Configuration\n"
    "      limits:\n        - type: Server\n          qps: 50\n          burst: 100\n"
)
NONE_WRITTEN = "no audit events are written"


def tree(tmp_path: t.Any, name: str) -> str:
    root = os.path.join(str(tmp_path), name)
    shutil.copytree(os.path.join(FIXTURES, name), root, symlinks=True)
    _demo_nodes_script().apply_modes(root)
    return root


def harden(root: str, check: bool, only: t.Sequence[str] = (), **options: t.Any) -> t.Dict[str, t.Dict[str, t.Any]]:
    rules = select_rules(["kube-apiserver"], list(only), [])
    out = run(call_module_factory(check=check), root, rules, Options(**options), check, "/var/lib/kubefort/backups", False)
    assert not out["failed"], out["msg"]
    return {r["id"]: r for r in out["results"]}


def node_text(root: str, path: str) -> str:
    with open(os.path.join(root, path.lstrip("/")), encoding="utf-8") as handle:
        return handle.read()


# ---- the audit log rules and the audit policy ---------------------------------------------------------


def test_without_a_policy_the_audit_log_results_say_nothing_is_written_and_how_to_fix_it(tmp_path):
    root = tree(tmp_path, "kubeadm-1.34")
    results = harden(root, check=False)
    assert results["apiserver-audit-policy"]["status"] == "fail"
    for rule in AUDIT_LOG:
        message = results[rule]["message"]
        assert results[rule]["status"] == "fixed", results[rule]
        assert NONE_WRITTEN in message and "no --audit-policy-file" in message, message
        assert "kubefort_apiserver_audit_policy" in message and "3.2.1" in message
    again = harden(root, check=True)
    for rule in AUDIT_LOG:
        # CIS scores 1.2.16-1.2.19 on the flags: pass, and the message says the log stays empty.
        assert again[rule]["status"] == "pass" and NONE_WRITTEN in again[rule]["message"], again[rule]


def test_a_supplied_policy_is_written_with_the_audit_log_and_the_note_goes(tmp_path):
    root = tree(tmp_path, "kubeadm-1.34")
    check = harden(root, check=True, supplied={"audit_policy": AUDITING})
    assert check["apiserver-audit-policy"]["status"] == "would_fix"
    assert "until the audit policy is set too" in check["apiserver-audit-log-path"]["message"]
    applied = harden(root, check=False, supplied={"audit_policy": AUDITING})
    assert applied["apiserver-audit-policy"]["status"] == "fixed"
    assert all(NONE_WRITTEN not in applied[r]["message"] for r in AUDIT_LOG), [applied[r]["message"] for r in AUDIT_LOG]
    after = harden(root, check=True, supplied={"audit_policy": AUDITING})
    assert all(after[r]["status"] == "pass" and not after[r]["message"] for r in AUDIT_LOG + ["apiserver-audit-policy"])


def test_a_supplied_policy_that_audits_nothing_is_never_written(tmp_path):
    """Written, it would not meet 3.2.1 either: 3.2.1 stays fail (never 'fixed') and the audit log rules say why."""
    root = tree(tmp_path, "kubeadm-1.34")
    results = harden(root, check=False, only=["3.2.1", "1.2.16"], supplied={"audit_policy": NOTHING})
    policy = results["apiserver-audit-policy"]
    assert policy["status"] == "fail" and policy["changed_files"] == [], policy
    assert policy["message"] == ("the policy in kubefort_apiserver_audit_policy audits nothing (every rule has level None): "
                                 "nothing written; give a rule a level of Metadata or more")
    log = results["apiserver-audit-log-path"]
    assert log["status"] == "fixed" and "kubefort wrote none from kubefort_apiserver_audit_policy" in log["message"], log
    assert not os.path.exists(os.path.join(root, "etc/kubernetes/kubefort/audit-policy.yaml"))
    for bad in ("kind: Policy\n", "rules: [\n"):
        refused = harden(root, check=False, only=["3.2.1"], supplied={"audit_policy": bad})["apiserver-audit-policy"]
        assert refused["status"] == "error" and refused["message"].endswith(": nothing written"), refused
    assert not os.path.exists(os.path.join(root, "etc/kubernetes/kubefort/audit-policy.yaml"))


def test_rke2_default_policy_audits_nothing_the_audit_log_passes_and_says_so(tmp_path):
    """RKE2's audit-policy.yaml (written at first start) has one rule, level None: its audit.log stays empty."""
    results = harden(tree(tmp_path, "rke2"), check=True)
    assert results["apiserver-audit-policy"]["status"] == "fail"
    for rule in ("apiserver-audit-log-path", "apiserver-audit-log-maxage"):
        assert results[rule]["status"] == "pass"
        assert results[rule]["message"] == (
            "no audit events are written: the audit policy /etc/rancher/rke2/audit-policy.yaml audits nothing (every "
            "rule has level None; CIS 3.2.1, apiserver-audit-policy): give a rule a level of Metadata or more")


def test_a_policy_that_audits_leaves_the_audit_log_results_alone(tmp_path):
    results = harden(tree(tmp_path, "kubeadm-1.32"), check=True)
    assert results["apiserver-audit-policy"]["status"] == "pass"
    assert all(NONE_WRITTEN not in results[r]["message"] for r in AUDIT_LOG)


def test_the_policy_is_judged_also_when_only_an_audit_log_rule_is_selected(tmp_path):
    """Without apiserver-audit-policy selected nothing writes the supplied policy: the note still says so."""
    results = harden(tree(tmp_path, "kubeadm-1.32"), check=True, only=["1.2.16"])
    assert list(results) == ["apiserver-audit-log-path"] and NONE_WRITTEN not in results["apiserver-audit-log-path"]["message"]
    alone = harden(tree(tmp_path, "kubeadm-1.34"), check=True, only=["1.2.16"], supplied={"audit_policy": AUDITING})
    assert "no --audit-policy-file" in alone["apiserver-audit-log-path"]["message"]


# ---- API servers that are not static pods of kubefort's to edit ------------------------------------------


def test_microk8s_audit_log_path_is_written_to_its_args_file(tmp_path):
    root = tree(tmp_path, "microk8s")
    results = harden(root, check=False, only=["1.2.16", "3.2.1"], supplied={"audit_policy": AUDITING})
    assert results["apiserver-audit-log-path"]["status"] == "fixed", results["apiserver-audit-log-path"]
    assert results["apiserver-audit-policy"]["status"] == "fixed", results["apiserver-audit-policy"]
    args = node_text(root, "/var/snap/microk8s/current/args/kube-apiserver").splitlines()
    assert "--audit-log-path=/var/log/kubernetes/audit/audit.log" in args
    assert "--audit-policy-file=/etc/kubernetes/kubefort/audit-policy.yaml" in args
    assert node_text(root, "/etc/kubernetes/kubefort/audit-policy.yaml") == AUDITING
    assert oct(os.stat(os.path.join(root, "etc/kubernetes/kubefort/audit-policy.yaml")).st_mode & 0o777) == "0o600"
    after = harden(root, check=True, only=["1.2.16", "3.2.1"], supplied={"audit_policy": AUDITING})
    assert [r["status"] for r in after.values()] == ["pass", "pass"], after


def test_k3s_admission_config_is_written_with_kube_apiserver_arg(tmp_path):
    root = tree(tmp_path, "k3s")
    results = harden(root, check=False, only=["1.2.9"], supplied={"admission_config": ADMISSION})
    assert results["apiserver-event-rate-limit"]["status"] == "fixed", results
    after = harden(root, check=True, only=["1.2.9", "1.2.14"], supplied={"admission_config": ADMISSION})
    assert after["apiserver-event-rate-limit"]["status"] == "pass", after
    assert after["apiserver-node-restriction-plugin"]["actual"] == "NodeRestriction,EventRateLimit"


def test_rke2_regenerated_manifest_is_never_edited_for_the_audit_log(tmp_path):
    """RKE2 writes agent/pod-manifests at every start: a fix there would not last, so fail with the advice."""
    root = tree(tmp_path, "rke2")
    config = os.path.join(root, "etc/rancher/rke2/config.yaml")
    with open(config, encoding="utf-8") as handle:
        text = handle.read()
    with open(config, "w", encoding="utf-8") as handle:
        handle.write(text.replace('"audit-log-maxage=30"]', '"audit-log-maxage=30", "audit-log-path=-"]'))
    before = tree_hashes(root)
    results = harden(root, check=False, only=["1.2.16"])
    result = results["apiserver-audit-log-path"]
    assert result["status"] == "fail" and result["changed_files"] == [], result
    assert "rke2 writes" in result["message"] and "remove the audit-log-path entry" in result["message"], result
    assert tree_hashes(root) == before


# ---- files a walked pattern covers are missing, not "not collected" --------------------------------------


def test_microk8s_ships_its_event_rate_limit_configuration(tmp_path):
    results = harden(tree(tmp_path, "microk8s"), check=True, only=["1.2.9"])
    assert results["apiserver-event-rate-limit"]["status"] == "pass", results


def test_a_missing_file_in_a_listed_directory_is_missing_not_uncollected(tmp_path):
    root = tree(tmp_path, "microk8s")
    os.unlink(os.path.join(root, "var/snap/microk8s/current/args/eventconfig.yaml"))
    result = harden(root, check=True, only=["1.2.9"])["apiserver-event-rate-limit"]
    assert result["status"] == "error"
    assert result["message"].startswith("/var/snap/microk8s/current/args/eventconfig.yaml does not exist: the API server "
                                        "does not start with an AdmissionConfiguration"), result
    assert "run again" not in result["message"]


@pytest.mark.parametrize("pattern,matches,path,covered", [
    ("/a/args/*.yaml", [], "/a/args/x.yaml", True),
    ("/a/args/*.yaml", [], "/a/args/sub/x.yaml", False),
    ("/a/args/*.yaml", [], "/a/args/x.conf", False),
    ("/etc/kubernetes/**", ["/etc/kubernetes/a"], "/etc/kubernetes/b/c", True),
    ("/etc/kubernetes/**", ["/etc/kubernetes/%d" % i for i in range(2000)], "/etc/kubernetes/b", False),
])
def test_covers(pattern, matches, path, covered):
    assert covers(pattern, matches, path) is covered
    node = Node(root="/", live=False, layout="none", components={}, files={}, static_pod_path="",
                patterns={pattern: matches})
    assert node.file(path)["type"] == ("missing" if covered else "unknown")


# ---- notes on flags whose acceptance was not checked (version unknown) -----------------------------------


def test_microk8s_kubelet_flag_note_reads_as_one_sentence(tmp_path):
    """The microk8s fixture's version is unknown; its kubelet args keep --log-dir and --container-runtime, which
    kubelet 1.28 (the release whose complete flag list kubefort holds) refuses."""
    root = tree(tmp_path, "microk8s")
    rules = select_rules(["kubelet"], ["kubelet-anonymous-auth", "kubelet-client-ca-permissions"], [])
    out = run(call_module_factory(check=True), root, rules, Options(), True, "/var/lib/kubefort/backups", False)
    results = {r["id"]: r for r in out["results"]}
    assert results["kubelet-anonymous-auth"]["message"].startswith(
        "whether this kubelet accepts --log-dir, --container-runtime was not checked: its version is unknown, and "
        "kubelet 1.28 refuses them"), results["kubelet-anonymous-auth"]["message"]
    # A file rule does not judge the command line: no note there.
    assert "was not checked" not in results["kubelet-client-ca-permissions"]["message"]


@pytest.mark.parametrize("matches, known", [([], True), (["/etc/kubernetes/x%d" % i for i in range(2000)], False)])
def test_a_walk_cut_at_its_limit_does_not_stand_for_the_paths_it_did_not_list(matches, known):
    # discovery reads such a path in a later round instead of taking its absence from the cut walk
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._harden import _known

    snapshot = {"files": {}, "patterns": {"/etc/kubernetes/**": matches}}
    assert _known(snapshot, "/etc/kubernetes/admission/eventconfig.yaml") is known
    assert _known(snapshot, "/etc/kubernetes") is True  # the walked directory itself
