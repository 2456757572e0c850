"""The README's first command, exactly as a new user types it: `scripts/audit` with no inventory.

The other demo tests point KUBEFORT_DEMO_DIR at a temporary copy; this one does not, so the inventory's
own default (the implicit localhost of the cluster and report plays has no inventory_dir) is exercised.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "unit"))
from kubefort_testlib import REPO  # noqa: E402

pytestmark = pytest.mark.integration


def test_scripts_audit_without_inventory_writes_the_report(tmp_path) -> None:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("KUBEFORT_", "ANSIBLE_")) and key != "VIRTUAL_ENV"}
    proc = subprocess.run([os.path.join(REPO, "scripts", "audit")], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    assert "[ERROR]" not in output
    with open(tmp_path / "kubefort-report" / "report.json") as handle:
        report = json.load(handle)
    names = sorted(host["name"] for host in report["hosts"])
    assert names == ["cluster", "cp1", "cp2", "cp3", "worker1", "worker2", "worker3"], names
    assert all(host["results"] for host in report["hosts"])
