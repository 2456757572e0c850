"""The report role in a real playbook run: fake hosts with results, then every written file checked.

Node roles store results with set_fact; here a small playbook does the same for two fake hosts (and
cluster-wide results on localhost), prints the progress line per host, then runs the report role.
Checks: report.json against docs/report.schema.json, kube-bench files against kube-bench's layout,
report.xml against the JUnit XSD, and report.html opened in headless Chromium (DOM text, filters,
and a screenshot whose pixels show the page).
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import zlib

import jsonschema
import pytest
import xmlschema

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "unit"))

import test_report_kube_bench as kube_bench_layout
import test_report_samples as samples
from test_report_model import RUN, counts_text, shown

from ansible_collections.kubefort.hardening.plugins.plugin_utils import _report_model as model

pytestmark = pytest.mark.integration
BIN = os.path.dirname(sys.executable)

INVENTORY = """
all:
  hosts:
    localhost: {ansible_connection: local, ansible_python_interpreter: "%s"}
  children:
    kube_control_plane:
      hosts:
        cp1: {ansible_connection: local, ansible_python_interpreter: "%s"}
    kube_node:
      hosts:
        node1: {ansible_connection: local, ansible_python_interpreter: "%s"}
        node2: {ansible_connection: local, ansible_python_interpreter: "%s"}
""" % ((sys.executable,) * 4)

PLAYBOOK = """
- name: Fake node plays (results as the hardening roles store them)
  hosts: cp1:node1
  gather_facts: false
  tasks:
    - name: Store this host's results
      ansible.builtin.set_fact:
        kubefort_results: "{{ lookup('ansible.builtin.file', 'results/' + inventory_hostname + '.json') | from_json }}"
        kubefort_host: "{{ lookup('ansible.builtin.file', 'results/' + inventory_hostname + '.host.json') | from_json }}"
    - name: Show progress
      ansible.builtin.include_role:
        name: kubefort.hardening.report
        tasks_from: progress

- name: Report on every host
  hosts: localhost
  gather_facts: false
  pre_tasks:
    - name: Store the cluster-wide results
      ansible.builtin.set_fact:
        kubefort_cluster_results: "{{ lookup('ansible.builtin.file', 'results/cluster.json') | from_json }}"
  roles:
    - role: kubefort.hardening.report
