# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The API server's AuthenticationConfiguration: what it allows anonymously, and the file kubefort writes.

Anonymous access limited to paths (KEP-4633) is beta and on by default in Kubernetes 1.32 and GA in 1.34;
the configuration's API is apiserver.config.k8s.io/v1beta1 before 1.34 and v1 from 1.34.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from ansible_collections.kubefort.hardening.plugins.plugin_utils._yaml_edit import (
    YAMLEditError,
    load,
)

AUTHN_CONFIG_PATH = "/etc/kubernetes/kubefort/authentication-config.yaml"
HEALTH_PATHS = ("/livez", "/readyz", "/healthz")


@dataclass
class AnonymousPolicy:
    configured: bool = False
    enabled: bool = True
    paths: t.List[str] = field(default_factory=list)
    error: str = ""


def anonymous_policy(entry: t.Mapping[str, t.Any], path: t.Optional[str]) -> AnonymousPolicy:
    """The anonymous section of an AuthenticationConfiguration file, as read by node_facts."""
    if "content" not in entry:
        return AnonymousPolicy(error="--authentication-config names %s, which %s" % (
            path, "cannot be read: " + entry["error"] if entry.get("error") else "does not exist"))
    try:
        data, _root = load(entry["content"], str(path))
    except YAMLEditError as exc:
        return AnonymousPolicy(error=str(exc))
    anonymous = (data or {}).get("anonymous") if isinstance(data, dict) else None
    if not isinstance(anonymous, dict):
        return AnonymousPolicy(configured=False)
    paths = [str(c.get("path")) for c in anonymous.get("conditions") or [] if isinstance(c, dict)]
    return AnonymousPolicy(configured=True, enabled=bool(anonymous.get("enabled")), paths=paths)


def authentication_config_text(version: t.Tuple[int, ...]) -> str:
    api = "apiserver.config.k8s.io/v1" if version >= (1, 34) else "apiserver.config.k8s.io/v1beta1"
    lines = [
        "# Written by kubefort.hardening (CIS 1.2.1): anonymous requests only for health checks,",
        "# so the kubelet's probes keep working and nothing else is reachable without credentials.",
        "apiVersion: %s" % api,
        "kind: AuthenticationConfiguration",
        "anonymous:",
        "  enabled: true",
        "  conditions:",
    ] + ["  - path: %s" % p for p in HEALTH_PATHS]
    return "\n".join(lines) + "\n"
