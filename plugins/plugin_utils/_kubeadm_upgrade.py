# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.
"""Fixes that survive kubeadm: whether the next ``kubeadm upgrade`` would write a fix of this run back.

This module builds the node as it would be after such an upgrade (``_kubeadm_render``: what kubeadm writes)
— the same discovery snapshot with those files replaced, no running processes — and judges every rule on
it with the same evaluator. A result that passes now (or is fixed by this run) but fails on the upgraded
node is reported as reverted, with the smallest ``ClusterConfiguration`` / ``KubeletConfiguration`` change
that keeps it; that change is checked by rendering and judging again. ``_kubeadm_config`` reads and patches
the two ConfigMaps.
"""

from __future__ import annotations

import json
import os
import typing as t

import yaml

from ansible_collections.kubefort.hardening.plugins.plugin_utils import _catalog
from ansible_collections.kubefort.hardening.plugins.module_utils._check_specs import FileMode, FileOwner
from ansible_collections.kubefort.hardening.plugins.module_utils._nodefs import NodeFSError
from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Rule
from ansible_collections.kubefort.hardening.plugins.module_utils._systemd import unit_command
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _layouts
from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import KUBELET_UNIT, Node
from ansible_collections.kubefort.hardening.plugins.plugin_utils._discovery import build_node
from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Finding, Options, evaluate
from ansible_collections.kubefort.hardening.plugins.plugin_utils._kubeadm_render import (
    KUBELET_CONFIG_FILE,
    KUBELET_CONFIGMAP,
    KUBELET_KEY,
    KUBEADM_VOLUMES,
    MANIFEST_DIR,
    NAMESPACE,
    SECTIONS,
    ClusterConfiguration,
    KubeadmConfigError,
    upgraded_files,
)

# Flags a rule's fix may write or remove together with its own (one is given in place of the other).
RELATED_FLAGS: t.Tuple[t.FrozenSet[str], ...] = (
    frozenset({"authorization-mode", "authorization-config"}),
    frozenset({"anonymous-auth", "authentication-config"}),
)
OK_NOW = ("pass", "fixed", "would_fix")


# --- the node after an upgrade -----------------------------------------------------------------------


def _postfix_files(snapshot: t.Mapping[str, t.Any], planned: t.Mapping[str, t.Optional[str]]) -> t.Dict[str, t.Dict[str, t.Any]]:
    files = {p: dict(e) for p, e in (snapshot.get("files") or {}).items()}
    for path, text in planned.items():
        if text is not None:
            files[path] = dict(files.get(path) or {"type": "file", "mode": "0600"}, type="file", content=text)
    return files


class _SnapshotFS:
    """The node's files as discovery read them (and as this run's fixes change them), for the unit parser."""

    def __init__(self, snapshot: t.Mapping[str, t.Any], files: t.Mapping[str, t.Mapping[str, t.Any]]) -> None:
        self.files = files
        self.listings = snapshot.get("listings") or {}

    def exists(self, path: str) -> bool:
        entry = self.files.get(path)
        return (entry is not None and entry.get("type") not in ("missing", None)) or path in self.listings

    def listdir(self, path: str) -> t.List[str]:
        names = set(self.listings.get(path) or [])
        names.update(os.path.basename(p) for p, e in self.files.items() if os.path.dirname(p) == path and e.get("type") == "file")
        return sorted(names)

    def read_text(self, path: str) -> str:
        entry = self.files.get(path) or {}
        if "content" not in entry:
            raise NodeFSError("%s was not read" % path)
        return str(entry["content"])


def _disk_snapshot(snapshot: t.Mapping[str, t.Any], files: t.Dict[str, t.Dict[str, t.Any]]) -> t.Dict[str, t.Any]:
    """The snapshot as the files say, with no running process (what starts after a restart): the kubelet
    unit's command line is expanded again from the (changed) unit and environment files."""
    out = {k: v for k, v in snapshot.items() if k not in ("processes", "files", "ports")}
    out["files"] = files
    out["live"] = False
    units = dict(snapshot.get("units") or {})
    unit = units.get(KUBELET_UNIT)
    if unit and unit.get("unit"):
        touched = [unit.get("unit")] + list(unit.get("dropins") or []) + [e.get("path") for e in unit.get("env_files") or []]
        original = snapshot.get("files") or {}
        if any((files.get(p) or {}).get("content") != (original.get(p) or {}).get("content") for p in touched if p):
            units[KUBELET_UNIT] = dict(unit, **unit_command(t.cast(t.Any, _SnapshotFS(snapshot, files)), KUBELET_UNIT))
    out["units"] = units
    return out


