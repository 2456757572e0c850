# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""What runs, and etcd's environment: a component's running command line, and ``ETCD_*`` variables.

On a live node a component's process (``/proc/<pid>/cmdline``) is what runs now. etcd reads
``ETCD_<FLAG>`` for every flag not given on its command line (from its unit's environment, a static
pod's container ``env`` or ``/proc/<pid>/environ``); both set makes etcd exit at start.
"""

from __future__ import annotations

import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils._flags import FlagOccurrence, FlagSet, parse_args
from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import Component


def attach_processes(components: t.Dict[str, Component], snapshot: t.Dict[str, t.Any], skip: t.Iterable[str]) -> None:
    """Each component's running process (the first of its program) and the flags it runs with."""
    for name, comp in components.items():
        if name in skip:
            continue
        procs = snapshot.get("processes", {}).get(name) or []
        if procs:
            proc = procs[0]
            comp.present = True
            comp.process = proc
            comp.running_flags = parse_args(name, proc["argv"][1:], [{"path": "/proc/%d/cmdline" % proc["pid"]}] * (len(proc["argv"]) - 1))
            if name == "etcd" and proc.get("env") is not None:
                comp.running_flags = with_env(comp.running_flags, {
                    var: {"value": value, "path": "/proc/%d/environ" % proc["pid"], "line": None,
                          "flag": etcd_flag(var)} for var, value in proc["env"].items()})


def etcd_flag(var: str) -> str:
    """The flag an ``ETCD_*`` variable sets: ``ETCD_PEER_CLIENT_CERT_AUTH`` -> ``peer-client-cert-auth``."""
    return var[len("ETCD_"):].lower().replace("_", "-")


def apply_etcd_env(etcd: Component, errors: t.List[str]) -> None:
    """Fold ETCD_* variables into etcd's flags the way etcd does: a variable counts unless its flag is set."""
    if not etcd.env or etcd.disk_flags is None:
        return
    for var, entry in sorted(etcd.env.items()):
        if etcd.disk_flags.has(entry["flag"]):
            occ = etcd.disk_flags.find(entry["flag"])[-1].source
            errors.append(
                "etcd: %s (%s:%s) and --%s (%s:%s) are both set; etcd exits at start with \"conflicting environment "
                "variable %s is shadowed by corresponding command-line flag\": remove one of them"
                % (var, entry["path"], entry["line"], entry["flag"], occ.get("path"), occ.get("line"), var))
    if etcd.disk_flags.has("config-file") or "ETCD_CONFIG_FILE" in etcd.env:
        errors.append("etcd reads a --config-file: its other flags and ETCD_* variables are ignored, and kubefort "
                      "does not read etcd config files; check the etcd settings in that file by hand")
    etcd.disk_flags = with_env(etcd.disk_flags, etcd.env)


def with_env(flags: FlagSet, env: t.Mapping[str, t.Mapping[str, t.Any]]) -> FlagSet:
    """A copy of ``flags`` with an occurrence first for every variable whose flag is not given."""
    merged = FlagSet(component=flags.component, positional=list(flags.positional))
    for var, entry in sorted(env.items()):
        flag = entry.get("flag") or etcd_flag(var)
        if flags.has(flag) or entry.get("value", "") == "":
            continue
        source = {"path": entry.get("path"), "line": entry.get("line"), "env": var}
        merged.occurrences.append(FlagOccurrence(flag, str(entry["value"]), -1, source, "env"))
    merged.occurrences.extend(flags.occurrences)
    return merged
