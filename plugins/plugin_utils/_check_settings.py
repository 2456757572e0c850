# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The checks of one effective setting: a plain comparison, authorization modes, durations, cipher lists,
feature gates, loopback addresses and manual decisions (the evaluators _check_engines registers).

The setting on disk decides and is what a fix changes; a running process that differs needs a restart.
"""

from __future__ import annotations

import dataclasses
import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils._check_specs import (
    AuthorizationMode,
    CipherSuites,
    Compare,
    DurationNonZero,
    FeatureGate,
    Loopback,
    Manual,
)
from ansible_collections.kubefort.hardening.plugins.module_utils._flags import FlagSet, parse_bool, split_list
from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Rule
from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import Component, Node
from ansible_collections.kubefort.hardening.plugins.plugin_utils._findings import Finding, Fix
from ansible_collections.kubefort.hardening.plugins.plugin_utils._node_options import NodeOptions
from ansible_collections.kubefort.hardening.plugins.plugin_utils._settings import (
    Setting,
    address_scope,
    compare,
    flag_source,
    lookup,
    normalize,
    operator_transform,
    parse_duration,
    rule_default,
    split_host_port,
)


def override_value(rule: Rule, expected: t.Any) -> t.Optional[str]:
    return None if expected == rule.expected else normalize(expected)


def expected_words(rule: Rule, expected: t.Any) -> t.Optional[str]:
    if expected == rule.expected:
        return None
    return "%s (override)" % normalize(expected)


def evaluate_setting(comp: Component, rule: Rule, expected: t.Any, insert_first: bool = False) -> Finding:
    """The rule's operator on the effective setting; a fix writes what the operator asks for."""
    return judge(comp, rule, lambda setting: compare(rule.operator, setting.value, expected), expected,
                 lambda disk: setting_fix(comp, rule, disk, expected, insert_first=insert_first), name_running=True)


def setting_fix(comp: Component, rule: Rule, setting: Setting, expected: t.Any,
                value: t.Any = None, config_key: t.Optional[str] = None, insert_first: bool = False) -> Fix:
    value = operator_transform(rule, setting.value, expected, insert_first) if value is None else value
    config_key = config_key or rule.config_key
    if setting.origin == "flag" or not config_key or comp.mode == "flags":
        return Fix("flag", comp.name, t.cast(str, rule.flag), normalize(value))
    # Lists (tlsCipherSuites) are written by _edits_extra; the Planner's config edit takes scalars.
    return Fix("config_list" if isinstance(value, (list, tuple)) else "config", comp.name, config_key, value)


def evaluate_compare(node: Node, comp: Component, rule: Rule, spec: Compare, expected: t.Any,
                     options: NodeOptions) -> Finding:
    return evaluate_setting(comp, rule, expected, spec.insert_first)


def evaluate_authorization_mode(node: Node, comp: Component, rule: Rule, spec: AuthorizationMode, expected: t.Any,
                                options: NodeOptions) -> Finding:
    """CIS 1.2.6-1.2.8: from the AuthorizationConfiguration when --authorization-config is set, else the flag."""
    if comp.disk_flags is not None and comp.disk_flags.has("authorization-config"):
        from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate_files import evaluate_authz_config

        return evaluate_authz_config(node, comp, rule, options)
    return evaluate_setting(comp, rule, expected, spec.insert_first)


def disk_and_running(comp: Component, rule: Rule, flag: t.Optional[str] = None,
                     config_key: t.Optional[str] = None) -> t.Tuple[Setting, t.Optional[Setting]]:
    disk = lookup(comp, rule, comp.disk_flags, flag, config_key)
    running = lookup(comp, rule, comp.running_flags, flag, config_key) if comp.running_flags is not None else None
    return disk, running


