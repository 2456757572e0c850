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
"""

from __future__ import annotations

import copy
import json
import re
import typing as t
from dataclasses import dataclass, field

import yaml

from ansible_collections.kubefort.hardening.plugins.module_utils._flags import (
    BOOL_FLAGS,
    FlagSet,
)
from ansible_collections.kubefort.hardening.plugins.module_utils._nodefs import (
    sha256_text,
)
from ansible_collections.kubefort.hardening.plugins.module_utils._systemd import (
    parse_env_file,
)
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _layouts, _yaml_edit
from ansible_collections.kubefort.hardening.plugins.plugin_utils._authn import (
    AUTHN_CONFIG_PATH,
    authentication_config_text,
)
from ansible_collections.kubefort.hardening.plugins.plugin_utils._edits_apiserver import pair_problems, plan_apiserver
from ansible_collections.kubefort.hardening.plugins.plugin_utils._edits_extra import plan_extra
from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import (
    KUBELET_MERGE_DEFAULTS,
    KUBELET_MERGE_PATCH,
    Component,
    Node,
    _load_manifest,
    get_path,
    is_zero,
)
from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import (
    Finding,
    Fix,
    normalize,
    transform,
    version_tuple,
)


KUBEFORT_DROPIN = "90-kubefort.conf"


class EditError(ValueError):
    """A fix cannot be written safely."""


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

    @property
    def text(self) -> t.Optional[str]:
        return self.after if self.after is not None else self.before

    def spec(self) -> t.Dict[str, t.Any]:
        spec: t.Dict[str, t.Any] = {
            "path": self.path,
            # What discovery saw: the text's hash, "present" for a file only stat'ed, "absent" for none.
            "expected_sha256": sha256_text(self.before) if self.before is not None else "present" if self.present else "absent",
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
            self.edits[path] = FileEdit(path, component, entry.get("content"), present=entry.get("type") == "file")
        edit = self.edits[path]
        if rule_id not in edit.rules:
            edit.rules.append(rule_id)
        return edit

    def plan(self, findings: t.Sequence[Finding]) -> None:
        fixes = [f for f in findings if f.fix is not None and f.status == "fail"]
        flag_groups: t.Dict[t.Tuple[str, str], t.List[Finding]] = {}
        for finding in fixes:
            fix = t.cast(Fix, finding.fix)
            try:
                if fix.kind == "config" and self._config_as_flag(finding, fix):
                    fix = Fix("flag", fix.component, t.cast(str, finding.rule.flag), normalize(fix.value))
                    finding.fix = fix
                if fix.kind == "flag" and self._flag_as_config(finding, fix):
                    fix = Fix("config", fix.component, t.cast(str, finding.rule.config_key), _config_value(finding, fix))
                    finding.fix = fix
                if fix.kind == "flag":
                    flag_groups.setdefault((fix.component, fix.target), []).append(finding)
                elif fix.kind == "config":
                    self._config(finding, fix)
                elif fix.kind == "attrs":
                    lasting = self._generated_mode(fix.component, fix.target)
                    if lasting:
                        # Read and wrong: a fail, with the fix where it lasts (a chmod would be undone).
                        finding.fix = None
                        finding.message = (finding.message + "; " if finding.message else "") + lasting
                        continue
                    edit = self.edit(fix.target, fix.component, finding.rule.id)
                    edit.mode = fix.mode or edit.mode
                    edit.owner = fix.owner or edit.owner
                    edit.group = fix.group or edit.group
                elif fix.kind == "apiserver_anonymous":
                    self._apiserver_anonymous(finding, fix)
            except (EditError, _yaml_edit.YAMLEditError) as exc:
                self.errors[finding.rule.id] = str(exc)
        for (component, flag), group in flag_groups.items():
            try:
                self._flag(self.node.components[component], flag, group)
            except (EditError, _yaml_edit.YAMLEditError) as exc:
                for finding in group:
                    self.errors[finding.rule.id] = str(exc)
        # Supplied files, flags that need a host mount, list settings, and the further files of
        # multi-file rules, so one run fixes a rule everywhere.
        plan_extra(self, findings)
        # The API server's own configuration files (authorization, authentication) and probes.
        plan_apiserver(self, findings)
        self._validate()

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
        if comp.settings == "rancher":
            self._rancher_flag(comp, flag, t.cast(str, value), rule_ids)
        elif comp.settings == "args_file":
            self._args_file_flag(comp, flag, t.cast(str, value), rule_ids)
        elif _from_env(comp, flag):
            self._env_flag(comp, flag, t.cast(str, value), rule_ids)
        elif comp.manifest is not None:
            self._manifest_flags(comp, {flag: value}, rule_ids)
        else:
            self._systemd_flag(comp, flag, t.cast(str, value), rule_ids)

    def _manifest_flags(self, comp: Component, wanted: t.Mapping[str, t.Optional[str]], rule_ids: t.Sequence[str]) -> None:
        manifest = t.cast(t.Any, comp.manifest)
        edit = self.edit(manifest.path, comp.name, rule_ids[0])
        edit.rules.extend(r for r in rule_ids if r not in edit.rules)
        text = t.cast(str, edit.text)
        # Reparse the current text: an earlier fix may already have changed it.
        current, _name = _load_manifest(manifest.path, text)
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

    def _systemd_flag(self, comp: Component, flag: str, value: str, rule_ids: t.Sequence[str]) -> None:
        flags = comp.disk_flags
        if flags is None or comp.unit is None:
            raise EditError("%s has no systemd unit to change; set %s by hand" % (comp.name, flag))
        occurrences = flags.find(flag)
        if occurrences:
            for number, occ in enumerate(occurrences):
                path, line = occ.source.get("path"), occ.source.get("line")
                if not path or not line:
                    raise EditError("cannot tell which file sets --%s" % flag)
                edit = self.edit(path, comp.name, rule_ids[0])
                edit.rules.extend(r for r in rule_ids if r not in edit.rules)
                edit.after = replace_line_flag(t.cast(str, edit.text), line, flag, None if number else value)
            return
        path, var = extra_args_file(comp)
        edit = self.edit(path, comp.name, rule_ids[0])
        edit.rules.extend(r for r in rule_ids if r not in edit.rules)
        edit.after = add_env_flag(edit.text or "", var, "--%s=%s" % (flag, value))
        if edit.before is None:
            edit.mode, edit.create_parents = "0644", True

    # --- ETCD_* environment variables ---------------------------------------------------------------

    def _env_flag(self, comp: Component, flag: str, value: str, rule_ids: t.Sequence[str]) -> None:
        """Change the variable that sets the option (adding a flag next to it would stop etcd)."""
        entry = t.cast(t.Dict[str, t.Any], comp.env_value(flag))
        path, line, var = entry["path"], entry.get("line"), entry["var"]
        if not line:
            raise EditError("%s sets --%s but its line is unknown; change it by hand" % (var, flag))
        edit = self.edit(path, comp.name, rule_ids[0])
        edit.rules.extend(r for r in rule_ids if r not in edit.rules)
        if comp.manifest is not None and path == comp.manifest.path:
            index = entry["index"]
            edit.after = replace_scalar(t.cast(str, edit.text),
                                        ("spec", "containers", comp.manifest.container, "env", index, "value"), value, path)
        else:
            edit.after = set_env_line(t.cast(str, edit.text), line, var, value)

    # --- k3s / RKE2 config.yaml -------------------------------------------------------------------

    def _rancher_flag(self, comp: Component, flag: str, value: str, rule_ids: t.Sequence[str]) -> None:
        """Set ``flag=value`` in the <component>-arg list entries, never in the generated files.

        An entry that sets the flag is replaced (later ones removed); without one, an entry is appended to
        the file that last defines the list, or to config.yaml.
        """
        dist = _layouts.RANCHER_DISTS[comp.layout]
        arg_key = dist.arg_keys[comp.name]
        mine = [i for i in comp.arg_items if i.flag == flag]
        if any(i.origin == "command-line" for i in mine):
            where = next(i for i in mine if i.origin == "command-line")
            raise EditError("--%s %s=... is on the %s command line (%s:%s); change it there by hand"
                            % (arg_key, flag, dist.name, where.path, where.line))
        word = "%s=%s" % (flag, value)
        targets: t.Dict[t.Tuple[str, str], t.Dict[str, t.Any]] = {}
        for number, item in enumerate(mine):
            slot = targets.setdefault((item.path, item.key), {"replace": {}, "remove": set()})
            if number == 0:
                slot["replace"][item.index] = word
            else:
                slot["remove"].add(item.index)
        if not mine:
            contributing = [i for i in comp.arg_items if i.origin == "config"]
            path, key = (contributing[-1].path, contributing[-1].key) if contributing else (dist.config, arg_key)
            targets.setdefault((path, key), {"replace": {}, "remove": set()})["append"] = [word]
        for (path, key), slot in targets.items():
            edit = self.edit(path, comp.name, rule_ids[0])
            edit.rules.extend(r for r in rule_ids if r not in edit.rules)
            if edit.before is None:
                # No config.yaml yet (installed with flags only): create it readable by root alone.
                edit.mode, edit.create_parents = "0600", True
            edit.after = set_list_entries(edit.text or "", key, slot["replace"], slot["remove"], slot.get("append", []), path)

    # --- microk8s args files ----------------------------------------------------------------------

    def _args_file_flag(self, comp: Component, flag: str, value: str, rule_ids: t.Sequence[str]) -> None:
        path = comp.args_file
        if not path:
            raise EditError("%s has no args file to change" % comp.name)
        edit = self.edit(path, comp.name, rule_ids[0])
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

    def _config_as_flag(self, finding: Finding, fix: Fix) -> bool:
        """Whether a config-file fix must be written as a flag: the file is generated at every start."""
        comp = self.node.components[fix.component]
        if comp.settings != "rancher":
            return False
        source = comp.config_sources.get(tuple(fix.target.split(".")), (None, None))[0]
        if source and "content" in self.node.files.get(source, {}) and not any(source.startswith(g) for g in comp.generated):
            return False  # a drop-in of the user's own: change it where it is
        if not finding.rule.flag:
            raise EditError("%s is set in %s, which %s rewrites at every start, and has no flag; set it in a "
                            "kubelet drop-in of your own" % (fix.target, comp.config_path, comp.layout))
        return True

    def _flag_as_config(self, finding: Finding, fix: Fix) -> bool:
        """k3s/RKE2 kubelet: a value from the user's own drop-in is changed in that drop-in, not overridden."""
        comp = self.node.components[fix.component]
        if comp.settings != "rancher" or not finding.rule.config_key or (comp.disk_flags and comp.disk_flags.has(fix.target)):
            return False
        source = comp.config_sources.get(tuple(finding.rule.config_key.split(".")), (None, None))[0]
        return bool(source) and "content" in self.node.files.get(source, {}) and not any(
            source.startswith(g) for g in comp.generated)

    def _generated_mode(self, component: str, path: str) -> t.Optional[str]:
        """Where a mode or owner fix of a file the distribution regenerates lasts, or None."""
        comp = self.node.components.get(component)
        if comp is None or path not in comp.generated:
            return None
        if comp.layout == "rke2" and "/agent/pod-manifests/" in path:
            return ("rke2 writes %s at every start, so a chmod/chown would be undone at its next start. RKE2 releases "
                    "from October 2023 on (rancher/rke2#4473) write the pod manifests 0600: upgrade RKE2, then restart "
                    "rke2-server to have them rewritten" % path)
        if comp.layout == "eks":
            return ("nodeadm writes %s at every boot from the instance's NodeConfig, which sets the kubelet's settings, "
                    "not this file's mode: a chmod/chown lasts until the next boot. Make it last with a step that runs "
                    "after nodeadm at boot (e.g. a drop-in for nodeadm-run.service with ExecStartPost=/usr/bin/chmod 0600 "
                    "%s), or an AMI whose nodeadm writes it 0600" % (path, path))
        return ("%s is generated by %s at every start, so a chmod/chown would be undone at its next start: the mode is the "
                "distribution's; upgrade to a release that writes it 0600 or restricted enough" % (path, comp.layout))

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
            path = self._own_dropin(comp, path)
        edit = self.edit(path, comp.name, finding.rule.id)
        if edit.before is None and edit.after is None:
            edit.after = json.dumps({"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration"}, indent=2) + "\n"
            edit.mode = "0600"
        text = t.cast(str, edit.text)
        if text.lstrip().startswith("{"):
            edit.after = _json_set(text, keypath, fix.value, path)
        else:
            edit.after = _yaml_edit.set_value(text, keypath, fix.value, path)

    def _own_dropin(self, comp: Component, generated: str) -> str:
        """A drop-in of our own next to files the distribution regenerates (EKS AL2023's nodeadm)."""
        flags = comp.disk_flags or FlagSet(comp.name)
        config_dir = flags.value("config-dir")
        if comp.name != "kubelet" or not config_dir:
            raise EditError("%s is generated by %s at every boot; change its source (the node configuration) instead"
                            % (generated, comp.layout))
        return config_dir.rstrip("/") + "/" + KUBEFORT_DROPIN

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
        current, _name = _load_manifest(manifest.path, t.cast(str, manifest.text))
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
                    _load_manifest(path, edit.after)
                elif comp is not None and any(c.path == path for c in comp.configs):
                    data = json.loads(edit.after) if edit.after.lstrip().startswith("{") else _yaml_edit.load(edit.after, path)[0]
                    if not isinstance(data, dict):
                        raise EditError("%s would no longer be a KubeletConfiguration" % path)
                elif path.endswith(".yaml"):
                    _yaml_edit.load(edit.after, path)
            except (EditError, _yaml_edit.YAMLEditError) as exc:
                for rule_id in edit.rules:
                    self.errors[rule_id] = "validation failed, nothing written: %s" % exc
                del self.edits[path]
        self._validate_pairs()

    def _validate_pairs(self) -> None:
        """Refuse every API server edit when the flags it ends up with are a pair it refuses to start with."""
        problems = pair_problems(self)
        if not problems:
            return
        for path, edit in list(self.edits.items()):
            if edit.component != "kube-apiserver" or edit.after is None or edit.after == edit.before:
                continue
            for rule_id in edit.rules:
                self.errors[rule_id] = "validation failed, nothing written: %s" % "; ".join(problems)
            del self.edits[path]


