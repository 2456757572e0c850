# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The report as an OSCAL assessment-results document (JSON), for compliance tooling.

One result for the run; every host is an inventory item; every rule on every host is an observation
(method TEST for automated checks, EXAMINE for manual ones) whose relevant evidence holds the actual
value and where it came from; every rule that was decided (pass, fixed, open, manual, waived) is also a
finding whose target is the benchmark objective (``cis-1.12_1.2.6``) with state satisfied or
not-satisfied. UUIDs are derived (UUID v5) from the run and the finding's fingerprint.
"""

from __future__ import annotations

import typing as t
import uuid

OSCAL_VERSION = "1.1.2"
FILE_NAME = "oscal-assessment-results.json"
# Namespace of kubefort's own properties (the NIST namespace admits only its registered names).
NS = "https://example.invalid/kubefort/hardening/oscal"
UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://example.invalid/kubefort/hardening/oscal")
BENCHMARK_TITLES = {"cis-1.12": "CIS Kubernetes Benchmark v1.12.0", "cis-2.0": "CIS Kubernetes Benchmark v2.0.0"}
SATISFIED = {"pass": ("satisfied", "pass"), "fixed": ("satisfied", "pass"),
             "fail": ("not-satisfied", "fail"), "would_fix": ("not-satisfied", "fail"), "error": ("not-satisfied", "fail"),
             "manual": ("not-satisfied", "other"), "waived": ("not-satisfied", "other")}


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(UUID_NAMESPACE, "\n".join(parts)))


def _one_line(value: t.Any) -> str:
    """OSCAL property values are single-line strings without surrounding space."""
    return " ".join(str("" if value is None else value).split())


def _props(**values: t.Any) -> t.List[t.Dict[str, str]]:
    props = []
    for name, value in values.items():
        text = _one_line(value)
        if text:
            props.append({"name": name.replace("_", "-"), "ns": NS, "value": text})
    return props


def _objective(benchmark: str, result: t.Mapping[str, t.Any]) -> str:
    cis = result["references"].get(benchmark) or result["cis"]
    return "%s_%s" % (benchmark or "kubefort", cis) if cis else "kubefort_%s" % result["id"]


def render(report: t.Mapping[str, t.Any]) -> t.Dict[str, t.Any]:
    run = report["run"]
    generated = str(run.get("generated") or "1970-01-01T00:00:00+00:00")
    run_key = "%s/%s/%s" % (generated, run.get("mode"), ",".join(h["name"] for h in report["hosts"]))
    benchmarks = sorted({str(h.get("benchmark") or run.get("benchmark") or "") for h in report["hosts"]} - {""}) or [
        str(run.get("benchmark") or "cis-1.12")]
    resources = [
        {"uuid": _uuid("benchmark", b), "title": BENCHMARK_TITLES.get(b, b), "props": _props(benchmark=b)}
        for b in benchmarks
    ]
    items, observations, findings = [], [], []
    for host in report["hosts"]:
        host_uuid = _uuid("host", host["name"])
        items.append({
            "uuid": host_uuid,
            "description": "%s %s" % ("Cluster-wide API policy of" if host.get("kind") == "cluster" else "Kubernetes node", host["name"]),
            "props": _props(host=host["name"], kind=host.get("kind"), layout=host.get("layout"),
                            kubernetes_version=host.get("kubernetes_version"), roles=", ".join(host.get("roles") or []),
                            score=host["summary"]["score"]),
        })
        benchmark = str(host.get("benchmark") or run.get("benchmark") or "")
        for result in host["results"]:
            actual = "(not found)" if result["actual"] is None else result["actual"]
            observation_uuid = _uuid(run_key, "observation", result["fingerprint"])
            evidence = {
                "description": "Actual value %s, read from %s." % (_one_line(actual) or "(empty)", _one_line(result["source"]) or "(unknown)"),
                "props": _props(actual=actual, source=result["source"]),
            }
            if not evidence["props"]:
                del evidence["props"]
            observation = {
                "uuid": observation_uuid,
                "title": result["title"] or result["id"],
                "description": "%s on %s: %s (expected %s).%s" % (
                    result["id"], host["name"], result["status"], result["expected"] or "-",
                    " " + result["message"] if result["message"] else ""),
                "props": _props(fingerprint=result["fingerprint"], host=host["name"], rule=result["id"], cis=result["cis"],
                                status=result["status"], severity=result["severity"], component=result["component"]),
                "methods": ["TEST" if result["automated"] else "EXAMINE"],
                "subjects": [{"subject-uuid": host_uuid, "type": "inventory-item"}],
                "relevant-evidence": [evidence],
                "collected": generated,
            }
            observations.append(observation)
            if result["status"] not in SATISFIED:
                continue
            state, reason = SATISFIED[result["status"]]
            finding = {
                "uuid": _uuid(run_key, "finding", result["fingerprint"]),
                "title": "%s: %s" % (host["name"], result["title"] or result["id"]),
                "description": "%s is %s on %s. Fix: %s" % (result["id"], result["status"], host["name"], result["remediation"] or "-"),
                "props": _props(fingerprint=result["fingerprint"], severity=result["severity"], status=result["status"]),
                "target": {
                    "type": "objective-id",
                    "target-id": _objective(benchmark, result),
                    "status": {"state": state, "reason": reason},
                },
                "related-observations": [{"observation-uuid": observation_uuid}],
            }
            if result.get("waiver"):
                finding["remarks"] = "Waived: %s (expires %s)." % (result["waiver"].get("reason") or "-", result["waiver"].get("expires") or "never")
            findings.append(finding)
    assessment_result: t.Dict[str, t.Any] = {
        "uuid": _uuid(run_key, "result"),
        "title": "kubefort.hardening %s run" % (run.get("mode") or "check"),
        "description": "Kubernetes node and cluster settings checked against %s by kubefort.hardening (%s mode)."
        % (" and ".join(BENCHMARK_TITLES.get(b, b) for b in benchmarks), run.get("mode") or "check"),
        "start": generated,
        "end": generated,
        "props": _props(mode=run.get("mode"), benchmark=",".join(benchmarks), profile=run.get("profile"),
                        hosts_without_results=", ".join(run.get("hosts_without_results") or [])),
        "local-definitions": {"inventory-items": items} if items else {},
        "reviewed-controls": {
            "description": "The benchmark recommendations kubefort.hardening checks (docs/rules.md).",
            "control-selections": [{"include-all": {}}],
        },
    }
    if not assessment_result["local-definitions"]:
        del assessment_result["local-definitions"]
    if observations:
        assessment_result["observations"] = observations
    if findings:
        assessment_result["findings"] = findings
    return {
        "assessment-results": {
            "uuid": _uuid(run_key, "assessment-results"),
            "metadata": {
                "title": "kubefort.hardening assessment results",
                "last-modified": generated,
                "version": str(run.get("collection_version") or "unknown"),
                "oscal-version": OSCAL_VERSION,
            },
            # No separate assessment plan: the plan is the benchmark, described in back-matter.
            "import-ap": {"href": "#" + resources[0]["uuid"]},
            "results": [assessment_result],
            "back-matter": {"resources": resources},
        }
    }
