"""Clean-up guard of the real-component tests: outlives the test process, whatever ends it.

The harness starts this in its own session and keeps a pipe to its stdin. Lines it reads:
``{"sysctls": {name: value}}`` (the host values to put back), ``{"pid": N}`` (a namespace's
``unshare`` to kill), ``{"forget": N}``, ``{"dir": PATH}`` (a temp dir to remove).
When the pipe closes — the test run ended normally, failed, was interrupted or killed — it kills the
namespaces still registered (their PID-1 dies with them, and with it every process and mount inside),
writes the sysctls back and removes the temp dirs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time


def _alive(pid: int) -> bool:
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sysctls: dict = {}
    pids: set = set()
    dirs: list = []
    for line in sys.stdin:
        try:
            message = json.loads(line)
        except ValueError:
            continue
        sysctls.update(message.get("sysctls", {}))
        if "pid" in message:
            pids.add(message["pid"])
        if "forget" in message:
            pids.discard(message["forget"])
        if "dir" in message:
            dirs.append(message["dir"])
    watch = set()
    for pid in pids:
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as handle:
                watch.update(int(p) for p in handle.read().split())
        except OSError:
            pass
        watch.add(pid)
    for pid in watch:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    deadline = time.monotonic() + 20
    while watch and time.monotonic() < deadline:
        watch = {p for p in watch if _alive(p)}
        if watch:
            time.sleep(0.05)
    for name, value in sysctls.items():
        try:
            with open("/proc/sys/" + name.replace(".", "/"), "w") as handle:
                handle.write(value)
        except OSError:
            pass
    for path in dirs:
        shutil.rmtree(path, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
