# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Custom checks of who a component trusts and how it proves itself: the kubelet's serving certificate (CIS
4.2.9) and etcd's own client CA (CIS 2.7); evaluators registered in _check_engines.CUSTOM."""

from __future__ import annotations

import os
import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils._check_specs import Custom
from ansible_collections.kubefort.hardening.plugins.module_utils._flags import parse_bool
from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Rule
from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import Component, Node
from ansible_collections.kubefort.hardening.plugins.plugin_utils._findings import Finding
from ansible_collections.kubefort.hardening.plugins.plugin_utils._node_options import NodeOptions
from ansible_collections.kubefort.hardening.plugins.plugin_utils._settings import lookup


def evaluate_kubelet_serving_cert(node: Node, comp: Component, rule: Rule, spec: Custom, expected: t.Any,
                                  options: NodeOptions) -> Finding:
    flags = comp.running_flags or comp.disk_flags
    cert = lookup(comp, rule, flags, "tls-cert-file", "tlsCertFile")
    key = lookup(comp, rule, flags, "tls-private-key-file", "tlsPrivateKeyFile")
    bootstrap = lookup(comp, rule, flags, "rotate-server-certificates", "serverTLSBootstrap")
    if parse_bool(bootstrap.value):
        return Finding(rule, "pass", "serverTLSBootstrap: true", bootstrap.source)
    if cert.value and key.value:
        return Finding(rule, "pass", "%s, %s" % (cert.value, key.value), "%s; %s" % (cert.source, key.source))
    return Finding(rule, "fail", cert.value or None, cert.source if cert.value else "not set",
                   message="the kubelet generates a self-signed serving certificate the API server cannot verify")


def evaluate_etcd_unique_ca(node: Node, comp: Component, rule: Rule, spec: Custom, expected: t.Any,
                            options: NodeOptions) -> Finding:
    flags = comp.running_flags or comp.disk_flags
    ca = lookup(comp, rule, flags)
    if not ca.value:
        return Finding(rule, "fail", None, "not set", message="etcd trusts no client CA (--trusted-ca-file)")
    api = node.components.get("kube-apiserver")
    api_flags = (api.running_flags or api.disk_flags) if api is not None and api.present else None
    client_ca = api_flags.value("client-ca-file") if api_flags is not None else None
    if client_ca and os.path.normpath(client_ca) == os.path.normpath(ca.value):
        return Finding(rule, "fail", ca.value, ca.source,
                       message="etcd trusts the API server's client CA %s: every cluster client certificate can reach etcd" % client_ca)
    if client_ca is None:
        return Finding(rule, "manual", ca.value, ca.source,
                       message="the API server does not run here: check that %s is not the cluster CA" % ca.value)
    return Finding(rule, "pass", ca.value, ca.source,
                   message="a different file from the API server's client CA %s (contents not compared)" % client_ca)
