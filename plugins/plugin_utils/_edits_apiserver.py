# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Fixes in the API server's own configuration files and probes, and the flag pairs it refuses.

``plan_apiserver(planner, findings)`` runs inside ``Planner.plan``, before validation:

- ``authz_config``: the AuthorizationConfiguration ``--authorization-config`` names is edited (AlwaysAllow
  removed, Node/RBAC added, see _authz.wanted_chain); one edit per file for 1.2.6-1.2.8 together;
- ``authn_config``: the user's AuthenticationConfiguration gets ``anonymous.conditions`` limited to the
  health paths (``conditions``), or an ``anonymous`` section (``add_section``, Kubernetes >= 1.32) while
  ``--anonymous-auth`` is removed from the manifest in the same run;
- ``apiserver_probes_tcp``: the API server's liveness, readiness and startup probes become ``tcpSocket``
  probes on the same host and port and ``--anonymous-auth=false`` is set, in one manifest edit (opt-in:
  ``kubefort_apiserver_probes_tcp``).

``pair_problems`` is the invariant the validator enforces on every set of edits: no API server ends up
with ``--authorization-mode`` and ``--authorization-config``, or ``--anonymous-auth`` and an
AuthenticationConfiguration with an ``anonymous`` section; the API server refuses to start with either.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import typing as t

import yaml

from ansible_collections.kubefort.hardening.plugins.module_utils import _errors
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _authz, _yaml_edit
from ansible_collections.kubefort.hardening.plugins.plugin_utils._apiserver_files import host_path
from ansible_collections.kubefort.hardening.plugins.plugin_utils._authn import HEALTH_PATHS, anonymous_policy
from ansible_collections.kubefort.hardening.plugins.plugin_utils._manifests import load_manifest, manifest_flags
from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import FIX_KINDS, Finding, Fix

if t.TYPE_CHECKING:
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._edits import Planner

KINDS = tuple(kind for kind, module in FIX_KINDS.items() if module == "_edits_apiserver")
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")


class ApiserverEditError(_errors.EditError):
    """An API server fix cannot be written safely."""


def plan_apiserver(planner: "Planner", findings: t.Sequence[Finding]) -> None:
    authz: t.Dict[str, t.Tuple[t.Dict[str, bool], t.List[Finding]]] = {}
    for finding in findings:
        fix = finding.fix
        if finding.status != "fail" or fix is None or fix.kind not in KINDS:
            continue
        if fix.kind == "authz_config":
            wanted, group = authz.setdefault(fix.target, ({"always_allow": False, "node": False, "rbac": False}, []))
            for key in wanted:
                wanted[key] = wanted[key] or bool(fix.value.get(key))
            group.append(finding)
            continue
        try:
            if fix.kind == "authn_config":
                _authn_config(planner, finding, fix)
            else:
                _probes_tcp(planner, finding, fix)
        except (_errors.KubefortError, ValueError) as exc:
            planner.errors[finding.rule.id] = _errors.rule_error(exc)
    for path, (wanted, group) in authz.items():
        try:
            edit = planner.edit(path, group[0].rule.component, group[0].rule.id)
            edit.rules.extend(f.rule.id for f in group if f.rule.id not in edit.rules)
            config = _authz.load(path, t.cast(str, edit.text))
            edit.after = _authz.edited_text(config, wanted["always_allow"], wanted["node"], wanted["rbac"])
        except (_errors.KubefortError, ValueError) as exc:
            for finding in group:
                planner.errors[finding.rule.id] = _errors.rule_error(exc)
    _restart_annotation(planner, findings)


CONFIG_ANNOTATION = "kubefort.hardening/config-sha256"


def _restart_annotation(planner: "Planner", findings: t.Sequence[Finding]) -> None:
    """A static pod API server whose configuration file changed gets a manifest annotation with the files' hash.

    The kubelet restarts a static pod when its manifest changes, so the running API server loads the new
    file (as the restart handling and health checks expect), and a second run changes nothing.
    """
    comp = planner.node.components.get("kube-apiserver")
    if comp is None or comp.manifest is None or comp.settings != "manifest" or comp.manifest.path in comp.generated:
        return  # k3s/RKE2: the service restarts; their generated manifests are never edited
    changed = sorted((p, e) for p, e in planner.edits.items()
                     if e.component == comp.name and p != comp.manifest.path and e.after is not None and e.after != e.before
                     and any(f.fix is not None and f.fix.kind in ("authz_config", "authn_config") and f.rule.id in e.rules
                             for f in findings))
    if not changed:
        return
    digest = hashlib.sha256("".join("%s\0%s\0" % (p, e.after) for p, e in changed).encode("utf-8")).hexdigest()[:16]
    rules = [r for _p, e in changed for r in e.rules]
    edit = planner.edit(comp.manifest.path, comp.name, rules[0])
    edit.rules.extend(r for r in rules if r not in edit.rules)
    try:
        edit.after = _yaml_edit.set_value(t.cast(str, edit.text), ("metadata", "annotations", CONFIG_ANNOTATION), digest,
                                          comp.manifest.path)
    except _errors.EditError as exc:
        for rule_id in rules:
            planner.errors[rule_id] = _errors.rule_error(_errors.EditError(
                "%s; the API server would not restart to load the change" % exc))