def _manifest_flagset(name: str, manifest: t.Any) -> FlagSet:
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import (
        _manifest_flags,
    )
    return _manifest_flags(name, manifest)


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


def _token_pattern(flag: str) -> "re.Pattern[str]":
    value = r"(?:=[^\s\"']*)" if flag in BOOL_FLAGS else r"(?:=[^\s\"']*|\s+[^\s\"'-][^\s\"']*)"
    return re.compile(r"(?<![\w-])--%s%s?(?=[\s\"']|$)" % (re.escape(flag), value))


def replace_line_flag(text: str, line: int, flag: str, value: t.Optional[str]) -> str:
    """Set (or, with value None, remove) ``--flag`` on one line of a unit or environment file."""
    lines = text.splitlines(keepends=True)
    if line < 1 or line > len(lines):
        raise EditError("line %d is outside the file" % line)
    old = lines[line - 1]
    pattern = _token_pattern(flag)
    if not pattern.search(old):
        raise EditError("--%s is not on line %d as expected" % (flag, line))
    if value is None:
        new = re.sub(r"\s?" + pattern.pattern, "", old, count=1)
    else:
        new = pattern.sub(lambda _m: "--%s=%s" % (flag, value), old, count=1)
    lines[line - 1] = new
    return "".join(lines)


