"""The report model: normalization of the facts, scores, the gate and the worst findings."""

from __future__ import annotations

import json
import os

import jsonschema
import pytest
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _report_model as model
from test_report_samples import HOST_INFO, cluster, control_plane, result, worker

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = {
    "generated": "2026-11-29T23:00:00+00:00",
    "mode": "check",
    "benchmark": "cis-1.12",
    "profile": "level1",
    "collection_version": "0.1.0",
    "ansible_version": "2.19.14",
    "hosts_without_results": [],
}


def schema() -> dict:
    with open(os.path.join(REPO, "docs", "report.schema.json"), encoding="utf-8") as handle:
        return json.load(handle)


def fleet(fail_on: str = "none") -> dict:
    hosts = [
        model.build_host("cp1", control_plane(), HOST_INFO["cp1"]),
        model.build_host("node1", worker(), HOST_INFO["node1"]),
        model.build_host("cluster", cluster(), {"roles": ["cluster"]}, kind="cluster"),
    ]
    return model.build_report(hosts, RUN, fail_on)


def test_report_follows_the_schema() -> None:
    report = json.loads(json.dumps(fleet("high")))
    jsonschema.Draft202012Validator.check_schema(schema())
    jsonschema.validate(report, schema(), format_checker=jsonschema.FormatChecker())


def test_schema_rejects_an_unknown_status() -> None:
    report = json.loads(json.dumps(fleet()))
    report["hosts"][0]["results"][0]["status"] = "ok"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(report, schema())


def test_counts_and_scores() -> None:
    report = fleet()
    summary = report["summary"]
    assert summary["total"] == 9
    assert summary["by_status"]["pass"] == 4
    assert summary["by_status"]["fail"] == 2
    assert summary["by_status"]["would_fix"] == 1
    # scored: 4 pass + 2 fail + 1 would_fix; manual and waived are not scored
    assert summary["score"] == pytest.approx(57.1)
    assert summary["open"] == 3
    assert summary["open_by_severity"] == {"info": 0, "low": 0, "medium": 0, "high": 2, "critical": 1}
    cp1 = report["hosts"][0]
    assert [s["name"] for s in cp1["sections"]] == ["1.1 Control Plane Node Configuration Files", "1.2 API Server", "4.2 Kubelet"]
    assert cp1["sections"][1]["score"] == 0.0
    assert cp1["sections"][0]["score"] == 100.0
    fleet_sections = {s["name"]: s for s in summary["sections"]}
    assert list(fleet_sections)[:2] == ["1.1 Control Plane Node Configuration Files", "1.2 API Server"]
    assert fleet_sections["4.2 Kubelet"]["by_status"]["pass"] == 2
    assert fleet_sections["4.2 Kubelet"]["score"] == pytest.approx(66.7)
    assert list(fleet_sections)[-1] == "Ports"


@pytest.mark.parametrize(
    "counts, expected",
    [
        ({}, None),
        ({"manual": 3, "waived": 1, "not_applicable": 2, "skipped": 1}, None),
        ({"pass": 1}, 100.0),
        ({"pass": 1, "fixed": 1, "fail": 1, "would_fix": 1}, 50.0),
        ({"pass": 2, "error": 1}, 66.7),
    ],
)
def test_score_table(counts: dict, expected: object) -> None:
    assert model.score(counts) == expected


@pytest.mark.parametrize(
    "fail_on, findings, failed",
    [("none", 0, False), ("low", 3, True), ("medium", 3, True), ("high", 3, True), ("critical", 1, True)],
)
def test_gate_table(fail_on: str, findings: int, failed: bool) -> None:
    assert fleet(fail_on)["summary"]["gate"] == {"fail_on": fail_on, "findings": findings, "failed": failed}


def test_gate_passes_when_only_lower_findings_remain() -> None:
    hosts = [model.build_host("node1", [result("kubelet-config-mode", "fail", actual="644")], HOST_INFO["node1"])]
    report = model.build_report(hosts, RUN, "high")
    assert report["summary"]["gate"] == {"fail_on": "high", "findings": 0, "failed": False}
    assert model.build_report(hosts, RUN, "medium")["summary"]["gate"]["failed"] is True


def test_gate_rejects_an_unknown_level() -> None:
    with pytest.raises(model.ReportInputError, match="kubefort_fail_on must be one of none, low, medium, high, critical"):
        model.gate({}, "severe")


def test_worst_findings_most_severe_first() -> None:
    worst = model.worst_findings(fleet()["hosts"], 10)
    assert [(w["host"], w["id"], w["severity"]) for w in worst] == [
        ("cp1", "apiserver-authorization-mode", "critical"),
        ("cluster", "cluster-anonymous-bindings", "high"),
        ("node1", "kubelet-read-only-port", "high"),
    ]
    assert len(model.worst_findings(fleet()["hosts"], 1)) == 1


def test_awx_stats_are_compact_and_per_host() -> None:
    stats = model.awx_stats(fleet("critical"), worst=2)
    assert stats["counts"]["fail"] == 2
    assert stats["hosts"]["node1"]["would_fix"] == 1
    assert stats["hosts"]["cp1"]["score"] == pytest.approx(66.7)
    assert len(stats["worst"]) == 2
    assert stats["gate"]["failed"] is True
    assert "comparison" not in stats
    json.dumps(stats)  # plain data only


def test_host_metadata_is_kept() -> None:
    host = model.build_host("cp1", control_plane(), {"layout": "kubeadm", "kubernetes_version": "1.31.4", "roles": "control_plane"})
    assert host["layout"] == "kubeadm"
    assert host["roles"] == ["control_plane"]
    assert host["root"] is None


def test_unknown_result_keys_are_dropped_and_missing_ones_defaulted() -> None:
    raw = {"id": "x-rule", "status": "pass", "severity": "low", "internal": object()}
    host = model.build_host("h", [raw])
    res = host["results"][0]
    assert "internal" not in res
    assert res["section"] == "other"
    assert res["actual"] is None and res["changed_files"] == [] and res["waiver"] is None


@pytest.mark.parametrize(
    "results, message",
    [
        ("not a list", "host h: kubefort_results must be a list of result dicts"),
        (["pass"], r"host h, kubefort_results\[0\] is a str, not a result dict"),
        ([{"id": "r", "severity": "low"}], r"kubefort_results\[0\] lacks status"),
        ([{"id": "r", "status": "ok", "severity": "low"}], "has unknown status 'ok'; use one of pass, fail"),
        ([{"id": "r", "status": "pass", "severity": "urgent"}], "has unknown severity 'urgent'"),
    ],
)
def test_bad_results_give_a_clear_error(results: object, message: str) -> None:
    with pytest.raises(model.ReportInputError, match=message):
        model.build_host("h", results)


def test_bad_host_info_gives_a_clear_error() -> None:
    with pytest.raises(model.ReportInputError, match="host h: kubefort_host must be a dict"):
        model.build_host("h", [], ["kubeadm"])


def test_sections_sort_numerically() -> None:
    names = ["Ports", "1.10 X", "1.2 API Server", "4.2 Kubelet", "1.1 Files"]
    assert sorted(names, key=model.section_key) == ["1.1 Files", "1.2 API Server", "1.10 X", "4.2 Kubelet", "Ports"]
