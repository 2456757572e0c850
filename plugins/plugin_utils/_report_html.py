# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The report as one self-contained HTML page (inline CSS and script, no network needed).

Score per host (with its trend over the earlier runs the comparison knows) and per section, findings
with their fixes, filters by status, severity and host. It opens on what needs attention (fail,
would_fix, error and manual results); one click shows everything. The filters can be preset from the
address: ``report.html#status=fail,would_fix&severity=high,critical`` (``status=all`` for everything).

The results travel as one JSON block and the script draws only the rows that match the filters, a
page at a time: a report of 1,000 hosts (some 100,000 results) opens and filters without a DOM of
100,000 rows.
"""

from __future__ import annotations

import html
import json
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
code{background:#f0f2f5;padding:1px 4px;border-radius:3px;overflow-wrap:break-word}
.pill{display:inline-block;border-radius:10px;padding:1px 8px;font-size:12px;font-weight:600;color:#fff}
.s-pass,.s-fixed{background:#2e9e55}.s-fail{background:#d83b3b}.s-would_fix{background:#e56b1f}
.s-error{background:#7b1fa2}.s-manual{background:#1e6fd9}.s-waived{background:#6d6d6d}
.s-not_applicable,.s-skipped{background:#9aa3ad}
.v-critical{background:#8b0000}.v-high{background:#d83b3b}.v-medium{background:#e0a100}.v-low{background:#1e6fd9}.v-info{background:#9aa3ad}
.filters{background:#fff;border-radius:8px;padding:10px 14px;margin-bottom:10px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
.filters fieldset{display:inline-block;border:0;margin:0 18px 4px 0;padding:0}
.filters legend{font-weight:600;padding:0;margin-bottom:2px}
.filters label{margin-right:8px;white-space:nowrap}
#findings{table-layout:fixed;min-width:1200px}#findings code{font-size:13px}#findings td{overflow-wrap:break-word}.sub{font-size:12px;color:#566}
.scroll{overflow-x:auto;max-height:70vh;overflow-y:auto}#sections.by-host{table-layout:fixed}.scroll-x{overflow-x:auto}
.filters button{margin:2px 8px 2px 0;padding:3px 10px;border:1px solid #aab;border-radius:4px;background:#eef1f5;cursor:pointer}
#f-more{display:block;margin:10px auto}
.trend{display:block;margin-top:4px}.trend polyline{fill:none;stroke:#0b8793;stroke-width:2}
.trend circle{fill:#0b8793}.trend line{stroke:#d5d9df;stroke-width:1}
tr[hidden]{display:none}
.gate-failed{background:#c62828;color:#fff;padding:2px 8px;border-radius:4px}
.gate-passed{background:#2e9e55;color:#fff;padding:2px 8px;border-radius:4px}
"""

