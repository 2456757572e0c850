# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The one registry of node checks: each spec type of _check_specs and what the controller does with it.

For every spec type: ``evaluate`` (the node and component in, a Finding out), ``paths`` (what discovery
must stat beyond its first round for the check to be judged) and ``transform`` (the value a flag or config
edit writes, given the current value: the Planner folds every finding on one flag through it). A ``Custom``
spec names its evaluator in ``CUSTOM``. A spec type, a custom evaluator or a catalog rule without an entry
fails when this module is imported, not when a rule meets it.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from ansible_collections.kubefort.hardening.plugins.plugin_utils import _catalog
from ansible_collections.kubefort.hardening.plugins.module_utils._check_specs import (
    NODE_SPECS,
    AdmissionPluginConfig,
    AuthorizationMode,
    CheckSpec,
    CipherSuites,
    Compare,
    Custom,
    DurationNonZero,
    FeatureGate,
    FileMode,
    FileOwner,
    FilesNamed,
    Loopback,
    Manual,
    SuppliedFile,
)
from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Rule
from ansible_collections.kubefort.hardening.plugins.plugin_utils import (
    _check_apiserver,
    _check_certificates,
    _check_files,
    _check_settings,
)
from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import Component, Node
from ansible_collections.kubefort.hardening.plugins.plugin_utils._findings import Finding
from ansible_collections.kubefort.hardening.plugins.plugin_utils._node_options import NodeOptions
from ansible_collections.kubefort.hardening.plugins.plugin_utils._settings import operator_transform

Evaluate = t.Callable[[Node, Component, Rule, t.Any, t.Any, NodeOptions], Finding]
Paths = t.Callable[[Node, Component, Rule, t.Any], t.List[str]]
Transform = t.Callable[[Rule, t.Optional[str], t.Any], t.Any]


def _no_paths(node: Node, comp: Component, rule: Rule, spec: t.Any) -> t.List[str]:
    return []


def _operator(rule: Rule, current: t.Optional[str], expected: t.Any) -> t.Any:
    return operator_transform(rule, current, expected, bool(getattr(rule.check, "insert_first", False)))


@dataclass(frozen=True)
class CheckEngine:
    """What the controller does with one spec type (see the module's docstring)."""

    evaluate: Evaluate
    paths: Paths = _no_paths
    transform: Transform = _operator


ENGINES: t.Dict[t.Type[CheckSpec], CheckEngine] = {
    Compare: CheckEngine(_check_settings.evaluate_compare),
    AuthorizationMode: CheckEngine(_check_settings.evaluate_authorization_mode),
    DurationNonZero: CheckEngine(_check_settings.evaluate_duration, transform=_check_settings.duration_transform),
    CipherSuites: CheckEngine(_check_settings.evaluate_ciphers, transform=_check_settings.ciphers_transform),
    FeatureGate: CheckEngine(_check_settings.evaluate_feature_gate, transform=_check_settings.feature_gate_transform),
    Loopback: CheckEngine(_check_settings.evaluate_loopback, transform=_check_settings.loopback_transform),
    Manual: CheckEngine(_check_settings.evaluate_manual),
    FilesNamed: CheckEngine(_check_files.evaluate_files_named, paths=_check_files.files_named_paths),
    FileMode: CheckEngine(_check_files.evaluate_file_mode, paths=_check_files.file_set_paths),
    FileOwner: CheckEngine(_check_files.evaluate_file_owner, paths=_check_files.file_set_paths),
    SuppliedFile: CheckEngine(_check_apiserver.evaluate_supplied_file, paths=_check_apiserver.supplied_file_paths),
    AdmissionPluginConfig: CheckEngine(_check_apiserver.evaluate_admission_config,
                                       paths=_check_apiserver.admission_config_paths),
    Custom: CheckEngine(lambda node, comp, rule, spec, expected, options: CUSTOM[spec.evaluator](
        node, comp, rule, spec, expected, options)),
}

# The evaluators a Custom spec names.
CUSTOM: t.Dict[str, Evaluate] = {
    "apiserver_anonymous": _check_apiserver.evaluate_apiserver_anonymous,
    "audit_log_path": _check_apiserver.evaluate_audit_log_path,
    "encryption_providers": _check_apiserver.evaluate_encryption_providers,
    "kubelet_serving_cert": _check_certificates.evaluate_kubelet_serving_cert,
    "etcd_unique_ca": _check_certificates.evaluate_etcd_unique_ca,
}

NODE_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kubelet", "kube-proxy")


def check_registry(rules: t.Iterable[Rule] = _catalog.ALL_RULES) -> None:
    """Every node spec type has an engine and every node rule's check one of them (TypeError otherwise)."""
    missing = [spec.__name__ for spec in NODE_SPECS if spec not in ENGINES]
    unknown = [spec.__name__ for spec in ENGINES if spec not in NODE_SPECS]
    if missing or unknown:
        raise TypeError("node check registry: no engine for %s; not a node spec: %s" % (missing, unknown))
    for rule in rules:
        if rule.component not in NODE_COMPONENTS:
            continue
        if type(rule.check) not in ENGINES:
            raise TypeError("rule %s: no node check engine for %s" % (rule.id, type(rule.check).__name__))
        if isinstance(rule.check, Custom) and rule.check.evaluator not in CUSTOM:
            raise TypeError("rule %s: unknown custom evaluator %r" % (rule.id, rule.check.evaluator))


check_registry()


def engine(rule: Rule) -> CheckEngine:
    return ENGINES[type(rule.check)]


def transform(rule: Rule, current: t.Optional[str], expected: t.Any) -> t.Any:
    """The value that makes ``current`` satisfy the rule (for flags and config keys)."""
    return engine(rule).transform(rule, current, expected)
