# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Cluster policy (CIS 5.x) evaluated on a snapshot of API objects, and remediation planning.

The checks are in ``_cluster_rbac`` and ``_cluster_workloads``, the objects and snapshots in
``_cluster_objects``; here: the options, one outcome per rule (its violations and raw verdict), the policy
layer's levels and waivers (``_policy``), the API writes that fix the findings, and the results.
"""

from __future__ import annotations

import json
import typing as t
from dataclasses import dataclass, field

from ansible_collections.kubefort.hardening.plugins.module_utils import _cluster_rbac as rbac
from ansible_collections.kubefort.hardening.plugins.module_utils import _cluster_workloads as workloads
from ansible_collections.kubefort.hardening.plugins.module_utils._cluster_objects import (
    KINDS,
    SHOWN,
    Action,
    CheckResult,
    ClusterPolicyError,
    Violation,
    counts,
    empty_snapshot,
    parse_json_documents,
    snapshot_from_documents,
    spec_of,
)
from ansible_collections.kubefort.hardening.plugins.module_utils._cluster_rbac import AUTOUPDATE
from ansible_collections.kubefort.hardening.plugins.module_utils._errors import rule_error
from ansible_collections.kubefort.hardening.plugins.module_utils._policy import (
    SKIPPED_MESSAGE,
    Policy,
    PolicyError,
    check_waivers,
    fixed_status,
)
from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Rule, make_result
from ansible_collections.kubefort.hardening.plugins.module_utils._rules_cluster import RULES as CLUSTER_RULES

# What the cluster_policy module, the live snapshot (_cluster_snapshot) and the tests use from here.
__all__ = [
    "AUTOUPDATE", "CHECKS", "CLUSTER_RULES", "KINDS", "Action", "ClusterOptions", "ClusterPolicyError", "Options", "Outcome",
    "Violation", "counts", "diff_of", "empty_snapshot", "error_results", "evaluate", "findings_by_rule", "parse_json_documents",
    "plan", "results", "skipped_results", "snapshot_from_documents",
]


@dataclass(frozen=True)
class ClusterOptions(Policy):
    """One cluster audit's options: the policy every area shares, and the cluster area's own (conservative defaults)."""

    exempt_namespaces: t.Tuple[str, ...] = ("kube-system",)
    anonymous_allowed_bindings: t.Tuple[str, ...] = ("kube-public/kubeadm:bootstrap-signer-clusterinfo",)
    remediate: bool = False
    fix_default_service_accounts: bool = True
    psa_labels: bool = True
    psa_level: str = "baseline"
    psa_enforce: bool = False
    remove_anonymous_bindings: bool = True
    default_deny_namespaces: t.Tuple[str, ...] = ()
    default_deny_policy_types: t.Tuple[str, ...] = ("Ingress",)

    def __post_init__(self) -> None:
        if self.psa_level not in ("baseline", "restricted"):
            raise ClusterPolicyError(
                "psa_level must be 'baseline' or 'restricted', not %r" % (self.psa_level,)
            )
        bad = [p for p in self.default_deny_policy_types if p not in ("Ingress", "Egress")]
        if bad or not self.default_deny_policy_types:
            raise ClusterPolicyError("default_deny_policy_types must list Ingress and/or Egress, not %r" % (bad,))
        try:
            check_waivers(self.waivers)
        except PolicyError as exc:
            raise ClusterPolicyError(str(exc)) from None


# The name tests use.
Options = ClusterOptions


@dataclass
class Outcome:
    """One cluster rule judged on a snapshot: its violations (``findings``), and its raw verdict."""

    rule: Rule
    findings: t.List[Violation] = field(default_factory=list)
    exempt: t.List[str] = field(default_factory=list)
    notes: t.List[str] = field(default_factory=list)
    error: t.Optional[str] = None
    source: str = ""
    not_applicable: str = ""
    # The waiver in force when the policy layer accepted the verdict (status ``waived``, no fix).
    waiver: t.Optional[t.Mapping[str, t.Any]] = None

    @property
    def verdict(self) -> str:
        """The raw verdict the policy layer starts from: error, pass, fail or manual."""
        if self.not_applicable:
            return "not_applicable"
        if self.error:
            return "error"
        if not self.findings:
            return "manual" if spec_of(self.rule).always_manual else "pass"
        return spec_of(self.rule).on_finding


CHECKS: t.Dict[str, t.Callable[..., CheckResult]] = {
    "rbac_permission": rbac.check_rbac_permission,
    "cluster_admin_bindings": rbac.check_cluster_admin_bindings,
    "system_masters": rbac.check_system_masters,
    "rbac_wildcards": rbac.check_rbac_wildcards,
    "anonymous_bindings": rbac.check_anonymous_bindings,
    "default_sa_automount": rbac.check_default_sa_automount,
    "sa_token_mounts": rbac.check_sa_token_mounts,
    "psa_enforce": workloads.check_psa_enforce,
    "network_policy": workloads.check_network_policy,
    "default_namespace": workloads.check_default_namespace,
}
CHECKS.update({name: workloads.check_pods for name in workloads.POD_CHECKS})


def _check_catalog(rules: t.Iterable[Rule]) -> None:
    """Every cluster rule names an evaluator of CHECKS and kinds of KINDS (checked at import)."""
    for rule in rules:
        spec = spec_of(rule)
        if spec.evaluator not in CHECKS or not set(spec.kinds) <= set(KINDS):
            raise TypeError("cluster rule %s: unknown evaluator %r or kinds %r" % (rule.id, spec.evaluator, spec.kinds))


_check_catalog(CLUSTER_RULES)


# ---------------------------------------------------------------------------------------------------
# Evaluation, planning, results


def evaluate(rules: t.Iterable[Rule], snap: t.Mapping[str, t.Any], opts: ClusterOptions) -> t.List[Outcome]:
    """One outcome per rule; a rule whose input kinds could not be read gets an error outcome.

    The policy layer (_policy) decides levels and waivers: a waived rule keeps its findings (reported as
    waived) but gets no fix.
    """
    outcomes = []
    for rule in rules:
        kinds = spec_of(rule).kinds
        outcome = Outcome(rule, source="%s: %s" % (snap.get("source", "snapshot"), ", ".join(
            KINDS[k][1] for k in kinds)))
        outcomes.append(outcome)
        outcome.not_applicable = opts.level_gate(rule)
        if outcome.not_applicable:
            continue
        missing = ["%s (%s)" % (k, snap["missing"][k]) for k in kinds if k in snap.get("missing", {})]
        if missing:
            outcome.error = "could not read " + "; ".join(missing)
        else:
            outcome.findings, outcome.exempt, notes = CHECKS[spec_of(rule).evaluator](snap, rule, opts)
            outcome.notes.extend(notes)
            unseen = [k for k in kinds if k in snap.get("unseen", ())]
            if unseen:
                outcome.notes.append("the snapshot holds no %s objects; evaluated as none" % ", ".join(unseen))
        waiving = opts.waive(rule, outcome.verdict)
        if waiving.note:
            outcome.notes.append(waiving.note)
        outcome.waiver = waiving.waiver
        if outcome.waiver is not None:
            for finding in outcome.findings:
                finding.action = None
    return outcomes


def plan(outcomes: t.Iterable[Outcome]) -> t.List[Action]:
    """The API writes that fix the findings, one per object, in rule order."""
    actions: t.Dict[t.Tuple[str, str, str, str], Action] = {}
    for outcome in outcomes:
        for finding in outcome.findings:
            if finding.action is not None:
                actions.setdefault(finding.action.key, finding.action)
    return list(actions.values())


def _summary(findings: t.Sequence[Violation]) -> str:
    shown = "; ".join(str(f) for f in findings[:SHOWN])
    more = " (+%d more)" % (len(findings) - SHOWN) if len(findings) > SHOWN else ""
    return "%d: %s%s" % (len(findings), shown, more)


def _message(outcome: Outcome, extra: t.Sequence[str] = ()) -> str:
    parts = list(extra) + list(outcome.notes)
    if outcome.exempt:
        parts.append("not counted in exempt namespaces (kubefort_cluster_exempt_namespaces): %d (%s)" % (
            len(outcome.exempt), ", ".join(outcome.exempt[:SHOWN]) + (" ..." if len(outcome.exempt) > SHOWN else "")))
    return ". ".join(p.rstrip(". ") for p in parts if p)


def results(
    outcomes: t.Iterable[Outcome],
    applied: t.Optional[t.Mapping[t.Tuple[str, str, str, str], t.Optional[str]]] = None,
    check_mode: bool = False,
) -> t.List[t.Dict[str, t.Any]]:
    """Result dicts (make_result). ``applied`` maps each attempted action's key to None (done) or an error."""
    applied = applied or {}
    out = []
    for o in outcomes:
        rule, verdict = o.rule, o.verdict
        if verdict == "not_applicable":
            out.append(make_result(rule, "not_applicable", source=o.source, message=o.not_applicable))
            continue
        if verdict == "error":
            out.append(make_result(rule, "error", source=o.source, message=_message(o, [t.cast(str, o.error)])))
            continue
        status = "waived" if o.waiver is not None else verdict
        actual = _summary(o.findings) if o.findings else "0 findings"
        if verdict == "pass":
            out.append(make_result(rule, "pass", actual=actual, source=o.source, message=_message(o)))
        elif verdict == "manual":
            why = "Review needed: " + rule.remediation if o.findings else rule.remediation
            out.append(make_result(rule, status, actual=actual, source=o.source, message=_message(o, [why]),
                                   waiver=o.waiver))
        elif o.waiver is not None:
            out.append(make_result(rule, "waived", actual=actual, source=o.source, message=_message(o), waiver=o.waiver))
        else:
            out.append(_fail_result(o, actual, applied, check_mode))
    return out