def judge(comp: Component, rule: Rule, ok: t.Callable[[Setting], bool], expected: t.Any,
          fix: t.Callable[[Setting], t.Optional[Fix]], flag: t.Optional[str] = None,
          config_key: t.Optional[str] = None, name_running: bool = False) -> Finding:
    """The disk setting decides (and is fixed); a running process that differs needs a restart.

    ``name_running``: a failing disk value's message says what the running process has when that differs.
    """
    disk, running = disk_and_running(comp, rule, flag, config_key)
    shown = running or disk
    passed = Finding(rule, "pass", shown.value, shown.source, expected=expected_words(rule, expected),
                     expected_value=override_value(rule, expected))
    if not ok(disk):
        message = ""
        if name_running and running is not None and running.value != disk.value:
            message = "running process has %s; the file it starts from has %s" % (running.value, disk.value)
        fixed = fix(disk) if rule.automated else None
        return dataclasses.replace(passed, status="fail", actual=disk.value, source=disk.source, message=message,
                                   fixes=(fixed,) if fixed is not None else ())
    if running is not None and not ok(running):
        return dataclasses.replace(passed, status="fail", restart_only=True, message=(
            "the file already has %s but the running process has %s: restart %s" % (disk.value, running.value, comp.name)))
    return passed


def evaluate_duration(node: Node, comp: Component, rule: Rule, spec: DurationNonZero, expected: t.Any,
                      options: NodeOptions) -> Finding:
    def effective(setting: Setting) -> t.Optional[float]:
        seconds = parse_duration(setting.value)
        if seconds == 0 and setting.origin == "config" and spec.config_zero_is_default:
            return parse_duration(normalize(rule_default(comp, rule)))
        return seconds

    def ok(setting: Setting) -> bool:
        seconds = effective(setting)
        return seconds is not None and seconds > 0

    value = expected if expected != rule.expected else rule.fix
    finding = judge(comp, rule, ok, expected, lambda s: setting_fix(comp, rule, s, expected, value=value))
    disk, _running = disk_and_running(comp, rule)
    if disk.origin == "config" and parse_duration(disk.value) == 0 and spec.config_zero_is_default:
        return dataclasses.replace(finding, message="%s is 0 in the config file, which the kubelet replaces with its "
                                                    "default %s" % (rule.config_key, rule_default(comp, rule)))
    return finding


def duration_transform(rule: Rule, current: t.Optional[str], expected: t.Any) -> t.Any:
    return rule.fix if expected == rule.expected else expected


def allowed_ciphers(rule: Rule, expected: t.Any) -> t.List[str]:
    if isinstance(expected, (list, tuple)):
        return [str(c) for c in expected]
    if expected == rule.expected or str(expected).startswith("only "):
        return [str(c) for c in rule.fix]
    return split_list(str(expected))


def evaluate_ciphers(node: Node, comp: Component, rule: Rule, spec: CipherSuites, expected: t.Any,
                     options: NodeOptions) -> Finding:
    allowed = allowed_ciphers(rule, expected)

    def ok(setting: Setting) -> bool:
        items = split_list(setting.value)
        return bool(items) and all(i in allowed for i in items)

    finding = judge(comp, rule, ok, expected, lambda s: setting_fix(comp, rule, s, expected, value=list(allowed)))
    if finding.status == "fail" and not finding.actual:
        return dataclasses.replace(finding, message="not set: Go's default suites include CBC and RSA key exchange suites")
    if finding.status == "fail":
        weak = [i for i in split_list(finding.actual) if i not in allowed]
        return dataclasses.replace(finding, message="not in the allowed list: %s" % ", ".join(weak))
    return finding


def _gate_value(flags_value: t.Optional[str], gate: str) -> t.Optional[str]:
    for pair in split_list(flags_value):
        key, _sep, val = pair.partition("=")
        if key.strip() == gate:
            return val.strip()
    return None


def _with_gate(current: t.Optional[str], gate: str, value: bool) -> str:
    pairs = [p for p in split_list(current) if p.partition("=")[0].strip() != gate]
    return ",".join(pairs + ["%s=%s" % (gate, normalize(value))])


