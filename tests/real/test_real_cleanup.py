"""The harness leaves nothing behind — no process, mount, sysctl change or temp dir — whether the test
fails, is interrupted (SIGINT) or killed outright (SIGKILL: then guard.py does it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from k8s_harness import HERE, SYSCTLS, read_sysctls
from kubefort_testlib import demo_node

pytestmark = pytest.mark.real_k8s


def in_namespace(link: str, kind: str):
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.readlink("/proc/%s/ns/%s" % (pid, kind)) == link:
                    found.append(int(pid))
            except OSError:
                pass
    return found


@pytest.mark.parametrize("how", ["fail", "sigint", "sigkill"])
def test_nothing_is_left_behind(tmp_path, how):
    before = read_sysctls()
    root = demo_node(tmp_path, "cp1")
    child = subprocess.Popen([sys.executable, os.path.join(HERE, "interrupt_child.py"), root, how],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = child.communicate(timeout=180)
    assert out.strip(), err
    seen = json.loads(out.splitlines()[0])
    assert seen["sysctls"] != before  # the kubelet did change them (vm.overcommit_memory, kernel.panic …)

    def left_behind() -> bool:
        # unshare itself sits in the node's mount namespace but not in its PID namespace: wait for both.
        return bool(in_namespace(seen["pidns"], "pid") or in_namespace(seen["mntns"], "mnt")
                    or os.path.exists(seen["scratch"]) or read_sysctls() != before)

    deadline = time.monotonic() + 90  # generous: guard.py (after SIGKILL) and process exits are slow at load 15+
    while time.monotonic() < deadline and left_behind():
        time.sleep(0.1)
    assert in_namespace(seen["pidns"], "pid") == []  # no process of the node (kubelet, containerd, init)
    assert in_namespace(seen["mntns"], "mnt") == []  # so its mount namespace, with every mount, is gone
    assert not os.path.exists("/proc/%d" % seen["unshare"]) or "Z" in open("/proc/%d/stat" % seen["unshare"]).read().split()[2]
    assert read_sysctls() == before, SYSCTLS
    assert not os.path.exists(seen["scratch"])