"""


OPEN_OR_MANUAL = ("fail", "would_fix", "error", "manual")  # what the page shows first


def expected(cp1: list, node1: list) -> dict:
    """The report the role must write for these results, built in-process by the report model."""
    hosts = [model.build_host("cp1", cp1, samples.HOST_INFO["cp1"]), model.build_host("node1", node1, samples.HOST_INFO["node1"]),
             model.build_host("cluster", samples.cluster(), {"roles": ["cluster"]}, kind="cluster")]
    return model.build_report(hosts, RUN)


def progress_counts(results: list) -> str:
    """The counts of the progress line: open first, then the rest (the callback's order)."""
    order = ("fail", "would_fix", "error", "fixed", "manual", "waived", "pass", "not_applicable", "skipped")
    statuses = [r["status"] for r in results]
    return ", ".join("%d %s" % (statuses.count(s), s) for s in order if s in statuses)


def write_project(path: str, cp1: list, node1: list) -> None:
    os.makedirs(os.path.join(path, "results"), exist_ok=True)
    with open(os.path.join(path, "inventory.yml"), "w") as handle:
        handle.write(INVENTORY)
    with open(os.path.join(path, "site.yml"), "w") as handle:
        handle.write(PLAYBOOK)
    data = {
        "cp1": cp1,
        "node1": node1,
        "cluster": samples.cluster(),
        # the run that recorded them is not this playbook run: without its ID, as facts set by hand
        "cp1.host": {k: v for k, v in samples.HOST_INFO["cp1"].items() if k != "run"},
        "node1.host": {k: v for k, v in samples.HOST_INFO["node1"].items() if k != "run"},
    }
    for name, value in data.items():
        with open(os.path.join(path, "results", name + ".json"), "w") as handle:
            json.dump(value, handle)


def playbook(path: str, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1", PATH=BIN + os.pathsep + os.environ["PATH"])
    return subprocess.run(
        # node2 is left out with --limit: listed under hosts_without_results, not a failed host (a host of
        # the run that reports nothing fails the run: tests/integration/test_bad_input_playbook.py).
        [os.path.join(BIN, "ansible-playbook"), "-i", "inventory.yml", "site.yml", "--limit", "cp1,node1,localhost", *extra],
        cwd=path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )


@pytest.fixture(scope="module")
def audit(tmp_path_factory) -> dict:
    """One check-mode run with the default report directory (./kubefort-report/ of the current directory).

    node2 is left out with --limit (see playbook())."""
    path = str(tmp_path_factory.mktemp("audit"))
    write_project(path, samples.control_plane(), samples.worker())
    proc = playbook(path, "--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {"path": path, "dir": os.path.join(path, "kubefort-report"), "stdout": proc.stdout}


def load(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def test_every_file_is_written(audit: dict) -> None:
    names = sorted(os.listdir(audit["dir"]))
    assert names == ["kube-bench", "report.html", "report.json", "report.md", "report.xml"]
    assert sorted(os.listdir(os.path.join(audit["dir"], "kube-bench"))) == ["cluster.json", "cp1.json", "node1.json"]


def test_report_json_follows_the_schema(audit: dict) -> None:
    report = load(os.path.join(audit["dir"], "report.json"))
    jsonschema.validate(report, load(os.path.join(REPO, "docs", "report.schema.json")), format_checker=jsonschema.FormatChecker())
    assert report["run"]["mode"] == "check"
    assert report["run"]["ansible_version"].startswith("2.")
    assert report["run"]["hosts_without_results"] == ["node2"]
    assert [h["name"] for h in report["hosts"]] == ["cp1", "node1", "cluster"]
    assert report["summary"]["by_status"] == expected(samples.control_plane(), samples.worker())["summary"]["by_status"]


def test_kube_bench_files_follow_kube_bench_layout(audit: dict) -> None:
    for name in ("cp1", "node1", "cluster"):
        doc = load(os.path.join(audit["dir"], "kube-bench", name + ".json"))
        assert list(doc) == kube_bench_layout.TOP
        kube_bench_layout.assert_fields(doc["Totals"], kube_bench_layout.TOTALS)
        for controls in doc["Controls"]:
            kube_bench_layout.assert_fields(controls, kube_bench_layout.CONTROLS)
            for group in controls["tests"]:
                kube_bench_layout.assert_fields(group, kube_bench_layout.GROUP)
                for check in group["results"]:
                    kube_bench_layout.assert_fields(check, kube_bench_layout.CHECK, optional=("reason",))
    statuses = [r["status"] for r in samples.control_plane()]
    assert load(os.path.join(audit["dir"], "kube-bench", "cp1.json"))["Totals"] == {
        "total_pass": statuses.count("pass") + statuses.count("fixed"),
        "total_fail": statuses.count("fail") + statuses.count("would_fix") + statuses.count("error"),
        "total_warn": statuses.count("manual"),
        "total_info": statuses.count("waived") + statuses.count("not_applicable") + statuses.count("skipped")}


def test_junit_is_valid_for_ci_servers(audit: dict) -> None:
    schema = xmlschema.XMLSchema(os.path.join(REPO, "tests", "fixtures", "junit", "junit.xsd"))
    schema.validate(os.path.join(audit["dir"], "report.xml"))
    decoded = schema.to_dict(os.path.join(audit["dir"], "report.xml"))
    statuses = [r["status"] for r in samples.control_plane() + samples.worker() + samples.cluster()]
    assert decoded["@tests"] == len(statuses) and decoded["@failures"] == statuses.count("fail") + statuses.count("would_fix")


def test_markdown_and_summary(audit: dict) -> None:
    with open(os.path.join(audit["dir"], "report.md"), encoding="utf-8") as handle:
        md = handle.read()
    report = expected(samples.control_plane(), samples.worker())
    summary = report["summary"]
    assert "**Score %s** over 3 hosts and %d results: %s." % (shown(summary["score"]), summary["total"], counts_text(summary["by_status"])) in md
    out = " ".join(audit["stdout"].split())  # the callback wraps long lines
    cp1, node1 = (h["summary"]["score"] for h in report["hosts"][:2])
    assert "kubefort [1/2] cp1: score %s%%, %s" % (cp1, progress_counts(samples.control_plane())) in out
    assert "kubefort [2/2] node1: score %s%%, %s" % (node1, progress_counts(samples.worker())) in out
    assert "kubefort cis-1.12 report: 3 hosts, %d results, score %s (check mode)" % (summary["total"], shown(summary["score"])) in out
    assert "no results from: node2 (unreachable, failed, or not audited)" in out
    assert "changed=0" in out and "failed=0" in out


# --- the HTML page in a real browser -------------------------------------------------------------

def chromium(*args: str, cwd: str) -> subprocess.CompletedProcess:
    browser = shutil.which("chromium")
    assert browser, "Debian's chromium is needed (.ci/apt-packages.txt installs it)"
    return subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--user-data-dir=" + os.path.join(cwd, "profile"), *args],
        cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )


def dom(audit: dict, fragment: str = "", page: str = "report.html") -> str:
    url = "file://" + os.path.join(audit["dir"], page) + fragment
    proc = chromium("--dump-dom", url, cwd=audit["path"])
    assert proc.returncode == 0 and "<html" in proc.stdout, proc.stderr[-2000:]
    return proc.stdout


def harness(audit: dict, name: str, script: str) -> str:
    """A copy of report.html with one more script at the end, run after the page's own (clicks, measurements)."""
    with open(os.path.join(audit["dir"], "report.html"), encoding="utf-8") as handle:
        page = handle.read()
    with open(os.path.join(audit["dir"], name), "w", encoding="utf-8") as handle:
        handle.write(page.replace("</body>", "<script>%s</script></body>" % script))
    return name


def shown_rows(page: str) -> list:
    rows = page.split('<table id="findings">')[1].split("</table>")[0].split("<tr data-status=")[1:]
    return [row.split('"')[1] for row in rows if "hidden" not in row.split(">")[0]]


def test_html_renders_scores_and_findings(audit: dict) -> None:
    page = dom(audit)
    report = expected(samples.control_plane(), samples.worker())
    assert '<b id="overall-score">%s</b>' % shown(report["summary"]["score"]) in page
    for text in ("cp1", "node1", "cluster", "4.2 Kubelet", samples.by_id(samples.worker(), "kubelet-read-only-port")["remediation"]):
        assert text in page
    # it opens on what needs attention: the open findings and manual checks
    attention = sorted(r["status"] for h in report["hosts"] for r in h["results"] if r["status"] in OPEN_OR_MANUAL)
    assert '<span id="visible">%d</span>' % len(attention) in page
    assert sorted(shown_rows(page)) == attention


def test_html_one_click_shows_everything(audit: dict) -> None:
    report = expected(samples.control_plane(), samples.worker())
    everything = [r for h in report["hosts"] for r in h["results"]]
    page = dom(audit, page=harness(audit, "all.html", "document.getElementById('f-all').click();"))
    assert '<span id="visible">%d</span>' % len(everything) in page and len(shown_rows(page)) == len(everything)
    page = dom(audit, page=harness(audit, "back.html", "document.getElementById('f-all').click();document.getElementById('f-open').click();"))
    assert '<span id="visible">%d</span>' % sum(1 for r in everything if r["status"] in OPEN_OR_MANUAL) in page


@pytest.mark.parametrize(
    "fragment, wanted",
    [
        ("#status=fail,would_fix&severity=critical,high", lambda h, r: r["status"] in ("fail", "would_fix")
         and r["severity"] in ("critical", "high")),
        ("#host=node1", lambda h, r: h == "node1" and r["status"] in OPEN_OR_MANUAL),
        ("#host=node1&status=all", lambda h, r: h == "node1"),
        ("#q=apiserver-authorization-mode-not-alwaysallow", lambda h, r: r["id"] == "apiserver-authorization-mode-not-alwaysallow"),
    ],
    ids=["status-and-severity", "host", "host-every-status", "text"],
)
def test_html_filters_work_in_the_browser(audit: dict, fragment: str, wanted) -> None:
    report = expected(samples.control_plane(), samples.worker())
    visible = sum(1 for h in report["hosts"] for r in h["results"] if wanted(h["name"], r))
    assert visible > 0
    page = dom(audit, fragment)
    assert '<span id="visible">%d</span>' % visible in page
    assert len(shown_rows(page)) == visible


# Where each line of a code cell ends, in a narrow window: after a separator or a space; inside a word
# only when that word alone is wider than its cell (then nothing else fits).
WRAP_CHECK = """
var out=[], SEP='/,=:;| -';
document.getElementById('f-all').click();
[].slice.call(document.querySelectorAll('#findings code')).forEach(function(c){
  var text=c.textContent, tops=[], widths=[], walker=document.createTreeWalker(c,NodeFilter.SHOW_TEXT), node;
  while((node=walker.nextNode())){for(var i=0;i<node.data.length;i++){var r=document.createRange();r.setStart(node,i);r.setEnd(node,i+1);
    var rect=r.getClientRects()[0]; tops.push(rect?rect.top:null); widths.push(rect?rect.width:0);}}
  var cell=c.closest('td'), room=cell.clientWidth-parseFloat(getComputedStyle(cell).paddingLeft)-parseFloat(getComputedStyle(cell).paddingRight);
  for(var j=1;j<tops.length;j++){
    if(tops[j]===null||tops[j-1]===null||tops[j]<=tops[j-1]+2){continue;}
    var a=j-1,b=j; while(a>0&&SEP.indexOf(text.charAt(a-1))<0){a--;} while(b<text.length&&SEP.indexOf(text.charAt(b))<0){b++;}
    var w=0; for(var k=a;k<b;k++){w+=widths[k];}
    out.push([text,text.charAt(j-1),text.charAt(j),w>room-8]);
  }
});
var pre=document.createElement('pre'); pre.id='wrap-check'; pre.textContent=JSON.stringify(out); document.body.appendChild(pre);
"""


def test_html_paths_and_flags_wrap_at_separators(audit: dict) -> None:
    name = harness(audit, "wrap.html", WRAP_CHECK)
    proc = chromium("--window-size=640,900", "--dump-dom", "file://" + os.path.join(audit["dir"], name), cwd=audit["path"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    breaks = json.loads(proc.stdout.split('<pre id="wrap-check">')[1].split("</pre>")[0].replace("&quot;", '"').replace("&amp;", "&"))
    assert breaks, "nothing wrapped at 640 px: the check would prove nothing"
    assert any("/" in text and before == "/" for text, before, _after, _wide in breaks), breaks
    for text, before, after, too_wide in breaks:
        assert before in "/,=:;| -" or after == " " or too_wide, (text, before, after)


def png_pixels(path: str) -> tuple:
    """Width, height and rows of RGB(A) tuples of an 8-bit RGB/RGBA PNG (Chromium's screenshots)."""
    with open(path, "rb") as handle:
        data = handle.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6)
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x:x + 3]) for x in range(0, stride, bpp)])
        prev = line
    return width, height, rows