def extra_args_file(comp: Component) -> t.Tuple[str, str]:
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


def _config_value(finding: Finding, fix: Fix) -> t.Any:
    """A flag fix's value in the type of the config key (booleans and numbers stay typed)."""
    value = fix.value
    for typed in (finding.rule.fix, finding.rule.expected):
        if isinstance(typed, bool):
            return str(value).lower() == "true"
        if isinstance(typed, int) and str(value).lstrip("-").isdigit():
            return int(value)
    return value


def _from_env(comp: Component, flag: str) -> bool:
    """Whether the effective value of ``--flag`` comes from an ETCD_* variable."""
    found = comp.disk_flags.find(flag) if comp.disk_flags is not None else []
    return bool(found) and all(o.form == "env" for o in found)


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


def remove_args_line(text: str, line: int, flag: str) -> str:
    """Remove ``--flag[=value]`` from one line of a microk8s args file (the line too when nothing is left)."""
    new = replace_line_flag(text, line, flag, None)
    lines = new.splitlines(keepends=True)
    if not lines[line - 1].strip():
        del lines[line - 1]
    return "".join(lines)


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


def set_list_entries(text: str, key: str, replace: t.Mapping[t.Optional[int], str], remove: t.Iterable[t.Optional[int]],
                     append: t.Sequence[str], what: str) -> str:
    """Replace, remove and append entries of a top-level list (``kubelet-arg: [...]``) of a config.yaml.

    A block list is edited in place; a scalar or flow list is rewritten as a flow list; a missing key is
    added at the end of the file. The result must parse to exactly the intended change.
    """
    data, root = _yaml_edit.load(text, what) if text.strip() else (None, None)
    if data is not None and not isinstance(data, dict):
        raise EditError("%s is not a YAML mapping" % what)
    data = data or {}
    old = data.get(key)
    items = list(old) if isinstance(old, list) else ([] if old is None else [old])
    removed = set(remove)
    if isinstance(old, list):
        new_items = [str(replace.get(i, v)) for i, v in enumerate(items) if i not in removed]
    else:
        new_items = [] if None in removed else [str(replace.get(None, v)) for v in items]
    new_items += list(append)
    expected = copy.deepcopy(data)
    expected[key] = new_items
    node = next((v for k, v in root.value if k.value == key), None) if isinstance(root, yaml.MappingNode) else None
    if node is None:
        block = "%s:\n%s" % (key, "".join("- %s\n" % _yaml_edit.scalar_text(v) for v in new_items))
        new = text + ("" if not text or text.endswith("\n") else "\n") + block
    elif isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
        new = _edit_block_list(text, node, replace, removed, append)
    else:
        items_nodes = node.value if isinstance(node, yaml.SequenceNode) else [node]
        style = next((n.style for n in items_nodes if isinstance(n, yaml.ScalarNode)), None)
        flow = "[" + ", ".join(_styled(v, style) for v in new_items) + "]"
        new = text[:node.start_mark.index] + flow + text[node.end_mark.index:]
    return _yaml_edit._checked(new, expected, what)


