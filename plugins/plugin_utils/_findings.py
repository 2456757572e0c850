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
# misspelt or unplanned kind fails where the Fix is made instead of becoming "fail, no fix".
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
    """One change a rule asks for; ``kind`` is a key of FIX_KINDS, which names the module that plans it."""

    kind: str
    component: str
    target: str  # flag name, dotted config key, or file path
    value: t.Any = None
    mode: t.Optional[str] = None
    owner: t.Optional[str] = None
    group: t.Optional[str] = None

    def __post_init__(self) -> None:
        if self.kind not in FIX_KINDS:
            raise ValueError("unknown fix kind %r (known: %s)" % (self.kind, ", ".join(sorted(FIX_KINDS))))


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
