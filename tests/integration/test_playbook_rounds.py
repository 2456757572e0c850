"""harden.yml's shape on the demo nodes: how many task rounds each node costs, and that a host whose audit
failed still fails the run when no report is written (the last play), without a task round per host when
one is (issue 18: every task round per host is a worker fork and a result through the main process)."""

from __future__ import annotations

import collections
import os
import re
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "unit"))
from kubefort_testlib import REPO, demo_node  # noqa: E402

pytestmark = pytest.mark.integration
NODES = ["cp1", "cp2", "cp3", "worker1", "worker2", "worker3"]


def run(tmp_path, *args):
    env = dict(os.environ, KUBEFORT_DEMO_DIR=str(tmp_path / "nodes"), ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_DISPLAY_SKIPPED_HOSTS="true",
               PATH=os.path.join(REPO, ".venv", "bin") + os.pathsep + os.environ["PATH"])
    command = [os.path.join(REPO, ".venv", "bin", "ansible-playbook"), os.path.join(REPO, "playbooks", "harden.yml"),
               "-i", os.path.join(REPO, "demo", "inventory.yml"), "-e", "kubefort_report_dir=%s/report/" % tmp_path, *args]
    return subprocess.run(command, env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=600, check=False)


def rounds(stdout):
    """Task results per host (ok, changed, skipping, failed), as the default callback prints them."""
    counts = collections.Counter()
    for match in re.finditer(r"^(?:ok|changed|skipping|failed|fatal): \[([^\]\s]+)", stdout, re.M):
        counts[match.group(1)] += 1
    return counts


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("rounds")
    for name in NODES:
        demo_node(tmp_path, name)
    return tmp_path


def test_an_audit_costs_few_task_rounds_per_node(demo):
    proc = run(demo, "--check")
    assert proc.returncode == 0, proc.stdout[-4000:]
    per_host = rounds(proc.stdout)
    # A worker: the node role's task and the ports role's audit (no firewall round: it is off, so the
    # firewall play has no hosts). A control-plane node also its control_plane role's task (in a play of its
    # own: a worker gets no skipped round for it); cp1 also the input check, the step that fills the firewall
    # play's group and the probes from other hosts (each run once for the play, on localhost or skipped: none
    # configured). Nothing else: the options are checked and the results recorded inside those actions, the
    # progress lines come from a callback, no restart handler runs in an audit, and the last play (fail hosts
    # when no report was written) has no hosts when the report was written.
    assert {h: per_host[h] for h in NODES} == {"cp1": 6, "cp2": 3, "cp3": 3, "worker1": 2, "worker2": 2, "worker3": 2}, per_host
    assert re.search(r"PLAY \[Set the host firewall of the nodes that ask for it, before their ports are probed\] \*+\n"
                     r"skipping: no hosts matched", proc.stdout), proc.stdout[-3000:]
    assert len(re.findall(r"^kubefort \[\d/6\] ", proc.stdout, re.M)) == 6, proc.stdout[-3000:]
    assert re.search(r"PLAY \[Fail the hosts whose audit or fix failed when no report was written\] \*+\nskipping: no hosts matched",
                     proc.stdout), proc.stdout[-3000:]


def test_only_the_hosts_that_set_the_firewall_get_its_round(demo):
    # worker1 sets kubefort_ports_firewall, worker2 sets it false, worker3 to the string "no": the firewall
    # play takes worker1 and worker3 (whose own step then reads "no" as false), not worker2 or the others.
    extra = demo / "firewall-inventory.yml"
    extra.write_text("all:\n  hosts:\n    worker1:\n      kubefort_ports_firewall: true\n"
                     "    worker2:\n      kubefort_ports_firewall: false\n    worker3:\n      kubefort_ports_firewall: 'no'\n")
    proc = run(demo, "--check", "-i", str(extra))
    assert proc.returncode == 0, proc.stdout[-4000:]
    play = proc.stdout.split("PLAY [Set the host firewall of the nodes that ask for it")[1].split("PLAY [")[0]
    # Offline trees (kubefort_root): the firewall step is skipped on them, in one round each.
    assert re.findall(r"^skipping: \[(\S+)\]", play, re.M) == ["worker1", "worker3"], play
    # Two rounds more than the audit above in all, and one line more for the second host the run-once step
    # puts in the group (a line per loop item; the run-once tasks go to the play's first host, which the
    # second inventory source makes worker1).
    per_host = rounds(proc.stdout)
    assert sum(per_host[h] for h in NODES) == 6 + 3 + 3 + 2 + 2 + 2 + 2 + 1, per_host
    assert re.findall(r"=> \(item=(\S+)\)", proc.stdout) == ["worker1", "worker3"], proc.stdout[:3000]


def test_a_failed_host_fails_the_run_with_or_without_the_report(demo):
    # worker3's tree is missing: its audit fails (recorded), the other hosts go on.
    missing = ["-e", '{"kubefort_root": "%s/nodes/{{ inventory_hostname }}-gone"}' % demo]
    with_report = run(demo, "--check", "--limit", "worker3,localhost", *missing)
    assert with_report.returncode != 0
    assert "kubefort could not audit or harden 1 host(s): worker3" in with_report.stdout
    assert "No report was written" not in with_report.stdout
    assert re.search(r"^worker3\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0", with_report.stdout, re.M), with_report.stdout[-2000:]

    without_report = run(demo, "--check", "--limit", "worker3", *missing)
    assert without_report.returncode != 0
    assert "kubefort could not audit or harden worker3" in without_report.stdout
    assert "No report was written: localhost, which writes it, was not part of this run" in without_report.stdout
    assert re.search(r"^worker3\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=1", without_report.stdout, re.M), without_report.stdout[-2000:]
