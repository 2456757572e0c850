# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""What runs, not only what is on disk: a setting whose file changed after its process started.

A flag is compared with the running process's ``/proc/<pid>/cmdline`` (``_evaluate``). A setting read
from a file the process loads at start (the kubelet's or kube-proxy's config file and ``--config-dir``
drop-ins; for components whose command line shows no flags — k3s, RKE2's kubelet, microk8s' kubelite, a
systemd etcd's environment — also the unit, its drop-ins and environment files, the k3s/RKE2
``config.yaml`` files and the microk8s args file) cannot be seen in the process. When such a file's
mtime (from discovery's stat, the same round trip) is later than the process's start (``/proc/<pid>/stat``
starttime plus the boot time), the process has not loaded it: a ``pass`` becomes ``fail`` with "fixed on
disk, restart needed", and the restart plan restarts it on a live run.

Static pod manifests are left out: the kubelet restarts a pod whose manifest changed, and its flags are
compared with the new process's command line.
"""

from __future__ import annotations

import dataclasses
import datetime
import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils._check_specs import FileMode, FileOwner
from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import Component, Node
from ansible_collections.kubefort.hardening.plugins.plugin_utils._findings import Finding

# btime in /proc/stat has whole seconds: a process may look up to 1 s older than it is.
SLACK = 1.1
SERVICE_PROGRAMS = {"k3s": "k3s", "k3s-agent": "k3s", "rke2-server": "rke2", "rke2-agent": "rke2",
                    "snap.microk8s.daemon-kubelite": "kubelite"}


def process_of(node: Node, comp: Component) -> t.Optional[t.Dict[str, t.Any]]:
    """The process that runs ``comp``: the distribution service's (k3s, rke2, kubelite) for what runs
    inside it, else the component's own."""
    program = SERVICE_PROGRAMS.get(comp.service or "")
    if program and comp.kind != "static_pod":
        procs = node.processes.get(program)
        return procs[0] if procs else None
    return comp.process


def setting_files(comp: Component) -> t.List[str]:
    """Files the component loads at start whose settings its command line does not show."""
    files = [c.path for c in comp.configs if not c.generated]
    if comp.running_flags is None:
        unit = comp.unit or {}
        files += [p for p in [unit.get("unit")] + list(unit.get("dropins") or []) if p]
        files += [e["path"] for e in unit.get("env_files") or [] if e.get("exists", True)]
        files += [i.path for i in comp.arg_items if i.origin == "config"]
        if comp.args_file:
            files.append(comp.args_file)
    return list(dict.fromkeys(files))


def mark(node: Node, findings: t.Sequence[Finding]) -> t.List[Finding]:
    """The findings, with ``pass`` turned into "fixed on disk, restart needed" where a setting file is newer
    than the process that runs it."""
    if not node.live:
        return list(findings)
    stale: t.Dict[str, t.Optional[str]] = {}
    marked = []
    for finding in findings:
        rule = finding.rule
        comp = node.components.get(rule.component)
        if (finding.status != "pass" or isinstance(rule.check, (FileMode, FileOwner)) or not (rule.flag or rule.config_key)
                or comp is None or not comp.present):
            marked.append(finding)
            continue
        if comp.name not in stale:
            stale[comp.name] = _stale_message(node, comp)
        message = stale[comp.name]
        marked.append(dataclasses.replace(finding, status="fail", restart_only=True, message=message) if message else finding)
    return marked


def _stale_message(node: Node, comp: Component) -> t.Optional[str]:
    process = process_of(node, comp)
    started = process.get("started") if process else None
    if started is None:
        return None
    newer = []
    for path in setting_files(comp):
        mtime = node.files.get(path, {}).get("mtime")
        if isinstance(mtime, (int, float)) and mtime > started + SLACK:
            newer.append("%s (changed %s)" % (path, _when(mtime)))
    if not newer:
        return None
    what = comp.service or ("kubelet" if comp.name == "kubelet" else comp.name)
    return "fixed on disk, restart needed: %s changed after %s (PID %s) started at %s, so the running process " \
        "does not have it yet: restart %s" % (", ".join(newer), comp.name, process.get("pid") if process else "?",
                                              _when(started), what)


def _when(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
