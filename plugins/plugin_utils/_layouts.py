# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The distributions kubefort knows, in one registry: each layout, how it is recognised, and its module.

Each distribution module (``_dist_*.py``) declares its layouts (``_dist_base.Layout``: markers, what round
one of discovery reads, stats and lists, how each component's flags are written, what is cluster-side)
and pairs how they are read (``build``) with how fixes are written (``_dist_base.Distribution``). Round
one asks for the union of all layouts (paths that do not exist cost nothing), so an audit needs one
``node_facts`` round trip, two when a flag names a file outside these places.
"""

from __future__ import annotations

import typing as t

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
    Layout,
)

# Every distribution module, in the order round one asks for their places.
DISTRIBUTION_MODULES = (_dist_kubeadm, _dist_rancher, _dist_microk8s, _dist_eks)
LAYOUTS: t.Tuple[Layout, ...] = tuple(layout for module in DISTRIBUTION_MODULES for layout in module.DISTRIBUTION.layouts)
# layout -> the distribution that reads and writes it
DISTRIBUTIONS: t.Mapping[str, Distribution] = {
    layout.name: module.DISTRIBUTION for module in DISTRIBUTION_MODULES for layout in module.DISTRIBUTION.layouts}
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
            dist = _dist_rancher.RANCHER_DISTS[name]
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


def distribution(layout: str) -> Distribution:
    """How a layout is read and written; a generic node (systemd units, static pods) as kubeadm's."""
    return DISTRIBUTIONS.get(layout, _dist_kubeadm.DISTRIBUTION)
