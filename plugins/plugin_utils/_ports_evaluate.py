# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Evaluation of the ports rules (catalog/ports.yml) on what listening_ports and port_probe found.

Pure functions over plain data: the action plugin ports_audit calls them on the controller, tests call
them on captured listings. The engine judges (raw verdicts); selection, levels and waivers are the policy
layer's (_policy), as for every area; every result is built with _rule.make_result().
"""

from __future__ import annotations

import datetime
import typing as t
from dataclasses import dataclass

from ansible_collections.kubefort.hardening.plugins.module_utils._check_specs import (
    PORTS_SPECS,
    AnonymousProbe,
    CheckSpec,
    ListenerClosed,
    ListenerScope,
    NoAnyAddress,
)
from ansible_collections.kubefort.hardening.plugins.module_utils._policy import (
    SKIPPED_MESSAGE,
    Policy,
    PolicyError,
    check_waivers,
    with_note,
)
from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Rule, Verdict, make_result
from ansible_collections.kubefort.hardening.plugins.plugin_utils._catalog import PORTS_RULES as RULES
from ansible_collections.kubefort.hardening.plugins.plugin_utils._catalog import select_in_area

SCOPES = ("loopback", "node", "any")
# Ports meant to be reached from other hosts; they may listen on all addresses (limit them with the
# firewall instead).
DEFAULT_ALLOW_ANY_ADDRESS: t.Tuple[t.Union[int, str], ...] = (6443, 9345, 10250, 16443)


class PortsOptionsError(PolicyError):
    """An option of the ports audit is unusable."""


def describe_listener(sock: t.Mapping[str, t.Any]) -> str:
    address = "[%s]" % sock["address"] if ":" in sock["address"] else sock["address"]
    owner = sock.get("process") or "unknown process"
    if sock.get("pid") is not None:
        owner = "%s, pid %s" % (owner, sock["pid"])
    return "%s:%d (%s)" % (address, sock["port"], owner)


def _listener_source(socks: t.Iterable[t.Mapping[str, t.Any]]) -> str:
    tables = sorted({"/proc/net/%s" % ("tcp6" if s["family"] == "ipv6" else "tcp") for s in socks})
    return ", ".join(tables) if tables else "/proc/net/tcp, /proc/net/tcp6"


def _on_ports(listeners: t.Iterable[t.Mapping[str, t.Any]], ports: t.Iterable[int]) -> t.List[t.Mapping[str, t.Any]]:
    wanted = set(ports)
    return [s for s in listeners if s["port"] in wanted]


def _closed(rule: Rule, spec: ListenerClosed, listeners: t.List[t.Mapping[str, t.Any]]) -> Verdict:
    found = _on_ports(listeners, spec.ports)
    if not found:
        return Verdict(rule, "pass", actual="not listening", source=_listener_source([]))
    return Verdict(rule, "fail", actual="listening on " + ", ".join(describe_listener(s) for s in found),
                   source=_listener_source(found))


def _scope(rule: Rule, spec: ListenerScope, listeners: t.List[t.Mapping[str, t.Any]], scopes: t.Sequence[str]) -> Verdict:
    found = _on_ports(listeners, spec.ports)
    expected = ",".join(scopes)
    if not found:
        return Verdict(rule, "not_applicable", actual="not listening", expected=expected, source=_listener_source([]),
                       message="nothing listens on port %s on this node" % "/".join(str(p) for p in spec.ports))
    bad = [s for s in found if s["scope"] not in scopes]
    actual = ", ".join("%s [%s]" % (describe_listener(s), s["scope"]) for s in found)
    return Verdict(rule, "fail" if bad else "pass", actual=actual, expected=expected, source=_listener_source(found))


def _covered_ports() -> t.Set[int]:
    return {p for r in RULES if isinstance(r.check, (ListenerClosed, ListenerScope)) for p in r.check.ports}


def _allowed(sock: t.Mapping[str, t.Any], allow: t.Sequence[t.Union[int, str]]) -> bool:
    return sock["port"] in allow or sock.get("component") in allow or sock.get("process") in allow


def _no_any(rule: Rule, listeners: t.List[t.Mapping[str, t.Any]], allow: t.Sequence[t.Union[int, str]]) -> Verdict:
    covered = _covered_ports()
    candidates = [s for s in listeners if s["kubernetes"] and s["scope"] == "any" and s["port"] not in covered]
    bad = [s for s in candidates if not _allowed(s, allow)]
    expected = "none on all addresses except %s" % (", ".join(str(a) for a in allow) or "nothing")
    allowed = [s for s in candidates if s not in bad]
    if bad:
        return Verdict(rule, "fail", actual="on all addresses: " + ", ".join(describe_listener(s) for s in bad),
                       expected=expected, source=_listener_source(bad))
    actual = "allowed on all addresses: " + ", ".join(describe_listener(s) for s in allowed) if allowed else "none"
    return Verdict(rule, "pass", actual=actual, expected=expected, source=_listener_source(allowed))


def _probe(rule: Rule, spec: AnonymousProbe, probe_runs: t.Sequence[t.Mapping[str, t.Any]]) -> Verdict:
    seen = [(run.get("prober") or "node", p) for run in probe_runs for p in run.get("probes", [])
            if p.get("name") == spec.probe]
    if not seen:
        return Verdict(rule, "skipped", message="probe %s was not run" % spec.probe)
    actual = "; ".join("from %s: %s" % (who, p.get("message") or p.get("outcome")) for who, p in seen)
    source = "; ".join("GET %s from %s" % (p.get("url"), who) for who, p in seen)
    if any(p.get("denied") is False for who, p in seen):
        return Verdict(rule, "fail", actual=actual, source=source)
    if any(p.get("denied") is None for who, p in seen):
        return Verdict(rule, "error", actual=actual, source=source,
                       message="at least one probe could not tell whether access is denied")
    return Verdict(rule, "pass", actual=actual, source=source)


def _scopes_option(name: str, value: t.Any) -> t.Tuple[str, ...]:
    values = tuple(value)
    unknown = [v for v in values if v not in SCOPES]
    if not values or unknown:
        raise PortsOptionsError("%s must be a non-empty list of %s, not %r" % (name, ", ".join(SCOPES), list(value)))
    return values


@dataclass(frozen=True)
class PortsOptions(Policy):
    """One ports audit's options: the policy every area shares, and the ports area's own."""

    allow_any_address: t.Tuple[t.Union[int, str], ...] = DEFAULT_ALLOW_ANY_ADDRESS
    kube_proxy_healthz_scopes: t.Tuple[str, ...] = ()
    kube_proxy_metrics_scopes: t.Tuple[str, ...] = ()
    rules: t.Tuple[str, ...] = ()
    skip: t.Tuple[str, ...] = ()

    @classmethod
    def from_mapping(cls, options: t.Mapping[str, t.Any], today: t.Optional[datetime.date] = None) -> "PortsOptions":
        """From the ports_audit arguments (any subset); PortsOptionsError names what is unusable."""
        waivers = tuple(options.get("waivers") or ())
        try:
            check_waivers(waivers)
        except PolicyError as exc:
            raise PortsOptionsError(str(exc)) from None
        scopes = {name: _scopes_option(name, options[name]) if options.get(name) else ()
                  for name in ("kube_proxy_healthz_scopes", "kube_proxy_metrics_scopes")}
        dated = {"today": today} if today is not None else {}
        return cls(
            level=int(options.get("level") or 1), waivers=waivers, **dated,
            allow_any_address=tuple(options.get("allow_any_address", DEFAULT_ALLOW_ANY_ADDRESS)),
            rules=tuple(options.get("rules") or ()), skip=tuple(options.get("skip") or ()), **scopes,
        )


Judge = t.Callable[[Rule, t.Any, t.List[t.Mapping[str, t.Any]], t.Optional[t.Sequence[t.Mapping[str, t.Any]]], PortsOptions],
                   Verdict]


def _judge_probe(rule: Rule, spec: AnonymousProbe, listeners: t.List[t.Mapping[str, t.Any]],
                 probe_runs: t.Optional[t.Sequence[t.Mapping[str, t.Any]]], options: PortsOptions) -> Verdict:
    if probe_runs is None:
        return Verdict(rule, "skipped", message="live probes are off (kubefort_ports_probe: false)")
    return _probe(rule, spec, probe_runs)


def _judge_scope(rule: Rule, spec: ListenerScope, listeners: t.List[t.Mapping[str, t.Any]],
                 probe_runs: t.Optional[t.Sequence[t.Mapping[str, t.Any]]], options: PortsOptions) -> Verdict:
    return _scope(rule, spec, listeners, (getattr(options, spec.option) if spec.option else ()) or spec.scopes)


# Every ports spec type and what judges it: a spec type without a judge fails at import.
JUDGES: t.Dict[t.Type[CheckSpec], Judge] = {
    ListenerClosed: lambda rule, spec, listeners, runs, options: _closed(rule, spec, listeners),
    ListenerScope: _judge_scope,
    AnonymousProbe: _judge_probe,
    NoAnyAddress: lambda rule, spec, listeners, runs, options: _no_any(rule, listeners, options.allow_any_address),
}
_UNJUDGED = [spec.__name__ for spec in PORTS_SPECS if spec not in JUDGES] + [
    "%s (rule %s)" % (type(rule.check).__name__, rule.id) for rule in RULES if type(rule.check) not in JUDGES]
if _UNJUDGED:
    raise TypeError("no judge in _ports_evaluate.JUDGES for %s" % ", ".join(_UNJUDGED))


def judge(rule: Rule, listeners: t.List[t.Mapping[str, t.Any]],
          probe_runs: t.Optional[t.Sequence[t.Mapping[str, t.Any]]], options: PortsOptions) -> Verdict:
    """One rule's raw verdict on a live node's listeners and probe outcomes."""
    return JUDGES[type(rule.check)](rule, rule.check, listeners, probe_runs, options)


def evaluate(
    listing: t.Optional[t.Mapping[str, t.Any]],
    probe_runs: t.Optional[t.Sequence[t.Mapping[str, t.Any]]],
    options: t.Optional[t.Mapping[str, t.Any]] = None,
    offline_reason: str = "",
    today: t.Optional[datetime.date] = None,
    rules: t.Sequence[Rule] = RULES,
) -> t.List[t.Dict[str, t.Any]]:
    """One result per selected ports rule, in catalog order.

    ``listing`` is listening_ports' result, ``probe_runs`` a list of port_probe results each with a
    ``prober`` label (None: probes disabled). ``offline_reason`` makes every rule not_applicable.
    Options: allow_any_address, kube_proxy_healthz_scopes, kube_proxy_metrics_scopes, and the policy of every
    area (_policy): rules (only these: our IDs, CIS IDs or sections; an ID of no rule is an error), skip,
    level, waivers ([{id, reason, expires}]).
    """
    opts = PortsOptions.from_mapping(options or {}, today)
    try:
        chosen = select_in_area(rules, opts.rules, opts.skip)
    except PolicyError as exc:
        raise PortsOptionsError("rules / skip (kubefort_rules / kubefort_skip_rules): %s" % exc) from None
    listeners = list((listing or {}).get("listeners", []))
    results = []
    for rule in rules:
        if rule in chosen.skipped:
            results.append(make_result(rule, "skipped", message=SKIPPED_MESSAGE))
            continue
        if rule not in chosen.rules:
            continue
        outside = opts.level_gate(rule)
        if outside:
            verdict = Verdict(rule, "not_applicable", message=outside)
        elif offline_reason:
            verdict = Verdict(rule, "not_applicable", message=offline_reason)
        else:
            verdict = judge(rule, listeners, probe_runs, opts)
        waiving = opts.waive(rule, verdict.status)
        results.append(make_result(rule, waiving.status, actual=verdict.actual, expected=verdict.expected,
                                   source=verdict.source, message=with_note(verdict.message, waiving.note),
                                   waiver=waiving.waiver))
    return results