def near(pixel: tuple, color: tuple, tolerance: int = 24) -> bool:
    return all(abs(p - c) <= tolerance for p, c in zip(pixel, color))


def test_html_screenshot_shows_the_report(audit: dict) -> None:
    shot = os.path.join(audit["path"], "report.png")
    # tall enough for the first rows of the score matrix below the host cards
    proc = chromium("--window-size=1000,1000", "--screenshot=" + shot, "file://" + os.path.join(audit["dir"], "report.html"), cwd=audit["path"])
    assert proc.returncode == 0 and os.path.getsize(shot) > 10000, proc.stderr[-2000:]
    width, height, rows = png_pixels(shot)
    assert (width, height) == (1000, 1000)
    colors = {pixel for row in rows[::7] for pixel in row[::7]}
    assert len(colors) > 50, "the screenshot is blank"
    header = [row[500] for row in rows[5:40]]
    assert sum(near(p, (0x1D, 0x2B, 0x45)) for p in header) > 25, "no dark header band at the top"
    red = sum(near(p, (0xC6, 0x28, 0x28), 40) or near(p, (0xD8, 0x3B, 0x3B), 40) for row in rows for p in row[::3])
    green = sum(near(p, (0x2E, 0x9E, 0x55), 40) or near(p, (0x17, 0x80, 0x3D), 40) for row in rows for p in row[::3])
    assert red > 100, "the failing scores are not shown in red"
    assert green > 20, "the passing sections are not shown in green"


