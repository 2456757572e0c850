# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.
"""Builders of catalog entries that share a shape: a rule on one flag, flags that must name files that exist,
a manual decision, an API server admission plugin, a component's profiling, bind address, insecure port, TLS
cipher suites or feature gate, a file's mode or owner, a live ports check. Each returns a plain Rule (_rule); the
catalog's data files name them (``builder:``), and _rule_loader calls them with the entry's other keys.
"""

from __future__ import annotations

import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils._check_specs import (
    AnonymousProbe,
    CheckSpec,
    CipherSuites,
    FeatureGate,
    FileMode,
    FileOwner,
    FileSet,
    FilesNamed,
    ListenerClosed,
    ListenerScope,
    Loopback,
    Manual,
    NoAnyAddress,
)
from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Rule


def flag_rule(
    id: str, cis: t.Optional[str], component: str, section: str, title: str, flag: str, operator: str,
    expected: t.Any, default: t.Any, fix: t.Any, severity: str = "medium", **kwargs: t.Any,
) -> Rule:
    """A rule on one command-line flag of a static-pod component (no config file)."""
    return Rule(
        id=id, cis=cis, component=component, section=section, title=title, severity=severity, flag=flag,
        operator=operator, expected=expected, default={"any": default} if default is not None else {},
        fix=fix, **kwargs,
    )


def profiling_rule(id: str, cis: str, component: str, section: str, who: str) -> Rule:
    """--profiling is false on a control-plane component (``who``: its name in the title)."""
    return flag_rule(
        id, cis, component, section, "%s --profiling is false" % who, "profiling", "eq", False, "true", False,
        severity="low", remediation="--profiling=false.", rationale="Profiling endpoints reveal internals and cost resources.",
    )


def bind_address_rule(id: str, cis: str, component: str, section: str, who: str, port: int) -> Rule:
    """--bind-address of a control-plane component that serves only health and metrics (``port``) is loopback."""
    return Rule(
        id=id, cis=cis, component=component, section=section, severity="high",
        title="%s --bind-address is 127.0.0.1 (absent means 0.0.0.0)" % who, flag="bind-address",
        expected="127.0.0.1 (loopback)", default={"any": "0.0.0.0"}, fix="127.0.0.1", check=Loopback(),
        remediation="--bind-address=127.0.0.1. When the flag is absent the secure port %d listens on every address." % port,
        rationale="The %s's /metrics and debug endpoints should not be reachable from the network."
                  % (who[0].lower() + who[1:]),
    )


def insecure_port_rule(id: str, component: str, section: str, who: str, flag: str, port: int, max_version: str,
                       severity: str, remediation: str, rationale: str) -> Rule:
    """The unauthenticated port (``port`` by default) of releases up to ``max_version`` is off: --<flag>=0. Newer
    releases have no such port (nor, later, the flag), so the rule does not apply to them and is never written."""
    first_without = "%s.%d" % (max_version.split(".")[0], int(max_version.split(".")[1]) + 1)
    return Rule(
        id=id, cis=None, component=component, section=section, severity=severity,
        title="%s insecure port is disabled (--%s=0; Kubernetes < %s)" % (who, flag, first_without), flag=flag,
        expected=0, default={"any": port}, fix=0, max_version=max_version, remediation=remediation, rationale=rationale,
    )


def cipher_suites_rule(id: str, cis: str, component: str, section: str, who: str, ciphers: t.Tuple[str, ...],
                       remediation: str, **kwargs: t.Any) -> Rule:
    """The component offers only ``ciphers`` (--tls-cipher-suites): the strong list is what is written."""
    return Rule(
        id=id, cis=cis, component=component, section=section, severity="medium",
        title="%s only uses strong cryptographic ciphers" % who, flag="tls-cipher-suites",
        expected="only " + ",".join(ciphers), fix=list(ciphers), check=CipherSuites(), remediation=remediation,
        rationale="Go's default list still offers CBC and non-forward-secret RSA key exchange suites.", **kwargs,
    )


def feature_gate_rule(id: str, cis: str, component: str, section: str, who: str, gate: str, severity: str,
                      remediation: str, rationale: str, **kwargs: t.Any) -> Rule:
    """A feature gate that is on by default is not turned off (--feature-gates); the fix sets it true."""
    return Rule(
        id=id, cis=cis, component=component, section=section, severity=severity,
        title="%s feature gate %s is true" % (who, gate), flag="feature-gates", expected="%s=true (default)" % gate,
        fix=True, check=FeatureGate(gate, default=True), remediation=remediation, rationale=rationale, **kwargs,
    )


