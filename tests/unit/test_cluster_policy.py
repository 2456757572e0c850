"""Snapshot loading (saved kubectl / API output) and remediation planning of the cluster policy core."""

from __future__ import annotations

import copy
import datetime
import json
import os
import typing as t

import pytest

from ansible_collections.kubefort.hardening.plugins.module_utils import _cluster_policy as cp
from ansible_collections.kubefort.hardening.plugins.module_utils._rules_cluster import RULES

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "cluster", "kubeadm-insecure.json")
BY_ID = {rule.id: rule for rule in RULES}


def fixture() -> dict:
    with open(FIXTURE, encoding="utf-8") as f:
        return json.load(f)


def fixture_snapshot() -> dict:
    return cp.snapshot_from_documents([fixture()], "fixture")


def run(rule_ids: t.Sequence[str], snap: dict, applied: t.Optional[dict] = None, check_mode: bool = False,
        **options: t.Any) -> t.Tuple[t.List[cp.Action], t.Dict[str, dict]]:
    outcomes = cp.evaluate([BY_ID[i] for i in rule_ids], snap, cp.Options(level=2, **options))
    actions = cp.plan(outcomes)
    if applied is None:
        applied = {a.key: None for a in actions}
    return actions, {r["id"]: r for r in cp.results(outcomes, applied, check_mode)}


# -- loading saved output ---------------------------------------------------------------------------------


def test_kubectl_list_with_every_kind() -> None:
    snap = fixture_snapshot()
    assert cp.counts(snap)["Pod"] == 8 and cp.counts(snap)["ClusterRoleBinding"] == 20
    assert snap["unseen"] == [] and snap["missing"] == {}


def test_api_list_items_without_kind() -> None:
    """The API server's PodList items carry no kind; kubectl adds it, a raw API dump does not."""
    pods = [dict((k, v) for k, v in o.items() if k not in ("kind", "apiVersion")) for o in fixture()["items"] if o["kind"] == "Pod"]
    snap = cp.snapshot_from_documents([{"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": pods}], "raw")
    assert len(snap["kinds"]["Pod"]) == 8 and all(p["kind"] == "Pod" for p in snap["kinds"]["Pod"])
    assert "Pod" not in snap["unseen"] and "Namespace" in snap["unseen"]


def test_empty_list_of_a_kind_counts_as_seen() -> None:
    snap = cp.snapshot_from_documents([{"kind": "NetworkPolicyList", "apiVersion": "networking.k8s.io/v1", "items": []}], "raw")
    assert "NetworkPolicy" not in snap["unseen"]


def test_several_documents_in_one_file() -> None:
    items = fixture()["items"]
    text = "\n".join(json.dumps({"apiVersion": "v1", "kind": "List", "items": [o]}) for o in items[:5]) + "\n"
    docs = cp.parse_json_documents(text, "dump.json")
    assert len(docs) == 5
    assert sum(cp.counts(cp.snapshot_from_documents(docs, "dump")).values()) == 5


def test_saved_snapshot_round_trip() -> None:
    snap = fixture_snapshot()
    snap["missing"] = {"NetworkPolicy": "API group/version networking.k8s.io/v1 is not served by this cluster (404)"}
    again = cp.snapshot_from_documents([json.loads(json.dumps(snap))], "saved")
    assert cp.counts(again) == cp.counts(snap) and again["missing"] == snap["missing"]


@pytest.mark.parametrize("text, words", [
    ("", "is empty"),
    ("{not json", "is not JSON"),
    ('{"items": []}', "without 'kind'"),
    ("[1, 2]", "expected Kubernetes objects"),
])
def test_bad_dumps_get_a_clear_error(text: str, words: str) -> None:
    with pytest.raises(cp.ClusterPolicyError, match=words):
        cp.snapshot_from_documents(cp.parse_json_documents(text, "dump.json"), "dump.json")


def test_unseen_kind_is_said_in_the_result() -> None:
    namespaces = [o for o in fixture()["items"] if o["kind"] == "Namespace"]
    snap = cp.snapshot_from_documents([{"kind": "List", "apiVersion": "v1", "items": namespaces}], "ns only")
    result = run(["namespace-network-policy"], snap)[1]["namespace-network-policy"]
    assert result["status"] == "fail"
    assert "the snapshot holds no NetworkPolicy objects" in result["message"]


