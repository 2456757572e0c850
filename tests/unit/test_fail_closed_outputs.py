"""Fail closed in every output: a read error no rule names, and a host that failed, show up in each format.

A read error tied to a component already makes that component's rules ``error``. One that is tied to no
component (an unreadable static pod manifest that is not named after a component, such as an HA
load-balancer's) cannot be attributed to any rule, so the host gets one ``kubefort-read-error`` result: an
open error in the score, the gate and every format. A failed host gets its ``kubefort-host-failed`` result.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

from ansible_collections.kubefort.hardening.plugins.plugin_utils import _report_files, _report_model
from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options
from ansible_collections.kubefort.hardening.plugins.plugin_utils._harden import run, select_rules
from kubefort_testlib import call_module_factory, demo_node

HAPROXY = "/etc/kubernetes/manifests/haproxy.yaml"
UNREACHABLE = "unreachable: Failed to connect to the host via ssh: ssh: connect to host 127.0.0.1 port 9: Connection refused"


def audited(tmp_path):
    root = demo_node(tmp_path, "cp1")
    with open(os.path.join(root, HAPROXY.lstrip("/")), "wb") as handle:
        handle.write(bytes(range(256)) * 4)
    outcome = run(call_module_factory(check=True), root, select_rules(["kube-apiserver", "kubelet"], [], []), Options(),
                  True, "/var/lib/kubefort/backups", False)
    return outcome


def report_of(tmp_path):
    outcome = audited(tmp_path)
    hosts = [
        _report_model.build_host("cp1", outcome["results"], dict(outcome["host"], roles=["control_plane", "node"])),
        _report_model.build_host("gone", [], {"roles": ["node"]}, failures=[{"stage": "node", "reason": UNREACHABLE}]),
    ]
    return _report_model.build_report(hosts, {"mode": "check", "benchmark": "cis-1.12"}, "none")


def test_a_read_error_no_rule_names_is_an_open_error_result(tmp_path):
    outcome = audited(tmp_path)
    message = HAPROXY + " is not UTF-8 text"
    assert any(message in e for e in outcome["host"]["read_errors"])
    # No component is named after it: every rule of the API server still has its own verdict.
    assert not [r for r in outcome["results"] if message in (r.get("message") or "")]
    host = _report_model.build_host("cp1", outcome["results"], outcome["host"])
    extra = [r for r in host["results"] if r["id"] == _report_model.READ_ERROR_ID]
    assert len(extra) == 1 and extra[0]["status"] == "error" and message in extra[0]["message"]
    assert host["summary"]["by_status"]["error"] == 1 + len([r for r in outcome["results"] if r["status"] == "error"])
    # Built again from its own report entry (a merged slice), the host does not get a second one.
    again = _report_model.build_host("cp1", host["results"], host)
    assert [r["id"] for r in again["results"]].count(_report_model.READ_ERROR_ID) == 1


def test_a_read_error_a_rule_names_adds_nothing(tmp_path):
    root = demo_node(tmp_path, "cp1")
    with open(os.path.join(root, "etc/kubernetes/manifests/kube-apiserver.yaml"), "wb") as handle:
        handle.write(b"\xff\xfe")
    outcome = run(call_module_factory(check=True), root, select_rules(["kube-apiserver"], [], []), Options(), True,
                  "/var/lib/kubefort/backups", False)
    assert outcome["host"]["read_errors"]
    host = _report_model.build_host("cp1", outcome["results"], outcome["host"])
    assert _report_model.READ_ERROR_ID not in [r["id"] for r in host["results"]]


def test_every_format_shows_the_read_error_and_the_failed_host(tmp_path):
    report = report_of(tmp_path)
    files = _report_files.render_all(report, _report_files.FORMATS)
    read = HAPROXY + " is not UTF-8 text"
    assert report["summary"]["failed_hosts"] == ["gone"]

    data = json.loads(files["report.json"])
    hosts = {h["name"]: h for h in data["hosts"]}
    assert [r["status"] for r in hosts["cp1"]["results"] if r["id"] == "kubefort-read-error"] == ["error"]
    assert hosts["gone"]["failures"] == [{"stage": "node", "reason": UNREACHABLE}]

    for name, words in (("cp1", ["kubefort-read-error", read]), ("gone", ["kubefort-host-failed", "Connection refused"])):
        bench = json.loads(files["kube-bench/%s.json" % name])
        checks = [c for control in bench["Controls"] for group in control["tests"] for c in group["results"]]
        found = [c for c in checks if c["test_number"] == words[0]]
        assert len(found) == 1 and found[0]["status"] == "FAIL" and words[1] in found[0]["reason"], (name, found)
        assert bench["Totals"]["total_fail"] >= 1

    junit = ET.fromstring(files["report.xml"])
    for name, words in (("cp1", ["kubefort-read-error", read]), ("gone", ["kubefort-host-failed", "Connection refused"])):
        suite = next(s for s in junit.iter("testsuite") if s.get("name") == name)
        case = next(c for c in suite.iter("testcase") if words[0] in c.get("name"))
        assert case.find("error") is not None and words[1] in ET.tostring(case, encoding="unicode"), name

    markdown = files["report.md"].decode()
    assert "| gone | node |" in markdown and "Connection refused" in markdown and read in markdown
    html = files["report.html"].decode()
    assert 'class="card host-failed" data-host="gone"' in html and "FAILED (node)" in html
    assert "kubefort-read-error" in html and "is not UTF-8 text" in html

    sarif = json.loads(files[_report_files._report_sarif.FILE_NAME])
    sarif_ids = [r["ruleId"] for run_ in sarif["runs"] for r in run_["results"]]
    assert "kubefort-read-error" in sarif_ids and "kubefort-host-failed" in sarif_ids
    oscal = files[_report_files._report_oscal.FILE_NAME].decode()
    assert "kubefort-read-error" in oscal and "kubefort-host-failed" in oscal
    policy = files[_report_files._report_policy.FILE_NAME].decode()
    assert "kubefort-read-error" in policy and "kubefort-host-failed" in policy
    prometheus = files[_report_files._report_prometheus.FILE_NAME].decode()
    for name, rule in (("cp1", "kubefort-read-error"), ("gone", "kubefort-host-failed")):
        assert any(line.startswith("kubefort_finding{") and 'host="%s"' % name in line and 'rule="%s"' % rule in line
                   and 'status="error"' in line for line in prometheus.splitlines()), (name, rule)