SCRIPT = r"""
(function(){
  var data=JSON.parse(document.getElementById('kubefort-data').textContent);
  var rows=data.rows, hosts=data.hosts, rules=data.rules;
  var col={}, rc={}; data.fields.forEach(function(n,i){col[n]=i;}); data.rule_fields.forEach(function(n,i){rc[n]=i;});
  var tbody=document.querySelector('#findings tbody');
  var boxes=[].slice.call(document.querySelectorAll('.filters input[type=checkbox]'));
  var hostSel=document.getElementById('f-host'), text=document.getElementById('f-text');
  var shown=document.getElementById('visible'), more=document.getElementById('f-more'), rendered=document.getElementById('rendered');
  var PAGE=200, limit=PAGE, matches=[], hay=null;
  var OPEN=data.open;
  function el(tag,cls,txt){var e=document.createElement(tag); if(cls){e.className=cls;} if(txt!=null){e.textContent=txt;} return e;}
  // paths, flags and lists may wrap after their separators, not in the middle of a word
  function code(v){
    var c=el('code');
    String(v).split(/(?<=[\/,=:;|])/).forEach(function(p,i){if(i){c.appendChild(document.createElement('wbr'));} c.appendChild(document.createTextNode(p));});
    return c;
  }
  function pill(kind,v){return el('span','pill '+kind+'-'+v,v.replace(/_/g,' '));}
  function row(r){
    var tr=document.createElement('tr'), st=r[col.status], sv=r[col.severity], ru=rules[r[col.rule]];
    tr.dataset.status=st; tr.dataset.severity=sv; tr.dataset.host=hosts[r[col.host]];
    var td=function(){var c=document.createElement('td'); tr.appendChild(c); return c;};
    td().textContent=hosts[r[col.host]];
    td().appendChild(pill('s',st)); td().appendChild(pill('v',sv));
    var rule=td(); rule.appendChild(el('b',null,ru[rc.id])); if(ru[rc.cis]){rule.appendChild(document.createTextNode(' · CIS '+ru[rc.cis]));}
    rule.appendChild(document.createElement('br')); rule.appendChild(document.createTextNode(ru[rc.title]));
    var actual=td(); if(r[col.actual]===null){actual.appendChild(el('i',null,'not found'));}else{actual.appendChild(code(r[col.actual]));}
    td().appendChild(code(r[col.expected]));
    td().appendChild(code(r[col.source]||'-'));
    var fix=td(); fix.className='fix'; fix.appendChild(document.createTextNode(ru[rc.remediation]||'-'));
    if(r[col.message]){fix.appendChild(el('div','sub',r[col.message]));}
    if(r[col.waiver]){fix.appendChild(el('div','sub','waived: '+r[col.waiver]));}
    if(r[col.files].length){
      var d=el('div','sub','files: ');
      r[col.files].forEach(function(p,i){if(i){d.appendChild(document.createTextNode(', '));} d.appendChild(code(p));});
      fix.appendChild(d);
    }
    return tr;
  }
  function wanted(kind){var s={};boxes.forEach(function(b){if(b.dataset.kind===kind&&b.checked){s[b.value]=1;}});return s;}
  function haystack(i){
    if(!hay){hay=new Array(rows.length);}
    if(hay[i]===undefined){
      var r=rows[i], ru=rules[r[col.rule]];
      hay[i]=[hosts[r[col.host]],r[col.status],r[col.severity],ru[rc.id],ru[rc.cis],ru[rc.title],r[col.actual],r[col.expected],
              r[col.source],ru[rc.remediation],r[col.message],r[col.waiver]].concat(r[col.files]).join('\n').toLowerCase();
    }
    return hay[i];
  }
  function draw(){
    var frag=document.createDocumentFragment(), n=Math.min(limit,matches.length);
    for(var i=0;i<n;i++){frag.appendChild(row(rows[matches[i]]));}
    tbody.replaceChildren(frag);
    shown.textContent=matches.length; rendered.textContent=n<matches.length?' (the first '+n+')':'';
    more.hidden=n>=matches.length; more.textContent='show '+Math.min(PAGE*5,matches.length-n)+' more';
  }
  function apply(){
    var st=wanted('status'), sv=wanted('severity'), h=hostSel.value, q=text.value.toLowerCase(), hi=h?hosts.indexOf(h):-1;
    matches=[]; limit=PAGE;
    for(var i=0;i<rows.length;i++){
      var r=rows[i];
      if(st[r[col.status]]&&sv[r[col.severity]]&&(!h||r[col.host]===hi)&&(!q||haystack(i).indexOf(q)>=0)){matches.push(i);}
    }
    draw();
  }
  function preset(){
    var hash=decodeURIComponent(location.hash.replace(/^#/,''));
    if(!hash){return;}
    hash.split('&').forEach(function(part){
      var kv=part.split('='), kind=kv[0], vals=(kv[1]||'').split(',');
      if(kind==='host'){hostSel.value=kv[1]||'';return;}
      if(kind==='q'){text.value=kv[1]||'';return;}
      boxes.forEach(function(b){if(b.dataset.kind===kind){b.checked=vals.indexOf('all')>=0||vals.indexOf(b.value)>=0;}});
    });
  }
  function setStatuses(all){
    boxes.forEach(function(b){b.checked=b.dataset.kind==='severity'||all||OPEN.indexOf(b.value)>=0;});
    if(all){hostSel.value=''; text.value='';}
    apply();
  }
  boxes.forEach(function(b){b.addEventListener('change',apply);});
  hostSel.addEventListener('change',apply); text.addEventListener('input',apply);
  document.getElementById('f-all').addEventListener('click',function(){setStatuses(true);});
  document.getElementById('f-open').addEventListener('click',function(){setStatuses(false);});
  more.addEventListener('click',function(){limit+=PAGE*5; draw();});
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


def trend_points(report: t.Mapping[str, t.Any], host: str) -> t.List[t.Tuple[str, t.Optional[float]]]:
    """(generated, score) of the host in the earlier runs the comparison knows, then in this run."""
    comparison = report.get("comparison") or {}
    points = [(str(run.get("generated") or ""), run["scores"][host]) for run in comparison.get("history") or [] if host in run["scores"]]
    current = next(h["summary"]["score"] for h in report["hosts"] if h["name"] == host)
    return points + [(str(report["run"].get("generated") or ""), current)]


def _trend(points: t.Sequence[t.Tuple[str, t.Optional[float]]]) -> str:
    """A small inline SVG line of the scores (0-100 %), oldest left; runs without a score are gaps."""
    if len(points) < 2:
        return '<div class="sub trend-none">no earlier run to compare with</div>'
    width, height, pad = 160, 36, 3
    step = (width - 2 * pad) / (len(points) - 1)
    segments: t.List[t.List[str]] = [[]]
    dots = []
    for index, (_when, score) in enumerate(points):
        if score is None:
            segments.append([])
            continue
        x, y = pad + index * step, pad + (100 - score) * (height - 2 * pad) / 100
        segments[-1].append("%.1f,%.1f" % (x, y))
        dots.append((x, y))
    lines = "".join('<polyline points="%s"/>' % " ".join(seg) for seg in segments if len(seg) > 1)
    last = '<circle cx="%.1f" cy="%.1f" r="2.5"/>' % dots[-1] if dots else ""
    title = "; ".join("%s: %s" % (when or "?", percent(score)) for when, score in points)
    return (
        '<svg class="trend" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="score trend" data-scores="%s">'
        '<title>score per run: %s</title><line x1="0" y1="%d" x2="%d" y2="%d"/>%s%s</svg>'
        % (width, height, width, height, _e(",".join("" if sc is None else "%g" % sc for _w, sc in points)), _e(title),
           height - pad, width, height - pad, lines, last)
    )


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
                _e(version), _e(version), _e(bench), _e(host.get("benchmark") or "-"),
                notes + _trend(trend_points(report, host["name"])),
            )
        )
    return '<div class="cards">%s</div>' % "".join(cards)


def _score_cell(section: t.Optional[t.Mapping[str, t.Any]]) -> str:
    if section is None:
        return '<td class="num none">–</td>'
    return '<td class="num %s" title="%s">%s</td>' % (
        _tone(section["score"]), _e(counts_phrase(section["by_status"])), percent(section["score"]))


# Up to this many hosts the matrix has a column per host; beyond, a row per host (a fixed-layout
# table of 1,000 rows lays out in a fraction of the time of one with 1,000 columns).
MATRIX_COLUMNS = 30


def _section_matrix(report: t.Mapping[str, t.Any]) -> str:
    fleet = {s["name"]: s for s in report["summary"]["sections"]}
    per_host = [{s["name"]: s for s in h["sections"]} for h in report["hosts"]]
    rows = []
    if len(report["hosts"]) <= MATRIX_COLUMNS:
        head = "<th>section</th><th>all hosts</th>" + "".join("<th>%s</th>" % _e(h["name"]) for h in report["hosts"])
        for name in fleet:
            cells = _score_cell(fleet[name]) + "".join(_score_cell(sections.get(name)) for sections in per_host)
            rows.append("<tr><th>%s</th>%s</tr>" % (_e(name), cells))
        table = '<table id="sections">'
    else:
        head = "<th>host</th>" + "".join("<th>%s</th>" % _e(name) for name in fleet)
        rows.append("<tr><th>all hosts</th>%s</tr>" % "".join(_score_cell(fleet[name]) for name in fleet))
        for host, sections in zip(report["hosts"], per_host):
            rows.append("<tr><th>%s</th>%s</tr>" % (_e(host["name"]), "".join(_score_cell(sections.get(name)) for name in fleet)))
        table = '<table id="sections" class="by-host">'
    return '<div class="scroll">%s<thead><tr>%s</tr></thead><tbody>%s</tbody></table></div>' % (table, head, "".join(rows))


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


# What the page opens on: everything that needs attention (open findings and manual checks).
DEFAULT_STATUSES = ("fail", "would_fix", "error", "manual")
# open findings first, most severe first; then what needs a person; then the rest
ORDER = {"fail": 0, "would_fix": 0, "error": 0, "manual": 1, "waived": 2, "fixed": 3, "pass": 4, "not_applicable": 5, "skipped": 5}
FIELDS = ("host", "rule", "status", "severity", "actual", "expected", "source", "message", "waiver", "files")
RULE_FIELDS = ("id", "cis", "title", "remediation")


def _filters(report: t.Mapping[str, t.Any]) -> str:
    def boxes(kind: str, values: t.Sequence[str], checked: t.Sequence[str]) -> str:
        return "".join(
            '<label><input type="checkbox" data-kind="%s" value="%s"%s> %s</label>'
            % (kind, v, " checked" if v in checked else "", v.replace("_", " ")) for v in values
        )

    hosts = "".join('<option value="%s">%s</option>' % (_e(h["name"]), _e(h["name"])) for h in report["hosts"])
    return (
        '<div class="filters"><div><button type="button" id="f-all">Show all results</button>'
        '<button type="button" id="f-open">Only what needs attention</button></div>'
        "<fieldset><legend>Status</legend>%s</fieldset>"
        "<fieldset><legend>Severity</legend>%s</fieldset>"
        '<fieldset><legend>Host</legend><select id="f-host"><option value="">all hosts</option>%s</select></fieldset>'
        '<fieldset><legend>Search</legend><input id="f-text" type="search" placeholder="rule, value, file…"></fieldset>'
        '<div><span id="visible">0</span> of %d results shown<span id="rendered"></span></div></div>'
        % (boxes("status", STATUSES, DEFAULT_STATUSES), boxes("severity", SEVERITIES[::-1], SEVERITIES), hosts,
           sum(len(h["results"]) for h in report["hosts"]))
    )


def rows(report: t.Mapping[str, t.Any]) -> t.Tuple[t.List[t.List[t.Any]], t.List[t.List[t.Any]]]:
    """(rows, rules): every result as FIELDS values in the order the page lists them, with the host as
    its index and the rule as an index into rules (RULE_FIELDS, each distinct rule text once)."""
    items = [(index, r) for index, h in enumerate(report["hosts"]) for r in h["results"]]
    items.sort(key=lambda ir: (ORDER[ir[1]["status"]], -SEVERITY_RANK[ir[1]["severity"]]))
    rules: t.List[t.List[t.Any]] = []
    known: t.Dict[t.Tuple[t.Any, ...], int] = {}
    out = []
    for index, r in items:
        key = (r["id"], r["cis"] or "", r["title"], r["remediation"])
        rule = known.get(key)
        if rule is None:
            rule = known[key] = len(rules)
            rules.append(list(key))
        waiver = None
        if r.get("waiver"):
            waiver = "%s (expires %s)" % (r["waiver"].get("reason") or "", r["waiver"].get("expires") or "never")
        out.append([index, rule, r["status"], r["severity"], r["actual"], r["expected"], r["source"], r["message"], waiver,
                    r["changed_files"]])
    return out, rules


def _data(report: t.Mapping[str, t.Any]) -> str:
    table, rules = rows(report)
    data = {"fields": FIELDS, "rule_fields": RULE_FIELDS, "open": DEFAULT_STATUSES, "hosts": [h["name"] for h in report["hosts"]],
            "rules": rules, "rows": table}
    # '<' escaped: nothing in the data can end the script element or open a comment
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    return '<script type="application/json" id="kubefort-data">%s</script>' % text


COLUMNS = "".join('<col style="width:%d%%">' % width for width in (7, 6, 6, 18, 11, 12, 14, 26))


def _findings(report: t.Mapping[str, t.Any]) -> str:
    return (
        '<div class="scroll-x"><table id="findings"><colgroup>%s</colgroup><thead><tr><th>host</th><th>status</th><th>severity</th><th>rule</th><th>actual</th>'
        '<th>expected</th><th>source</th><th>fix</th></tr></thead><tbody></tbody></table></div>'
        '<noscript><p>The findings table needs JavaScript; report.md lists the same findings.</p></noscript>'
        '<button type="button" id="f-more" hidden>show more</button>' % COLUMNS
    )


def render(report: t.Mapping[str, t.Any]) -> str:
    run, summary = report["run"], report["summary"]
    gate = summary["gate"]
    gate_html = ""
    if gate["fail_on"] != "none":
        gate_html = ' · gate fail_on=%s: <span class="gate-%s">%s</span>' % (
            _e(gate["fail_on"]), "failed" if gate["failed"] else "passed", "FAILED" if gate["failed"] else "passed")
    if summary.get("kubeadm_reverts"):
        gate_html += ' · <span id="kubeadm-reverts">%d fixes a kubeadm upgrade would revert</span>' % summary["kubeadm_reverts"]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        "<title>kubefort report · score %s</title><style>%s</style></head><body>"
        '<header><h1>kubefort.hardening report</h1><div class="meta">%s · %s mode · %d hosts · %d results · '
        'overall score <b id="overall-score">%s</b> · %s%s</div>'
        '<div class="meta">kubefort.hardening %s · ansible-core %s · schema %s</div></header><main>'
        "<h2>Hosts</h2>%s<h2>Score per section</h2>%s%s<h2>Findings</h2>%s%s</main>"
        "%s<script>%s</script></body></html>\n"
        % (
            percent(summary["score"]), CSS,
            _e(run.get("generated")), _e(run.get("mode")), summary["hosts"], summary["total"], percent(summary["score"]),
            _e(counts_phrase(summary["by_status"])), gate_html,
            _e(run.get("collection_version")), _e(run.get("ansible_version")), _e(report["schema_version"]),
            _host_cards(report), _section_matrix(report), _comparison(report), _filters(report), _findings(report), _data(report), SCRIPT,
        )
    )
