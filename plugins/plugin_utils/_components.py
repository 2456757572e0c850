# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Effective settings of each Kubernetes component on a node, from a node_facts snapshot.

Precedence, as the components apply it:
- the running process's command line, when the node is live and the component runs;
- else the file it would start from: the static pod manifest, the systemd unit with its drop-ins and
  environment files, the k3s/RKE2 ``config.yaml`` (+ ``config.yaml.d``) ``<component>-arg`` entries
  applied after the distribution's own defaults, or the microk8s ``args/<component>`` file;
- for the kubelet, flags override the config file that ``--config`` names, which is merged with the
  ``--config-dir`` drop-ins (every ``*.conf`` below the directory, subdirectories and dot-files too, in
  the order Go's ``filepath.WalkDir`` visits them) the way the kubelet's version merges them (see
  ``KUBELET_MERGE``); a kubelet started with ``--config-dir`` only keeps its flag defaults for what the
  merge does not set;
- for etcd, ``ETCD_*`` environment variables count where no flag sets the same option (etcd refuses to
  start when both do);
- kube-proxy ignores its other flags when ``--config`` names a file;
- else the component's documented default for its mode (a kubelet without a config file keeps the
  old flag defaults: anonymous auth on, AlwaysAllow, read-only port 10255).

See ``_layouts.py`` for where each distribution keeps these files.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import typing as t
from dataclasses import dataclass, field

import yaml
from ansible_collections.kubefort.hardening.plugins.module_utils import (
    _component_flags,
    _rules_control_plane,
    _rules_node,
)
from ansible_collections.kubefort.hardening.plugins.module_utils._flags import (
    FlagOccurrence,
    FlagSet,
    parse_args,
)
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _dist_rancher, _layouts, _versions
from ansible_collections.kubefort.hardening.plugins.plugin_utils._yaml_edit import (
    YAMLEditError,
    line_of,
    load,
)

STATIC_POD_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd")
PROCESS_NAMES = STATIC_POD_COMPONENTS + ("kubelet", "kube-proxy")
# Programs a static pod manifest may run (RKE2 and old kubespray run kube-proxy as a static pod).
MANIFEST_PROGRAMS = STATIC_POD_COMPONENTS + ("kube-proxy",)
ALL_COMPONENTS = STATIC_POD_COMPONENTS + ("kubelet", "kube-proxy")
DEFAULT_STATIC_POD_PATH = "/etc/kubernetes/manifests"
KUBELET_UNIT = "kubelet.service"
KUBE_PROXY_UNIT = "kube-proxy.service"
ETCD_UNIT = "etcd.service"
# kube-proxy flags that still apply when --config names a file.
KUBE_PROXY_CONFIG_FLAGS = ("config", "hostname-override", "v")

# Round one of discovery: every layout's places (see _layouts.LAYOUTS).
FIRST_REQUEST: t.Dict[str, t.List[str]] = _layouts.first_request()
# The configuration files kubefort itself writes for the API server (never the encryption config, which
# holds keys) are read in round one, so a hardened node needs no second round.
FIRST_REQUEST["read"].extend(["/etc/kubernetes/kubefort/authentication-config.yaml", "/etc/kubernetes/kubefort/admission-config.yaml",
                              "/etc/kubernetes/kubefort/audit-policy.yaml"])
# Encryption configs are summarised on the node (they hold keys): kubefort's own and the ones k3s and RKE2
# generate (secrets-encryption) in round one too.
FIRST_REQUEST["encryption"] = ["/etc/kubernetes/kubefort/encryption-config.yaml",
                               "/var/lib/rancher/k3s/server/cred/encryption-config.json",
                               "/var/lib/rancher/rke2/server/cred/encryption-config.json"]
# Where the node names its Kubernetes version (package database, binaries, distribution files): round one.
FIRST_REQUEST["read"].extend(p for p in _versions.READ if p not in FIRST_REQUEST["read"])
FIRST_REQUEST["list"].extend(p for p in _versions.LISTDIRS if p not in FIRST_REQUEST["list"])
FIRST_REQUEST["versions"] = dict(_versions.REQUEST)
# The places file rules look at (etcd data dir, CNI files …) are stat'ed in round one too.
FIRST_REQUEST["stat"].extend(p for p in _rules_control_plane.STAT_PATHS + _rules_node.STAT_PATHS if p not in FIRST_REQUEST["stat"])

Source = t.Dict[str, t.Any]


@dataclass
class ConfigFile:
    path: str
    text: str
    data: t.Any
    root: t.Optional[yaml.Node]
    fmt: str  # "yaml" or "json"
    generated: bool = False  # written by the distribution at every start: never edited


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
class ArgItem:
    """One ``<component>-arg`` entry of a k3s/RKE2 config file or of the service's command line."""

    key: str  # the key as written: "kubelet-arg" or "kubelet-arg+"
    value: str  # "read-only-port=0"
    path: str
    line: t.Optional[int]
    index: t.Optional[int]  # position in the YAML list, None for a scalar value or a command-line word
    origin: str = "config"  # "config" or "command-line"

    @property
    def flag(self) -> str:
        return self.value.lstrip("-").split("=", 1)[0].rstrip("+-")


@dataclass
class Component:
    name: str
    present: bool = False
    kind: str = "static_pod"  # "static_pod", "systemd" or "embedded" (inside the k3s/rke2/kubelite process)
    version: t.Optional[str] = None
    # Where the version comes from ("image ... in <manifest>", "dpkg package kubelet ...", "host version ...").
    version_source: t.Optional[str] = None
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
    # Where remediation writes this component's flags: "manifest", "unit", "rancher" or "args_file".
    settings: str = "manifest"
    layout: str = "generic"
    # True when absent config keys take the flag defaults (a kubelet started with --config-dir only).
    flag_defaults: bool = False
    # kubelet 1.28: keys whose value is a KubeletConfiguration default the kubelet applied to a drop-in.
    config_defaulted: t.Dict[t.Tuple[str, ...], str] = field(default_factory=dict)
    # Keys the drop-in merges of different kubelet versions disagree on (the version being unknown).
    config_ambiguous: t.Dict[t.Tuple[str, ...], str] = field(default_factory=dict)
    # How --config-dir drop-ins were merged: "defaults-non-zero" (1.28), "merge-patch" (1.29+), or None.
    merge_model: t.Optional[str] = None
    # Set when the component will not start from its files (an unknown flag …): every rule is an error.
    fatal: t.Optional[str] = None
    # Said in every result of the component (flags that could not be checked for its version …).
    notes: t.List[str] = field(default_factory=list)
    # ETCD_* variables the component reads: name -> {value, path, line, flag}.
    env: t.Dict[str, t.Dict[str, t.Any]] = field(default_factory=dict)
    # k3s/RKE2: the <component>-arg entries, in the order the distribution applies them.
    arg_items: t.List[ArgItem] = field(default_factory=list)
    # microk8s: the args file.
    args_file: t.Optional[str] = None
    # Files the distribution regenerates at every start: reported, never edited.
    generated: t.List[str] = field(default_factory=list)
    # Flags given but ignored (kube-proxy with --config).
    ignored_flags: t.List[str] = field(default_factory=list)
    # Set when the settings live in the cluster (a DaemonSet's ConfigMap), not on this node.
    cluster_side: t.Optional[str] = None
    # systemd service to restart after a change (None: static pod or kubelet).
    service: t.Optional[str] = None

    @property
    def mode(self) -> str:
        """``config`` when the component reads a config file, ``flags`` when it runs on flags only."""
        return "config" if self.config_path and not self.flag_defaults else "flags"

    def config_value(self, dotted: str) -> t.Tuple[bool, t.Any, t.Optional[str]]:
        node: t.Any = self.config
        parts = tuple(dotted.split("."))
        for part in parts:
            if not isinstance(node, dict) or part not in node:
                return False, None, None
            node = node[part]
        path, line = self.config_sources.get(parts, (self.config_path, None))
        if parts in self.config_defaulted:
            return True, node, "%s (the KubeletConfiguration default kubelet 1.28 gives every drop-in)" % path
        return True, node, "%s:%s" % (path, line) if line else str(path)

    def env_value(self, flag: str) -> t.Optional[t.Dict[str, t.Any]]:
        """The ``ETCD_*`` variable that sets ``--flag`` (value, path, line, var), if any."""
        return next((dict(e, var=k) for k, e in self.env.items() if e.get("flag") == flag), None)


