"""Findings and fixes are values (immutable); errors are one family, by what they mean for a run.

- a Finding or Fix cannot be changed in place: the guard, the restart check, the waivers and the planner
  make new ones, so the findings a check returned are still what it said after the whole run;
- every error class of the collection sits under one of InputError (the task fails), UnreadableError,
  EditError or APIError (the rule is ``error``), and ``rule_error`` is the one mapping to a rule's message.
"""

from __future__ import annotations

import dataclasses

import pytest

from ansible_collections.kubefort.hardening.plugins.module_utils import _cluster_policy, _encryption, _errors, _policy
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _catalog, _ports_evaluate
from ansible_collections.kubefort.hardening.plugins.module_utils._cluster_snapshot import ClusterAPIError, ClusterAuthError
from ansible_collections.kubefort.hardening.plugins.plugin_utils import (
    _authz,
    _dist_base,
    _edits,
    _edits_apiserver,
    _edits_extra,
    _harden,
    _yaml_edit,
)
from ansible_collections.kubefort.hardening.plugins.plugin_utils._discovery import build_node
from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import evaluate
from ansible_collections.kubefort.hardening.plugins.plugin_utils._findings import Finding, Fix
from ansible_collections.kubefort.hardening.plugins.plugin_utils._node_options import NodeOptions
from kubefort_testlib import call_module_factory, demo_node

RULE = _catalog.BY_ID["kubelet-read-only-port"]


def test_findings_and_fixes_cannot_change_in_place():
    finding = Finding(RULE, "fail", "10255", "flag", fixes=(Fix("flag", "kubelet", "read-only-port", "0"),))
    with pytest.raises(dataclasses.FrozenInstanceError):
        finding.status = "pass"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        finding.fix.value = "10255"  # type: ignore[union-attr,misc]
    assert finding.noted("why").message == "why" and finding.message == ""
    assert finding.without_fixes("kept").fixes == () and finding.fix is not None


def test_a_run_leaves_the_findings_of_the_checks_as_they_were(tmp_path):
    """Evaluate, mark stale, waive and plan on cp1 (every kind of fix): the checks' findings are unchanged."""
    root = demo_node(tmp_path, "cp1")
    rules = _harden.select_rules(["kube-apiserver", "kubelet", "etcd"], [], [])
    snapshot, _trips, node = _harden.discover(call_module_factory(check=True), root, rules)
    options = NodeOptions(waivers=({"id": "4.2.4", "reason": "test"},))
    findings = evaluate(node, rules, options)
    before = [dataclasses.astuple(f) for f in findings]
    planner = _edits.Planner(build_node(snapshot), snapshot)
    planned = planner.plan(findings)
    assert [dataclasses.astuple(f) for f in findings] == before
    assert planner.edits and len(planned) == len(findings)
    waived, _records = _harden._waive(findings, options)
    assert [dataclasses.astuple(f) for f in findings] == before
    assert next(f for f in waived if f.rule.id == RULE.id).fixes == () and next(f for f in findings if f.rule.id == RULE.id).fixes


@pytest.mark.parametrize(
    "cls, family",
    [
        (_catalog.UnknownRuleError, _errors.InputError),
        (_policy.PolicyError, _errors.InputError),
        (_ports_evaluate.PortsOptionsError, _errors.InputError),
        (_cluster_policy.ClusterPolicyError, _errors.InputError),
        (_authz.AuthzError, _errors.UnreadableError),
        (_encryption.ParseError, _errors.UnreadableError),
        (_edits.EditError, _errors.EditError),
        (_dist_base.EditError, _errors.EditError),
        (_edits_extra.ExtraEditError, _errors.EditError),
        (_edits_apiserver.ApiserverEditError, _errors.EditError),
        (_yaml_edit.YAMLEditError, _errors.EditError),
        (ClusterAPIError, _errors.APIError),
        (ClusterAuthError, _errors.APIError),
        (_harden.HardenError, _errors.KubefortError),
    ],
)
def test_every_error_is_in_its_family(cls, family):
    assert issubclass(cls, family) and issubclass(family, _errors.KubefortError)


def test_one_mapping_from_an_error_to_a_rules_message():
    assert _errors.rule_error(_edits.EditError("--x is not on line 3")) == "--x is not on line 3"
    assert _errors.rule_error(ClusterAPIError("403 forbidden"), "fix failed") == "fix failed: 403 forbidden"
    with pytest.raises(_catalog.UnknownRuleError):
        _errors.rule_error(_catalog.UnknownRuleError("unknown rule ID(s): 9.9"))


def test_an_api_error_makes_every_cluster_rule_an_error():
    rules = _cluster_policy.CLUSTER_RULES[:3]
    results = _cluster_policy.error_results(rules, ClusterAuthError("401 Unauthorized: the token expired"))
    assert [(r["status"], r["message"]) for r in results] == [("error", "401 Unauthorized: the token expired")] * 3


def test_an_edit_that_cannot_be_made_is_an_error_result_not_a_fix(tmp_path):
    """worker1's flag moved off the line discovery saw it on: nothing is written, the rule is error."""
    root = demo_node(tmp_path, "worker1")
    rules = _harden.select_rules(["kubelet"], ["4.2.4"], [])
    _snapshot, _trips, node = _harden.discover(call_module_factory(check=True), root, rules)
    findings = evaluate(node, rules, NodeOptions())
    entry = node.files["/etc/default/kubelet"]
    assert entry["content"].startswith('KUBELET_EXTRA_ARGS="--read-only-port=10255')
    entry["content"] = "# moved\n" + entry["content"]
    planner = _edits.Planner(node)
    planner.plan(findings)
    assert planner.errors == {"kubelet-read-only-port": "--read-only-port is not on line 1 as expected"}
    assert not any(edit.changes for edit in planner.edits.values())


def test_each_fix_kind_is_a_class_that_checks_its_value():
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._findings import FIX_KINDS, FIX_TYPES

    assert set(FIX_TYPES) == set(FIX_KINDS)
    for kind, cls in FIX_TYPES.items():
        assert cls.KIND == kind and issubclass(cls, Fix)
    made = Fix("flag", "kubelet", "read-only-port", "0")
    assert isinstance(made, FIX_TYPES["flag"]) and made.__class__.__name__ == "FlagFix"
    assert dataclasses.replace(made, value="1").value == "1"
    for kind, value, words in [
        ("flag", 0, "the value must be the flag's text"),
        ("config", ["a"], "a list or mapping is a config_list fix"),
        ("config_list", "TLS_A,TLS_B", "the value must be the list's items"),
        ("attrs", None, "nothing to set"),
        ("supplied_file", {"content": "x"}, "the value must name the path and the content"),
        ("authn_config", {"mode": "all"}, "conditions or add_section"),
    ]:
        with pytest.raises(ValueError, match=words):
            Fix(kind, "kube-apiserver", "x", value)
