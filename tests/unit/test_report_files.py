"""Rendering every format and writing the files atomically."""

from __future__ import annotations

import json
import os

import pytest
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _report_files as files
from test_report_model import fleet


def test_every_format_is_rendered() -> None:
    rendered = files.render_all(fleet())
    assert list(rendered) == [
        "report.json", "kube-bench/cp1.json", "kube-bench/node1.json", "kube-bench/cluster.json",
        "report.xml", "report.md", "report.html",
    ]
    assert json.loads(rendered["report.json"])["schema_version"] == "1.0"


def test_formats_can_be_selected() -> None:
    assert list(files.render_all(fleet(), ["markdown"])) == ["report.md"]


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown report format"):
        files.render_all(fleet(), ["pdf"])


def test_write_replaces_files_and_leaves_no_temporary_files(tmp_path) -> None:
    target = tmp_path / "out"
    files.write_all(str(target), {"report.md": b"old"})
    written = files.write_all(str(target), {"report.md": b"new", "kube-bench/a.json": b"{}"})
    assert written == [str(target / "report.md"), str(target / "kube-bench" / "a.json")]
    assert (target / "report.md").read_bytes() == b"new"
    assert sorted(os.listdir(target)) == ["kube-bench", "report.md"]
    assert oct((target / "report.md").stat().st_mode & 0o777) == "0o644"


def test_unwritable_directory_gives_a_clear_error(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(files.ReportWriteError, match="cannot write the report into .*Set kubefort_report_dir to a writable directory"):
        files.write_all(str(blocker / "report"), {"report.md": b"x"})
