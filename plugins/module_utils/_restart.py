# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Run a restart plan on a live node (standard library only): restart, then see every part come back.

The plan comes from the controller (``node_harden``'s ``restart`` result), one step per thing to restart:

- ``kind: unit``: ``systemctl daemon-reload`` and ``systemctl restart <unit>`` (the kubelet, systemd etcd
  or kube-proxy, k3s / k3s-agent, rke2-server / rke2-agent, microk8s' kubelite);
- ``kind: static_pod``: nothing to do, the kubelet restarts the pod when its manifest changes.

Then, until the deadline, every ``processes`` entry must be a process of that program started after the
restart (after the manifest's change for a static pod) whose command line is exactly the expected one
(the manifest's, or the unit's own ExecStart when the unit runs the program directly), and every
``health`` entry must answer 200. On a timeout the step fails with what was seen last and the
component's last log lines (its unit's journal; a static pod's container log).
"""

from __future__ import annotations

import glob
import os
import subprocess
import time
import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils._component_health import (
    CLOCK_SLACK,
    Prober,
    processes_of_program,
)
from ansible_collections.kubefort.hardening.plugins.module_utils._nodefs import NodeFS
from ansible_collections.kubefort.hardening.plugins.module_utils._systemd import unit_command

Runner = t.Callable[[t.Sequence[str]], t.Tuple[int, str, str]]
LOG_LINES = 5


class StepError(Exception):
    """A step did not come back; ``step`` names it and ``log`` holds the component's last log lines."""

    def __init__(self, message: str, step: str, log: t.Sequence[str]) -> None:
        super().__init__(message)
        self.step = step
        self.log = list(log)


def run_command(argv: t.Sequence[str]) -> t.Tuple[int, str, str]:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 1, "", str(exc)
    return done.returncode, done.stdout, done.stderr


def expected_command(process: t.Mapping[str, t.Any], phase: str, root: str = "/") -> t.Optional[t.List[str]]:
    """The command line the new process must have, or None when only its program is known."""
    if phase == "rollback" and process.get("rollback_command"):
        return list(process["rollback_command"])
    if process.get("command"):
        return list(process["command"])
    unit = process.get("unit")
    if unit:
        info = unit_command(NodeFS(root), unit)
        argv = [w for w in info.get("argv") or [] if w != ""]
        if argv and not info.get("errors") and os.path.basename(argv[0]) == process["program"]:
            return argv
    return None


def _file_tail(path: str, lines: int) -> t.List[str]:
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, os.fstat(handle.fileno()).st_size - 16384))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return []
    return ["%s: %s" % (path, line) for line in text.splitlines() if line.strip()][-lines:]


def last_log_lines(step: t.Mapping[str, t.Any], runner: Runner = run_command, lines: int = LOG_LINES) -> t.List[str]:
    """The component's last log lines: its unit's journal (and the log files its service writes, such as
    RKE2's kubelet log), or a static pod's newest container log."""
    logs = step.get("logs") or {}
    if logs.get("unit"):
        found: t.List[str] = []
        base = ["journalctl", "--unit=%s" % logs["unit"], "--lines=%d" % lines, "--no-pager", "--output=cat"]
        for argv in ([base[0], "--identifier=%s" % logs["identifier"]] + base[1:] if logs.get("identifier") else None, base):
            if argv is None:
                continue
            code, out, _err = runner(argv)
            found = [line for line in out.splitlines() if line.strip()]
            if code == 0 and found:
                found = found[-lines:]
                break
            found = []
        for path in logs.get("files") or []:
            found.extend(_file_tail(path, lines))
        return found
    pod = logs.get("pod")
    if pod:
        files = glob.glob("/var/log/pods/*_%s-*_*/%s/*.log" % (pod, pod))
        if files:
            newest = max(files, key=lambda p: os.stat(p).st_mtime)
            try:
                with open(newest, errors="replace") as handle:
                    return [line.rstrip("\n") for line in handle.readlines()[-lines:]]
            except OSError:
                pass
        code, out, _err = runner(["journalctl", "--unit=kubepods-%s-*" % pod, "--lines=%d" % lines, "--no-pager", "--output=cat"])
        if code == 0:
            return [line for line in out.splitlines() if line.strip()][-lines:]
    return []


def run_step(
    step: t.Mapping[str, t.Any],
    phase: str,
    timeout: float,
    default_kubeconfig: t.Optional[str],
    runner: Runner = run_command,
    proc: str = "/proc",
    clock: t.Callable[[], float] = time.time,
    sleep: t.Callable[[float], None] = time.sleep,
    root: str = "/",
) -> t.Dict[str, t.Any]:
    name = str(step.get("name") or step.get("unit") or step.get("manifest"))
    begun = clock()
    if step["kind"] == "unit":
        # reset-failed first: a unit that crash-looped into its start limit (a bad fix that made it exit at
        # once) refuses a restart until then, and the rollback's restart must not be refused.
        runner(["systemctl", "reset-failed", step["unit"]])
        for argv in (["systemctl", "daemon-reload"], ["systemctl", "restart", step["unit"]]):
            code, _out, err = runner(argv)
            if code != 0:
                raise StepError("%s: %s failed: %s" % (name, " ".join(argv), err.strip() or "exit %d" % code),
                                name, last_log_lines(step, runner))
        started_after = begun
    else:
        try:
            started_after = os.stat(os.path.join(root, step["manifest"].lstrip("/"))).st_ctime
        except OSError as exc:
            raise StepError("%s: cannot read the manifest %s: %s" % (name, step["manifest"], exc.strerror), name, [])
    wanted = [(p["program"], expected_command(p, phase, root)) for p in step.get("processes") or []]
    probers = []
    for check in step.get("health") or []:
        kubeconfig = check.get("kubeconfig") or (default_kubeconfig if check.get("default_kubeconfig") else None)
        probers.append((check, Prober(kubeconfig, check.get("ca_file"), check.get("cert_file"), check.get("key_file"))))
    deadline = begun + timeout
    seen = "nothing checked yet"
    try:
        while True:
            pids, ok = [], True
            for program, command in wanted:
                running = processes_of_program(program, proc)
                fresh = [p for p, argv in running if p.started >= started_after - CLOCK_SLACK
                         and (command is None or argv == command)]
                if fresh:
                    pids.append(fresh[-1].pid)
                    continue
                ok = False
                if not running:
                    seen = "no %s process runs" % program
                elif command is not None and not any(argv == command for _p, argv in running):
                    seen = "no %s process runs the expected command line %s" % (program, " ".join(command))
                else:
                    seen = "only %s processes started before the restart run (PIDs %s)" % (
                        program, ", ".join(str(p.pid) for p, _argv in running))
                break
            answers = []
            if ok:
                for check, prober in probers:
                    code, answer = prober.get(check["url"])
                    if code != 200:
                        ok, seen = False, "%s answered %s" % (check["url"], answer)
                        break
                    answers.append(check["url"])
            if ok and all(os.path.exists(os.path.join(proc, str(pid))) for pid in pids):
                return {"name": name, "pids": pids, "urls": answers, "elapsed": round(clock() - begun, 2)}
            if clock() >= deadline:
                what = ", ".join(step.get("components") or [name])
                raise StepError("%s did not become healthy within %d s after %s: %s" % (
                    what, timeout, "restarting %s" % step["unit"] if step["kind"] == "unit" else
                    "its manifest %s changed" % step["manifest"], seen), name, last_log_lines(step, runner))
            sleep(1.0)
    finally:
        for _check, prober in probers:
            prober.close()


def run_plan(steps: t.Sequence[t.Mapping[str, t.Any]], phase: str, timeout: float, default_kubeconfig: t.Optional[str],
             runner: Runner = run_command, **kwargs: t.Any) -> t.List[t.Dict[str, t.Any]]:
    """Every step in order; the first that does not come back raises StepError (later ones are not run)."""
    return [run_step(step, phase, timeout, default_kubeconfig, runner, **kwargs) for step in steps]
