# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Catalog entries for the control plane: API server, controller manager, scheduler, etcd (CIS 1.x, 2.x)."""

from __future__ import annotations

import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Rule

API = "1.2 API Server"
FILES = "1.1 Control Plane Node Configuration Files"

RULES: t.Tuple[Rule, ...] = (
    Rule(
        id="apiserver-manifest-permissions",
        cis="1.1.1",
        title="API server pod specification file permissions are 600 or more restrictive",
        component="kube-apiserver",
        section=FILES,
        severity="medium",
        operator="mode_at_most",
        expected="600",
        fix="0600",
        extra={"file": "manifest"},
        remediation="chmod 600 on the kube-apiserver static pod manifest.",
        rationale="The manifest decides how the API server runs; only root may change it.",
    ),
    Rule(
        id="apiserver-manifest-ownership",
        cis="1.1.2",
        title="API server pod specification file ownership is root:root",
        component="kube-apiserver",
        section=FILES,
        severity="medium",
        operator="owner",
        expected="root:root",
        fix="root:root",
        extra={"file": "manifest"},
        remediation="chown root:root on the kube-apiserver static pod manifest.",
        rationale="The manifest decides how the API server runs; only root may own it.",
    ),
    Rule(
        id="apiserver-anonymous-auth",
        cis="1.2.1",
        title="API server anonymous requests are limited to health endpoints",
        component="kube-apiserver",
        section=API,
        severity="high",
        flag="anonymous-auth",
        operator="custom",
        expected="false, or anonymous limited to /livez, /readyz, /healthz",
        default={"any": "true"},
        fix="false",
        extra={"check": "apiserver_anonymous"},
        remediation=(
            "Kubernetes >= 1.32: an AuthenticationConfiguration (--authentication-config) that allows anonymous "
            "requests only on /livez, /readyz and /healthz, so the kubelet's probes keep working. Older versions: "
            "--anonymous-auth=false breaks kubeadm's anonymous liveness probes, so the fix is manual (see "
            "docs/user-guide.md) unless kubefort_apiserver_anonymous_auth_force is true."
        ),
        rationale="Anonymous requests reach whatever RBAC grants system:anonymous and system:unauthenticated.",
    ),
    Rule(
        id="apiserver-authorization-mode-not-alwaysallow",
        cis="1.2.6",
        title="API server --authorization-mode does not include AlwaysAllow",
        component="kube-apiserver",
        section=API,
        severity="critical",
        flag="authorization-mode",
        operator="not_contains",
        expected="AlwaysAllow",
        default={"any": "AlwaysAllow"},
        fix="Node,RBAC",
        remediation="Remove AlwaysAllow from --authorization-mode (Node,RBAC when nothing else remains).",
        rationale="AlwaysAllow lets every authenticated (and anonymous) request do anything.",
    ),
    Rule(
        id="apiserver-authorization-mode-node",
        cis="1.2.7",
        title="API server --authorization-mode includes Node",
        component="kube-apiserver",
        section=API,
        severity="high",
        flag="authorization-mode",
        operator="contains",
        expected="Node",
        default={"any": "AlwaysAllow"},
        fix="Node",
        extra={"insert": "first"},
        remediation="Add Node to --authorization-mode (first).",
        rationale="The Node authorizer limits each kubelet to the objects of its own node.",
    ),
    Rule(
        id="apiserver-authorization-mode-rbac",
        cis="1.2.8",
        title="API server --authorization-mode includes RBAC",
        component="kube-apiserver",
        section=API,
        severity="high",
        flag="authorization-mode",
        operator="contains",
        expected="RBAC",
        default={"any": "AlwaysAllow"},
        fix="RBAC",
        remediation="Add RBAC to --authorization-mode.",
        rationale="RBAC is how cluster access policy is expressed.",
    ),
)
