# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The API server's AuthorizationConfiguration (``--authorization-config``, KEP-3221): read, judge, edit.

API versions: ``apiserver.config.k8s.io/v1alpha1`` (1.29), ``v1beta1`` (1.30-1.31), ``v1`` (1.32+); later
releases keep loading the older ones. The file replaces ``--authorization-mode``: the API server refuses
to start with both flags. Validation follows ValidateAuthorizationConfiguration of
staging/src/k8s.io/apiserver/pkg/apis/apiserver/validation: at least one authorizer; ``type`` one of
AlwaysAllow, AlwaysDeny, ABAC, Webhook, RBAC, Node, each at most once except Webhook; ``name`` required,
unique and a DNS-1123 subdomain; ``webhook`` required for Webhook and forbidden for the others.
"""

from __future__ import annotations

import copy
import json
import re
import typing as t
from dataclasses import dataclass, field

import yaml

from ansible_collections.kubefort.hardening.plugins.module_utils import _errors
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _yaml_edit

API_VERSIONS = {
    "apiserver.config.k8s.io/v1alpha1": (1, 29),
    "apiserver.config.k8s.io/v1beta1": (1, 30),
    "apiserver.config.k8s.io/v1": (1, 32),
}
KIND = "AuthorizationConfiguration"
KNOWN_TYPES = ("AlwaysAllow", "AlwaysDeny", "ABAC", "Webhook", "RBAC", "Node")
REPEATABLE_TYPES = ("Webhook",)
# Names kubefort gives the entries it adds (DNS-1123 subdomains, as the validation requires).
DEFAULT_NAMES = {"Node": "node", "RBAC": "rbac"}
_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = re.compile(r"^%s(\.%s)*$" % (_DNS1123_LABEL, _DNS1123_LABEL))


class AuthzError(_errors.UnreadableError):
    """The file cannot be read, or an edit would not be what the API server loads."""


@dataclass
class Authorizer:
    type: str
    name: str
    line: t.Optional[int]


@dataclass
class AuthzConfig:
    path: str
    text: str
    fmt: str  # "yaml" or "json"
    data: t.Dict[str, t.Any]
    authorizers: t.List[Authorizer] = field(default_factory=list)

    def types(self) -> t.List[str]:
        return [a.type for a in self.authorizers]

    def where(self, kind: str) -> str:
        found = next((a for a in self.authorizers if a.type == kind), None)
        return "%s:%s" % (self.path, found.line) if found is not None and found.line else self.path

    def chain(self) -> str:
        return ",".join(self.types())


def is_dns1123_subdomain(name: str) -> bool:
    return len(name) <= 253 and bool(_DNS1123_SUBDOMAIN.match(name))


def validate(data: t.Any, what: str) -> t.List[str]:
    """What the API server would refuse in this AuthorizationConfiguration ([] when it loads it)."""
    if not isinstance(data, dict):
        return ["%s is not a mapping" % what]
    problems = []
    if data.get("kind") != KIND:
        problems.append("kind is %r, not %s" % (data.get("kind"), KIND))
    if data.get("apiVersion") not in API_VERSIONS:
        problems.append("apiVersion %r is not one of %s" % (data.get("apiVersion"), ", ".join(API_VERSIONS)))
    authorizers = data.get("authorizers")
    if not isinstance(authorizers, list) or not authorizers:
        return problems + ["authorizers: at least one authorization mode must be defined"]
    seen_types: t.Set[str] = set()
    seen_names: t.Set[str] = set()
    for index, entry in enumerate(authorizers):
        where = "authorizers[%d]" % index
        if not isinstance(entry, dict):
            problems.append("%s is not a mapping" % where)
            continue
        kind = entry.get("type")
        if not kind:
            problems.append("%s.type: required" % where)
            continue
        if kind not in KNOWN_TYPES:
            problems.append("%s.type: %r is not one of %s" % (where, kind, ", ".join(KNOWN_TYPES)))
            continue
        if kind in seen_types and kind not in REPEATABLE_TYPES:
            problems.append("%s.type: %s appears twice (only Webhook may repeat)" % (where, kind))
            continue
        seen_types.add(kind)
        name = entry.get("name")
        if not name:
            problems.append("%s.name: required" % where)
        elif name in seen_names:
            problems.append("%s.name: %r is used twice" % (where, name))
        elif not isinstance(name, str) or not is_dns1123_subdomain(name):
            problems.append("%s.name: %r is not a DNS-1123 subdomain (lower case letters, digits, '-' and '.')" % (where, name))
        if name:
            seen_names.add(str(name))
        if kind == "Webhook" and entry.get("webhook") is None:
            problems.append("%s.webhook: required when type=Webhook" % where)
        elif kind != "Webhook" and entry.get("webhook") is not None:
            problems.append("%s.webhook: may only be specified when type=Webhook" % where)
    return problems


def load(path: str, text: str) -> AuthzConfig:
    """Parse and validate the file; AuthzError says what the API server would refuse."""
    fmt = "json" if text.lstrip().startswith("{") else "yaml"
    root = None
    try:
        data, root = _yaml_edit.load(text, path)  # YAML reads JSON too, with positions
    except _yaml_edit.YAMLEditError as exc:
        if fmt != "json":
            raise AuthzError(str(exc))
        try:
            data = json.loads(text)  # JSON that YAML does not read (tabs): no line numbers
        except ValueError as json_exc:
            raise AuthzError("%s is not valid JSON: %s" % (path, json_exc))
    problems = validate(data, path)
    if problems:
        raise AuthzError("%s: %s" % (path, "; ".join(problems)))
    config = AuthzConfig(path, text, fmt, data)
    for index, entry in enumerate(data["authorizers"]):
        line = _yaml_edit.line_of(root, ("authorizers", index))
        config.authorizers.append(Authorizer(str(entry["type"]), str(entry["name"]), line))
    return config


def wanted_chain(types: t.Sequence[str], remove_always_allow: bool, need_node: bool, need_rbac: bool) -> t.List[t.Union[int, str]]:
    """The new chain as indexes of kept entries and type names of new ones.

    AlwaysAllow entries go. Node is added just before RBAC when RBAC is there, else where the first
    AlwaysAllow was, else first; RBAC is added right after Node. So kubeadm's order (Node, RBAC, then
    webhooks) results from an empty or AlwaysAllow chain, and a webhook placed before the others (a deny
    list) stays in front.
    """
    kept: t.List[t.Union[int, str]] = []
    always_at: t.Optional[int] = None
    for index, kind in enumerate(types):
        if kind == "AlwaysAllow" and remove_always_allow:
            if always_at is None:
                always_at = len(kept)
            continue
        kept.append(index)
    kinds = [types[k] if isinstance(k, int) else k for k in kept]
    if need_node and "Node" not in kinds:
        at = kinds.index("RBAC") if "RBAC" in kinds else (always_at if always_at is not None else 0)
        kept.insert(at, "Node")
        kinds.insert(at, "Node")
    if need_rbac and "RBAC" not in kinds:
        at = kinds.index("Node") + 1 if "Node" in kinds else (always_at if always_at is not None else 0)
        kept.insert(at, "RBAC")
        kinds.insert(at, "RBAC")
    return kept


def _new_name(kind: str, taken: t.Set[str]) -> str:
    base = DEFAULT_NAMES[kind]
    name, number = base, 1
    while name in taken:
        number += 1
        name = "%s-%d" % (base, number)
    return name


def edited_text(config: AuthzConfig, remove_always_allow: bool, need_node: bool, need_rbac: bool) -> str:
    """The file's new text: comments, order and every other byte kept; checked by reparsing."""
    types = config.types()
    chain = wanted_chain(types, remove_always_allow, need_node, need_rbac)
    taken = {a.name for a in config.authorizers}
    new_entries: t.Dict[int, t.Dict[str, str]] = {}
    for position, item in enumerate(chain):
        if isinstance(item, str):
            name = _new_name(item, taken)
            taken.add(name)
            new_entries[position] = {"type": item, "name": name}
    expected = copy.deepcopy(config.data)
    expected["authorizers"] = [new_entries[p] if isinstance(i, str) else config.data["authorizers"][i] for p, i in enumerate(chain)]
    if config.fmt == "json":
        match = re.search(r"\n( +)\"", config.text)
        text = json.dumps(expected, indent=len(match.group(1)) if match else 2) + ("\n" if config.text.endswith("\n") else "")
    else:
        text = _edit_yaml(config, chain, new_entries)
    after = load(config.path, text)
    if after.data != expected:
        raise AuthzError("%s: the edit would change more than the authorizers; not written" % config.path)
    return text


