# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""What the node engine says about one rule (a Finding) and the changes it asks for (Fix), as data.

Checks make them (_check_*), the policy layer and the restart check (_staleness) adjust them, the Planner
(_edits) turns their fixes into file edits.
"""

from __future__ import annotations

import dataclasses
import typing as t
from dataclasses import dataclass

from ansible_collections.kubefort.hardening.plugins.module_utils._policy import with_note
from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Verdict

# Where kubefort writes files whose content the operator supplies (audit policy, encryption config ...).
SUPPLIED_DIR = "/etc/kubernetes/kubefort"


# Every fix kind and the planner module that writes it: the one list a Fix's kind is checked against, so a
# misspelt or unplanned kind fails where the Fix is made instead of becoming "fail, no fix". Each kind has
# its class below (FIX_TYPES), which checks the value it carries.
FIX_KINDS: t.Mapping[str, str] = {
    "flag": "_edits",
    "config": "_edits",
    "attrs": "_edits",  # the first file; further files of a multi-file rule in _edits_extra
    "apiserver_anonymous": "_edits",
    "supplied_file": "_edits_extra",
    "flag_mount": "_edits_extra",
    "config_list": "_edits_extra",
    "authz_config": "_edits_apiserver",
    "authn_config": "_edits_apiserver",
    "apiserver_probes_tcp": "_edits_apiserver",
}


@dataclass(frozen=True)
class Fix:
    """One change a rule asks for; ``kind`` is a key of FIX_KINDS, which names the module that plans it.

    ``Fix(kind, ...)`` makes the class of that kind (FIX_TYPES), which refuses a value of the wrong shape;
    an unknown kind is refused here, where the fix is made.
    """

    kind: str
    component: str
    target: str  # flag name, dotted config key, or file path
    value: t.Any = None
    mode: t.Optional[str] = None
    owner: t.Optional[str] = None
    group: t.Optional[str] = None

    KIND: t.ClassVar[str] = ""

    def __new__(cls, *args: t.Any, **kwargs: t.Any) -> "Fix":
        made = cls
        if cls is Fix:
            kind = args[0] if args else kwargs.get("kind")
            if kind not in FIX_TYPES:
                raise ValueError("unknown fix kind %r (known: %s)" % (kind, ", ".join(sorted(FIX_KINDS))))
            made = FIX_TYPES[kind]
        return super().__new__(made)

    def __post_init__(self) -> None:
        if self.kind != self.KIND or self.kind not in FIX_KINDS:
            raise ValueError("unknown fix kind %r (known: %s)" % (self.kind, ", ".join(sorted(FIX_KINDS))))
        problem = self.problem()
        if problem:
            raise ValueError("%s fix of %s %s: %s" % (self.kind, self.component, self.target, problem))

    def problem(self) -> str:
        """What is wrong with the value this kind carries ('' when nothing)."""
        return ""


class FlagFix(Fix):
    """Set ``--target`` to ``value`` where the flag lives (a text: what the command line will say)."""

    KIND = "flag"

    def problem(self) -> str:
        return "" if isinstance(self.value, str) else "the value must be the flag's text, not %r" % (self.value,)


class ConfigFix(Fix):
    """Set the config key ``target`` to the scalar ``value``, in the file that defines it."""

    KIND = "config"

    def problem(self) -> str:
        return "" if not isinstance(self.value, (list, tuple, dict)) else "a list or mapping is a config_list fix"


class ConfigListFix(Fix):
    """Set the top-level list key ``target`` to the items of ``value``."""

    KIND = "config_list"

    def problem(self) -> str:
        return "" if isinstance(self.value, (list, tuple)) else "the value must be the list's items"


class AttrsFix(Fix):
    """Set the mode and/or owner and group of the file ``target``."""

    KIND = "attrs"

    def problem(self) -> str:
        return "" if self.mode or self.owner or self.group else "nothing to set (no mode, owner or group)"


class AnonymousAuthnFix(Fix):
    """Write kubefort's AuthenticationConfiguration for the API server of version ``value`` and point to it."""

    KIND = "apiserver_anonymous"


class SuppliedFileFix(Fix):
    """Write the operator's ``value["content"]`` to ``value["path"]`` and point ``--target`` at it (and enable
    ``value["plugin"]`` for an admission configuration)."""

    KIND = "supplied_file"

    def problem(self) -> str:
        ok = isinstance(self.value, dict) and {"path", "content"} <= set(self.value)
        return "" if ok else "the value must name the path and the content"


class FlagMountFix(Fix):
    """Set the path flag ``--target`` to ``value`` and mount its directory from the host."""

    KIND = "flag_mount"

    def problem(self) -> str:
        return "" if isinstance(self.value, str) and self.value else "the value must be the path"


class AuthzConfigFix(Fix):
    """Edit the AuthorizationConfiguration ``target``: ``value`` says which authorizers to drop or add."""

    KIND = "authz_config"

    def problem(self) -> str:
        ok = isinstance(self.value, dict) and set(self.value) == {"always_allow", "node", "rbac"}
        return "" if ok else "the value must say always_allow, node and rbac"


class AuthnConfigFix(Fix):
    """Edit the AuthenticationConfiguration ``target``: ``value["mode"]`` is conditions or add_section."""

    KIND = "authn_config"

    def problem(self) -> str:
        ok = isinstance(self.value, dict) and self.value.get("mode") in ("conditions", "add_section")
        return "" if ok else "the value must say the mode (conditions or add_section)"


class ProbesTcpFix(Fix):
    """Turn the API server's anonymous httpGet probes ``value`` into tcpSocket probes, with --anonymous-auth=false."""

    KIND = "apiserver_probes_tcp"


FIX_TYPES: t.Mapping[str, t.Type[Fix]] = {cls.KIND: cls for cls in (
    FlagFix, ConfigFix, ConfigListFix, AttrsFix, AnonymousAuthnFix, SuppliedFileFix, FlagMountFix, AuthzConfigFix,
    AuthnConfigFix, ProbesTcpFix)}
if set(FIX_TYPES) != set(FIX_KINDS):
    raise TypeError("every fix kind needs its class and its planner: %s" % sorted(set(FIX_TYPES) ^ set(FIX_KINDS)))


@dataclass(frozen=True)
class Finding(Verdict):
    """A node rule's raw verdict (_rule.Verdict: status before the policy layer and remediation, actual, source,
    display text of the expected value, message) with what the node engine needs beyond it.

    Immutable: whoever changes a finding (the guard, the restart check, the policy layer) makes a new one with
    ``dataclasses.replace`` or the helpers below.
    """

    fixes: t.Tuple[Fix, ...] = ()  # the first file's fix, then the further files of a multi-file rule
    restart_only: bool = False  # the file is right, the running process is not
    # The value judged against (normalized) when an override replaces the rule's own; planners read this,
    # never the display text in ``expected``.
    expected_value: t.Optional[str] = None

    @property
    def fix(self) -> t.Optional[Fix]:
        return self.fixes[0] if self.fixes else None

    @property
    def more_fixes(self) -> t.Tuple[Fix, ...]:
        return self.fixes[1:]

    def noted(self, note: str) -> "Finding":
        """The same finding with one more note in its message."""
        return dataclasses.replace(self, message=with_note(self.message, note)) if note else self

    def without_fixes(self, note: str = "") -> "Finding":
        """The same finding with nothing to write (and why, when ``note`` says)."""
        return dataclasses.replace(self, fixes=(), message=with_note(self.message, note))
