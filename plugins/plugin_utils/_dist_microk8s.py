# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""microk8s: one args file per component, ``/var/snap/microk8s/current/args/<component>``, one flag a line.

Read (``build``): each component's args file (the snap's wrapper reads it as a shell array:
``${SNAP_DATA}`` expanded, ``#`` comments), the kubelet's ``--config`` file and kube-proxy's.

Written: the flag's line (the last occurrence replaced, earlier ones removed with their line when nothing
else is on it), or a new line at the end of the file.
"""

from __future__ import annotations

import re
import shlex
import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils._flags import FlagSet, parse_args
from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import ALL_COMPONENTS, Component, Source
from ansible_collections.kubefort.hardening.plugins.plugin_utils._config_files import kube_proxy_config
from ansible_collections.kubefort.hardening.plugins.plugin_utils._dist_base import (
    MICROK8S,
    Distribution,
    EditError,
    Layout,
    replace_line_flag,
)
from ansible_collections.kubefort.hardening.plugins.plugin_utils._kubelet_merge import kubelet_config

if t.TYPE_CHECKING:
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._edits import Planner

ARGS = "/var/snap/microk8s/current/args"
SNAP_DATA = "/var/snap/microk8s/current"
SNAP_COMMON = "/var/snap/microk8s/common"
COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")

LAYOUT = Layout(
    name=MICROK8S,
    description="microk8s: one flag per line in /var/snap/microk8s/current/args/<component>",
    markers=(ARGS + "/kubelet", ARGS + "/kube-apiserver"),
    # The args files, and the YAML configs they name from the same directory (admission control).
    read=tuple(ARGS + "/" + c for c in COMPONENTS) + (ARGS + "/*.yaml",),
    stat=(ARGS + "/*", SNAP_DATA + "/certs/**", SNAP_DATA + "/credentials/*"),
    processes=("kubelite",),
    settings={"default": "args_file"},
)


# --- reading -----------------------------------------------------------------------------------------


_SNAP_VARS = {
    "SNAP_DATA": SNAP_DATA,
    "SNAP_COMMON": SNAP_COMMON,
    "SNAP": "/snap/microk8s/current",
}


def parse_args_file(text: str, path: str) -> t.Tuple[t.List[str], t.List[Source]]:
    """Words of a microk8s args file (the snap's wrapper reads it as a shell array), with their lines."""
    words: t.List[str] = []
    sources: t.List[Source] = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            parts = shlex.split(stripped, comments=True, posix=True)
        except ValueError:
            parts = stripped.split()
        for part in parts:
            words.append(re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: _SNAP_VARS.get(m.group(1) or m.group(2), m.group(0)), part))
            sources.append({"path": path, "line": number})
    return words, sources


def build(snapshot: t.Dict[str, t.Any], layout: str, errors: t.List[str]) -> t.Tuple[t.Dict[str, Component], str]:
    """Every component runs inside kubelite, each from its args file; no static pods."""
    files = snapshot.get("files", {})
    components = {name: Component(name=name, kind="embedded", settings="args_file",
                                  service="snap.microk8s.daemon-kubelite") for name in ALL_COMPONENTS}
    for name in COMPONENTS:
        path = "%s/%s" % (ARGS, name)
        entry = files.get(path, {})
        if "content" not in entry:
            if entry.get("error"):
                errors.append(entry["error"])
                # There but unreadable: the component is configured, its rules are errors (not "does not run").
                components[name].present = True
                components[name].args_file = path
                components[name].errors.append(entry["error"])
            continue
        comp = components[name]
        comp.present = True
        comp.args_file = path
        words, sources = parse_args_file(entry["content"], path)
        comp.disk_flags = parse_args(name, words, sources)
        if name == "kubelet":
            kubelet_config(comp, files, comp.disk_flags.value("config"), comp.disk_flags.value("config-dir"))
        if name == "kube-proxy" and comp.disk_flags.value("config"):
            kube_proxy_config(comp, files, None)
    return components, ""


# --- writing -----------------------------------------------------------------------------------------


def write_flag(planner: "Planner", comp: "Component", flag: str, value: str, rule_ids: t.Sequence[str]) -> None:
    path = comp.args_file
    if not path:
        raise EditError("%s has no args file to change" % comp.name)
    edit = planner.edit(path, comp.name, rule_ids[0])
    edit.rules.extend(r for r in rule_ids if r not in edit.rules)
    flags = comp.disk_flags or FlagSet(comp.name)
    occurrences = flags.find(flag)
    text = t.cast(str, edit.text)
    for number, occ in enumerate(reversed(occurrences)):
        line = occ.source.get("line")
        if not line:
            raise EditError("cannot tell which line of %s sets --%s" % (path, flag))
        if number == len(occurrences) - 1:
            text = replace_line_flag(text, line, flag, value)
        else:
            text = remove_args_line(text, line, flag)
    if not occurrences:
        text = text + ("" if not text or text.endswith("\n") else "\n") + "--%s=%s\n" % (flag, value)
    edit.after = text


def remove_args_line(text: str, line: int, flag: str) -> str:
    """Remove ``--flag[=value]`` from one line of a microk8s args file (the line too when nothing is left)."""
    new = replace_line_flag(text, line, flag, None)
    lines = new.splitlines(keepends=True)
    if not lines[line - 1].strip():
        del lines[line - 1]
    return "".join(lines)


DISTRIBUTION = Distribution(name=MICROK8S, layouts=(LAYOUT,), build=build, write_flag=write_flag)
