# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Where each Kubernetes distribution keeps its node settings, in one table.

Every layout names the files, directories, units and processes that decide its components' settings.
Round one of discovery asks for the union of all layouts (paths that do not exist cost nothing), so an
audit needs one ``node_facts`` round trip, two when a flag names a file outside these places.

How each layout expresses a component's flags (``Layout.settings``):

- ``manifest``: a static pod manifest's ``command``/``args`` (kubeadm, kubespray control plane);
- ``unit``: a systemd unit with its drop-ins and environment files (kubelet everywhere but k3s, rke2 and
  microk8s; kubespray's etcd, whose ``ETCD_*`` variables live in ``/etc/etcd.env``);
- ``rancher``: ``/etc/rancher/{k3s,rke2}/config.yaml`` and ``config.yaml.d/*.yaml`` list entries
  (``kubelet-arg``, ``kube-apiserver-arg`` ...), applied after the distribution's own defaults;
- ``args_file``: microk8s ``/var/snap/microk8s/current/args/<component>``, one flag per line.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from ansible_collections.kubefort.hardening.plugins.plugin_utils import _dist_eks, _dist_kubeadm, _dist_microk8s, _dist_rancher
from ansible_collections.kubefort.hardening.plugins.plugin_utils._dist_base import (  # noqa: F401 (the layout names, for everyone)
    EKS,
    K3S,
    KUBEADM,
    KUBESPRAY,
    MICROK8S,
    RANCHER,
    RKE2,
    Distribution,
)
from ansible_collections.kubefort.hardening.plugins.plugin_utils._dist_rancher import K3S_DIST, RANCHER_DISTS, RKE2_DIST

MICROK8S_ARGS = "/var/snap/microk8s/current/args"
MICROK8S_SNAP_DATA = "/var/snap/microk8s/current"
MICROK8S_SNAP_COMMON = "/var/snap/microk8s/common"


@dataclass(frozen=True)
class Layout:
    """One distribution's node layout: what identifies it and what discovery reads in round one."""

    name: str
    description: str
    markers: t.Tuple[str, ...]  # a node path whose presence identifies the layout
    read: t.Tuple[str, ...] = ()
    stat: t.Tuple[str, ...] = ()
    listdirs: t.Tuple[str, ...] = ()
    units: t.Tuple[str, ...] = ()
    processes: t.Tuple[str, ...] = ()
    # component -> how its flags are written (see the module docstring)
    settings: t.Mapping[str, str] = field(default_factory=dict)
    # components whose settings are cluster-side (a DaemonSet and its ConfigMap), not on the node
    cluster_side: t.Mapping[str, str] = field(default_factory=dict)


# Files nodeadm (EKS AL2023) regenerates at every boot: remediation writes its own drop-in instead.
NODEADM_GENERATED = ("/etc/kubernetes/kubelet/config.json", "/etc/kubernetes/kubelet/config.json.d/00-nodeadm.conf")

MICROK8S_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")

LAYOUTS: t.Tuple[Layout, ...] = (
    Layout(
        name=KUBEADM,
        description="kubeadm: static pods in /etc/kubernetes/manifests, kubelet unit + kubeadm-flags.env + /var/lib/kubelet/config.yaml",
        markers=("/var/lib/kubelet/kubeadm-flags.env",),
        read=(
            "/etc/kubernetes/manifests/*.yaml",
            "/etc/kubernetes/manifests/*.yml",
            "/etc/kubernetes/manifests/*.json",
            "/var/lib/kubelet/config.yaml",
            "/var/lib/kubelet/kubeadm-flags.env",
            "/etc/default/kubelet",
            "/etc/sysconfig/kubelet",
        ),
        stat=("/etc/kubernetes/**", "/var/lib/kubelet/config.yaml"),
        listdirs=("/etc/kubernetes/manifests",),
        units=("kubelet.service", "kube-proxy.service"),
        processes=("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kubelet", "kube-proxy"),
        settings={"kubelet": "unit", "kube-proxy": "unit", "default": "manifest"},
        cluster_side={"kube-proxy": "the kube-proxy DaemonSet reads the kube-system/kube-proxy ConfigMap"},
    ),
    Layout(
        name=KUBESPRAY,
        description="kubespray: kubeadm static pods, kubelet.env + /etc/kubernetes/kubelet-config.yaml, etcd as a systemd unit with /etc/etcd.env",
        markers=("/etc/kubernetes/kubelet.env", "/etc/etcd.env"),
        read=("/etc/kubernetes/kubelet.env", "/etc/kubernetes/kubelet-config.yaml", "/etc/etcd.env"),
        stat=("/etc/ssl/etcd/ssl/*", "/etc/etcd.env"),
        units=("etcd.service",),
        settings={"kubelet": "unit", "etcd": "unit", "default": "manifest"},
        cluster_side={"kube-proxy": "the kube-proxy DaemonSet reads the kube-system/kube-proxy ConfigMap"},
    ),
    Layout(
        name=K3S,
        description="k3s: /etc/rancher/k3s/config.yaml(+.d) <component>-arg lists over k3s defaults; one k3s process",
        markers=("/etc/rancher/k3s/config.yaml", "/etc/systemd/system/k3s.service", "/etc/systemd/system/k3s-agent.service"),
        read=(
            K3S_DIST.config,
            K3S_DIST.config_dir + "/*.yaml",
            K3S_DIST.config_dir + "/*.yml",
            K3S_DIST.kubelet_config_dir + "/*.conf",
            K3S_DIST.data_dir + "/server/db/etcd/config",
        ),
        # Certificates, keys and kubeconfigs the file rules check: stat only, never read.
        stat=("/etc/rancher/k3s/**", K3S_DIST.data_dir + "/server/tls/**", K3S_DIST.data_dir + "/server/cred/*",
              K3S_DIST.data_dir + "/agent/*"),
        listdirs=(K3S_DIST.config_dir, K3S_DIST.kubelet_config_dir),
        units=K3S_DIST.server_units + K3S_DIST.agent_units,
        processes=K3S_DIST.programs,
        settings={"default": "rancher"},
    ),
    Layout(
        name=RKE2,
        description="RKE2: /etc/rancher/rke2/config.yaml(+.d) <component>-arg lists; generated static pods in agent/pod-manifests (read-only)",
        markers=("/etc/rancher/rke2/config.yaml", "/usr/local/lib/systemd/system/rke2-server.service",
                 "/usr/lib/systemd/system/rke2-server.service", "/usr/local/lib/systemd/system/rke2-agent.service",
                 "/usr/lib/systemd/system/rke2-agent.service"),
        read=(
            RKE2_DIST.config,
            RKE2_DIST.config_dir + "/*.yaml",
            RKE2_DIST.config_dir + "/*.yml",
            RKE2_DIST.kubelet_config_dir + "/*.conf",
            "/var/lib/rancher/rke2/agent/pod-manifests/*.yaml",
            RKE2_DIST.data_dir + "/server/db/etcd/config",
            # Files RKE2 writes and its API server manifest names (never rke2.yaml: it holds keys).
            "/etc/rancher/rke2/rke2-pss.yaml",
            "/etc/rancher/rke2/audit-policy.yaml",
        ),
        # Certificates, keys and kubeconfigs the file rules check: stat only, never read.
        stat=("/etc/rancher/rke2/**", RKE2_DIST.data_dir + "/server/tls/**", RKE2_DIST.data_dir + "/server/cred/*",
              RKE2_DIST.data_dir + "/agent/*"),
        listdirs=(RKE2_DIST.config_dir, RKE2_DIST.kubelet_config_dir, "/var/lib/rancher/rke2/agent/pod-manifests"),
        units=RKE2_DIST.server_units + RKE2_DIST.agent_units,
        processes=RKE2_DIST.programs,
        settings={"default": "rancher"},
    ),
    Layout(
        name=MICROK8S,
        description="microk8s: one flag per line in /var/snap/microk8s/current/args/<component>",
        markers=(MICROK8S_ARGS + "/kubelet", MICROK8S_ARGS + "/kube-apiserver"),
        # The args files, and the YAML configs they name from the same directory (admission control).
        read=tuple(MICROK8S_ARGS + "/" + c for c in MICROK8S_COMPONENTS) + (MICROK8S_ARGS + "/*.yaml",),
        stat=(MICROK8S_ARGS + "/*", MICROK8S_SNAP_DATA + "/certs/**", MICROK8S_SNAP_DATA + "/credentials/*"),
        processes=("kubelite",),
        settings={"default": "args_file"},
    ),
    Layout(
        name=EKS,
        description="EKS workers: JSON kubelet config /etc/kubernetes/kubelet/{kubelet-config.json (AL2), config.json + config.json.d (AL2023)}",
        markers=("/etc/kubernetes/kubelet/kubelet-config.json", "/etc/kubernetes/kubelet/config.json", "/etc/eks/kubelet/environment"),
        read=(
            "/etc/kubernetes/kubelet/kubelet-config.json",
            "/etc/kubernetes/kubelet/config.json",
            "/etc/kubernetes/kubelet/config.json.d/*.conf",
            "/etc/eks/kubelet/environment",
        ),
        stat=("/etc/kubernetes/kubelet/**", "/var/lib/kubelet/kubeconfig"),
        listdirs=("/etc/kubernetes/kubelet/config.json.d",),
        settings={"kubelet": "unit", "default": "manifest"},
        cluster_side={"kube-proxy": "the kube-proxy add-on DaemonSet reads the kube-system/kube-proxy-config ConfigMap"},
    ),
)
BY_NAME = {layout.name: layout for layout in LAYOUTS}
# Most specific first: kubespray also has kubeadm's files, RKE2 also has static pods.
DETECTION_ORDER = (K3S, RKE2, MICROK8S, EKS, KUBESPRAY, KUBEADM)


def first_request() -> t.Dict[str, t.List[str]]:
    """Round one of discovery: every layout's files, listings, units and processes."""
    request: t.Dict[str, t.List[str]] = {"read": [], "stat": [], "list": [], "units": [], "processes": []}
    for layout in LAYOUTS:
        for key, values in (("read", layout.read), ("stat", layout.stat), ("list", layout.listdirs),
                            ("units", layout.units), ("processes", layout.processes)):
            request[key].extend(v for v in values if v not in request[key])
    return request


def detect(files: t.Mapping[str, t.Mapping[str, t.Any]], units: t.Mapping[str, t.Mapping[str, t.Any]],
           processes: t.Mapping[str, t.Any]) -> t.Optional[str]:
    """The layout whose markers are on the node (files, unit files or running programs)."""

    def exists(path: str) -> bool:
        return files.get(path, {}).get("type") not in (None, "missing", "unknown")

    unit_paths = {str(u.get("unit")) for u in units.values() if u.get("unit")}
    for name in DETECTION_ORDER:
        layout = BY_NAME[name]
        if any(exists(m) or m in unit_paths for m in layout.markers):
            return name
        if name in RANCHER:
            dist = RANCHER_DISTS[name]
            if any(units.get(u, {}).get("unit") for u in dist.server_units + dist.agent_units):
                return name
            if any(processes.get(p) for p in dist.programs):
                return name
        if name == MICROK8S and processes.get("kubelite"):
            return name
    return None


def settings_kind(layout: str, component: str) -> str:
    kinds = BY_NAME[layout].settings if layout in BY_NAME else {}
    return kinds.get(component, kinds.get("default", "manifest" if component != "kubelet" else "unit"))


# How each layout's settings are written: the distribution module's writers (generic nodes: systemd units
# and static pods, as kubeadm).
DISTRIBUTIONS: t.Mapping[str, Distribution] = {
    KUBEADM: _dist_kubeadm.DISTRIBUTION,
    KUBESPRAY: _dist_kubeadm.DISTRIBUTION,
    K3S: _dist_rancher.DISTRIBUTION,
    RKE2: _dist_rancher.DISTRIBUTION,
    MICROK8S: _dist_microk8s.DISTRIBUTION,
    EKS: _dist_eks.DISTRIBUTION,
}


def distribution(layout: str) -> Distribution:
    return DISTRIBUTIONS.get(layout, _dist_kubeadm.DISTRIBUTION)