def _above_comments(text: str, at: int) -> int:
    """The start of the comment lines directly above ``at`` (they belong to the entry that follows)."""
    while at > 0:
        previous = _yaml_edit._line_start(text, at - 1)
        if not text[previous:at].strip().startswith("#"):
            break
        at = previous
    return at


def _edit_yaml(config: AuthzConfig, chain: t.Sequence[t.Union[int, str]], new_entries: t.Mapping[int, t.Dict[str, str]]) -> str:
    text = config.text
    _data, root = _yaml_edit.load(text, config.path)
    seq = _yaml_edit._find(root, ("authorizers",))
    if not isinstance(seq, yaml.SequenceNode) or seq.flow_style or not seq.value:
        raise AuthzError("%s: authorizers is not a block list; change it by hand" % config.path)
    items = seq.value
    first = items[0]
    line_start = _yaml_edit._line_start(text, first.start_mark.index)
    dash = text[line_start:first.start_mark.index]
    if not dash.strip().startswith("-"):
        raise AuthzError("%s: authorizers entries are not '- ' items; change it by hand" % config.path)
    pad = " " * len(dash)

    def entry_text(entry: t.Mapping[str, str]) -> str:
        return "%stype: %s\n%sname: %s\n" % (dash, entry["type"], pad, entry["name"])

    kept = [i for i in chain if isinstance(i, int)]
    edits: t.List[t.Tuple[int, int, str]] = []
    for index, item in enumerate(items):
        if index not in kept:
            start = _yaml_edit._line_start(text, item.start_mark.index)
            edits.append((start, _yaml_edit._after(text, item), ""))
    # New entries go before the next kept entry in the new chain (or after the last entry).
    for position, entry in new_entries.items():
        following = next((i for i in chain[position + 1:] if isinstance(i, int)), None)
        if following is not None:
            at = _above_comments(text, _yaml_edit._line_start(text, items[following].start_mark.index))
        else:
            at = _yaml_edit._after(text, items[-1])
        lead = "" if at == 0 or text[at - 1] == "\n" else "\n"
        edits.append((at, at, lead + entry_text(entry)))
    # Same position: insertions keep their chain order, and go before a removal that starts there.
    order = {id(e): n for n, e in enumerate(edits)}
    for start, end, replacement in sorted(edits, key=lambda e: (e[0], e[1] - e[0] == 0, order[id(e)]), reverse=True):
        text = text[:start] + replacement + text[end:]
    return text
