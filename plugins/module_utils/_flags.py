# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Command lines of Kubernetes components, read the way their flag library (spf13/pflag) reads them.

- ``--name=value`` and ``--name value``; a boolean flag takes ``--name`` or ``--name=false`` only, so
  ``--anonymous-auth false`` leaves ``false`` as a positional argument.
- A single-value flag given twice: the last occurrence wins.
- A list flag (pflag StringSlice) given twice: the first occurrence replaces the default and later ones
  append, so ``--authorization-mode=AlwaysAllow --authorization-mode=Node,RBAC`` is
  ``AlwaysAllow,Node,RBAC``.
- A map flag (``--feature-gates``) merges its ``key=value`` pairs, later keys winning.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

# Flags whose value is a boolean (they never consume the next word).
BOOL_FLAGS = frozenset(
    {
        "allow-privileged",
        "anonymous-auth",
        "client-cert-auth",
        "peer-client-cert-auth",
        "auto-tls",
        "peer-auto-tls",
        "enable-bootstrap-token-auth",
        "profiling",
        "rotate-certificates",
        "rotate-server-certificates",
        "protect-kernel-defaults",
        "make-iptables-util-chains",
        "use-service-account-credentials",
        "service-account-lookup",
        "leader-elect",
        "allocate-node-cidrs",
        "kubelet-https",
        "enable-server",
        "enable-debugging-handlers",
        "fail-swap-on",
        "enable-aggregator-routing",
        "experimental-initial-corrupt-check",
        "v",
        "help",
        "version",
    }
)
# Flags that are pflag slices: repeated occurrences accumulate.
LIST_FLAGS = frozenset(
    {
        "authorization-mode",
        "enable-admission-plugins",
        "disable-admission-plugins",
        "admission-control",
        "tls-cipher-suites",
        "etcd-servers",
        "api-audiences",
        "service-account-key-file",
        "kubelet-preferred-address-types",
        "requestheader-allowed-names",
        "controllers",
        "cluster-dns",
        "listen-client-urls",
        "listen-peer-urls",
        "advertise-client-urls",
        "cipher-suites",
    }
)
# Flags that are pflag maps: repeated occurrences merge keys.
MAP_FLAGS = frozenset({"feature-gates"})
# Components whose --authorization-mode is one string (the kubelet's), not a slice.
SINGLE_VALUE_OVERRIDES = {"kubelet": frozenset({"authorization-mode"})}


@dataclass
class FlagOccurrence:
    """One ``--name[=value]`` on a command line, with where it was written."""

    name: str
    value: t.Optional[str]
    index: int
    source: t.Dict[str, t.Any] = field(default_factory=dict)
    form: str = "equals"  # "equals", "separate" (value in the next word) or "bare" (boolean)


@dataclass
class FlagSet:
    """The flags of one component command line, in order."""

    component: str
    occurrences: t.List[FlagOccurrence] = field(default_factory=list)
    positional: t.List[str] = field(default_factory=list)

    def kind(self, name: str) -> str:
        if name in MAP_FLAGS:
            return "map"
        if name in LIST_FLAGS and name not in SINGLE_VALUE_OVERRIDES.get(self.component, ()):
            return "list"
        return "single"

    def find(self, name: str) -> t.List[FlagOccurrence]:
        return [o for o in self.occurrences if o.name == name]

    def has(self, name: str) -> bool:
        return any(o.name == name for o in self.occurrences)

    def value(self, name: str) -> t.Optional[str]:
        """The effective value of a flag, or None when it is not given."""
        found = self.find(name)
        if not found:
            return None
        kind = self.kind(name)
        if kind == "single":
            return _occurrence_value(found[-1])
        if kind == "list":
            items: t.List[str] = []
            for occurrence in found:
                items.extend(split_list(_occurrence_value(occurrence)))
            return ",".join(items)
        merged: t.Dict[str, str] = {}
        for occurrence in found:
            for pair in split_list(_occurrence_value(occurrence)):
                key, _sep, val = pair.partition("=")
                merged[key.strip()] = val.strip()
        return ",".join("%s=%s" % kv for kv in merged.items())

    def sources(self, name: str) -> t.List[t.Dict[str, t.Any]]:
        """Where the effective value came from: the last occurrence, or every one for lists and maps."""
        found = self.find(name)
        if not found:
            return []
        if self.kind(name) == "single":
            return [found[-1].source]
        return [o.source for o in found]


def _occurrence_value(occurrence: FlagOccurrence) -> str:
    return "true" if occurrence.value is None else occurrence.value


def split_list(value: t.Optional[str]) -> t.List[str]:
    if value is None:
        return []
    return [item.strip() for item in value.split(",") if item.strip()]


def parse_args(
    component: str,
    argv: t.Sequence[str],
    sources: t.Optional[t.Sequence[t.Mapping[str, t.Any]]] = None,
) -> FlagSet:
    """Parse the arguments after the program name.

    ``sources`` optionally gives, per word of ``argv``, where the word was written (file and line).
    """
    flags = FlagSet(component=component)
    i = 0
    while i < len(argv):
        word = argv[i]
        source = dict(sources[i]) if sources and i < len(sources) else {}
        if word == "--":
            flags.positional.extend(argv[i + 1:])
            break
        if not word.startswith("-") or word == "-":
            flags.positional.append(word)
            i += 1
            continue
        name = word.lstrip("-")
        if "=" in name:
            name, value = name.split("=", 1)
            flags.occurrences.append(FlagOccurrence(name, value, i, source, "equals"))
            i += 1
            continue
        if name in BOOL_FLAGS:
            flags.occurrences.append(FlagOccurrence(name, None, i, source, "bare"))
            i += 1
            continue
        if i + 1 < len(argv) and not argv[i + 1].startswith("-"):
            flags.occurrences.append(FlagOccurrence(name, argv[i + 1], i, source, "separate"))
            i += 2
            continue
        # A non-boolean flag with no value: pflag would refuse to start; keep it visible.
        flags.occurrences.append(FlagOccurrence(name, "", i, source, "bare"))
        i += 1
    return flags


def parse_bool(value: t.Optional[str]) -> t.Optional[bool]:
    """Go's strconv.ParseBool; None for anything it would reject."""
    if value is None:
        return None
    text = str(value).strip()
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None
