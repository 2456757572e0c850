"""The HTML page: self-contained, escaped, scores per host and section, filters for every status."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

from ansible_collections.kubefort.hardening.plugins.module_utils._rule import SEVERITIES, STATUSES
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _report_html as page
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _report_model as model
from test_report_model import RUN, expected_score, fleet, inputs, shown
from test_report_samples import HOST_INFO, control_plane, result, worker


class Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))


def parse(html: str) -> list:
    parser = Collect()
    parser.feed(html)
    return parser.tags


def data(html: str) -> dict:
    """The results block the page's script draws the findings table from."""
    block = html.split('<script type="application/json" id="kubefort-data">')[1].split("</script>")[0]
    assert "<" not in block
    return json.loads(block)


def table_rows(html: str) -> list:
    d = data(html)
    out = []
    for row in d["rows"]:
        entry = dict(zip(d["fields"], row), host=d["hosts"][row[0]])
        entry.update(zip(d["rule_fields"], d["rules"][entry["rule"]]))
        out.append(entry)
    return out


def test_self_contained() -> None:
    html = page.render(fleet())
    for tag, attrs in parse(html):
        for name in ("src", "href"):
            assert name not in attrs or not re.match(r"^(https?:)?//", attrs[name]), (tag, attrs)
        assert not (tag == "link" and attrs.get("rel") == "stylesheet")
    assert "@import" not in html and "url(" not in html


def test_rows_filters_and_scores() -> None:
    html = page.render(fleet())
    tags = parse(html)
    rows = table_rows(html)
    assert len(rows) == sum(len(results) for results in inputs().values())
    assert {r["host"] for r in rows} == {"cp1", "node1", "cluster"}
    boxes = [(a["data-kind"], a["value"]) for t, a in tags if t == "input" and a.get("type") == "checkbox"]
    assert boxes == [("status", s) for s in STATUSES] + [("severity", s) for s in reversed(SEVERITIES)]
    # it opens on what needs attention: open findings and manual checks, every severity
    checked = [(a["data-kind"], a["value"]) for t, a in tags if t == "input" and "checked" in a]
    opened = [s for s in STATUSES if s in ("fail", "would_fix", "error", "manual")]
    assert checked == [("status", s) for s in opened] + [("severity", s) for s in reversed(SEVERITIES)]
    assert [a["id"] for t, a in tags if t == "button"] == ["f-all", "f-open", "f-more"]
    cards = [a["data-host"] for t, a in tags if t == "div" and a.get("class") == "card"]
    assert cards == ["cp1", "node1", "cluster"]


def test_score_per_section_matrix() -> None:
    html = page.render(fleet())
    matrix = html.split('<table id="sections">')[1].split("</table>")[0]
    assert "<th>1.2 API Server</th>" in matrix
    given = inputs()

    def cells(section: str) -> list:
        everything = [r for results in given.values() for r in results if r["section"] == section]
        per_host = [[r for r in given[h] if r["section"] == section] for h in ("cp1", "node1", "cluster")]
        return [shown(expected_score(rs) if rs else None) for rs in [everything] + per_host]

    for section in ("1.2 API Server", "4.2 Kubelet", "2 etcd"):
        row = matrix.split("<th>%s</th>" % section)[1].split("</tr>")[0]
        assert re.findall(r">([^<]+)</td>", row) == cells(section), section  # all hosts, cp1, node1, cluster
    # the API server rules are not node1's nor the cluster's; kubelet rules run on cp1 and node1
    assert cells("1.2 API Server")[2:] == ["–", "–"] and "–" not in cells("4.2 Kubelet")[:3]


def test_values_are_escaped() -> None:
    res = result("kubelet-read-only-port", "fail", actual="<script>alert(1)</script>", source='"><img src=x>')
    html = page.render(model.build_report([model.build_host("<b>h</b>", [res])], RUN))
    assert "<script>alert(1)</script>" not in html
    assert "<img src=x>" not in html and "<b>h</b>" not in html
    assert html.count("<script>") == 1 and html.count("</script>") == 2  # the filter script and its data block
    row = table_rows(html)[0]
    assert (row["host"], row["actual"], row["source"]) == ("<b>h</b>", "<script>alert(1)</script>", '"><img src=x>')


def test_open_findings_come_first_most_severe_first() -> None:
    html = page.render(fleet())
    rows = [(r["status"], r["severity"]) for r in table_rows(html)]
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    opened = [row for row in rows if row[0] in ("fail", "would_fix", "error")]
    assert rows[:len(opened)] == opened and opened  # open findings first
    assert [rank[sev] for _st, sev in opened] == sorted((rank[sev] for _st, sev in opened), reverse=True)
    assert {"would_fix", "fail", "manual", "pass", "waived", "not_applicable"} <= {st for st, _sev in rows}


def test_score_trend_over_the_runs_the_comparison_knows() -> None:
    from ansible_collections.kubefort.hardening.plugins.plugin_utils import _report_compare as compare

    oldest = fleet()
    assert 'data-scores' not in page.render(oldest) and "no earlier run to compare with" in page.render(oldest)
    middle = fleet()
    middle["run"] = dict(middle["run"], generated="2026-11-30T23:00:00+00:00")
    middle["comparison"] = compare.compare(middle, oldest, "old/report.json")
    # cp1 after kubefort fixed it, and a new host
    newest = model.build_report([model.build_host("cp1", control_plane("hardened"), HOST_INFO["cp1"]),
                                 model.build_host("node9", worker(), HOST_INFO["node1"])],
                                dict(RUN, generated="2026-12-01T23:00:00+00:00"))
    newest["comparison"] = compare.compare(newest, json.loads(json.dumps(middle)), "middle/report.json")
    assert [run["generated"] for run in newest["comparison"]["history"]] == [RUN["generated"], "2026-11-30T23:00:00+00:00"]
    before, after = expected_score(control_plane()), expected_score(control_plane("hardened"))
    assert before < after
    assert page.trend_points(newest, "cp1") == [
        (RUN["generated"], before), ("2026-11-30T23:00:00+00:00", before), ("2026-12-01T23:00:00+00:00", after)]
    tags = parse(page.render(newest))
    svgs = {a["data-scores"] for t, a in tags if t == "svg"}
    assert svgs == {"%s,%s,%s" % (shown(before, ""), shown(before, ""), shown(after, ""))}  # node9 is new: no earlier run, no line
    polyline = [a["points"] for t, a in tags if t == "polyline"][0].split()
    assert len(polyline) == 3 and float(polyline[2].split(",")[1]) < float(polyline[0].split(",")[1])  # higher score, higher point
