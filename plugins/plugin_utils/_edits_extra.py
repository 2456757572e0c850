# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Fix kinds beyond _edits.Planner's own: further files of multi-file rules, operator-supplied files, mounts.

``plan_extra(planner, findings)`` runs inside ``Planner.plan`` after the flag groups and before
validation, so every text it changes is validated like the others:

- ``Finding.more_fixes`` of kind ``attrs``: the other files (and the parent directory) of a file rule;
- ``supplied_file``: writes content the operator gave through a role variable under
  /etc/kubernetes/kubefort (mode 600), points the flag at it, mounts the directory into the static pod
  and, for an admission plugin configuration, enables the plugin; an API server on the host (k3s,
  microk8s) gets the flags where its distribution keeps them and needs no mount;
- ``config_list``: sets a top-level list key of a component's config file (``tlsCipherSuites``), as a
  block sequence, keeping the rest of the file byte for byte;
- ``flag_mount``: sets a path flag (``--audit-log-path``) and mounts the path's directory from the host,
  so what the component writes there survives restarts and is readable on the node (on the host: the flag
  only; the API server makes the directory).

A static pod the distribution writes at every start (RKE2) is never edited: such a fix is dropped and the
rule stays ``fail`` with what to set in the distribution's configuration (``NotLasting``).
"""

from __future__ import annotations

import json
import os
import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils import _errors
from ansible_collections.kubefort.hardening.plugins.module_utils._check_specs import SuppliedFile
from ansible_collections.kubefort.hardening.plugins.module_utils._flags import split_list
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _edits_flags, _layouts, _yaml_edit
from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import Component
from ansible_collections.kubefort.hardening.plugins.plugin_utils._manifests import load_manifest, manifest_flags
from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import SUPPLIED_DIR, Finding, Fix

if t.TYPE_CHECKING:
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._edits import Planner


class ExtraEditError(_errors.EditError):
    """A fix of this module cannot be written safely."""


class NotLasting(ExtraEditError):
    """The fix would be written where the distribution overwrites it: the rule stays ``fail``, with this advice."""


def plan_extra(planner: "Planner", findings: t.List[Finding]) -> None:
    for index, finding in enumerate(findings):
        if finding.status != "fail" or finding.fix is None:
            # A waived finding has its fix dropped; its further files go with it.
            continue
        fixes = list(finding.more_fixes) + ([finding.fix] if finding.fix is not None else [])
        for fix in fixes:
            try:
                if fix.kind == "attrs" and fix is not finding.fix:
                    _attrs(planner, finding, fix)
                elif fix.kind == "supplied_file":
                    _supplied_file(planner, finding, fix)
                elif fix.kind == "flag_mount":
                    _flag_mount(planner, finding, fix)
                elif fix.kind == "config_list":
                    _config_list(planner, finding, fix)
            except NotLasting as exc:
                findings[index] = finding.without_fixes(str(exc))
                break
            except (_errors.KubefortError, ValueError) as exc:
                planner.errors[finding.rule.id] = _errors.rule_error(exc)


def _attrs(planner: "Planner", finding: Finding, fix: Fix) -> None:
    edit = planner.edit(fix.target, fix.component or finding.rule.component, finding.rule.id)
    edit.mode = fix.mode or edit.mode
    edit.owner = fix.owner or edit.owner
    edit.group = fix.group or edit.group


def _edited_pod(planner: "Planner", fix: Fix, advice: str) -> t.Optional[Component]:
    """The component when kubefort edits its static pod manifest (flags and mounts), None when it runs on the
    host and reads host paths (k3s, microk8s: the flags go where the distribution keeps them)."""
    comp = planner.node.components[fix.component]
    if comp.manifest is None:
        return None
    if any(comp.manifest.path.startswith(g) for g in comp.generated):
        # RKE2 writes its static pods at every start from its own options (never edited).
        raise NotLasting("%s writes %s at every start and mounts only the files it knows: %s" % (
            comp.layout, comp.manifest.path, advice))
    return comp


def _host_flags(planner: "Planner", comp: Component, wanted: t.Mapping[str, str], rule_ids: t.Sequence[str]) -> None:
    """Set flags of a component that runs on the host where its distribution keeps them (args file,
    config.yaml ``-arg`` list), over what earlier fixes of this run already changed."""
    writer = _layouts.distribution(comp.layout)
    for flag, value in wanted.items():
        writer.write_flag(planner, _as_planned(planner, comp), flag, value, rule_ids)


def _as_planned(planner: "Planner", comp: Component) -> Component:
    """The component as discovery would read it with this run's planned texts (flags and their lines)."""
    changed = {path: edit.after for path, edit in planner.edits.items() if edit.after is not None}
    rebuilt = _edits_flags.rebuilt_node(planner, changed) if changed else None
    return rebuilt.components.get(comp.name, comp) if rebuilt is not None else comp


