# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The rule model and the result model shared by every area of the catalog.

Standard library only: the same definitions are used by node-side modules and controller-side plugins.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from ansible_collections.kubefort.hardening.plugins.module_utils import _benchmark
from ansible_collections.kubefort.hardening.plugins.module_utils._check_specs import (
    AuthorizationMode,
    CheckSpec,
    Compare,
    FileMode,
    FileOwner,
)

STATUSES = (
    "pass",
    "fail",
    "would_fix",
    "fixed",
    "manual",
    "waived",
    "not_applicable",
    "skipped",
    "error",
)
SEVERITIES = ("info", "low", "medium", "high", "critical")
OPERATORS = (
    "eq",
    "noteq",
    "contains",
    "not_contains",
    "gte",
    "lte",
    "present",
    "absent",
    "mode_at_most",
    "owner",
    "custom",
)
# The operator of a rule that names none: a comparison compares for equality, a file check has its own, any
# other check is judged by its own evaluator ("custom").
_OPERATOR_OF_CHECK = {Compare: "eq", AuthorizationMode: "eq", FileMode: "mode_at_most", FileOwner: "owner"}


@dataclass(frozen=True)
class Rule:
    """One check of the catalog, as data.

    ``flag`` is the command-line flag (without value) and ``config_key`` the dotted key path in the
    component's config file, when the component has one. ``default`` maps a mode of the component
    (``flags`` when it runs without a config file, ``config`` when it has one, or ``any``) to the value
    that applies when the setting is absent; ``default_from`` / ``default_before`` map a Kubernetes version
    to the default from (before) that version, where it changed; ``empty_is_default``: an empty value means
    the default. ``fix`` is the value remediation writes; ``needs_override``: only once the operator chose the
    value in ``kubefort_overrides``. ``check`` is how the rule is judged (a spec of _check_specs); ``operator``
    defaults to the one its check implies (``_OPERATOR_OF_CHECK``, else ``custom``).
    ``related_cis`` / ``related_rules``: the CIS checks and rules of other areas behind a live ports check.
    """

    id: str
    title: str
    component: str
    section: str
    severity: str
    cis: t.Optional[str] = None
    level: int = 1
    flag: t.Optional[str] = None
    config_key: t.Optional[str] = None
    operator: str = ""
    expected: t.Any = None
    default: t.Mapping[str, t.Any] = field(default_factory=dict)
    fix: t.Any = None
    automated: bool = True
    remediation: str = ""
    rationale: str = ""
    distributions: t.Tuple[str, ...] = ("all",)
    min_version: t.Optional[str] = None
    max_version: t.Optional[str] = None
    check: CheckSpec = field(default_factory=Compare)
    default_from: t.Mapping[str, t.Any] = field(default_factory=dict)
    default_before: t.Mapping[str, t.Any] = field(default_factory=dict)
    empty_is_default: bool = False
    needs_override: bool = False
    related_cis: t.Tuple[str, ...] = ()
    related_rules: t.Tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError("rule %s: unknown severity %r" % (self.id, self.severity))
        if not self.operator:
            object.__setattr__(self, "operator", _OPERATOR_OF_CHECK.get(type(self.check), "custom"))
        if self.operator not in OPERATORS:
            raise ValueError("rule %s: unknown operator %r" % (self.id, self.operator))
        if not isinstance(self.check, CheckSpec):
            raise TypeError("rule %s: check must be a spec of _check_specs, not %r" % (self.id, self.check))
        wanted = {FileMode: "mode_at_most", FileOwner: "owner"}.get(type(self.check))
        if wanted and self.operator != wanted:
            raise ValueError("rule %s: a %s check needs operator %s" % (self.id, type(self.check).__name__, wanted))

    @property
    def references(self) -> t.Dict[str, str]:
        """The rule's ID in each CIS benchmark that has the check (``cis-1.12``, ``cis-2.0``)."""
        return _benchmark.references(self.cis)

    def describe(self) -> t.Dict[str, t.Any]:
        """The rule's catalog entry as plain data (for docs and the report)."""
        return {
            "id": self.id,
            "cis": self.cis,
            "references": self.references,
            "title": self.title,
            "component": self.component,
            "section": self.section,
            "severity": self.severity,
            "level": self.level,
            "flag": self.flag,
            "config_key": self.config_key,
            "operator": self.operator,
            "expected": self.expected,
            "default": dict(self.default),
            "fix": self.fix,
            "automated": self.automated,
            "remediation": self.remediation,
            "rationale": self.rationale,
            "distributions": list(self.distributions),
        }


@dataclass(frozen=True)
class Verdict:
    """An engine's raw judgement of one rule on one host, before the policy layer (_policy) gives it a status.

    ``status`` is ``pass``, ``fail``, ``manual``, ``error``, ``not_applicable`` or ``skipped`` (could not run);
    ``expected`` is display text when it is not the rule's own (an override, a user option).
    """

    rule: Rule
    status: str
    actual: t.Optional[str] = None
    source: str = ""
    expected: t.Optional[str] = None
    message: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError("unknown status %r" % self.status)


def make_result(
    rule: Rule,
    status: str,
    actual: t.Any = None,
    expected: t.Optional[str] = None,
    source: str = "",
    message: str = "",
    remediation: t.Optional[str] = None,
    changed_files: t.Optional[t.List[str]] = None,
    waiver: t.Optional[t.Mapping[str, t.Any]] = None,
) -> t.Dict[str, t.Any]:
    """One rule's result on one host, in the report model of docs/architecture.md."""
    if status not in STATUSES:
        raise ValueError("unknown status %r" % status)
    return {
        "id": rule.id,
        "cis": rule.cis,
        "references": rule.references,
        "title": rule.title,
        "component": rule.component,
        "section": rule.section,
        "severity": rule.severity,
        "level": rule.level,
        "status": status,
        "actual": None if actual is None else str(actual),
        "expected": describe_expected(rule) if expected is None else expected,
        "source": source,
        "remediation": rule.remediation if remediation is None else remediation,
        "automated": rule.automated,
        "message": message,
        "waiver": dict(waiver) if waiver else None,
        "changed_files": list(changed_files or []),
    }


def describe_expected(rule: Rule) -> str:
    """The expected value in words, from the operator and the expected value."""
    value = rule.expected
    if isinstance(value, bool):
        value = "true" if value else "false"
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    words = {
        "eq": "%s",
        "noteq": "not %s",
        "contains": "contains %s",
        "not_contains": "does not contain %s",
        "gte": "at least %s",
        "lte": "at most %s",
        "present": "set",
        "absent": "not set",
        "mode_at_most": "mode %s or stricter",
        "owner": "owned by %s",
        "custom": "%s",
    }[rule.operator]
    return words % value if "%s" in words else words