# --- what to keep, and the verdicts ------------------------------------------------------------------


def _managed(rule: Rule, node: Node) -> t.Optional[str]:
    """Which kubeadm command rewrites the place this rule's setting is read from, or None."""
    if isinstance(rule.check, (FileMode, FileOwner)) or not (rule.flag or rule.config_key):
        return None
    comp = node.components.get(rule.component)
    if comp is None or not comp.present:
        return None
    if rule.component in SECTIONS and comp.manifest is not None and os.path.dirname(comp.manifest.path) == MANIFEST_DIR:
        return "kubeadm upgrade apply / kubeadm upgrade node"
    if rule.component == "kubelet" and rule.config_key and comp.config_path == KUBELET_CONFIG_FILE and not comp.flag_defaults:
        return "kubeadm upgrade node"
    return None


def _flag_keep(rule: Rule, finding: Finding, now: Node, after: Node) -> t.Dict[str, t.Optional[str]]:
    """The flags (name -> value, None to drop) that make the upgraded manifest give what the node has now."""
    names = {rule.flag} | {f.target for f in finding.fixes if f.kind in ("flag", "flag_mount")}
    for group in RELATED_FLAGS:
        if names & group:
            names |= group
    comp_now, comp_after = now.components[rule.component], after.components[rule.component]
    keep: t.Dict[str, t.Optional[str]] = {}
    for name in sorted(n for n in names if n):
        value_now = comp_now.disk_flags.value(name) if comp_now.disk_flags is not None and comp_now.disk_flags.has(name) else None
        value_after = comp_after.disk_flags.value(name) if comp_after.disk_flags is not None and comp_after.disk_flags.has(name) else None
        if value_now != value_after:
            keep[name] = None if value_now is None else str(value_now)
    return keep


def _volumes_for(comp_now: t.Any, values: t.Iterable[t.Optional[str]], cc: ClusterConfiguration, component: str) -> t.List[t.Dict[str, t.Any]]:
    """extraVolumes for the files these flag values name that the manifest mounts from volumes of its own."""
    manifest = comp_now.manifest
    if manifest is None or component == "etcd":
        return []
    spec = manifest.data.get("spec") or {}
    container = spec["containers"][manifest.container]
    volumes = {v.get("name"): v for v in spec.get("volumes") or [] if isinstance(v, dict)}
    existing = {v.get("mountPath") for v in cc.extra_volumes(component)}
    out: t.List[t.Dict[str, t.Any]] = []
    for value in values:
        if not value or not os.path.isabs(value):
            continue
        best = None
        for mount in container.get("volumeMounts") or []:
            path = str(mount.get("mountPath") or "").rstrip("/")
            if path and (value == path or value.startswith(path + "/")) and (best is None or len(path) > len(best["mountPath"].rstrip("/"))):
                best = mount
        if best is None or best.get("name") in KUBEADM_VOLUMES or best.get("mountPath") in existing:
            continue
        host = (volumes.get(best.get("name")) or {}).get("hostPath") or {}
        if not host.get("path"):
            continue
        volume = {"name": best["name"], "hostPath": host["path"], "mountPath": best["mountPath"],
                  "readOnly": bool(best.get("readOnly")), "pathType": host.get("type") or "DirectoryOrCreate"}
        if volume not in out:
            out.append(volume)
    return out


def _kubelet_keep(rule: Rule, now: Node) -> t.Dict[str, t.Any]:
    comp = now.components["kubelet"]
    found, value, _source = comp.config_value(str(rule.config_key))
    if not found:
        return {}
    return {str(rule.config_key): value}


def set_kubelet_keys(text: str, keys: t.Mapping[str, t.Any], where: str = "kube-system/kubelet-config") -> str:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise KubeadmConfigError("%s: the kubelet key is not valid YAML: %s" % (where, exc)) from None
    if not isinstance(data, dict) or data.get("kind") != "KubeletConfiguration":
        raise KubeadmConfigError("%s: the %s key holds no KubeletConfiguration" % (where, KUBELET_KEY))
    for dotted, value in keys.items():
        node = data
        parts = dotted.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = value
    return yaml.safe_dump(data, default_flow_style=False, sort_keys=True)


