"""Root tests (pytest marker ``root``): every test that needs root says so, other users skip it with the reason,
and under scripts/test as root (CI) a skipped root test is a failure, so CI runs every test."""

from __future__ import annotations

import os
import subprocess
import sys

from kubefort_testlib import REPO


def pytest_run(tmp_path, *args, **env):
    environ = dict(os.environ, KUBEFORT_TEST_LOCK_DIR=str(tmp_path / "locks"), PY_COLORS="0")
    environ.pop("KUBEFORT_ROOT_TESTS", None)
    environ.update(env)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=REPO, env=environ,
                          capture_output=True, text=True, timeout=300, check=False)


def collected(proc) -> set:
    return {line.split("[")[0] for line in proc.stdout.splitlines() if "::" in line}


def test_molecule_and_real_component_tests_are_root_tests(tmp_path):
    everything = pytest_run(tmp_path, "--co", "-q", "-m", "molecule or real_k8s")
    root = pytest_run(tmp_path, "--co", "-q", "-m", "root")
    assert everything.returncode == 0 and root.returncode == 0, everything.stdout[-2000:] + root.stdout[-2000:]
    heavy = collected(everything)
    assert any(n.startswith("tests/real/") for n in heavy) and any("molecule" in n for n in heavy)
    assert heavy <= collected(root), sorted(heavy - collected(root))
    # the tests that create network namespaces or need root-owned node copies are marked too
    assert {"tests/unit/test_ports_role.py::test_ports_role_check_apply_idempotent",
            "tests/unit/test_ports_firewall.py::test_tampered_rules_are_restored",
            "tests/unit/test_harden_demo.py::test_fix_keeps_comments_and_unrelated_bytes"} <= collected(root)


def test_a_skipped_root_test_fails_the_run_when_root_tests_are_required(tmp_path):
    # Without the binaries the real-component tests skip (any user); scripts/test as root requires them.
    args = ("-q", "-rs", "tests/real/test_real_cleanup.py")
    missing = str(tmp_path / "no-binaries")
    allowed = pytest_run(tmp_path, *args, KUBEFORT_K8S_BINARIES=missing)
    assert allowed.returncode == 0 and "3 skipped" in allowed.stdout, allowed.stdout[-3000:]
    required = pytest_run(tmp_path, *args, KUBEFORT_K8S_BINARIES=missing, KUBEFORT_ROOT_TESTS="required")
    assert required.returncode != 0, required.stdout[-3000:]
    assert "root test skipped although KUBEFORT_ROOT_TESTS=required" in required.stdout
    assert "3 errors" in required.stdout


def test_scripts_test_requires_root_tests_only_as_root(tmp_path):
    env = dict(os.environ, KUBEFORT_TEST_STAGES="pytest", KUBEFORT_K8S_BINARIES=str(tmp_path / "no-binaries"),
               KUBEFORT_TEST_LOCK_DIR=str(tmp_path / "locks"), PY_COLORS="0")
    env.pop("KUBEFORT_ROOT_TESTS", None)
    proc = subprocess.run([os.path.join(REPO, "scripts", "test"), "-q", "tests/real/test_real_cleanup.py"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    if os.geteuid() == 0:
        assert proc.returncode != 0 and "== root tests: run" in proc.stdout, proc.stdout[-3000:]
        assert "root test skipped although KUBEFORT_ROOT_TESTS=required" in proc.stdout
    else:
        assert proc.returncode == 0 and "== root tests: NOT RUN (not root)" in proc.stdout, proc.stdout[-3000:]
        assert "3 skipped" in proc.stdout