def evaluate_feature_gate(node: Node, comp: Component, rule: Rule, spec: FeatureGate, expected: t.Any,
                          options: NodeOptions) -> Finding:
    gate = spec.gate

    def setting(flags: t.Optional[FlagSet]) -> t.Tuple[Setting, str]:
        value = _gate_value(flags.value(t.cast(str, rule.flag)), gate) if flags is not None and flags.has(t.cast(str, rule.flag)) else None
        if value is not None:
            return Setting(value, flag_source(flags, t.cast(str, rule.flag)), "flag"), t.cast(str, flags.value(t.cast(str, rule.flag)))
        if rule.config_key and comp.config_path:
            found, cvalue, source = comp.config_value(rule.config_key)
            if found:
                return Setting(normalize(cvalue), t.cast(str, source), "config"), ""
        return Setting(normalize(spec.default), "default (%s: gate %s on by default)" % (comp.name, gate), "default"), ""

    disk, whole = setting(comp.disk_flags)
    running = setting(comp.running_flags)[0] if comp.running_flags is not None else None
    shown = running or disk
    if parse_bool(disk.value) is False:
        if disk.origin == "flag":
            fix = Fix("flag", comp.name, t.cast(str, rule.flag), _with_gate(whole, gate, True))
        else:
            fix = Fix("config", comp.name, t.cast(str, rule.config_key), True)
        return Finding(rule, "fail", "%s=%s" % (gate, disk.value), disk.source, fixes=(fix,))
    if running is not None and parse_bool(running.value) is False:
        return Finding(rule, "fail", "%s=%s" % (gate, shown.value), shown.source, restart_only=True, message=(
            "the file has %s=%s but the running process has false: restart %s" % (gate, disk.value, comp.name)))
    return Finding(rule, "pass", "%s=%s" % (gate, shown.value), shown.source)


def ciphers_transform(rule: Rule, current: t.Optional[str], expected: t.Any) -> t.Any:
    return ",".join(allowed_ciphers(rule, expected))


def feature_gate_transform(rule: Rule, current: t.Optional[str], expected: t.Any) -> t.Any:
    return _with_gate(current, t.cast(FeatureGate, rule.check).gate, True)


def loopback_fix_value(current: t.Optional[str], rule: Rule) -> str:
    _host, port = split_host_port(current or "")
    fix_host, fix_port = split_host_port(str(rule.fix))
    port = port or fix_port
    return "%s:%s" % (fix_host, port) if port else fix_host


def evaluate_loopback(node: Node, comp: Component, rule: Rule, spec: Loopback, expected: t.Any,
                      options: NodeOptions) -> Finding:
    allowed = ("loopback", "specific") if spec.allow_specific else ("loopback",)

    def ok(setting: Setting) -> bool:
        return setting.value is not None and address_scope(split_host_port(setting.value)[0]) in allowed

    finding = judge(comp, rule, ok, expected,
                    lambda s: setting_fix(comp, rule, s, expected, value=loopback_fix_value(s.value, rule)))
    if finding.status == "fail" and finding.actual is not None:
        scope = address_scope(split_host_port(finding.actual)[0])
        return dataclasses.replace(finding, message="listens on %s" % (
            "every address" if scope == "any" else "a non-loopback address (%s)" % finding.actual))
    return finding


def evaluate_manual(node: Node, comp: Component, rule: Rule, spec: Manual, expected: t.Any,
                    options: NodeOptions) -> Finding:
    """Evidence for a human decision; with an override it becomes an enforced, fixable setting."""
    if options.overridden(rule) and (rule.flag or rule.config_key):
        enforced = dataclasses.replace(rule, operator="eq", automated=True, expected=expected, fix=expected,
                                       check=Compare())
        return dataclasses.replace(evaluate_setting(comp, enforced, expected),
                                   expected="%s (override)" % normalize(expected), expected_value=normalize(expected))
    actual, source = None, ""
    if rule.flag or rule.config_key:
        setting = lookup(comp, rule, comp.running_flags or comp.disk_flags)
        if setting.origin == "unset" and spec.default_value is not None:
            setting = Setting(spec.default_value, "default (%s)" % comp.name, "default")
        actual, source = setting.value, setting.source
    return Finding(rule, "manual", actual, source, message=spec.guidance)


def loopback_transform(rule: Rule, current: t.Optional[str], expected: t.Any) -> t.Any:
    return loopback_fix_value(current, rule)