@dataclass
class Node:
    root: str
    live: bool
    layout: str
    components: t.Dict[str, Component]
    files: t.Dict[str, t.Dict[str, t.Any]]
    static_pod_path: str
    errors: t.List[str] = field(default_factory=list)
    # The host's Kubernetes version (the API server's, else the kubelet's) and where it comes from.
    kubernetes_version: t.Optional[str] = None
    version_source: str = ""
    # Running processes by program (live nodes): pid, argv, start time.
    processes: t.Dict[str, t.List[t.Dict[str, t.Any]]] = field(default_factory=dict)

    def file(self, path: str) -> t.Dict[str, t.Any]:
        return self.files.get(path, {"type": "unknown"})


def merge_snapshots(first: t.Dict[str, t.Any], more: t.Dict[str, t.Any]) -> t.Dict[str, t.Any]:
    merged = dict(first)
    for key in ("files", "patterns", "listings", "units", "processes"):
        merged[key] = dict(first.get(key, {}))
        merged[key].update(more.get(key, {}))
    return merged


def follow_up_request(snapshot: t.Dict[str, t.Any], extra_stat: t.Iterable[str] = ()) -> t.Dict[str, t.List[str]]:
    """Paths the first snapshot points to but does not hold (a second, rarely needed round trip)."""
    files = snapshot.get("files", {})
    listings = snapshot.get("listings", {})
    read: t.List[str] = []
    listdirs: t.List[str] = []

    def want(path: t.Optional[str]) -> None:
        if path and "content" not in files.get(path, {}) and files.get(path, {}).get("type") != "missing" and path not in read:
            read.append(path)

    node = build_node(snapshot)
    for comp in node.components.values():
        for flags in (comp.disk_flags, comp.running_flags):
            if flags is None:
                continue
            if comp.name in ("kubelet", "kube-proxy"):
                want(flags.value("config"))
            if comp.name == "kubelet":
                config_dir = flags.value("config-dir")
                if config_dir and config_dir not in listings and config_dir not in listdirs:
                    listdirs.append(config_dir)
                    read.append(config_dir.rstrip("/") + "/**")
    kubelet = node.components["kubelet"]
    pod_path = kubelet.disk_flags.value("pod-manifest-path") if kubelet.disk_flags else None
    pod_path = pod_path or (kubelet.config.get("staticPodPath") if kubelet.config else None)
    if pod_path and pod_path.rstrip("/") != DEFAULT_STATIC_POD_PATH and pod_path not in listings and node.layout not in _layouts.RANCHER:
        listdirs.append(pod_path)
        read.extend([pod_path.rstrip("/") + "/*.yaml", pod_path.rstrip("/") + "/*.yml", pod_path.rstrip("/") + "/*.json"])
    stat = [p for p in extra_stat if p not in files]
    return {"read": read, "list": listdirs, "stat": stat} if (read or listdirs or stat) else {}


def build_node(snapshot: t.Dict[str, t.Any]) -> Node:
    files = snapshot.get("files", {})
    layout = detect_layout(snapshot)
    errors: t.List[str] = []
    if layout in _layouts.RANCHER:
        components, pod_path = _build_rancher(snapshot, _dist_rancher.RANCHER_DISTS[layout], errors)
    elif layout == _layouts.MICROK8S:
        components, pod_path = _build_microk8s(snapshot, errors), ""
    else:
        components, pod_path = _build_kubeadm_style(snapshot, layout, errors)
    version, version_source = _assign_versions(snapshot, layout, components)
    for comp in components.values():
        comp.layout = layout
    if components.get("kubelet") is not None and components["kubelet"].present:
        apply_kubelet_merge(components["kubelet"])
    for comp in components.values():
        if comp.present:
            check_flags(comp)
    if layout == "none" and any(c.present for c in components.values()):
        layout = "generic"
        for comp in components.values():
            comp.layout = layout
    return Node(
        root=snapshot.get("root", "/"), live=bool(snapshot.get("live")), layout=layout,
        components=components, files=files, static_pod_path=pod_path, errors=errors,
        kubernetes_version=version, version_source=version_source,
        processes=snapshot.get("processes", {}) if snapshot.get("live") else {},
    )


def _assign_versions(snapshot: t.Dict[str, t.Any], layout: str,
                     components: t.Dict[str, Component]) -> t.Tuple[t.Optional[str], str]:
    """Each component's version and source (see _versions); the host's version and source."""
    kubelet, source = _versions.kubelet_version(layout, snapshot)
    embedded = layout in (_layouts.K3S, _layouts.MICROK8S)
    for name, comp in components.items():
        if comp.version or not kubelet:
            continue
        if name == "kubelet" or (embedded and comp.kind == "embedded"):
            comp.version, comp.version_source = kubelet, source
    version, host_source = _versions.host_version(components)
    if not version:
        return None, _versions.unknown_reason(snapshot)
    for comp in components.values():
        if not comp.version:
            comp.version, comp.version_source = version, "host version (%s)" % host_source
    return version, host_source


def detect_layout(snapshot: t.Dict[str, t.Any], components: t.Optional[t.Dict[str, Component]] = None) -> str:
    """The distribution layout of the node (``kubeadm``, ``kubespray``, ``k3s`` ... ``generic``, ``none``)."""
    files = snapshot.get("files", {})
    units = snapshot.get("units", {})
    found = _layouts.detect(files, units, snapshot.get("processes", {}))
    if found:
        return found
    unit = units.get(KUBELET_UNIT) or {}
    if any(p.endswith("10-kubeadm.conf") for p in unit.get("dropins", [])):
        return _layouts.KUBEADM
    if components is not None and any(c.present for c in components.values()):
        return "generic"
    return "none"