def _fail_result(o: Outcome, actual: str, applied, check_mode: bool) -> t.Dict[str, t.Any]:
    done = [f for f in o.findings if f.action and f.action.key in applied and applied[f.action.key] is None]
    errors = sorted({"%s: %s" % (f.action.ref, applied[f.action.key])
                     for f in o.findings if f.action and applied.get(f.action.key)})
    verb = "would %s" if check_mode else "did %s"
    words = sorted({"%s %s" % (f.action.ref, verb % f.action.summary) for f in done})
    if errors:
        msg = "fix failed for %s" % "; ".join(errors)
        return make_result(o.rule, "error", actual=actual, source=o.source, message=_message(o, [msg] + words))
    if done and all(f in done and f.resolves for f in o.findings):
        status = fixed_status(check_mode)
        return make_result(o.rule, status, actual=actual, source=o.source, message=_message(o, words))
    remaining = [f for f in o.findings if not (f in done and f.resolves)]
    closed = len(o.findings) - len(remaining)
    if not done:
        msg: t.List[str] = []
    elif closed:
        msg = ["%d of %d fixed; still open: %s" % (closed, len(o.findings), _summary(remaining))] + words
    else:
        msg = words + ["these changes alone do not close the findings: " + o.rule.remediation]
    return make_result(o.rule, "fail", actual=actual, source=o.source, message=_message(o, msg))


