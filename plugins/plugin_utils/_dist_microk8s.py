# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""microk8s: one args file per component, ``/var/snap/microk8s/current/args/<component>``, one flag a line.

Written: the flag's line (the last occurrence replaced, earlier ones removed with their line when nothing
else is on it), or a new line at the end of the file.
"""

from __future__ import annotations

import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils._flags import FlagSet
from ansible_collections.kubefort.hardening.plugins.plugin_utils._dist_base import (
    MICROK8S,
    Distribution,
    EditError,
    replace_line_flag,
)

if t.TYPE_CHECKING:
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import Component
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._edits import Planner


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


DISTRIBUTION = Distribution(name=MICROK8S, write_flag=write_flag)
