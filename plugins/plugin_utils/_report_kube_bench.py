# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""One host's results in kube-bench's JSON layout (``kube-bench run --json``), for tools that read it.

Layout: ``{"Controls": [Controls...], "Totals": {total_pass, total_fail, total_warn, total_info}}``;
Controls ``{id, version, detected_version, text, node_type, tests: [Group...], total_*}``; Group
``{section, type, pass, fail, warn, info, desc, results: [Check...]}``; Check ``{test_number,
test_desc, audit, AuditEnv, AuditConfig, type, remediation, test_info, status, actual_value, scored,
IsMultiple, expected_result, reason}`` (``reason`` only when there is one). Status mapping and the
choices made are in docs/reports.md.
"""

from __future__ import annotations

import re
import typing as t

from ansible_collections.kubefort.hardening.plugins.plugin_utils._report_model import (
    section_key,
)

# Our status -> kube-bench state. kube-bench itself reports manual checks as WARN, skipped ones as INFO
# and checks whose audit failed as FAIL (scored) - we follow the same conventions.
STATE = {
    "pass": "PASS",
    "fixed": "PASS",
    "fail": "FAIL",
    "would_fix": "FAIL",
    "error": "FAIL",
    "manual": "WARN",
    "waived": "INFO",
    "not_applicable": "INFO",
    "skipped": "INFO",
}
# kube-bench's controls files: top-level CIS section -> (text, node_type).
CONTROLS = {
    "1": ("Control Plane Security Configuration", "master"),
    "2": ("Etcd Node Configuration", "etcd"),
    "3": ("Control Plane Configuration", "controlplane"),
    "4": ("Worker Node Security Configuration", "node"),
    "5": ("Kubernetes Policies", "policies"),
}
OTHER_CONTROLS = ("kubefort", "kubefort checks without a CIS Benchmark ID", "node")
TOTAL_KEYS = {"PASS": "total_pass", "FAIL": "total_fail", "WARN": "total_warn", "INFO": "total_info"}
GROUP_KEYS = {"PASS": "pass", "FAIL": "fail", "WARN": "warn", "INFO": "info"}


def _group_id(result: t.Mapping[str, t.Any]) -> t.Tuple[str, str]:
    """(section id, description) of the result's group, e.g. ('1.2', 'API Server')."""
    match = re.match(r"^(\d+(?:\.\d+)*)\s*(.*)$", result["section"])
    if match:
        return match.group(1), match.group(2) or result["section"]
    if result["cis"] and "." in result["cis"]:
        return result["cis"].rsplit(".", 1)[0], result["section"]
    return result["section"], result["section"]


def _reason(result: t.Mapping[str, t.Any]) -> str:
    status = result["status"]
    if status == "waived" and result.get("waiver"):
        waiver = result["waiver"]
        return "waived: %s (expires %s)" % (waiver.get("reason") or "no reason given", waiver.get("expires") or "never")
    prefix = {
        "fixed": "fixed by kubefort.hardening",
        "would_fix": "kubefort.hardening would fix this (check mode)",
        "error": "the check could not be evaluated",
        "not_applicable": "not applicable on this host",
        "skipped": "skipped by configuration",
        "manual": "Test marked as a manual test",
        "waived": "waived",
    }.get(status, "")
    message = result.get("message") or ""
    return "; ".join(part for part in (prefix, message) if part)


def check(result: t.Mapping[str, t.Any], benchmark: str = "") -> t.Dict[str, t.Any]:
    """One result as a kube-bench Check, numbered by its ID in ``benchmark``."""
    state = STATE[result["status"]]
    kind = ""
    if result["status"] == "manual":
        kind = "manual"
    elif result["status"] in ("waived", "skipped", "not_applicable"):
        kind = "skip"
    entry: t.Dict[str, t.Any] = {
        "test_number": (result.get("references") or {}).get(benchmark) or result["cis"] or result["id"],
        "test_desc": "%s (%s)" % (result["title"] or result["id"], "Automated" if result["automated"] else "Manual"),
        "audit": result["source"],
        "AuditEnv": "",
        "AuditConfig": "",
        "type": kind,
        "remediation": result["remediation"],
        "test_info": [result["remediation"]],
        "status": state,
        "actual_value": result["actual"] if result["actual"] is not None else "",
        "scored": bool(result["automated"]),
        "IsMultiple": False,
        "expected_result": result["expected"],
    }
    reason = _reason(result)
    if reason:
        entry["reason"] = reason
    return entry


def _totals() -> t.Dict[str, int]:
    return {key: 0 for key in TOTAL_KEYS.values()}


def host_document(host: t.Mapping[str, t.Any], benchmark: str) -> t.Dict[str, t.Any]:
    """kube-bench's OverallControls for one host of the report."""
    controls: t.Dict[str, t.Dict[str, t.Any]] = {}
    groups: t.Dict[t.Tuple[str, str], t.Dict[str, t.Any]] = {}
    totals = _totals()
    for result in host["results"]:
        group_id, desc = _group_id(result)
        top = group_id.split(".")[0] if result["cis"] else OTHER_CONTROLS[0]
        text, node_type = CONTROLS.get(top, OTHER_CONTROLS[1:])
        if top not in controls:
            controls[top] = {
                "id": top,
                "version": benchmark,
                "detected_version": host.get("kubernetes_version") or "",
                "text": text,
                "node_type": node_type,
                "tests": [],
            }
            controls[top].update(_totals())
        if (top, group_id) not in groups:
            group = {"section": group_id, "type": "", "pass": 0, "fail": 0, "warn": 0, "info": 0, "desc": desc, "results": []}
            groups[(top, group_id)] = group
            controls[top]["tests"].append(group)
        entry = check(result, benchmark)
        group = groups[(top, group_id)]
        group["results"].append(entry)
        group[GROUP_KEYS[entry["status"]]] += 1
        controls[top][TOTAL_KEYS[entry["status"]]] += 1
        totals[TOTAL_KEYS[entry["status"]]] += 1
    ordered = sorted(controls.values(), key=lambda c: section_key(c["id"]))
    for item in ordered:
        item["tests"].sort(key=lambda g: section_key(g["section"]))
    return {"Controls": ordered, "Totals": totals}


def file_name(host_name: str, taken: t.Set[str]) -> str:
    """A safe, unique file name for one host's kube-bench JSON."""
    base = re.sub(r"[^A-Za-z0-9._-]", "_", host_name).strip(".") or "host"
    name, counter = base, 2
    while name in taken:
        name = "%s-%d" % (base, counter)
        counter += 1
    taken.add(name)
    return name + ".json"
