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
    line_of,
    load,
)

AUTHN_CONFIG_PATH = "/etc/kubernetes/kubefort/authentication-config.yaml"
HEALTH_PATHS = ("/livez", "/readyz", "/healthz")
# The anonymous section exists from v1alpha1 in 1.31, v1beta1 in 1.32 and v1 in 1.34.
API_VERSIONS = ("apiserver.config.k8s.io/v1alpha1", "apiserver.config.k8s.io/v1beta1", "apiserver.config.k8s.io/v1")


@dataclass
class AnonymousPolicy:
    configured: bool = False
    enabled: bool = True
    paths: t.List[str] = field(default_factory=list)
    error: str = ""
    line: t.Optional[int] = None


def anonymous_policy(entry: t.Mapping[str, t.Any], path: t.Optional[str]) -> AnonymousPolicy:
    """The anonymous section of an AuthenticationConfiguration file, as read by node_facts."""
    if "content" not in entry:
        return AnonymousPolicy(error="--authentication-config names %s, which %s" % (
            path, "cannot be read: " + entry["error"] if entry.get("error") else "does not exist"))
    try:
        data, root = load(entry["content"], str(path))
    except YAMLEditError as exc:
        return AnonymousPolicy(error=str(exc))
    if not isinstance(data, dict) or data.get("kind") != "AuthenticationConfiguration" or data.get("apiVersion") not in API_VERSIONS:
        return AnonymousPolicy(error="%s is not an AuthenticationConfiguration (%s): the API server does not start with it"
                               % (path, ", ".join(API_VERSIONS)))
    anonymous = data.get("anonymous")
    if anonymous is None:
        return AnonymousPolicy(configured=False)
    if not isinstance(anonymous, dict):
        return AnonymousPolicy(error="%s: anonymous is not a mapping" % path)
    conditions = anonymous.get("conditions") or []
    if not isinstance(conditions, list) or not all(isinstance(c, dict) and c.get("path") for c in conditions):
        return AnonymousPolicy(error="%s: every anonymous.conditions entry needs a path" % path)
    paths = [str(c.get("path")) for c in conditions]
    return AnonymousPolicy(configured=True, enabled=anonymous.get("enabled") is True, paths=paths,
                           line=line_of(root, ("anonymous",)))


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
