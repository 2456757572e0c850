# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The report as Prometheus text exposition (format 0.0.4), for node_exporter's textfile collector.

Every sample carries a ``host`` label, so one file serves the whole fleet (point the collector's
``--collector.textfile.directory`` at the report directory, or copy the file there). All metrics are
gauges describing the last run; nothing is a counter.
"""

from __future__ import annotations

import datetime
import math
import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils._rule import (
    SEVERITIES,
    STATUSES,
)
from ansible_collections.kubefort.hardening.plugins.plugin_utils._report_model import OPEN

FILE_NAME = "kubefort.prom"


def _escape(value: t.Any) -> str:
    return str("" if value is None else value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: t.Any) -> str:
    return "{%s}" % ",".join('%s="%s"' % (name, _escape(value)) for name, value in labels.items())


def _number(value: t.Optional[float]) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NaN"
    return repr(float(value)) if isinstance(value, float) else str(value)


def timestamp(generated: t.Optional[str]) -> t.Optional[float]:
    """Seconds since the epoch of the run's ISO 8601 time."""
    if not generated:
        return None
    try:
        return datetime.datetime.fromisoformat(generated).timestamp()
    except ValueError:
        return None


def render(report: t.Mapping[str, t.Any]) -> str:
    run = report["run"]
    families: t.List[t.Tuple[str, str, t.List[str]]] = []

    def family(name: str, doc: str) -> t.List[str]:
        samples: t.List[str] = []
        families.append((name, doc, samples))
        return samples

    info = family("kubefort_host_info", "Host of the last kubefort run (value 1) with its layout, version, benchmark and mode.")
    score = family("kubefort_score_percent", "Passed share of the scored results of the host (NaN when nothing is scored).")
    results = family("kubefort_results", "Results of the host in this report section with this status (combinations that occur).")
    status_totals = family("kubefort_host_results", "Results of the host with this status (every status, zeros included).")
    open_findings = family("kubefort_open_findings", "Open findings (fail, would_fix, error) of the host by severity, zeros included.")
    findings = family("kubefort_finding", "One open finding (value 1), labelled with its stable fingerprint.")
    for host in report["hosts"]:
        name = host["name"]
        info.append("kubefort_host_info%s 1" % _labels(
            host=name, kind=host.get("kind") or "", layout=host.get("layout") or "",
            kubernetes_version=host.get("kubernetes_version") or "", benchmark=host.get("benchmark") or run.get("benchmark") or "",
            mode=host.get("mode") or run.get("mode") or ""))
        score.append("kubefort_score_percent%s %s" % (_labels(host=name), _number(host["summary"]["score"])))
        for section in host["sections"]:
            for status in STATUSES:
                count = section["by_status"].get(status, 0)
                if count:
                    results.append("kubefort_results%s %d" % (_labels(host=name, section=section["name"], status=status), count))
        for status in STATUSES:
            status_totals.append("kubefort_host_results%s %d" % (_labels(host=name, status=status), host["summary"]["by_status"][status]))
        for severity in SEVERITIES:
            open_findings.append("kubefort_open_findings%s %d" % (
                _labels(host=name, severity=severity), host["summary"]["open_by_severity"][severity]))
        for result in host["results"]:
            if result["status"] in OPEN:
                findings.append("kubefort_finding%s 1" % _labels(
                    host=name, rule=result["id"], cis=result["cis"] or "", severity=result["severity"],
                    status=result["status"], fingerprint=result["fingerprint"]))
    last = family("kubefort_last_run_timestamp_seconds", "When the last kubefort report was written (Unix time).")
    last.append("kubefort_last_run_timestamp_seconds%s %s" % (_labels(mode=run.get("mode") or ""), _number(timestamp(run.get("generated")))))
    missing = family("kubefort_hosts_without_results", "Hosts of the expected groups that stored no results (unreachable, failed, not audited).")
    missing.append("kubefort_hosts_without_results %d" % len(run.get("hosts_without_results") or []))
    lines: t.List[str] = []
    for name, doc, samples in families:
        lines.append("# HELP %s %s" % (name, doc))
        lines.append("# TYPE %s gauge" % name)
        lines.extend(samples)
    return "\n".join(lines) + "\n"
