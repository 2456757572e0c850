# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The argument spec of the node_harden action, shared by the action plugin and its documentation module."""

from __future__ import annotations

import typing as t

COMPONENTS = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kubelet", "kube-proxy"]

ARGUMENT_SPEC: t.Dict[str, t.Dict[str, t.Any]] = {
    "root": {"type": "path", "default": "/"},
    "components": {"type": "list", "elements": "str", "required": True, "choices": COMPONENTS},
    "rules": {"type": "list", "elements": "str", "default": []},
    "skip_rules": {"type": "list", "elements": "str", "default": []},
    "overrides": {"type": "dict", "default": {}},
    "waivers": {"type": "list", "elements": "dict", "default": []},
    "level": {"type": "int", "default": 1, "choices": [1, 2]},
    "remediate": {"type": "bool", "default": True},
    "backup_dir": {"type": "str", "default": "/var/lib/kubefort/backups"},
    "apiserver_anonymous_auth_force": {"type": "bool", "default": False},
    "apiserver_probes_tcp": {"type": "bool", "default": False},
    "supplied": {"type": "dict", "default": {}},
    "benchmark": {"type": "str", "default": "auto", "choices": ["auto", "cis-1.12", "cis-2.0"]},
    "role": {"type": "str", "choices": ["control_plane", "node"]},
    "ports": {"type": "dict"},
    "defer_restarts": {"type": "bool", "default": False},
    "defer_writes": {"type": "bool", "default": False},
    "restarts": {"type": "bool", "default": True},
    "rollout_group": {"type": "str"},
}