# --- gate, comparison and bad input --------------------------------------------------------------

def test_fail_on_fails_after_the_report_is_written(tmp_path) -> None:
    write_project(str(tmp_path), samples.control_plane(), samples.worker())
    proc = playbook(str(tmp_path), "--check", "-e", "kubefort_fail_on=critical", "-e", "kubefort_report_dir=out")
    assert proc.returncode == 2, proc.stdout
    critical = sum(1 for r in samples.control_plane() + samples.worker() + samples.cluster()
                   if r["severity"] == "critical" and r["status"] in ("fail", "would_fix", "error"))
    assert "%d open finding(s) at or above severity critical remain (kubefort_fail_on)" % critical in proc.stdout
    report = load(str(tmp_path / "out" / "report.json"))
    assert report["summary"]["gate"] == {"fail_on": "critical", "findings": critical, "failed": True}
    # the same findings pass a gate set above their severity
    clean = [r for r in samples.control_plane() if r["severity"] != "critical"]
    write_project(str(tmp_path), clean, [r for r in samples.worker() if r["severity"] != "critical"])
    with open(str(tmp_path / "results" / "cluster.json"), "w") as handle:
        json.dump([r for r in samples.cluster() if r["severity"] != "critical"], handle)
    proc = playbook(str(tmp_path), "--check", "-e", "kubefort_fail_on=critical", "-e", "kubefort_report_dir=out")
    assert proc.returncode == 0, proc.stdout


