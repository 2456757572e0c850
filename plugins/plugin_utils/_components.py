# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The node model: what discovery builds from a ``node_facts`` snapshot and every rule reads.

A ``Node`` holds one ``Component`` per Kubernetes component with its effective settings (flags from the
command line or the files it starts from, its config files merged, where each value comes from) and how
its distribution writes them (``settings``, ``arg_items``, ``args_file``, ``generated``, ``service``).
``_discovery.py`` builds it: each distribution module (``_dist_*.py``) reads its own layout,
``_kubelet_merge.py`` merges the kubelet's config files the way its release does.
"""

from __future__ import annotations

import fnmatch
import os
import typing as t
from dataclasses import dataclass, field

import yaml

from ansible_collections.kubefort.hardening.plugins.module_utils._flags import FlagSet


STATIC_POD_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd")
PROCESS_NAMES = STATIC_POD_COMPONENTS + ("kubelet", "kube-proxy")
# Programs a static pod manifest may run (RKE2 and old kubespray run kube-proxy as a static pod).
MANIFEST_PROGRAMS = STATIC_POD_COMPONENTS + ("kube-proxy",)
ALL_COMPONENTS = STATIC_POD_COMPONENTS + ("kubelet", "kube-proxy")
DEFAULT_STATIC_POD_PATH = "/etc/kubernetes/manifests"
KUBELET_UNIT = "kubelet.service"
KUBE_PROXY_UNIT = "kube-proxy.service"
ETCD_UNIT = "etcd.service"

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

    # The wildcard patterns discovery expanded and what each matched: a path one covers but did not match is
    # not there (discovery listed that directory).
    patterns: t.Dict[str, t.List[str]] = field(default_factory=dict)

    def file(self, path: str) -> t.Dict[str, t.Any]:
        """What discovery saw at ``path``: ``missing`` also when a pattern covers it and matched something else
        or nothing; ``unknown`` when discovery did not look there."""
        entry = self.files.get(path)
        if entry is not None:
            return entry
        if any(covers(pattern, matches, path) for pattern, matches in self.patterns.items()):
            return {"type": "missing"}
        return {"type": "unknown"}


# node_facts stops a ``dir/**`` walk at this many entries (_nodefs.NodeFS.walk): a longer one is incomplete.
WALK_LIMIT = 2000


def covers(pattern: str, matches: t.Sequence[str], path: str) -> bool:
    """Whether discovery's expansion of ``pattern`` (``matches``) would hold ``path`` if it were there."""
    if pattern.endswith("/**"):
        return path.startswith(pattern[:-2]) and len(matches) < WALK_LIMIT
    return os.path.dirname(pattern) == os.path.dirname(path) and fnmatch.fnmatch(path, pattern)
