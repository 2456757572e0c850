# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The options of one node run: the policy every area shares (module_utils/_policy), and the node area's own."""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from ansible_collections.kubefort.hardening.plugins.module_utils._policy import Policy


@dataclass(frozen=True)
class NodeOptions(Policy):
    """One node run's options: the policy every area shares, and what only node rules use."""

    remediate: bool = True
    apiserver_anonymous_force: bool = False
    # Opt-in (Kubernetes < 1.32 with kubeadm's anonymous httpGet probes): tcpSocket probes and --anonymous-auth=false.
    apiserver_probes_tcp: bool = False
    # Content the operator supplies for fixes that need it, keyed by the SuppliedFile spec's ``input``.
    supplied: t.Mapping[str, str] = field(default_factory=dict)
    # kubefort_benchmark: auto (by the host's version), cis-1.12 or cis-2.0.
    benchmark: str = "auto"
