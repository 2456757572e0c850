# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The one rule catalog: every area's entries, looked up by our ID, CIS ID or section prefix."""

from __future__ import annotations

import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils import (
    _rules_cluster,
    _rules_control_plane,
    _rules_node,
    _rules_ports,
)
from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Rule
from ansible_collections.kubefort.hardening.plugins.module_utils import _errors

ALL_RULES: t.Tuple[Rule, ...] = (
    _rules_control_plane.RULES + _rules_node.RULES + _rules_ports.RULES + _rules_cluster.RULES
)
BY_ID: t.Dict[str, Rule] = {rule.id: rule for rule in ALL_RULES}


class UnknownRuleError(_errors.InputError):
    """A rule selector names nothing in the catalog."""


def _matches(rule: Rule, selector: str) -> bool:
    if selector == rule.id:
        return True
    if rule.cis is None:
        return False
    # "4.2.4" names one check, "4.2" or "4" a whole section.
    return rule.cis == selector or rule.cis.startswith(selector + ".")


def select(selectors: t.Iterable[str]) -> t.List[Rule]:
    """Rules named by our IDs, CIS IDs or CIS section prefixes, in catalog order.

    Raises UnknownRuleError naming every selector that matches nothing.
    """
    selectors = [str(s).strip() for s in selectors]
    unknown = [s for s in selectors if not any(_matches(r, s) for r in ALL_RULES)]
    if unknown:
        raise UnknownRuleError(
            "unknown rule ID(s): %s. Use an ID from docs/rules.md (e.g. %s), a CIS ID such as "
            "'4.2.4', or a CIS section such as '4.2'." % (", ".join(sorted(unknown)), ALL_RULES[0].id if ALL_RULES else "kubelet-read-only-port")
        )
    return [r for r in ALL_RULES if any(_matches(r, s) for s in selectors)]


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
            "(e.g. %s) or its exact CIS ID such as '4.2.4'." % (", ".join(unknown), ALL_RULES[0].id if ALL_RULES else "kubelet-read-only-port"))


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
