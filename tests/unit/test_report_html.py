"""The HTML page: self-contained, escaped, scores per host and section, filters for every status."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from ansible_collections.kubefort.hardening.plugins.module_utils._rule import SEVERITIES, STATUSES
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _report_html as page
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _report_model as model
from test_report_model import RUN, fleet
from test_report_samples import result


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


def test_self_contained() -> None:
    html = page.render(fleet())
    for tag, attrs in parse(html):
        for name in ("src", "href"):
            assert name not in attrs or not re.match(r"^(https?:)?//", attrs[name]), (tag, attrs)
        assert not (tag == "link" and attrs.get("rel") == "stylesheet")
    assert "@import" not in html and "url(" not in html


def test_rows_filters_and_scores() -> None:
    tags = parse(page.render(fleet()))
    rows = [a for t, a in tags if t == "tr" and "data-status" in a]
    assert len(rows) == 9
    assert {a["data-host"] for a in rows} == {"cp1", "node1", "cluster"}
    boxes = [(a["data-kind"], a["value"]) for t, a in tags if t == "input" and a.get("type") == "checkbox"]
    assert boxes == [("status", s) for s in STATUSES] + [("severity", s) for s in reversed(SEVERITIES)]
    cards = [a["data-host"] for t, a in tags if t == "div" and a.get("class") == "card"]
    assert cards == ["cp1", "node1", "cluster"]


def test_score_per_section_matrix() -> None:
    html = page.render(fleet())
    matrix = html.split('<table id="sections">')[1].split("</table>")[0]
    assert "<th>1.2 API Server</th>" in matrix
    api_row = matrix.split("<th>1.2 API Server</th>")[1].split("</tr>")[0]
    assert re.findall(r">([^<]+)</td>", api_row) == ["0%", "0%", "–", "–"]
    kubelet_row = matrix.split("<th>4.2 Kubelet</th>")[1].split("</tr>")[0]
    # all hosts, cp1, node1, cluster
    assert re.findall(r">([^<]+)</td>", kubelet_row) == ["66.7%", "100%", "50%", "–"]


def test_values_are_escaped() -> None:
    res = result("kubelet-read-only-port", "fail", actual="<script>alert(1)</script>", source='"><img src=x>')
    html = page.render(model.build_report([model.build_host("<b>h</b>", [res])], RUN))
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x>" not in html and "<b>h</b>" not in html
    assert html.count("<script>") == 1  # only the page's own filter script


def test_open_findings_come_first_most_severe_first() -> None:
    results = [
        result("kubelet-read-only-port", "pass"),
        result("kubelet-config-mode", "fail"),  # medium
        result("kubelet-anonymous-auth", "would_fix"),  # critical
        result("apiserver-anonymous-auth", "manual"),  # high
    ]
    tags = parse(page.render(model.build_report([model.build_host("h", results)], RUN)))
    rows = [(a["data-status"], a["data-severity"]) for t, a in tags if t == "tr" and "data-status" in a]
    assert rows == [("would_fix", "critical"), ("fail", "medium"), ("manual", "high"), ("pass", "high")]
