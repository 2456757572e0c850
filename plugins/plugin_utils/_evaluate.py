# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Evaluate catalog rules against a node's effective settings, and say what a fix would change."""

from __future__ import annotations

import datetime
import typing as t
from dataclasses import dataclass, field

from ansible_collections.kubefort.hardening.plugins.module_utils._flags import (
    FlagSet,
    parse_bool,
    split_list,
)
from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Rule
from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import (
    Component,
    Node,
)


@dataclass
class Options:
    remediate: bool = True
    overrides: t.Mapping[str, t.Any] = field(default_factory=dict)
    waivers: t.Sequence[t.Mapping[str, t.Any]] = ()
    level: int = 1
    apiserver_anonymous_force: bool = False
    today: datetime.date = field(default_factory=lambda: datetime.datetime.now(datetime.timezone.utc).date())


@dataclass
class Setting:
    value: t.Optional[str]
    source: str
    origin: str  # "flag", "config", "default", "file", "unset"


@dataclass
class Fix:
    """One change a rule asks for. ``kind`` is ``flag``, ``config``, ``attrs`` or ``apiserver_anonymous``."""

    kind: str
    component: str
    target: str  # flag name, dotted config key, or file path
    value: t.Any = None
    mode: t.Optional[str] = None
    owner: t.Optional[str] = None
    group: t.Optional[str] = None


@dataclass
class Finding:
    rule: Rule
    status: str  # pass, fail, manual, not_applicable, error (before remediation)
    actual: t.Optional[str] = None
    source: str = ""
    expected: t.Optional[str] = None
    message: str = ""
    fix: t.Optional[Fix] = None
    restart_only: bool = False  # the file is right, the running process is not


def normalize(value: t.Any) -> t.Optional[str]:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def compare(operator: str, actual: t.Optional[str], expected: t.Any) -> bool:
    if operator == "present":
        return actual is not None and actual != ""
    if operator == "absent":
        return actual is None
    if actual is None:
        return False
    if operator in ("contains", "not_contains"):
        items = split_list(actual)
        wanted = [str(e) for e in (expected if isinstance(expected, (list, tuple)) else [expected])]
        has = all(w in items for w in wanted) if operator == "contains" else not any(w in items for w in wanted)
        return has
    if isinstance(expected, bool):
        same = parse_bool(actual) == expected
    elif isinstance(expected, int):
        try:
            number = int(actual)
        except ValueError:
            return False
        if operator == "gte":
            return number >= expected
        if operator == "lte":
            return number <= expected
        same = number == expected
    else:
        same = actual == str(expected)
    return same if operator == "eq" else not same


def _flag_source(flags: FlagSet, name: str) -> str:
    where = []
    for src in flags.sources(name):
        path, line = src.get("path"), src.get("line")
        where.append("%s:%s" % (path, line) if line else str(path))
    return "--%s at %s" % (name, ", ".join(where) if where else "command line")


def lookup(comp: Component, rule: Rule, flags: t.Optional[FlagSet]) -> Setting:
    """The effective value of a rule's setting: flag, else config file, else documented default."""
    if rule.flag and flags is not None and flags.has(rule.flag):
        return Setting(flags.value(rule.flag), _flag_source(flags, rule.flag), "flag")
    if rule.config_key and comp.config_path:
        found, value, source = comp.config_value(rule.config_key)
        if found:
            return Setting(normalize(value), t.cast(str, source), "config")
    default = rule.default.get(comp.mode, rule.default.get("any"))
    if default is None:
        return Setting(None, "not set", "unset")
    how = "config file %s" % comp.config_path if comp.mode == "config" else "no config file" if rule.config_key else "not set"
    return Setting(normalize(default), "default (%s, %s)" % (comp.name, how), "default")


