# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""kubeadm and kubespray nodes (and generic ones): systemd units, environment files, static pods.

Written: a flag where it occurs — the static pod manifest item, the unit's ``ExecStart`` line or the
environment-file line that defines the variable (repeated occurrences folded into the first); a
flag-only kubelet's new flag in the ``KUBELET_EXTRA_ARGS`` environment file its unit reads; an etcd
option set by an ``ETCD_*`` variable on that variable's line (a flag next to it would stop etcd).
"""

from __future__ import annotations

import copy
import re
import typing as t

import yaml

from ansible_collections.kubefort.hardening.plugins.module_utils._systemd import parse_env_file
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _yaml_edit
from ansible_collections.kubefort.hardening.plugins.plugin_utils._dist_base import (
    KUBEADM,
    Distribution,
    EditError,
    replace_line_flag,
)

if t.TYPE_CHECKING:
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import Component
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._edits import Planner


def write_flag(planner: "Planner", comp: "Component", flag: str, value: str, rule_ids: t.Sequence[str]) -> None:
    if from_env(comp, flag):
        env_flag(planner, comp, flag, value, rule_ids)
    elif comp.manifest is not None:
        planner._manifest_flags(comp, {flag: value}, rule_ids)
    else:
        systemd_flag(planner, comp, flag, value, rule_ids)


def systemd_flag(planner: "Planner", comp: "Component", flag: str, value: str, rule_ids: t.Sequence[str]) -> None:
    flags = comp.disk_flags
    if flags is None or comp.unit is None:
        raise EditError("%s has no systemd unit to change; set %s by hand" % (comp.name, flag))
    occurrences = flags.find(flag)
    if occurrences:
        for number, occ in enumerate(occurrences):
            path, line = occ.source.get("path"), occ.source.get("line")
            if not path or not line:
                raise EditError("cannot tell which file sets --%s" % flag)
            edit = planner.edit(path, comp.name, rule_ids[0])
            edit.rules.extend(r for r in rule_ids if r not in edit.rules)
            edit.after = replace_line_flag(t.cast(str, edit.text), line, flag, None if number else value)
        return
    path, var = extra_args_file(comp)
    edit = planner.edit(path, comp.name, rule_ids[0])
    edit.rules.extend(r for r in rule_ids if r not in edit.rules)
    edit.after = add_env_flag(edit.text or "", var, "--%s=%s" % (flag, value))
    if edit.before is None:
        edit.mode, edit.create_parents = "0644", True


# --- ETCD_* environment variables -------------------------------------------------------------------


def from_env(comp: "Component", flag: str) -> bool:
    """Whether the effective value of ``--flag`` comes from an ETCD_* variable."""
    found = comp.disk_flags.find(flag) if comp.disk_flags is not None else []
    return bool(found) and all(o.form == "env" for o in found)


def env_flag(planner: "Planner", comp: "Component", flag: str, value: str, rule_ids: t.Sequence[str]) -> None:
    """Change the variable that sets the option (adding a flag next to it would stop etcd)."""
    entry = t.cast(t.Dict[str, t.Any], comp.env_value(flag))
    path, line, var = entry["path"], entry.get("line"), entry["var"]
    if not line:
        raise EditError("%s sets --%s but its line is unknown; change it by hand" % (var, flag))
    edit = planner.edit(path, comp.name, rule_ids[0])
    edit.rules.extend(r for r in rule_ids if r not in edit.rules)
    if comp.manifest is not None and path == comp.manifest.path:
        index = entry["index"]
        edit.after = replace_scalar(t.cast(str, edit.text),
                                    ("spec", "containers", comp.manifest.container, "env", index, "value"), value, path)
    else:
        edit.after = set_env_line(t.cast(str, edit.text), line, var, value)


# --- unit and environment file text ------------------------------------------------------------------


def extra_args_file(comp: "Component") -> t.Tuple[str, str]:
    """The environment file and variable where a flag-only kubelet takes extra arguments."""
    unit = t.cast(t.Dict[str, t.Any], comp.unit)
    used_vars = set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", " ".join(_exec_words(unit))))
    for env_file in reversed(unit.get("env_files", [])):
        path = env_file["path"]
        for var in ("KUBELET_EXTRA_ARGS", "KUBELET_ARGS", "KUBELET_OPTS"):
            if var in used_vars:
                defined = unit.get("env", {}).get(var)
                if defined is None or defined.get("path") == path:
                    return path, var
    raise EditError(
        "the kubelet has no config file and its unit reads no KUBELET_EXTRA_ARGS environment file; "
        "add the flag to its unit by hand or give it a --config file"
    )


def _exec_words(unit: t.Mapping[str, t.Any]) -> t.List[str]:
    return [str((unit.get("exec_start") or {}).get("raw", ""))]


def add_env_flag(text: str, var: str, word: str) -> str:
    """Append a word to ``VAR=...`` in an environment file (adding the line when it is missing)."""
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        match = re.match(r"^(\s*(?:export\s+)?%s=)(.*?)(\s*)$" % re.escape(var), line)
        if not match:
            continue
        head, value, tail = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            inner = value[1:-1]
            new_value = value[0] + (inner + " " if inner.strip() else "") + word + value[0]
        elif value.strip():
            new_value = '"%s %s"' % (value.strip(), word)
        else:
            new_value = word
        lines[index] = head + new_value + (tail or "\n")
        new = "".join(lines)
        break
    else:
        new = text + ("" if not text or text.endswith("\n") else "\n") + "%s=%s\n" % (var, word)
    parsed = parse_env_file(new).get(var, ("", 0))[0]
    if word not in parsed.split():
        raise EditError("could not add %s to %s safely" % (word, var))
    return new


def set_env_line(text: str, line: int, var: str, value: str) -> str:
    """Set ``VAR=value`` on one line of an environment file or an ``Environment=`` unit line."""
    lines = text.splitlines(keepends=True)
    if line < 1 or line > len(lines):
        raise EditError("line %d is outside the file" % line)
    old = lines[line - 1]
    pattern = re.compile(r"(?<![\w])(%s=)(\"[^\"]*\"|'[^']*'|[^\s\"']*)" % re.escape(var))
    match = pattern.search(old)
    if not match:
        raise EditError("%s is not on line %d as expected" % (var, line))
    current = match.group(2)
    quote = current[0] if current[:1] in ("\"", "'") else ""
    lines[line - 1] = old[:match.start(2)] + quote + value + quote + old[match.end(2):]
    new = "".join(lines)
    if parse_env_file(new).get(var, ("", 0))[0] != value and "Environment=" not in old:
        raise EditError("could not set %s safely" % var)
    return new


def replace_scalar(text: str, path: t.Tuple[t.Union[str, int], ...], value: str, what: str) -> str:
    """Replace one scalar (found by a path of keys and list indexes), checked by reparsing."""
    data, root = _yaml_edit.load(text, what)
    node = root
    for key in path:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            node = None
        if node is None:
            raise EditError("%s: %s not found" % (what, ".".join(map(str, path))))
    if not isinstance(node, yaml.ScalarNode):
        raise EditError("%s: %s is not a scalar" % (what, ".".join(map(str, path))))
    new = text[:node.start_mark.index] + _yaml_edit.scalar_text(value) + text[node.end_mark.index:]
    expected = copy.deepcopy(data)
    target = expected
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return _yaml_edit._checked(new, expected, what)


DISTRIBUTION = Distribution(name=KUBEADM, write_flag=write_flag)