# --- AuthenticationConfiguration ---------------------------------------------------------------------


def anonymous_block(indent: int) -> str:
    pad = " " * indent
    return "%sconditions:\n%s" % (pad, "".join("%s- path: %s\n" % (pad, p) for p in HEALTH_PATHS))


def limit_anonymous(text: str, path: str) -> str:
    """``anonymous.conditions`` set to the health paths (anonymous stays enabled), everything else kept."""
    if text.lstrip().startswith("{"):
        data = json.loads(text)
        data["anonymous"] = dict(data.get("anonymous") or {}, enabled=True, conditions=[{"path": p} for p in HEALTH_PATHS])
        return _json_text(text, data)
    data, root = _yaml_edit.load(text, path)
    anonymous = _yaml_edit._find(root, ("anonymous",))
    if not isinstance(anonymous, yaml.MappingNode) or anonymous.flow_style or not anonymous.value:
        raise ApiserverEditError("%s: anonymous is not a block mapping; set its conditions by hand" % path)
    expected = copy.deepcopy(data)
    expected["anonymous"]["conditions"] = [{"path": p} for p in HEALTH_PATHS]
    enabled = next((v for k, v in anonymous.value if k.value == "enabled"), None)
    if enabled is None or not expected["anonymous"].get("enabled"):
        raise ApiserverEditError("%s: anonymous.enabled is not true; conditions need it (set it by hand)" % path)
    indent = anonymous.value[0][0].start_mark.column
    existing = next(((k, v) for k, v in anonymous.value if k.value == "conditions"), None)
    if existing is not None:
        start = _yaml_edit._line_start(text, existing[0].start_mark.index)
        end = _yaml_edit._after(text, existing[1])
        new = text[:start] + anonymous_block(indent) + text[end:]
    else:
        at = _yaml_edit._after(text, anonymous.value[-1][1])
        lead = "" if at == 0 or text[at - 1] == "\n" else "\n"
        new = text[:at] + lead + anonymous_block(indent) + text[at:]
    return _yaml_edit._checked(new, expected, path)


def add_anonymous_section(text: str, path: str) -> str:
    """An ``anonymous`` section (enabled, health paths only) added to a file that has none."""
    section = {"enabled": True, "conditions": [{"path": p} for p in HEALTH_PATHS]}
    if text.lstrip().startswith("{"):
        data = json.loads(text)
        data["anonymous"] = section
        return _json_text(text, data)
    data, _root = _yaml_edit.load(text, path)
    if not isinstance(data, dict):
        raise ApiserverEditError("%s is not a YAML mapping" % path)
    expected = dict(data, anonymous=section)
    block = "anonymous:\n  enabled: true\n" + anonymous_block(2)
    new = text + ("" if not text or text.endswith("\n") else "\n") + block
    return _yaml_edit._checked(new, expected, path)


def _json_text(old: str, data: t.Any) -> str:
    match = re.search(r"\n( +)\"", old)
    return json.dumps(data, indent=len(match.group(1)) if match else 2) + ("\n" if old.endswith("\n") else "")


def _authn_config(planner: "Planner", finding: Finding, fix: Fix) -> None:
    comp = planner.node.components[fix.component]
    edit = planner.edit(fix.target, comp.name, finding.rule.id)
    text = t.cast(str, edit.text)
    if fix.value.get("mode") == "conditions":
        edit.after = limit_anonymous(text, fix.target)
        return
    edit.after = add_anonymous_section(text, fix.target)
    if comp.manifest is None or comp.settings != "manifest" or comp.manifest.path in comp.generated:
        raise ApiserverEditError("%s is not a static pod of its own here: remove --anonymous-auth by hand" % comp.name)
    planner._manifest_flags(comp, {"anonymous-auth": None}, [finding.rule.id])


# --- probes ------------------------------------------------------------------------------------------


def http_probes(manifest: t.Any) -> t.List[str]:
    """The API server container's probes that are anonymous HTTP(S) requests (httpGet)."""
    if manifest is None:
        return []
    containers = ((manifest.data or {}).get("spec") or {}).get("containers") or []
    container = containers[manifest.container] if manifest.container < len(containers) else {}
    return [p for p in PROBES if isinstance(container.get(p), dict) and isinstance(container[p].get("httpGet"), dict)]