def test_missing_kind_makes_its_rules_errors_only() -> None:
    snap = fixture_snapshot()
    snap["missing"]["NetworkPolicy"] = "API group/version networking.k8s.io/v1 is not served by this cluster (404)"
    results = run(["namespace-network-policy", "pod-privileged"], snap)[1]
    assert results["namespace-network-policy"]["status"] == "error"
    assert "networking.k8s.io/v1 is not served" in results["namespace-network-policy"]["message"]
    assert results["pod-privileged"]["status"] == "fail"


# -- remediation planning -----------------------------------------------------------------------------------


def test_audit_only_plans_nothing() -> None:
    actions, results = run([r.id for r in RULES], fixture_snapshot(), applied={})
    assert actions == []
    assert "would_fix" not in {r["status"] for r in results.values()}


def test_default_service_accounts() -> None:
    actions, results = run(["default-sa-automount"], fixture_snapshot(), remediate=True)
    assert {(a.method, a.kind, a.namespace) for a in actions} == {
        ("PATCH", "ServiceAccount", ns) for ns in ("default", "kube-node-lease", "kube-public", "kube-system", "shop", "monitoring")}
    assert all(a.body == {"automountServiceAccountToken": False} for a in actions)
    assert results["default-sa-automount"]["status"] == "fixed"
    assert run(["default-sa-automount"], fixture_snapshot(), remediate=True, fix_default_service_accounts=False)[0] == []


def test_check_mode_says_would_fix() -> None:
    results = run(["default-sa-automount"], fixture_snapshot(), check_mode=True, remediate=True)[1]
    assert results["default-sa-automount"]["status"] == "would_fix"
    assert "would set automountServiceAccountToken: false" in results["default-sa-automount"]["message"]


