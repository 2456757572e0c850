"""Make the collection importable as ansible_collections.kubefort.hardening for pytest; root tests; machine locks."""

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


# Root tests (marker ``root``, pytest.ini): they need root (network namespaces, podman systemd nodes, node
# trees owned by root:root as installers leave them, the real components). For any other user they are
# skipped with the reason, so a plain ``pytest`` passes; scripts/test runs as root in CI and sets
# KUBEFORT_ROOT_TESTS=required, which turns a skipped root test into a failure: CI runs every test.
# Molecule and real-component tests are root tests without saying so (added here at collection).
IMPLIED_ROOT = {"molecule": "podman nodes with systemd as PID 1 and debootstrap",
                "real_k8s": "namespaces, mounts and sysctls of the real components"}
ROOT_TESTS_ENV = "KUBEFORT_ROOT_TESTS"
IS_ROOT = os.geteuid() == 0
_not_run: set = set()  # node IDs of root tests skipped because this is not root


def root_reason(item) -> str:
    marker = item.get_closest_marker("root")
    if marker is None:
        return ""
    return str(marker.kwargs.get("reason") or (marker.args[0] if marker.args else "it needs root"))


def pytest_itemcollected(item):
    if item.get_closest_marker("root") is None:
        for marker, why in IMPLIED_ROOT.items():
            if item.get_closest_marker(marker) is not None:
                item.add_marker(pytest.mark.root(reason=why))
                break


def pytest_collection_modifyitems(session, config, items):  # noqa: ARG001 (pytest hook signature)
    if IS_ROOT:
        return
    for item in items:
        if item.get_closest_marker("root") is not None:
            item.add_marker(pytest.mark.skip(reason="root test (%s); run as root, as scripts/test does in CI" % root_reason(item)))
            _not_run.add(item.nodeid)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # noqa: ARG001 (pytest hook signature)
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get(ROOT_TESTS_ENV) == "required" and item.get_closest_marker("root") is not None:
        why = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = ("root test skipped although %s=required (scripts/test as root: CI runs every test): %s"
                           % (ROOT_TESTS_ENV, why))


# Tests that use machine-wide resources (podman containers with fixed names, the host sysctls of the real
# kubelet) hold a lock over each run of consecutive tests that need it (a module's fixtures are set up and
# torn down inside that run), so that two checkouts on one machine (developers' worktrees, a benchmark) take
# turns instead of breaking each other, and nobody holds it over unrelated tests. CI runs alone and never
# waits. KUBEFORT_TEST_LOCK_DIR moves the lock files. A root test skipped for another user takes none.
MACHINE_LOCKS = {"molecule": "podman", "real_k8s": "real-k8s"}
_LOCK_DIR = os.environ.get("KUBEFORT_TEST_LOCK_DIR", "/tmp/kubefort-test-locks")
_held: dict = {}  # lock name -> open lock file


def _locks_of(item) -> set:
    if item is None or item.nodeid in _not_run:
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
