# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Comparison of a report with a previous report.json: what is new, what was fixed, what regressed.

A finding is identified by (host, rule ID). ``open`` means fail, would_fix or error; ``ok`` means pass
or fixed. Regressed: ok before, open now. Fixed: open before, ok now. New: open now and neither open
nor ok before (the host or rule is new, or it was manual, waived, skipped or not applicable).
"""

from __future__ import annotations

import json
import typing as t

from ansible_collections.kubefort.hardening.plugins.plugin_utils._report_model import (
    OPEN,
    PASSED,
    ReportInputError,
)

SUPPORTED_MAJOR = "1"
# Earlier runs whose per-host scores the comparison carries forward (the HTML report's trend).
HISTORY_LIMIT = 30


def load_previous(path: str) -> t.Dict[str, t.Any]:
    """Read a previous report.json, raising ReportInputError with what to do when it is unusable."""
    try:
        with open(path, "rb") as handle:
            document = json.loads(handle.read().decode("utf-8"))
    except FileNotFoundError:
        raise ReportInputError(
            "kubefort_report_compare: %s does not exist. Point it at the report.json of an earlier run, "
            "or leave it empty to skip the comparison." % path
        ) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ReportInputError("kubefort_report_compare: %s is not a readable JSON report (%s)." % (path, exc)) from None
    if not isinstance(document, dict) or document.get("kind") != "kubefort-report":
        raise ReportInputError(
            "kubefort_report_compare: %s is not a kubefort report.json (no \"kind\": \"kubefort-report\")." % path
        )
    version = str(document.get("schema_version", ""))
    if version.split(".", maxsplit=1)[0] != SUPPORTED_MAJOR:
        raise ReportInputError(
            "kubefort_report_compare: %s has schema_version %r; this collection reads %s.x reports."
            % (path, version, SUPPORTED_MAJOR)
        )
    hosts = document.get("hosts")
    if not isinstance(hosts, list) or not all(
        isinstance(h, dict) and isinstance(h.get("name"), str) and isinstance(h.get("results"), list) for h in hosts
    ):
        raise ReportInputError("kubefort_report_compare: %s has no valid \"hosts\" list." % path)
    return document


def _index(report: t.Mapping[str, t.Any]) -> t.Dict[t.Tuple[str, str], t.Mapping[str, t.Any]]:
    index = {}
    for host in report["hosts"]:
        for result in host["results"]:
            if isinstance(result, dict) and "id" in result:
                index[(host["name"], str(result["id"]))] = result
    return index


def _entry(host: str, now: t.Mapping[str, t.Any], before: t.Optional[t.Mapping[str, t.Any]]) -> t.Dict[str, t.Any]:
    return {
        "host": host,
        "id": now["id"],
        "cis": now.get("cis"),
        "title": now.get("title", ""),
        "severity": now.get("severity", "info"),
        "status": now["status"],
        "previous_status": None if before is None else before.get("status"),
    }


def _score(value: t.Any) -> t.Optional[float]:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 100 else None


def history(previous: t.Mapping[str, t.Any]) -> t.List[t.Dict[str, t.Any]]:
    """Per-host scores of the runs before this one, oldest first: the previous report's own history
    (what its comparison knew) and the previous report itself; at most HISTORY_LIMIT runs."""
    runs: t.List[t.Dict[str, t.Any]] = []
    earlier = (previous.get("comparison") or {}).get("history") if isinstance(previous.get("comparison"), dict) else None
    for entry in earlier if isinstance(earlier, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("scores"), dict):
            runs.append({
                "generated": None if entry.get("generated") is None else str(entry["generated"]),
                "mode": None if entry.get("mode") is None else str(entry["mode"]),
                "scores": {str(name): _score(value) for name, value in entry["scores"].items()},
            })
    run = previous.get("run") or {}
    runs.append({
        "generated": run.get("generated"),
        "mode": run.get("mode"),
        "scores": {host["name"]: _score((host.get("summary") or {}).get("score")) for host in previous["hosts"]},
    })
    return runs[-HISTORY_LIMIT:]


def compare(current: t.Mapping[str, t.Any], previous: t.Mapping[str, t.Any], path: str = "") -> t.Dict[str, t.Any]:
    """The comparison block of the report (see docs/report.schema.json)."""
    before = _index(previous)
    now = _index(current)
    new, fixed, regressed = [], [], []
    still_open = 0
    for key, result in now.items():
        old = before.get(key)
        old_status = None if old is None else old.get("status")
        if result["status"] in OPEN:
            if old_status in OPEN:
                still_open += 1
            elif old_status in PASSED:
                regressed.append(_entry(key[0], result, old))
            else:
                new.append(_entry(key[0], result, old))
        elif result["status"] in PASSED and old_status in OPEN:
            fixed.append(_entry(key[0], result, old))
    gone = sorted("%s/%s" % key for key, old in before.items() if key not in now and old.get("status") in OPEN)
    return {
        "previous": {
            "path": path,
            "generated": (previous.get("run") or {}).get("generated"),
            "mode": (previous.get("run") or {}).get("mode"),
        },
        "counts": {
            "new": len(new),
            "fixed": len(fixed),
            "regressed": len(regressed),
            "still_open": still_open,
            "gone": len(gone),
        },
        "new": new,
        "fixed": fixed,
        "regressed": regressed,
        "gone": gone,
        "history": history(previous),
    }