def _supplied_file(planner: "Planner", finding: Finding, fix: Fix) -> None:
    path, content = fix.value["path"], fix.value["content"]
    comp = _edited_pod(planner, fix, (
        "put the file on the node, name it with a kube-apiserver-arg entry %s=<file> and mount its directory with "
        "kube-apiserver-extra-mount in its config.yaml" % fix.target))
    host = planner.node.components[fix.component]
    if not str(content).strip():
        raise ExtraEditError("the content supplied for --%s is empty" % fix.target)
    _yaml_edit.load(str(content), path)  # refuses content that is not YAML before anything is written
    target = planner.edit(path, host.name, finding.rule.id)
    target.after = str(content) if str(content).endswith("\n") else str(content) + "\n"
    target.mode, target.create_parents = "0600", True
    target.sensitive = isinstance(finding.rule.check, SuppliedFile) and finding.rule.check.input == "encryption_config"
    wanted: t.Dict[str, str] = {fix.target: path}
    plugin = fix.value.get("plugin")
    if plugin:
        current = _current_flags(planner, comp) if comp is not None else _as_planned(planner, host).disk_flags
        items = split_list(current.value("enable-admission-plugins") if current is not None else None)
        if plugin not in items:
            wanted["enable-admission-plugins"] = ",".join(items + [plugin])
    if comp is None:
        # The API server runs on the host (k3s, microk8s): it reads the file where kubefort writes it.
        _host_flags(planner, host, wanted, [finding.rule.id])
        return
    planner._manifest_flags(comp, dict(wanted), [finding.rule.id])
    _mount(planner, comp, SUPPLIED_DIR, "kubefort-config", read_only=True)


def _flag_mount(planner: "Planner", finding: Finding, fix: Fix) -> None:
    path = str(fix.value)
    comp = _edited_pod(planner, fix, (
        "remove the %s entry from its kube-apiserver-arg list (RKE2 then writes the audit log to its data "
        "directory's server/logs/audit.log, which it mounts)" % fix.target))
    if not os.path.isabs(path):
        raise ExtraEditError("--%s must be an absolute path, not %r" % (fix.target, path))
    if comp is None:
        # A process on the host: the API server creates the log's directory (0700) itself when it starts.
        _host_flags(planner, planner.node.components[fix.component], {fix.target: path}, [finding.rule.id])
        return
    planner._manifest_flags(comp, {fix.target: path}, [finding.rule.id])
    _mount(planner, comp, os.path.dirname(path), "kubefort-%s" % fix.target, read_only=False)


def _current_flags(planner: "Planner", comp: Component) -> t.Any:
    manifest = t.cast(t.Any, comp.manifest)
    edit = planner.edits.get(manifest.path)
    text = edit.text if edit is not None and edit.text is not None else manifest.text
    current, _name = load_manifest(manifest.path, t.cast(str, text))
    return manifest_flags(comp.name, current)


def _mount(planner: "Planner", comp: Component, directory: str, name: str, read_only: bool) -> None:
    manifest = planner.edits[t.cast(t.Any, comp.manifest).path]
    text = t.cast(str, manifest.text)
    current, _name = load_manifest(manifest.path, text)
    container = current.data["spec"]["containers"][current.container]
    if any(m.get("mountPath") == directory for m in container.get("volumeMounts") or []):
        return
    mount: t.Dict[str, t.Any] = {"mountPath": directory, "name": name}
    if read_only:
        mount["readOnly"] = True
    text = _yaml_edit.append_mapping(text, ("spec", "containers", current.container, "volumeMounts"), mount, manifest.path)
    text = _yaml_edit.append_mapping(text, ("spec", "volumes"),
                                     {"hostPath": {"path": directory, "type": "DirectoryOrCreate"}, "name": name},
                                     manifest.path)
    manifest.after = text


def _config_list(planner: "Planner", finding: Finding, fix: Fix) -> None:
    comp = planner.node.components[fix.component]
    keypath = tuple(fix.target.split("."))
    if len(keypath) != 1:
        raise ExtraEditError("%s: only top-level list keys can be set, not %s" % (comp.name, fix.target))
    path = comp.config_sources.get(keypath, (comp.config_path, None))[0] or comp.config_path
    if not path:
        raise ExtraEditError("%s has no config file to change" % comp.name)
    edit = planner.edit(path, comp.name, finding.rule.id)
    text = t.cast(str, edit.text)
    items = [str(v) for v in fix.value]
    if text.lstrip().startswith("{"):
        data = json.loads(text)
        data[keypath[0]] = items
        edit.after = json.dumps(data, indent=2) + ("\n" if text.endswith("\n") else "")
        return
    edit.after = set_top_level_list(text, keypath[0], items, path)


def set_top_level_list(text: str, key: str, items: t.Sequence[str], what: str) -> str:
    """``text`` with the top-level ``key`` set to ``items`` (a block sequence), everything else kept."""
    data, root = _yaml_edit.load(text, what)
    block = "%s:\n%s" % (key, "".join("- %s\n" % _yaml_edit.scalar_text(i) for i in items))
    found = None
    if root is not None:
        found = next(((k, v) for k, v in root.value if k.value == key), None)
    if found is None:
        new = text + ("" if not text or text.endswith("\n") else "\n") + block
    else:
        key_node, value_node = found
        if key_node.start_mark.column != 0:
            raise ExtraEditError("%s: %s is not a top-level key at column 0" % (what, key))
        end = value_node.end_mark.index
        if end and text[end - 1] != "\n":
            # A flow sequence, or the last line without a newline: replace up to the end of the line.
            newline = text.find("\n", end)
            end = len(text) if newline == -1 else newline + 1
        new = text[:key_node.start_mark.index] + block + text[end:]
    expected = dict(data or {})
    expected[key] = list(items)
    after, _root = _yaml_edit.load(new, what + " (after the edit)")
    if after != expected:
        raise ExtraEditError("%s: setting %s would change more than that key; not written" % (what, key))
    return new
