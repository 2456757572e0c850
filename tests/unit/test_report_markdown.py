"""Markdown report and the end-of-play summary lines."""

from __future__ import annotations

import os

from ansible_collections.kubefort.hardening.plugins.plugin_utils import _report_compare as compare
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _report_markdown as markdown
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _report_model as model
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _report_text as text
from test_report_model import RUN, fleet
from test_report_samples import result


def test_sections_and_findings() -> None:
    md = markdown.render(fleet("high"))
    assert md.startswith("# kubefort.hardening report\n")
    assert "**Score 57.1%** over 3 hosts and 9 results" in md
    assert "Gate `kubefort_fail_on: high`: **failed** (3 findings)." in md
    for heading in ("## Run", "## Hosts", "## Sections", "## Open findings", "## Manual checks", "## Waived"):
        assert "\n%s\n" % heading in md
    assert "| cp1 | kubeadm | 1.31.4 | control_plane | 66.7% | 2 | 1 | 0 | 0 | 1 | 0 | 0 | 0 | 0 |" in md
    assert "| node1 | 4.2 Kubelet | 50% | 1 pass, 1 would_fix |" in md
    assert "| **all hosts** | 4.2 Kubelet | 66.7% | 2 pass, 1 would_fix |" in md
    open_block = md.split("## Open findings")[1].split("## Fixed")[0]
    assert open_block.index("critical") < open_block.index("| high |")
    assert "`AlwaysAllow`" in open_block
    assert "waived: legacy monitoring until Q3 (expires 2027-01-01)" in md.split("## Waived")[1]


def test_table_cells_are_escaped() -> None:
    res = result("kubelet-read-only-port", "fail", actual="a|b`c", message="line1\nline2")
    md = markdown.render(model.build_report([model.build_host("h|x", [res])], RUN))
    assert "| h\\|x |" in md
    assert "`a\\|b'c`" in md
    assert "line1<br>line2" in md


def test_comparison_section() -> None:
    old = model.build_report([model.build_host("h", [result("kubelet-read-only-port", "pass")])], RUN)
    new = model.build_report([model.build_host("h", [result("kubelet-read-only-port", "fail")])], RUN)
    new["comparison"] = compare.compare(new, old, "prev/report.json")
    md = markdown.render(new)
    assert "Compared with `prev/report.json`" in md and "**1 regressed**" in md
    assert "### Regressed" in md and "| h | kubelet-read-only-port | 4.2.4 | high | pass | fail |" in md


def test_summary_lines() -> None:
    lines = text.summary_lines(fleet("critical"), ["kubefort-report/report.json"])
    assert lines[0] == "kubefort cis-1.12 report: 3 hosts, 9 results, score 57.1% (check mode)"
    assert lines[1] == "overall: 4 pass, 2 fail, 1 would_fix, 1 manual, 1 waived"
    assert any(line.split() == ["node1", "66.7%", "2", "pass,", "1", "would_fix,", "1", "waived"] for line in lines)
    assert "  [CRITICAL] cp1 apiserver-authorization-mode (CIS 1.2.6): fail (actual AlwaysAllow, expected does not contain AlwaysAllow)" in lines
    assert "gate kubefort_fail_on=critical: FAILED (1 open findings at or above critical)" in lines
    assert lines[-2:] == ["report files:", "  kubefort-report/report.json"]


def test_shown_files_absolute_for_an_absolute_dir_and_every_output_listed(tmp_path, monkeypatch) -> None:
    dest = str(tmp_path / "out")
    written = [os.path.join(dest, n) for n in ("report.json", "kube-bench/cp1.json", "kube-bench/cluster.json", "report.html")]
    assert text.shown_files(dest, written) == [dest + "/report.json", dest + "/kube-bench/ (2 files)", dest + "/report.html"]
    monkeypatch.chdir(tmp_path)
    assert text.shown_files("./out/", written) == ["out/report.json", "out/kube-bench/ (2 files)", "out/report.html"]
    assert text.shown_files("out", written[:2]) == ["out/report.json", "out/kube-bench/ (1 file)"]


def test_summary_of_an_empty_run() -> None:
    lines = text.summary_lines(model.build_report([], RUN))
    assert lines == ["kubefort cis-1.12 report: 0 hosts, 0 results, score n/a (check mode)", "overall: no results"]