def transform(rule: Rule, current: t.Optional[str], expected: t.Any) -> t.Any:
    """The value that makes ``current`` satisfy the rule (for flags and config keys)."""
    if rule.operator in ("eq", "gte", "lte"):
        return expected if rule.fix is None or expected != rule.expected else rule.fix
    if rule.operator == "noteq":
        return rule.fix
    items = split_list(current)
    if rule.operator == "not_contains":
        banned = expected if isinstance(expected, (list, tuple)) else [expected]
        items = [i for i in items if i not in [str(b) for b in banned]]
        return ",".join(items) if items else rule.fix
    if rule.operator == "contains":
        for wanted in (expected if isinstance(expected, (list, tuple)) else [expected]):
            if str(wanted) not in items:
                items = [str(wanted)] + items if rule.extra.get("insert") == "first" else items + [str(wanted)]
        return ",".join(items)
    return rule.fix


def waiver_for(rule: Rule, options: Options) -> t.Tuple[t.Optional[t.Mapping[str, t.Any]], str]:
    """The waiver that applies to a rule, and a note when one expired."""
    for waiver in options.waivers:
        if waiver.get("id") not in (rule.id, rule.cis):
            continue
        expires = waiver.get("expires")
        if expires:
            try:
                day = datetime.date.fromisoformat(str(expires))
            except ValueError:
                return None, "waiver for %s has an unreadable expiry %r (use YYYY-MM-DD)" % (rule.id, expires)
            if day < options.today:
                return None, "waiver expired on %s (%s)" % (day, waiver.get("reason", ""))
        return waiver, ""
    return None, ""


def evaluate(node: Node, rules: t.Sequence[Rule], options: Options) -> t.List[Finding]:
    findings = []
    for rule in rules:
        comp = node.components.get(rule.component)
        if comp is None or not comp.present:
            findings.append(Finding(rule, "not_applicable", message="%s does not run on this node" % rule.component))
            continue
        if rule.level > options.level:
            findings.append(Finding(rule, "not_applicable", message="level %d rule; profile is level %d" % (rule.level, options.level)))
            continue
        if comp.errors and (rule.config_key or rule.extra.get("file") == "config"):
            findings.append(Finding(rule, "error", message="; ".join(comp.errors) + ". Fix the file, then run again."))
            continue
        expected = options.overrides.get(rule.id, rule.expected)
        if rule.extra.get("file"):
            findings.append(_evaluate_file(node, comp, rule, expected))
        elif rule.extra.get("check") == "apiserver_anonymous":
            findings.append(_evaluate_apiserver_anonymous(node, comp, rule, options))
        else:
            findings.append(_evaluate_setting(comp, rule, expected))
    return findings


def _evaluate_setting(comp: Component, rule: Rule, expected: t.Any) -> Finding:
    disk = lookup(comp, rule, comp.disk_flags)
    running = lookup(comp, rule, comp.running_flags) if comp.running_flags is not None else None
    shown = running or disk
    words = None if expected == rule.expected else "%s (override)" % expected
    finding = Finding(rule, "pass", shown.value, shown.source, expected=words)
    disk_ok = compare(rule.operator, disk.value, expected)
    if not disk_ok:
        finding.status = "fail"
        finding.actual, finding.source = disk.value, disk.source
        if running is not None and running.value != disk.value:
            finding.message = "running process has %s; the file it starts from has %s" % (running.value, disk.value)
        if rule.automated:
            finding.fix = _setting_fix(comp, rule, disk, expected)
    elif running is not None and not compare(rule.operator, running.value, expected):
        finding.status = "fail"
        finding.restart_only = True
        finding.message = "the file already has %s but the running process has %s: restart %s" % (disk.value, running.value, comp.name)
    return finding


def _setting_fix(comp: Component, rule: Rule, setting: Setting, expected: t.Any) -> Fix:
    value = transform(rule, setting.value, expected)
    if setting.origin == "flag" or not rule.config_key or comp.mode == "flags":
        return Fix("flag", comp.name, t.cast(str, rule.flag), normalize(value))
    return Fix("config", comp.name, rule.config_key, value)


