# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The report as Kubernetes ClusterPolicyReport objects (wgpolicyk8s.io/v1alpha2, the Policy WG's API).

One ClusterPolicyReport per node (scope: the Node of that name) and one for the cluster-wide results,
so policy-reporter and similar UIs show node hardening next to admission policy results. Nodes are
cluster-scoped objects, hence ClusterPolicyReport rather than the namespaced PolicyReport.
"""

from __future__ import annotations

import re
import typing as t

from ansible_collections.kubefort.hardening.plugins.plugin_utils._report_prometheus import timestamp

API_VERSION = "wgpolicyk8s.io/v1alpha2"
KIND = "ClusterPolicyReport"
PLURAL = "clusterpolicyreports"
FILE_NAME = "policy-reports.json"
SOURCE = "kubefort.hardening"
MANAGED_BY = {"app.kubernetes.io/managed-by": "kubefort.hardening"}
HOST_ANNOTATION = "kubefort.hardening/host"
FINGERPRINT = "fingerprint"

# our status -> the report API's result (pass, fail, warn, error, skip)
RESULT = {
    "pass": "pass", "fixed": "pass",
    "fail": "fail", "would_fix": "fail",
    "error": "error",
    "manual": "warn",
    "waived": "skip", "not_applicable": "skip", "skipped": "skip",
}
SUMMARY_KEYS = ("pass", "fail", "warn", "error", "skip")


def object_name(host: str, taken: t.Set[str]) -> str:
    """'kubefort-<host>' as a DNS-1123 subdomain (lower case, [a-z0-9.-]); duplicates get -2, -3."""
    safe = re.sub(r"[^a-z0-9.-]+", "-", host.lower())
    safe = re.sub(r"^[^a-z0-9]+|[^a-z0-9]+$", "", safe) or "host"
    base = ("kubefort-" + safe)[:240]
    name, number = base, 2
    while name in taken:
        name, number = "%s-%d" % (base, number), number + 1
    taken.add(name)
    return name


def _message(result: t.Mapping[str, t.Any]) -> str:
    actual = "(not found)" if result["actual"] is None else result["actual"]
    text = "%s: %s (actual %s, expected %s)" % (result["title"] or result["id"], result["status"], actual, result["expected"] or "-")
    if result["message"]:
        text += ". " + result["message"]
    return text


def _result(host: t.Mapping[str, t.Any], result: t.Mapping[str, t.Any], benchmark: str, seconds: int) -> t.Dict[str, t.Any]:
    properties = {
        "status": result["status"],
        FINGERPRINT: result["fingerprint"],
        "benchmark": benchmark,
        "actual": "(not found)" if result["actual"] is None else result["actual"],
        "expected": result["expected"],
        "source": result["source"],
        "remediation": result["remediation"],
        "level": str(result["level"]),
    }
    if result["cis"]:
        properties["cis"] = result["cis"]
    if result.get("waiver"):
        properties["waiver"] = "%s (expires %s)" % (result["waiver"].get("reason") or "", result["waiver"].get("expires") or "never")
    return {
        "source": SOURCE,
        "policy": "%s %s" % (benchmark, result["section"]) if benchmark else result["section"],
        "rule": result["id"],
        "category": result["component"] or result["section"],
        "severity": result["severity"],
        "result": RESULT[result["status"]],
        "scored": bool(result["automated"]),
        "message": _message(result),
        "timestamp": {"seconds": seconds, "nanos": 0},
        "properties": {key: value for key, value in properties.items() if value != ""},
    }


def documents(report: t.Mapping[str, t.Any]) -> t.List[t.Dict[str, t.Any]]:
    """One ClusterPolicyReport per host of the report, in report order."""
    run = report["run"]
    seconds = int(timestamp(run.get("generated")) or 0)
    taken: t.Set[str] = set()
    docs = []
    for host in report["hosts"]:
        benchmark = host.get("benchmark") or run.get("benchmark") or ""
        results = [_result(host, r, benchmark, seconds) for r in host["results"]]
        summary = {key: 0 for key in SUMMARY_KEYS}
        for item in results:
            summary[item["result"]] += 1
        doc: t.Dict[str, t.Any] = {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {
                "name": object_name(host["name"], taken),
                "labels": dict(MANAGED_BY),
                "annotations": {HOST_ANNOTATION: host["name"]},
            },
        }
        if host.get("kind") != "cluster":
            doc["scope"] = {"apiVersion": "v1", "kind": "Node", "name": host["name"]}
        doc["summary"] = summary
        doc["results"] = results
        docs.append(doc)
    return docs


def write_through_api(report: t.Mapping[str, t.Any], api: t.Mapping[str, t.Any]) -> t.Dict[str, int]:
    """Create or update every ClusterPolicyReport through the Kubernetes API; counts of created/updated.

    Raises _cluster_snapshot.ClusterAPIError with one line saying what to do.
    """
    from ansible_collections.kubefort.hardening.plugins.module_utils._cluster_snapshot import ClusterConnection

    auth = {key: api.get(key) for key in ("kubeconfig", "context", "in_cluster", "host", "api_key", "ca_cert", "validate_certs")}
    connection = ClusterConnection(auth, timeout=float(api.get("request_timeout") or 20))
    counts = {"created": 0, "updated": 0}
    collection = "/apis/%s/%s" % (API_VERSION, PLURAL)
    for doc in documents(report):
        counts[connection.create_or_update(collection, doc["metadata"]["name"], doc)] += 1
    return counts


def render(report: t.Mapping[str, t.Any]) -> t.Dict[str, t.Any]:
    """A v1 List of the reports: `kubectl apply -f policy-reports.json` creates or updates them all."""
    return {"apiVersion": "v1", "kind": "List", "items": documents(report)}
