"""Structured API server configuration on kubeadm 1.30, 1.32, 1.34 and 1.35 control planes: check, apply, check, apply.

Fixtures (tests/fixtures/nodes/kubeadm-1.*) are kubeadm's API server manifests with the administrator's
structured configuration files mounted from /etc/kubernetes/apiserver-config (ClusterConfiguration
apiServer.extraArgs / extraVolumes). Modules run in-process, with the calls the action plugin makes.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from ansible_collections.kubefort.hardening.plugins.module_utils._flags import parse_args
from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options
from ansible_collections.kubefort.hardening.plugins.plugin_utils._harden import run, select_rules
from kubefort_testlib import REPO, _demo_nodes_script, call_module_factory, tree_hashes

FIXTURES = os.path.join(REPO, "tests", "fixtures", "nodes")
RULES = ["1.2.1", "1.2.6", "1.2.7", "1.2.8", "1.2.9", "1.2.28", "3.2.1"]
CIS = {"1.2.1": "apiserver-anonymous-auth", "1.2.6": "apiserver-authorization-mode-not-alwaysallow",
       "1.2.7": "apiserver-authorization-mode-node", "1.2.8": "apiserver-authorization-mode-rbac",
       "1.2.9": "apiserver-event-rate-limit", "1.2.28": "apiserver-encryption-providers", "3.2.1": "apiserver-audit-policy"}
CONFIG = "etc/kubernetes/apiserver-config"
MANIFEST = "etc/kubernetes/manifests/kube-apiserver.yaml"
# Key material of the fixtures' EncryptionConfigurations: it must never leave the node.
SECRETS = ("S1VCRUZPUlQtVEVTVC1LRVktMTMwLURPTk9UTEVBSyE=", "S1VCRUZPUlQtVEVTVC1LRVktMTMyLURPTk9UTEVBSyE=",
           "S1VCRUZPUlQtVEVTVC1LRVktMTM0LURPTk9UTEVBSyE=", "KUBEFORT-TEST-KEY", "key-2025-01", "vault.sock")


def node(tmp_path, name):
    root = os.path.join(str(tmp_path), name)
    shutil.copytree(os.path.join(FIXTURES, name), root, symlinks=True)
    _demo_nodes_script().apply_modes(root)
    return root


def harden(root, check, rules=None, components=("kube-apiserver",), **options):
    selected = select_rules(list(components), RULES if rules is None else rules, [])
    return run(call_module_factory(check=check), root, selected, Options(**options), check, "/var/lib/kubefort/backups", True)


def statuses(outcome):
    by_id = {r["id"]: r["status"] for r in outcome["results"]}
    return {cis: by_id[rule] for cis, rule in CIS.items() if rule in by_id}


def result(outcome, cis):
    return next(r for r in outcome["results"] if r["cis"] == cis)


def manifest_flags(root):
    import yaml

    with open(os.path.join(root, MANIFEST)) as handle:
        pod = yaml.safe_load(handle)
    return parse_args("kube-apiserver", pod["spec"]["containers"][0]["command"][1:], [{}] * 100)


def assert_no_refused_pair(root):
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._authn import anonymous_policy

    flags = manifest_flags(root)
    assert not (flags.has("authorization-mode") and flags.has("authorization-config"))
    if flags.has("anonymous-auth") and flags.has("authentication-config"):
        with open(os.path.join(root, flags.value("authentication-config").lstrip("/"))) as handle:
            assert not anonymous_policy({"content": handle.read()}, "x").configured


# fixture -> (first check, check after the apply); 'fail' rules are not automated (keys, policy content).
CASES = {
    "kubeadm-1.30": (
        {"1.2.1": "manual", "1.2.6": "would_fix", "1.2.7": "pass", "1.2.8": "would_fix", "1.2.9": "fail",
         "1.2.28": "fail", "3.2.1": "fail"},
        {"1.2.1": "manual", "1.2.6": "pass", "1.2.7": "pass", "1.2.8": "pass", "1.2.9": "fail", "1.2.28": "fail",
         "3.2.1": "fail"}),
    "kubeadm-1.32": (
        {"1.2.1": "would_fix", "1.2.6": "would_fix", "1.2.7": "would_fix", "1.2.8": "would_fix", "1.2.9": "pass",
         "1.2.28": "pass", "3.2.1": "pass"},
        {"1.2.1": "pass", "1.2.6": "pass", "1.2.7": "pass", "1.2.8": "pass", "1.2.9": "pass", "1.2.28": "pass",
         "3.2.1": "pass"}),
    "kubeadm-1.34": (
        {"1.2.1": "would_fix", "1.2.6": "pass", "1.2.7": "pass", "1.2.8": "pass", "1.2.9": "fail", "1.2.28": "fail",
         "3.2.1": "fail"},
        {"1.2.1": "pass", "1.2.6": "pass", "1.2.7": "pass", "1.2.8": "pass", "1.2.9": "fail", "1.2.28": "fail",
         "3.2.1": "fail"}),
    "kubeadm-1.35": (
        {"1.2.1": "would_fix", "1.2.6": "pass", "1.2.7": "pass", "1.2.8": "would_fix", "1.2.9": "pass",
         "1.2.28": "pass", "3.2.1": "fail"},
        {"1.2.1": "pass", "1.2.6": "pass", "1.2.7": "pass", "1.2.8": "pass", "1.2.9": "pass", "1.2.28": "pass",
         "3.2.1": "fail"}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_check_apply_check_apply(tmp_path, name):
    root = node(tmp_path, name)
    first, after = CASES[name]
    before = tree_hashes(root)
    checked = harden(root, check=True)
    assert statuses(checked) == first
    assert tree_hashes(root) == before, "check mode changed a file"
    applied = harden(root, check=False)
    assert not applied["failed"]
    assert statuses(applied) == {k: ("fixed" if v == "would_fix" else v) for k, v in first.items()}
    # Check mode predicted exactly the files the apply changed.
    predicted = sorted(d["after_header"] for d in checked["diff"])
    assert sorted(d["after_header"] for d in applied["diff"]) == predicted
    assert_no_refused_pair(root)
    again = harden(root, check=True)
    assert statuses(again) == after and not again["changed"]
    hashes = tree_hashes(root)
    last = harden(root, check=False)
    assert not last["changed"] and tree_hashes(root) == hashes
    assert_no_refused_pair(root)


def read(root, rel):
    with open(os.path.join(root, rel)) as handle:
        return handle.read()


def only_restart_annotation(before, after):
    """The manifest changed by exactly one line: the annotation that makes the kubelet restart the API server."""
    added = [line for line in after.splitlines() if line not in before.splitlines()]
    assert len(added) == 1 and added[0].startswith("    kubefort.hardening/config-sha256: "), added
    assert after.replace(added[0] + "\n", "") == before


def test_authorization_config_is_edited_and_never_gets_the_mode_flag(tmp_path):
    root = node(tmp_path, "kubeadm-1.30")
    manifest = read(root, MANIFEST)
    harden(root, check=False)
    text = read(root, CONFIG + "/authorization-config.yaml")
    assert text == (
        "apiVersion: apiserver.config.k8s.io/v1beta1\nkind: AuthorizationConfiguration\nauthorizers:\n"
        "  # Kubelets are limited to their own node's objects.\n  - type: Node\n    name: node\n"
        "  # TODO(platform): replace with RBAC once the legacy CI jobs have roles (PLAT-2211).\n"
        "  - type: RBAC\n    name: rbac\n")
    only_restart_annotation(manifest, read(root, MANIFEST))  # no --authorization-mode


def test_authorization_json_and_webhook_order(tmp_path):
    root = node(tmp_path, "kubeadm-1.32")
    harden(root, check=False, rules=["1.2.6", "1.2.7", "1.2.8"])
    data = json.loads(read(root, CONFIG + "/authorization-config.json"))
    assert data["authorizers"] == [{"type": "Node", "name": "node"}, {"type": "RBAC", "name": "rbac"}]
    root = node(tmp_path, "kubeadm-1.35")
    outcome = harden(root, check=False, rules=["1.2.8"])
    assert result(outcome, "1.2.8")["changed_files"] == ["/" + CONFIG + "/authorization-config.yaml", "/" + MANIFEST]
    assert [s["name"] for s in outcome["restart"] if s["kind"] == "static_pod"] == ["kube-apiserver"]
    text = read(root, CONFIG + "/authorization-config.yaml")
    assert text.index("type: Node") < text.index("type: RBAC") < text.index("# Team namespaces") < text.index("type: Webhook")


def test_user_sees_authorization_config_passing_on_1_34(tmp_path):
    """Issue 12, first bullet: Node and RBAC in --authorization-config pass; nothing adds --authorization-mode."""
    root = node(tmp_path, "kubeadm-1.34")
    outcome = harden(root, check=True, rules=["1.2.6", "1.2.7", "1.2.8"])
    assert statuses(outcome) == {"1.2.6": "pass", "1.2.7": "pass", "1.2.8": "pass"}
    assert result(outcome, "1.2.8")["source"] == "/%s/authorization-config.yaml:6" % CONFIG
    assert not outcome["changed"] and not outcome["diff"]


def test_user_sees_anonymous_section_judged_on_1_34(tmp_path):
    """Issue 12, second bullet: anonymous.enabled without conditions is a finding, fixed in the user's file."""
    root = node(tmp_path, "kubeadm-1.34")
    manifest = read(root, MANIFEST)
    outcome = harden(root, check=False, rules=["1.2.1"])
    assert result(outcome, "1.2.1")["status"] == "fixed"
    assert result(outcome, "1.2.1")["source"] == "/%s/authentication-config.yaml:4" % CONFIG
    assert read(root, CONFIG + "/authentication-config.yaml") == (
        "apiVersion: apiserver.config.k8s.io/v1\nkind: AuthenticationConfiguration\nanonymous:\n"
        "  enabled: true  # kept on for the kubelet's probes\n"
        "  conditions:\n  - path: /livez\n  - path: /readyz\n  - path: /healthz\n")
    only_restart_annotation(manifest, read(root, MANIFEST))
    assert "--anonymous-auth" not in read(root, MANIFEST)
    assert not os.path.exists(os.path.join(root, "etc/kubernetes/kubefort/authentication-config.yaml"))


