# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Effective settings of each Kubernetes component on a node, from a node_facts snapshot.

Precedence, as the components apply it:
- the running process's command line, when the node is live and the component runs;
- else the file it would start from: the static pod manifest, or the kubelet's systemd unit with its
  drop-ins and environment files;
- for the kubelet, flags override the config file that ``--config`` names, which is merged with the
  ``--config-dir`` drop-ins (``*.conf``, in name order, later files winning);
- else the component's documented default for its mode (a kubelet without a config file keeps the
  old flag defaults: anonymous auth on, AlwaysAllow, read-only port 10255).
"""

from __future__ import annotations

import json
import os
import re
import typing as t
from dataclasses import dataclass, field

import yaml
from ansible_collections.kubefort.hardening.plugins.module_utils._flags import (
    FlagSet,
    parse_args,
)
from ansible_collections.kubefort.hardening.plugins.plugin_utils._yaml_edit import (
    YAMLEditError,
    load,
)

STATIC_POD_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd")
PROCESS_NAMES = STATIC_POD_COMPONENTS + ("kubelet", "kube-proxy")
DEFAULT_STATIC_POD_PATH = "/etc/kubernetes/manifests"
KUBELET_UNIT = "kubelet.service"

# Round one of discovery: the places kubeadm-style nodes keep their settings.
FIRST_REQUEST: t.Dict[str, t.List[str]] = {
    "read": [
        DEFAULT_STATIC_POD_PATH + "/*.yaml",
        DEFAULT_STATIC_POD_PATH + "/*.yml",
        DEFAULT_STATIC_POD_PATH + "/*.json",
        "/var/lib/kubelet/config.yaml",
        "/var/lib/kubelet/kubeadm-flags.env",
        "/etc/default/kubelet",
        "/etc/sysconfig/kubelet",
    ],
    "stat": ["/etc/kubernetes/**", "/var/lib/kubelet/config.yaml"],
    "list": [DEFAULT_STATIC_POD_PATH],
    "units": [KUBELET_UNIT],
    "processes": list(PROCESS_NAMES),
}


@dataclass
class ConfigFile:
    path: str
    text: str
    data: t.Any
    root: t.Optional[yaml.Node]
    fmt: str  # "yaml" or "json"


@dataclass
class Manifest:
    path: str
    text: str
    data: t.Any
    root: t.Optional[yaml.Node]
    container: int
    key: str  # "command" or "args"
    words: t.List[str]
    offset: int  # index in ``words`` of the first flag (1 for command, 0 for args)


@dataclass
class Component:
    name: str
    present: bool = False
    kind: str = "static_pod"  # "static_pod" or "systemd"
    version: t.Optional[str] = None
    disk_flags: t.Optional[FlagSet] = None
    running_flags: t.Optional[FlagSet] = None
    process: t.Optional[t.Dict[str, t.Any]] = None
    manifest: t.Optional[Manifest] = None
    unit: t.Optional[t.Dict[str, t.Any]] = None
    config_path: t.Optional[str] = None
    configs: t.List[ConfigFile] = field(default_factory=list)
    config: t.Dict[str, t.Any] = field(default_factory=dict)
    config_sources: t.Dict[t.Tuple[str, ...], t.Tuple[str, t.Optional[int]]] = field(default_factory=dict)
    errors: t.List[str] = field(default_factory=list)

    @property
    def mode(self) -> str:
        """``config`` when the component reads a config file, ``flags`` when it runs on flags only."""
        return "config" if self.config_path else "flags"

    def config_value(self, dotted: str) -> t.Tuple[bool, t.Any, t.Optional[str]]:
        node: t.Any = self.config
        parts = tuple(dotted.split("."))
        for part in parts:
            if not isinstance(node, dict) or part not in node:
                return False, None, None
            node = node[part]
        path, line = self.config_sources.get(parts, (self.config_path, None))
        return True, node, "%s:%s" % (path, line) if line else str(path)


@dataclass
class Node:
    root: str
    live: bool
    layout: str
    components: t.Dict[str, Component]
    files: t.Dict[str, t.Dict[str, t.Any]]
    static_pod_path: str
    errors: t.List[str] = field(default_factory=list)

    def file(self, path: str) -> t.Dict[str, t.Any]:
        return self.files.get(path, {"type": "unknown"})


def merge_snapshots(first: t.Dict[str, t.Any], more: t.Dict[str, t.Any]) -> t.Dict[str, t.Any]:
    merged = dict(first)
    for key in ("files", "listings", "units", "processes"):
        merged[key] = dict(first.get(key, {}))
        merged[key].update(more.get(key, {}))
    return merged


def follow_up_request(snapshot: t.Dict[str, t.Any], extra_stat: t.Iterable[str] = ()) -> t.Dict[str, t.List[str]]:
    """Paths the first snapshot points to but does not hold (a second, rarely needed round trip)."""
    files = snapshot.get("files", {})
    read: t.List[str] = []
    listdirs: t.List[str] = []
    flags = _kubelet_flags(snapshot)
    if flags is not None:
        config = flags.value("config")
        if config and "content" not in files.get(config, {}) and config not in read:
            read.append(config)
        config_dir = flags.value("config-dir")
        if config_dir and config_dir not in snapshot.get("listings", {}):
            listdirs.append(config_dir)
            read.append(config_dir.rstrip("/") + "/*.conf")
        pod_path = flags.value("pod-manifest-path") or _static_pod_path_hint(files.get(config or "", {}))
        if pod_path and pod_path != DEFAULT_STATIC_POD_PATH and pod_path not in snapshot.get("listings", {}):
            listdirs.append(pod_path)
            read.extend([pod_path.rstrip("/") + "/*.yaml", pod_path.rstrip("/") + "/*.yml", pod_path.rstrip("/") + "/*.json"])
    stat = [p for p in extra_stat if p not in files]
    return {"read": read, "list": listdirs, "stat": stat} if (read or listdirs or stat) else {}


def _static_pod_path_hint(entry: t.Dict[str, t.Any]) -> t.Optional[str]:
    match = re.search(r"^staticPodPath:\s*[\"']?([^\"'\s#]+)", entry.get("content", ""), re.MULTILINE)
    return match.group(1) if match else None


def _kubelet_flags(snapshot: t.Dict[str, t.Any]) -> t.Optional[FlagSet]:
    running = snapshot.get("processes", {}).get("kubelet")
    if running:
        return parse_args("kubelet", running[0]["argv"][1:])
    unit = snapshot.get("units", {}).get(KUBELET_UNIT)
    if unit and unit.get("argv"):
        return parse_args("kubelet", unit["argv"][1:], unit["argv_sources"][1:])
    return None


def build_node(snapshot: t.Dict[str, t.Any]) -> Node:
    files = snapshot.get("files", {})
    kubelet = _build_kubelet(snapshot)
    found = kubelet.config.get("staticPodPath") if kubelet.config else None
    pod_path = (kubelet.disk_flags.value("pod-manifest-path") if kubelet.disk_flags else None) or found or DEFAULT_STATIC_POD_PATH
    components: t.Dict[str, Component] = {"kubelet": kubelet}
    errors: t.List[str] = []
    for name in STATIC_POD_COMPONENTS:
        components[name] = Component(name=name)
    for path in sorted(files):
        if os.path.dirname(path) != pod_path.rstrip("/") or os.path.basename(path).startswith("."):
            continue
        if not path.endswith((".yaml", ".yml", ".json")) or "content" not in files[path]:
            if files[path].get("error"):
                errors.append(files[path]["error"])
            continue
        try:
            manifest, name = _load_manifest(path, files[path]["content"])
        except YAMLEditError as exc:
            errors.append(str(exc))
            continue
        if name in components and not components[name].present:
            comp = components[name]
            comp.present = True
            comp.manifest = manifest
            comp.disk_flags = _manifest_flags(name, manifest)
            comp.version = _image_version(manifest.data, manifest.container)
    for name, comp in components.items():
        procs = snapshot.get("processes", {}).get(name) or []
        if procs:
            proc = procs[0]
            comp.present = True
            comp.process = proc
            comp.running_flags = parse_args(name, proc["argv"][1:], [{"path": "/proc/%d/cmdline" % proc["pid"]}] * (len(proc["argv"]) - 1))
    version = next((c.version for c in components.values() if c.version), None)
    for comp in components.values():
        comp.version = comp.version or version
    layout = detect_layout(snapshot, components)
    return Node(
        root=snapshot.get("root", "/"), live=bool(snapshot.get("live")), layout=layout,
        components=components, files=files, static_pod_path=pod_path, errors=errors,
    )


def detect_layout(snapshot: t.Dict[str, t.Any], components: t.Dict[str, Component]) -> str:
    files = snapshot.get("files", {})
    unit = snapshot.get("units", {}).get(KUBELET_UNIT) or {}
    if any(p.endswith("10-kubeadm.conf") for p in unit.get("dropins", [])) or "/var/lib/kubelet/kubeadm-flags.env" in files:
        return "kubeadm"
    if any(c.present for c in components.values()):
        return "generic"
    return "none"


def _load_manifest(path: str, text: str) -> t.Tuple[Manifest, str]:
    if path.endswith(".json"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise YAMLEditError("%s is not valid JSON: %s" % (path, exc))
        root = None
    else:
        data, root = load(text, path)
    if not isinstance(data, dict) or data.get("kind") != "Pod":
        raise YAMLEditError("%s is not a Pod manifest (kind: %r)" % (path, data.get("kind") if isinstance(data, dict) else None))
    containers = (data.get("spec") or {}).get("containers") or []
    for index, container in enumerate(containers):
        command = container.get("command") or []
        args = container.get("args") or []
        program = os.path.basename(str(command[0])) if command else ""
        if program in STATIC_POD_COMPONENTS:
            key, words, offset = ("command", [str(w) for w in command], 1)
            if args:
                # The container runs command + args; flags in args come after those in command.
                words = words + [str(a) for a in args]
            return Manifest(path, text, data, root, index, key, words, offset), program
    name = (data.get("metadata") or {}).get("name", "")
    raise YAMLEditError("%s runs no known control-plane program (pod %s)" % (path, name))


def _manifest_flags(name: str, manifest: Manifest) -> FlagSet:
    line_nodes = []
    if manifest.root is not None:
        from ansible_collections.kubefort.hardening.plugins.plugin_utils._yaml_edit import (
            sequence_items,
        )
        line_nodes = sequence_items(manifest.root, ("spec", "containers", manifest.container, manifest.key))
    sources = []
    for index in range(manifest.offset, len(manifest.words)):
        line = line_nodes[index].start_mark.line + 1 if index < len(line_nodes) else None
        sources.append({"path": manifest.path, "line": line, "index": index})
    return parse_args(name, manifest.words[manifest.offset:], sources)


def _image_version(data: t.Dict[str, t.Any], index: int) -> t.Optional[str]:
    image = str(((data.get("spec") or {}).get("containers") or [{}])[index].get("image", ""))
    match = re.search(r":v?(\d+\.\d+(?:\.\d+)?)", image.rsplit("/", 1)[-1])
    return match.group(1) if match else None


def _build_kubelet(snapshot: t.Dict[str, t.Any]) -> Component:
    comp = Component(name="kubelet", kind="systemd")
    files = snapshot.get("files", {})
    unit = snapshot.get("units", {}).get(KUBELET_UNIT)
    if unit and unit.get("unit"):
        comp.present = True
        comp.unit = unit
        comp.errors.extend(unit.get("errors", []))
        if unit.get("argv"):
            comp.disk_flags = parse_args("kubelet", unit["argv"][1:], unit["argv_sources"][1:])
    flags = comp.disk_flags
    procs = snapshot.get("processes", {}).get("kubelet")
    if procs:
        flags = parse_args("kubelet", procs[0]["argv"][1:])
    if flags is None:
        return comp
    comp.config_path = flags.value("config")
    if comp.config_path:
        _load_kubelet_config(comp, files, flags.value("config-dir"))
    return comp


def _load_kubelet_config(comp: Component, files: t.Dict[str, t.Dict[str, t.Any]], config_dir: t.Optional[str]) -> None:
    paths = [t.cast(str, comp.config_path)]
    if config_dir:
        prefix = config_dir.rstrip("/") + "/"
        paths += sorted(p for p in files if p.startswith(prefix) and p.endswith(".conf") and "/" not in p[len(prefix):])
    for index, path in enumerate(paths):
        entry = files.get(path, {})
        if "content" not in entry:
            if index == 0:
                comp.errors.append(
                    "the kubelet's config file %s %s" % (path, "cannot be read: " + entry["error"] if entry.get("error") else "does not exist")
                )
            continue
        text = entry["content"]
        try:
            if text.lstrip().startswith("{"):
                data, root, fmt = json.loads(text), None, "json"
            else:
                data, root = load(text, path)
                fmt = "yaml"
        except (YAMLEditError, ValueError) as exc:
            comp.errors.append("the kubelet's config file %s cannot be parsed: %s" % (path, exc))
            continue
        if data is None:
            data = {}
        if not isinstance(data, dict):
            comp.errors.append("the kubelet's config file %s is not a mapping" % path)
            continue
        if data.get("kind", "KubeletConfiguration") != "KubeletConfiguration":
            comp.errors.append("%s is kind %s, not KubeletConfiguration" % (path, data.get("kind")))
            continue
        comp.configs.append(ConfigFile(path, text, data, root, fmt))
        _merge(comp.config, data, (), comp.config_sources, path, root)


def _merge(target: t.Dict[str, t.Any], data: t.Dict[str, t.Any], prefix: t.Tuple[str, ...],
           sources: t.Dict[t.Tuple[str, ...], t.Tuple[str, t.Optional[int]]], path: str, root: t.Optional[yaml.Node]) -> None:
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._yaml_edit import (
        line_of,
    )
    for key, value in data.items():
        keypath = prefix + (key,)
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value, keypath, sources, path, root)
            continue
        target[key] = json.loads(json.dumps(value)) if isinstance(value, (dict, list)) else value
        for sub in _leaf_paths(value, keypath):
            sources[sub] = (path, line_of(root, sub) if root is not None else None)


def _leaf_paths(value: t.Any, prefix: t.Tuple[str, ...]) -> t.List[t.Tuple[str, ...]]:
    if isinstance(value, dict) and value:
        out = [prefix]
        for key, sub in value.items():
            out.extend(_leaf_paths(sub, prefix + (key,)))
        return out
    return [prefix]
