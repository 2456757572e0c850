# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The report model: every host's results aggregated into one document (docs/report.schema.json).

Everything else (kube-bench JSON, JUnit, Markdown, HTML, AWX stats) is rendered from the document
that build_report() returns, so all outputs agree.
"""

from __future__ import annotations

import hashlib
import json
import re
import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils import _benchmark
from ansible_collections.kubefort.hardening.plugins.module_utils._rule import (
    SEVERITIES,
    STATUSES,
)
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _kubeadm_render, _kubeadm_upgrade

SCHEMA_VERSION = "1.0"
CLUSTER_HOST = "cluster"
DEFAULT_BENCHMARK = "cis-1.12"

# What a status means for the score and the gate (docs/reports.md explains the choices).
PASSED = ("pass", "fixed")
OPEN = ("fail", "would_fix", "error")
SCORED = PASSED + OPEN
FAIL_ON_LEVELS = ("none",) + SEVERITIES[1:]
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}

REQUIRED_RESULT_KEYS = ("id", "status", "severity")
RESULT_DEFAULTS: t.Dict[str, t.Any] = {
    "cis": None,
    "references": {},
    "title": "",
    "component": "",
    "section": "",
    "level": 1,
    "actual": None,
    "expected": "",
    "source": "",
    "remediation": "",
    "automated": False,
    "message": "",
    "waiver": None,
    "changed_files": [],
    # kubeadm nodes: whether the next kubeadm upgrade would write the setting back (_kubeadm_upgrade).
    "kubeadm": None,
}
HOST_KEYS = ("layout", "kubernetes_version", "version_source", "benchmark", "benchmark_reason", "roles", "root", "mode")
# Host metadata kept as data: per component {version, source}; rules whose verdict needs the unknown version.
HOST_DATA_KEYS = ("component_versions", "version_dependent_rules")
# The result a host gets for each stage that failed on it (missing root, unreachable, module failure,
# rollback): an open error, so a failed host never looks better and every output shows it.
HOST_FAILED_ID = "kubefort-host-failed"
# The result a host gets for what discovery could not read and no rule's error names (a file that is not
# tied to one component: a broken k3s/RKE2 config.yaml, an unreadable file in the static pod directory, an
# etcd config file): an open error, so the host never looks better for it and every format shows it.
READ_ERROR_ID = "kubefort-read-error"


class ReportInputError(ValueError):
    """The facts handed to the report are not in the result model (docs/architecture.md)."""


def empty_counts() -> t.Dict[str, int]:
    return {status: 0 for status in STATUSES}


def score(counts: t.Mapping[str, int]) -> t.Optional[float]:
    """Percentage of scored results that pass (pass or fixed); None when nothing is scored."""
    scored = sum(counts.get(s, 0) for s in SCORED)
    if not scored:
        return None
    return round(100.0 * sum(counts.get(s, 0) for s in PASSED) / scored, 1)


def summarize(results: t.Iterable[t.Mapping[str, t.Any]]) -> t.Dict[str, t.Any]:
    counts = empty_counts()
    open_by_severity = {severity: 0 for severity in SEVERITIES}
    total = kubeadm_reverts = 0
    for result in results:
        total += 1
        kubeadm_reverts += 1 if (result.get("kubeadm") or {}).get("reverted") else 0
        counts[result["status"]] += 1
        if result["status"] in OPEN:
            open_by_severity[result["severity"]] += 1
    return {
        "total": total,
        "by_status": counts,
        "open_by_severity": open_by_severity,
        "open": sum(open_by_severity.values()),
        "score": score(counts),
        "kubeadm_reverts": kubeadm_reverts,
    }


def section_key(section: str) -> t.Tuple[t.Any, ...]:
    """Sort '1.2 API Server' before '1.10 ...' and named sections after numbered ones."""
    match = re.match(r"^(\d+(?:\.\d+)*)\b", section or "")
    if not match:
        return (1, (), section)
    return (0, tuple(int(part) for part in match.group(1).split(".")), section)


def _normalize_result(raw: t.Any, host: str, index: int) -> t.Dict[str, t.Any]:
    where = "host %s, kubefort_results[%d]" % (host, index)
    if not isinstance(raw, t.Mapping):
        raise ReportInputError(
            "%s is a %s, not a result dict. Build results with make_result() "
            "(plugins/module_utils/_rule.py)." % (where, type(raw).__name__)
        )
    missing = [key for key in REQUIRED_RESULT_KEYS if not raw.get(key)]
    if missing:
        raise ReportInputError("%s lacks %s. Build results with make_result()." % (where, ", ".join(missing)))
    if raw["status"] not in STATUSES:
        raise ReportInputError(
            "%s (%s) has unknown status %r; use one of %s." % (where, raw["id"], raw["status"], ", ".join(STATUSES))
        )
    if raw["severity"] not in SEVERITIES:
        raise ReportInputError(
            "%s (%s) has unknown severity %r; use one of %s."
            % (where, raw["id"], raw["severity"], ", ".join(SEVERITIES))
        )
    result = dict(RESULT_DEFAULTS)
    result.update({key: raw[key] for key in raw if key in RESULT_DEFAULTS or key in REQUIRED_RESULT_KEYS})
    result["id"] = str(result["id"])
    result["actual"] = None if result["actual"] is None else str(result["actual"])
    for key in ("title", "component", "section", "expected", "source", "remediation", "message"):
        result[key] = "" if result[key] is None else str(result[key])
    result["cis"] = None if result["cis"] in (None, "") else str(result["cis"])
    result["references"] = {str(k): str(v) for k, v in dict(result["references"] or {}).items()}
    result["level"] = int(result["level"] or 1)
    result["automated"] = bool(result["automated"])
    result["changed_files"] = [str(path) for path in result["changed_files"] or []]
    if result["waiver"] is not None:
        result["waiver"] = {str(k): (None if v is None else str(v)) for k, v in dict(result["waiver"]).items()}
    if not result["section"]:
        result["section"] = result["component"] or "other"
    result["kubeadm"] = _normalize_kubeadm(result["kubeadm"])
    return result


def _normalize_kubeadm(raw: t.Any) -> t.Optional[t.Dict[str, t.Any]]:
    if not isinstance(raw, t.Mapping):
        return None
    reverted = raw.get("reverted")
    return {
        "by": str(raw.get("by") or ""),
        "reverted": None if reverted is None else bool(reverted),
        "detail": str(raw.get("detail") or ""),
        "keep": dict(raw["keep"]) if isinstance(raw.get("keep"), t.Mapping) else None,
        "api_version": None if not raw.get("api_version") else str(raw["api_version"]),
    }


def kubeadm_summary(results: t.Iterable[t.Mapping[str, t.Any]]) -> t.Dict[str, t.Any]:
    """How many results a kubeadm upgrade would revert, how many of those kubeadm's configuration can keep,
    and the ClusterConfiguration fragment that keeps them (for kubeadm configurations kept in git)."""
    reverted = [r for r in results if (r.get("kubeadm") or {}).get("reverted")]
    keeps = [r["kubeadm"]["keep"] for r in reverted if r["kubeadm"].get("keep")]
    version = next((r["kubeadm"]["api_version"] for r in reverted if r["kubeadm"].get("api_version")), None)
    unique = [json.loads(k) for k in dict.fromkeys(json.dumps(k, sort_keys=True) for k in keeps)]
    return {
        "reverted": len(reverted),
        "keepable": len(keeps),
        "fragment": _kubeadm_upgrade.fragment(version or _kubeadm_render.V1BETA4, unique) if unique else "",
    }


def _normalize_host_info(raw: t.Any, host: str) -> t.Dict[str, t.Any]:
    if raw is None:
        raw = {}
    if not isinstance(raw, t.Mapping):
        raise ReportInputError("host %s: kubefort_host must be a dict (layout, kubernetes_version, roles, ...)." % host)
    info: t.Dict[str, t.Any] = {key: raw.get(key) for key in HOST_KEYS}
    roles = info["roles"]
    if isinstance(roles, str):
        roles = [roles]
    info["roles"] = [str(role) for role in roles or []]
    for key in HOST_KEYS:
        if key != "roles":
            info[key] = None if info[key] in (None, "") else str(info[key])
    versions = raw.get("component_versions") or {}
    if not isinstance(versions, t.Mapping):
        raise ReportInputError("host %s: kubefort_host.component_versions must be a dict." % host)
    info["component_versions"] = {
        str(name): {"version": None if not (v or {}).get("version") else str(v["version"]),
                    "source": None if not (v or {}).get("source") else str(v["source"])}
        for name, v in sorted(versions.items()) if isinstance(v, t.Mapping) or v is None
    }
    info["version_dependent_rules"] = [str(r) for r in raw.get("version_dependent_rules") or []]
    return info


def fingerprint(host: str, rule_id: str, subject: str) -> str:
    """The finding's identity in every run and every format: host, rule and the object it is about.

    The subject is the component the rule checks (kube-apiserver, kubelet, ports, cluster ...), not the
    file or line the value came from: those move when a fix writes the value elsewhere, and the same
    finding must keep its fingerprint from open to fixed. 32 hex digits of SHA-256.
    """
    text = "kubefort-finding/1\n%s\n%s\n%s" % (host, rule_id, subject)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def failure_result(stage: str, reason: str) -> t.Dict[str, t.Any]:
    """The error result that stands for a stage that failed on a host."""
    result = dict(RESULT_DEFAULTS)
    result.update(
        id=HOST_FAILED_ID, status="error", severity="high", component="kubefort", section="kubefort",
        title="The host was audited and hardened completely (%s)" % stage,
        expected="the %s stage completes on this host" % stage, message=reason,
        remediation="Fix the cause named in the message, then run again.",
    )
    return result


def read_error_result(messages: t.Sequence[str]) -> t.Dict[str, t.Any]:
    """The error result that stands for read errors no other result of the host names."""
    result = dict(RESULT_DEFAULTS)
    result.update(
        id=READ_ERROR_ID, status="error", severity="high", component="kubefort", section="kubefort",
        title="Every file that configures the node could be read",
        expected="every configuration file read, decoded and parsed", message="; ".join(messages),
        remediation="Fix the file named in the message (kubefort cannot tell which settings it holds), then run again.",
    )
    return result


def unattributed_read_errors(read_errors: t.Iterable[str], results: t.Iterable[t.Mapping[str, t.Any]]) -> t.List[str]:
    """The read errors that no ``error`` result of the host carries in its message."""
    messages = [str(r.get("message") or "") for r in results if r.get("status") == "error"]
    return [e for e in read_errors if not any(e.rstrip(". ") in m for m in messages)]


def _normalize_failures(raw: t.Any, host: str) -> t.List[t.Dict[str, str]]:
    if raw is None:
        return []
    if not isinstance(raw, (list, tuple)):
        raw = [raw]
    failures = []
    for item in raw:
        if isinstance(item, t.Mapping):
            failures.append({"stage": str(item.get("stage") or "run"), "reason": str(item.get("reason") or item.get("msg") or "failed")})
        else:
            failures.append({"stage": "run", "reason": str(item)})
    return failures


def build_host(name: str, results: t.Any, info: t.Any = None, kind: str = "node", failures: t.Any = None) -> t.Dict[str, t.Any]:
    """One host's entry: metadata, summary, per-section scores and its results in catalog order; each
    failed stage (``failures``: ``[{stage, reason}]``) adds an error result."""
    if results is None:
        results = []
    if not isinstance(results, (list, tuple)):
        raise ReportInputError("host %s: kubefort_results must be a list of result dicts." % name)
    normalized = [_normalize_result(raw, name, index) for index, raw in enumerate(results)]
    host_failures = _normalize_failures(failures, name)
    normalized.extend(failure_result(f["stage"], f["reason"]) for f in host_failures)
    read = (info or {}).get("read_errors") if isinstance(info, t.Mapping) else None
    read_errors = [str(e) for e in read or []]
    unattributed = unattributed_read_errors(read_errors, normalized)
    if unattributed:
        normalized.append(read_error_result(unattributed))
    for result in normalized:
        result["fingerprint"] = fingerprint(name, result["id"], result["component"] or result["section"])
    host = {"name": name, "kind": kind}
    host.update(_normalize_host_info(info, name))
    host["read_errors"] = read_errors
    host["failures"] = host_failures
    host["summary"] = summarize(normalized)
    host["sections"] = section_summaries(normalized)
    host["results"] = normalized
    return host


def section_summaries(results: t.Iterable[t.Mapping[str, t.Any]]) -> t.List[t.Dict[str, t.Any]]:
    """Counts and score per report section, in benchmark order."""
    sections: t.Dict[str, t.List[t.Mapping[str, t.Any]]] = {}
    for result in results:
        sections.setdefault(result["section"], []).append(result)
    return [dict(name=section, **_section_summary(sections[section])) for section in sorted(sections, key=section_key)]


def _section_summary(results: t.List[t.Mapping[str, t.Any]]) -> t.Dict[str, t.Any]:
    summary = summarize(results)
    return {"total": summary["total"], "by_status": summary["by_status"], "open": summary["open"], "score": summary["score"]}


def gate(open_by_severity: t.Mapping[str, int], fail_on: str) -> t.Dict[str, t.Any]:
    """Whether open findings at or above fail_on remain (fail_on 'none' never fails)."""
    if fail_on not in FAIL_ON_LEVELS:
        raise ReportInputError("kubefort_fail_on must be one of %s, not %r." % (", ".join(FAIL_ON_LEVELS), fail_on))
    if fail_on == "none":
        return {"fail_on": fail_on, "findings": 0, "failed": False}
    threshold = SEVERITY_RANK[fail_on]
    findings = sum(count for severity, count in open_by_severity.items() if SEVERITY_RANK[severity] >= threshold)
    return {"fail_on": fail_on, "findings": findings, "failed": findings > 0}


def worst_findings(hosts: t.Iterable[t.Mapping[str, t.Any]], limit: int = 10) -> t.List[t.Dict[str, t.Any]]:
    """The open findings, most severe first (then host and rule order), in a compact form."""
    found = []
    for host in hosts:
        for order, result in enumerate(host["results"]):
            if result["status"] in OPEN:
                found.append((-SEVERITY_RANK[result["severity"]], host["name"], order, host["name"], result))
    found.sort(key=lambda item: item[:3])
    return [
        {
            "host": name,
            "id": result["id"],
            "cis": result["cis"],
            "severity": result["severity"],
            "status": result["status"],
            "title": result["title"],
            "actual": result["actual"],
            "expected": result["expected"],
        }
        for _sev, _host, _order, name, result in found[: max(limit, 0)]
    ]


def build_report(
    hosts: t.Sequence[t.Mapping[str, t.Any]],
    run: t.Mapping[str, t.Any],
    fail_on: str = "none",
) -> t.Dict[str, t.Any]:
    """The whole report document from host entries (build_host) and run metadata."""
    run = dict(run)
    run["benchmark"] = assign_benchmarks(hosts, str(run.get("benchmark") or _benchmark.AUTO))
    run["benchmarks"] = sorted({str(h["benchmark"]) for h in hosts if h.get("benchmark")})
    all_results = [result for host in hosts for result in host["results"]]
    summary = summarize(all_results)
    summary["hosts"] = len(hosts)
    summary["failed_hosts"] = [host["name"] for host in hosts if host.get("failures")]
    summary["sections"] = section_summaries(all_results)
    summary["gate"] = gate(summary["open_by_severity"], fail_on)
    summary["kubeadm"] = kubeadm_summary(all_results)
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "kubefort-report",
        "run": run,
        "summary": summary,
        "hosts": list(hosts),
        "comparison": None,
    }


def assign_benchmarks(hosts: t.Sequence[t.Mapping[str, t.Any]], setting: str) -> str:
    """Name the benchmark of every host (in place) and return the setting.

    An explicit setting applies to every host. ``auto`` keeps what node_harden chose from the host's
    version; a host without that choice (the cluster pseudo-host, a host audited only by the ports role)
    gets it from its own version, the cluster from its control-plane hosts' versions when they agree.
    """
    try:
        _benchmark.select(setting, None)
    except ValueError as exc:
        raise ReportInputError(str(exc)) from None
    control_plane = sorted({str(h["kubernetes_version"]) for h in hosts
                            if h.get("kind") != "cluster" and "control_plane" in (h.get("roles") or []) and h.get("kubernetes_version")})
    for host in hosts:
        entry = t.cast(t.Dict[str, t.Any], host)
        if setting != _benchmark.AUTO or not entry.get("benchmark"):
            version = entry.get("kubernetes_version")
            if entry.get("kind") == "cluster" and not version and len(control_plane) == 1:
                version = control_plane[0]
                entry["kubernetes_version"] = version
                entry["version_source"] = "the control-plane hosts"
            chosen, reason = _benchmark.select(setting, version)
            if setting == _benchmark.AUTO and entry.get("kind") == "cluster" and not version and len(control_plane) > 1:
                reason = "control-plane hosts run different versions (%s): %s used" % (", ".join(control_plane), chosen)
            entry["benchmark"], entry["benchmark_reason"] = chosen, reason
    return setting


def awx_stats(report: t.Mapping[str, t.Any], worst: int = 10) -> t.Dict[str, t.Any]:
    """The compact dict the role hands to set_stats (AWX job artifacts)."""
    summary = report["summary"]
    stats = {
        "schema_version": report["schema_version"],
        "mode": report["run"].get("mode"),
        "score": summary["score"],
        "total": summary["total"],
        "open": summary["open"],
        "counts": summary["by_status"],
        "open_by_severity": summary["open_by_severity"],
        "hosts": {
            host["name"]: dict(score=host["summary"]["score"], open=host["summary"]["open"], **host["summary"]["by_status"])
            for host in report["hosts"]
        },
        "worst": worst_findings(report["hosts"], worst),
        "gate": summary["gate"],
        "failed_hosts": {host["name"]: host["failures"] for host in report["hosts"] if host.get("failures")},
    }
    comparison = report.get("comparison")
    if comparison:
        stats["comparison"] = comparison["counts"]
    return stats
