# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The report as one self-contained HTML page (inline CSS and script, no network needed).

Score per host and per section, findings with their fixes, filters by status, severity and host. The
filters can be preset from the address: ``report.html#status=fail,would_fix&severity=high,critical``.
"""

from __future__ import annotations

import html
import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils._rule import (
    SEVERITIES,
    STATUSES,
)
from ansible_collections.kubefort.hardening.plugins.plugin_utils._report_model import SEVERITY_RANK
from ansible_collections.kubefort.hardening.plugins.plugin_utils._report_text import (
    counts_phrase,
    percent,
)

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2330;background:#f4f6f9}
header{background:#1d2b45;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px;font-size:22px}
header .meta{opacity:.85;font-size:13px}
main{padding:18px 28px}
h2{font-size:17px;margin:26px 0 10px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border-radius:8px;padding:12px 16px;min-width:190px;max-width:300px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
.card .name{font-weight:600;word-break:break-all}
.card.host-failed{border:2px solid #b71c1c}.card .failed{color:#b71c1c;word-break:break-word}
.card .score{font-size:30px;font-weight:700}
.card .sub{font-size:12px;color:#566}
.bar{height:8px;background:#e3e6ea;border-radius:4px;overflow:hidden;margin:6px 0}
.bar span{display:block;height:100%}
.good{color:#17803d}.warn{color:#b86e00}.bad{color:#c62828}.none{color:#778}
.bg-good{background:#2e9e55}.bg-warn{background:#e0a100}.bg-bad{background:#d83b3b}.bg-none{background:#aab}
table{border-collapse:collapse;background:#fff;width:100%;box-shadow:0 1px 3px rgba(0,0,0,.12)}
th,td{padding:6px 8px;border-bottom:1px solid #e6e8ec;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}
td.num{text-align:center;font-weight:600}
code{background:#f0f2f5;padding:1px 4px;border-radius:3px;word-break:break-all}
.pill{display:inline-block;border-radius:10px;padding:1px 8px;font-size:12px;font-weight:600;color:#fff}
.s-pass,.s-fixed{background:#2e9e55}.s-fail{background:#d83b3b}.s-would_fix{background:#e56b1f}
.s-error{background:#7b1fa2}.s-manual{background:#1e6fd9}.s-waived{background:#6d6d6d}
.s-not_applicable,.s-skipped{background:#9aa3ad}
.v-critical{background:#8b0000}.v-high{background:#d83b3b}.v-medium{background:#e0a100}.v-low{background:#1e6fd9}.v-info{background:#9aa3ad}
.filters{background:#fff;border-radius:8px;padding:10px 14px;margin-bottom:10px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
.filters fieldset{display:inline-block;border:0;margin:0 18px 4px 0;padding:0}
.filters legend{font-weight:600;padding:0;margin-bottom:2px}
.filters label{margin-right:8px;white-space:nowrap}
#findings{table-layout:fixed}#findings td{overflow-wrap:anywhere}.sub{font-size:12px;color:#566}
tr[hidden]{display:none}
.gate-failed{background:#c62828;color:#fff;padding:2px 8px;border-radius:4px}
.gate-passed{background:#2e9e55;color:#fff;padding:2px 8px;border-radius:4px}
"""

SCRIPT = """
(function(){
  var rows=[].slice.call(document.querySelectorAll('#findings tbody tr'));
  var boxes=[].slice.call(document.querySelectorAll('.filters input[type=checkbox]'));
  var hostSel=document.getElementById('f-host'), text=document.getElementById('f-text');
  function wanted(kind){var s={};boxes.forEach(function(b){if(b.dataset.kind===kind&&b.checked){s[b.value]=1;}});return s;}
  function apply(){
    var st=wanted('status'), sv=wanted('severity'), h=hostSel.value, q=text.value.toLowerCase(), n=0;
    rows.forEach(function(r){
      var ok=st[r.dataset.status]&&sv[r.dataset.severity]&&(!h||r.dataset.host===h)&&(!q||r.textContent.toLowerCase().indexOf(q)>=0);
      r.hidden=!ok; if(ok){n++;}
    });
    document.getElementById('visible').textContent=n;
  }
  function preset(){
    var hash=decodeURIComponent(location.hash.replace(/^#/,''));
    if(!hash){return;}
    hash.split('&').forEach(function(part){
      var kv=part.split('='), kind=kv[0], vals=(kv[1]||'').split(',');
      if(kind==='host'){hostSel.value=kv[1]||'';return;}
      if(kind==='q'){text.value=kv[1]||'';return;}
      boxes.forEach(function(b){if(b.dataset.kind===kind){b.checked=vals.indexOf(b.value)>=0;}});
    });
  }
  boxes.forEach(function(b){b.addEventListener('change',apply);});
  hostSel.addEventListener('change',apply); text.addEventListener('input',apply);
  window.addEventListener('hashchange',function(){preset();apply();});
  preset(); apply();
})();
"""


