# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The one rule catalog: every area's entries, looked up by our ID, CIS ID or section prefix.

Controller only. The control-plane, node and ports rules are data (``catalog/*.yml``, made into Rule objects by
_rule_loader when this module is imported); the cluster rules stay Python (module_utils/_rules_cluster.py), since
the cluster_policy module judges them where it runs. Modules never import this catalog: what a module needs of
it (the cluster rules a selection names) its action plugin resolves here first (plugins/action/cluster_policy.py).
"""

from __future__ import annotations

import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils import _policy, _rules_cluster
from ansible_collections.kubefort.hardening.plugins.module_utils._policy import UnknownRuleError
from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Rule
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _rule_loader

_AREAS = _rule_loader.load_catalog(("control_plane", "node", "ports"), _rules_cluster.RULES)
CONTROL_PLANE_RULES: t.Tuple[Rule, ...] = _AREAS["control_plane"].rules
NODE_RULES: t.Tuple[Rule, ...] = _AREAS["node"].rules
PORTS_RULES: t.Tuple[Rule, ...] = _AREAS["ports"].rules
# Files and directories the control-plane and node rules stat, beyond discovery's first round.
STAT_PATHS: t.Tuple[str, ...] = _AREAS["control_plane"].stat_paths + _AREAS["node"].stat_paths

ALL_RULES: t.Tuple[Rule, ...] = CONTROL_PLANE_RULES + NODE_RULES + PORTS_RULES + _rules_cluster.RULES
BY_ID: t.Dict[str, Rule] = {rule.id: rule for rule in ALL_RULES}

__all__ = ["ALL_RULES", "BY_ID", "CONTROL_PLANE_RULES", "NODE_RULES", "PORTS_RULES", "STAT_PATHS", "UnknownRuleError",
           "check_waiver_ids", "for_components", "override_problems", "select", "select_in_area", "unknown_waivers"]


def select(selectors: t.Iterable[str]) -> t.List[Rule]:
    """Rules named by our IDs, CIS IDs or CIS section prefixes, in catalog order.

    Raises UnknownRuleError naming every selector that matches nothing.
    """
    return _policy.matching(ALL_RULES, selectors)


def select_in_area(area_rules: t.Iterable[Rule], only: t.Sequence[str] = (), skip: t.Sequence[str] = ()) -> _policy.Selection:
    """_policy.select against the whole catalog: an ID of another area selects nothing here, one of none is an error."""
    return _policy.select(area_rules, only, skip, catalog=ALL_RULES)


def for_components(components: t.Iterable[str]) -> t.List[Rule]:
    wanted = set(components)
    return [r for r in ALL_RULES if r.component in wanted]


def unknown_waivers(waivers: t.Iterable[t.Mapping[str, t.Any]]) -> t.List[str]:
    """Waiver IDs that name no rule (a waiver matches our rule ID or the exact CIS ID)."""
    known = set(BY_ID) | {r.cis for r in ALL_RULES if r.cis}
    return sorted({str(w.get("id")) for w in waivers if w.get("id") and str(w.get("id")) not in known})


def check_waiver_ids(waivers: t.Iterable[t.Mapping[str, t.Any]]) -> None:
    """Refuse waivers for rules that do not exist, as unknown IDs in kubefort_rules are (UnknownRuleError)."""
    unknown = unknown_waivers(waivers)
    if unknown:
        raise UnknownRuleError(
            "kubefort_waivers name unknown rule ID(s): %s. A waiver names one rule: an ID from docs/rules.md "
            "(e.g. %s) or its exact CIS ID such as '4.2.4'." % (", ".join(unknown), ALL_RULES[0].id))


def override_problems(overrides: t.Mapping[str, t.Any]) -> t.List[str]:
    """One line per override naming no rule, or whose value the component cannot take.

    An override is the value kubefort writes: for a rule whose own value is a boolean or an integer (ports,
    limits, ``profiling``) a string such as ``"false"`` or ``"ten"`` would reach a config file as a string,
    which the kubelet refuses at its next start. Other values (durations, lists) are the component's to judge.
    """
    import difflib
    import json

    lines = []
    unknown = sorted(str(name) for name in overrides if name not in BY_ID)
    if unknown:
        hints = []
        for name in unknown:
            by_cis = [r.id for r in ALL_RULES if r.cis == name]
            close = by_cis or difflib.get_close_matches(name, list(BY_ID), n=1)
            if close:
                hints.append("%s: did you mean %s" % (name, " or ".join(close[:3])))
        lines.append("kubefort_overrides: unknown rule ID(s): %s. An override is keyed by our rule ID (docs/rules.md)%s"
                     % (", ".join(unknown), "; " + "; ".join(hints) if hints else ""))
    for name, value in overrides.items():
        rule = BY_ID.get(name)
        if rule is None:
            continue
        if isinstance(rule.expected, bool):
            want, ok = "a boolean (true or false)", isinstance(value, bool)
        elif isinstance(rule.expected, int) or (rule.expected is None and rule.operator in ("gte", "lte")):
            want, ok = "an integer", isinstance(value, int) and not isinstance(value, bool)
        else:
            continue
        if not ok:
            lines.append("kubefort_overrides.%s: expected %s, got %s (%s); for example %s: %s" % (
                name, want, json.dumps(value, default=str), type(value).__name__, name,
                json.dumps(rule.expected if rule.expected is not None else 1)))
    return lines
