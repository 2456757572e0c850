# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Catalog entries for the ports area (see _rule.Rule).

These rules look at the live node: what listens (``listening_ports``) and what anonymous requests get
(``port_probe``). The settings behind them (kubelet ``readOnlyPort``, ``--bind-address`` of the
controller manager and scheduler, kube-proxy bind addresses) are CIS checks owned by the node and
control-plane areas, which also fix them; so these rules carry only our IDs, and name the related CIS
IDs in ``related_cis`` (taken from the rules named in ``related_rules``). ``check`` is the spec _ports_evaluate
judges, and says what a pass looks like (``expected``):

- ``ListenerClosed``: nothing listens on its ports;
- ``ListenerScope``: everything on its ports is bound within its scopes (loopback, node, any);
- ``AnonymousProbe``: every anonymous probe of that name was denied;
- ``NoAnyAddress``: no other Kubernetes listener is bound to all addresses unless allowed.
"""

from __future__ import annotations

import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils._check_specs import (
    AnonymousProbe,
    CheckSpec,
    ListenerClosed,
    ListenerScope,
    NoAnyAddress,
)
from ansible_collections.kubefort.hardening.plugins.module_utils import _rules_control_plane, _rules_node
from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Rule

SECTION = "Ports and network exposure"

_SETTING_RULES = {rule.id: rule for rule in _rules_control_plane.RULES + _rules_node.RULES}


def _expected(check: CheckSpec) -> str:
    if isinstance(check, ListenerScope):
        return ",".join(check.scopes)
    return {
        ListenerClosed: "not listening",
        AnonymousProbe: "connection refused, 401 or 403",
        NoAnyAddress: "none on all addresses except allowed ports",
    }[type(check)]


def _live_check(id: str, title: str, severity: str, check: CheckSpec, remediation: str, rationale: str,
                related_rules: t.Tuple[str, ...] = ()) -> Rule:
    """A ports rule: judged live by _ports_evaluate, fixed by the areas its related rules belong to."""
    related_cis = tuple(_SETTING_RULES[r].cis for r in related_rules if _SETTING_RULES[r].cis)
    return Rule(id=id, title=title, component="ports", section=SECTION, severity=severity, expected=_expected(check),
                automated=False, remediation=remediation, rationale=rationale, check=check, related_cis=related_cis,
                related_rules=related_rules)


RULES: t.Tuple[Rule, ...] = (
    _live_check(
        "ports-kubelet-readonly-closed", "The kubelet read-only port 10255 does not listen", "high",
        ListenerClosed((10255,)),
        remediation="Set readOnlyPort: 0 in the kubelet config (or --read-only-port=0); the node role "
                    "fixes it (CIS 4.2.4). Until then, the ports firewall can block 10255.",
        rationale="The read-only port serves pod specs and node state to anyone, without authentication.",
        related_rules=("kubelet-read-only-port",),
    ),
    _live_check(
        "ports-kubelet-readonly-anonymous", "Anonymous GET /pods on the kubelet read-only port 10255 is refused",
        "high", AnonymousProbe("kubelet-readonly"),
        remediation="Set readOnlyPort: 0 in the kubelet config (CIS 4.2.4), or block 10255 with the ports "
                    "firewall (kubefort_ports_firewall).",
        rationale="An answer here hands every pod spec on the node, environment variables included, to "
                  "anyone who can reach the port.",
        related_rules=("kubelet-read-only-port",),
    ),
    _live_check(
        "ports-kubelet-api-anonymous", "Anonymous GET /pods on the kubelet API 10250 is refused", "critical",
        AnonymousProbe("kubelet-api"),
        remediation="Set authentication.anonymous.enabled: false and authorization.mode: Webhook in the "
                    "kubelet config (CIS 4.2.1, 4.2.2; the node role fixes them); allow 10250 only from the control "
                    "plane with the ports firewall.",
        rationale="Anonymous access to the kubelet API gives full control of the node's containers.",
        related_rules=("kubelet-anonymous-auth", "kubelet-authorization-mode"),
    ),
    _live_check(
        "ports-apiserver-anonymous", "Anonymous GET /api on the API server 6443 is refused", "high",
        AnonymousProbe("kube-apiserver"),
        remediation="Turn anonymous authentication off on the API server, or limit it to /livez, /readyz and "
                    "/healthz with an AuthenticationConfiguration (CIS 1.2.1; the control-plane role), and keep "
                    "RBAC from granting anything to system:anonymous.",
        rationale="Anonymous API requests expose discovery data and whatever RBAC grants to "
                  "system:anonymous.",
        related_rules=("apiserver-anonymous-auth",),
    ),
    _live_check(
        "ports-cadvisor-closed", "The kubelet cAdvisor ports 4149 and 4194 do not listen", "medium",
        ListenerClosed((4149, 4194)),
        remediation="Remove --cadvisor-port from the kubelet's flags (the port was removed in Kubernetes "
                    "1.12; a kubelet that still opens it is too old and must be upgraded).",
        rationale="cAdvisor serves container metrics and machine details without authentication.",
        related_rules=("kubelet-cadvisor-port",),
    ),
    _live_check(
        "ports-controller-manager-loopback", "The controller manager listens on loopback only", "medium",
        ListenerScope((10257, 10252), ("loopback",)),
        remediation="Set --bind-address=127.0.0.1 on kube-controller-manager (CIS 1.3.7; the control-plane "
                    "role fixes it).",
        rationale="Its health and metrics port needs no remote clients; exposing it widens the attack "
                  "surface of the control plane.",
        related_rules=("controller-manager-bind-address",),
    ),
    _live_check(
        "ports-scheduler-loopback", "The scheduler listens on loopback only", "medium",
        ListenerScope((10259, 10251), ("loopback",)),
        remediation="Set --bind-address=127.0.0.1 on kube-scheduler (CIS 1.4.2; the control-plane role "
                    "fixes it).",
        rationale="Its health and metrics port needs no remote clients.",
        related_rules=("scheduler-bind-address",),
    ),
    _live_check(
        "ports-kube-proxy-healthz-binding",
        "The kube-proxy health server 10256 is bound as configured (not to all addresses)", "medium",
        ListenerScope((10256,), ("loopback", "node"), option="kube_proxy_healthz_scopes"),
        remediation="Set healthzBindAddress in the kube-proxy configuration to the node address (when load "
                    "balancers check it) or 127.0.0.1 (the node role); limit its sources with the ports firewall.",
        rationale="Load balancers may need the health port; the rest of the network does not.",
        related_rules=("kube-proxy-healthz-bind-address",),
    ),
    _live_check(
        "ports-kube-proxy-metrics-binding",
        "The kube-proxy metrics server 10249 is bound as configured (loopback by default)", "medium",
        ListenerScope((10249,), ("loopback",), option="kube_proxy_metrics_scopes"),
        remediation="Set metricsBindAddress in the kube-proxy configuration to 127.0.0.1:10249 (the node "
                    "role), or to the node address when a scraper needs it and the firewall limits it.",
        rationale="The metrics server has no authentication.",
        related_rules=("kube-proxy-metrics-bind-address",),
    ),
    _live_check(
        "ports-felix-health-loopback", "The calico-felix health server 9099 listens on loopback only", "medium",
        ListenerScope((9099,), ("loopback",)),
        remediation="Set FELIX_HEALTHHOST=127.0.0.1 (FelixConfiguration healthHost) on calico-node.",
        rationale="A reachable felix health server can be used to disturb the network plugin on the node.",
    ),
    _live_check(
        "ports-no-any-address", "No other Kubernetes listener is bound to all addresses unless allowed", "medium",
        NoAnyAddress(),
        remediation="Bind the component to 127.0.0.1 or the node address, or list the port in "
                    "kubefort_ports_allow_any_address and limit its sources with the ports firewall.",
        rationale="A listener on 0.0.0.0 or [::] is reachable on every interface, including ones added later.",
    ),
)
