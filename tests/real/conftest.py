"""Fixtures of the real-component tests (tests/real/): skip with the reason when they cannot run here.

They need the real binaries (``KUBEFORT_K8S_BINARIES`` or ``../shared/k8s``), root, and the Debian
packages of .ci/apt-packages.txt (etcd-server, containerd, runc, xz-utils). Without them every test
here is reported as skipped with the reason; ``scripts/test`` prints how to enable them.
"""

from __future__ import annotations

import os
import sys
import typing as t

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "unit"))

import k8s_harness  # noqa: E402


def _why_not() -> str:
    directory, reason = k8s_harness.binaries_dir()
    if directory is None:
        return reason
    missing = k8s_harness.missing_requirements()
    if missing:
        return "the real-component tests need " + ", ".join(missing)
    return ""


WHY_NOT = _why_not()


def pytest_collection_modifyitems(config: t.Any, items: t.List[t.Any]) -> None:
    if not WHY_NOT:
        return
    skip = pytest.mark.skip(reason=WHY_NOT)
    for item in items:
        if "real_k8s" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _guard() -> t.Iterator[None]:
    yield
    if k8s_harness._GUARD is not None:
        k8s_harness._GUARD.close()
