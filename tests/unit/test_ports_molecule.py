"""The molecule scenario extensions/molecule/ports on podman systemd nodes (slow: a few minutes).

Proves on a real systemd node with the stand-in kubelet: the other host gets answers before the fix and
is refused after it, check mode and a second converge change nothing, the Ansible connection keeps
working, the persisted unit restores the rules after a flush, and state=absent removes everything.
"""

from __future__ import annotations

import os
import subprocess

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
pytestmark = pytest.mark.molecule


def test_ports_scenario():
    setup = subprocess.run([os.path.join(REPO, "tests", "podman", "setup")], capture_output=True, text=True,
                           check=False)
    assert setup.returncode == 0, setup.stderr[-3000:]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".build"), ANSIBLE_NOCOLOR="1",
               PY_COLORS="0", PATH=os.path.join(REPO, ".venv", "bin") + os.pathsep + os.environ["PATH"])
    env.pop("ANSIBLE_CONFIG", None)
    proc = subprocess.run([os.path.join(REPO, ".venv", "bin", "molecule"), "test", "-s", "ports"],
                          cwd=os.path.join(REPO, "extensions"), env=env, capture_output=True, text=True,
                          check=False, timeout=900)
    assert proc.returncode == 0, (proc.stdout[-6000:] + proc.stderr[-4000:])
