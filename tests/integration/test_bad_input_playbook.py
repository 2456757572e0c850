"""harden.yml with broken hosts, as a user meets them: every other host is audited, the report lists every
host in every format, the run fails afterwards with the cause, and bad variables stop it up front.

The first control-plane host (cp1) has no kubefort_root, cp2's API server manifest is binary garbage and
worker3's kubelet config is empty: check mode, then apply mode.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "unit"))
from kubefort_testlib import REPO, ROOT_OWNED, demo_node, tree_hashes  # noqa: E402

pytestmark = pytest.mark.integration
NODES = ["cp1", "cp2", "cp3", "worker1", "worker2", "worker3"]
APISERVER = "etc/kubernetes/manifests/kube-apiserver.yaml"


def playbook(tmp_path, report_dir, *args):
    env = dict(os.environ, KUBEFORT_DEMO_DIR=str(tmp_path / "nodes"), ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               PATH=os.path.join(REPO, ".venv", "bin") + os.pathsep + os.environ["PATH"])
    command = [os.path.join(REPO, ".venv", "bin", "ansible-playbook"), os.path.join(REPO, "playbooks", "harden.yml"),
               "-i", os.path.join(REPO, "demo", "inventory.yml"), "-e", "kubefort_report_dir=%s" % report_dir, *args]
    return subprocess.run(command, env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("broken")
    for name in NODES:
        demo_node(tmp_path, name)
    shutil.rmtree(tmp_path / "nodes" / "cp1")
    with open(tmp_path / "nodes" / "cp2" / APISERVER, "wb") as handle:
        handle.write(bytes(range(256)) * 8)
    with open(tmp_path / "nodes" / "worker3" / "var/lib/kubelet/config.yaml", "w"):
        pass
    return tmp_path


def check_report(report_dir, mode):
    with open(report_dir / "report.json") as handle:
        data = json.load(handle)
    assert data["run"]["mode"] == mode
    hosts = {h["name"]: h for h in data["hosts"]}
    assert set(NODES) <= set(hosts), sorted(hosts)
    # cp1: a failed host with the reason, an open error, score 0.
    cp1 = hosts["cp1"]
    assert cp1["failures"] and all("is not a directory on this host. Set kubefort_root" in f["reason"] for f in cp1["failures"])
    # The control_plane stage failed; the later stages of the host skip (nothing more to learn there).
    assert [f["stage"] for f in cp1["failures"]] == ["control_plane"]
    assert cp1["summary"]["score"] == 0 and cp1["summary"]["by_status"]["error"] == 1
    assert "cp1" in data["summary"]["failed_hosts"]
    # cp2: the API server's rules are errors naming the file, listed as a read error.
    apiserver = [r for r in hosts["cp2"]["results"] if r["component"] == "kube-apiserver"]
    assert apiserver and all(r["status"] == "error" or r["message"].startswith(("level 2 rule", "applies")) for r in apiserver), apiserver
    assert len([r for r in apiserver if r["status"] == "error"]) > 20
    assert "kube-apiserver.yaml is not UTF-8 text" in apiserver[0]["message"]
    assert any("kube-apiserver.yaml is not UTF-8 text" in e for e in hosts["cp2"]["read_errors"])
    # worker3: the empty kubelet config is refused, never "pass by default".
    kubelet = {r["id"]: r for r in hosts["worker3"]["results"] if r["component"] == "kubelet"}
    for rule_id in ("kubelet-anonymous-auth", "kubelet-authorization-mode", "kubelet-read-only-port"):
        assert kubelet[rule_id]["status"] == "error" and "is empty; kubelet refuses it" in kubelet[rule_id]["message"]
    # The other hosts were audited as usual.
    for name in ("cp3", "worker1", "worker2"):
        statuses = {r["status"] for r in hosts[name]["results"]}
        assert {"pass"} <= statuses and statuses & {"fail", "would_fix", "fixed"}, (name, statuses)
    # Every format shows the failed host.
    markdown = (report_dir / "report.md").read_text()
    assert "## Hosts that failed" in markdown and "| cp1 | control_plane |" in markdown and "## Read errors" in markdown
    html = (report_dir / "report.html").read_text()
    assert 'class="card host-failed" data-host="cp1"' in html and "FAILED (control_plane)" in html
    junit = ET.parse(report_dir / "report.xml").getroot()
    suite = next(s for s in junit.iter("testsuite") if s.get("name") == "cp1")
    case = next(c for c in suite.iter("testcase") if "kubefort-host-failed" in c.get("name"))
    assert case.find("error") is not None and "Set kubefort_root" in case.find("error").get("message")
    with open(report_dir / "kube-bench" / "cp1.json") as handle:
        bench = json.load(handle)
    assert bench["Totals"]["total_fail"] >= 1
    return hosts


def test_check_mode_audits_every_other_host_and_reports_the_broken_ones(broken):
    before = tree_hashes(str(broken / "nodes"))
    proc = playbook(broken, broken / "check", "--check")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-4000:]
    assert tree_hashes(str(broken / "nodes")) == before
    assert "NO MORE HOSTS LEFT" not in out and "Traceback" not in out
    check_report(broken / "check", "check")
    assert "FAILED cp1 (control_plane):" in out and "read error on cp2:" in out
    assert "kubefort could not audit or harden 1 host(s): cp1: control_plane:" in out


@ROOT_OWNED
def test_apply_mode_hardens_the_other_offline_hosts_and_still_writes_the_report(broken):
    # Offline trees: the run restarts nothing there, so there is no control-plane rollout to stop. cp1's
    # failure leaves cp2 and cp3 hardened at once like the workers (the one-at-a-time rollout and its stop
    # are for hosts the run restarts components on: test_failures_recorded.py's live hosts).
    nodes = broken / "nodes"
    before = tree_hashes(str(nodes))
    proc = playbook(broken, broken / "apply")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-4000:]
    hosts = check_report(broken / "apply", "apply")
    rollout = out.split("PLAY [Harden the control plane, etcd and ungrouped hosts one at a time")[1].split("PLAY [")[0]
    assert "skipping: no hosts matched" in rollout, rollout
    for name in ("cp2", "cp3"):
        assert re.search(r"^%s\s+: ok=\d+\s+changed=[1-9]" % name, out, re.M), out[-2000:]
        assert hosts[name]["failures"] == [], hosts[name]["failures"]
        assert [r for r in hosts[name]["results"] if r["status"] == "fixed"], name
    after = tree_hashes(str(nodes))
    # What could not be read is not written: cp2's API server manifest and worker3's empty kubelet config.
    for path in ("cp2/" + APISERVER, "worker3/var/lib/kubelet/config.yaml"):
        assert after.get(path) == before[path], path
    assert [p for p in before if p.startswith("cp3/") and after.get(p) != before[p]]
    assert [r for r in hosts["worker1"]["results"] if r["status"] == "fixed"]
    assert "kubefort could not audit or harden 1 host(s): cp1" in out


@pytest.mark.parametrize("extra, words", [
    ({"kubefort_level": "high"}, "kubefort_level: expected an integer, one of 1, 2, got \"high\" (str); for example kubefort_level: 1"),
    ({"kubefort_waivers": [{"id": "4.2.99", "reason": "legacy"}]}, "kubefort_waivers name unknown rule ID(s): 4.2.99"),
])
def test_bad_variables_stop_the_run_before_any_host_in_one_line(broken, extra, words):
    proc = playbook(broken, broken / "never", "--check", "-e", json.dumps(extra))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert words in out, out[-3000:]
    assert "argument_spec_data" not in out and "Traceback" not in out
    assert not os.path.exists(broken / "never")
    assert "Audit and harden" not in out


@ROOT_OWNED
def test_apply_mode_a_later_control_plane_failure_does_not_stop_the_earlier_hosts(tmp_path):
    # The control plane is planned at once before its rollout: cp3's plan fails first, but the rollout goes
    # in host order, so cp1 and cp2 are hardened before cp3's turn (as without a plan); cp3 fails.
    for name in NODES:
        demo_node(tmp_path, name)
    shutil.rmtree(tmp_path / "nodes" / "cp3")
    proc = playbook(tmp_path, tmp_path / "apply")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-4000:]
    with open(tmp_path / "apply" / "report.json") as handle:
        hosts = {h["name"]: h for h in json.load(handle)["hosts"]}
    assert [f["stage"] for f in hosts["cp3"]["failures"]] == ["control_plane"]
    for name in ("cp1", "cp2", "worker1"):
        assert hosts[name]["failures"] == [], (name, hosts[name]["failures"])
        assert [r for r in hosts[name]["results"] if r["status"] == "fixed"], name
    assert "kubefort could not audit or harden 1 host(s): cp3" in out
