# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The report as Markdown, for terminals, pull requests and wikis."""

from __future__ import annotations

import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils._rule import STATUSES
from ansible_collections.kubefort.hardening.plugins.plugin_utils._report_model import (
    OPEN,
    SEVERITY_RANK,
)
from ansible_collections.kubefort.hardening.plugins.plugin_utils._report_text import (
    counts_phrase,
    percent,
)


def cell(value: t.Any) -> str:
    """A value safe inside a Markdown table cell."""
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", "").replace("\n", "<br>") or "-"


def code(value: t.Any) -> str:
    if value is None:
        return "*(not found)*"
    text = cell(value)
    return "`%s`" % text.replace("`", "'") if text != "-" else "-"


def _table(header: t.Sequence[str], rows: t.Iterable[t.Sequence[str]]) -> t.List[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def _run_block(report: t.Mapping[str, t.Any]) -> t.List[str]:
    run = report["run"]
    rows = [
        ("generated", run.get("generated")),
        ("mode", run.get("mode")),
        ("benchmark", "%s (%s)" % (run.get("benchmark"), ", ".join(run.get("benchmarks") or [])) if run.get("benchmarks") else run.get("benchmark")),
        ("profile", run.get("profile")),
        ("collection", "kubefort.hardening %s" % run.get("collection_version")),
        ("ansible-core", run.get("ansible_version")),
        ("schema", report["schema_version"]),
    ]
    return _table(("run", "value"), ((cell(k), cell(v)) for k, v in rows))


def _hosts_block(report: t.Mapping[str, t.Any]) -> t.List[str]:
    header = ("host", "layout", "Kubernetes", "roles", "score") + tuple(STATUSES)
    rows = []
    for host in report["hosts"]:
        counts = host["summary"]["by_status"]
        rows.append(
            (
                cell(host["name"]),
                cell(host.get("layout")),
                cell(host.get("kubernetes_version")),
                cell(", ".join(host.get("roles") or [])),
                percent(host["summary"]["score"]),
            )
            + tuple(str(counts[s]) for s in STATUSES)
        )
    return _table(header, rows)


def _versions_block(report: t.Mapping[str, t.Any]) -> t.List[str]:
    """Each host's Kubernetes version, where it comes from, and the benchmark its results refer to."""
    rows = []
    for host in report["hosts"]:
        why = host.get("benchmark_reason") or ""
        if host.get("version_dependent_rules"):
            why += "; rules that depend on the version: %s" % ", ".join(host["version_dependent_rules"])
        rows.append((cell(host["name"]), cell(host.get("kubernetes_version") or "unknown"), cell(host.get("version_source")),
                     cell(host.get("benchmark")), cell(why)))
    return _table(("host", "Kubernetes", "version from", "benchmark", "why this benchmark"), rows)


def _sections_block(report: t.Mapping[str, t.Any]) -> t.List[str]:
    rows = [
        ("**all hosts**", cell(section["name"]), percent(section["score"]), cell(counts_phrase(section["by_status"])))
        for section in report["summary"]["sections"]
    ]
    for host in report["hosts"]:
        for section in host["sections"]:
            rows.append((cell(host["name"]), cell(section["name"]), percent(section["score"]), cell(counts_phrase(section["by_status"]))))
    return _table(("host", "section", "score", "results"), rows)


def _fix_text(result: t.Mapping[str, t.Any]) -> str:
    parts = [result["remediation"] or "-"]
    if result["message"]:
        parts.append(result["message"])
    if result.get("waiver"):
        parts.append("waived: %s (expires %s)" % (result["waiver"].get("reason"), result["waiver"].get("expires") or "never"))
    return " — ".join(parts)


def _findings_block(report: t.Mapping[str, t.Any], statuses: t.Sequence[str]) -> t.List[str]:
    found = [(host["name"], r) for host in report["hosts"] for r in host["results"] if r["status"] in statuses]
    found.sort(key=lambda item: -SEVERITY_RANK[item[1]["severity"]])
    rows = [
        (
            cell(name),
            cell(r["severity"]),
            cell(r["status"]),
            "%s%s" % (cell(r["id"]), " (CIS %s)" % cell(r["cis"]) if r["cis"] else ""),
            cell(r["title"]),
            code(r["actual"]),
            cell(r["expected"]),
            cell(r["source"]),
            cell(_fix_text(r)),
        )
        for name, r in found
    ]
    return _table(("host", "severity", "status", "rule", "title", "actual", "expected", "source", "fix"), rows) if rows else ["None."]


def _comparison_block(comparison: t.Mapping[str, t.Any]) -> t.List[str]:
    counts = comparison["counts"]
    lines = [
        "Compared with `%s` (%s): **%d new**, **%d fixed**, **%d regressed**, %d still open."
        % (
            cell(comparison["previous"]["path"]),
            cell(comparison["previous"]["generated"]),
            counts["new"],
            counts["fixed"],
            counts["regressed"],
            counts["still_open"],
        ),
        "",
    ]
    for kind in ("regressed", "new", "fixed"):
        if comparison[kind]:
            rows = [
                (cell(e["host"]), cell(e["id"]), cell(e["cis"]), cell(e["severity"]), cell(e["previous_status"]), cell(e["status"]))
                for e in comparison[kind]
            ]
            lines += ["### %s" % kind.capitalize(), ""] + _table(("host", "rule", "CIS", "severity", "before", "now"), rows) + [""]
    return lines


def _kubeadm_block(report: t.Mapping[str, t.Any]) -> t.List[str]:
    """Fixes the next kubeadm upgrade would write back, and the ClusterConfiguration that keeps them."""
    info = report["summary"].get("kubeadm") or {}
    reverted = [(h["name"], r) for h in report["hosts"] for r in h["results"] if (r.get("kubeadm") or {}).get("reverted")]
    if not reverted:
        return []
    lines = ["", "## Fixes a kubeadm upgrade would revert", "",
             "%d results: `kubeadm upgrade` would write these settings back from kube-system/kubeadm-config or "
             "kubelet-config; %d can be kept there (`kubefort_cluster_kubeadm_remediate: true`, or the fragment below "
             "in the kubeadm configuration you keep)." % (info.get("reverted", len(reverted)), info.get("keepable", 0)), ""]
    lines += _table(("host", "rule", "what the upgrade does"),
                    ((cell(n), code(r["id"]), cell(r["kubeadm"]["detail"])) for n, r in reverted))
    if info.get("fragment"):
        lines += ["", "```yaml", info["fragment"].rstrip(), "```"]
    return lines


def render(report: t.Mapping[str, t.Any]) -> str:
    summary = report["summary"]
    gate = summary["gate"]
    lines = [
        "# kubefort.hardening report",
        "",
        "**Score %s** over %d hosts and %d results: %s. Open findings: %d."
        % (percent(summary["score"]), summary["hosts"], summary["total"], counts_phrase(summary["by_status"]), summary["open"]),
    ]
    if summary.get("kubeadm_reverts"):
        lines.append("A `kubeadm upgrade` would revert %d of these results (see below)." % summary["kubeadm_reverts"])
    if gate["fail_on"] != "none":
        lines.append("Gate `kubefort_fail_on: %s`: **%s** (%d findings)." % (gate["fail_on"], "failed" if gate["failed"] else "passed", gate["findings"]))
    lines += ["", "## Run", ""] + _run_block(report)
    lines += ["", "## Hosts", ""] + _hosts_block(report)
    lines += ["", "## Versions and benchmarks", ""] + _versions_block(report)
    failed = [(host["name"], f) for host in report["hosts"] for f in host.get("failures") or []]
    if failed:
        lines += ["", "## Hosts that failed", "",
                  "These hosts were not audited or hardened completely; each counts as an open error and fails the run.", ""]
        lines += _table(("host", "stage", "reason"), ((cell(n), cell(f["stage"]), cell(f["reason"])) for n, f in failed))
    unread = [(host["name"], m) for host in report["hosts"] for m in host.get("read_errors") or []]
    if unread:
        lines += ["", "## Read errors", "",
                  "Files that could not be read, decoded or parsed; the rules of the components concerned are `error`.", ""]
        lines += _table(("host", "error"), ((cell(n), cell(m)) for n, m in unread))
    lines += _kubeadm_block(report)
    lines += ["", "## Sections", ""] + _sections_block(report)
    if report.get("comparison"):
        lines += ["", "## Changes since the previous report", ""] + _comparison_block(report["comparison"])
    lines += ["", "## Open findings", ""] + _findings_block(report, OPEN)
    lines += ["", "## Fixed in this run", ""] + _findings_block(report, ("fixed",))
    lines += ["", "## Manual checks", ""] + _findings_block(report, ("manual",))
    lines += ["", "## Waived", ""] + _findings_block(report, ("waived",))
    return "\n".join(lines).rstrip() + "\n"
