"""The report model: normalization of the facts, scores, the gate and the worst findings."""

from __future__ import annotations

import json
import os
from collections import Counter

import jsonschema
import pytest
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _report_model as model
from ansible_collections.kubefort.hardening.plugins.module_utils._rule import STATUSES
from test_report_samples import HOST_INFO, by_id, cluster, control_plane, worker

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


SEVERITIES = ["info", "low", "medium", "high", "critical"]
OPEN = ("fail", "would_fix", "error")
SCORED_PASS = ("pass", "fixed")


def inputs() -> dict:
    """What each host recorded: the engines' results on the sample fixtures (test_report_samples)."""
    return {"cp1": control_plane(), "node1": worker(), "cluster": cluster()}


def fleet(fail_on: str = "none") -> dict:
    given = inputs()
    hosts = [
        model.build_host("cp1", given["cp1"], HOST_INFO["cp1"]),
        model.build_host("node1", given["node1"], HOST_INFO["node1"]),
        model.build_host("cluster", given["cluster"], {"roles": ["cluster"]}, kind="cluster"),
    ]
    return model.build_report(hosts, RUN, fail_on)


def shown(score: object, unit: str = "%") -> str:
    """A score as the reports print it (one decimal, none when whole)."""
    if score is None:
        return "–"
    return ("%d" % score if float(score).is_integer() else "%.1f" % score) + unit


def counts_text(by_status: dict) -> str:
    """'2 pass, 1 would_fix': the non-zero counts in the order of the statuses."""
    return ", ".join("%d %s" % (by_status[s], s) for s in STATUSES if by_status.get(s))


def expected_score(results: list) -> object:
    counts = Counter(r["status"] for r in results)
    scored = sum(counts[s] for s in SCORED_PASS + OPEN)
    return round(100.0 * sum(counts[s] for s in SCORED_PASS) / scored, 1) if scored else None


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
    everything = [r for results in inputs().values() for r in results]
    summary = report["summary"]
    assert summary["total"] == len(everything)
    assert {k: n for k, n in summary["by_status"].items() if n} == Counter(r["status"] for r in everything)
    # manual, waived, not_applicable and skipped are not scored
    assert summary["score"] == pytest.approx(expected_score(everything))
    opened = [r for r in everything if r["status"] in OPEN]
    assert summary["open"] == len(opened) > 0
    assert summary["open_by_severity"] == {sev: sum(1 for r in opened if r["severity"] == sev) for sev in SEVERITIES}
    for host, given in zip(report["hosts"], inputs().values()):
        names = sorted({r["section"] for r in given}, key=model.section_key)
        assert [s["name"] for s in host["sections"]] == names
        for section in host["sections"]:
            assert section["score"] == expected_score([r for r in given if r["section"] == section["name"]])
    cp1 = {s["name"]: s for s in report["hosts"][0]["sections"]}
    # cp1 (the demo control plane) runs its API server with AlwaysAllow; etcd is as kubeadm set it up; section 3.1
    # holds only manual rules, which are not scored
    assert cp1["1.2 API Server"]["score"] < 100 and cp1["2 etcd"]["score"] == 100.0
    assert cp1["3.1 Authentication and Authorization"]["score"] is None
    fleet_sections = {s["name"]: s for s in summary["sections"]}
    assert list(fleet_sections) == sorted({r["section"] for r in everything}, key=model.section_key)
    kubelet = [r for r in everything if r["section"] == "4.2 Kubelet"]
    assert fleet_sections["4.2 Kubelet"]["by_status"]["pass"] == sum(1 for r in kubelet if r["status"] == "pass")
    assert fleet_sections["4.2 Kubelet"]["score"] == pytest.approx(expected_score(kubelet))
    assert list(fleet_sections)[-1].startswith("Ports")  # no CIS number: last


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


@pytest.mark.parametrize("fail_on", ["none"] + SEVERITIES[1:])
def test_gate_table(fail_on: str) -> None:
    at_least = SEVERITIES[SEVERITIES.index(fail_on):] if fail_on != "none" else []
    findings = sum(1 for results in inputs().values() for r in results if r["status"] in OPEN and r["severity"] in at_least)
    assert findings > 0 or fail_on == "none"
    assert fleet(fail_on)["summary"]["gate"] == {"fail_on": fail_on, "findings": findings, "failed": findings > 0}


def test_gate_passes_when_only_lower_findings_remain() -> None:
    # cp1's API server manifest is 0644: an open finding of medium severity
    manifest = by_id(control_plane(), "apiserver-manifest-permissions")
    assert (manifest["status"], manifest["severity"]) == ("would_fix", "medium")
    hosts = [model.build_host("cp1", [manifest], HOST_INFO["cp1"])]
    report = model.build_report(hosts, RUN, "high")
    assert report["summary"]["gate"] == {"fail_on": "high", "findings": 0, "failed": False}
    assert model.build_report(hosts, RUN, "medium")["summary"]["gate"]["failed"] is True


def test_gate_rejects_an_unknown_level() -> None:
    with pytest.raises(model.ReportInputError, match="kubefort_fail_on must be one of none, low, medium, high, critical"):
        model.gate({}, "severe")


def test_worst_findings_most_severe_first() -> None:
    report = fleet()
    worst = model.worst_findings(report["hosts"], 1000)
    opened = [(h["name"], r["id"]) for h in report["hosts"] for r in h["results"] if r["status"] in OPEN]
    assert sorted((w["host"], w["id"]) for w in worst) == sorted(opened)
    ranks = [SEVERITIES.index(w["severity"]) for w in worst]
    assert ranks == sorted(ranks, reverse=True)
    assert worst[0]["severity"] == "critical"
    hosts_in_order = [(w["severity"], w["host"]) for w in worst]
    assert hosts_in_order == sorted(hosts_in_order, key=lambda item: (-SEVERITIES.index(item[0]), item[1]))
    auth = next(w for w in worst if w["id"] == "apiserver-authorization-mode-not-alwaysallow")
    assert (auth["host"], auth["status"], auth["actual"], auth["severity"]) == ("cp1", "would_fix", "AlwaysAllow", "critical")
    assert len(model.worst_findings(report["hosts"], 1)) == 1


def test_awx_stats_are_compact_and_per_host() -> None:
    report = fleet("critical")
    stats = model.awx_stats(report, worst=2)
    assert stats["counts"] == report["summary"]["by_status"]
    assert stats["hosts"]["node1"]["would_fix"] == sum(1 for r in worker() if r["status"] == "would_fix") > 0
    assert stats["hosts"]["cp1"]["score"] == pytest.approx(expected_score(control_plane()))
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
