"""ansible-runner runs the report playbook as AWX does; the job artifacts are in playbook_on_stats.

AWX runs a job with ansible-runner in a private data directory (project/, inventory/, env/) and shows
what set_stats published as the job's artifacts: the playbook_on_stats event's artifact_data.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import ansible_runner
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import test_report_outputs as outputs

pytestmark = pytest.mark.integration


def run_job(tmp_path, extravars: dict, cmdline: str = "") -> tuple:
    project = tmp_path / "project"
    outputs.write_project(str(project), outputs.samples.control_plane(), outputs.samples.worker())
    os.makedirs(tmp_path / "inventory", exist_ok=True)
    shutil.move(str(project / "inventory.yml"), str(tmp_path / "inventory" / "hosts.yml"))
    envvars = {
        "ANSIBLE_COLLECTIONS_PATH": os.path.join(outputs.REPO, ".build"),
        "PATH": outputs.BIN + os.pathsep + os.environ["PATH"],
        "ANSIBLE_NOCOLOR": "1",
    }
    runner = ansible_runner.run(
        private_data_dir=str(tmp_path),
        playbook="site.yml",
        extravars=extravars,
        envvars=envvars,
        cmdline=cmdline or None,
        # node2 of the fake inventory is left out: listed as without results, not a failed host.
        limit="cp1,node1,localhost",
        quiet=True,
        timeout=300,
    )
    stats = [e for e in runner.events if e.get("event") == "playbook_on_stats"]
    assert len(stats) == 1, runner.stdout.read()
    return runner, stats[0]["event_data"]


def test_check_job_publishes_counts_and_worst_findings(tmp_path) -> None:
    runner, data = run_job(tmp_path, {}, "--check")
    assert runner.status == "successful" and runner.rc == 0
    artifacts = data["artifact_data"]["kubefort_report"]
    assert artifacts["mode"] == "check"
    report = outputs.expected(outputs.samples.control_plane(), outputs.samples.worker())
    assert artifacts["counts"] == report["summary"]["by_status"]
    assert artifacts["score"] == report["summary"]["score"]
    assert set(artifacts["hosts"]) == {"cp1", "node1", "cluster"}
    assert artifacts["hosts"]["node1"]["would_fix"] == report["hosts"][1]["summary"]["by_status"]["would_fix"] > 0
    worst = outputs.model.worst_findings(report["hosts"], 10)
    assert [(w["host"], w["id"]) for w in artifacts["worst"]] == [(w["host"], w["id"]) for w in worst]
    assert worst[0]["severity"] == "critical"
    assert artifacts["gate"] == {"fail_on": "none", "findings": 0, "failed": False}
    # the report lands relative to the job's working directory: the project directory
    assert os.path.isfile(tmp_path / "project" / "kubefort-report" / "report.json")
    assert data["changed"] == {}


def test_gated_job_fails_but_keeps_its_artifacts(tmp_path) -> None:
    runner, data = run_job(tmp_path, {"kubefort_fail_on": "high", "kubefort_report_worst": 2})
    assert runner.status == "failed"
    assert data["failures"] == {"localhost": 1}
    artifacts = data["artifact_data"]["kubefort_report"]
    assert artifacts["mode"] == "apply"
    high = sum(1 for r in outputs.samples.control_plane() + outputs.samples.worker() + outputs.samples.cluster()
               if r["status"] in ("fail", "would_fix", "error") and r["severity"] in ("high", "critical"))
    assert artifacts["gate"] == {"fail_on": "high", "findings": high, "failed": True}
    assert len(artifacts["worst"]) == 2


def test_harden_playbook_as_an_awx_check_job(tmp_path) -> None:
    """playbooks/harden.yml on bundled demo nodes, run the way an AWX "Check" job template runs it."""
    demo = tmp_path / "demo-nodes"
    subprocess.run([sys.executable, os.path.join(outputs.REPO, "scripts", "demo_nodes.py"), str(demo)], check=True, capture_output=True)
    # AWX checks the whole project out: the playbooks and what the demo inventory points at
    project = tmp_path / "project"
    for tree in ("playbooks", "demo"):
        shutil.copytree(os.path.join(outputs.REPO, tree), project / tree)
    os.makedirs(tmp_path / "inventory")
    shutil.copy(os.path.join(outputs.REPO, "demo", "inventory.yml"), tmp_path / "inventory" / "hosts.yml")
    runner = ansible_runner.run(
        private_data_dir=str(tmp_path),
        playbook="playbooks/harden.yml",
        envvars={
            "ANSIBLE_COLLECTIONS_PATH": os.path.join(outputs.REPO, ".build"),
            "PATH": outputs.BIN + os.pathsep + os.environ["PATH"],
            "KUBEFORT_DEMO_DIR": str(demo),
        },
        extravars={"kubefort_fail_on": "critical"},
        cmdline="--check",
        limit="worker1,worker2,localhost",
        quiet=True,
        timeout=600,
    )
    stats = [e for e in runner.events if e.get("event") == "playbook_on_stats"]
    assert len(stats) == 1, runner.stdout.read()
    data = stats[0]["event_data"]
    artifacts = data["artifact_data"]["kubefort_report"]
    assert {"worker1", "worker2"} <= set(artifacts["hosts"]) <= {"worker1", "worker2", "cluster"}
    assert artifacts["mode"] == "check"
    assert artifacts["total"] == sum(artifacts["counts"].values()) > 0
    # the insecure demo workers have critical findings (kubelet anonymous auth), so the gate fails the job
    assert artifacts["gate"]["failed"] is True and artifacts["gate"]["findings"] > 0
    assert runner.status == "failed" and data["failures"] == {"localhost": 1}
    assert any(w["severity"] == "critical" for w in artifacts["worst"])
    assert os.path.isfile(project / "kubefort-report" / "report.html")
