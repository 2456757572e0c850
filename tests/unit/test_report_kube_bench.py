"""kube-bench-compatible JSON, checked field by field against kube-bench's JSON layout.

The layout is kube-bench's ``run --json`` output (Go structs in its check/controls.go and check/check.go):
OverallControls {Controls, Totals}; Controls {id, version, detected_version, text, node_type, tests,
total_pass, total_fail, total_warn, total_info}; Group {section, type, pass, fail, warn, info, desc,
results}; Check {test_number, test_desc, audit, AuditEnv, AuditConfig, type, remediation, test_info,
status, actual_value, scored, IsMultiple, expected_result, reason (omitted when empty)}. Go writes the
fields in declaration order, and so do we.
"""

from __future__ import annotations

import json
import typing as t

import pytest
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _report_kube_bench as kb
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _report_model as model
from test_report_samples import HOST_INFO, broken_worker, by_id, cluster, control_plane, result, worker

SAMPLES = {"control_plane": control_plane, "worker": worker, "broken_worker": broken_worker, "cluster": cluster}

TOP = ["Controls", "Totals"]
TOTALS = {"total_pass": int, "total_fail": int, "total_warn": int, "total_info": int}
CONTROLS = {"id": str, "version": str, "detected_version": str, "text": str, "node_type": str, "tests": list, **TOTALS}
GROUP = {"section": str, "type": str, "pass": int, "fail": int, "warn": int, "info": int, "desc": str, "results": list}
CHECK = {
    "test_number": str,
    "test_desc": str,
    "audit": str,
    "AuditEnv": str,
    "AuditConfig": str,
    "type": str,
    "remediation": str,
    "test_info": list,
    "status": str,
    "actual_value": str,
    "scored": bool,
    "IsMultiple": bool,
    "expected_result": str,
}
NODE_TYPES = {"master", "node", "etcd", "controlplane", "policies"}


def document(results: list, info: t.Optional[dict] = None) -> dict:
    host = model.build_host("h", results, info or HOST_INFO["node1"])
    # round trip through JSON, as a reader sees the file
    return json.loads(json.dumps(kb.host_document(host, "cis-1.12")))


def assert_fields(obj: dict, spec: dict, optional: tuple = ()) -> None:
    keys = [k for k in obj if k not in optional]
    assert keys == list(spec), "keys or their order differ from kube-bench's layout"
    for key, kind in spec.items():
        exact = isinstance(obj[key], kind) and not (kind is int and isinstance(obj[key], bool))
        assert exact, "%s is %s, kube-bench writes %s" % (key, type(obj[key]).__name__, kind.__name__)


@pytest.mark.parametrize("sample", ["control_plane", "worker", "broken_worker", "cluster", "control_plane+worker"])
def test_layout_field_by_field(sample: str) -> None:
    doc = document([r for name in sample.split("+") for r in SAMPLES[name]()])
    assert list(doc) == TOP
    assert_fields(doc["Totals"], TOTALS)
    for controls in doc["Controls"]:
        assert_fields(controls, CONTROLS)
        assert controls["node_type"] in NODE_TYPES
        assert controls["version"] == "cis-1.12"
        for group in controls["tests"]:
            assert_fields(group, GROUP)
            for check in group["results"]:
                assert_fields(check, CHECK, optional=("reason",))
                assert check["status"] in ("PASS", "FAIL", "WARN", "INFO")
                assert check["type"] in ("", "manual", "skip")
                assert all(isinstance(item, str) for item in check["test_info"])
                if "reason" in check:
                    assert isinstance(check["reason"], str) and check["reason"]


@pytest.mark.parametrize(
    "status, state, kind",
    [
        ("pass", "PASS", ""),
        ("fixed", "PASS", ""),
        ("fail", "FAIL", ""),
        ("would_fix", "FAIL", ""),
        ("error", "FAIL", ""),
        ("manual", "WARN", "manual"),
        ("waived", "INFO", "skip"),
        ("not_applicable", "INFO", "skip"),
        ("skipped", "INFO", "skip"),
    ],
)
def test_status_mapping(status: str, state: str, kind: str) -> None:
    # one rule in each status, by hand: the mapping is per status, whatever the fixture
    check = document([result("kubelet-read-only-port", status, actual="10255")])["Controls"][0]["tests"][0]["results"][0]
    assert (check["status"], check["type"]) == (state, kind)
    assert ("reason" in check) == (status not in ("pass", "fail"))


