# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Evaluate catalog rules against a node's effective settings, and say what a fix would change.

A rule is checked in one of three ways: a plain comparison of one effective setting (``lookup``:
flag, else config key, else the documented default for the component's mode and version), a file
rule (mode or owner of the files ``extra["file"]`` names, plus their parent directory), or a named
check (``extra["check"]``, see ``CHECKS``). Rules outside the running version's range are
not_applicable, and a fix is only planned when the version is known to accept the flag.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import ipaddress
import os
import re
import typing as t
from dataclasses import dataclass, field

from ansible_collections.kubefort.hardening.plugins.module_utils._flags import (
    FlagSet,
    parse_bool,
    split_list,
)
from ansible_collections.kubefort.hardening.plugins.module_utils._policy import Policy
from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Rule
from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import Component, Node
from ansible_collections.kubefort.hardening.plugins.plugin_utils._kubelet_merge import KUBELET_MERGE_DEFAULTS, is_zero

# Where kubefort writes files whose content the operator supplies (audit policy, encryption config ...).
SUPPLIED_DIR = "/etc/kubernetes/kubefort"
AUDIT_LOG_DIR = "/var/log/kubernetes/audit"
# The role variable that carries each supplied input (for messages).
INPUT_VARIABLES = {
    "audit_policy": "kubefort_apiserver_audit_policy",
    "encryption_config": "kubefort_apiserver_encryption_config",
    "admission_config": "kubefort_apiserver_admission_config",
}


@dataclass(frozen=True)
class NodeOptions(Policy):
    """One node run's options: the policy every area shares, and what only node rules use."""

    remediate: bool = True
    apiserver_anonymous_force: bool = False
    # Opt-in (Kubernetes < 1.32 with kubeadm's anonymous httpGet probes): tcpSocket probes and --anonymous-auth=false.
    apiserver_probes_tcp: bool = False
    # Content the operator supplies for fixes that need it, keyed by the rule's extra["input"].
    supplied: t.Mapping[str, str] = field(default_factory=dict)
    # kubefort_benchmark: auto (by the host's version), cis-1.12 or cis-2.0.
    benchmark: str = "auto"


# The name the tests, the benchmark and the action use.
Options = NodeOptions


@dataclass
class Setting:
    value: t.Optional[str]
    source: str
    origin: str  # "flag", "config", "default", "file", "unset"


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


@dataclass
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


@dataclass
class Finding:
    rule: Rule
    status: str  # pass, fail, manual, not_applicable, error (before remediation)
    actual: t.Optional[str] = None
    source: str = ""
    expected: t.Optional[str] = None  # display text of what is expected, when not the rule's own
    message: str = ""
    fix: t.Optional[Fix] = None
    restart_only: bool = False  # the file is right, the running process is not
    more_fixes: t.List[Fix] = field(default_factory=list)  # further files of a multi-file rule
    # The value judged against (normalized) when an override replaces the rule's own; planners read this,
    # never the display text in ``expected``.
    expected_value: t.Optional[str] = None

    @property
    def fixes(self) -> t.List[Fix]:
        return ([self.fix] if self.fix is not None else []) + list(self.more_fixes)


def normalize(value: t.Any) -> t.Optional[str]:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def _number(text: t.Any) -> t.Optional[float]:
    try:
        return float(str(text).strip())
    except ValueError:
        return None


def compare(operator: str, actual: t.Optional[str], expected: t.Any) -> bool:
    if operator == "present":
        return actual is not None and actual != ""
    if operator == "absent":
        return actual is None
    if actual is None:
        return False
    if operator in ("contains", "not_contains"):
        items = split_list(actual)
        wanted = [str(e) for e in (expected if isinstance(expected, (list, tuple)) else split_list(str(expected)))]
        has = all(w in items for w in wanted) if operator == "contains" else not any(w in items for w in wanted)
        return has
    if operator in ("gte", "lte"):
        number, limit = _number(actual), _number(expected)
        if number is None or limit is None:
            return False
        return number >= limit if operator == "gte" else number <= limit
    if isinstance(expected, bool):
        same = parse_bool(actual) == expected
    elif isinstance(expected, int):
        number = _number(actual)
        same = number is not None and number == expected
    else:
        same = actual == str(expected)
    return same if operator == "eq" else not same


def _flag_source(flags: FlagSet, name: str) -> str:
    where = []
    for src in flags.sources(name):
        path, line = src.get("path"), src.get("line")
        place = "%s:%s" % (path, line) if line else str(path)
        where.append("%s in %s" % (src["env"], place) if src.get("env") else place)
    return "--%s at %s" % (name, ", ".join(where) if where else "command line")


def version_tuple(version: t.Optional[str]) -> t.Tuple[int, ...]:
    try:
        return tuple(int(p) for p in str(version).split(".")[:2])
    except ValueError:
        return ()


def rule_default(comp: Component, rule: Rule) -> t.Any:
    """The documented default for the component's mode, and for its version when it changed."""
    default = rule.default.get(comp.mode, rule.default.get("any"))
    version = version_tuple(comp.version)
    for since, value in sorted(rule.extra.get("default_from", {}).items(), key=lambda kv: version_tuple(kv[0])):
        if version and version >= version_tuple(since):
            default = value
    for until, value in sorted(rule.extra.get("default_before", {}).items(), key=lambda kv: version_tuple(kv[0]), reverse=True):
        if version and version < version_tuple(until):
            default = value
    return default


def lookup(comp: Component, rule: Rule, flags: t.Optional[FlagSet], flag: t.Optional[str] = None,
           config_key: t.Optional[str] = None) -> Setting:
    """The effective value of a rule's setting: flag, else config file, else documented default."""
    flag = flag or rule.flag
    config_key = config_key or rule.config_key
    empty_is_default = bool(rule.extra.get("empty_is_default"))
    if flag and flags is not None and flags.has(flag):
        value = flags.value(flag)
        if not (empty_is_default and value == ""):
            return Setting(value, _flag_source(flags, flag), "flag")
    if config_key and comp.config_path:
        found, value, source = comp.config_value(config_key)
        if found and not (empty_is_default and value in ("", None)):
            return Setting(normalize(value), t.cast(str, source), "config")
    default = rule_default(comp, rule)
    if default is None:
        return Setting(None, "not set", "unset")
    how = "config file %s" % comp.config_path if comp.mode == "config" else "no config file" if config_key else "not set"
    versioned = rule.extra.get("default_from") or rule.extra.get("default_before")
    version = " %s" % comp.version if versioned and comp.version else ""
    return Setting(normalize(default), "default (%s%s, %s)" % (comp.name, version, how), "default")


def transform(rule: Rule, current: t.Optional[str], expected: t.Any) -> t.Any:
    """The value that makes ``current`` satisfy the rule (for flags and config keys)."""
    check = rule.extra.get("check")
    if check in _TRANSFORMS:
        return _TRANSFORMS[check](rule, current, expected)
    if rule.operator in ("eq", "gte", "lte"):
        return expected if rule.fix is None or expected != rule.expected else rule.fix
    if rule.operator == "noteq":
        return rule.fix
    items = split_list(current)
    if rule.operator == "not_contains":
        banned = expected if isinstance(expected, (list, tuple)) else split_list(str(expected))
        items = [i for i in items if i not in [str(b) for b in banned]]
        return ",".join(items) if items else rule.fix
    if rule.operator == "contains":
        for wanted in (expected if isinstance(expected, (list, tuple)) else split_list(str(expected))):
            if str(wanted) not in items:
                items = [str(wanted)] + items if rule.extra.get("insert") == "first" else items + [str(wanted)]
        return ",".join(items)
    return rule.fix


# --- the rule loop ---------------------------------------------------------------------------------


def version_gate(rule: Rule, version: t.Optional[str]) -> str:
    """Why a rule does not apply to this version ('' when it does, or when the version is unknown)."""
    have = version_tuple(version)
    if not have:
        return ""
    if rule.min_version and have < version_tuple(rule.min_version):
        return "applies from Kubernetes %s; this node runs %s" % (rule.min_version, version)
    if rule.max_version and have > version_tuple(rule.max_version):
        return "applies up to Kubernetes %s (the setting was removed or is always safe later); this node runs %s" % (
            rule.max_version, version)
    return ""


def evaluate(node: Node, rules: t.Sequence[Rule], options: Options) -> t.List[Finding]:
    return [_evaluate_one(node, rule, options) for rule in rules]


def _evaluate_one(node: Node, rule: Rule, options: Options) -> Finding:
    comp = node.components.get(rule.component)
    if comp is None or not comp.present:
        return Finding(rule, "not_applicable", message="%s does not run on this node" % rule.component)
    outside = options.level_gate(rule)
    if outside:
        return Finding(rule, "not_applicable", message=outside)
    gate = version_gate(rule, comp.version)
    if gate:
        return Finding(rule, "not_applicable", message=gate)
    if comp.fatal:
        return Finding(rule, "error", message=comp.fatal + ". Fix the command line, then run again.")
    if comp.errors:
        # Fail closed: a file the component is configured from could not be read, decoded or parsed, so
        # none of its settings is known (a flag missing from what was read may be set in what was not).
        return Finding(rule, "error", message="; ".join(comp.errors) + ". Fix the file, then run again.")
    ambiguous = comp.config_ambiguous.get(tuple(rule.config_key.split("."))) if rule.config_key else None
    if ambiguous and not (rule.flag and comp.disk_flags is not None and comp.disk_flags.has(rule.flag)):
        return Finding(rule, "error", message=(
            "the kubelet's version is unknown and its --config-dir drop-ins give %s %s (kubelet 1.28 merges "
            "drop-ins differently): kubefort cannot tell which applies" % (rule.config_key, ambiguous)))
    cluster_side = getattr(comp, "cluster_side", None)
    if cluster_side and (rule.config_key or rule.flag):
        return Finding(rule, "manual", message="%s takes its settings from %s in the cluster, not from this node: "
                       "check the setting there" % (comp.name, cluster_side))
    expected = options.expected(rule)
    check = rule.extra.get("check")
    if rule.extra.get("file"):
        finding = _evaluate_file(node, comp, rule, expected)
    elif rule.id in _AUTHZ_CONFIG_RULES and comp.disk_flags is not None and comp.disk_flags.has("authorization-config"):
        from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate_files import evaluate_authz_config

        finding = evaluate_authz_config(node, comp, rule, options)
    elif check == "apiserver_anonymous":
        finding = _evaluate_apiserver_anonymous(node, comp, rule, options)
    elif check in CHECKS:
        finding = CHECKS[check](node, comp, rule, expected, options)
    else:
        finding = _evaluate_setting(comp, rule, expected)
    finding = _guard(finding, comp, rule, options)
    for note in comp.notes:
        finding.message = (finding.message + "; " if finding.message else "") + note
    return finding


# CIS 1.2.6-1.2.8: judged from the AuthorizationConfiguration when --authorization-config is set.
_AUTHZ_CONFIG_RULES = (
    "apiserver-authorization-mode-not-alwaysallow", "apiserver-authorization-mode-node", "apiserver-authorization-mode-rbac")


def _guard(finding: Finding, comp: Component, rule: Rule, options: Options) -> Finding:
    """Drop fixes that are not safe to write: unknown version for a versioned flag, undecided values."""
    if not finding.fixes:
        return finding
    if comp.merge_model == KUBELET_MERGE_DEFAULTS and any(
            f.kind == "config" and is_zero(f.value) for f in finding.fixes) and not comp.flag_defaults:
        finding.message = (finding.message + "; " if finding.message else "") + (
            "kubelet 1.28 merges --config-dir drop-ins 'override non-empty' (a 0, false or empty value in a "
            "drop-in never takes effect), so the value is written in %s, where it wins, and in each drop-in "
            "that sets another value" % comp.config_path)
    note = ""
    if (rule.min_version or rule.max_version) and not version_tuple(comp.version):
        note = ("the Kubernetes version of %s is unknown and --%s exists only in some versions: nothing written"
                % (comp.name, rule.flag))
    elif rule.extra.get("needs_override") and not options.overridden(rule):
        note = "choose the value for your cluster in kubefort_overrides.%s; kubefort then writes it" % rule.id
    if note:
        finding.fix, finding.more_fixes = None, []
        finding.message = (finding.message + "; " if finding.message else "") + note
    return finding


def _override_value(rule: Rule, expected: t.Any) -> t.Optional[str]:
    return None if expected == rule.expected else normalize(expected)


def _expected_words(rule: Rule, expected: t.Any) -> t.Optional[str]:
    if expected == rule.expected:
        return None
    return "%s (override)" % normalize(expected)


def _evaluate_setting(comp: Component, rule: Rule, expected: t.Any) -> Finding:
    disk = lookup(comp, rule, comp.disk_flags)
    running = lookup(comp, rule, comp.running_flags) if comp.running_flags is not None else None
    shown = running or disk
    finding = Finding(rule, "pass", shown.value, shown.source, expected=_expected_words(rule, expected),
                      expected_value=_override_value(rule, expected))
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


def _setting_fix(comp: Component, rule: Rule, setting: Setting, expected: t.Any,
                 value: t.Any = None, config_key: t.Optional[str] = None) -> Fix:
    value = transform(rule, setting.value, expected) if value is None else value
    config_key = config_key or rule.config_key
    if setting.origin == "flag" or not config_key or comp.mode == "flags":
        return Fix("flag", comp.name, t.cast(str, rule.flag), normalize(value))
    # Lists (tlsCipherSuites) are written by _edits_extra; the Planner's config edit takes scalars.
    return Fix("config_list" if isinstance(value, (list, tuple)) else "config", comp.name, config_key, value)


# --- named checks ----------------------------------------------------------------------------------

CheckFn = t.Callable[[Node, Component, Rule, t.Any, Options], Finding]


def _both(comp: Component, rule: Rule, flag: t.Optional[str] = None, config_key: t.Optional[str] = None
          ) -> t.Tuple[Setting, t.Optional[Setting]]:
    disk = lookup(comp, rule, comp.disk_flags, flag, config_key)
    running = lookup(comp, rule, comp.running_flags, flag, config_key) if comp.running_flags is not None else None
    return disk, running


def _judge(comp: Component, rule: Rule, ok: t.Callable[[Setting], bool], expected: t.Any,
           fix: t.Callable[[Setting], t.Optional[Fix]], flag: t.Optional[str] = None,
           config_key: t.Optional[str] = None) -> Finding:
    """The disk setting decides (and is fixed); a running process that differs needs a restart."""
    disk, running = _both(comp, rule, flag, config_key)
    shown = running or disk
    finding = Finding(rule, "pass", shown.value, shown.source, expected=_expected_words(rule, expected),
                      expected_value=_override_value(rule, expected))
    if not ok(disk):
        finding.status, finding.actual, finding.source = "fail", disk.value, disk.source
        if rule.automated:
            finding.fix = fix(disk)
    elif running is not None and not ok(running):
        finding.status, finding.restart_only = "fail", True
        finding.message = "the file already has %s but the running process has %s: restart %s" % (
            disk.value, running.value, comp.name)
    return finding


def _file_state(node: Node, path: str) -> str:
    kind = node.file(path).get("type")
    if kind in ("file", "dir", "other"):
        return "exists"
    if kind == "missing":
        return "missing"
    # Discovery walks whole directories (/etc/kubernetes/**): a path absent from a walked one is missing.
    parent = os.path.dirname(path)
    if node.file(parent).get("type") == "dir" and any(os.path.dirname(p) == parent for p in node.files if p != parent):
        return "missing"
    return "unknown"


def _check_flags_set(node: Node, comp: Component, rule: Rule, expected: t.Any, options: Options) -> Finding:
    """Each flag (or config key) is set and names a file that exists on the node."""
    flags = rule.extra.get("flags", (rule.flag,))
    keys = rule.extra.get("keys", (None,) * len(flags))
    values, sources, problems, notes = [], [], [], []
    for flag, key in zip(flags, keys):
        disk, _running = _both(comp, rule, flag, key)
        if not disk.value:
            problems.append("--%s is not set" % flag)
            continue
        values.append(disk.value)
        sources.append(disk.source)
        state = _file_state(node, disk.value)
        if state == "missing":
            problems.append("--%s names %s, which does not exist" % (flag, disk.value))
        elif state == "unknown":
            notes.append("%s was not collected, so its existence was not checked" % disk.value)
    finding = Finding(rule, "fail" if problems else "pass", ", ".join(values) or None, "; ".join(sources) or "not set")
    finding.message = "; ".join(problems + notes)
    return finding


def parse_duration(text: t.Optional[str]) -> t.Optional[float]:
    """Seconds in a Go duration ("4h0m0s", "5m", "300ms", "0"), None when unreadable."""
    if text is None:
        return None
    text = str(text).strip()
    if text in ("0", "+0", "-0"):
        return 0.0
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text.lstrip("+-"):
        return None
    total = sum(float(n) * units[u] for n, u in parts)
    return -total if text.startswith("-") else total


def _check_duration_nonzero(node: Node, comp: Component, rule: Rule, expected: t.Any, options: Options) -> Finding:
    def effective(setting: Setting) -> t.Optional[float]:
        seconds = parse_duration(setting.value)
        if seconds == 0 and setting.origin == "config" and rule.extra.get("config_zero_is_default"):
            return parse_duration(normalize(rule_default(comp, rule)))
        return seconds

    def ok(setting: Setting) -> bool:
        seconds = effective(setting)
        return seconds is not None and seconds > 0

    value = expected if expected != rule.expected else rule.fix
    finding = _judge(comp, rule, ok, expected, lambda s: _setting_fix(comp, rule, s, expected, value=value))
    disk, _running = _both(comp, rule)
    if disk.origin == "config" and parse_duration(disk.value) == 0 and rule.extra.get("config_zero_is_default"):
        finding.message = "%s is 0 in the config file, which the kubelet replaces with its default %s" % (
            rule.config_key, rule_default(comp, rule))
    return finding


def _allowed_ciphers(rule: Rule, expected: t.Any) -> t.List[str]:
    if isinstance(expected, (list, tuple)):
        return [str(c) for c in expected]
    if expected == rule.expected or str(expected).startswith("only "):
        return [str(c) for c in rule.fix]
    return split_list(str(expected))


def _check_ciphers(node: Node, comp: Component, rule: Rule, expected: t.Any, options: Options) -> Finding:
    allowed = _allowed_ciphers(rule, expected)

    def ok(setting: Setting) -> bool:
        items = split_list(setting.value)
        return bool(items) and all(i in allowed for i in items)

    finding = _judge(comp, rule, ok, expected, lambda s: _setting_fix(comp, rule, s, expected, value=list(allowed)))
    if finding.status == "fail" and not finding.actual:
        finding.message = "not set: Go's default suites include CBC and RSA key exchange suites"
    elif finding.status == "fail":
        weak = [i for i in split_list(finding.actual) if i not in allowed]
        finding.message = "not in the allowed list: %s" % ", ".join(weak)
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


def _check_feature_gate(node: Node, comp: Component, rule: Rule, expected: t.Any, options: Options) -> Finding:
    gate = rule.extra["gate"]

    def setting(flags: t.Optional[FlagSet]) -> t.Tuple[Setting, str]:
        value = _gate_value(flags.value(t.cast(str, rule.flag)), gate) if flags is not None and flags.has(t.cast(str, rule.flag)) else None
        if value is not None:
            return Setting(value, _flag_source(flags, t.cast(str, rule.flag)), "flag"), t.cast(str, flags.value(t.cast(str, rule.flag)))
        if rule.config_key and comp.config_path:
            found, cvalue, source = comp.config_value(rule.config_key)
            if found:
                return Setting(normalize(cvalue), t.cast(str, source), "config"), ""
        return Setting(normalize(rule.extra.get("gate_default")), "default (%s: gate %s on by default)" % (comp.name, gate), "default"), ""

    disk, whole = setting(comp.disk_flags)
    running = setting(comp.running_flags)[0] if comp.running_flags is not None else None
    shown = running or disk
    finding = Finding(rule, "pass", "%s=%s" % (gate, shown.value), shown.source)
    if parse_bool(disk.value) is False:
        finding.status, finding.actual, finding.source = "fail", "%s=%s" % (gate, disk.value), disk.source
        if disk.origin == "flag":
            finding.fix = Fix("flag", comp.name, t.cast(str, rule.flag), _with_gate(whole, gate, True))
        else:
            finding.fix = Fix("config", comp.name, t.cast(str, rule.config_key), True)
    elif running is not None and parse_bool(running.value) is False:
        finding.status, finding.restart_only = "fail", True
        finding.message = "the file has %s=%s but the running process has false: restart %s" % (gate, disk.value, comp.name)
    return finding


def split_host_port(value: str) -> t.Tuple[str, str]:
    """("127.0.0.1", "10249") from "127.0.0.1:10249", "[::1]:10249", ":10249", "127.0.0.1" or "127.0.0.0/8:10249"."""
    text = value.strip()
    if text.startswith("["):
        host, _sep, rest = text[1:].partition("]")
        return host, rest.lstrip(":")
    if text.count(":") == 1:
        host, _sep, port = text.partition(":")
        return host, port
    return text, ""


def address_scope(host: str) -> str:
    """``loopback``, ``any`` (every address) or ``specific``; ``unknown`` for names it cannot read."""
    if host in ("", "*"):
        return "any"
    if host == "localhost":
        return "loopback"
    try:
        network = ipaddress.ip_network(host, strict=False)
    except ValueError:
        return "unknown"
    if network.network_address.is_unspecified:
        return "any"
    if network.network_address.is_loopback and network.broadcast_address.is_loopback:
        return "loopback"
    return "specific"


def _loopback_fix_value(current: t.Optional[str], rule: Rule) -> str:
    _host, port = split_host_port(current or "")
    fix_host, fix_port = split_host_port(str(rule.fix))
    port = port or fix_port
    return "%s:%s" % (fix_host, port) if port else fix_host


def _check_loopback(node: Node, comp: Component, rule: Rule, expected: t.Any, options: Options) -> Finding:
    allowed = ("loopback", "specific") if rule.extra.get("allow_specific") else ("loopback",)

    def ok(setting: Setting) -> bool:
        return setting.value is not None and address_scope(split_host_port(setting.value)[0]) in allowed

    finding = _judge(comp, rule, ok, expected,
                     lambda s: _setting_fix(comp, rule, s, expected, value=_loopback_fix_value(s.value, rule)))
    if finding.status == "fail" and finding.actual is not None:
        scope = address_scope(split_host_port(finding.actual)[0])
        finding.message = "listens on %s" % ("every address" if scope == "any" else "a non-loopback address (%s)" % finding.actual)
    return finding


def _check_manual(node: Node, comp: Component, rule: Rule, expected: t.Any, options: Options) -> Finding:
    """Evidence for a human decision; with an override it becomes an enforced, fixable setting."""
    if options.overridden(rule) and (rule.flag or rule.config_key):
        enforced = dataclasses.replace(rule, operator=rule.extra.get("override_operator", "eq"), automated=True,
                                       expected=expected, fix=expected, extra={})
        finding = _evaluate_setting(comp, enforced, expected)
        finding.expected = "%s (override)" % normalize(expected)
        finding.expected_value = normalize(expected)
        return finding
    actual, source = None, ""
    if rule.flag or rule.config_key:
        setting = lookup(comp, rule, comp.running_flags or comp.disk_flags)
        if setting.origin == "unset" and rule.extra.get("default_value") is not None:
            setting = Setting(rule.extra["default_value"], "default (%s)" % comp.name, "default")
        actual, source = setting.value, setting.source
    return Finding(rule, "manual", actual, source, message=rule.extra.get("guidance", ""))


def _check_kubelet_serving_cert(node: Node, comp: Component, rule: Rule, expected: t.Any, options: Options) -> Finding:
    flags = comp.running_flags or comp.disk_flags
    cert = lookup(comp, rule, flags, "tls-cert-file", "tlsCertFile")
    key = lookup(comp, rule, flags, "tls-private-key-file", "tlsPrivateKeyFile")
    bootstrap = lookup(comp, rule, flags, "rotate-server-certificates", "serverTLSBootstrap")
    if parse_bool(bootstrap.value):
        return Finding(rule, "pass", "serverTLSBootstrap: true", bootstrap.source)
    if cert.value and key.value:
        return Finding(rule, "pass", "%s, %s" % (cert.value, key.value), "%s; %s" % (cert.source, key.source))
    finding = Finding(rule, "fail", cert.value or None, cert.source if cert.value else "not set")
    finding.message = "the kubelet generates a self-signed serving certificate the API server cannot verify"
    return finding


def _check_etcd_unique_ca(node: Node, comp: Component, rule: Rule, expected: t.Any, options: Options) -> Finding:
    flags = comp.running_flags or comp.disk_flags
    ca = lookup(comp, rule, flags)
    if not ca.value:
        return Finding(rule, "fail", None, "not set", message="etcd trusts no client CA (--trusted-ca-file)")
    api = node.components.get("kube-apiserver")
    api_flags = (api.running_flags or api.disk_flags) if api is not None and api.present else None
    client_ca = api_flags.value("client-ca-file") if api_flags is not None else None
    if client_ca and os.path.normpath(client_ca) == os.path.normpath(ca.value):
        return Finding(rule, "fail", ca.value, ca.source,
                       message="etcd trusts the API server's client CA %s: every cluster client certificate can reach etcd" % client_ca)
    if client_ca is None:
        return Finding(rule, "manual", ca.value, ca.source,
                       message="the API server does not run here: check that %s is not the cluster CA" % ca.value)
    return Finding(rule, "pass", ca.value, ca.source,
                   message="a different file from the API server's client CA %s (contents not compared)" % client_ca)


def _supplied_path(rule: Rule) -> str:
    return "%s/%s" % (SUPPLIED_DIR, rule.extra["file_name"])


def _check_supplied_file(node: Node, comp: Component, rule: Rule, expected: t.Any, options: Options) -> Finding:
    """A flag that must name a file whose content only the operator can write."""
    disk = lookup(comp, rule, comp.disk_flags)
    variable = INPUT_VARIABLES.get(rule.extra["input"], rule.extra["input"])
    if disk.value:
        state = _file_state(node, disk.value)
        if state == "missing":
            return Finding(rule, "fail", disk.value, disk.source, message="%s does not exist" % disk.value)
        found = Finding(rule, "pass", disk.value, disk.source)
        if rule.extra["input"] == "audit_policy":
            from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate_files import evaluate_audit_policy

            found = evaluate_audit_policy(node, comp, rule, found)
        return found
    finding = Finding(rule, "fail", None, disk.source)
    content = options.supplied.get(rule.extra["input"])
    if content:
        finding.fix = Fix("supplied_file", comp.name, t.cast(str, rule.flag),
                          value={"path": _supplied_path(rule), "content": content})
    else:
        finding.message = "provide the file's content in %s; kubefort then writes %s and sets --%s" % (
            variable, _supplied_path(rule), rule.flag)
    return finding


def _check_admission_config(node: Node, comp: Component, rule: Rule, expected: t.Any, options: Options) -> Finding:
    plugin, config_flag = rule.extra["plugin"], rule.extra["config_flag"]
    plugins = lookup(comp, rule, comp.disk_flags)
    config = lookup(comp, rule, comp.disk_flags, config_flag)
    enabled = plugin in split_list(plugins.value)
    if enabled and config.value:
        from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate_files import evaluate_admission_file

        judged = evaluate_admission_file(node, comp, rule, config.value, plugin, t.cast(str, plugins.value), plugins.source)
        if judged is not None:
            return judged
        return Finding(rule, "pass", "%s; %s" % (plugins.value, config.value), "%s; %s" % (plugins.source, config.source))
    finding = Finding(rule, "fail", plugins.value, plugins.source)
    content = options.supplied.get(rule.extra["input"])
    variable = INPUT_VARIABLES.get(rule.extra["input"], rule.extra["input"])
    if config.value:
        finding.message = ("--%s already names %s: add a %s section there and %s to --enable-admission-plugins by hand"
                           % (config_flag, config.value, plugin, plugin))
    elif content:
        finding.fix = Fix("supplied_file", comp.name, config_flag,
                          value={"path": _supplied_path(rule), "content": content, "plugin": plugin})
    else:
        finding.message = "provide an AdmissionConfiguration with a %s section in %s" % (plugin, variable)
    return finding


def _check_audit_log_path(node: Node, comp: Component, rule: Rule, expected: t.Any, options: Options) -> Finding:
    disk = lookup(comp, rule, comp.disk_flags)
    if disk.value and disk.value != "-":
        return Finding(rule, "pass", disk.value, disk.source)
    finding = Finding(rule, "fail", disk.value, disk.source)
    if disk.value == "-":
        finding.message = "'-' writes audit events to the API server's stdout, mixed with its log"
    path = expected if expected != rule.expected and expected else rule.fix
    finding.fix = Fix("flag_mount", comp.name, t.cast(str, rule.flag), value=path)
    return finding


def _check_encryption_providers(node: Node, comp: Component, rule: Rule, expected: t.Any, options: Options) -> Finding:
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate_files import evaluate_encryption

    return evaluate_encryption(node, comp, rule, options)


CHECKS: t.Dict[str, CheckFn] = {
    "flags_set": _check_flags_set,
    "duration_nonzero": _check_duration_nonzero,
    "ciphers": _check_ciphers,
    "feature_gate": _check_feature_gate,
    "loopback": _check_loopback,
    "manual": _check_manual,
    "kubelet_serving_cert": _check_kubelet_serving_cert,
    "etcd_unique_ca": _check_etcd_unique_ca,
    "supplied_file": _check_supplied_file,
    "admission_config": _check_admission_config,
    "audit_log_path": _check_audit_log_path,
    "encryption_providers": _check_encryption_providers,
}

_TRANSFORMS: t.Dict[str, t.Callable[[Rule, t.Optional[str], t.Any], t.Any]] = {
    "ciphers": lambda rule, current, expected: ",".join(_allowed_ciphers(rule, expected)),
    "loopback": lambda rule, current, expected: _loopback_fix_value(current, rule),
    "feature_gate": lambda rule, current, expected: _with_gate(current, rule.extra["gate"], True),
    "duration_nonzero": lambda rule, current, expected: rule.fix if expected == rule.expected else expected,
}


# --- file rules ------------------------------------------------------------------------------------

ADMIN_KUBECONFIGS = ("/etc/kubernetes/admin.conf", "/etc/kubernetes/super-admin.conf")
CNI_DIRS = ("/etc/cni/net.d", "/var/lib/cni/networks")
DEFAULT_PKI_DIR = "/etc/kubernetes/pki"


def _flag_of(comp: Component, name: str) -> t.Optional[str]:
    for flags in (comp.disk_flags, comp.running_flags):
        if flags is not None and flags.has(name):
            return flags.value(name)
    return None


def _config_of(comp: Component, key: str) -> t.Optional[str]:
    if not comp.config_path:
        return None
    found, value, _source = comp.config_value(key)
    return normalize(value) if found and value not in ("", None) else None


def _under(node: Node, directory: str) -> t.List[str]:
    prefix = directory.rstrip("/") + "/"
    return sorted(p for p, info in node.files.items() if p.startswith(prefix) and info.get("type") in ("file", "dir"))


def pki_dir(node: Node) -> str:
    api = node.components.get("kube-apiserver")
    ca = _flag_of(api, "client-ca-file") if api is not None else None
    return os.path.dirname(ca) if ca else DEFAULT_PKI_DIR


def file_targets(node: Node, comp: Component, rule: Rule) -> t.Tuple[t.List[str], t.List[str]]:
    """The files a file rule checks, and those of them that may be absent."""
    which = rule.extra["file"]
    optional: t.List[str] = []
    paths: t.List[str] = []
    if which == "manifest":
        paths = [comp.manifest.path] if comp.manifest else []
    elif which == "config":
        paths = [comp.config_path] if comp.config_path else []
    elif which == "kubeconfig":
        path = _flag_of(comp, "kubeconfig") or _config_of(comp, "clientConnection.kubeconfig") or rule.extra.get("default_path")
        paths = [path] if path else []
        if _flag_of(comp, "bootstrap-kubeconfig"):
            # Before TLS bootstrap the kubelet has not written its kubeconfig yet (it creates it 0600).
            optional = list(paths)
    elif which == "admin":
        paths, optional = list(ADMIN_KUBECONFIGS), [ADMIN_KUBECONFIGS[1]]
    elif which == "unit":
        unit = comp.unit or {}
        paths = [p for p in [unit.get("unit")] + list(unit.get("dropins", [])) if p]
    elif which == "client_ca":
        path = _flag_of(comp, "client-ca-file") or _config_of(comp, "authentication.x509.clientCAFile")
        paths = [path] if path else []
    elif which == "data_dir":
        path = _flag_of(comp, "data-dir")
        paths = [path] if path else []
        if comp.process is None:
            # etcd creates its data directory at first start (kubeadm's hostPath is DirectoryOrCreate).
            optional = list(paths)
    elif which == "pki":
        directory = pki_dir(node)
        paths = [directory] + _under(node, directory)
    elif which == "cni":
        paths = [p for d in CNI_DIRS for p in _under(node, d) if node.file(p).get("type") == "file"]
    pattern = rule.extra.get("pattern")
    if pattern:
        paths = [p for p in paths if fnmatch.fnmatch(os.path.basename(p), pattern) and node.file(p).get("type") == "file"]
    if rule.extra.get("optional"):
        optional = list(paths)
    return paths, optional


def _evaluate_file(node: Node, comp: Component, rule: Rule, expected: t.Any) -> Finding:
    which = rule.extra["file"]
    paths, optional = file_targets(node, comp, rule)
    present = []
    for path in paths:
        kind = _file_state(node, path)
        if kind in ("missing", "unknown") and path in optional:
            continue
        if kind in ("missing", "unknown"):
            why = "does not exist" if kind == "missing" else "was not collected by discovery"
            return Finding(rule, "error", source=path, message="%s %s; the rule cannot be checked" % (path, why))
        present.append(path)
    if not present:
        what = {"data_dir": "--data-dir", "cni": "CNI file", "kubeconfig": "kubeconfig file"}.get(which, "%s file" % which)
        why = " yet (it is written at TLS bootstrap)" if which == "kubeconfig" and _flag_of(comp, "bootstrap-kubeconfig") else ""
        if which == "data_dir" and paths:
            why = " yet (%s is created when etcd first starts)" % paths[0]
        return Finding(rule, "not_applicable", message="%s has no %s on this node%s" % (comp.name, what, why))
    if rule.operator == "mode_at_most":
        return _check_modes(node, comp, rule, present, str(expected), parents=which not in ("pki", "cni"))
    return _check_owners(node, comp, rule, present, str(expected))


def _mode_problem(info: t.Mapping[str, t.Any], allowed: int) -> t.Optional[int]:
    mode = int(info["mode"], 8)
    return mode & allowed if mode & ~allowed else None


def _parent_problem(node: Node, path: str) -> t.Tuple[str, t.Optional[Fix], str]:
    """Why the directory holding ``path`` lets a non-root user replace it ('' when it does not)."""
    parent = os.path.dirname(path.rstrip("/"))
    info = node.files.get(parent)
    if not info or info.get("type") != "dir":
        return "", None, parent
    mode = int(info["mode"], 8)
    words = []
    fix = None
    if mode & 0o022 and not mode & 0o1000:
        words.append("is mode %s (writable by group/others)" % info["mode"])
        fix = Fix("attrs", "", parent, mode="%04o" % (mode & ~0o022 & 0o7777))
    if info.get("uid") not in (0, None):
        words.append("is owned by %s" % (info.get("owner") or info.get("uid")))
    return (" and ".join(words), fix, parent) if words else ("", None, parent)


def _check_modes(node: Node, comp: Component, rule: Rule, paths: t.List[str], expected: str, parents: bool) -> Finding:
    allowed = int(expected, 8)
    bad: t.List[str] = []
    fixes: t.List[Fix] = []
    for path in paths:
        new = _mode_problem(node.file(path), allowed)
        if new is not None:
            bad.append("%s %s" % (path, node.file(path)["mode"]))
            fixes.append(Fix("attrs", comp.name, path, mode="%04o" % new))
    parent_notes: t.List[str] = []
    seen: t.Set[str] = set()
    for path in paths if parents else []:
        why, fix, parent = _parent_problem(node, path)
        if why and parent not in seen:
            seen.add(parent)
            parent_notes.append("parent directory %s %s: a non-root user can replace %s" % (parent, why, path))
            if fix is not None:
                fix.component = comp.name
                fixes.append(fix)
    single = len(paths) == 1
    actual = node.file(paths[0])["mode"] if single else ("; ".join(bad[:10]) if bad else "%d files" % len(paths))
    source = paths[0] if single else os.path.commonpath(paths)
    finding = Finding(rule, "fail" if bad or parent_notes else "pass", actual, source)
    more = " (and %d more)" % (len(bad) - 10) if len(bad) > 10 else ""
    finding.message = "; ".join(parent_notes) + more
    if rule.automated and fixes:
        finding.fix, finding.more_fixes = fixes[0], fixes[1:]
    return finding


def _run_as(node: Node, comp: Component) -> t.Tuple[t.Optional[int], t.Optional[int], str]:
    """The uid and gid a component runs as, and how that is known."""
    if comp.manifest is not None:
        spec = comp.manifest.data.get("spec") or {}
        container = (spec.get("containers") or [{}])[comp.manifest.container]
        pod_ctx = spec.get("securityContext") or {}
        ctx = container.get("securityContext") or {}
        uid = ctx.get("runAsUser", pod_ctx.get("runAsUser"))
        gid = ctx.get("runAsGroup", pod_ctx.get("runAsGroup"))
        how = "%s's pod runAsUser" % comp.name if uid is not None else "%s's pod sets no runAsUser: root" % comp.name
        return (int(uid) if uid is not None else 0), (int(gid) if gid is not None else 0 if uid is None else None), how
    unit = comp.unit or {}
    user = None
    for path in [unit.get("unit")] + list(unit.get("dropins", [])):
        for match in re.finditer(r"^\s*User=(\S*)", node.file(path or "").get("content", ""), re.MULTILINE):
            user = match.group(1) or None
    if comp.unit is not None and user is None:
        return 0, 0, "%s's unit sets no User=: root" % comp.name
    if user in ("root", "0"):
        # kubespray's etcd.service says User=root: root, with root's group (no Group= is read here)
        return 0, 0, "User=%s in %s's unit" % (user, comp.name)
    return None, None, "User=%s in %s's unit" % (user, comp.name) if user else ""


def _owner_ok(info: t.Mapping[str, t.Any], user: str, group: str, ids: t.Tuple[t.Optional[int], t.Optional[int]]) -> bool:
    uid, gid = ids
    user_ok = info.get("owner") == user or (uid is not None and info.get("uid") == uid)
    group_ok = info.get("group") == group or (gid is not None and info.get("gid") == gid)
    return user_ok and group_ok


def _owner_text(info: t.Mapping[str, t.Any]) -> str:
    return "%s:%s" % (info.get("owner") or info.get("uid"), info.get("group") or info.get("gid"))


def _check_owners(node: Node, comp: Component, rule: Rule, paths: t.List[str], expected: str) -> Finding:
    user, _sep, group = expected.partition(":")
    group = group or user
    ids: t.Tuple[t.Optional[int], t.Optional[int]] = (0, 0) if user == "root" else (None, None)
    note = ""
    fix_owner: t.Tuple[t.Optional[str], t.Optional[str]] = (user, group)
    if rule.extra.get("owner_of"):
        uid, gid, how = _run_as(node, node.components.get(rule.extra["owner_of"], comp))
        if uid is not None:
            ids = (uid, gid)
            fix_owner = (str(uid), str(gid) if gid is not None else None)
            note = "%s runs as %s:%s (%s), accepted in place of %s" % (rule.extra["owner_of"], uid, gid, how, expected)
        elif not how:
            fix_owner = (None, None)
            note = "cannot tell which account %s runs as; chown the directory to it" % rule.extra["owner_of"]
    bad = [p for p in paths if not _owner_ok(node.file(p), user, group, ids)]
    single = len(paths) == 1
    actual = _owner_text(node.file(paths[0])) if single else (
        "; ".join("%s %s" % (p, _owner_text(node.file(p))) for p in bad[:10]) if bad else "%d paths" % len(paths))
    source = paths[0] if single else os.path.commonpath(paths)
    words = "%s, or %s:%s" % (expected, ids[0], ids[1]) if rule.extra.get("owner_of") and ids[0] is not None else None
    finding = Finding(rule, "fail" if bad else "pass", actual, source, expected=words, message=note)
    if bad and rule.automated and fix_owner[0] is not None:
        fixes = [Fix("attrs", comp.name, p, owner=fix_owner[0], group=fix_owner[1]) for p in bad]
        finding.fix, finding.more_fixes = fixes[0], fixes[1:]
    return finding


def _flag_named_paths(comp: Component, rule: Rule) -> t.List[str]:
    """Files that flags name for an existence check (stat only: they may hold keys)."""
    flags = rule.extra.get("flags", (rule.flag,))
    keys = rule.extra.get("keys", (None,) * len(flags))
    if rule.extra.get("config_flag"):
        flags, keys = flags + (rule.extra["config_flag"],), keys + (None,)
    paths = []
    for flag, key in zip(flags, keys):
        value = lookup(comp, rule, comp.disk_flags, flag, key).value
        if value and os.path.isabs(value):
            paths.append(value)
    return paths


def stat_paths(node: Node, rules: t.Sequence[Rule]) -> t.List[str]:
    """Paths (and parents) the selected rules need that the snapshot does not hold yet (stat only)."""
    wanted: t.List[str] = []
    for rule in rules:
        comp = node.components.get(rule.component)
        if comp is None or not comp.present:
            continue
        if rule.extra.get("check") in ("flags_set", "supplied_file", "admission_config"):
            wanted.extend(p for p in _flag_named_paths(comp, rule) if p not in node.files and p not in wanted)
            continue
        if not rule.extra.get("file"):
            continue
        paths, _optional = file_targets(node, comp, rule)
        if rule.extra["file"] == "pki":
            paths = [pki_dir(node) + "/**"]
        for path in paths:
            for candidate in (path, os.path.dirname(path.rstrip("/*"))):
                if candidate and candidate not in node.files and candidate not in wanted:
                    wanted.append(candidate)
    return wanted


# --- API server anonymous access -------------------------------------------------------------------

ANONYMOUS_HEALTH_PATHS = ("/livez", "/readyz", "/healthz")


def _evaluate_apiserver_anonymous(node: Node, comp: Component, rule: Rule, options: Options) -> Finding:
    """CIS 1.2.1: the AuthenticationConfiguration's anonymous section decides when there is one, else the flag.

    Whether --anonymous-auth=false is safe depends on the API server's probes: kubeadm's (and kubespray's)
    manifest has anonymous HTTPS liveness/readiness/startup probes; k3s and microk8s run the API server
    inside their own process (no kubelet probes) and RKE2's manifest probes with a client certificate.
    """
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._apiserver_files import flag_file
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._authn import anonymous_policy
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._edits_apiserver import http_probes

    flags = comp.disk_flags or FlagSet(comp.name)
    setting = lookup(comp, rule, flags)
    ref = flag_file(comp, "authentication-config")
    policy = None
    if ref is not None:
        if ref.host is None:
            return Finding(rule, "error", None, ref.flag_value, message=ref.problem)
        policy = anonymous_policy(node.files.get(ref.host, {}), ref.host)
        if policy.error:
            return Finding(rule, "error", None, ref.host, message=policy.error)
    version = version_tuple(comp.version)
    if policy is not None and policy.configured:
        source = "%s:%s" % (ref.host, policy.line) if policy.line else t.cast(str, ref.host)
        if flags.has("anonymous-auth"):
            return Finding(rule, "error", setting.value, source, message=(
                "--anonymous-auth is set and %s has an anonymous section: the API server refuses to start with both. "
                "Remove --anonymous-auth" % ref.host))
        if not policy.enabled and policy.paths:
            return Finding(rule, "error", None, source, message=(
                "%s: anonymous.enabled is false but conditions are set, which the API server refuses" % ref.host))
        ok = not policy.enabled or set(policy.paths) <= set(ANONYMOUS_HEALTH_PATHS) and bool(policy.paths)
        actual = "AuthenticationConfiguration anonymous %s" % (
            "disabled" if not policy.enabled else "on %s" % (",".join(policy.paths) or "every path"))
        finding = Finding(rule, "pass" if ok else "fail", actual, source)
        if not ok:
            finding.fix = Fix("authn_config", comp.name, t.cast(str, ref.host), value={"mode": "conditions"})
            finding.message = ("the fix limits anonymous.conditions in %s to %s (no --anonymous-auth: the API server "
                               "refuses it next to an anonymous section)" % (ref.host, ", ".join(ANONYMOUS_HEALTH_PATHS)))
        return finding
    if parse_bool(setting.value) is False:
        return Finding(rule, "pass", setting.value, setting.source)
    finding = Finding(rule, "fail", setting.value, setting.source)
    probes = http_probes(comp.manifest)
    if not probes:
        # Nothing the kubelet runs depends on anonymous access: the flag is safe on every version.
        finding.fix = Fix("flag", comp.name, "anonymous-auth", "false")
        finding.message = ("no HTTP probe of the API server relies on anonymous requests (%s): --anonymous-auth=false"
                           % _probe_words(comp))
    elif options.apiserver_anonymous_force:
        finding.fix = Fix("flag", comp.name, "anonymous-auth", "false")
        finding.message = "forced by kubefort_apiserver_anonymous_auth_force: anonymous HTTP probes will get 401"
    elif version >= (1, 32) and ref is None:
        finding.fix = Fix("apiserver_anonymous", comp.name, "authentication-config", value=comp.version)
    elif version >= (1, 32):
        finding.fix = Fix("authn_config", comp.name, t.cast(str, ref.host), value={"mode": "add_section"})
        finding.message = ("the fix adds an anonymous section (health paths only) to %s and removes --anonymous-auth"
                           % ref.host)
    elif options.apiserver_probes_tcp:
        finding.fix = Fix("apiserver_probes_tcp", comp.name, "anonymous-auth", value=probes)
        finding.message = ("kubefort_apiserver_probes_tcp: %s become tcpSocket probes and --anonymous-auth=false; a TCP "
                           "probe only sees that the port accepts connections, not that the API server is healthy"
                           % ", ".join(probes))
    else:
        finding.status = "manual"
        finding.message = (
            "Kubernetes %s: --anonymous-auth=false would make the kubelet's anonymous %s (httpGet) fail with 401 and "
            "restart the API server. Anonymous requests reach only what RBAC grants system:anonymous/"
            "system:unauthenticated (by default /healthz, /livez, /readyz, /version): check those bindings, upgrade "
            "to >= 1.32 for an automatic fix, set kubefort_apiserver_probes_tcp: true (the probes become tcpSocket "
            "probes, which do not see an unhealthy API server), or set kubefort_apiserver_anonymous_auth_force: true "
            "after changing the probes yourself." % (comp.version or "of unknown version", ", ".join(probes))
        )
    return finding


def _probe_words(comp: Component) -> str:
    if comp.manifest is None:
        return "%s runs the API server in its own process, without kubelet probes" % (comp.layout if comp.layout != "generic" else comp.kind)
    return "the pod's probes are exec or tcpSocket probes"
