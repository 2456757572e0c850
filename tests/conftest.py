"""Make the collection importable as ansible_collections.kubefort.hardening for pytest."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(REPO, ".build")

if not os.path.islink(os.path.join(BUILD, "ansible_collections", "kubefort", "hardening")):
    subprocess.run([os.path.join(REPO, "scripts", "bootstrap")], check=True)
if BUILD not in sys.path:
    sys.path.insert(0, BUILD)


# Tests that use machine-wide resources (podman containers with fixed names, the host sysctls of the real
# kubelet) hold a lock over each run of consecutive tests that need it (a module's fixtures are set up and
# torn down inside that run), so that two checkouts on one machine (developers' worktrees, a benchmark) take
# turns instead of breaking each other, and nobody holds it over unrelated tests. CI runs alone and never
# waits. KUBEFORT_TEST_LOCK_DIR moves the lock files.
MACHINE_LOCKS = {"molecule": "podman", "real_k8s": "real-k8s"}
_LOCK_DIR = os.environ.get("KUBEFORT_TEST_LOCK_DIR", "/tmp/kubefort-test-locks")
_held: dict = {}  # lock name -> open lock file


def _locks_of(item) -> set:
    if item is None:
        return set()
    return {lock for marker, lock in MACHINE_LOCKS.items() if item.get_closest_marker(marker) is not None}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    for lock in _locks_of(item) - set(_held):
        os.makedirs(_LOCK_DIR, exist_ok=True)
        handle = open(os.path.join(_LOCK_DIR, lock + ".lock"), "a")  # noqa: SIM115 (held across tests)
        started = time.monotonic()
        fcntl.flock(handle, fcntl.LOCK_EX)
        waited = time.monotonic() - started
        if waited > 1:
            sys.stderr.write("\n(waited %.0f s for the %s lock held by another test run)\n" % (waited, lock))
        _held[lock] = handle
    yield
    for lock in set(_held) - _locks_of(nextitem):
        _held.pop(lock).close()
