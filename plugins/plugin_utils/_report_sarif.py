# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The report as SARIF 2.1.0, for code-scanning views (for example of offline node images in a repository).

One run; a rule per kubefort rule ID; a result per finding that needs attention: open findings
(fail, would_fix, error) as ``kind: fail``, manual checks as ``kind: review``, waived findings as
``kind: fail`` with an external suppression. Passing, fixed, not applicable and skipped results are
left out (report.json has them). File locations are relative to the node's root (``NODEROOT``).
"""

from __future__ import annotations

import re
import typing as t

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
FILE_NAME = "report.sarif"
FINGERPRINT = "kubefortFinding/v1"
LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
# GitHub code scanning reads a rule's security-severity (0.0-10.0) to rank security alerts.
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "0.0"}
KIND = {"fail": "fail", "would_fix": "fail", "error": "fail", "manual": "review", "waived": "fail"}
PATH = re.compile(r"(?<![\w.-])(/[^\s:;,()]+)(?::(\d+))?")


def _location(host: t.Mapping[str, t.Any], result: t.Mapping[str, t.Any]) -> t.List[t.Dict[str, t.Any]]:
    logical = {"name": host["name"], "fullyQualifiedName": "%s/%s" % (host["name"], result["component"] or result["section"]),
               "kind": "module"}
    location: t.Dict[str, t.Any] = {"logicalLocations": [logical]}
    match = PATH.search(result["source"] or "") or next((PATH.search(p) for p in result["changed_files"] if PATH.search(p)), None)
    if match and host.get("kind") != "cluster":
        physical: t.Dict[str, t.Any] = {"artifactLocation": {"uri": match.group(1).lstrip("/"), "uriBaseId": "NODEROOT"}}
        if match.group(2):
            physical["region"] = {"startLine": int(match.group(2))}
        location["physicalLocation"] = physical
    return [location]


def _text(result: t.Mapping[str, t.Any]) -> str:
    actual = "(not found)" if result["actual"] is None else result["actual"]
    text = "%s: %s (actual %s, expected %s; from %s)." % (
        result["title"] or result["id"], result["status"], actual, result["expected"] or "-", result["source"] or "-")
    if result["message"]:
        text += " " + result["message"]
    if result["remediation"]:
        text += " Fix: " + result["remediation"]
    return text


def render(report: t.Mapping[str, t.Any]) -> t.Dict[str, t.Any]:
    run = report["run"]
    rules: t.List[t.Dict[str, t.Any]] = []
    index: t.Dict[str, int] = {}
    results = []
    for host in report["hosts"]:
        for result in host["results"]:
            if result["status"] not in KIND:
                continue
            if result["id"] not in index:
                index[result["id"]] = len(rules)
                rule: t.Dict[str, t.Any] = {
                    "id": result["id"],
                    "shortDescription": {"text": result["title"] or result["id"]},
                    "help": {"text": result["remediation"] or "See docs/rules.md of kubefort.hardening."},
                    "defaultConfiguration": {"level": LEVEL[result["severity"]]},
                    "properties": {
                        "tags": ["security", "kubernetes", "cis"],
                        "security-severity": SECURITY_SEVERITY[result["severity"]],
                        "section": result["section"],
                        "component": result["component"],
                        "references": result["references"],
                    },
                }
                if result["cis"]:
                    rule["name"] = "CIS " + result["cis"]
                rules.append(rule)
            item: t.Dict[str, t.Any] = {
                "ruleId": result["id"],
                "ruleIndex": index[result["id"]],
                "kind": KIND[result["status"]],
                "message": {"text": _text(result)},
                "locations": _location(host, result),
                "partialFingerprints": {FINGERPRINT: result["fingerprint"]},
                "properties": {
                    "host": host["name"],
                    "status": result["status"],
                    "severity": result["severity"],
                    "cis": result["cis"],
                    "actual": result["actual"],
                    "expected": result["expected"],
                    "source": result["source"],
                },
            }
            if item["kind"] == "fail":
                item["level"] = LEVEL[result["severity"]]
            else:
                item["level"] = "none"
            if result["status"] == "waived":
                waiver = result.get("waiver") or {}
                item["suppressions"] = [{"kind": "external", "status": "accepted",
                                         "justification": "%s (expires %s)" % (waiver.get("reason") or "waived", waiver.get("expires") or "never")}]
            results.append(item)
    sarif_run: t.Dict[str, t.Any] = {
        "tool": {"driver": {
            "name": "kubefort.hardening",
            "version": str(run.get("collection_version") or "unknown"),
            "informationUri": "https://example.invalid/kubefort/hardening",
            "rules": rules,
        }},
        "automationDetails": {"id": "kubefort/%s/" % (run.get("mode") or "check")},
        "originalUriBaseIds": {"NODEROOT": {"uri": "file:///", "description": {
            "text": "The node's file system root: / on a live node, kubefort_root on an offline node or image."}}},
        "invocations": [{"executionSuccessful": True, "endTimeUtc": run.get("generated")}] if run.get("generated") else [],
        "results": results,
        "properties": {"benchmark": run.get("benchmark"), "mode": run.get("mode"), "hosts": [h["name"] for h in report["hosts"]]},
    }
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [sarif_run]}
