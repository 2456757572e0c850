# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Turn the fixes of failing rules into whole new file texts, one per file, validated before any write.

Each setting is changed where its effective value comes from: the flag occurrence (manifest item, unit
line or environment file line) when a flag sets it, else the config file (or the ``--config-dir``
drop-in) that defines it, else the component's main config file. A flag-only kubelet gets the flag in
the environment file its unit reads for extra arguments. No second, conflicting source is added.

Where a flag lives, and which files a distribution regenerates, is the distribution module's
(``_dist_*.py``, found by ``_layouts.distribution(layout)``): this module plans and validates, the
distribution writes.
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing as t
from dataclasses import dataclass, field

from ansible_collections.kubefort.hardening.plugins.module_utils import _errors
from ansible_collections.kubefort.hardening.plugins.module_utils._flags import (
    FlagSet,
)
from ansible_collections.kubefort.hardening.plugins.module_utils._nodefs import (
    sha256_text,
)
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _layouts, _yaml_edit
from ansible_collections.kubefort.hardening.plugins.plugin_utils._dist_base import EditError
from ansible_collections.kubefort.hardening.plugins.plugin_utils._authn import (
    AUTHN_CONFIG_PATH,
    authentication_config_text,
)
from ansible_collections.kubefort.hardening.plugins.plugin_utils._edits_apiserver import pair_problems, plan_apiserver
from ansible_collections.kubefort.hardening.plugins.plugin_utils._edits_extra import plan_extra
from ansible_collections.kubefort.hardening.plugins.plugin_utils._edits_flags import flag_problems
from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import Component, Node
from ansible_collections.kubefort.hardening.plugins.plugin_utils._config_files import get_path
from ansible_collections.kubefort.hardening.plugins.plugin_utils._kubelet_merge import KUBELET_MERGE_DEFAULTS, KUBELET_MERGE_PATCH, is_zero
from ansible_collections.kubefort.hardening.plugins.plugin_utils._manifests import load_manifest, manifest_flags
from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import (
    Finding,
    Fix,
    normalize,
    transform,
    version_tuple,
)


@dataclass
class FileEdit:
    path: str
    component: str
    before: t.Optional[str]
    after: t.Optional[str] = None
    mode: t.Optional[str] = None
    owner: t.Optional[str] = None
    group: t.Optional[str] = None
    rules: t.List[str] = field(default_factory=list)
    create_parents: bool = False
    # The text holds key material (an EncryptionConfiguration): never shown in --diff.
    sensitive: bool = False
    parents_mode: t.Optional[str] = None
    # The file is there but discovery only stat'ed it (kubeconfigs, keys: never read off the node).
    present: bool = False
    # A directory (etcd's data directory, the PKI directory, a parent directory): mode and owner only.
    directory: bool = False

    def __setattr__(self, name: str, value: t.Any) -> None:
        # A file whose every line ends in CRLF (saved on Windows) keeps CRLF on the lines an edit adds.
        before = self.__dict__.get("before")
        if name == "after" and isinstance(value, str) and before and before.count("\n") == before.count("\r\n"):
            value = value.replace("\r\n", "\n").replace("\n", "\r\n")
        super().__setattr__(name, value)

    @property
    def text(self) -> t.Optional[str]:
        return self.after if self.after is not None else self.before

    @property
    def changes(self) -> bool:
        """Whether node_files has something to do: a new text, attributes to set, or parents to create."""
        return ((self.after is not None and self.after != self.before) or self.create_parents
                or any(value is not None for value in (self.mode, self.owner, self.group)))

    def spec(self) -> t.Dict[str, t.Any]:
        spec: t.Dict[str, t.Any] = {
            "path": self.path,
            # What discovery saw: the text's hash, "present" for a file only stat'ed, "directory" for a
            # directory (only its mode or owner changes), "absent" for none.
            "expected_sha256": (sha256_text(self.before) if self.before is not None else "directory" if self.directory
                                else "present" if self.present else "absent"),
        }
        if self.after is not None and self.after != self.before:
            spec["content"] = self.after
        for key in ("mode", "owner", "group"):
            if getattr(self, key) is not None:
                spec[key] = getattr(self, key)
        if self.create_parents:
            spec["create_parents"] = True
            spec["parents_mode"] = self.parents_mode or "0755"
        return spec


