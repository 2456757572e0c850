# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The report as JUnit XML: one test suite per host, one test case per host and rule.

fail and would_fix are failures, error is an error, manual/waived/not_applicable/skipped are skipped,
pass and fixed pass. Failures carry the actual and expected values, the source and the fix.
"""

from __future__ import annotations

import re
import typing as t
import xml.etree.ElementTree as ET

FAILURE = ("fail", "would_fix")
ERROR = ("error",)
SKIPPED = ("manual", "waived", "not_applicable", "skipped")
# Characters XML 1.0 cannot carry at all (a result may quote raw file bytes).
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(value: t.Any) -> str:
    return _INVALID_XML.sub("\ufffd", "" if value is None else str(value))


def _details(result: t.Mapping[str, t.Any]) -> str:
    lines = [
        "rule: %s%s" % (result["id"], " (CIS %s)" % result["cis"] if result["cis"] else ""),
        "severity: %s" % result["severity"],
        "status: %s" % result["status"],
        "actual: %s" % ("(not found)" if result["actual"] is None else result["actual"]),
        "expected: %s" % result["expected"],
        "source: %s" % (result["source"] or "-"),
        "remediation: %s" % (result["remediation"] or "-"),
    ]
    if result["message"]:
        lines.append("message: %s" % result["message"])
    if result.get("waiver"):
        lines.append("waiver: %s (expires %s)" % (result["waiver"].get("reason"), result["waiver"].get("expires")))
    if result["changed_files"]:
        lines.append("changed files: %s" % ", ".join(result["changed_files"]))
    return "\n".join(lines)


def _classname(host: str, result: t.Mapping[str, t.Any]) -> str:
    # CI servers split class names at dots into package and class: host as package, component as class.
    return "%s.%s" % (host.replace(".", "_"), (result["component"] or "kubefort").replace(".", "_"))


def _testcase(suite: ET.Element, host: str, result: t.Mapping[str, t.Any]) -> str:
    name = "%s %s: %s" % (result["cis"] or "-", result["id"], result["title"] or result["id"])
    case = ET.SubElement(suite, "testcase", name=_clean(name), classname=_clean(_classname(host, result)), time="0")
    status = result["status"]
    if status in FAILURE:
        message = "%s: actual %s, expected %s. Fix: %s" % (
            status,
            "(not found)" if result["actual"] is None else result["actual"],
            result["expected"],
            result["remediation"] or "-",
        )
        node = ET.SubElement(case, "failure", message=_clean(message), type=status)
        node.text = _clean(_details(result))
        return "failures"
    if status in ERROR:
        node = ET.SubElement(case, "error", message=_clean(result["message"] or "the check could not be evaluated"), type=status)
        node.text = _clean(_details(result))
        return "errors"
    out = ET.SubElement(case, "system-out")
    out.text = _clean(_details(result))
    if status in SKIPPED:
        case.remove(out)
        ET.SubElement(case, "skipped", message=_clean("%s%s" % (status, ": " + result["message"] if result["message"] else "")))
        case.append(out)
        return "skipped"
    return "passed"


def render(report: t.Mapping[str, t.Any]) -> bytes:
    """The JUnit XML document (UTF-8 bytes, with declaration)."""
    timestamp = str(report["run"].get("generated", ""))[:19]
    root = ET.Element("testsuites", name="kubefort.hardening")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for host in report["hosts"]:
        suite = ET.SubElement(root, "testsuite", name=_clean(host["name"]))
        properties = ET.SubElement(suite, "properties")
        for key in ("kind", "layout", "kubernetes_version", "version_source", "benchmark", "benchmark_reason", "mode"):
            if host.get(key):
                ET.SubElement(properties, "property", name=key, value=_clean(host[key]))
        if host.get("roles"):
            ET.SubElement(properties, "property", name="roles", value=_clean(",".join(host["roles"])))
        if host["summary"]["score"] is not None:
            ET.SubElement(properties, "property", name="score", value=str(host["summary"]["score"]))
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for result in host["results"]:
            outcome = _testcase(suite, host["name"], result)
            counts["tests"] += 1
            if outcome in counts:
                counts[outcome] += 1
        if host.get("read_errors"):
            err = ET.SubElement(suite, "system-err")
            err.text = _clean("\n".join("read error: %s" % m for m in host["read_errors"]))
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("time", "0")
        if len(timestamp) == 19:
            suite.set("timestamp", timestamp)
        suite.set("hostname", _clean(host["name"]))
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", "0")
    ET.indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8", xml_declaration=False) + b"\n"
