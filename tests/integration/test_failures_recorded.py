"""No failed task ends the run before the report: every kind of task of harden.yml records its failure.

One inventory, audited (--check) and then hardened, each time from fresh copies of the demo nodes:

- ``live0`` (first control-plane host) is this machine (kubefort_root /) with no components selected, so
  nothing is ever written on it; its ports role has the firewall on without sources for 10250 (the firewall
  task refuses) and an unreachable prober (the probe task fails);
- ``cp2``: a demo control plane (an offline tree: the run restarts nothing there);
- ``cp3``: this machine (kubefort_root /) whose Python interpreter does not exist (its control-plane task
  fails: the rescue of harden_node.yml records it; its node task then does nothing more on it);
- ``live1``: this machine again, after them, with no components selected (nothing is written on it);
- ``worker1``: a demo worker;
- ``gone``: a worker whose connection fails (ssh to a loopback port nothing listens on);
- the cluster play reads a saved dump that does not exist (the cluster policy task fails).

Every other host is audited (and in apply mode the workers and cp2 hardened), the report is written in every
format listing each failed host with its reason, and the run's exit status is non-zero. In apply mode the
control-plane rollout (the hosts the run restarts components on, one at a time) stops at the first failure:
live1, after live0 and cp3, is audited, not changed; cp2, an offline tree, is hardened at once whatever the
others do.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "unit"))
from kubefort_testlib import REPO, demo_node, tree_hashes  # noqa: E402

pytestmark = pytest.mark.integration
VENV_BIN = os.path.join(REPO, ".venv", "bin")
DEMO = ("cp2", "worker1")


def closed_port() -> int:
    """A loopback TCP port nothing listens on (bound and released: connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def lay_out(tmp_path):
    for name in DEMO:
        demo_node(tmp_path, name)
    nodes = tmp_path / "nodes"
    gone = {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": closed_port(),
            "ansible_user": "kubefort-test", "ansible_ssh_common_args": "-o ConnectTimeout=5 -o BatchMode=yes"}
    live0 = {"kubefort_root": "/", "kubefort_control_plane_components": [], "kubefort_node_components": [],
             "kubefort_ports_firewall": True, "kubefort_ports_probe_from": ["gone"], "kubefort_ports_probe_timeout": 1}
    inventory = {"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "kubefort_backup_dir": "/var/lib/kubefort/backups",
                 "kubefort_cluster_snapshot_files": [str(tmp_path / "no-such-dump.json")]},
        "children": {
            "kube_control_plane": {"hosts": {
                "live0": live0,
                "cp2": {"kubefort_root": str(nodes / "cp2")},
                "cp3": {"kubefort_root": "/", "ansible_python_interpreter": "/nonexistent/python3"},
                "live1": {"kubefort_root": "/", "kubefort_control_plane_components": [], "kubefort_node_components": []},
            }},
            "kube_node": {"hosts": {"worker1": {"kubefort_root": str(nodes / "worker1")}, "gone": gone}},
        }}}
    (tmp_path / "inventory.json").write_text(json.dumps(inventory))
    return nodes


def playbook(tmp_path, report_dir, *args):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               PATH=VENV_BIN + os.pathsep + os.environ["PATH"])
    command = [os.path.join(VENV_BIN, "ansible-playbook"), os.path.join(REPO, "playbooks", "harden.yml"),
               "-i", str(tmp_path / "inventory.json"), "-e", "kubefort_report_dir=%s" % report_dir, *args]
    return subprocess.run(command, env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=900, check=False)


def failures(hosts, name):
    return [(f["stage"], f["reason"]) for f in hosts[name]["failures"]]


