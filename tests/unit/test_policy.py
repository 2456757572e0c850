"""One policy layer for node, ports and cluster rules: selection, levels, overrides and waivers alike.

Each area is run through its own entry (``_harden.run`` on a demo node, ``_ports_evaluate.evaluate`` on a
captured listing, ``_cluster_policy`` on the saved cluster fixture); the same choice must mean the same
thing in all three.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import re

import pytest

from ansible_collections.kubefort.hardening.plugins.module_utils import _cluster_policy, _policy, _sockets
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _catalog, _ports_evaluate
from ansible_collections.kubefort.hardening.plugins.module_utils._rules_cluster import RULES as CLUSTER_RULES
from ansible_collections.kubefort.hardening.plugins.plugin_utils._catalog import PORTS_RULES
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _evaluate, _harden
from kubefort_testlib import call_module_factory, demo_node

TODAY = datetime.date(2026, 6, 1)
FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures")
PLUGINS = os.path.join(os.path.dirname(__file__), "..", "..", "plugins")


def waiver(rule_id: str, expires: str = "2027-01-01") -> dict:
    return {"id": rule_id, "reason": "accepted for the test", "expires": expires}


def node_results(tmp_path, node: str, components, waivers=(), only=(), skip=(), **options) -> dict:
    root = demo_node(tmp_path, node)
    chosen = _harden.selection(components, list(only), list(skip))
    outcome = _harden.run(call_module_factory(check=True), root, chosen.rules,
                          _evaluate.NodeOptions(waivers=list(waivers), today=TODAY, **options), True,
                          "/var/lib/kubefort/backups", False, skipped=chosen.skipped)
    return {r["id"]: r for r in outcome["results"]}


def ports_results(layout: str, probes=None, **options) -> dict:
    listing = _sockets.listening_sockets(os.path.join(FIXTURES, "proc", layout))
    return {r["id"]: r for r in _ports_evaluate.evaluate(listing, probes, options, today=TODAY)}


def cluster_results(rule_ids, snap=None, **options) -> dict:
    import json

    if snap is None:
        with open(os.path.join(FIXTURES, "cluster", "kubeadm-insecure.json"), encoding="utf-8") as handle:
            snap = _cluster_policy.snapshot_from_documents([json.load(handle)], "fixture")
    rules = [r for r in CLUSTER_RULES if r.id in rule_ids]
    opts = _cluster_policy.ClusterOptions(level=2, today=TODAY, **options)
    return {r["id"]: r for r in _cluster_policy.results(_cluster_policy.evaluate(rules, snap, opts))}


UNJUDGED_PROBE = [{"prober": "node", "probes": [
    {"name": "kube-apiserver", "url": "https://n:6443/api", "outcome": "error", "status": None, "denied": None,
     "message": "TLS handshake failed"}]}]


# -- waivers: fail and manual become waived, an error stays an error, everywhere -------------------------------


@pytest.mark.parametrize(
    "area, raw_status",
    [("node", "fail"), ("node", "manual"), ("node", "error"),
     ("ports", "fail"), ("ports", "error"),
     ("cluster", "fail"), ("cluster", "manual"), ("cluster", "error")],
)
def test_a_waiver_accepts_fail_and_manual_and_never_an_error(tmp_path, area, raw_status):
    if area == "node":
        # cp1 (1.28): 4.2.4 fails, 1.2.1 is manual (the probes); worker2 has no kubelet kubeconfig: error.
        node, components, rule_id = {
            "fail": ("cp1", ["kubelet"], "kubelet-read-only-port"),
            "manual": ("cp1", ["kube-apiserver"], "apiserver-anonymous-auth"),
            "error": ("worker2", ["kubelet"], "kubelet-kubeconfig-permissions"),
        }[raw_status]
        before = node_results(tmp_path / "a", node, components)[rule_id]
        after = node_results(tmp_path / "b", node, components, waivers=[waiver(rule_id)])[rule_id]
    elif area == "ports":
        layout, probes, rule_id = {
            "fail": ("legacy-node", None, "ports-cadvisor-closed"),
            "error": ("kubeadm-control-plane", UNJUDGED_PROBE, "ports-apiserver-anonymous"),
        }[raw_status]
        before = ports_results(layout, probes)[rule_id]
        after = ports_results(layout, probes, waivers=[waiver(rule_id)])[rule_id]
    else:
        snap = None
        rule_id = {"fail": "default-sa-automount", "manual": "system-masters-use", "error": "psa-enforce"}[raw_status]
        if raw_status == "error":
            snap = _cluster_policy.empty_snapshot("test")
            snap["missing"] = {"Namespace": "forbidden (403)"}
        before = cluster_results([rule_id], snap)[rule_id]
        after = cluster_results([rule_id], snap, waivers=(waiver(rule_id),))[rule_id]
    # (check mode: a fixable node finding is would_fix before the waiver)
    assert before["status"] in (raw_status, "would_fix") and before["waiver"] is None
    if raw_status == "error":
        assert after["status"] == "error" and after["waiver"] is None
        assert "waiver for %s not applied" % rule_id in after["message"]
        assert after["message"].startswith(before["message"])
    else:
        assert after["status"] == "waived"
        assert after["waiver"] == {"id": rule_id, "reason": "accepted for the test", "expires": "2027-01-01"}
        assert after["changed_files"] == [] and after["actual"] == before["actual"]


def test_a_waiver_on_a_passing_rule_changes_nothing(tmp_path):
    assert node_results(tmp_path, "worker3", ["kubelet"], waivers=[waiver("4.2.4")])["kubelet-read-only-port"]["status"] == "pass"
    assert ports_results("hardened-worker", waivers=[waiver("ports-cadvisor-closed")])["ports-cadvisor-closed"]["status"] == "pass"
    passed = cluster_results(["pod-windows-hostprocess"], waivers=(waiver("5.2.10"),))["pod-windows-hostprocess"]
    assert passed["status"] == "pass" and passed["waiver"] is None


def test_an_expired_waiver_is_named_and_changes_nothing_else(tmp_path):
    old = waiver("ports-cadvisor-closed", expires="2026-01-01")
    result = ports_results("legacy-node", waivers=[old])["ports-cadvisor-closed"]
    assert result["status"] == "fail" and result["message"].endswith("waiver expired on 2026-01-01 (accepted for the test)")
    result = node_results(tmp_path, "cp1", ["kubelet"], waivers=[dict(old, id="4.2.4")])["kubelet-read-only-port"]
    assert result["status"] == "would_fix" and "waiver expired on 2026-01-01" in result["message"]
    result = cluster_results(["default-sa-automount"], waivers=(dict(old, id="5.1.5"),))["default-sa-automount"]
    assert result["status"] == "fail" and "waiver expired on 2026-01-01" in result["message"]


def test_waiver_expiry_as_yaml_reads_it():
    policy = _policy.Policy(waivers=({"id": "4.2.4", "reason": "r", "expires": datetime.date(2026, 5, 1)},), today=TODAY)
    assert policy.waive(_catalog.BY_ID["kubelet-read-only-port"], "fail").note == "waiver expired on 2026-05-01 (r)"


@pytest.mark.parametrize("bad", [{"id": "4.2.4"}, {"reason": "x"}, "4.2.4", {"id": "4.2.4", "reason": " "}])
def test_malformed_waivers_are_refused_in_every_area(bad):
    with pytest.raises(_policy.PolicyError, match="every waiver needs an id and a reason"):
        _policy.check_waivers([bad])
    with pytest.raises(_ports_evaluate.PortsOptionsError, match="every waiver needs an id and a reason"):
        ports_results("legacy-node", waivers=[bad])
    with pytest.raises(_cluster_policy.ClusterPolicyError, match="every waiver needs an id and a reason"):
        _cluster_policy.ClusterOptions(waivers=(bad,))


# -- selection -----------------------------------------------------------------------------------------------


def test_an_unknown_id_in_the_ports_selection_is_an_error():
    with pytest.raises(_ports_evaluate.PortsOptionsError, match="unknown rule ID.s.: ports-no-such-rule"):
        ports_results("legacy-node", rules=["ports-no-such-rule"])
    with pytest.raises(_ports_evaluate.PortsOptionsError, match="unknown rule ID.s.: 9.9"):
        ports_results("legacy-node", skip=["9.9"])


def test_another_areas_id_selects_nothing_here(tmp_path):
    assert ports_results("legacy-node", rules=["kubelet-read-only-port"]) == {}
    assert cluster_results([r.id for r in CLUSTER_RULES]) and _policy.select(CLUSTER_RULES, ["4.2"], catalog=_catalog.ALL_RULES).rules == ()
    assert node_results(tmp_path, "cp1", ["kubelet"], only=["ports-cadvisor-closed"]) == {}


def test_skipped_rules_are_reported_skipped_in_catalog_order_everywhere(tmp_path):
    node = node_results(tmp_path, "cp1", ["kubelet"], only=["4.2.1", "4.2.2", "4.2.4"], skip=["4.2.2"])
    assert [(i, r["status"]) for i, r in node.items()] == [
        ("kubelet-anonymous-auth", "would_fix"), ("kubelet-authorization-mode", "skipped"), ("kubelet-read-only-port", "would_fix")]
    ports = ports_results("legacy-node", skip=["ports-cadvisor-closed"])
    assert list(ports) == [r.id for r in PORTS_RULES] and ports["ports-cadvisor-closed"]["status"] == "skipped"
    cluster = _cluster_module_results(skip_rules=["5.1.3"], rules=["5.1"])
    assert [r["id"] for r in cluster] == [r.id for r in CLUSTER_RULES if (r.cis or "").startswith("5.1.")]
    skipped = [r for r in cluster if r["status"] == "skipped"]
    for result in (node["kubelet-authorization-mode"], ports["ports-cadvisor-closed"], *skipped):
        assert result["message"] == _policy.SKIPPED_MESSAGE
    assert [r["cis"] for r in skipped] == ["5.1.3"]


def _cluster_module_results(**params):
    from ansible_collections.kubefort.hardening.plugins.modules import cluster_policy

    args = {name: spec.get("default") for name, spec in cluster_policy.ARGUMENT_SPEC.items()}
    args.update(params, snapshot_files=[os.path.join(FIXTURES, "cluster", "kubeadm-insecure.json")])
    return cluster_policy.run_module(args, check_mode=True)["results"]


# -- levels --------------------------------------------------------------------------------------------------


def test_kubefort_level_applies_to_ports_rules():
    level2 = tuple(dataclasses.replace(r, level=2) if r.id == "ports-cadvisor-closed" else r for r in PORTS_RULES)
    listing = _sockets.listening_sockets(os.path.join(FIXTURES, "proc", "legacy-node"))
    at_1 = {r["id"]: r for r in _ports_evaluate.evaluate(listing, None, {"level": 1}, rules=level2)}
    at_2 = {r["id"]: r for r in _ports_evaluate.evaluate(listing, None, {"level": 2}, rules=level2)}
    assert at_1["ports-cadvisor-closed"]["status"] == "not_applicable"
    assert at_1["ports-cadvisor-closed"]["message"] == "level 2 rule; profile is level 1"
    assert at_2["ports-cadvisor-closed"]["status"] == "fail"


def test_the_level_gate_says_the_same_in_every_area(tmp_path):
    level2_node = node_results(tmp_path, "cp1", ["kubelet"])["kubelet-event-qps"]  # CIS 4.2.8 is level 2
    cluster = {r["id"]: r for r in _cluster_policy.results(_cluster_policy.evaluate(
        CLUSTER_RULES, _cluster_policy.empty_snapshot("t"), _cluster_policy.ClusterOptions(level=1)))}
    assert level2_node["message"] == cluster["secrets-in-env"]["message"] == "level 2 rule; profile is level 1"


# -- one type per concept ------------------------------------------------------------------------------------


def test_every_area_extends_the_one_policy():
    assert issubclass(_evaluate.NodeOptions, _policy.Policy)
    assert issubclass(_ports_evaluate.PortsOptions, _policy.Policy)
    assert issubclass(_cluster_policy.ClusterOptions, _policy.Policy)


def test_one_waiver_lookup_and_one_options_class_per_area():
    defined = {}
    for folder, _dirs, files in os.walk(PLUGINS):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(folder, name), encoding="utf-8") as handle:
                    text = handle.read()
                for match in re.finditer(r"^\s*(?:def (\w*waiver_for)\b|class (\w*Options)\b)", text, re.MULTILINE):
                    defined.setdefault(match.group(1) or match.group(2), []).append(name)
    assert defined.pop("waiver_for") == ["_policy.py"]
    assert all(len(files) == 1 for files in defined.values()), defined