def _probes_tcp(planner: "Planner", finding: Finding, fix: Fix) -> None:
    comp = planner.node.components[fix.component]
    manifest = comp.manifest
    if manifest is None or comp.settings != "manifest" or manifest.path in comp.generated:
        raise ApiserverEditError("%s is not a static pod of its own here: change its probes by hand" % comp.name)
    edit = planner.edit(manifest.path, comp.name, finding.rule.id)
    text = t.cast(str, edit.text)
    current, _name = load_manifest(manifest.path, text)
    for probe in http_probes(current):
        text = _probe_to_tcp(text, current.container, probe, manifest.path)
        current, _name = load_manifest(manifest.path, text)
    edit.after = text
    planner._manifest_flags(comp, {"anonymous-auth": "false"}, [finding.rule.id])


def _probe_to_tcp(text: str, container: int, probe: str, path: str) -> str:
    data, root = _yaml_edit.load(text, path)
    node = _yaml_edit._find(root, ("spec", "containers", container, probe))
    if not isinstance(node, yaml.MappingNode) or node.flow_style:
        raise ApiserverEditError("%s: %s is not a block mapping; change it by hand" % (path, probe))
    key, value = next((k, v) for k, v in node.value if k.value == "httpGet")
    http = data["spec"]["containers"][container][probe]["httpGet"]
    tcp: t.Dict[str, t.Any] = {"port": http.get("port")}
    if http.get("host"):
        tcp = {"host": http["host"], "port": http.get("port")}
    pad = " " * key.start_mark.column
    block = "%stcpSocket:\n%s" % (pad, "".join("%s  %s: %s\n" % (pad, k, _yaml_edit.scalar_text(v)) for k, v in tcp.items()))
    start = _yaml_edit._line_start(text, key.start_mark.index)
    if text[start:key.start_mark.index].strip():
        raise ApiserverEditError("%s: httpGet of %s does not start its own line; change it by hand" % (path, probe))
    new = text[:start] + block + text[_yaml_edit._after(text, value):]
    expected = copy.deepcopy(data)
    target = expected["spec"]["containers"][container][probe]
    del target["httpGet"]
    target["tcpSocket"] = tcp
    return _yaml_edit._checked(new, expected, path)


# --- the invariant -----------------------------------------------------------------------------------


def pair_problems(planner: "Planner") -> t.List[str]:
    """Why the API server would refuse the flags it ends up with after these edits ([] when it would not)."""
    comp = planner.node.components.get("kube-apiserver")
    if comp is None or not comp.present:
        return []
    changed = {p: e.after for p, e in planner.edits.items() if e.after is not None and e.after != e.before}
    if not changed:
        return []
    flags, after = _flags_after(planner, comp, changed)
    if flags is None:
        return []
    problems = []
    if flags.has("authorization-mode") and flags.has("authorization-config"):
        problems.append("the API server would have both --authorization-mode and --authorization-config, and refuses "
                        "to start with both")
    if flags.has("anonymous-auth") and flags.has("authentication-config"):
        ref = host_path(after, t.cast(str, flags.value("authentication-config")))
        if ref.host is not None:
            text = changed.get(ref.host)
            entry = {"content": text} if text is not None else planner.node.files.get(ref.host, {})
            if "content" in entry and anonymous_policy(entry, ref.host).configured:
                problems.append("the API server would have --anonymous-auth and an anonymous section in %s, and "
                                "refuses to start with both" % ref.host)
    return problems


def _flags_after(planner: "Planner", comp: t.Any, changed: t.Mapping[str, str]) -> t.Tuple[t.Any, t.Any]:
    snapshot = getattr(planner, "snapshot", None)
    if snapshot is not None:
        from ansible_collections.kubefort.hardening.plugins.plugin_utils._discovery import build_node

        files = dict(snapshot.get("files", {}))
        for path, text in changed.items():
            files[path] = dict(files.get(path) or {"type": "file"}, content=text, type="file")
        rebuilt = build_node(dict(snapshot, files=files)).components.get("kube-apiserver")
        if rebuilt is not None and rebuilt.disk_flags is not None:
            return rebuilt.disk_flags, rebuilt
    if comp.manifest is not None:
        text = changed.get(comp.manifest.path, comp.manifest.text)
        manifest, _name = load_manifest(comp.manifest.path, text)
        copy_comp = copy.copy(comp)
        copy_comp.manifest = manifest
        return manifest_flags(comp.name, manifest), copy_comp
    return comp.disk_flags, comp