def test_user_sees_encryption_providers_judged(tmp_path):
    """Issue 12, fourth bullet: 1.2.28 reads the providers (identity first fails, aescbc / kms v2 first pass)."""
    expected = {"kubeadm-1.30": ("fail", "secrets: identity,aescbc"), "kubeadm-1.32": ("pass", "secrets: aescbc,identity"),
                "kubeadm-1.35": ("pass", "secrets: kms(v2),identity")}
    for name, (status, actual) in expected.items():
        outcome = harden(node(tmp_path, name), check=True, rules=["1.2.28"])
        found = result(outcome, "1.2.28")
        assert (found["status"], found["actual"]) == (status, actual), name
        assert found["source"].startswith("/%s/encryption-config.yaml:" % CONFIG)


def test_key_material_never_leaves_the_node(tmp_path):
    from ansible_collections.kubefort.hardening.plugins.modules import node_facts
    from kubefort_testlib import run_module

    for name in ("kubeadm-1.30", "kubeadm-1.32", "kubeadm-1.34"):
        root = node(tmp_path, name)
        path = "/%s/encryption-config.yaml" % CONFIG
        assert any(s in read(root, path.lstrip("/")) for s in SECRETS[:3]), "the fixture must hold a key"
        # Even when something asks to read the file, only the summary comes back.
        facts = run_module(node_facts, {"root": root, "read": [path], "encryption": [path]})
        entry = facts["snapshot"]["files"][path]
        assert "content" not in entry and "sha256" not in entry and entry["encryption"]["resources"]
        returned = json.dumps(facts)
        outcome = json.dumps(harden(root, check=False))
        for secret in SECRETS:
            assert secret not in returned and secret not in outcome, (name, secret)


