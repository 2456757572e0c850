# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The planner never writes a flag the component's version does not accept.

``flag_problems(planner)`` rebuilds each changed component from the new file texts (the same discovery the
audit uses) and asks ``_component_flags.verdict`` about every flag the edits add: a flag the version does
not accept (removed by it, added only later, not a 1.28 flag on 1.28, or refused by some release when the
version is unknown) would make the component exit at start, so ``Planner._validate`` drops that
component's edits and reports why. Flags the component already had are not judged again here: the audit
reports them (``_components.check_flags``).
"""

from __future__ import annotations

import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils import _component_flags
from ansible_collections.kubefort.hardening.plugins.plugin_utils._discovery import build_node
from ansible_collections.kubefort.hardening.plugins.plugin_utils._kubelet_merge import minor_version
from ansible_collections.kubefort.hardening.plugins.plugin_utils._manifests import load_manifest, manifest_flags

if t.TYPE_CHECKING:
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._edits import Planner


def flag_problems(planner: "Planner") -> t.Dict[str, t.List[str]]:
    """component name -> why the flags its edits add would stop it ({} when none would)."""
    changed = {p: e.after for p, e in planner.edits.items() if e.after is not None and e.after != e.before}
    problems: t.Dict[str, t.List[str]] = {}
    names = sorted({planner.edits[p].component for p in changed} & set(_component_flags.COMPONENTS))
    rebuilt = rebuilt_node(planner, changed) if names else None
    for name in names:
        comp = planner.node.components.get(name)
        if comp is None or not comp.present:
            continue
        flags = _flags_after(comp, rebuilt, changed)
        if flags is None:
            continue
        before = {_component_flags.normalize(o.name) for o in comp.disk_flags.occurrences} if comp.disk_flags else set()
        version = minor_version(comp.version) or None
        for occ in flags.occurrences:
            flag = _component_flags.normalize(occ.name)
            if flag in before:
                continue
            verdict = _component_flags.verdict(name, version, flag)
            message = "--%s is not a flag %s accepts (%s)" % (
                flag, "this %s %s" % (name, comp.version) if version else "every %s release" % name, verdict.reason)
            if verdict.status == "unknown" and message not in problems.get(name, []):
                problems.setdefault(name, []).append(message)
    return problems


def rebuilt_node(planner: "Planner", changed: t.Mapping[str, str]) -> t.Any:
    """The node as discovery would see it with the new texts (None without the discovery snapshot)."""
    snapshot = getattr(planner, "snapshot", None)
    if snapshot is None:
        return None
    files = dict(snapshot.get("files", {}))
    for path, text in changed.items():
        files[path] = dict(files.get(path) or {"type": "file"}, content=text, type="file")
    return build_node(dict(snapshot, files=files))


def _flags_after(comp: t.Any, rebuilt: t.Any, changed: t.Mapping[str, str]) -> t.Any:
    if rebuilt is not None:
        after = rebuilt.components.get(comp.name)
        return after.disk_flags if after is not None else None
    if comp.manifest is not None and comp.manifest.path in changed:
        manifest, _name = load_manifest(comp.manifest.path, changed[comp.manifest.path])
        return manifest_flags(comp.name, manifest)
    return None