def _e(value: t.Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _tone(score: t.Optional[float]) -> str:
    if score is None:
        return "none"
    return "good" if score >= 90 else "warn" if score >= 70 else "bad"


def _pill(kind: str, value: str) -> str:
    return '<span class="pill %s-%s">%s</span>' % (kind, _e(value), _e(value.replace("_", " ")))


def _host_cards(report: t.Mapping[str, t.Any]) -> str:
    cards = []
    for host in report["hosts"]:
        score = host["summary"]["score"]
        meta = " · ".join(_e(v) for v in (host.get("layout"), host.get("kubernetes_version"), ", ".join(host.get("roles") or [])) if v)
        version = "Kubernetes %s (%s)" % (host.get("kubernetes_version") or "unknown", host.get("version_source") or "no source")
        bench = "%s: %s" % (host.get("benchmark") or "-", host.get("benchmark_reason") or "")
        if host.get("version_dependent_rules"):
            bench += "; rules that depend on the version: %s" % ", ".join(host["version_dependent_rules"])
        failures = host.get("failures") or []
        notes = "".join('<div class="sub failed">FAILED (%s): %s</div>' % (_e(f["stage"]), _e(f["reason"])) for f in failures)
        notes += "".join('<div class="sub failed">read error: %s</div>' % _e(m) for m in host.get("read_errors") or [])
        cards.append(
            '<div class="card%s" data-host="%s"><div class="name">%s</div><div class="score %s">%s</div>'
            '<div class="bar"><span class="bg-%s" style="width:%s%%"></span></div>'
            '<div class="sub">%s</div><div class="sub">%s</div>'
            '<div class="sub version" title="%s">%s</div><div class="sub benchmark" title="%s">benchmark %s</div>%s</div>'
            % (
                " host-failed" if failures else "", _e(host["name"]), _e(host["name"]), _tone(score), percent(score),
                _tone(score), score or 0, meta or host["kind"], _e(counts_phrase(host["summary"]["by_status"])),
                _e(version), _e(version), _e(bench), _e(host.get("benchmark") or "-"), notes,
            )
        )
    return '<div class="cards">%s</div>' % "".join(cards)


def _score_cell(section: t.Optional[t.Mapping[str, t.Any]]) -> str:
    if section is None:
        return '<td class="num none">–</td>'
    return '<td class="num %s" title="%s">%s</td>' % (
        _tone(section["score"]), _e(counts_phrase(section["by_status"])), percent(section["score"]))


def _section_matrix(report: t.Mapping[str, t.Any]) -> str:
    fleet = {s["name"]: s for s in report["summary"]["sections"]}
    per_host = [{s["name"]: s for s in h["sections"]} for h in report["hosts"]]
    head = "<th>all hosts</th>" + "".join("<th>%s</th>" % _e(h["name"]) for h in report["hosts"])
    rows = []
    for name in fleet:
        cells = _score_cell(fleet[name]) + "".join(_score_cell(sections.get(name)) for sections in per_host)
        rows.append("<tr><th>%s</th>%s</tr>" % (_e(name), cells))
    return '<table id="sections"><thead><tr><th>section</th>%s</tr></thead><tbody>%s</tbody></table>' % (head, "".join(rows))


def _comparison(report: t.Mapping[str, t.Any]) -> str:
    comparison = report.get("comparison")
    if not comparison:
        return ""
    c = comparison["counts"]
    parts = ['<h2>Changes since the previous report</h2><p id="comparison">Compared with <code>%s</code> (%s): '
             "<b>%d new</b>, <b>%d fixed</b>, <b>%d regressed</b>, %d still open.</p>"
             % (_e(comparison["previous"]["path"]), _e(comparison["previous"]["generated"]), c["new"], c["fixed"], c["regressed"], c["still_open"])]
    entries = [(kind, e) for kind in ("regressed", "new", "fixed") for e in comparison[kind]]
    if entries:
        rows = "".join(
            "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s → %s</td></tr>"
            % (
                _e(kind), _e(e["host"]), _e(e["id"]), _e(e["cis"] or ""), _pill("v", e["severity"]),
                _e(e["previous_status"] or "absent"), _e(e["status"]),
            )
            for kind, e in entries
        )
        head = "".join("<th>%s</th>" % name for name in ("change", "host", "rule", "CIS", "severity", "status"))
        parts.append("<table><thead><tr>%s</tr></thead><tbody>%s</tbody></table>" % (head, rows))
    return "".join(parts)


def _filters(report: t.Mapping[str, t.Any]) -> str:
    def boxes(kind: str, values: t.Sequence[str]) -> str:
        return "".join(
            '<label><input type="checkbox" data-kind="%s" value="%s" checked> %s</label>' % (kind, v, v.replace("_", " ")) for v in values
        )

    hosts = "".join('<option value="%s">%s</option>' % (_e(h["name"]), _e(h["name"])) for h in report["hosts"])
    return (
        '<div class="filters"><fieldset><legend>Status</legend>%s</fieldset>'
        "<fieldset><legend>Severity</legend>%s</fieldset>"
        '<fieldset><legend>Host</legend><select id="f-host"><option value="">all hosts</option>%s</select></fieldset>'
        '<fieldset><legend>Search</legend><input id="f-text" type="search" placeholder="rule, value, file…"></fieldset>'
        '<div><span id="visible">0</span> of %d results shown</div></div>'
        % (boxes("status", STATUSES), boxes("severity", SEVERITIES[::-1]), hosts, sum(len(h["results"]) for h in report["hosts"]))
    )


def _finding_row(host: t.Mapping[str, t.Any], r: t.Mapping[str, t.Any]) -> str:
    fix = _e(r["remediation"] or "-")
    extra = ""
    if r["message"]:
        extra += '<div class="sub">%s</div>' % _e(r["message"])
    if r.get("waiver"):
        extra += '<div class="sub">waived: %s (expires %s)</div>' % (_e(r["waiver"].get("reason")), _e(r["waiver"].get("expires") or "never"))
    if r["changed_files"]:
        extra += '<div class="sub">files: %s</div>' % ", ".join("<code>%s</code>" % _e(p) for p in r["changed_files"])
    actual = '<i>not found</i>' if r["actual"] is None else "<code>%s</code>" % _e(r["actual"])
    return (
        '<tr data-status="%s" data-severity="%s" data-host="%s"><td>%s</td><td>%s</td><td>%s</td><td><b>%s</b>%s<br>%s</td>'
        "<td>%s</td><td>%s</td><td><code>%s</code></td><td class=\"fix\">%s%s</td></tr>"
        % (
            _e(r["status"]), _e(r["severity"]), _e(host["name"]), _e(host["name"]), _pill("s", r["status"]), _pill("v", r["severity"]),
            _e(r["id"]), " · CIS %s" % _e(r["cis"]) if r["cis"] else "", _e(r["title"]),
            actual, _e(r["expected"]), _e(r["source"] or "-"), fix, extra,
        )
    )


COLUMNS = "".join('<col style="width:%d%%">' % width for width in (7, 6, 6, 18, 11, 12, 14, 26))


def _findings(report: t.Mapping[str, t.Any]) -> str:
    items = [(h, r) for h in report["hosts"] for r in h["results"]]
    # open findings first, most severe first; then what needs a person; then the rest
    group = {"fail": 0, "would_fix": 0, "error": 0, "manual": 1, "waived": 2, "fixed": 3, "pass": 4, "not_applicable": 5, "skipped": 5}
    items.sort(key=lambda hr: (group[hr[1]["status"]], -SEVERITY_RANK[hr[1]["severity"]]))
    rows = "".join(_finding_row(h, r) for h, r in items)
    return (
        '<table id="findings"><colgroup>%s</colgroup><thead><tr><th>host</th><th>status</th><th>severity</th><th>rule</th><th>actual</th>'
        "<th>expected</th><th>source</th><th>fix</th></tr></thead><tbody>%s</tbody></table>" % (COLUMNS, rows)
    )


def render(report: t.Mapping[str, t.Any]) -> str:
    run, summary = report["run"], report["summary"]
    gate = summary["gate"]
    gate_html = ""
    if gate["fail_on"] != "none":
        gate_html = ' · gate fail_on=%s: <span class="gate-%s">%s</span>' % (
            _e(gate["fail_on"]), "failed" if gate["failed"] else "passed", "FAILED" if gate["failed"] else "passed")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        "<title>kubefort report · score %s</title><style>%s</style></head><body>"
        '<header><h1>kubefort.hardening report</h1><div class="meta">%s · %s mode · %d hosts · %d results · '
        'overall score <b id="overall-score">%s</b> · %s%s</div>'
        '<div class="meta">kubefort.hardening %s · ansible-core %s · schema %s</div></header><main>'
        "<h2>Hosts</h2>%s<h2>Score per section</h2>%s%s<h2>Findings</h2>%s%s</main>"
        "<script>%s</script></body></html>\n"
        % (
            percent(summary["score"]), CSS,
            _e(run.get("generated")), _e(run.get("mode")), summary["hosts"], summary["total"], percent(summary["score"]),
            _e(counts_phrase(summary["by_status"])), gate_html,
            _e(run.get("collection_version")), _e(run.get("ansible_version")), _e(report["schema_version"]),
            _host_cards(report), _section_matrix(report), _comparison(report), _filters(report), _findings(report), SCRIPT,
        )
    )