def test_probes_tcp_opt_in_before_1_32(tmp_path):
    root = node(tmp_path, "kubeadm-1.30")
    checked = harden(root, check=True, rules=["1.2.1"], apiserver_probes_tcp=True)
    assert result(checked, "1.2.1")["status"] == "would_fix"
    assert "does not see" in result(checked, "1.2.1")["message"] or "not that the API server is healthy" in result(checked, "1.2.1")["message"]
    harden(root, check=False, rules=["1.2.1"], apiserver_probes_tcp=True)
    text = read(root, MANIFEST)
    assert "httpGet" not in text and text.count("tcpSocket:") == 3 and "- --anonymous-auth=false" in text
    assert "      tcpSocket:\n        host: 192.0.2.10\n        port: 6443\n" in text and "path: /livez" not in text
    # Only the probe blocks and the flag changed.
    before = read(os.path.join(FIXTURES, "kubeadm-1.30"), MANIFEST).splitlines()
    after = text.splitlines()
    assert len(after) == len(before) - 2 * 3 + 1
    again = harden(root, check=True, rules=["1.2.1"], apiserver_probes_tcp=True)
    assert result(again, "1.2.1")["status"] == "pass" and not again["changed"]


def test_k3s_anonymous_auth_is_fixed_whatever_the_version(tmp_path):
    """Issue 12, third bullet: k3s runs the API server in its own process (no kubelet probes)."""
    root = node(tmp_path, "k3s")
    path = os.path.join(root, "etc/rancher/k3s/config.yaml")
    with open(path, "a") as handle:
        handle.write('  - "anonymous-auth=true"\n'.replace("  - ", "kube-apiserver-arg+:\n  - ", 1))
    checked = harden(root, check=True, rules=["1.2.1"])
    found = result(checked, "1.2.1")
    assert found["status"] == "would_fix" and "own process" in found["message"]
    harden(root, check=False, rules=["1.2.1"])
    assert "anonymous-auth=false" in read(root, "etc/rancher/k3s/config.yaml")
    assert result(harden(root, check=True, rules=["1.2.1"]), "1.2.1")["status"] == "pass"


