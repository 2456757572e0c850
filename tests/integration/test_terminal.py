"""What a normal run prints: no warnings for inventories that lack a kubespray group, real warnings kept."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "unit"))
from kubefort_testlib import REPO, demo_node  # noqa: E402

pytestmark = pytest.mark.integration

# A workers-only inventory: no kube_control_plane and no etcd group.
INVENTORY = """
all:
  vars:
    ansible_connection: local
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
    kubefort_root: "%s/nodes/{{ inventory_hostname }}"
  children:
    kube_node:
      hosts:
        worker3:
"""


def playbook(tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=os.path.join(REPO, ".venv", "bin") + os.pathsep + os.environ["PATH"])
    return subprocess.run(
        [os.path.join(REPO, ".venv", "bin", "ansible-playbook"), os.path.join(REPO, "playbooks", "harden.yml"), "--check",
         "-i", str(tmp_path / "inventory.yml"), "-e", "kubefort_report_dir=report", *args],
        cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300, check=False)


def test_workers_only_inventory_runs_without_warnings(tmp_path) -> None:
    demo_node(tmp_path, "worker3")
    (tmp_path / "inventory.yml").write_text(INVENTORY % tmp_path)
    proc = playbook(tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert "[WARNING]" not in output, [line for line in output.splitlines() if "WARNING" in line]
    # nor a Python warning from the controller's own packages (e.g. cryptography's DeprecationWarning)
    assert "Warning:" not in output, [line for line in output.splitlines() if "Warning:" in line]
    assert "worker3" in proc.stdout and (tmp_path / "report" / "report.json").is_file()
    # relative report directory: relative paths in the summary, kube-bench/ listed
    shown = " ".join(proc.stdout.split())
    assert "report/report.json" in shown and "report/kube-bench/ (1 file)" in shown

    # a mistyped --limit is still reported
    proc = playbook(tmp_path, "--limit", "wroker3")
    assert "Could not match supplied host pattern, ignoring: wroker3" in proc.stdout + proc.stderr