def error_results(rules: t.Iterable[Rule], exc: BaseException) -> t.List[t.Dict[str, t.Any]]:
    """Every rule ``error`` because ``exc`` stopped them all (the cluster could not be read)."""
    return [make_result(rule, "error", message=rule_error(exc)) for rule in rules]


def selection_failed(exc: Exception) -> t.Dict[str, t.Any]:
    """The module's result when ``rules`` / ``skip_rules`` name no rule (the module's or the action plugin's)."""
    return {"failed": True, "msg": "rules / skip_rules (kubefort_rules / kubefort_skip_rules): %s" % exc, "results": []}


def skipped_results(rules: t.Iterable[Rule]) -> t.List[t.Dict[str, t.Any]]:
    return [make_result(rule, "skipped", message=SKIPPED_MESSAGE) for rule in rules]


def diff_of(actions: t.Iterable[Action]) -> t.List[t.Dict[str, str]]:
    """Ansible's diff list: what each write changes, as JSON of the fields it touches."""
    out = []
    for a in actions:
        out.append({
            "before_header": "%s (before)" % a.ref,
            "after_header": "%s (%s)" % (a.ref, a.summary),
            "before": "" if a.before is None else json.dumps(a.before, indent=2, sort_keys=True) + "\n",
            "after": "" if a.after is None else json.dumps(a.after, indent=2, sort_keys=True) + "\n",
        })
    return out


def findings_by_rule(outcomes: t.Iterable[Outcome]) -> t.Dict[str, t.List[str]]:
    """Every finding in full (results show the first few)."""
    return {o.rule.id: [str(f) for f in o.findings] for o in outcomes if o.findings}
