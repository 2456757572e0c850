# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""One round trip of discovery: the files, units and processes the controller asks for.

The node does no interpretation beyond systemd's own rules; YAML is parsed on the controller.
Key material is never read: the controller asks only to ``stat`` certificates, keys and kubeconfigs.
"""

from __future__ import annotations

import os
import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils import _encryption
from ansible_collections.kubefort.hardening.plugins.module_utils._nodefs import NodeFS, NodeFSError, sha256_text
from ansible_collections.kubefort.hardening.plugins.module_utils._systemd import unit_command
from ansible_collections.kubefort.hardening.plugins.module_utils._versions import collect as collect_versions


def snapshot(
    root: str,
    read: t.Sequence[str] = (),
    stat: t.Sequence[str] = (),
    listdirs: t.Sequence[str] = (),
    units: t.Sequence[str] = (),
    processes: t.Sequence[str] = (),
    versions: t.Optional[t.Mapping[str, t.Any]] = None,
    encryption: t.Sequence[str] = (),
) -> t.Dict[str, t.Any]:
    fs = NodeFS(root)
    if not os.path.isdir(fs.root):
        raise NodeFSError("root %s is not a directory on this host" % fs.root)
    files: t.Dict[str, t.Dict[str, t.Any]] = {}
    patterns: t.Dict[str, t.List[str]] = {}
    for pattern in stat:
        for path in _expand(fs, pattern, patterns):
            files[path] = fs.stat(path)
    for pattern in read:
        for path in _expand(fs, pattern, patterns):
            files[path] = read_file(fs, path)
    # EncryptionConfiguration files hold keys: only their summary leaves the node, whatever else asked for them.
    for path in encryption:
        files[path] = summarize_encryption(fs, path)
    # Parent directories too: file rules report a directory that lets others replace the file.
    for path in list(files):
        parent = os.path.dirname(path)
        while parent and parent not in files:
            files[parent] = fs.stat(parent)
            if parent == "/":
                break
            parent = os.path.dirname(parent)
    unit_info = {name: unit_command(fs, name) for name in units}
    for info in unit_info.values():
        for path in [info["unit"]] + info["dropins"] + [e["path"] for e in info["env_files"]]:
            if path and path not in files:
                files[path] = read_file(fs, path)
    found = {
        "root": fs.root,
        "live": not fs.offline,
        "files": files,
        "patterns": patterns,
        "listings": {d: fs.listdir(d) for d in listdirs},
        "units": unit_info,
        "processes": scan_processes(processes) if not fs.offline else {},
    }
    if versions:
        # The programs the named units run are scanned for a version string before the fixed paths.
        programs = [((unit_info.get(u) or {}).get("argv") or [None])[0] for u in versions.get("binary_units") or []]
        found["versions"] = collect_versions(fs, versions, [p for p in programs if p])
    return found


def snapshot_for(root: str, request: t.Mapping[str, t.Any]) -> t.Dict[str, t.Any]:
    """``snapshot`` of a discovery request as node_facts takes it: its options, or node_files' ``read_after``
    (keys ``read``, ``stat``, ``list``, ``units``, ``processes``, ``versions``, ``encryption``; any may be left out)."""
    return snapshot(
        root, request.get("read") or [], request.get("stat") or [], request.get("list") or [],
        request.get("units") or [], request.get("processes") or [], request.get("versions"),
        request.get("encryption") or [],
    )


def _expand(fs: NodeFS, pattern: str, patterns: t.Dict[str, t.List[str]]) -> t.List[str]:
    """Paths a pattern names; a plain path is reported even when missing, a wildcard only by matches."""
    if not any(c in pattern for c in "*?["):
        return [pattern]
    matches = fs.glob(pattern)
    patterns[pattern] = matches
    return matches


def summarize_encryption(fs: NodeFS, path: str) -> t.Dict[str, t.Any]:
    entry = fs.stat(path)
    if entry["type"] == "file":
        try:
            entry["encryption"] = _encryption.summarize(fs.read_text(path))
        except NodeFSError as exc:
            entry["error"] = str(exc)
    return entry


def read_file(fs: NodeFS, path: str) -> t.Dict[str, t.Any]:
    """Content and metadata of a file; ``error`` says why a file that is there (or a link that points
    nowhere) could not be read."""
    entry = fs.stat(path)
    if entry["type"] == "file":
        try:
            content = fs.read_text(path)
            entry["content"] = content
            entry["sha256"] = sha256_text(content)
        except NodeFSError as exc:
            entry["error"] = str(exc)
    elif entry["type"] == "dir":
        entry["error"] = "%s is a directory where a file belongs: remove it or put the file there" % path
    elif entry["type"] == "other":
        entry["error"] = "%s is not a regular file (a device, socket or pipe): replace it with the file" % path
    elif entry.get("link_error"):
        entry["error"] = entry["link_error"]
    return entry


def scan_processes(names: t.Sequence[str], proc: str = "/proc") -> t.Dict[str, t.List[t.Dict[str, t.Any]]]:
    """Running processes whose program name is one of ``names``, with their argv and start time."""
    wanted = set(names)
    found: t.Dict[str, t.List[t.Dict[str, t.Any]]] = {}
    try:
        pids = [p for p in os.listdir(proc) if p.isdigit()]
    except OSError:
        return found
    boot = _boot_time(proc)
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            with open(os.path.join(proc, pid, "cmdline"), "rb") as handle:
                raw = handle.read()
            with open(os.path.join(proc, pid, "stat"), "r") as handle:
                start = int(handle.read().rsplit(")", 1)[1].split()[19])
        except (OSError, ValueError, IndexError):
            continue
        argv = [w.decode("utf-8", "replace") for w in raw.split(b"\0") if w]
        if not argv:
            continue
        program = os.path.basename(argv[0])
        if program.startswith("python") and len(argv) > 1:
            # A script (a stand-in, or a wrapper) run by the interpreter: name it by the script.
            argv = argv[1:]
            program = os.path.basename(argv[0])
        if program in wanted:
            entry = {"pid": int(pid), "argv": argv, "start_ticks": start}
            if boot is not None:
                # Seconds since the epoch (btime has whole seconds: up to 1 s early).
                entry["started"] = round(boot + start / ticks, 3)
            prefix = ENV_PREFIXES.get(program)
            if prefix:
                entry["env"] = _process_env(proc, pid, prefix)
            found.setdefault(program, []).append(entry)
    return found


def _boot_time(proc: str) -> t.Optional[float]:
    try:
        with open(os.path.join(proc, "stat")) as handle:
            for line in handle:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


# Programs whose settings can come from environment variables, and the prefix of those variables.
# Only these variables are returned (etcd's are paths and options, never key material).
ENV_PREFIXES = {"etcd": "ETCD_"}


def _process_env(proc: str, pid: str, prefix: str) -> t.Optional[t.Dict[str, str]]:
    try:
        with open(os.path.join(proc, pid, "environ"), "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    env = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.decode("utf-8", "replace").partition("=")
        if sep and key.startswith(prefix):
            env[key] = value
    return env