# --- kubeadm, kubespray, EKS and generic nodes ------------------------------------------------------


def _build_kubeadm_style(snapshot: t.Dict[str, t.Any], layout: str, errors: t.List[str]) -> t.Tuple[t.Dict[str, Component], str]:
    files = snapshot.get("files", {})
    kubelet = _build_kubelet(snapshot)
    found = kubelet.config.get("staticPodPath") if kubelet.config else None
    pod_path = (kubelet.disk_flags.value("pod-manifest-path") if kubelet.disk_flags else None) or found or DEFAULT_STATIC_POD_PATH
    components: t.Dict[str, Component] = {"kubelet": kubelet}
    for name in STATIC_POD_COMPONENTS:
        components[name] = Component(name=name)
    _load_static_pods(components, files, pod_path, errors, set(STATIC_POD_COMPONENTS))
    etcd = components["etcd"]
    if not etcd.present:
        _etcd_from_unit(etcd, snapshot, errors)
    _attach_processes(components, snapshot, skip=())
    _apply_etcd_env(etcd, errors)
    components["kube-proxy"] = _build_kube_proxy(snapshot, layout)
    if layout == _layouts.EKS and kubelet.config_path in _layouts.NODEADM_GENERATED:
        # nodeadm rewrites these at every boot from the instance's NodeConfig.
        kubelet.generated.extend(p for c in kubelet.configs for p in [c.path] if p in _layouts.NODEADM_GENERATED)
    for comp in components.values():
        if comp.settings == "manifest" and comp.kind == "systemd":
            comp.settings = "unit"
    return components, pod_path


def _broken_manifest(components: t.Dict[str, Component], wanted: t.Set[str], path: str, message: str) -> None:
    """A manifest that cannot be read or is not a complete Pod: the component it is named after (by file
    name, as it cannot be told by its program) is configured but unreadable, so its rules are errors."""
    base = re.sub(r"\.(ya?ml|json)$", "", os.path.basename(path))
    guesses = [base] if base in components else [n for n in sorted(components, key=len, reverse=True) if n in base][:1]
    for guess in guesses:
        if guess in wanted and not components[guess].present:
            components[guess].present = True
            components[guess].kind = "static_pod"
            components[guess].errors.append("%s. Fix the manifest (or move it out of the kubelet's static pod "
                                            "directory); kubefort does not edit it" % message.rstrip("."))


def _load_static_pods(components: t.Dict[str, Component], files: t.Mapping[str, t.Dict[str, t.Any]], pod_path: str,
                      errors: t.List[str], wanted: t.Set[str]) -> None:
    directory = files.get(pod_path.rstrip("/"), {})
    if directory.get("type") in ("file", "other"):
        message = ("the kubelet's static pod path %s is a file, not a directory: kubefort cannot tell which "
                   "components it runs. Make it a directory holding the manifests" % pod_path)
        errors.append(message)
        for name in sorted(wanted & set(STATIC_POD_COMPONENTS)):
            if name in components and not components[name].present:
                components[name].present = True
                components[name].kind = "static_pod"
                components[name].errors.append(message)
        return
    for path in sorted(files):
        if os.path.dirname(path) != pod_path.rstrip("/") or os.path.basename(path).startswith("."):
            continue
        if not path.endswith((".yaml", ".yml", ".json")) or "content" not in files[path]:
            if files[path].get("error"):
                errors.append(files[path]["error"])
                if path.endswith((".yaml", ".yml", ".json")):
                    _broken_manifest(components, wanted, path, files[path]["error"])
            continue
        try:
            manifest, name = _load_manifest(path, files[path]["content"])
        except YAMLEditError as exc:
            errors.append(str(exc))
            _broken_manifest(components, wanted, path, str(exc))
            continue
        if name in components and name in wanted and not components[name].present:
            comp = components[name]
            comp.present = True
            comp.manifest = manifest
            comp.disk_flags = _manifest_flags(name, manifest)
            if name != "etcd":
                # etcd's image tag is etcd's own version, not Kubernetes'.
                comp.version, comp.version_source = _image_version(manifest.data, manifest.container, path)
            if name == "etcd":
                comp.env = _manifest_env(manifest)


def _attach_processes(components: t.Dict[str, Component], snapshot: t.Dict[str, t.Any], skip: t.Iterable[str]) -> None:
    for name, comp in components.items():
        if name in skip:
            continue
        procs = snapshot.get("processes", {}).get(name) or []
        if procs:
            proc = procs[0]
            comp.present = True
            comp.process = proc
            comp.running_flags = parse_args(name, proc["argv"][1:], [{"path": "/proc/%d/cmdline" % proc["pid"]}] * (len(proc["argv"]) - 1))
            if name == "etcd" and proc.get("env") is not None:
                comp.running_flags = _with_env(comp.running_flags, {
                    var: {"value": value, "path": "/proc/%d/environ" % proc["pid"], "line": None,
                          "flag": _etcd_flag(var)} for var, value in proc["env"].items()})


def _etcd_from_unit(etcd: Component, snapshot: t.Dict[str, t.Any], errors: t.List[str]) -> None:
    """etcd run by systemd (kubespray's default ``etcd_deployment_type: host``): flags plus ETCD_* variables."""
    unit = snapshot.get("units", {}).get(ETCD_UNIT)
    if not unit or not unit.get("unit"):
        return
    etcd.present = True
    etcd.kind = "systemd"
    etcd.settings = "unit"
    etcd.unit = unit
    etcd.service = "etcd"
    etcd.errors.extend(unit.get("errors", []))
    argv = unit.get("argv") or []
    etcd.disk_flags = parse_args("etcd", argv[1:], (unit.get("argv_sources") or [])[1:])
    etcd.env = {var: {"value": e["value"], "path": e["path"], "line": e["line"], "flag": _etcd_flag(var)}
                for var, e in unit.get("env", {}).items() if var.startswith("ETCD_")}


def _etcd_flag(var: str) -> str:
    return var[len("ETCD_"):].lower().replace("_", "-")


def _manifest_env(manifest: Manifest) -> t.Dict[str, t.Dict[str, t.Any]]:
    container = manifest.data["spec"]["containers"][manifest.container]
    env = {}
    for index, item in enumerate(container.get("env") or []):
        name = str((item or {}).get("name", ""))
        if name.startswith("ETCD_") and "value" in item:
            line = line_of(manifest.root, ("spec", "containers", manifest.container, "env", index, "value")) if manifest.root else None
            env[name] = {"value": str(item["value"]), "path": manifest.path, "line": line, "flag": _etcd_flag(name), "index": index}
    return env


