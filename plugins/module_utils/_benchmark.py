# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The CIS Kubernetes Benchmarks kubefort knows, their IDs, and which one applies to a Kubernetes version.

CIS Kubernetes Benchmark v1.12 covers Kubernetes 1.32-1.34, v2.0 (v2.0.1) covers 1.34-1.35. kube-bench's
``cfg/cis-2.0`` (main branch, aquasecurity/kube-bench#2126) keeps every check of ``cfg/cis-1.12`` under
the same ID - 1.1.1-1.1.21, 1.2.1-1.2.30, 1.3.1-1.3.7, 1.4.1-1.4.2, 2.1-2.7, 3.1.1-3.2.2, 4.1.1-4.3.1,
5.1.1-5.6.4 - and only rewords remediation text (1.2.29). Nothing was added, removed or renumbered, and
no check reads the structured configuration files (--authentication-config, --authorization-config).
``RENUMBERED`` is where an ID that differs between the two would go.
"""

from __future__ import annotations

import typing as t

CIS_1_12 = "cis-1.12"
CIS_2_0 = "cis-2.0"
BENCHMARKS = (CIS_1_12, CIS_2_0)
AUTO = "auto"
CHOICES = (AUTO,) + BENCHMARKS
DEFAULT = CIS_1_12

# Kubernetes minor -> benchmark, the way kube-bench's version_mapping lists them. 1.34 is in the scope of
# both; the newer benchmark is taken. kube-bench looks a version up by major.minor and, when it is not in
# the table, steps the minor version down until one is (so 1.36 gets cis-2.0).
VERSION_MAPPING: t.Mapping[str, str] = {
    "1.32": CIS_1_12,
    "1.33": CIS_1_12,
    "1.34": CIS_2_0,
    "1.35": CIS_2_0,
}
# cis-1.12 ID -> cis-2.0 ID where they differ (None: the check is gone). Empty: kube-bench's cfg/cis-2.0
# has the same IDs.
RENUMBERED: t.Mapping[str, t.Optional[str]] = {}
# cis-2.0 IDs that cis-1.12 does not have (none).
ADDED: t.Tuple[str, ...] = ()


def references(cis_1_12: t.Optional[str]) -> t.Dict[str, str]:
    """The rule's ID in every benchmark that has the check."""
    if not cis_1_12:
        return {}
    refs = {CIS_1_12: cis_1_12}
    newer = RENUMBERED.get(cis_1_12, cis_1_12)
    if newer:
        refs[CIS_2_0] = newer
    return refs


def minor(version: t.Optional[str]) -> t.Optional[t.Tuple[int, int]]:
    """(1, 32) for '1.32.4', 'v1.32.4+k3s1' or '1.32'; None when it is not a version."""
    if not version:
        return None
    parts = str(version).lstrip("v").split("+", 1)[0].split("-", 1)[0].split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (ValueError, IndexError):
        return None


def select(setting: str, version: t.Optional[str]) -> t.Tuple[str, str]:
    """The benchmark for a host and why: (benchmark, reason)."""
    if setting in BENCHMARKS:
        return setting, "set by kubefort_benchmark"
    if setting != AUTO:
        raise ValueError("kubefort_benchmark must be one of %s, not %r" % (", ".join(CHOICES), setting))
    found = minor(version)
    if found is None:
        return DEFAULT, ("Kubernetes version unknown: %s, the benchmark for the oldest Kubernetes releases kubefort has "
                         "one for (1.32-1.34); its IDs are the same as cis-2.0's. Set kubefort_benchmark to choose" % DEFAULT)
    lowest = min(minor(k) or (0, 0) for k in VERSION_MAPPING)
    major, number = found
    if (major, number) < lowest:
        return DEFAULT, ("Kubernetes %s is older than every benchmark kubefort carries; %s (Kubernetes 1.32-1.34) is the "
                         "closest" % (version, DEFAULT))
    while number >= 0:
        key = "%d.%d" % (major, number)
        if key in VERSION_MAPPING:
            chosen = VERSION_MAPPING[key]
            how = "" if number == found[1] else " (the newest mapped release below %d.%d)" % found
            return chosen, "Kubernetes %s maps to %s%s" % (version, chosen, how)
        number -= 1
    return DEFAULT, "Kubernetes %s is not in the benchmark mapping; %s used" % (version, DEFAULT)
