# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Discovery: what to ask the node for, and the ``Node`` built from what it answered.

Round one asks for every distribution's places at once (``_layouts.first_request``) plus the files
rules and versions need, so the layout is known without a round trip of its own; ``follow_up_request``
names what the snapshot points to but does not hold (a kubelet ``--config`` elsewhere, a
``--config-dir``, another static pod path). ``build_node`` finds the layout, lets its distribution
module read the components (``Distribution.build``), gives each its version, merges the kubelet's config
files the way that version does (``_kubelet_merge``) and checks the flags each version accepts.

Precedence, as the components apply it:
- the running process's command line, when the node is live and the component runs;
- else the file it would start from: the static pod manifest, the systemd unit with its drop-ins and
  environment files, the k3s/RKE2 ``config.yaml`` (+ ``config.yaml.d``) ``<component>-arg`` entries
  applied after the distribution's own defaults, or the microk8s ``args/<component>`` file;
- for the kubelet, flags override the config file that ``--config`` names, merged with the
  ``--config-dir`` drop-ins the way the kubelet's version merges them;
- for etcd, ``ETCD_*`` environment variables count where no flag sets the same option;
- kube-proxy ignores its other flags when ``--config`` names a file;
- else the component's documented default for its mode (a kubelet without a config file keeps the
  old flag defaults: anonymous auth on, AlwaysAllow, read-only port 10255).
"""

from __future__ import annotations

import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils import _component_flags
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _catalog, _layouts, _versions
from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import DEFAULT_STATIC_POD_PATH, KUBELET_UNIT, Component, Node
from ansible_collections.kubefort.hardening.plugins.plugin_utils._kubelet_merge import apply_kubelet_merge, minor_version


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
FIRST_REQUEST["stat"].extend(p for p in _catalog.STAT_PATHS if p not in FIRST_REQUEST["stat"])


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
    components, pod_path = _layouts.distribution(layout).build(snapshot, layout, errors)
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
        patterns=snapshot.get("patterns", {}),
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


def check_flags(comp: Component) -> None:
    """Flags the component's version does not accept make it exit at start: ``fatal``. Flags kubefort cannot
    judge for that version (_component_flags.verdict ``unchecked``) are named in a note."""
    flags = comp.disk_flags
    if flags is None or comp.name not in _component_flags.COMPONENTS:
        return
    running = {_component_flags.normalize(o.name) for o in comp.running_flags.occurrences} if comp.running_flags else set()
    names = []
    for occ in flags.occurrences:
        name = _component_flags.normalize(occ.name)
        if name not in names and name not in running and name not in ("h", "v"):
            names.append(name)
    have = minor_version(comp.version)
    shown = "version " + comp.version if comp.version else "an unknown version"
    verdicts = {n: _component_flags.verdict(comp.name, have if have else None, n) for n in names}
    unknown = [n for n in names if verdicts[n].status == "unknown"]
    if unknown and comp.fatal is None and have:
        comp.fatal = "the %s will not start: unknown flag %s (%s)" % (
            comp.name, ", ".join("--" + n for n in unknown), _reasons(verdicts, unknown))
        return
    # Version unknown: a flag some release refuses cannot be judged either way.
    unchecked = [n for n in names if verdicts[n].status != "known"]
    if not unchecked:
        return
    listed = ", ".join("--" + n for n in unchecked)
    if have:
        comp.notes.append("whether this %s (%s) accepts %s was not checked: %s" % (
            comp.name, shown, listed, _reasons(verdicts, unchecked)))
        return
    # e.g. "...: its version is unknown, and kubelet 1.28 refuses them"
    refused: t.Dict[str, t.List[str]] = {}
    for name in unchecked:
        releases = _component_flags.refused_by(comp.name, name)
        if releases:
            refused.setdefault(releases, []).append("--" + name)
    parts = []
    for releases, group in refused.items():
        them = ("them" if len(group) > 1 else "it") if group == ["--" + n for n in unchecked] else ", ".join(group)
        parts.append("%s %s refuses %s" % (comp.name, releases, them))
    comp.notes.append("whether this %s accepts %s was not checked: its version is unknown%s" % (
        comp.name, listed, ", and " + "; ".join(parts) if parts else ""))


def _reasons(verdicts: t.Mapping[str, t.Any], names: t.Sequence[str]) -> str:
    return "; ".join(dict.fromkeys(verdicts[n].reason for n in names))