def apply_keep(cc_text: t.Optional[str], kubelet_text: t.Optional[str], keeps: t.Iterable[t.Mapping[str, t.Any]]) -> t.Tuple[t.Optional[str], t.Optional[str]]:
    """The two ConfigMap texts with these keeps applied (None where the text is None or unchanged input)."""
    cc = ClusterConfiguration(cc_text) if cc_text is not None else None
    kubelet_keys: t.Dict[str, t.Any] = {}
    for keep in keeps:
        if keep.get("component") == "kubelet":
            kubelet_keys.update(keep.get("kubelet") or {})
        elif cc is not None:
            if keep.get("args"):
                cc.set_args(keep["component"], keep["args"])
            if keep.get("volumes"):
                cc.add_volumes(keep["component"], keep["volumes"])
    new_cc = cc.dump() if cc is not None else None
    new_kubelet = set_kubelet_keys(kubelet_text, kubelet_keys) if kubelet_text is not None and kubelet_keys else kubelet_text
    return new_cc, new_kubelet


def fragment(api_version: str, keeps: t.Iterable[t.Mapping[str, t.Any]]) -> str:
    """The ClusterConfiguration (and KubeletConfiguration) documents with only what keeps the fixes, for
    users who keep their kubeadm configuration in git."""
    cc = ClusterConfiguration(yaml.safe_dump({"apiVersion": api_version, "kind": "ClusterConfiguration"}))
    kubelet: t.Dict[str, t.Any] = {}
    for keep in keeps:
        if keep.get("component") == "kubelet":
            kubelet.update(keep.get("kubelet") or {})
            continue
        if keep.get("args"):
            cc.set_args(keep["component"], {k: v for k, v in keep["args"].items() if v is not None})
        if keep.get("volumes"):
            cc.add_volumes(keep["component"], keep["volumes"])
    docs = []
    if len(cc.data) > 2:
        docs.append(cc.dump())
    if kubelet:
        docs.append(set_kubelet_keys(yaml.safe_dump({"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration"}), kubelet))
    return "---\n".join(docs)


def _describe(rule: Rule, finding_after: Finding, cc: t.Optional[ClusterConfiguration], keep: t.Mapping[str, t.Any]) -> str:
    after = finding_after.actual if finding_after.actual is not None else "unset"
    if rule.component == "kubelet":
        key = str(rule.config_key)
        return "kubeadm upgrade node would revert %s in %s (after the upgrade: %s): %s/%s %s" % (
            key, KUBELET_CONFIG_FILE, after, NAMESPACE, KUBELET_CONFIGMAP,
            "has no %s" % key if finding_after.actual is None else "gives %s" % after)
    field = cc.field(rule.component) if cc is not None else "?"
    given = dict(cc.extra_args(rule.component)) if cc is not None else {}
    args = keep.get("args") or {str(rule.flag): None}
    why = ["has no %s" % n if n not in given else "gives %s=%s" % (n, given[n]) for n in sorted(args)]
    return "kubeadm upgrade would revert %s (after the upgrade: %s): ClusterConfiguration %s.extraArgs %s" % (
        ", ".join("--%s" % n for n in sorted(args)), after, field, "; ".join(why))