ADMISSION_PLUGIN_STATES = {
    # state: (flag, operator, fix of the plugin named)
    "enabled": ("enable-admission-plugins", "contains", True),
    "not enabled": ("enable-admission-plugins", "not_contains", False),
    "not disabled": ("disable-admission-plugins", "not_contains", False),
}


def admission_plugin_rule(id: str, cis: str, section: str, plugin: str, state: str, severity: str,
                          rationale: str, remediation: t.Optional[str] = None, **kwargs: t.Any) -> Rule:
    """An API server admission plugin that must be ``enabled``, ``not enabled`` or ``not disabled`` (in, or
    absent from, --enable-admission-plugins / --disable-admission-plugins); the remediation of the last two is
    to remove it from the flag unless given."""
    flag, operator, adds = ADMISSION_PLUGIN_STATES[state]
    return flag_rule(
        id, cis, "kube-apiserver", section, "API server admission plugin %s is %s" % (plugin, state), flag, operator,
        plugin, "", plugin if adds else "", severity=severity, rationale=rationale,
        remediation=remediation or "Remove %s from --%s." % (plugin, flag), **kwargs,
    )


def files_named_rule(id: str, cis: str, title: str, flags: t.Tuple[str, ...], component: str, section: str,
                     remediation: str, rationale: str, severity: str = "high") -> Rule:
    """Flags that must name files (certificates, keys, CAs) that exist: checked, fixed by the operator."""
    return Rule(
        id=id, cis=cis, component=component, section=section, severity=severity, title=title,
        flag=flags[0], expected="%s set to files that exist" % ", ".join("--" + f for f in flags),
        automated=False, check=FilesNamed(flags), remediation=remediation, rationale=rationale,
    )


def manual_rule(id: str, cis: str, title: str, component: str, section: str, guidance: str, level: int = 1,
                severity: str = "medium", flag: t.Optional[str] = None, default_value: t.Optional[str] = None) -> Rule:
    return Rule(
        id=id, cis=cis, component=component, section=section, severity=severity, title=title, level=level,
        flag=flag, expected="decided by the operator", automated=False,
        check=Manual(guidance, default_value), remediation=guidance,
        rationale="CIS marks this check manual: the right setting depends on the cluster.",
    )


def file_mode_rule(id: str, cis: t.Optional[str], component: str, section: str, title: str, files: FileSet,
                   mode: str, remediation: str, rationale: str, severity: str = "medium", **kwargs: t.Any) -> Rule:
    """The files of ``files`` are ``mode`` (octal, e.g. "600") or stricter; the fix only takes bits away."""
    return Rule(
        id=id, cis=cis, component=component, section=section, severity=severity, title=title, expected=mode,
        fix="0" + mode, check=FileMode(files), remediation=remediation, rationale=rationale, **kwargs,
    )


def file_owner_rule(id: str, cis: t.Optional[str], component: str, section: str, title: str, files: FileSet,
                    remediation: str, rationale: str, owner: str = "root:root", severity: str = "medium",
                    run_as_of: t.Optional[str] = None, **kwargs: t.Any) -> Rule:
    """The files of ``files`` are owned by ``owner`` (or, with ``run_as_of``, by the account that component runs as)."""
    return Rule(
        id=id, cis=cis, component=component, section=section, severity=severity, title=title, expected=owner,
        fix=owner, check=FileOwner(files, run_as_of=run_as_of), remediation=remediation, rationale=rationale, **kwargs,
    )


def _live_expected(check: CheckSpec) -> str:
    if isinstance(check, ListenerScope):
        return ",".join(check.scopes)
    return {
        ListenerClosed: "not listening",
        AnonymousProbe: "connection refused, 401 or 403",
        NoAnyAddress: "none on all addresses except allowed ports",
    }[type(check)]


def live_check_rule(id: str, section: str, title: str, severity: str, check: CheckSpec, remediation: str,
                    rationale: str, related_rules: t.Tuple[str, ...] = ()) -> Rule:
    """A ports rule: judged live (what listens, what anonymous probes get) by _ports_evaluate, fixed by the areas its
    ``related_rules`` belong to; what a pass looks like (``expected``) follows from the check, and the loader
    (_rule_loader) fills ``related_cis`` from the related rules."""
    return Rule(id=id, title=title, component="ports", section=section, severity=severity,
                expected=_live_expected(check), automated=False, remediation=remediation, rationale=rationale,
                check=check, related_rules=related_rules)