def _apply_etcd_env(etcd: Component, errors: t.List[str]) -> None:
    """Fold ETCD_* variables into etcd's flags the way etcd does: a variable counts unless its flag is set."""
    if not etcd.env or etcd.disk_flags is None:
        return
    for var, entry in sorted(etcd.env.items()):
        if etcd.disk_flags.has(entry["flag"]):
            occ = etcd.disk_flags.find(entry["flag"])[-1].source
            errors.append(
                "etcd: %s (%s:%s) and --%s (%s:%s) are both set; etcd exits at start with \"conflicting environment "
                "variable %s is shadowed by corresponding command-line flag\": remove one of them"
                % (var, entry["path"], entry["line"], entry["flag"], occ.get("path"), occ.get("line"), var))
    if etcd.disk_flags.has("config-file") or "ETCD_CONFIG_FILE" in etcd.env:
        errors.append("etcd reads a --config-file: its other flags and ETCD_* variables are ignored, and kubefort "
                      "does not read etcd config files; check the etcd settings in that file by hand")
    etcd.disk_flags = _with_env(etcd.disk_flags, etcd.env)


def _with_env(flags: FlagSet, env: t.Mapping[str, t.Mapping[str, t.Any]]) -> FlagSet:
    """A copy of ``flags`` with an occurrence first for every variable whose flag is not given."""
    merged = FlagSet(component=flags.component, positional=list(flags.positional))
    for var, entry in sorted(env.items()):
        flag = entry.get("flag") or _etcd_flag(var)
        if flags.has(flag) or entry.get("value", "") == "":
            continue
        source = {"path": entry.get("path"), "line": entry.get("line"), "env": var}
        merged.occurrences.append(FlagOccurrence(flag, str(entry["value"]), -1, source, "env"))
    merged.occurrences.extend(flags.occurrences)
    return merged


def _build_kube_proxy(snapshot: t.Dict[str, t.Any], layout: str) -> Component:
    """kube-proxy as a systemd unit or a process; a DaemonSet's ConfigMap is cluster-side."""
    files = snapshot.get("files", {})
    comp = Component(name="kube-proxy", kind="systemd", settings="unit")
    unit = snapshot.get("units", {}).get(KUBE_PROXY_UNIT)
    if unit and unit.get("unit"):
        comp.present = True
        comp.unit = unit
        comp.service = "kube-proxy"
        comp.errors.extend(unit.get("errors", []))
        comp.disk_flags = parse_args("kube-proxy", (unit.get("argv") or [])[1:], (unit.get("argv_sources") or [])[1:])
    procs = snapshot.get("processes", {}).get("kube-proxy") or []
    if procs:
        proc = procs[0]
        comp.present = True
        comp.process = proc
        comp.running_flags = parse_args("kube-proxy", proc["argv"][1:], [{"path": "/proc/%d/cmdline" % proc["pid"]}] * (len(proc["argv"]) - 1))
    side = _layouts.BY_NAME[layout].cluster_side.get("kube-proxy") if layout in _layouts.BY_NAME else None
    if not comp.present:
        comp.cluster_side = side
        return comp
    _kube_proxy_config(comp, files, side if comp.unit is None else None)
    return comp


def _kube_proxy_config(comp: Component, files: t.Mapping[str, t.Dict[str, t.Any]], side: t.Optional[str]) -> None:
    flags = comp.disk_flags or comp.running_flags
    config = flags.value("config") if flags is not None else None
    if not config:
        return
    entry = files.get(config, {})
    if entry.get("type") == "missing" and comp.unit is None and comp.process is not None and comp.settings == "unit":
        # The process reads a file mounted into its container: the DaemonSet's ConfigMap.
        comp.cluster_side = "%s (--config %s is inside the kube-proxy container)" % (
            side or "kube-proxy runs from a DaemonSet whose ConfigMap holds its configuration", config)
        comp.config_path = config
        return
    comp.config_path = config
    _load_config_files(comp, files, [config], "KubeProxyConfiguration", required=True)
    for which in ("disk_flags", "running_flags"):
        flagset = getattr(comp, which)
        if flagset is not None:
            setattr(comp, which, _strip_ignored(comp, flagset))


def _strip_ignored(comp: Component, flags: FlagSet) -> FlagSet:
    kept = FlagSet(component=flags.component, positional=list(flags.positional))
    for occ in flags.occurrences:
        if occ.name in KUBE_PROXY_CONFIG_FLAGS:
            kept.occurrences.append(occ)
        elif occ.name not in comp.ignored_flags:
            comp.ignored_flags.append(occ.name)
    return kept


def _build_kubelet(snapshot: t.Dict[str, t.Any]) -> Component:
    comp = Component(name="kubelet", kind="systemd", settings="unit")
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
    _kubelet_config(comp, files, flags.value("config"), flags.value("config-dir"))
    return comp


def _kubelet_config(comp: Component, files: t.Mapping[str, t.Dict[str, t.Any]], config: t.Optional[str],
                    config_dir: t.Optional[str], generated: t.Optional[ConfigFile] = None) -> None:
    """The kubelet's --config file merged with its --config-dir drop-ins (JSON merge patch order here;
    ``apply_kubelet_merge`` redoes the merge for the kubelet's version once that is known)."""
    paths = [config] if config else []
    dropins: t.List[str] = []
    if config_dir:
        dropins = kubelet_dropins(files, config_dir)
        if generated is not None and generated.path not in dropins:
            dropins = sorted(dropins + [generated.path], key=_walk_key(config_dir))
    if not config and not dropins:
        return
    comp.config_path = config or dropins[0]
    comp.flag_defaults = not config
    _load_config_files(comp, files, paths + [p for p in dropins if p not in paths], "KubeletConfiguration",
                       required=bool(config), generated=generated)


def _walk_key(config_dir: str) -> t.Callable[[str], t.Tuple[str, ...]]:
    prefix = config_dir.rstrip("/") + "/"
    return lambda path: tuple(path[len(prefix):].split("/"))


def kubelet_dropins(files: t.Mapping[str, t.Dict[str, t.Any]], config_dir: str) -> t.List[str]:
    """The drop-ins the kubelet loads: every file below ``config_dir`` whose extension (Go's
    ``filepath.Ext``: from the last dot of the name, so ``.x.conf`` too) is ``.conf``, subdirectories
    included, in ``filepath.WalkDir`` order (names sorted per directory, a directory's files where its
    name sorts). Checked with the real kubelet 1.28.7 (tests/real/test_real_kubelet_merge.py)."""
    prefix = config_dir.rstrip("/") + "/"
    # An unreadable drop-in (not UTF-8, a directory, a dangling link) is kept: its error fails closed.
    found = [p for p in files if p.startswith(prefix) and ("content" in files[p] or "error" in files[p])
             and (os.path.splitext(p)[1] == ".conf" or os.path.basename(p) == ".conf")]
    return sorted(found, key=_walk_key(config_dir))


