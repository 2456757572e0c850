# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Render every report format and write the files atomically into the report directory.

Everything is rendered in memory first; each file is then written to a temporary file in the same
directory and renamed over the old one, so a reader never sees a half-written report.
"""

from __future__ import annotations

import json
import os
import tempfile
import typing as t

from ansible_collections.kubefort.hardening.plugins.plugin_utils import (
    _report_html,
    _report_junit,
    _report_kube_bench,
    _report_markdown,
    _report_oscal,
    _report_policy,
    _report_prometheus,
    _report_sarif,
)

DEFAULT_FORMATS = ("json", "kube_bench", "junit", "markdown", "html")
FORMATS = DEFAULT_FORMATS + ("prometheus", "policy_report", "oscal", "sarif")
KUBE_BENCH_DIR = "kube-bench"


class ReportWriteError(OSError):
    """The report directory cannot be created or written."""


def to_json(document: t.Any, indent: t.Optional[int] = 2) -> bytes:
    return (json.dumps(document, indent=indent, ensure_ascii=False) + "\n").encode("utf-8")


def render_all(report: t.Mapping[str, t.Any], formats: t.Sequence[str] = DEFAULT_FORMATS) -> t.Dict[str, bytes]:
    """Relative file name -> content for every requested format."""
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError("unknown report format(s) %s; use %s." % (", ".join(unknown), ", ".join(FORMATS)))
    files: t.Dict[str, bytes] = {}
    if "json" in formats:
        files["report.json"] = to_json(report)
    if "kube_bench" in formats:
        taken: t.Set[str] = set()
        for host in report["hosts"]:
            name = _report_kube_bench.file_name(host["name"], taken)
            # Each host under the benchmark chosen for it (run.benchmark may be "auto").
            benchmark = host.get("benchmark") or report["run"].get("benchmark") or "cis-1.12"
            # compact, as kube-bench writes it (and several times faster to encode on large fleets)
            files[KUBE_BENCH_DIR + "/" + name] = to_json(_report_kube_bench.host_document(host, benchmark), indent=None)
    if "junit" in formats:
        files["report.xml"] = _report_junit.render(report)
    if "markdown" in formats:
        files["report.md"] = _report_markdown.render(report).encode("utf-8")
    if "html" in formats:
        files["report.html"] = _report_html.render(report).encode("utf-8")
    if "prometheus" in formats:
        files[_report_prometheus.FILE_NAME] = _report_prometheus.render(report).encode("utf-8")
    if "policy_report" in formats:
        files[_report_policy.FILE_NAME] = to_json(_report_policy.render(report), indent=None)
    if "oscal" in formats:
        files[_report_oscal.FILE_NAME] = to_json(_report_oscal.render(report), indent=None)
    if "sarif" in formats:
        files[_report_sarif.FILE_NAME] = to_json(_report_sarif.render(report), indent=None)
    return files


def _write_atomic(path: str, content: bytes) -> None:
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".kubefort-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_all(directory: str, files: t.Mapping[str, bytes]) -> t.List[str]:
    """Write the rendered files under directory; returns their absolute paths in order."""
    written = []
    try:
        os.makedirs(directory, exist_ok=True)
        for name, content in files.items():
            path = os.path.join(directory, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            _write_atomic(path, content)
            written.append(path)
    except OSError as exc:
        raise ReportWriteError(
            "cannot write the report into %s (%s). Set kubefort_report_dir to a writable directory." % (directory, exc)
        ) from None
    return written
