# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""A component's effective settings as values: where one comes from (flag, config file, documented default),
how a value compares with what a rule expects, and the value types rules read (durations, addresses).
"""

from __future__ import annotations

import ipaddress
import re
import typing as t
from dataclasses import dataclass

from ansible_collections.kubefort.hardening.plugins.module_utils._flags import FlagSet, parse_bool, split_list
from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Rule
from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import Component


@dataclass
class Setting:
    value: t.Optional[str]
    source: str
    origin: str  # "flag", "config", "default", "file", "unset"


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


def flag_source(flags: FlagSet, name: str) -> str:
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
    for since, value in sorted(rule.default_from.items(), key=lambda kv: version_tuple(kv[0])):
        if version and version >= version_tuple(since):
            default = value
    for until, value in sorted(rule.default_before.items(), key=lambda kv: version_tuple(kv[0]), reverse=True):
        if version and version < version_tuple(until):
            default = value
    return default


def lookup(comp: Component, rule: Rule, flags: t.Optional[FlagSet], flag: t.Optional[str] = None,
           config_key: t.Optional[str] = None) -> Setting:
    """The effective value of a rule's setting: flag, else config file, else documented default."""
    flag = flag or rule.flag
    config_key = config_key or rule.config_key
    empty_is_default = rule.empty_is_default
    if flag and flags is not None and flags.has(flag):
        value = flags.value(flag)
        if not (empty_is_default and value == ""):
            return Setting(value, flag_source(flags, flag), "flag")
    if config_key and comp.config_path:
        found, value, source = comp.config_value(config_key)
        if found and not (empty_is_default and value in ("", None)):
            return Setting(normalize(value), t.cast(str, source), "config")
    default = rule_default(comp, rule)
    if default is None:
        return Setting(None, "not set", "unset")
    how = "config file %s" % comp.config_path if comp.mode == "config" else "no config file" if config_key else "not set"
    versioned = rule.default_from or rule.default_before
    version = " %s" % comp.version if versioned and comp.version else ""
    return Setting(normalize(default), "default (%s%s, %s)" % (comp.name, version, how), "default")


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


def operator_transform(rule: Rule, current: t.Optional[str], expected: t.Any, insert_first: bool = False) -> t.Any:
    """The value that makes ``current`` satisfy the rule's operator (for flags and config keys)."""
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
                items = [str(wanted)] + items if insert_first else items + [str(wanted)]
        return ",".join(items)
    return rule.fix


# --- the rule loop ---------------------------------------------------------------------------------