# How each kubelet release merges --config-dir drop-ins (cmd/kubelet/app/server.go, mergeKubeletConfigurations):
# - 1.28 (KEP-3983 alpha): each drop-in is loaded like a config file, so decoded WITH the KubeletConfiguration
#   defaults, and merged with mergo ``WithOverride``: a non-zero value overrides, a zero value (0, false, "",
#   0s) never does. So a drop-in cannot turn anything off, and every non-zero default of a drop-in wins
#   (a drop-in that sets only maxPods makes authorization.mode Webhook). Measured with the real 1.28.7.
# - 1.29 and later (kubernetes/kubernetes#121193, "Retarget drop-in kubelet configuration dir feature to
#   Alpha", merged for 1.29): the drop-in is read as JSON without defaults and applied as a JSON merge
#   patch: what it writes wins, zero values included; what it does not write is kept. From 1.30 (beta) the
#   environment variable is no longer needed; later releases convert the base to v1beta1 first and check
#   each drop-in's apiVersion/kind, which gives the same result for the keys kubefort reads.
# - 1.28 and 1.29 refuse --config-dir unless KUBELET_CONFIG_DROPIN_DIR_ALPHA is in the environment.
KUBELET_MERGE_DEFAULTS = "defaults-non-zero"
KUBELET_MERGE_PATCH = "merge-patch"
DROPIN_ALPHA_ENV = "KUBELET_CONFIG_DROPIN_DIR_ALPHA"

# The KubeletConfiguration (v1beta1) defaults of the keys kubefort reads, as SetDefaults_KubeletConfiguration
# sets them; kubelet 1.28 gives them to every drop-in. tests/real/test_real_kubelet_merge.py checks them
# against the real kubelet's /configz.
KUBELET_CONFIG_DEFAULTS: t.Mapping[str, t.Any] = {
    "address": "0.0.0.0",
    "port": 10250,
    "healthzBindAddress": "127.0.0.1",
    "healthzPort": 10248,
    "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True, "cacheTTL": "2m0s"}},
    "authorization": {"mode": "Webhook", "webhook": {"cacheAuthorizedTTL": "5m0s", "cacheUnauthorizedTTL": "30s"}},
    "streamingConnectionIdleTimeout": "4h0m0s",
    "makeIPTablesUtilChains": True,
    "eventRecordQPS": 50,
    "staticPodPath": "",
}


def kubelet_merge_model(version: t.Optional[str], layout: str = "") -> t.Optional[str]:
    have = _version(version)
    if not have:
        # k3s and RKE2 give the kubelet a --config-dir from v1.32 on only (before: flags).
        return KUBELET_MERGE_PATCH if layout in _layouts.RANCHER else None
    return KUBELET_MERGE_DEFAULTS if have < (1, 29) else KUBELET_MERGE_PATCH


def _version(version: t.Optional[str]) -> t.Tuple[int, ...]:
    match = re.match(r"v?(\d+)\.(\d+)", str(version or ""))
    return (int(match.group(1)), int(match.group(2))) if match else ()


def apply_kubelet_merge(comp: Component) -> None:
    """Redo the drop-in merge as the kubelet's version does it; the version unknown, keep the keys on which
    the versions disagree in ``config_ambiguous``; and the 1.28/1.29 environment variable check."""
    dropins = [c for c in comp.configs if c.path != (comp.config_path if not comp.flag_defaults else None)]
    if comp.flag_defaults:
        dropins = list(comp.configs)
    flags = comp.disk_flags
    if not dropins and not (flags is not None and flags.value("config-dir")):
        return
    model = kubelet_merge_model(comp.version, comp.layout)
    have = _version(comp.version)
    if (model is None and flags is not None and flags.value("config-dir") and comp.unit is not None
            and DROPIN_ALPHA_ENV not in (comp.unit.get("env") or {})):
        # 1.28 and 1.29 exit at start on --config-dir without the variable: a kubelet that runs so is 1.30+
        # (docs/distributions.md).
        model = KUBELET_MERGE_PATCH
    comp.merge_model = model
    if (flags is not None and flags.value("config-dir") and comp.unit is not None and have in ((1, 28), (1, 29))
            and DROPIN_ALPHA_ENV not in (comp.unit.get("env") or {}) and comp.layout not in _layouts.RANCHER):
        comp.fatal = (
            "the kubelet will not start: --config-dir needs %s in its environment on Kubernetes 1.28 and 1.29 "
            "(add Environment=\"%s=on\" in a kubelet.service drop-in, or remove --config-dir)" % (DROPIN_ALPHA_ENV, DROPIN_ALPHA_ENV))
    if model == KUBELET_MERGE_PATCH or not dropins:
        return
    base = [c for c in comp.configs if c not in dropins]
    config: t.Dict[str, t.Any] = {}
    sources: t.Dict[t.Tuple[str, ...], t.Tuple[str, t.Optional[int]]] = {}
    defaulted: t.Dict[t.Tuple[str, ...], str] = {}
    for main in base:
        _merge(config, main.data, (), sources, main.path, main.root)
    for dropin in dropins:
        _merge_non_zero(config, dropin.data, KUBELET_CONFIG_DEFAULTS, (), sources, defaulted, dropin)
    if model == KUBELET_MERGE_DEFAULTS:
        comp.config, comp.config_sources, comp.config_defaulted = config, sources, defaulted
        return
    # Version unknown: the keys the two merges disagree on cannot be judged.
    for keypath in set(_leaf_paths(config, ())) | set(_leaf_paths(comp.config, ())):
        if keypath and get_path(config, keypath) != get_path(comp.config, keypath):
            comp.config_ambiguous[keypath] = "%s on 1.28, %s on 1.29 and later" % (
                _shown(get_path(config, keypath)), _shown(get_path(comp.config, keypath)))


def check_flags(comp: Component) -> None:
    """Flags the component's version does not accept make it exit at start: ``fatal``. Versions without a
    flag list (_component_flags): a note names the flags not known to 1.28, unchecked."""
    flags = comp.disk_flags
    if flags is None or comp.name not in ("kubelet", "kube-apiserver"):
        return
    running = {_component_flags.normalize(o.name) for o in comp.running_flags.occurrences} if comp.running_flags else set()
    names = []
    for occ in flags.occurrences:
        name = _component_flags.normalize(occ.name)
        if name not in names and name not in running and name not in ("h", "v"):
            names.append(name)
    have = _version(comp.version)
    known = _component_flags.known_flags(comp.name, have) if have else None
    if known is not None:
        unknown = [n for n in names if n not in known]
        if unknown and comp.fatal is None:
            comp.fatal = "the %s will not start: unknown flag %s (not a flag of %s %s)" % (
                comp.name, ", ".join("--" + n for n in unknown), comp.name, ".".join(str(p) for p in have))
        return
    reference = _component_flags.known_flags(comp.name, (1, 28)) or frozenset()
    strange = [n for n in names if n not in reference]
    if strange:
        comp.notes.append("%s %s not %s 1.28 flag%s; kubefort has no flag list for %s, so whether this %s accepts %s "
                          "was not checked" % (", ".join("--" + n for n in strange), "is" if len(strange) == 1 else "are",
                                               "a" if len(strange) == 1 else "", "" if len(strange) == 1 else "s",
                                               "version " + comp.version if comp.version else "an unknown version",
                                               comp.name, "it" if len(strange) == 1 else "them"))


def get_path(data: t.Any, keypath: t.Tuple[str, ...]) -> t.Any:
    for part in keypath:
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _shown(value: t.Any) -> str:
    return "unset" if value is None else json.dumps(value)