class Planner:
    def __init__(self, node: Node, snapshot: t.Optional[t.Dict[str, t.Any]] = None) -> None:
        self.node = node
        # The discovery snapshot the node was built from: the validator rebuilds the node with the new
        # texts to check the flags the components end up with.
        self.snapshot = snapshot
        self.edits: t.Dict[str, FileEdit] = {}
        self.errors: t.Dict[str, str] = {}

    def edit(self, path: str, component: str, rule_id: str) -> FileEdit:
        if path not in self.edits:
            entry = self.node.files.get(path, {})
            if "content" not in entry and "error" in entry:
                # Unreadable, a directory, a dangling link: never written over.
                raise EditError(entry["error"])
            self.edits[path] = FileEdit(path, component, entry.get("content"), present=entry.get("type") == "file",
                                        directory=entry.get("type") == "dir")
        edit = self.edits[path]
        if rule_id not in edit.rules:
            edit.rules.append(rule_id)
        return edit

    def _distribution(self, component: str) -> _layouts.Distribution:
        """The writers of the distribution the component belongs to (_dist_*.py)."""
        return _layouts.distribution(self.node.components[component].layout)

    def plan(self, findings: t.Sequence[Finding]) -> t.List[Finding]:
        """Plan every failing finding's fixes; the findings as planned (a fix moved to where it lasts, or
        dropped with the reason)."""
        planned: t.List[Finding] = []
        flag_groups: t.Dict[t.Tuple[str, str], t.List[Finding]] = {}
        for finding in findings:
            planned.append(finding)
            if finding.fix is None or finding.status != "fail":
                continue
            fix = finding.fix
            try:
                if fix.kind == "config" and self._distribution(fix.component).config_as_flag(self, finding, fix):
                    fix = Fix("flag", fix.component, t.cast(str, finding.rule.flag), normalize(fix.value))
                    planned[-1] = finding = dataclasses.replace(finding, fixes=(fix,) + finding.more_fixes)
                if fix.kind == "flag" and self._distribution(fix.component).flag_as_config(self, finding, fix):
                    fix = Fix("config", fix.component, t.cast(str, finding.rule.config_key), _config_value(finding, fix))
                    planned[-1] = finding = dataclasses.replace(finding, fixes=(fix,) + finding.more_fixes)
                if fix.kind == "flag":
                    flag_groups.setdefault((fix.component, fix.target), []).append(finding)
                elif fix.kind == "config":
                    self._config(finding, fix)
                elif fix.kind == "attrs":
                    lasting = self._generated_mode(fix.component, fix.target)
                    if lasting:
                        # Read and wrong: a fail, with the fix where it lasts (a chmod would be undone).
                        planned[-1] = finding.without_fixes(lasting)
                        continue
                    edit = self.edit(fix.target, fix.component, finding.rule.id)
                    edit.mode = fix.mode or edit.mode
                    edit.owner = fix.owner or edit.owner
                    edit.group = fix.group or edit.group
                elif fix.kind == "apiserver_anonymous":
                    self._apiserver_anonymous(finding, fix)
            except _errors.EditError as exc:
                self.errors[finding.rule.id] = _errors.rule_error(exc)
        for (component, flag), group in flag_groups.items():
            try:
                self._flag(self.node.components[component], flag, group)
            except _errors.EditError as exc:
                for finding in group:
                    self.errors[finding.rule.id] = _errors.rule_error(exc)
        # Supplied files, flags that need a host mount, list settings, and the further files of
        # multi-file rules, so one run fixes a rule everywhere.
        plan_extra(self, planned)
        # The API server's own configuration files (authorization, authentication) and probes.
        plan_apiserver(self, planned)
        self._validate()
        return planned

    # --- flags -------------------------------------------------------------------------------------

    def _flag(self, comp: Component, flag: str, group: t.Sequence[Finding]) -> None:
        flags = comp.disk_flags or FlagSet(comp.name)
        value: t.Any = flags.value(flag) if flags.has(flag) else None
        if value is None:
            value = group[0].actual
        for finding in group:
            expected = finding.expected_value if finding.expected_value is not None else finding.rule.expected
            value = transform(finding.rule, normalize(value), expected)
        value = normalize(value)
        rule_ids = [f.rule.id for f in group]
        # Where the distribution keeps the flag (_dist_*.py); a static pod's manifest item comes back to
        # _manifest_flags.
        _layouts.distribution(comp.layout).write_flag(self, comp, flag, t.cast(str, value), rule_ids)

    def _manifest_flags(self, comp: Component, wanted: t.Mapping[str, t.Optional[str]], rule_ids: t.Sequence[str]) -> None:
        manifest = t.cast(t.Any, comp.manifest)
        edit = self.edit(manifest.path, comp.name, rule_ids[0])
        edit.rules.extend(r for r in rule_ids if r not in edit.rules)
        text = t.cast(str, edit.text)
        # Reparse the current text: an earlier fix may already have changed it.
        current, _name = load_manifest(manifest.path, text)
        flags = _manifest_flagset(comp.name, current)
        container = current.data["spec"]["containers"][current.container]
        n_command = len(container.get("command") or [])
        per_seq: t.Dict[str, t.Dict[str, t.Any]] = {}
        for flag, value in wanted.items():
            occurrences = flags.find(flag)
            word = None if value is None else "--%s=%s" % (flag, value)
            for number, occ in enumerate(occurrences):
                index = occ.source["index"]
                seq, local = ("command", index) if index < n_command else ("args", index - n_command)
                slot = per_seq.setdefault(seq, {"replace": {}, "remove": set(), "append": []})
                if number == 0 and word is not None:
                    slot["replace"][local] = word
                    if occ.form == "separate":
                        slot["remove"].add(local + 1)
                else:
                    slot["remove"].add(local)
                    if occ.form == "separate":
                        slot["remove"].add(local + 1)
            if not occurrences and word is not None:
                seq = "args" if container.get("args") else "command"
                per_seq.setdefault(seq, {"replace": {}, "remove": set(), "append": []})["append"].append(word)
        for seq, slot in per_seq.items():
            text = _yaml_edit.edit_sequence(
                text, ("spec", "containers", current.container, seq),
                slot["replace"], slot["remove"], slot["append"], manifest.path,
            )
        edit.after = text

    def _generated_mode(self, component: str, path: str) -> t.Optional[str]:
        """Where a mode or owner fix of a file the distribution regenerates lasts, or None."""
        comp = self.node.components.get(component)
        if comp is None or path not in comp.generated:
            return None
        return _layouts.distribution(comp.layout).lasting_mode(comp, path)

    # --- config files -----------------------------------------------------------------------------

    def _config(self, finding: Finding, fix: Fix) -> None:
        comp = self.node.components[fix.component]
        keypath = tuple(fix.target.split("."))
        path = comp.config_sources.get(keypath, (comp.config_path, None))[0] or comp.config_path
        if not path:
            raise EditError("%s has no config file to change" % comp.name)
        dropins = [c for c in comp.configs if c.path != comp.config_path]
        if (comp.name == "kubelet" and comp.merge_model != KUBELET_MERGE_PATCH and dropins and is_zero(fix.value)
                and not comp.flag_defaults):
            # kubelet 1.28 (or a version not known): a zero value in a drop-in never overrides. It goes into the
            # --config file, where it wins, and into each drop-in that sets another value (so it stops
            # overriding); on 1.29+ that gives the same result.
            # Where the zero can only go into a drop-in of kubefort's own (the --config file, or a drop-in that
            # sets another value, is rewritten by the distribution), it would not win on 1.28: no fix here.
            losing = [c.path for c in dropins if c.path in comp.generated and not is_zero(get_path(c.data, keypath))]
            if comp.config_path in comp.generated:
                losing.insert(0, t.cast(str, comp.config_path))
            if losing:
                raise EditError("kubelet 1.28 ignores a %s of 0/false set in a drop-in%s, and %s %s rewritten by %s at "
                                "every boot: set it in the node configuration %s reads" % (
                                    fix.target, "" if comp.merge_model == KUBELET_MERGE_DEFAULTS else
                                    " (this kubelet's version is unknown)", ", ".join(losing),
                                    "is" if len(losing) == 1 else "are", comp.layout, comp.layout))
            for config in dropins:
                if not is_zero(get_path(config.data, keypath)) and config.path not in comp.generated:
                    self._config_at(finding, fix, config.path, keypath)
            path = t.cast(str, comp.config_path)
        self._config_at(finding, fix, path, keypath)

    def _config_at(self, finding: Finding, fix: Fix, path: str, keypath: t.Tuple[str, ...]) -> None:
        comp = self.node.components[fix.component]
        if path in comp.generated:
            path = _layouts.distribution(comp.layout).own_dropin(comp, path)
        edit = self.edit(path, comp.name, finding.rule.id)
        if edit.before is None and edit.after is None:
            edit.after = json.dumps({"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration"}, indent=2) + "\n"
            edit.mode = "0600"
        text = t.cast(str, edit.text)
        if text.lstrip().startswith("{"):
            edit.after = _json_set(text, keypath, fix.value, path)
        else:
            edit.after = _yaml_edit.set_value(text, keypath, fix.value, path)

    # --- API server anonymous access ---------------------------------------------------------------

    def _apiserver_anonymous(self, finding: Finding, fix: Fix) -> None:
        comp = self.node.components[fix.component]
        config = self.edit(AUTHN_CONFIG_PATH, comp.name, finding.rule.id)
        if config.before is not None and config.before != authentication_config_text(version_tuple(fix.value)):
            raise EditError("%s exists and was not written by kubefort; merge the anonymous section by hand" % AUTHN_CONFIG_PATH)
        config.after = authentication_config_text(version_tuple(fix.value))
        config.mode = "0600"
        config.create_parents = True
        config.parents_mode = "0700"
        self._manifest_flags(comp, {"authentication-config": AUTHN_CONFIG_PATH, "anonymous-auth": None}, [finding.rule.id])
        manifest = self.edits[t.cast(t.Any, comp.manifest).path]
        directory = AUTHN_CONFIG_PATH.rsplit("/", 1)[0]
        current, _name = load_manifest(manifest.path, t.cast(str, manifest.text))
        container = current.data["spec"]["containers"][current.container]
        text = t.cast(str, manifest.text)
        if not any(m.get("mountPath") == directory for m in container.get("volumeMounts") or []):
            text = _yaml_edit.append_mapping(
                text, ("spec", "containers", current.container, "volumeMounts"),
                {"mountPath": directory, "name": "kubefort-config", "readOnly": True}, manifest.path)
            text = _yaml_edit.append_mapping(
                text, ("spec", "volumes"),
                {"hostPath": {"path": directory, "type": "DirectoryOrCreate"}, "name": "kubefort-config"}, manifest.path)
        manifest.after = text

    # --- validation --------------------------------------------------------------------------------

    def _validate(self) -> None:
        """Every new text must still be what its component can load."""
        for path, edit in list(self.edits.items()):
            if edit.after is None or edit.after == edit.before:
                continue
            try:
                comp = self.node.components.get(edit.component)
                if comp is not None and comp.manifest is not None and comp.manifest.path == path:
                    load_manifest(path, edit.after)
                elif comp is not None and any(c.path == path for c in comp.configs):
                    data = json.loads(edit.after) if edit.after.lstrip().startswith("{") else _yaml_edit.load(edit.after, path)[0]
                    if not isinstance(data, dict):
                        raise EditError("%s would no longer be a KubeletConfiguration" % path)
                elif path.endswith(".yaml"):
                    _yaml_edit.load(edit.after, path)
            except _errors.EditError as exc:
                for rule_id in edit.rules:
                    self.errors[rule_id] = _errors.rule_error(exc, "validation failed, nothing written")
                del self.edits[path]
        self._validate_pairs()
        self._validate_flags()

    def _validate_flags(self) -> None:
        """Refuse every edit of a component that would end up with a flag its version does not accept."""
        for component, problems in flag_problems(self).items():
            for path, edit in list(self.edits.items()):
                if edit.component != component or edit.after is None or edit.after == edit.before:
                    continue
                for rule_id in edit.rules:
                    self.errors[rule_id] = "validation failed, nothing written: the %s would not start: %s" % (
                        component, "; ".join(problems))
                del self.edits[path]

    def _validate_pairs(self) -> None:
        """Refuse every API server edit when the flags it ends up with are a pair it refuses to start with."""
        problems = pair_problems(self)
        if not problems:
            return
        for path, edit in list(self.edits.items()):
            if edit.component != "kube-apiserver" or edit.after is None or edit.after == edit.before:
                continue
            for rule_id in edit.rules:
                self.errors[rule_id] = _errors.rule_error(EditError("; ".join(problems)), "validation failed, nothing written")
            del self.edits[path]


def _manifest_flagset(name: str, manifest: t.Any) -> FlagSet:
    return manifest_flags(name, manifest)


def _json_set(text: str, keypath: t.Tuple[str, ...], value: t.Any, path: str) -> str:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise EditError("%s is not valid JSON: %s" % (path, exc))
    target = data
    for key in keypath[:-1]:
        target = target.setdefault(key, {})
    target[keypath[-1]] = value
    match = re.search(r"\n( +)\"", text)
    indent = len(match.group(1)) if match else 2
    return json.dumps(data, indent=indent) + ("\n" if text.endswith("\n") else "")


def _config_value(finding: Finding, fix: Fix) -> t.Any:
    """A flag fix's value in the type of the config key (booleans and numbers stay typed)."""
    value = fix.value
    for typed in (finding.rule.fix, finding.rule.expected):
        if isinstance(typed, bool):
            return str(value).lower() == "true"
        if isinstance(typed, int) and str(value).lstrip("-").isdigit():
            return int(value)
    return value
