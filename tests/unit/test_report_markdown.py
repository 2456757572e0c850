"""Markdown report and the end-of-play summary lines."""

from __future__ import annotations

import os

from ansible_collections.kubefort.hardening.plugins.plugin_utils import _report_compare as compare
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _report_markdown as markdown
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _report_model as model
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _report_text as text
from test_report_model import RUN, counts_text, fleet, shown
from test_report_samples import by_id, result, worker


def test_sections_and_findings() -> None:
    rep = fleet("high")
    md = markdown.render(rep)
    summary = rep["summary"]
    assert md.startswith("# kubefort.hardening report\n")
    assert "**Score %s** over 3 hosts and %d results: %s." % (shown(summary["score"]), summary["total"], counts_text(summary["by_status"])) in md
    assert "Gate `kubefort_fail_on: high`: **failed** (%d findings)." % summary["gate"]["findings"] in md
    for heading in ("## Run", "## Hosts", "## Sections", "## Open findings", "## Manual checks", "## Waived"):
        assert "\n%s\n" % heading in md
    cp1 = rep["hosts"][0]
    columns = ("pass", "fail", "would_fix", "fixed", "manual", "waived", "not_applicable", "skipped", "error")
    assert "| cp1 | kubeadm | 1.28.7 | control_plane, node, ports | %s | %s |" % (
        shown(cp1["summary"]["score"]), " | ".join(str(cp1["summary"]["by_status"][c]) for c in columns)) in md
    node1 = {s["name"]: s for s in rep["hosts"][1]["sections"]}["4.2 Kubelet"]
    assert "| node1 | 4.2 Kubelet | %s | %s |" % (shown(node1["score"]), counts_text(node1["by_status"])) in md
    every = {s["name"]: s for s in summary["sections"]}["4.2 Kubelet"]
    assert "| **all hosts** | 4.2 Kubelet | %s | %s |" % (shown(every["score"]), counts_text(every["by_status"])) in md
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
    # worker1 hardened, then its /etc/default/kubelet opens the read-only port again
    old = model.build_report([model.build_host("h", [by_id(worker("hardened"), "kubelet-read-only-port")])], RUN)
    new = model.build_report([model.build_host("h", [by_id(worker(), "kubelet-read-only-port")])], RUN)
    new["comparison"] = compare.compare(new, old, "prev/report.json")
    md = markdown.render(new)
    assert "Compared with `prev/report.json`" in md and "**1 regressed**" in md
    assert "### Regressed" in md and "| h | kubelet-read-only-port | 4.2.4 | high | pass | would_fix |" in md


def test_summary_lines() -> None:
    rep = fleet("critical")
    lines = text.summary_lines(rep, ["kubefort-report/report.json"])
    summary = rep["summary"]
    assert lines[0] == "kubefort cis-1.12 report: 3 hosts, %d results, score %s (check mode)" % (summary["total"], shown(summary["score"]))
    assert lines[1] == "overall: " + counts_text(summary["by_status"])
    node1 = rep["hosts"][1]["summary"]
    assert any(line.split() == ["node1", shown(node1["score"])] + counts_text(node1["by_status"]).split() for line in lines)
    assert ("  [CRITICAL] cp1 apiserver-authorization-mode-not-alwaysallow (CIS 1.2.6): would_fix (actual AlwaysAllow, "
            "expected does not contain AlwaysAllow)") in lines
    assert "gate kubefort_fail_on=critical: FAILED (%d open findings at or above critical)" % summary["gate"]["findings"] in lines
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