def is_zero(value: t.Any) -> bool:
    """Go's zero value as mergo sees it after decoding (0, false, "", an empty list or map, a 0 duration)."""
    if value is None or value is False or value == 0 or value in ("", [], {}):
        return value is not True
    return isinstance(value, str) and re.fullmatch(r"[+-]?(0+(\.0*)?(ns|us|µs|ms|s|m|h)?)+", value) is not None


def _merge_non_zero(target: t.Dict[str, t.Any], data: t.Mapping[str, t.Any], defaults: t.Mapping[str, t.Any],
                    prefix: t.Tuple[str, ...], sources: t.Dict[t.Tuple[str, ...], t.Tuple[str, t.Optional[int]]],
                    defaulted: t.Dict[t.Tuple[str, ...], str], dropin: ConfigFile) -> None:
    """kubelet 1.28: the drop-in, with the defaults filled in, overrides with its non-zero values only."""
    for key in list(data) + [k for k in defaults if k not in data]:
        if key in ("apiVersion", "kind") and not prefix:
            continue
        keypath = prefix + (key,)
        explicit = key in data
        value = data[key] if explicit else defaults[key]
        default = defaults.get(key) if isinstance(defaults.get(key), dict) else {}
        if isinstance(value, dict) or (explicit and isinstance(default, dict) and default and value is None):
            sub = target.get(key)
            if not isinstance(sub, dict):
                sub = {}
            _merge_non_zero(sub, value if isinstance(value, dict) else {}, default, keypath, sources, defaulted, dropin)
            if sub:
                target[key] = sub
            continue
        if is_zero(value):
            continue
        target[key] = json.loads(json.dumps(value)) if isinstance(value, list) else value
        if explicit:
            sources[keypath] = (dropin.path, line_of(dropin.root, keypath) if dropin.root is not None else None)
            defaulted.pop(keypath, None)
        else:
            sources[keypath] = (dropin.path, None)
            defaulted[keypath] = dropin.path


def _load_config_files(comp: Component, files: t.Mapping[str, t.Dict[str, t.Any]], paths: t.Sequence[str], kind: str,
                       required: bool, generated: t.Optional[ConfigFile] = None) -> None:
    what = "the %s's config file" % comp.name
    for index, path in enumerate(paths):
        if generated is not None and path == generated.path and "content" not in files.get(path, {}):
            comp.configs.append(generated)
            _merge(comp.config, generated.data, (), comp.config_sources, "%s (generated at start)" % path, None)
            continue
        entry = files.get(path, {})
        main = index == 0 and required
        if "content" not in entry:
            if entry.get("error") and (main or entry.get("type") == "file"):
                # There but unreadable (a directory, a dangling link, not UTF-8): never "absent".
                comp.errors.append("%s %s cannot be read: %s" % (what, path, entry["error"]))
            elif main:
                comp.errors.append("%s %s does not exist" % (what, path))
            continue
        text = entry["content"]
        try:
            if text.lstrip().startswith("{") or path.endswith(".json"):
                data, root, fmt = json.loads(text), None, "json"
            else:
                data, root = load(text, path)
                fmt = "yaml"
        except (YAMLEditError, ValueError) as exc:
            comp.errors.append("%s %s cannot be parsed: %s" % (what, path, exc))
            continue
        if data is None and main:
            # The kubelet and kube-proxy refuse an empty config file ("kubelet config file ... was empty").
            comp.errors.append("%s %s is empty; %s refuses it. Write a %s (apiVersion and kind) there, or "
                               "restore the file" % (what, path, comp.name, kind))
            continue
        if data is None:
            data = {}
        if not isinstance(data, dict):
            comp.errors.append("%s %s is not a mapping" % (what, path))
            continue
        if main and not data.get("kind"):
            # Decoding needs apiVersion and kind ("Object 'Kind' is missing"): the component does not start.
            comp.errors.append("%s %s has no kind (kind: %s); %s refuses it. Add apiVersion and kind, or "
                               "restore the file" % (what, path, kind, comp.name))
            continue
        if data.get("kind", kind) != kind:
            comp.errors.append("%s is kind %s, not %s" % (path, data.get("kind"), kind))
            continue
        is_generated = generated is not None and path == generated.path
        comp.configs.append(ConfigFile(path, text, data, root, fmt, generated=is_generated))
        _merge(comp.config, data, (), comp.config_sources, path, root)


# --- k3s and RKE2 ------------------------------------------------------------------------------------


def rancher_config_paths(files: t.Mapping[str, t.Any], dist: _dist_rancher.Rancher) -> t.List[str]:
    """config.yaml, then config.yaml.d/*.yaml and *.yml in name order (the order k3s/RKE2 merge them)."""
    prefix = dist.config_dir + "/"
    # A drop-in that cannot be read is kept: its error makes the components it may configure errors.
    dropins = sorted(p for p in files if p.startswith(prefix) and "/" not in p[len(prefix):]
                     and p.endswith((".yaml", ".yml")) and ("content" in files[p] or files[p].get("error")))
    return [dist.config] + dropins


def rancher_config(files: t.Mapping[str, t.Dict[str, t.Any]], dist: _dist_rancher.Rancher,
                   errors: t.List[str]) -> t.Tuple[t.Dict[str, t.Any], t.Dict[str, t.List[ArgItem]]]:
    """Merged config values, and for every list key its entries with file and line.

    A key replaces the value of earlier files; ``key+`` appends to it.
    """
    values: t.Dict[str, t.Any] = {}
    items: t.Dict[str, t.List[ArgItem]] = {}
    for path in rancher_config_paths(files, dist):
        entry = files.get(path, {})
        if "content" not in entry:
            if entry.get("error"):
                errors.append(entry["error"])
            continue
        try:
            data, root = load(entry["content"], path)
        except YAMLEditError as exc:
            errors.append(str(exc))
            continue
        if data is None:
            continue
        if not isinstance(data, dict) or not isinstance(root, yaml.MappingNode):
            errors.append("%s is not a YAML mapping" % path)
            continue
        for key_node, value_node in root.value:
            key = str(key_node.value)
            base = key.rstrip("+")
            new = _arg_items(key, value_node, path)
            value = data.get(key)
            if key.endswith("+"):
                items[base] = items.get(base, []) + new
                old = values.get(base)
                old_list = old if isinstance(old, list) else ([] if old is None else [old])
                values[base] = old_list + (value if isinstance(value, list) else [value])
            else:
                items[base] = new
                values[base] = value
    return values, items


def _arg_items(key: str, node: yaml.Node, path: str) -> t.List[ArgItem]:
    if isinstance(node, yaml.SequenceNode):
        return [ArgItem(key, str(item.value), path, item.start_mark.line + 1, index)
                for index, item in enumerate(node.value) if isinstance(item, yaml.ScalarNode)]
    if isinstance(node, yaml.ScalarNode) and node.value not in ("", "~", "null"):
        return [ArgItem(key, str(node.value), path, node.start_mark.line + 1, None)]
    return []


