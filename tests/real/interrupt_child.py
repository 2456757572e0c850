"""Started by test_real_cleanup.py: a kubelet node, then the way this process ends (argv[2]).

Prints one JSON line when the kubelet answers: the scratch dir, the unshare PID, and the namespaces'
identities, so the test can look for anything left behind after ``fail`` (an exception, as a failing
test), ``sigint`` (Ctrl-C) or ``sigkill`` (nothing of this process runs any more).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "unit"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), ".build"))

import k8s_harness as h  # noqa: E402


def main() -> int:
    root, how = sys.argv[1], sys.argv[2]
    argv, env = h.kubelet_command(root)
    node = h.Node(root, h.kubelet_ports(h.node_ip(root)), address=h.node_ip(root))
    node.add_containerd()
    node.add_kubelet(argv, env)
    try:
        node.start()
        node.wait_for("kubelet", "10248", "/healthz", tls=False)
        deadline = time.monotonic() + 30
        while h.read_sysctls() == h.guard().sysctls and time.monotonic() < deadline:
            time.sleep(0.1)  # the kubelet sets them as its container manager starts
        assert node.proc is not None
        with open("/proc/%d/task/%d/children" % (node.proc.pid, node.proc.pid)) as handle:
            init = int(handle.read().split()[0])
        print(json.dumps({"scratch": node.scratch, "unshare": node.proc.pid, "init": init,
                          "pidns": os.readlink("/proc/%d/ns/pid" % init), "mntns": os.readlink("/proc/%d/ns/mnt" % init),
                          "sysctls": h.read_sysctls()}), flush=True)
        if how == "fail":
            raise AssertionError("a failing test")
        if how == "sigint":
            os.kill(os.getpid(), signal.SIGINT)
        if how == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(60)
    finally:
        node.stop()
        h.guard().close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