def _evaluate_file(node: Node, comp: Component, rule: Rule, expected: t.Any) -> Finding:
    which = rule.extra["file"]
    path = comp.manifest.path if which == "manifest" and comp.manifest else comp.config_path if which == "config" else which
    if not path:
        return Finding(rule, "not_applicable", message="%s has no %s file on this node" % (comp.name, which))
    info = node.file(path)
    if info.get("type") in ("missing", "unknown"):
        return Finding(rule, "error", source=path, message="%s does not exist; the rule cannot be checked" % path)
    if rule.operator == "mode_at_most":
        mode = int(info["mode"], 8)
        allowed = int(str(expected), 8)
        ok = mode & ~allowed == 0
        finding = Finding(rule, "pass" if ok else "fail", info["mode"], path)
        if not ok and rule.automated:
            # Only take away bits: 0640 against 600 becomes 0600, 0400 stays.
            finding.fix = Fix("attrs", comp.name, path, mode="%04o" % (mode & allowed))
        return finding
    owner = "%s:%s" % (info.get("owner") or info.get("uid"), info.get("group") or info.get("gid"))
    ok = owner == str(expected)
    finding = Finding(rule, "pass" if ok else "fail", owner, path)
    if not ok and rule.automated:
        user, _, group = str(expected).partition(":")
        finding.fix = Fix("attrs", comp.name, path, owner=user, group=group or None)
    return finding


ANONYMOUS_HEALTH_PATHS = ("/livez", "/readyz", "/healthz")


def version_tuple(version: t.Optional[str]) -> t.Tuple[int, ...]:
    try:
        return tuple(int(p) for p in str(version).split(".")[:2])
    except ValueError:
        return ()


def _evaluate_apiserver_anonymous(node: Node, comp: Component, rule: Rule, options: Options) -> Finding:
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._authn import (
        anonymous_policy,
    )

    flags = comp.disk_flags or FlagSet(comp.name)
    setting = lookup(comp, rule, flags)
    config_path = flags.value("authentication-config")
    policy = anonymous_policy(node.files.get(config_path or "", {}), config_path) if config_path else None
    if policy is not None and policy.error:
        return Finding(rule, "error", source=config_path or "", message=policy.error)
    if policy is not None and policy.configured:
        ok = not policy.enabled or set(policy.paths) <= set(ANONYMOUS_HEALTH_PATHS) and bool(policy.paths)
        actual = "AuthenticationConfiguration anonymous %s" % (
            "disabled" if not policy.enabled else "on %s" % (",".join(policy.paths) or "every path"))
        finding = Finding(rule, "pass" if ok else "manual", actual, config_path or "")
        if not ok:
            finding.message = "the AuthenticationConfiguration is yours: limit anonymous.conditions to %s" % ", ".join(ANONYMOUS_HEALTH_PATHS)
        return finding
    if parse_bool(setting.value) is False:
        return Finding(rule, "pass", setting.value, setting.source)
    finding = Finding(rule, "fail", setting.value, setting.source)
    version = version_tuple(comp.version)
    if options.apiserver_anonymous_force:
        finding.fix = Fix("flag", comp.name, "anonymous-auth", "false")
        finding.message = "forced by kubefort_apiserver_anonymous_auth_force: anonymous HTTP probes will get 401"
    elif version >= (1, 32) and not config_path:
        finding.fix = Fix("apiserver_anonymous", comp.name, "authentication-config", value=comp.version)
    else:
        finding.status = "manual"
        finding.message = (
            "Kubernetes %s: --anonymous-auth=false would make the kubelet's anonymous liveness, readiness and "
            "startup probes fail (401) and restart the API server. Anonymous requests reach only what RBAC "
            "grants system:anonymous/system:unauthenticated (by default /healthz, /livez, /readyz, /version): "
            "check those bindings, upgrade to >= 1.32 for an automatic fix, or set "
            "kubefort_apiserver_anonymous_auth_force: true after changing the probes." % (comp.version or "of unknown version")
        )
    return finding