def _command_line_items(unit: t.Optional[t.Mapping[str, t.Any]], arg_key: str) -> t.List[ArgItem]:
    """``--kubelet-arg=x`` / ``--kubelet-arg x`` words of the service's ExecStart (after config values)."""
    if not unit or not unit.get("argv"):
        return []
    argv, sources = unit["argv"], unit.get("argv_sources") or []
    found = []
    i = 2
    while i < len(argv):
        word = argv[i]
        src = sources[i] if i < len(sources) else {}
        if word.startswith("--%s=" % arg_key):
            found.append(ArgItem(arg_key, word.split("=", 1)[1], src.get("path", ""), src.get("line"), None, "command-line"))
        elif word == "--" + arg_key and i + 1 < len(argv):
            found.append(ArgItem(arg_key, argv[i + 1], src.get("path", ""), src.get("line"), None, "command-line"))
            i += 1
        i += 1
    return found


def get_args(initial: t.Mapping[str, t.Tuple[str, Source]], extra: t.Sequence[ArgItem]) -> t.Tuple[t.List[str], t.List[Source]]:
    """k3s' ``GetArgs``: an entry replaces the default of its flag, ``flag+=`` appends to it, ``flag-=``
    prepends; repeated entries become repeated flags. Flags come out sorted by name."""
    initial = dict(initial)
    multi: t.Dict[str, t.List[t.Tuple[str, Source]]] = {}
    for item in extra:
        arg, has_value, value = item.value.lstrip("-").partition("=")
        if not has_value:
            value = "true"
        name = arg.rstrip("+-")
        source = {"path": item.path, "line": item.line, "arg": item.key}
        existing = multi.get(name, [])
        if arg.endswith("+"):
            new = ([initial[name]] if name in initial else []) + existing + [(value, source)]
        elif arg.endswith("-"):
            new = [(value, source)] + ([initial[name]] if name in initial else []) + existing
        else:
            new = existing + [(value, source)]
        initial.pop(name, None)
        multi[name] = new
    for name, value in initial.items():
        multi[name] = [value]
    words: t.List[str] = []
    sources: t.List[Source] = []
    for name in sorted(multi):
        for value, source in multi[name]:
            words.append("--%s=%s" % (name, value))
            sources.append(source)
    return words, sources


def _rancher_role(snapshot: t.Dict[str, t.Any], dist: _dist_rancher.Rancher, values: t.Mapping[str, t.Any]) -> t.Tuple[str, t.Optional[t.Dict[str, t.Any]]]:
    """``server`` or ``agent``, and the unit that runs it."""
    units = snapshot.get("units", {})
    wants = snapshot.get("listings", {}).get("/etc/systemd/system/multi-user.target.wants", [])
    candidates = [(u, "server") for u in dist.server_units] + [(u, "agent") for u in dist.agent_units]
    present = [(u, role) for u, role in candidates if (units.get(u) or {}).get("unit")]
    enabled = [(u, role) for u, role in present if u in wants]
    for unit_name, role in enabled or present:
        argv = units[unit_name].get("argv") or []
        if len(argv) > 1 and argv[1] in ("server", "agent"):
            role = argv[1]
        if len(enabled or present) == 1 or role == "server":
            return role, dict(units[unit_name], name=unit_name)
    processes = snapshot.get("processes", {})
    for program in dist.programs:
        for proc in processes.get(program) or []:
            if len(proc["argv"]) > 1 and proc["argv"][1] in ("server", "agent"):
                return proc["argv"][1], None
    manifests = dist.pod_manifests and any(
        p.startswith(dist.pod_manifests + "/kube-apiserver") for p in snapshot.get("files", {}))
    return ("agent" if values.get("server") and not manifests else "server"), None


def _build_rancher(snapshot: t.Dict[str, t.Any], dist: _dist_rancher.Rancher,
                   errors: t.List[str]) -> t.Tuple[t.Dict[str, Component], str]:
    files = snapshot.get("files", {})
    config_errors: t.List[str] = []
    values, items = rancher_config(files, dist, config_errors)
    errors.extend(config_errors)
    role, unit = _rancher_role(snapshot, dist, values)
    service = unit["name"][: -len(".service")] if unit else dist.name + ("-server" if dist.name == _layouts.RKE2 and role == "server"
                                                                         else "-agent" if role == "agent" else "")
    pod_path = dist.pod_manifests or ""
    components: t.Dict[str, Component] = {}
    for name in ALL_COMPONENTS:
        components[name] = Component(name=name, kind="embedded", settings="rancher", service=service)
    if dist.pod_manifests:
        _load_static_pods(components, files, dist.pod_manifests, errors, set(STATIC_POD_COMPONENTS) | {"kube-proxy"})
    # The kubelet runs from the distribution's own release (k3s binary, RKE2 runtime directory).
    manifest_version = _versions.kubelet_version(dist.name, snapshot)[0] or next(
        (c.version for c in components.values() if c.version), None)
    for name, comp in components.items():
        if not _rancher_runs(name, role, values, files, dist, comp):
            comp.present = False
            continue
        comp.present = True
        # A config file that cannot be read or parsed may set any component's arguments: fail closed.
        comp.errors.extend(config_errors)
        arg_key = dist.arg_keys[name]
        comp.arg_items = items.get(arg_key, []) + _command_line_items(unit, arg_key)
        if name == "kubelet":
            _rancher_kubelet(comp, files, dist, manifest_version)
            continue
        deployed = comp.disk_flags
        if comp.manifest is not None:
            comp.generated.append(comp.manifest.path)
            comp.kind = "static_pod"
            base = _flag_map(deployed) if deployed is not None else {}
        else:
            base = {k: (v, {"path": "%s default" % dist.name}) for k, v in _dist_rancher.RANCHER_DEFAULTS.get(name, {}).items()}
        if name == "etcd":
            etcd_config = dist.data_dir + "/server/db/etcd/config"
            if "content" in files.get(etcd_config, {}):
                # The etcd config file k3s/RKE2 generate (etcd-arg entries are merged into it at start).
                base.pop("config-file", None)
                base.update(etcd_config_flags(files[etcd_config]["content"], etcd_config, errors))
                comp.generated.append(etcd_config)
        words, sources = get_args(base, comp.arg_items)
        comp.disk_flags = parse_args(name, words, sources)
        if deployed is not None and snapshot.get("live"):
            comp.running_flags = deployed
    _attach_processes(components, snapshot, skip=("kubelet",) if dist.name == _layouts.K3S else ())
    if dist.name == _layouts.K3S:
        # Everything runs inside the k3s process: its command line shows none of the components' flags.
        for comp in components.values():
            comp.running_flags = None
    return components, pod_path