def check_report(report_dir, mode):
    data = json.loads((report_dir / "report.json").read_text())
    assert data["run"]["mode"] == mode
    hosts = {h["name"]: h for h in data["hosts"]}
    assert {"live0", "cp2", "cp3", "live1", "worker1", "gone", "cluster"} <= set(hosts), sorted(hosts)
    # live0: the firewall task and the probe task failed; both are recorded, the ports audit still ran.
    live0 = failures(hosts, "live0")
    assert ("ports", "the host firewall was not set: kubefort_ports_firewall is on but port 10250 has no allowed "
            "sources: the API server could no longer reach the kubelet (logs, exec, metrics). Set "
            "kubefort_ports_control_plane_sources (control-plane addresses) and, for metrics-server or Prometheus, "
            "kubefort_ports_kubelet_sources (their pod CIDR).") in live0, live0
    probe = [r for s, r in live0 if r.startswith("the probe from gone could not run: unreachable")]
    assert probe and "Connection refused" in probe[0], live0
    assert [r for r in hosts["live0"]["results"] if r["component"] == "ports"], "the ports audit did not run"
    # cp3: its control-plane task failed (no Python where the inventory says); recorded once, with the cause.
    assert [s for s, _r in failures(hosts, "cp3") if s != "rollout"] == ["control_plane"], failures(hosts, "cp3")
    assert all("/nonexistent/python3" in r for s, r in failures(hosts, "cp3") if s != "rollout"), failures(hosts, "cp3")
    # gone: unreachable, listed with the reason.
    assert [s for s, _r in failures(hosts, "gone")] == ["node"]
    assert "unreachable" in failures(hosts, "gone")[0][1] and "Connection refused" in failures(hosts, "gone")[0][1]
    assert hosts["gone"]["summary"]["by_status"]["error"] == 1
    # the cluster pseudo-host: the policy task failed, recorded.
    assert failures(hosts, "cluster") and failures(hosts, "cluster")[0][0] == "cluster"
    assert "no-such-dump.json" in failures(hosts, "cluster")[0][1]
    assert set(data["summary"]["failed_hosts"]) >= {"live0", "cp3", "gone", "cluster"}
    # Every format lists the unreachable host with the reason.
    markdown = (report_dir / "report.md").read_text()
    assert "| gone | node |" in markdown and "Connection refused" in markdown
    html = (report_dir / "report.html").read_text()
    assert 'class="card host-failed" data-host="gone"' in html and "FAILED (node)" in html
    junit = ET.parse(report_dir / "report.xml").getroot()
    suite = next(s for s in junit.iter("testsuite") if s.get("name") == "gone")
    case = next(c for c in suite.iter("testcase") if "kubefort-host-failed" in c.get("name"))
    assert case.find("error") is not None and "Connection refused" in case.find("error").get("message")
    bench = json.loads((report_dir / "kube-bench" / "gone.json").read_text())
    checks = [c for control in bench["Controls"] for group in control["tests"] for c in group["results"]]
    assert [c["status"] for c in checks] == ["FAIL"] and "Connection refused" in checks[0]["reason"]
    return hosts


@pytest.mark.parametrize("mode", ["check", "apply"])
def test_every_failed_task_is_recorded_and_the_report_is_written(tmp_path, mode):
    nodes = lay_out(tmp_path)
    before = tree_hashes(str(nodes))
    proc = playbook(tmp_path, tmp_path / "report", *(["--check"] if mode == "check" else []))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-4000:]
    assert "NO MORE HOSTS LEFT" not in out and "Traceback" not in out
    assert (tmp_path / "report" / "report.json").exists(), out[-4000:]
    hosts = check_report(tmp_path / "report", mode)
    recap = out[out.rindex("PLAY RECAP"):]
    assert "kubefort could not audit or harden" in out and "gone: node: unreachable" in out
    for name in ("cp2", "worker1"):
        statuses = {r["status"] for r in hosts[name]["results"]}
        assert "pass" in statuses and statuses & {"fail", "would_fix", "fixed"}, (name, statuses)
    after = tree_hashes(str(nodes))
    if mode == "check":
        assert after == before
        return
    # live0 and cp3 failed before live1's turn in the one-at-a-time rollout: live1 is audited, not changed.
    assert failures(hosts, "live1") == [
        ("rollout", "not changed (audited only): the control-plane rollout stopped after live0, cp3 failed")]
    # cp2 and worker1, offline trees, are hardened at once whatever the other hosts do.
    for name in ("cp2", "worker1"):
        assert failures(hosts, name) == [], failures(hosts, name)
        assert [r for r in hosts[name]["results"] if r["status"] == "fixed"], name
        assert [p for p in before if p.startswith(name + "/") and after.get(p) != before[p]], name
    assert "live0" in recap


def test_the_cluster_play_on_its_own_still_fails(tmp_path):
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=VENV_BIN + os.pathsep + os.environ["PATH"])
    proc = subprocess.run(
        [os.path.join(VENV_BIN, "ansible-playbook"), "-i", str(inventory), os.path.join(REPO, "playbooks", "cluster.yml"),
         "-e", json.dumps({"kubefort_cluster_snapshot_files": [str(tmp_path / "no-such-dump.json")]})],
        env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode != 0 and "no-such-dump.json" in proc.stdout, proc.stdout[-3000:]
