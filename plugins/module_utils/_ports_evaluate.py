# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Evaluation of the ports rules (_rules_ports) on what listening_ports and port_probe found.

Pure functions over plain data: the action plugin ports_audit calls them on the controller, tests call
them on captured listings. Every result is built with _rule.make_result().
"""

from __future__ import annotations

import datetime
import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Rule, make_result
from ansible_collections.kubefort.hardening.plugins.module_utils._rules_ports import RULES

SCOPES = ("loopback", "node", "any")
# Ports meant to be reached from other hosts; they may listen on all addresses (limit them with the
# firewall instead).
DEFAULT_ALLOW_ANY_ADDRESS: t.Tuple[t.Union[int, str], ...] = (6443, 9345, 10250, 16443)


class PortsOptionsError(ValueError):
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


def _closed(rule: Rule, listeners: t.List[t.Mapping[str, t.Any]]) -> t.Dict[str, t.Any]:
    found = _on_ports(listeners, rule.extra["ports"])
    if not found:
        return make_result(rule, "pass", actual="not listening", source=_listener_source([]))
    return make_result(
        rule, "fail", actual="listening on " + ", ".join(describe_listener(s) for s in found),
        source=_listener_source(found),
    )


def _scope(rule: Rule, listeners: t.List[t.Mapping[str, t.Any]], scopes: t.Sequence[str]) -> t.Dict[str, t.Any]:
    found = _on_ports(listeners, rule.extra["ports"])
    expected = ",".join(scopes)
    if not found:
        return make_result(
            rule, "not_applicable", actual="not listening", expected=expected, source=_listener_source([]),
            message="nothing listens on port %s on this node" % "/".join(str(p) for p in rule.extra["ports"]),
        )
    bad = [s for s in found if s["scope"] not in scopes]
    actual = ", ".join("%s [%s]" % (describe_listener(s), s["scope"]) for s in found)
    return make_result(rule, "fail" if bad else "pass", actual=actual, expected=expected, source=_listener_source(found))


def _covered_ports() -> t.Set[int]:
    return {p for r in RULES if r.extra.get("check") in ("closed", "scope") for p in r.extra["ports"]}


def _allowed(sock: t.Mapping[str, t.Any], allow: t.Sequence[t.Union[int, str]]) -> bool:
    return sock["port"] in allow or sock.get("component") in allow or sock.get("process") in allow


def _no_any(rule: Rule, listeners: t.List[t.Mapping[str, t.Any]], allow: t.Sequence[t.Union[int, str]]) -> t.Dict[str, t.Any]:
    covered = _covered_ports()
    candidates = [s for s in listeners if s["kubernetes"] and s["scope"] == "any" and s["port"] not in covered]
    bad = [s for s in candidates if not _allowed(s, allow)]
    expected = "none on all addresses except %s" % (", ".join(str(a) for a in allow) or "nothing")
    allowed = [s for s in candidates if s not in bad]
    if bad:
        return make_result(rule, "fail", actual="on all addresses: " + ", ".join(describe_listener(s) for s in bad),
                           expected=expected, source=_listener_source(bad))
    actual = "allowed on all addresses: " + ", ".join(describe_listener(s) for s in allowed) if allowed else "none"
    return make_result(rule, "pass", actual=actual, expected=expected, source=_listener_source(allowed))


def _probe(rule: Rule, probe_runs: t.Sequence[t.Mapping[str, t.Any]]) -> t.Dict[str, t.Any]:
    seen = [(run.get("prober") or "node", p) for run in probe_runs for p in run.get("probes", [])
            if p.get("name") == rule.extra["probe"]]
    if not seen:
        return make_result(rule, "skipped", message="probe %s was not run" % rule.extra["probe"])
    actual = "; ".join("from %s: %s" % (who, p.get("message") or p.get("outcome")) for who, p in seen)
    source = "; ".join("GET %s from %s" % (p.get("url"), who) for who, p in seen)
    if any(p.get("denied") is False for who, p in seen):
        return make_result(rule, "fail", actual=actual, source=source)
    if any(p.get("denied") is None for who, p in seen):
        return make_result(rule, "error", actual=actual, source=source,
                           message="at least one probe could not tell whether access is denied")
    return make_result(rule, "pass", actual=actual, source=source)


def _scopes_option(name: str, value: t.Any) -> t.Tuple[str, ...]:
    values = tuple(value)
    unknown = [v for v in values if v not in SCOPES]
    if not values or unknown:
        raise PortsOptionsError("%s must be a non-empty list of %s, not %r" % (name, ", ".join(SCOPES), list(value)))
    return values


def _waiver_for(rule: Rule, waivers: t.Sequence[t.Mapping[str, t.Any]]) -> t.Optional[t.Mapping[str, t.Any]]:
    for waiver in waivers:
        if not isinstance(waiver, t.Mapping) or not waiver.get("id") or not waiver.get("reason"):
            raise PortsOptionsError("each waiver needs an id and a reason, e.g. {id: %s, reason: ..., expires: "
                                    "2026-12-31}; got %r" % (rule.id, waiver))
        if waiver["id"] == rule.id:
            return waiver
    return None


def _waive(result: t.Dict[str, t.Any], waiver: t.Optional[t.Mapping[str, t.Any]], today: datetime.date) -> t.Dict[str, t.Any]:
    if not waiver or result["status"] not in ("fail", "error"):
        return result
    expires = waiver.get("expires")
    if expires:
        try:
            day = datetime.date.fromisoformat(str(expires))
        except ValueError:
            raise PortsOptionsError("waiver for %s has an unreadable expiry %r; use YYYY-MM-DD" % (waiver["id"], expires)) from None
        if day < today:
            result["message"] = ("waiver expired on %s; " % day) + result["message"]
            return result
    result["status"] = "waived"
    result["waiver"] = {"reason": waiver["reason"], "expires": str(expires) if expires else None}
    return result


def evaluate(
    listing: t.Optional[t.Mapping[str, t.Any]],
    probe_runs: t.Optional[t.Sequence[t.Mapping[str, t.Any]]],
    options: t.Optional[t.Mapping[str, t.Any]] = None,
    offline_reason: str = "",
    today: t.Optional[datetime.date] = None,
) -> t.List[t.Dict[str, t.Any]]:
    """One result per ports rule.

    ``listing`` is listening_ports' result, ``probe_runs`` a list of port_probe results each with a
    ``prober`` label (None: probes disabled). ``offline_reason`` makes every rule not_applicable.
    Options: allow_any_address, kube_proxy_healthz_scopes, kube_proxy_metrics_scopes, rules (only these
    rule IDs; empty: all), skip (rule IDs), waivers ([{id, reason, expires}]).
    """
    options = dict(options or {})
    allow = list(options.get("allow_any_address", DEFAULT_ALLOW_ANY_ADDRESS))
    skip = set(options.get("skip") or ())
    only = set(options.get("rules") or ())
    waivers = list(options.get("waivers") or ())
    today = today or datetime.date.today()
    listeners = list((listing or {}).get("listeners", []))
    results = []
    for rule in RULES:
        if only and rule.id not in only:
            continue
        check = rule.extra["check"]
        if rule.id in skip:
            result = make_result(rule, "skipped", message="skipped by configuration")
        elif offline_reason:
            result = make_result(rule, "not_applicable", message=offline_reason)
        elif check == "probe":
            if probe_runs is None:
                result = make_result(rule, "skipped", message="live probes are off (kubefort_ports_probe: false)")
            else:
                result = _probe(rule, probe_runs)
        elif check == "closed":
            result = _closed(rule, listeners)
        elif check == "scope":
            name = rule.extra.get("option")
            scopes = _scopes_option(name, options[name]) if name and options.get(name) else rule.extra["scopes"]
            result = _scope(rule, listeners, scopes)
        else:
            result = _no_any(rule, listeners, allow)
        results.append(_waive(result, _waiver_for(rule, waivers), today))
    return results