def _styled(value: str, style: t.Optional[str]) -> str:
    """A YAML scalar in the quoting style of its neighbours (so an edit changes only the value)."""
    if style == '"':
        return json.dumps(value)
    if style == "'":
        return "'%s'" % value.replace("'", "''")
    return _yaml_edit.scalar_text(value)


def _edit_block_list(text: str, node: yaml.SequenceNode, replace: t.Mapping[t.Optional[int], str],
                     removed: t.Set[t.Optional[int]], append: t.Sequence[str]) -> str:
    edits: t.List[t.Tuple[int, int, str]] = []
    for index, value in replace.items():
        if index is None:
            continue
        item = node.value[index]
        edits.append((item.start_mark.index, item.end_mark.index, _styled(value, getattr(item, "style", None))))
    for index in removed:
        if index is None:
            continue
        item = node.value[index]
        start = text.rfind("\n", 0, item.start_mark.index) + 1
        end = text.find("\n", max(item.end_mark.index - 1, item.start_mark.index))
        edits.append((start, len(text) if end == -1 else end + 1, ""))
    if append:
        last = node.value[-1]
        line_start = text.rfind("\n", 0, last.start_mark.index) + 1
        prefix = text[line_start:last.start_mark.index]
        at = text.find("\n", max(last.end_mark.index - 1, last.start_mark.index))
        at = len(text) if at == -1 else at + 1
        lead = "" if at == 0 or text[at - 1] == "\n" else "\n"
        edits.append((at, at, lead + "".join("%s%s\n" % (prefix, _styled(v, getattr(last, "style", None))) for v in append)))
    for start, end, replacement in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        text = text[:start] + replacement + text[end:]
    return text
