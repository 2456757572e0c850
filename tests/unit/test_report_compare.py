"""Comparison with a previous report: new, fixed, regressed (keyed by host and rule)."""

from __future__ import annotations

import json

import pytest
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _report_compare as compare
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _report_model as model
from test_report_model import RUN
from test_report_samples import result


def report(statuses: dict) -> dict:
    """A report with one host per key; statuses maps host -> {rule id: status}."""
    hosts = [model.build_host(name, [result(rule, status) for rule, status in rules.items()]) for name, rules in statuses.items()]
    return model.build_report(hosts, RUN)


@pytest.mark.parametrize(
    "before, now, kind",
    [
        ("pass", "fail", "regressed"),
        ("fixed", "would_fix", "regressed"),
        ("pass", "error", "regressed"),
        ("fail", "pass", "fixed"),
        ("would_fix", "fixed", "fixed"),
        ("error", "pass", "fixed"),
        (None, "fail", "new"),
        ("manual", "fail", "new"),
        ("waived", "would_fix", "new"),
        ("not_applicable", "fail", "new"),
        ("fail", "would_fix", "still_open"),
        ("fail", "fail", "still_open"),
        ("pass", "pass", None),
        ("fail", "waived", None),
        ("fail", "manual", None),
        (None, "pass", None),
    ],
)
def test_change_table(before: object, now: str, kind: object) -> None:
    old = report({"node1": {"kubelet-read-only-port": before}} if before else {"node1": {}})
    new = report({"node1": {"kubelet-read-only-port": now}})
    got = compare.compare(new, old, "old.json")
    for name in ("new", "fixed", "regressed", "still_open"):
        assert got["counts"][name] == (1 if name == kind else 0), name
    if kind in ("new", "fixed", "regressed"):
        entry = got[kind][0]
        assert entry == {
            "host": "node1",
            "id": "kubelet-read-only-port",
            "cis": "4.2.4",
            "title": entry["title"],
            "severity": "high",
            "status": now,
            "previous_status": before,
        }


def test_same_rule_on_another_host_is_new() -> None:
    old = report({"node1": {"kubelet-read-only-port": "fail"}})
    new = report({"node1": {"kubelet-read-only-port": "fail"}, "node2": {"kubelet-read-only-port": "fail"}})
    got = compare.compare(new, old)
    assert [(e["host"], e["id"]) for e in got["new"]] == [("node2", "kubelet-read-only-port")]
    assert got["counts"]["still_open"] == 1


def test_open_findings_of_vanished_hosts_are_listed_as_gone() -> None:
    old = report({"node9": {"kubelet-read-only-port": "fail", "kubelet-anonymous-auth": "pass"}})
    got = compare.compare(report({}), old)
    assert got["gone"] == ["node9/kubelet-read-only-port"]
    assert got["counts"]["gone"] == 1


def test_previous_metadata(tmp_path) -> None:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report({"node1": {"kubelet-read-only-port": "fail"}})))
    previous = compare.load_previous(str(path))
    got = compare.compare(report({"node1": {"kubelet-read-only-port": "pass"}}), previous, str(path))
    assert got["previous"] == {"path": str(path), "generated": RUN["generated"], "mode": "check"}
    assert got["counts"]["fixed"] == 1


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "does not exist. Point it at the report.json of an earlier run"),
        ("{not json", "is not a readable JSON report"),
        (b"\xff\xfe", "is not a readable JSON report"),
        ('{"kind": "something-else"}', "is not a kubefort report.json"),
        ('["list"]', "is not a kubefort report.json"),
        ('{"kind": "kubefort-report", "schema_version": "2.0", "hosts": []}', "has schema_version '2.0'; this collection reads 1.x"),
        ('{"kind": "kubefort-report", "schema_version": "1.0", "hosts": {}}', 'has no valid "hosts" list'),
        ('{"kind": "kubefort-report", "schema_version": "1.0", "hosts": [{"name": "x"}]}', 'has no valid "hosts" list'),
    ],
)
def test_unusable_previous_report_gives_a_clear_error(tmp_path, content: object, message: str) -> None:
    path = tmp_path / "previous.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(model.ReportInputError, match="kubefort_report_compare: .*" + message.replace("(", r"\(").replace(")", r"\)")):
        compare.load_previous(str(path))