def test_rke2_exec_probes_allow_the_flag(tmp_path):
    root = node(tmp_path, "rke2")
    found = result(harden(root, check=True, rules=["1.2.1"]), "1.2.1")
    assert found["status"] == "would_fix" and "exec or tcpSocket" in found["message"]


def test_unmounted_config_file_is_an_error(tmp_path):
    root = node(tmp_path, "kubeadm-1.34")
    path = os.path.join(root, MANIFEST)
    text = read(root, MANIFEST).replace("    - mountPath: /etc/kubernetes/apiserver-config\n      name: apiserver-config\n"
                                        "      readOnly: true\n", "")
    with open(path, "w") as handle:
        handle.write(text)
    outcome = harden(root, check=True, rules=["1.2.6", "1.2.1", "1.2.28"])
    for cis in ("1.2.6", "1.2.1", "1.2.28"):
        assert result(outcome, cis)["status"] == "error"
        assert "no hostPath volume" in result(outcome, cis)["message"]


def test_both_authorization_flags_are_an_error_not_a_fix(tmp_path):
    root = node(tmp_path, "kubeadm-1.34")
    path = os.path.join(root, MANIFEST)
    text = read(root, MANIFEST).replace("    - --client-ca-file", "    - --authorization-mode=Node,RBAC\n    - --client-ca-file")
    with open(path, "w") as handle:
        handle.write(text)
    outcome = harden(root, check=False, rules=["1.2.6", "1.2.7", "1.2.8"])
    assert set(statuses(outcome).values()) == {"error"}
    assert "refuses to start" in result(outcome, "1.2.6")["message"]
    assert read(root, MANIFEST) == text