def test_anonymous_bindings_delete_or_patch() -> None:
    snap = fixture_snapshot()
    for crb in snap["kinds"]["ClusterRoleBinding"]:
        if crb["metadata"]["name"] == "secret-reader-dev":
            crb["metadata"]["annotations"] = {cp.AUTOUPDATE: "true"}
    actions, results = run(["rbac-anonymous-access"], snap, remediate=True)
    by_name = {a.name: a for a in actions}
    assert by_name["anonymous-status"].method == "DELETE"
    patch = by_name["secret-reader-dev"]
    assert patch.method == "PATCH"
    assert patch.body["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "dev-team"}]
    assert patch.body["metadata"]["resourceVersion"]  # optimistic concurrency: a changed binding gets 409
    assert patch.body["metadata"]["annotations"] == {cp.AUTOUPDATE: "false"}
    assert "kubeadm:bootstrap-signer-clusterinfo" not in by_name
    assert results["rbac-anonymous-access"]["status"] == "fixed"


def test_psa_labels_warn_audit_first_then_enforce() -> None:
    actions, results = run(["psa-enforce"], fixture_snapshot(), remediate=True)
    shop = next(a for a in actions if a.name == "shop")
    # shop already has warn=baseline: never overwritten, only audit is added
    assert shop.body == {"metadata": {"labels": {"pod-security.kubernetes.io/audit": "baseline"}}}
    assert "kube-system" not in {a.name for a in actions}
    assert results["psa-enforce"]["status"] == "fail"  # labels added, nothing enforced yet
    assert "Namespace shop did label pod-security.kubernetes.io/audit=baseline" in results["psa-enforce"]["message"]
    assert "these changes alone do not close the findings" in results["psa-enforce"]["message"]

    actions, results = run(["psa-enforce"], fixture_snapshot(), remediate=True, psa_enforce=True, psa_level="restricted")
    default = next(a for a in actions if a.name == "default")
    assert default.body["metadata"]["labels"] == {f"pod-security.kubernetes.io/{m}": "restricted" for m in ("warn", "audit", "enforce")}
    monitoring = next(a for a in actions if a.name == "monitoring")
    assert "pod-security.kubernetes.io/enforce" not in monitoring.body["metadata"]["labels"]  # explicit privileged kept
    assert results["psa-enforce"]["status"] == "fail"
    assert "4 of 5 fixed; still open: 1: namespace monitoring" in results["psa-enforce"]["message"]

    snap = fixture_snapshot()
    snap["kinds"]["Namespace"] = [n for n in snap["kinds"]["Namespace"] if n["metadata"]["name"] != "monitoring"]
    assert run(["psa-enforce"], snap, remediate=True, psa_enforce=True)[1]["psa-enforce"]["status"] == "fixed"


def test_default_deny_only_in_listed_namespaces() -> None:
    actions, results = run(["namespace-network-policy"], fixture_snapshot(), remediate=True, default_deny_namespaces=("shop", "payments"))
    assert [(a.method, a.namespace, a.name) for a in actions] == [("POST", "shop", "kubefort-default-deny")]
    assert actions[0].body["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    assert actions[0].body["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "kubefort.hardening"}
    assert results["namespace-network-policy"]["status"] == "fail"  # other namespaces still have none
    with pytest.raises(cp.ClusterPolicyError, match="do not exist: nope"):
        run(["namespace-network-policy"], fixture_snapshot(), remediate=True, default_deny_namespaces=("nope",))


def test_failed_write_is_an_error_result() -> None:
    snap = fixture_snapshot()
    actions = run(["default-sa-automount"], snap, remediate=True)[0]
    applied = {a.key: None for a in actions}
    applied[actions[0].key] = '403 Forbidden: serviceaccounts "default" is forbidden'
    result = run(["default-sa-automount"], snap, applied=applied, remediate=True)[1]["default-sa-automount"]
    assert result["status"] == "error"
    assert "fix failed for ServiceAccount default/default: 403 Forbidden" in result["message"]


def test_waiver_reports_and_blocks_the_fix() -> None:
    waiver = {"id": "5.1.5", "reason": "legacy apps use the default account", "expires": "2099-01-01"}
    actions, results = run(["default-sa-automount"], fixture_snapshot(), remediate=True, waivers=(waiver,))
    assert actions == []
    assert results["default-sa-automount"]["status"] == "waived"
    assert results["default-sa-automount"]["waiver"] == waiver
    expired = dict(waiver, expires="2020-01-01")
    results = run(["default-sa-automount"], fixture_snapshot(), remediate=True, waivers=(expired,),
                  today=datetime.date(2026, 11, 30))[1]
    assert results["default-sa-automount"]["status"] == "fixed"
    assert "waiver expired on 2020-01-01" in results["default-sa-automount"]["message"]
    with pytest.raises(cp.ClusterPolicyError, match="YYYY-MM-DD"):
        run(["default-sa-automount"], fixture_snapshot(), waivers=(dict(waiver, expires="soon"),))


def test_level_one_profile() -> None:
    outcomes = cp.evaluate([BY_ID["pod-root"], BY_ID["pod-privileged"]], fixture_snapshot(), cp.Options(level=1))
    statuses = [r["status"] for r in cp.results(outcomes)]
    assert statuses == ["not_applicable", "fail"]


def test_diff_shows_changed_fields() -> None:
    actions = run(["default-sa-automount", "namespace-network-policy"], fixture_snapshot(), remediate=True,
                  default_deny_namespaces=("shop",))[0]
    diff = cp.diff_of(actions)
    assert diff[0]["before_header"] == "ServiceAccount default/default (before)"
    assert json.loads(diff[0]["after"]) == {"automountServiceAccountToken": False}
    assert diff[-1]["before"] == "" and '"kubefort-default-deny"' in diff[-1]["after"]


@pytest.mark.parametrize("options, words", [
    ({"psa_level": "privileged"}, "psa_level must be"),
    ({"default_deny_policy_types": ("Both",)}, "Ingress and/or Egress"),
])
def test_bad_options(options: dict, words: str) -> None:
    with pytest.raises(cp.ClusterPolicyError, match=words):
        cp.Options(**options)


def test_results_use_the_report_model() -> None:
    outcomes = cp.evaluate(RULES, copy.deepcopy(fixture_snapshot()), cp.Options(level=2))
    for result in cp.results(outcomes):
        assert result["component"] == "cluster"
        assert set(result) >= {"id", "cis", "references", "title", "section", "severity", "level", "status", "actual",
                               "expected", "source", "remediation", "automated", "message", "waiver", "changed_files"}
        assert result["source"].startswith("fixture: ")
