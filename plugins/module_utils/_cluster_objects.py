# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The API objects cluster rules read: which kinds, a snapshot of them (from list calls or saved ``kubectl get
-o json`` output), accessors on their JSON shape, and what a rule finds (a Violation, and the Action that fixes it).

A snapshot is ``{"kinds": {Kind: [object, ...]}, "missing": {Kind: reason}, "unseen": [Kind, ...], "source": str}``;
objects keep the API's JSON shape (camelCase). Pure Python, no Kubernetes client.
"""

from __future__ import annotations

import json
import typing as t
from dataclasses import dataclass

from ansible_collections.kubefort.hardening.plugins.module_utils._check_specs import ClusterObjects
from ansible_collections.kubefort.hardening.plugins.module_utils._policy import PolicyError
from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Rule

# Every kind the rules read, with where it lives in the API: (group/version, plural, namespaced).
KINDS: t.Dict[str, t.Tuple[str, str, bool]] = {
    "Namespace": ("v1", "namespaces", False),
    "ServiceAccount": ("v1", "serviceaccounts", True),
    "Pod": ("v1", "pods", True),
    "Service": ("v1", "services", True),
    "ClusterRole": ("rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "Role": ("rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("rbac.authorization.k8s.io/v1", "rolebindings", True),
    "NetworkPolicy": ("networking.k8s.io/v1", "networkpolicies", True),
}

SHOWN = 12


class ClusterPolicyError(PolicyError):
    """Input the policy code cannot work with (bad snapshot file, bad option); the message says what to do."""


@dataclass
class Action:
    """One API write that fixes one or more findings."""

    method: str  # PATCH, POST or DELETE
    kind: str
    namespace: t.Optional[str]
    name: str
    body: t.Optional[t.Dict[str, t.Any]]
    before: t.Optional[t.Dict[str, t.Any]]
    after: t.Optional[t.Dict[str, t.Any]]
    summary: str

    @property
    def key(self) -> t.Tuple[str, str, str, str]:
        return (self.method, self.kind, self.namespace or "", self.name)

    @property
    def ref(self) -> str:
        return "%s %s" % (self.kind, "%s/%s" % (self.namespace, self.name) if self.namespace else self.name)


@dataclass
class Violation:
    """One API object that breaks a rule, and the write that would fix it."""

    ref: str
    detail: str
    action: t.Optional[Action] = None
    resolves: bool = True  # whether applying the action makes this violation go away

    def __str__(self) -> str:
        return "%s: %s" % (self.ref, self.detail) if self.detail else self.ref


# What a check returns for one rule: the violations, the objects it did not count (exempt), notes.
CheckResult = t.Tuple[t.List[Violation], t.List[str], t.List[str]]


# ---------------------------------------------------------------------------------------------------
# Snapshots


def empty_snapshot(source: str) -> t.Dict[str, t.Any]:
    return {"kinds": {kind: [] for kind in KINDS}, "missing": {}, "unseen": [], "source": source}


def parse_json_documents(text: str, name: str) -> t.List[t.Any]:
    """Every JSON document in text (kubectl output appended to one file holds several)."""
    decoder = json.JSONDecoder()
    docs, pos = [], 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        try:
            doc, pos = decoder.raw_decode(text, pos)
        except ValueError as exc:
            raise ClusterPolicyError(
                "%s is not JSON (%s). Save the objects with 'kubectl get KINDS -A -o json > FILE'." % (name, exc)
            ) from None
        docs.append(doc)
    if not docs:
        raise ClusterPolicyError("%s is empty" % name)
    return docs


def snapshot_from_documents(docs: t.Iterable[t.Any], source: str) -> t.Dict[str, t.Any]:
    """A snapshot from saved API output: kubectl's List, an API XList, single objects, or our own format."""
    snap = empty_snapshot(source)
    seen: t.Set[str] = set()
    for doc in docs:
        _add_document(snap, doc, seen, source)
    snap["unseen"] = sorted(k for k in KINDS if k not in seen)
    return snap


def _add_document(snap: t.Dict[str, t.Any], doc: t.Any, seen: t.Set[str], source: str) -> None:
    if isinstance(doc, list):
        for item in doc:
            _add_document(snap, item, seen, source)
        return
    if not isinstance(doc, dict):
        raise ClusterPolicyError("%s: expected Kubernetes objects, found %s" % (source, type(doc).__name__))
    if "kinds" in doc and isinstance(doc["kinds"], dict):  # a snapshot saved by this module
        for kind, items in doc["kinds"].items():
            if kind in KINDS:
                seen.add(kind)
                snap["kinds"][kind].extend(items or [])
        snap["missing"].update(doc.get("missing") or {})
        seen.update(doc.get("missing") or {})
        return
    kind = doc.get("kind")
    if not isinstance(kind, str):
        raise ClusterPolicyError("%s: an object without 'kind'; is this 'kubectl get -o json' output?" % source)
    if kind.endswith("List") and "items" in doc:
        item_kind = kind[: -len("List")] or None  # "PodList" -> "Pod"; kubectl's "List" names kinds per item
        if item_kind in KINDS:
            seen.add(item_kind)
        for item in doc.get("items") or []:
            if isinstance(item, dict) and item_kind and "kind" not in item:
                item = dict(item, kind=item_kind)
            _add_document(snap, item, seen, source)
        return
    if kind in KINDS:
        seen.add(kind)
        snap["kinds"][kind].append(doc)


def counts(snapshot: t.Mapping[str, t.Any]) -> t.Dict[str, int]:
    return {kind: len(items) for kind, items in snapshot["kinds"].items()}


# ---------------------------------------------------------------------------------------------------
# Accessors on API objects


def meta_of(obj: t.Mapping[str, t.Any]) -> t.Mapping[str, t.Any]:
    return obj.get("metadata") or {}


def name_of(obj: t.Mapping[str, t.Any]) -> str:
    return meta_of(obj).get("name", "")


def namespace_of(obj: t.Mapping[str, t.Any]) -> t.Optional[str]:
    return meta_of(obj).get("namespace")


def labels_of(obj: t.Mapping[str, t.Any]) -> t.Mapping[str, str]:
    return meta_of(obj).get("labels") or {}


def ref_of(obj: t.Mapping[str, t.Any]) -> str:
    return "%s/%s" % (namespace_of(obj), name_of(obj)) if namespace_of(obj) else name_of(obj)


def containers_of(pod: t.Mapping[str, t.Any]) -> t.List[t.Mapping[str, t.Any]]:
    spec = pod.get("spec") or {}
    return list(spec.get("initContainers") or []) + list(spec.get("containers") or []) + list(
        spec.get("ephemeralContainers") or []
    )


def context_of(obj: t.Mapping[str, t.Any]) -> t.Mapping[str, t.Any]:
    return obj.get("securityContext") or {}


def pod_context_of(pod: t.Mapping[str, t.Any]) -> t.Mapping[str, t.Any]:
    return (pod.get("spec") or {}).get("securityContext") or {}


def spec_of(rule: Rule) -> ClusterObjects:
    """A cluster rule's check spec (TypeError for a rule of another area)."""
    if not isinstance(rule.check, ClusterObjects):
        raise TypeError("cluster rule %s: check must be a ClusterObjects spec, not %r" % (rule.id, rule.check))
    return rule.check