def _forged_flag_fix(root, rule_cis, flag, value):
    """Plan a flag fix the evaluation would never produce, straight through the Planner and its validator."""
    from ansible_collections.kubefort.hardening.plugins.plugin_utils import _catalog
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._edits import Planner
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Finding, Fix
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._harden import discover

    snapshot, _trips, the_node = discover(call_module_factory(check=True), root, [])
    rule = next(r for r in _catalog.BY_ID.values() if r.cis == rule_cis)
    finding = Finding(rule, "fail", fixes=(Fix("flag", "kube-apiserver", flag, value),))
    planner = Planner(the_node, snapshot)
    planner.plan([finding])
    return planner, rule


@pytest.mark.parametrize("with_snapshot", [True, False])
def test_validator_refuses_authorization_mode_next_to_authorization_config(tmp_path, with_snapshot):
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._edits import Planner
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Finding, Fix

    root = node(tmp_path, "kubeadm-1.34")
    planner, rule = _forged_flag_fix(root, "1.2.6", "authorization-mode", "Node,RBAC")
    if not with_snapshot:
        # The manifest-only path of the validator (no discovery snapshot) refuses it too.
        planner = Planner(planner.node)
        planner.plan([Finding(rule, "fail", fixes=(Fix("flag", "kube-apiserver", "authorization-mode", "Node,RBAC"),))])
    assert not planner.edits
    assert "--authorization-mode and --authorization-config" in planner.errors[rule.id]


def test_validator_refuses_anonymous_auth_next_to_an_anonymous_section(tmp_path):
    root = node(tmp_path, "kubeadm-1.34")
    planner, rule = _forged_flag_fix(root, "1.2.1", "anonymous-auth", "false")
    assert not planner.edits
    assert "--anonymous-auth and an anonymous section" in planner.errors[rule.id]
    # Without an anonymous section in the file the same flag is accepted.
    root = node(tmp_path, "kubeadm-1.35")
    planner, rule = _forged_flag_fix(root, "1.2.1", "anonymous-auth", "false")
    assert list(planner.edits) == ["/" + MANIFEST] and rule.id not in planner.errors


def test_validator_refuses_unrelated_fixes_to_a_manifest_with_both_flags(tmp_path):
    root = node(tmp_path, "kubeadm-1.34")
    path = os.path.join(root, MANIFEST)
    text = read(root, MANIFEST).replace("    - --client-ca-file", "    - --anonymous-auth=true\n    - --client-ca-file")
    with open(path, "w") as handle:
        handle.write(text)
    outcome = harden(root, check=False, rules=["1.2.1", "1.2.15"])
    assert result(outcome, "1.2.1")["status"] == "error"
    assert result(outcome, "1.2.15")["status"] == "error" and "refuses to start with both" in result(outcome, "1.2.15")["message"]
    assert read(root, MANIFEST) == text


def test_supplied_encryption_config_is_not_shown_in_the_diff(tmp_path):
    root = node(tmp_path, "kubeadm-1.34")
    path = os.path.join(root, MANIFEST)
    text = read(root, MANIFEST).replace(
        "    - --encryption-provider-config=/etc/kubernetes/apiserver-config/encryption-config.yaml\n", "")
    with open(path, "w") as handle:
        handle.write(text)
    supplied = read(os.path.join(FIXTURES, "kubeadm-1.32"), CONFIG + "/encryption-config.yaml")
    for check in (True, False):
        outcome = harden(root, check=check, rules=["1.2.27"], supplied={"encryption_config": supplied})
        assert result(outcome, "1.2.27")["status"] == ("would_fix" if check else "fixed")
        diff = next(d for d in outcome["diff"] if d["after_header"] == "/etc/kubernetes/kubefort/encryption-config.yaml")
        assert diff["after"].startswith("(content not shown: it holds encryption keys")
        assert not any(s in json.dumps(outcome) for s in SECRETS)
    assert read(root, "etc/kubernetes/kubefort/encryption-config.yaml") == supplied
