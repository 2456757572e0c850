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
from test_report_samples import HOST_INFO, cluster, control_plane, result, worker

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


@pytest.mark.parametrize("results", [control_plane(), worker(), cluster(), control_plane() + worker()])
def test_layout_field_by_field(results: list) -> None:
    doc = document(results)
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
    check = document([result("kubelet-read-only-port", status, actual="10255")])["Controls"][0]["tests"][0]["results"][0]
    assert (check["status"], check["type"]) == (state, kind)
    assert ("reason" in check) == (status not in ("pass", "fail"))


def test_check_values() -> None:
    res = result("kubelet-read-only-port", "would_fix", actual="10255", source="flag --read-only-port in /proc/812/cmdline")
    doc = document([res])
    controls = doc["Controls"][0]
    assert (controls["id"], controls["text"], controls["node_type"], controls["detected_version"]) == (
        "4", "Worker Node Security Configuration", "node", "1.31.4")
    group = controls["tests"][0]
    assert (group["section"], group["desc"], group["fail"]) == ("4.2", "Kubelet", 1)
    check = group["results"][0]
    assert check["test_number"] == "4.2.4"
    assert check["test_desc"] == "Verify that if defined, the --read-only-port argument is set to 0 (Automated)"
    assert check["audit"] == "flag --read-only-port in /proc/812/cmdline"
    assert check["actual_value"] == "10255"
    assert check["expected_result"] == "0"
    assert check["remediation"] == "Set readOnlyPort: 0 in /var/lib/kubelet/config.yaml"
    assert check["test_info"] == [check["remediation"]]  # kube-bench appends the remediation to test_info
    assert check["scored"] is True
    assert check["reason"] == "kubefort.hardening would fix this (check mode)"


def test_totals_add_up() -> None:
    doc = document(control_plane() + worker())
    for key, group_key in (("total_pass", "pass"), ("total_fail", "fail"), ("total_warn", "warn"), ("total_info", "info")):
        assert doc["Totals"][key] == sum(c[key] for c in doc["Controls"])
        for controls in doc["Controls"]:
            assert controls[key] == sum(g[group_key] for g in controls["tests"])
            for group in controls["tests"]:
                assert group[group_key] == sum(1 for r in group["results"] if r["status"].lower() == group_key)
    assert doc["Totals"] == {"total_pass": 4, "total_fail": 2, "total_warn": 1, "total_info": 1}


def test_controls_and_groups_in_benchmark_order() -> None:
    doc = document(worker() + control_plane() + cluster())
    assert [c["id"] for c in doc["Controls"]] == ["1", "4", "5", "kubefort"]
    assert [g["section"] for g in doc["Controls"][0]["tests"]] == ["1.1", "1.2"]
    assert doc["Controls"][2]["node_type"] == "policies"
    other = doc["Controls"][3]["tests"][0]["results"][0]
    assert other["test_number"] == "kubelet-cadvisor-port"  # no CIS ID: our rule ID
    assert other["reason"] == "waived: legacy monitoring until Q3 (expires 2027-01-01)"


def test_manual_rule_is_not_scored_and_absent_value_is_empty() -> None:
    check = document([result("cluster-anonymous-bindings", "manual")])["Controls"][0]["tests"][0]["results"][0]
    assert check["scored"] is False
    assert check["test_desc"].endswith("(Manual)")
    assert check["actual_value"] == ""


def test_file_names_are_safe_and_unique() -> None:
    taken: set = set()
    assert kb.file_name("node1.example.com", taken) == "node1.example.com.json"
    assert kb.file_name("../etc/passwd", taken) == "_etc_passwd.json"
    assert kb.file_name("a b", taken) == "a_b.json"
    assert kb.file_name("a/b", taken) == "a_b-2.json"