def _rancher_runs(name: str, role: str, values: t.Mapping[str, t.Any], files: t.Mapping[str, t.Any],
                  dist: _dist_rancher.Rancher, comp: Component) -> bool:
    if name in ("kubelet",):
        return True
    if name == "kube-proxy":
        return not values.get("disable-kube-proxy")
    if role != "server":
        return False
    if name == "etcd":
        if values.get("disable-etcd"):
            return False
        if dist.name == _layouts.RKE2:
            return comp.present or not values.get("datastore-endpoint")
        etcd_dir = dist.data_dir + "/server/db/etcd/config"
        return bool(values.get("cluster-init")) or files.get(etcd_dir, {}).get("type") == "file"
    disabled = {"kube-apiserver": "disable-apiserver", "kube-controller-manager": "disable-controller-manager",
                "kube-scheduler": "disable-scheduler"}[name]
    return not values.get(disabled)


# etcd config file sections whose keys are the flags of the same name (peer-ones prefixed with "peer-").
_ETCD_TLS_SECTIONS = {"client-transport-security": "", "peer-transport-security": "peer-"}


def etcd_config_flags(text: str, path: str, errors: t.List[str]) -> t.Dict[str, t.Tuple[str, Source]]:
    """The flags an etcd ``--config-file`` sets (its keys are flag names; TLS keys sit in two sections)."""
    try:
        data, root = load(text, path)
    except YAMLEditError as exc:
        errors.append(str(exc))
        return {}
    if not isinstance(data, dict):
        return {}
    flags: t.Dict[str, t.Tuple[str, Source]] = {}

    def add(flag: str, value: t.Any, keypath: t.Tuple[str, ...]) -> None:
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, list):
            value = ",".join(str(v) for v in value)
        flags[flag] = (str(value), {"path": path, "line": line_of(root, keypath), "generated": True})

    for key, value in data.items():
        if key in _ETCD_TLS_SECTIONS and isinstance(value, dict):
            for sub, subvalue in value.items():
                add(_ETCD_TLS_SECTIONS[key] + sub, subvalue, (key, sub))
        elif not isinstance(value, dict):
            add(str(key), value, (key,))
    return flags


def _flag_map(flags: FlagSet) -> t.Dict[str, t.Tuple[str, Source]]:
    """Each flag's effective value and the source of its last occurrence (a generated manifest's flags)."""
    result: t.Dict[str, t.Tuple[str, Source]] = {}
    for occ in flags.occurrences:
        value = flags.value(occ.name)
        result[occ.name] = (t.cast(str, value), dict(occ.source, generated=True))
    return result


def _rancher_kubelet(comp: Component, files: t.Mapping[str, t.Dict[str, t.Any]], dist: _dist_rancher.Rancher,
                     version: t.Optional[str]) -> None:
    """The kubelet k3s/RKE2 start: --config-dir with their generated defaults, then the kubelet-arg entries."""
    comp.kind = "systemd"
    base: t.Dict[str, t.Tuple[str, Source]] = {"config-dir": (dist.kubelet_config_dir, {"path": "%s default" % dist.name})}
    if not _dist_rancher.read_only_port_open(dist.name, version):
        base["read-only-port"] = ("0", {"path": "%s default" % dist.name})
    words, sources = get_args(base, [i for i in comp.arg_items if i.flag not in ("config", "config-dir")])
    comp.disk_flags = parse_args("kubelet", words, sources)
    defaults_path = "%s/00-%s-defaults.conf" % (dist.kubelet_config_dir, dist.name)
    text = yaml.safe_dump(dict(_dist_rancher.RANCHER_KUBELET_CONFIG), sort_keys=False)
    generated = ConfigFile(defaults_path, text, json.loads(json.dumps(_dist_rancher.RANCHER_KUBELET_CONFIG)), None, "yaml", generated=True)
    _kubelet_config(comp, files, None, dist.kubelet_config_dir, generated)
    comp.generated.append(defaults_path)
    for config in comp.configs:
        if config.path == defaults_path:
            config.generated = True


# --- microk8s ----------------------------------------------------------------------------------------

_SNAP_VARS = {
    "SNAP_DATA": _layouts.MICROK8S_SNAP_DATA,
    "SNAP_COMMON": _layouts.MICROK8S_SNAP_COMMON,
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


def _build_microk8s(snapshot: t.Dict[str, t.Any], errors: t.List[str]) -> t.Dict[str, Component]:
    files = snapshot.get("files", {})
    components = {name: Component(name=name, kind="embedded", settings="args_file",
                                  service="snap.microk8s.daemon-kubelite") for name in ALL_COMPONENTS}
    for name in _layouts.MICROK8S_COMPONENTS:
        path = "%s/%s" % (_layouts.MICROK8S_ARGS, name)
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
            _kubelet_config(comp, files, comp.disk_flags.value("config"), comp.disk_flags.value("config-dir"))
        if name == "kube-proxy" and comp.disk_flags.value("config"):
            _kube_proxy_config(comp, files, None)
    return components


# --- shared helpers -----------------------------------------------------------------------------------


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
    spec = data.get("spec")
    containers = spec.get("containers") if isinstance(spec, dict) else None
    if not isinstance(containers, list) or not containers or not all(isinstance(c, dict) for c in containers):
        raise YAMLEditError("%s is not a complete Pod manifest: it has no spec.containers list" % path)
    volumes = {str(v.get("name")) for v in spec.get("volumes") or [] if isinstance(v, dict)}
    for index, container in enumerate(containers):
        command = container.get("command") or []
        args = container.get("args") or []
        if not isinstance(command, list) or not isinstance(args, list):
            raise YAMLEditError("%s is not a complete Pod manifest: command and args of container %s must be lists"
                                % (path, container.get("name", index)))
        program = os.path.basename(str(command[0])) if command else ""
        if program in MANIFEST_PROGRAMS:
            # What the kubelet refuses to run (the API server's Pod validation): no image, a volume mount
            # of a volume the pod does not define.
            if not str(container.get("image") or "").strip():
                raise YAMLEditError("%s is not a complete Pod manifest: container %s has no image (a truncated "
                                    "file?); the kubelet refuses it" % (path, container.get("name", program)))
            missing = sorted({str(m.get("name")) for m in container.get("volumeMounts") or [] if isinstance(m, dict)} - volumes)
            if missing:
                raise YAMLEditError("%s is not a complete Pod manifest: container %s mounts volume %s, which the pod "
                                    "does not define (a truncated file?); the kubelet refuses it"
                                    % (path, container.get("name", program), ", ".join(missing)))
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
        if manifest.key == "command":
            line_nodes = line_nodes + sequence_items(manifest.root, ("spec", "containers", manifest.container, "args"))
    sources = []
    for index in range(manifest.offset, len(manifest.words)):
        line = line_nodes[index].start_mark.line + 1 if index < len(line_nodes) else None
        sources.append({"path": manifest.path, "line": line, "index": index})
    return parse_args(name, manifest.words[manifest.offset:], sources)


def _image_version(data: t.Dict[str, t.Any], index: int, path: str) -> t.Tuple[t.Optional[str], t.Optional[str]]:
    image = str(((data.get("spec") or {}).get("containers") or [{}])[index].get("image", ""))
    version = _versions.image_version(image)
    return (version, "image %s in %s" % (image, path)) if version else (None, None)


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
