"""Restart, health check and rollback on real systemd nodes: the molecule scenarios extensions/molecule/live_nodes and live_services.

Two podman containers with systemd as PID 1 (a control plane and a worker, laid out as the insecure
demo kubeadm nodes) run the test stand-ins of the kubelet and the control plane (tests/standins). The
scenario audits them in check mode (nothing may change or restart), hardens them with
playbooks/harden.yml, runs it again (nothing may change), forces bad changes the components refuse (they
must be rolled back with a clear failure) and probes the nodes from each other.

Needs root (a root test: other users skip it), podman, runc and debootstrap (.ci/apt-packages.txt); as root it
fails, never skips, without them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(REPO, ".venv", "bin")


def _require_machine() -> None:
    missing = [tool for tool in ("podman", "runc", "debootstrap") if shutil.which(tool) is None]
    if missing:
        pytest.fail(
            "the molecule scenarios need %s: apt-get install -y %s (CI installs .ci/apt-packages.txt)"
            % (", ".join(missing), " ".join(missing))
        )


def _run(argv: list[str], timeout: int) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    env["ANSIBLE_COLLECTIONS_PATH"] = os.path.join(REPO, ".build")
    env.pop("ANSIBLE_CONFIG", None)
    env["PY_COLORS"] = "0"
    env["ANSIBLE_NOCOLOR"] = "1"
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.mark.molecule
def test_live_nodes_scenario() -> None:
    _require_machine()
    setup = _run([os.path.join(REPO, "tests", "podman", "setup")], timeout=900)
    assert setup.returncode == 0, "tests/podman/setup failed:\n%s" % setup.stderr[-4000:]

    started = time.monotonic()
    result = _run([os.path.join(VENV_BIN, "molecule"), "test", "-s", "live_nodes"], timeout=1800)
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    print("molecule test -s live_nodes took %.0f s" % elapsed)
    assert result.returncode == 0, "molecule test -s live_nodes failed after %.0f s; last output:\n%s" % (
        elapsed, output[-12000:])
    for step in ("prepare", "converge", "idempotence", "side_effect", "verify"):
        # "[live_nodes > verify] Executed: Successful" (log) or "live_nodes ➜ verify: Executed: Successful" (recap)
        assert re.search(r"live_nodes\W{1,4}%s\W{1,3}Executed: Successful" % step, output), "step %s did not run" % step


@pytest.mark.molecule
def test_live_services_scenario() -> None:
    """k3s agents, a systemd etcd, an RKE2 server and a microk8s node: check mode restarts nothing, the whole
    service restarts, rollback byte for byte with the component's reason, batches of one."""
    _require_machine()
    setup = _run([os.path.join(REPO, "tests", "podman", "setup")], timeout=900)
    assert setup.returncode == 0, "tests/podman/setup failed:\n%s" % setup.stderr[-4000:]

    started = time.monotonic()
    # Measured: about 10 min at load 13 (five nodes, five playbook runs, three waits for a refused fix).
    result = _run([os.path.join(VENV_BIN, "molecule"), "test", "-s", "live_services"], timeout=1800)
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    print("molecule test -s live_services took %.0f s" % elapsed)
    assert result.returncode == 0, "molecule test -s live_services failed after %.0f s; last output:\n%s" % (
        elapsed, output[-12000:])
    for step in ("prepare", "converge", "side_effect"):
        assert re.search(r"live_services\W{1,4}%s\W{1,3}Executed: Successful" % step, output), "step %s did not run" % step
