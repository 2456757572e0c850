# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Catalog entries for the worker node: kubelet and kube-proxy (CIS 4.x)."""

from __future__ import annotations

import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Rule

FILES = "4.1 Worker Node Configuration Files"
KUBELET = "4.2 Kubelet"

RULES: t.Tuple[Rule, ...] = (
    Rule(
        id="kubelet-config-permissions",
        cis="4.1.9",
        title="kubelet config file permissions are 600 or more restrictive",
        component="kubelet",
        section=FILES,
        severity="medium",
        operator="mode_at_most",
        expected="600",
        fix="0600",
        extra={"file": "config"},
        remediation="chmod 600 on the file the kubelet's --config names.",
        rationale="The config file decides the kubelet's authentication and authorization.",
    ),
    Rule(
        id="kubelet-config-ownership",
        cis="4.1.10",
        title="kubelet config file ownership is root:root",
        component="kubelet",
        section=FILES,
        severity="medium",
        operator="owner",
        expected="root:root",
        fix="root:root",
        extra={"file": "config"},
        remediation="chown root:root on the file the kubelet's --config names.",
        rationale="The config file decides the kubelet's authentication and authorization.",
    ),
    Rule(
        id="kubelet-anonymous-auth",
        cis="4.2.1",
        title="kubelet anonymous authentication is disabled",
        component="kubelet",
        section=KUBELET,
        severity="critical",
        flag="anonymous-auth",
        config_key="authentication.anonymous.enabled",
        operator="eq",
        expected=False,
        default={"flags": True, "config": False},
        fix=False,
        remediation="authentication.anonymous.enabled: false (or --anonymous-auth=false where the flag is set).",
        rationale="Anonymous requests to the kubelet API on 10250 can read pods and, with AlwaysAllow, run commands.",
    ),
    Rule(
        id="kubelet-authorization-mode",
        cis="4.2.2",
        title="kubelet authorization mode is not AlwaysAllow",
        component="kubelet",
        section=KUBELET,
        severity="critical",
        flag="authorization-mode",
        config_key="authorization.mode",
        operator="noteq",
        expected="AlwaysAllow",
        default={"flags": "AlwaysAllow", "config": "Webhook"},
        fix="Webhook",
        remediation="authorization.mode: Webhook (or --authorization-mode=Webhook where the flag is set).",
        rationale="With AlwaysAllow every request that reaches the kubelet API is allowed, exec included.",
    ),
    Rule(
        id="kubelet-read-only-port",
        cis="4.2.4",
        title="kubelet read-only port is disabled",
        component="kubelet",
        section=KUBELET,
        severity="high",
        flag="read-only-port",
        config_key="readOnlyPort",
        operator="eq",
        expected=0,
        default={"flags": 10255, "config": 0},
        fix=0,
        remediation="readOnlyPort: 0 (or --read-only-port=0 where the flag is set).",
        rationale="Port 10255 serves pod and node details without authentication.",
    ),
)