def test_check_values() -> None:
    # worker1's /etc/default/kubelet sets --read-only-port=10255 over a good config file
    res = by_id(worker(), "kubelet-read-only-port")
    doc = document([res], HOST_INFO["cp1"])
    controls = doc["Controls"][0]
    assert (controls["id"], controls["text"], controls["node_type"], controls["detected_version"]) == (
        "4", "Worker Node Security Configuration", "node", "1.28.7")
    group = controls["tests"][0]
    assert (group["section"], group["desc"], group["fail"]) == ("4.2", "Kubelet", 1)
    check = group["results"][0]
    assert check["test_number"] == "4.2.4"
    assert check["test_desc"] == res["title"] + " (Automated)"
    assert check["audit"] == res["source"] == "--read-only-port at /etc/default/kubelet:1"
    assert check["actual_value"] == "10255"
    assert check["expected_result"] == "0"
    assert check["remediation"] == res["remediation"]
    assert check["test_info"] == [check["remediation"]]  # kube-bench appends the remediation to test_info
    assert check["scored"] is True
    # the status's words, then the result's own message (what the engine said about this kubelet)
    assert check["reason"] == "; ".join(p for p in ("kubefort.hardening would fix this (check mode)", res["message"]) if p)


def test_totals_add_up() -> None:
    doc = document(control_plane() + worker())
    for key, group_key in (("total_pass", "pass"), ("total_fail", "fail"), ("total_warn", "warn"), ("total_info", "info")):
        assert doc["Totals"][key] == sum(c[key] for c in doc["Controls"])
        for controls in doc["Controls"]:
            assert controls[key] == sum(g[group_key] for g in controls["tests"])
            for group in controls["tests"]:
                assert group[group_key] == sum(1 for r in group["results"] if r["status"].lower() == group_key)
    statuses = [r["status"] for r in control_plane() + worker()]
    assert doc["Totals"] == {
        "total_pass": sum(statuses.count(s) for s in ("pass", "fixed")),
        "total_fail": sum(statuses.count(s) for s in ("fail", "would_fix", "error")),
        "total_warn": statuses.count("manual"),
        "total_info": sum(statuses.count(s) for s in ("waived", "not_applicable", "skipped")),
    }


def test_controls_and_groups_in_benchmark_order() -> None:
    doc = document(worker() + control_plane() + cluster())
    assert [c["id"] for c in doc["Controls"]] == ["1", "2", "3", "4", "5", "kubefort"]
    assert [g["section"] for g in doc["Controls"][0]["tests"]] == ["1.1", "1.2", "1.3", "1.4"]
    assert doc["Controls"][4]["node_type"] == "policies"
    other = [r for g in doc["Controls"][5]["tests"] for r in g["results"]]
    # rules without a CIS ID keep our rule ID: the cAdvisor port (waived on node1) and the ports rules
    assert "waived: legacy monitoring until Q3 (expires 2027-01-01)" in [
        r.get("reason") for r in other if r["test_number"] == "kubelet-cadvisor-port"]
    assert "ports-kubelet-readonly-closed" in [r["test_number"] for r in other]


def test_manual_rule_is_not_scored_and_absent_value_is_empty() -> None:
    manual = by_id(control_plane(), "apiserver-request-timeout")  # 1.2.20: the operator decides
    check = document([manual])["Controls"][0]["tests"][0]["results"][0]
    assert manual["status"] == "manual" and check["scored"] is False
    assert check["test_desc"].endswith("(Manual)")
    unset = by_id(worker(), "kubelet-tls-cert")  # 4.2.9: neither a serving certificate nor serverTLSBootstrap
    assert unset["actual"] is None
    assert document([unset])["Controls"][0]["tests"][0]["results"][0]["actual_value"] == ""


def test_file_names_are_safe_and_unique() -> None:
    taken: set = set()
    assert kb.file_name("node1.example.com", taken) == "node1.example.com.json"
    assert kb.file_name("../etc/passwd", taken) == "_etc_passwd.json"
    assert kb.file_name("a b", taken) == "a_b.json"
    assert kb.file_name("a/b", taken) == "a_b-2.json"
