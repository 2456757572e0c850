# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The one policy layer of every rule area (node, ports, cluster): what the user chose, applied the same way.

The engines judge rules and return raw verdicts (``pass``, ``fail``, ``manual``, ``error``,
``not_applicable``); everything the user decides is applied here:

- **selection**: ``kubefort_rules`` (only these; our IDs, CIS IDs or CIS sections) and
  ``kubefort_skip_rules`` (reported ``skipped``), resolved against the whole catalog (on the controller:
  plugin_utils/_catalog.select_in_area), so an ID of another area selects nothing in this one and an ID of no
  area is an error (``select``);
- **level**: a rule above ``kubefort_level`` is ``not_applicable`` and not judged (``Policy.level_gate``);
- **overrides**: ``kubefort_overrides`` replaces a rule's expected value (``Policy.expected``);
- **waivers**: a waiver accepts a known finding, so it turns ``fail`` and ``manual`` into ``waived`` (and
  its fix is not made). It never makes an ``error`` look better: a rule that could not be judged stays
  ``error``, with the waiver named in the message. An expired waiver changes nothing but the message
  (``Policy.waive``);
- **status after remediation**: a fixed finding is ``would_fix`` in check mode, ``fixed`` otherwise
  (``fixed_status``).

Standard library only: cluster rules are judged in a module.
"""

from __future__ import annotations

import datetime
import typing as t
from dataclasses import dataclass, field

from ansible_collections.kubefort.hardening.plugins.module_utils._errors import InputError
from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Rule

# The raw verdicts a waiver accepts; ``error`` is never among them (fail closed).
WAIVABLE = ("fail", "manual")
SKIPPED_MESSAGE = "skipped on request (kubefort_skip_rules)"


class PolicyError(InputError):
    """A choice of the user cannot be applied (unknown rule ID, malformed waiver); the message says what to do."""


class UnknownRuleError(InputError):
    """A rule selector names nothing in the catalog."""


def _today() -> datetime.date:
    return datetime.datetime.now(datetime.timezone.utc).date()


@dataclass(frozen=True)
class Selection:
    """The rules of one area that run, and those the user skipped (reported ``skipped``), in catalog order."""

    rules: t.Tuple[Rule, ...]
    skipped: t.Tuple[Rule, ...] = ()


def _matches(rule: Rule, selector: str) -> bool:
    if selector == rule.id:
        return True
    if rule.cis is None:
        return False
    # "4.2.4" names one check, "4.2" or "4" a whole section.
    return rule.cis == selector or rule.cis.startswith(selector + ".")


def matching(catalog: t.Sequence[Rule], selectors: t.Iterable[str]) -> t.List[Rule]:
    """The rules of ``catalog`` named by our IDs, CIS IDs or CIS section prefixes, in catalog order.

    Raises UnknownRuleError naming every selector that matches nothing.
    """
    selectors = [str(s).strip() for s in selectors]
    unknown = [s for s in selectors if not any(_matches(r, s) for r in catalog)]
    if unknown:
        raise UnknownRuleError(
            "unknown rule ID(s): %s. Use an ID from docs/rules.md (e.g. %s), a CIS ID such as "
            "'4.2.4', or a CIS section such as '4.2'." % (", ".join(sorted(unknown)), catalog[0].id if catalog else "kubelet-read-only-port")
        )
    return [r for r in catalog if any(_matches(r, s) for s in selectors)]


def select(area_rules: t.Iterable[Rule], only: t.Sequence[str] = (), skip: t.Sequence[str] = (),
           catalog: t.Optional[t.Sequence[Rule]] = None) -> Selection:
    """The area's rules narrowed to ``only`` and without ``skip`` (our IDs, CIS IDs or CIS sections).

    Selectors are resolved against ``catalog``, the whole catalog where it is known (the controller:
    plugin_utils/_catalog.select_in_area), else the area's own rules: ``kubefort_rules`` is shared by every role,
    so a node rule's ID selects nothing among the ports rules, while an ID of no rule at all raises PolicyError.
    """
    area_rules = tuple(area_rules)
    catalog = area_rules if catalog is None else catalog
    try:
        chosen = {r.id for r in matching(catalog, only)} if only else None
        skipped = {r.id for r in matching(catalog, skip)} if skip else set()
    except UnknownRuleError as exc:
        raise PolicyError(str(exc)) from None
    wanted = [r for r in area_rules if chosen is None or r.id in chosen]
    return Selection(tuple(r for r in wanted if r.id not in skipped), tuple(r for r in wanted if r.id in skipped))


def _expiry(waiver: t.Mapping[str, t.Any]) -> t.Optional[datetime.date]:
    expires = waiver.get("expires")
    if not expires:
        return None
    if isinstance(expires, datetime.date):  # YAML reads an unquoted 2026-12-31 as a date
        return expires
    try:
        return datetime.date.fromisoformat(str(expires))
    except ValueError:
        raise PolicyError("waiver for %s has an unreadable expiry %r; use YYYY-MM-DD" % (waiver.get("id"), expires)) from None


def check_waivers(waivers: t.Iterable[t.Any]) -> None:
    """Refuse waivers that are not mappings, lack an ID or a reason, or have an unreadable expiry (PolicyError)."""
    for waiver in waivers:
        if not isinstance(waiver, t.Mapping) or not waiver.get("id") or not str(waiver.get("reason") or "").strip():
            raise PolicyError("every waiver needs an id and a reason (id: our rule ID or a CIS ID), e.g. {id: "
                              "kubelet-read-only-port, reason: ..., expires: 2026-12-31}; got %r" % (waiver,))
        _expiry(waiver)


def waiver_record(waiver: t.Mapping[str, t.Any]) -> t.Dict[str, t.Any]:
    """A waiver as results carry it: its ID, reason and expiry date (or None), as text."""
    expires = waiver.get("expires")
    return {"id": str(waiver["id"]), "reason": str(waiver.get("reason") or ""),
            "expires": str(expires) if expires else None}


@dataclass(frozen=True)
class Waiving:
    """What the waivers make of one raw verdict: the status, the waiver that applies, a note for the message."""

    status: str
    waiver: t.Optional[t.Dict[str, t.Any]] = None
    note: str = ""


@dataclass(frozen=True)
class Policy:
    """The user's choices that apply to every area: profile level, waivers, overrides, and the day waivers expire by.

    Each area's run options extend it (``_evaluate.NodeOptions``, ``_cluster_policy.ClusterOptions``,
    ``_ports_evaluate.PortsOptions``).
    """

    level: int = 1
    waivers: t.Sequence[t.Mapping[str, t.Any]] = ()
    overrides: t.Mapping[str, t.Any] = field(default_factory=dict)
    today: datetime.date = field(default_factory=_today)

    def level_gate(self, rule: Rule) -> str:
        """Why the rule is outside the profile ('' when it is in)."""
        if rule.level > self.level:
            return "level %d rule; profile is level %d" % (rule.level, self.level)
        return ""

    def overridden(self, rule: Rule) -> bool:
        return rule.id in self.overrides

    def expected(self, rule: Rule) -> t.Any:
        """The value the rule is judged against: the override, else the rule's own."""
        return self.overrides.get(rule.id, rule.expected)

    def waiver_for(self, rule: Rule) -> t.Tuple[t.Optional[t.Mapping[str, t.Any]], str]:
        """The waiver that names the rule (our ID or its CIS ID) and is in force, and a note when one expired."""
        for waiver in self.waivers:
            if waiver.get("id") not in (rule.id, rule.cis):
                continue
            day = _expiry(waiver)
            if day is not None and day < self.today:
                return None, "waiver expired on %s (%s)" % (day, waiver.get("reason", ""))
            return waiver, ""
        return None, ""

    def waive(self, rule: Rule, status: str) -> Waiving:
        """What a raw verdict becomes under the waivers (see the module's docstring)."""
        if status not in WAIVABLE + ("error",):
            return Waiving(status)
        waiver, expired = self.waiver_for(rule)
        if waiver is None:
            return Waiving(status, note=expired)
        if status == "error":
            return Waiving("error", note="waiver for %s not applied: a waiver accepts a known finding, and this "
                                         "rule could not be judged" % waiver.get("id"))
        return Waiving("waived", waiver_record(waiver))


def fixed_status(check_mode: bool) -> str:
    """The status of a finding its fix closes: ``would_fix`` in check mode, ``fixed`` once written."""
    return "would_fix" if check_mode else "fixed"


def with_note(message: str, note: str) -> str:
    """A result message with one more note ('; ' between them)."""
    if not note:
        return message
    return message + "; " + note if message else note
