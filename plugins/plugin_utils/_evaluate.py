# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Evaluate catalog rules against a node's effective settings: the rule loop of the node engine.

For each rule: not_applicable when its component does not run here, when the policy layer's level or the
node's version rules it out; error when a file the component is configured from could not be read (fail
closed); else the check its typed spec names (``Rule.check``, judged by the engine _check_engines
registers for its type). A fix is only kept when it is safe to write (``_guard``).
"""

from __future__ import annotations

import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Rule
from ansible_collections.kubefort.hardening.plugins.plugin_utils._check_engines import ENGINES, engine, transform
from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import Component, Node
from ansible_collections.kubefort.hardening.plugins.plugin_utils._findings import FIX_KINDS, SUPPLIED_DIR, Finding, Fix
from ansible_collections.kubefort.hardening.plugins.plugin_utils._kubelet_merge import KUBELET_MERGE_DEFAULTS, is_zero
from ansible_collections.kubefort.hardening.plugins.plugin_utils._node_options import NodeOptions
from ansible_collections.kubefort.hardening.plugins.plugin_utils._settings import normalize, parse_duration, version_tuple

# The names other modules, the tests and the benchmark import from here.
Options = NodeOptions
__all__ = ["ENGINES", "FIX_KINDS", "SUPPLIED_DIR", "Finding", "Fix", "NodeOptions", "Options", "evaluate", "normalize",
           "parse_duration", "stat_paths", "transform", "version_gate", "version_tuple"]


def version_gate(rule: Rule, version: t.Optional[str]) -> str:
    """Why a rule does not apply to this version ('' when it does, or when the version is unknown)."""
    have = version_tuple(version)
    if not have:
        return ""
    if rule.min_version and have < version_tuple(rule.min_version):
        return "applies from Kubernetes %s; this node runs %s" % (rule.min_version, version)
    if rule.max_version and have > version_tuple(rule.max_version):
        return "applies up to Kubernetes %s (the setting was removed or is always safe later); this node runs %s" % (
            rule.max_version, version)
    return ""


def evaluate(node: Node, rules: t.Sequence[Rule], options: NodeOptions) -> t.List[Finding]:
    return [_evaluate_one(node, rule, options) for rule in rules]


def _evaluate_one(node: Node, rule: Rule, options: NodeOptions) -> Finding:
    comp = node.components.get(rule.component)
    if comp is None or not comp.present:
        return Finding(rule, "not_applicable", message="%s does not run on this node" % rule.component)
    outside = options.level_gate(rule)
    if outside:
        return Finding(rule, "not_applicable", message=outside)
    gate = version_gate(rule, comp.version)
    if gate:
        return Finding(rule, "not_applicable", message=gate)
    if comp.fatal:
        return Finding(rule, "error", message=comp.fatal + ". Fix the command line, then run again.")
    if comp.errors:
        # Fail closed: a file the component is configured from could not be read, decoded or parsed, so
        # none of its settings is known (a flag missing from what was read may be set in what was not).
        return Finding(rule, "error", message="; ".join(comp.errors) + ". Fix the file, then run again.")
    ambiguous = comp.config_ambiguous.get(tuple(rule.config_key.split("."))) if rule.config_key else None
    if ambiguous and not (rule.flag and comp.disk_flags is not None and comp.disk_flags.has(rule.flag)):
        return Finding(rule, "error", message=(
            "the kubelet's version is unknown and its --config-dir drop-ins give %s %s (kubelet 1.28 merges "
            "drop-ins differently): kubefort cannot tell which applies" % (rule.config_key, ambiguous)))
    cluster_side = getattr(comp, "cluster_side", None)
    if cluster_side and (rule.config_key or rule.flag):
        return Finding(rule, "manual", message="%s takes its settings from %s in the cluster, not from this node: "
                       "check the setting there" % (comp.name, cluster_side))
    finding = engine(rule).evaluate(node, comp, rule, rule.check, options.expected(rule), options)
    finding = _guard(finding, comp, rule, options)
    if rule.flag or rule.config_key:
        # notes on the component's command line (flags whose acceptance was not checked) concern its settings,
        # not the files rules about its kubeconfig or certificates
        for note in comp.notes:
            finding = finding.noted(note)
    return finding


def _guard(finding: Finding, comp: Component, rule: Rule, options: NodeOptions) -> Finding:
    """Drop fixes that are not safe to write: unknown version for a versioned flag, undecided values."""
    if not finding.fixes:
        return finding
    if comp.merge_model == KUBELET_MERGE_DEFAULTS and any(
            f.kind == "config" and is_zero(f.value) for f in finding.fixes) and not comp.flag_defaults:
        finding = finding.noted(
            "kubelet 1.28 merges --config-dir drop-ins 'override non-empty' (a 0, false or empty value in a "
            "drop-in never takes effect), so the value is written in %s, where it wins, and in each drop-in "
            "that sets another value" % comp.config_path)
    note = ""
    if (rule.min_version or rule.max_version) and not version_tuple(comp.version):
        note = ("the Kubernetes version of %s is unknown and --%s exists only in some versions: nothing written"
                % (comp.name, rule.flag))
    elif rule.needs_override and not options.overridden(rule):
        note = "choose the value for your cluster in kubefort_overrides.%s; kubefort then writes it" % rule.id
    return finding.without_fixes(note) if note else finding


def stat_paths(node: Node, rules: t.Sequence[Rule]) -> t.List[str]:
    """Paths (and parents) the selected rules need that the snapshot does not hold yet (stat only)."""
    wanted: t.List[str] = []
    for rule in rules:
        comp = node.components.get(rule.component)
        if comp is None or not comp.present:
            continue
        for path in engine(rule).paths(node, comp, rule, rule.check):
            if path not in node.files and path not in wanted:
                wanted.append(path)
    return wanted