def annotate(node: Node, snapshot: t.Mapping[str, t.Any], findings: t.Sequence[Finding], results: t.Sequence[t.Dict[str, t.Any]],
             rules: t.Sequence[Rule], options: Options, planned: t.Mapping[str, t.Optional[str]],
             state: t.Optional[t.Mapping[str, t.Any]]) -> None:
    """Add ``kubeadm`` to every result whose setting kubeadm manages on this node (in place).

    ``state`` is what ``kubeadm_config`` read (``kubefort_kubeadm_state``); ``planned`` the new text of
    every file this run writes (or would write in check mode).
    """
    if node.layout != _layouts.KUBEADM or not state or not state.get("source"):
        return
    managed = {f.rule.id: _managed(f.rule, node) for f in findings}
    if not any(managed.values()):
        return
    cc_text = (state.get("kubeadm_config") or {}).get("text")
    kubelet_text = (state.get("kubelet_config") or {}).get("text")
    errors = list(state.get("errors") or [])
    cc: t.Optional[ClusterConfiguration] = None
    if cc_text is not None:
        try:
            cc = ClusterConfiguration(cc_text)
        except KubeadmConfigError as exc:
            errors.append(str(exc))
    files_now = _postfix_files(snapshot, planned)
    now = build_node(_disk_snapshot(snapshot, files_now))
    after = build_node(_disk_snapshot(snapshot, upgraded_files(now, files_now, cc, kubelet_text)))
    judged = {f.rule.id: f for f in evaluate(after, [f.rule for f in findings if managed[f.rule.id]], options)}
    keeps: t.Dict[str, t.Dict[str, t.Any]] = {}
    for finding, result in zip(findings, results):
        rule = finding.rule
        by = managed.get(rule.id)
        if not by or result["status"] not in OK_NOW:
            continue
        unknown = (rule.component == "kubelet" and kubelet_text is None) or (rule.component != "kubelet" and cc is None)
        if unknown:
            result["kubeadm"] = {"by": by, "reverted": None, "detail": "not known: %s" % (
                "; ".join(errors) or "the ConfigMap was not read"), "keep": None}
            continue
        verdict = judged.get(rule.id)
        if verdict is None or verdict.status not in ("fail",):
            result["kubeadm"] = {"by": by, "reverted": False, "detail": "kept by the cluster's kubeadm configuration", "keep": None}
            continue
        if rule.component == "kubelet":
            keep: t.Dict[str, t.Any] = {"component": "kubelet", "kubelet": _kubelet_keep(rule, now)}
        else:
            args = _flag_keep(rule, finding, now, after)
            keep = {"component": rule.component, "args": args,
                    "volumes": _volumes_for(now.components[rule.component], args.values(), t.cast(ClusterConfiguration, cc), rule.component)}
        keeps[rule.id] = keep
        result["kubeadm"] = {"by": by, "reverted": True, "detail": _describe(rule, verdict, cc, keep), "keep": keep}
    if keeps:
        _check_keeps(node, snapshot, files_now, now, cc, kubelet_text, keeps, results, options)
    for result in results:
        info = result.get("kubeadm")
        if info and cc is not None:
            info["api_version"] = cc.api_version
        if info and info.get("reverted"):
            result["message"] = (result["message"] + "; " if result.get("message") else "") + info["detail"]


def _check_keeps(node: Node, snapshot: t.Mapping[str, t.Any], files_now: t.Dict[str, t.Dict[str, t.Any]], now: Node,
                 cc: t.Optional[ClusterConfiguration], kubelet_text: t.Optional[str], keeps: t.Mapping[str, t.Dict[str, t.Any]],
                 results: t.Sequence[t.Dict[str, t.Any]], options: Options) -> None:
    """Render and judge again with every keep applied: a keep that does not make its rule pass cannot be
    expressed in kubeadm's configuration (a default kubeadm always writes, a probe): it is dropped."""
    try:
        new_cc, new_kubelet = apply_keep(cc.text if cc is not None else None, kubelet_text, keeps.values())
        kept_cc = ClusterConfiguration(new_cc) if new_cc is not None else None
    except KubeadmConfigError:
        return
    after = build_node(_disk_snapshot(snapshot, upgraded_files(now, files_now, kept_cc, new_kubelet)))
    judged = {f.rule.id: f for f in evaluate(after, [_catalog.BY_ID[r] for r in keeps], options)}
    for result in results:
        info = result.get("kubeadm")
        if not info or not info.get("reverted") or result["id"] not in keeps:
            continue
        keep = keeps[result["id"]]
        if keep.get("component") == "kube-apiserver" and str((keep.get("args") or {}).get("anonymous-auth")).lower() == "false":
            # kubeadm renders anonymous httpGet probes: with --anonymous-auth=false from extraArgs they get 401
            # and the kubelet restarts the API server in a loop after the upgrade.
            info["keep"] = None
            info["detail"] += " (not kept in extraArgs: kubeadm writes its anonymous httpGet probes again, which " \
                "--anonymous-auth=false would make fail after the upgrade; keep the probes and the flag with a kubeadm " \
                "patch (--patches, target kube-apiserver) or apply kubefort again after every upgrade)"
        elif judged.get(result["id"]) is None or judged[result["id"]].status == "fail":
            info["keep"] = None
            info["detail"] += " (kubeadm's configuration cannot express this fix: keep it with a kubeadm patch " \
                "(--patches) or apply kubefort again after every upgrade)"


def count(results: t.Iterable[t.Mapping[str, t.Any]]) -> int:
    """Results a kubeadm upgrade would revert."""
    return sum(1 for r in results if (r.get("kubeadm") or {}).get("reverted"))


def keep_json(keep: t.Mapping[str, t.Any]) -> str:
    return json.dumps(keep, sort_keys=True)
