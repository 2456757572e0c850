# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Words shared by the text outputs: the end-of-play summary lines and the Markdown report."""

from __future__ import annotations

import os
import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils._rule import STATUSES
from ansible_collections.kubefort.hardening.plugins.plugin_utils._report_model import (
    worst_findings,
)


def percent(value: t.Optional[float]) -> str:
    return "n/a" if value is None else ("%.1f%%" % value).replace(".0%", "%")


def counts_phrase(counts: t.Mapping[str, int]) -> str:
    """'12 pass, 3 fail, 1 manual' (statuses with a count only, in the model's order)."""
    parts = ["%d %s" % (counts[s], s) for s in STATUSES if counts.get(s)]
    return ", ".join(parts) or "no results"


def benchmark_label(run: t.Mapping[str, t.Any]) -> str:
    """'cis-1.12', or with kubefort_benchmark auto the benchmarks the hosts used ('cis-1.12+cis-2.0')."""
    if run.get("benchmark") == "auto" and run.get("benchmarks"):
        return "+".join(run["benchmarks"])
    return str(run.get("benchmark", ""))


def shown_files(dest: str, written: t.Sequence[str]) -> t.List[str]:
    """Every output written, as the summary names it: absolute when dest is absolute, else relative to
    the current directory; files in a subdirectory (kube-bench/) as one 'DIR/ (N files)' entry."""
    base = os.path.abspath(dest)

    def show(path: str) -> str:
        return path if os.path.isabs(dest) else os.path.relpath(path)

    entries: t.List[str] = []
    counts: t.Dict[str, int] = {}
    for path in written:
        parts = os.path.relpath(path, base).split(os.sep)
        if len(parts) == 1:
            entries.append(show(path))
        else:
            if parts[0] not in counts:
                entries.append(parts[0])
            counts[parts[0]] = counts.get(parts[0], 0) + 1
    return [
        "%s%s (%d file%s)" % (show(os.path.join(base, e)), os.sep, counts[e], "" if counts[e] == 1 else "s") if e in counts else e
        for e in entries
    ]


def summary_lines(report: t.Mapping[str, t.Any], files: t.Sequence[str] = (), worst: int = 5) -> t.List[str]:
    """The readable summary printed at the end of the play."""
    summary = report["summary"]
    run = report["run"]
    lines = [
        "kubefort %s report: %d hosts, %d results, score %s (%s mode)"
        % (benchmark_label(run), summary["hosts"], summary["total"], percent(summary["score"]), run.get("mode")),
        "overall: %s" % counts_phrase(summary["by_status"]),
    ]
    width = max([len(host["name"]) for host in report["hosts"]] + [4])
    for host in report["hosts"]:
        line = "  %-*s  %6s  %s" % (width, host["name"], percent(host["summary"]["score"]), counts_phrase(host["summary"]["by_status"]))
        if run.get("benchmark") == "auto" and host.get("benchmark"):
            # Chosen per host: say which, and for which version.
            line += "  [%s, Kubernetes %s]" % (host["benchmark"], host.get("kubernetes_version") or "unknown")
        lines.append(line)
    for host in report["hosts"]:
        for failure in host.get("failures") or []:
            lines.append("FAILED %s (%s): %s" % (host["name"], failure["stage"], failure["reason"]))
    for host in report["hosts"]:
        for message in host.get("read_errors") or []:
            lines.append("read error on %s: %s" % (host["name"], message))
    findings = worst_findings(report["hosts"], worst)
    if findings:
        lines.append("worst open findings:")
        for item in findings:
            lines.append(
                "  [%s] %s %s%s: %s (actual %s, expected %s)"
                % (
                    item["severity"].upper(),
                    item["host"],
                    item["id"],
                    " (CIS %s)" % item["cis"] if item["cis"] else "",
                    item["status"],
                    "(not found)" if item["actual"] is None else item["actual"],
                    item["expected"],
                )
            )
    comparison = report.get("comparison")
    if comparison:
        c = comparison["counts"]
        lines.append(
            "compared with %s: %d new, %d fixed, %d regressed, %d still open"
            % (comparison["previous"]["path"] or "previous report", c["new"], c["fixed"], c["regressed"], c["still_open"])
        )
    if summary.get("kubeadm_reverts"):
        lines.append("kubeadm upgrade would revert %d results (report.md: 'Fixes a kubeadm upgrade would revert')"
                     % summary["kubeadm_reverts"])
    gate = summary["gate"]
    if gate["fail_on"] != "none":
        lines.append(
            "gate kubefort_fail_on=%s: %s (%d open findings at or above %s)"
            % (gate["fail_on"], "FAILED" if gate["failed"] else "passed", gate["findings"], gate["fail_on"])
        )
    if files:
        lines.append("report files:")
        lines.extend("  " + name for name in files)
    return lines