def test_comparison_with_the_previous_report(tmp_path, audit: dict) -> None:
    previous = os.path.join(audit["dir"], "report.json")
    # the same hosts after kubefort fixed them (apply, then audited again)
    write_project(str(tmp_path), samples.control_plane("hardened"), samples.worker("hardened"))
    proc = playbook(str(tmp_path), "-e", "kubefort_report_compare=" + previous)
    assert proc.returncode == 0, proc.stdout
    report = load(str(tmp_path / "kubefort-report" / "report.json"))
    assert report["run"]["mode"] == "apply"
    comparison = report["comparison"]
    opened = ("fail", "would_fix", "error")
    before = {(h, r["id"]) for h, rs in (("cp1", samples.control_plane()), ("node1", samples.worker()), ("cluster", samples.cluster()))
              for r in rs if r["status"] in opened}
    after = {(h, r["id"]) for h, rs in (("cp1", samples.control_plane("hardened")), ("node1", samples.worker("hardened")),
                                        ("cluster", samples.cluster())) for r in rs if r["status"] in opened}
    assert before - after and before & after and not after - before
    assert comparison["counts"] == {"new": 0, "fixed": len(before - after), "regressed": 0, "still_open": len(before & after), "gone": 0}
    assert sorted((e["host"], e["id"]) for e in comparison["fixed"]) == sorted(before - after)
    assert ("cp1", "apiserver-authorization-mode-not-alwaysallow") in before - after
    assert "0 new, %d fixed, 0 regressed, %d still open" % (len(before - after), len(before & after)) in proc.stdout
    jsonschema.validate(report, load(os.path.join(REPO, "docs", "report.schema.json")))
    earlier = expected(samples.control_plane(), samples.worker())
    assert [run["scores"] for run in comparison["history"]] == [{h["name"]: h["summary"]["score"] for h in earlier["hosts"]}]

    # the page draws each host's score trend (previous run, this run) in the browser
    audit_now = {"path": str(tmp_path), "dir": str(tmp_path / "kubefort-report")}
    page = dom(audit_now)
    cp1_then, cp1_now = earlier["hosts"][0]["summary"]["score"], report["hosts"][0]["summary"]["score"]
    assert cp1_then < cp1_now
    assert page.count('<svg class="trend"') == 3 and 'data-scores="%s,%s"' % (shown(cp1_then, ""), shown(cp1_now, "")) in page
    shot = os.path.join(str(tmp_path), "trend.png")
    proc = chromium("--window-size=1000,700", "--screenshot=" + shot, "file://" + os.path.join(audit_now["dir"], "report.html"), cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    width, height, rows = png_pixels(shot)
    # the trend lines' colour (#0b8793, used nowhere else on the page) in the host cards near the top
    teal = sum(near(p, (0x0B, 0x87, 0x93), 30) for row in rows[:450] for p in row)
    assert teal > 60, "no score trend drawn in the host cards"


def test_bad_compare_path_fails_clearly_and_writes_nothing(tmp_path) -> None:
    write_project(str(tmp_path), samples.control_plane(), samples.worker())
    proc = playbook(str(tmp_path), "--check", "-e", "kubefort_report_compare=missing/report.json")
    assert proc.returncode == 2
    assert "kubefort_report_compare: missing/report.json does not exist" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not (tmp_path / "kubefort-report").exists()
