# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Cluster policy (CIS 5.x) evaluated on a snapshot of API objects, and remediation planning.

Pure Python, no Kubernetes client: the snapshot is a dict
``{"kinds": {Kind: [object, ...]}, "missing": {Kind: reason}, "unseen": [Kind, ...], "source": str}``
built either from live list calls (``_cluster_snapshot``) or from saved ``kubectl get ... -o json``
output (``snapshot_from_documents``). Objects keep the API's JSON shape (camelCase).
"""

from __future__ import annotations

import json
import typing as t
from dataclasses import dataclass, field

from ansible_collections.kubefort.hardening.plugins.module_utils._policy import (
    SKIPPED_MESSAGE,
    Policy,
    PolicyError,
    check_waivers,
    fixed_status,
)
from ansible_collections.kubefort.hardening.plugins.module_utils._check_specs import ClusterObjects
from ansible_collections.kubefort.hardening.plugins.module_utils._errors import rule_error
from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Rule, make_result
from ansible_collections.kubefort.hardening.plugins.module_utils._rules_cluster import RULES as CLUSTER_RULES

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

ANONYMOUS = {("User", "system:anonymous"), ("Group", "system:unauthenticated")}
BROAD_GROUPS = {"system:authenticated", "system:unauthenticated", "system:anonymous", "system:serviceaccounts"}
DEFAULT_CLUSTER_ADMINS = {("Group", "system:masters"), ("Group", "kubeadm:cluster-admins")}
BOOTSTRAP_LABEL = "kubernetes.io/bootstrapping"
AUTOUPDATE = "rbac.authorization.kubernetes.io/autoupdate"
PSA = "pod-security.kubernetes.io/"
PSA_LEVELS = ("privileged", "baseline", "restricted")
DEFAULT_DENY_NAME = "kubefort-default-deny"
MANAGED_BY = {"app.kubernetes.io/managed-by": "kubefort.hardening"}
# Non-resource URLs anyone may GET: health and discovery.
PUBLIC_URLS = (
    "/healthz", "/livez", "/readyz", "/version", "/api", "/apis", "/openapi",
    "/.well-known/openid-configuration", "/openid/v1/jwks",
)
SHOWN = 12


class ClusterPolicyError(PolicyError):
    """Input the policy code cannot work with (bad snapshot file, bad option); the message says what to do."""


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
            return "manual" if _spec(self.rule).always_manual else "pass"
        return _spec(self.rule).on_finding


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
# Small accessors on API objects


def _meta(obj: t.Mapping[str, t.Any]) -> t.Mapping[str, t.Any]:
    return obj.get("metadata") or {}


def _name(obj: t.Mapping[str, t.Any]) -> str:
    return _meta(obj).get("name", "")


def _ns(obj: t.Mapping[str, t.Any]) -> t.Optional[str]:
    return _meta(obj).get("namespace")


def _labels(obj: t.Mapping[str, t.Any]) -> t.Mapping[str, str]:
    return _meta(obj).get("labels") or {}


def _ref(obj: t.Mapping[str, t.Any]) -> str:
    return "%s/%s" % (_ns(obj), _name(obj)) if _ns(obj) else _name(obj)


def _subject_ref(subject: t.Mapping[str, t.Any]) -> str:
    if subject.get("kind") == "ServiceAccount":
        return "ServiceAccount %s/%s" % (subject.get("namespace", "?"), subject.get("name"))
    return "%s %s" % (subject.get("kind"), subject.get("name"))


def _builtin_subject(subject: t.Mapping[str, t.Any]) -> bool:
    """Control-plane identities whose rights come with Kubernetes itself."""
    name = subject.get("name", "")
    if subject.get("kind") == "ServiceAccount":
        return subject.get("namespace") == "kube-system"
    return name.startswith("system:") and name not in BROAD_GROUPS and not name.startswith("system:serviceaccounts")


def _containers(pod: t.Mapping[str, t.Any]) -> t.List[t.Mapping[str, t.Any]]:
    spec = pod.get("spec") or {}
    return list(spec.get("initContainers") or []) + list(spec.get("containers") or []) + list(
        spec.get("ephemeralContainers") or []
    )


def _sc(obj: t.Mapping[str, t.Any]) -> t.Mapping[str, t.Any]:
    return obj.get("securityContext") or {}


def _pod_sc(pod: t.Mapping[str, t.Any]) -> t.Mapping[str, t.Any]:
    return (pod.get("spec") or {}).get("securityContext") or {}


class _Rbac:
    """Roles by name, and every binding with the role it refers to."""

    def __init__(self, snap: t.Mapping[str, t.Any]) -> None:
        kinds = snap["kinds"]
        self.cluster_roles = {_name(r): r for r in kinds["ClusterRole"]}
        self.roles = {(_ns(r), _name(r)): r for r in kinds["Role"]}
        self.bindings = list(kinds["ClusterRoleBinding"]) + list(kinds["RoleBinding"])

    def role_of(self, binding: t.Mapping[str, t.Any]) -> t.Optional[t.Mapping[str, t.Any]]:
        ref = binding.get("roleRef") or {}
        if ref.get("kind") == "ClusterRole":
            return self.cluster_roles.get(ref.get("name"))
        return self.roles.get((_ns(binding), ref.get("name")))


def _binding_ref(binding: t.Mapping[str, t.Any]) -> str:
    kind = binding.get("kind") or ("RoleBinding" if _ns(binding) else "ClusterRoleBinding")
    ref = binding.get("roleRef") or {}
    scope = "in namespace %s" % _ns(binding) if _ns(binding) else "cluster-wide"
    return "%s %s -> %s %s (%s)" % (kind, _ref(binding), ref.get("kind"), ref.get("name"), scope)


def _rule_grants(rule: t.Mapping[str, t.Any], group: str, resource: str, verb: str) -> bool:
    if rule.get("nonResourceURLs"):
        return False
    groups = rule.get("apiGroups") or []
    resources = rule.get("resources") or []
    verbs = rule.get("verbs") or []
    sub = resource.split("/", 1)[1] if "/" in resource else None
    resource_ok = "*" in resources or resource in resources or (sub is not None and "*/" + sub in resources)
    return ("*" in groups or group in groups) and resource_ok and ("*" in verbs or verb in verbs)


# ---------------------------------------------------------------------------------------------------
# Checks: each returns (findings, exempt, notes) for one rule


CheckResult = t.Tuple[t.List[Violation], t.List[str], t.List[str]]


def check_rbac_permission(snap, rule, opts) -> CheckResult:
    rbac = _Rbac(snap)
    grants = _spec(rule).grants
    findings: t.List[Violation] = []
    builtin = 0
    for binding in rbac.bindings:
        role = rbac.role_of(binding)
        if role is None:
            continue
        granted = sorted({
            "%s %s%s" % (verb, resource, " (names: %s)" % ",".join(r["resourceNames"]) if r.get("resourceNames") else "")
            for group, resource, verb in grants
            for r in role.get("rules") or []
            if _rule_grants(r, group, resource, verb)
        })
        if not granted:
            continue
        for subject in binding.get("subjects") or []:
            if _builtin_subject(subject) or (subject.get("kind"), subject.get("name")) in DEFAULT_CLUSTER_ADMINS:
                builtin += 1
                continue
            findings.append(Violation(_subject_ref(subject), "via %s: %s" % (_binding_ref(binding), ", ".join(granted))))
    notes = ["%d grant(s) to built-in subjects (system:*, kube-system service accounts, default admin groups) not listed" % builtin] if builtin else []
    return findings, [], notes


def check_cluster_admin_bindings(snap, rule, opts) -> CheckResult:
    rbac = _Rbac(snap)
    findings = []
    for binding in rbac.bindings:
        ref = binding.get("roleRef") or {}
        if ref.get("kind") != "ClusterRole" or ref.get("name") != "cluster-admin":
            continue
        for subject in binding.get("subjects") or []:
            if (subject.get("kind"), subject.get("name")) in DEFAULT_CLUSTER_ADMINS:
                continue
            findings.append(Violation(_subject_ref(subject), "via " + _binding_ref(binding)))
    return findings, [], []


def check_system_masters(snap, rule, opts) -> CheckResult:
    rbac = _Rbac(snap)
    findings = []
    for binding in rbac.bindings:
        if _name(binding) == "cluster-admin" and not _ns(binding):
            continue
        for subject in binding.get("subjects") or []:
            if subject.get("kind") == "Group" and subject.get("name") == "system:masters":
                findings.append(Violation("Group system:masters", "named by " + _binding_ref(binding)))
    return findings, [], []


def check_rbac_wildcards(snap, rule, opts) -> CheckResult:
    findings = []
    builtin = 0
    for kind in ("ClusterRole", "Role"):
        for role in snap["kinds"][kind]:
            wild = sorted({
                key for r in role.get("rules") or []
                for key in ("verbs", "resources", "apiGroups", "nonResourceURLs")
                if "*" in (r.get(key) or [])
            })
            if not wild:
                continue
            if _labels(role).get(BOOTSTRAP_LABEL) == "rbac-defaults" or _name(role).startswith("system:"):
                builtin += 1
                continue
            findings.append(Violation("%s %s" % (kind, _ref(role)), "'*' in " + ", ".join(wild)))
    return findings, [], (["%d built-in role(s) with wildcards not listed" % builtin] if builtin else [])


def _public_only(rule: t.Mapping[str, t.Any]) -> bool:
    urls = rule.get("nonResourceURLs") or []
    if not urls or rule.get("resources"):
        return False
    verbs_ok = all(v in ("get", "head") for v in rule.get("verbs") or [])
    return verbs_ok and all(
        u.rstrip("*").rstrip("/") in PUBLIC_URLS or any(u.startswith(p + "/") for p in PUBLIC_URLS) for u in urls
    )


def check_anonymous_bindings(snap, rule, opts) -> CheckResult:
    rbac = _Rbac(snap)
    findings: t.List[Violation] = []
    allowed = []
    for binding in rbac.bindings:
        subjects = binding.get("subjects") or []
        anon = [s for s in subjects if (s.get("kind"), s.get("name")) in ANONYMOUS]
        if not anon:
            continue
        role = rbac.role_of(binding)
        if role is None:
            what = "refers to a role that does not exist (it grants as soon as the role is created)"
        else:
            extra = [r for r in role.get("rules") or [] if not _public_only(r)]
            if not extra:
                continue
            what = "grants " + "; ".join(_describe_rule(r) for r in extra)
        kind = "RoleBinding" if _ns(binding) else "ClusterRoleBinding"
        if _ref(binding) in opts.anonymous_allowed_bindings:
            allowed.append("%s %s" % (kind, _ref(binding)))
            continue
        action = _anonymous_fix(binding, kind, subjects, anon) if opts.remediate and opts.remove_anonymous_bindings else None
        who = ", ".join(_subject_ref(s) for s in anon)
        findings.append(Violation("%s %s" % (kind, _ref(binding)), "%s: %s" % (who, what), action))
    notes = ["kept (kubefort_cluster_anonymous_allowed_bindings): " + ", ".join(allowed)] if allowed else []
    return findings, [], notes


def _describe_rule(rule: t.Mapping[str, t.Any]) -> str:
    verbs = ",".join(rule.get("verbs") or [])
    if rule.get("nonResourceURLs"):
        return "%s on %s" % (verbs, ",".join(rule["nonResourceURLs"]))
    return "%s on %s" % (verbs, ",".join(rule.get("resources") or []))


def _anonymous_fix(binding, kind, subjects, anon) -> Action:
    keep = [s for s in subjects if s not in anon]
    if not keep:
        return Action("DELETE", kind, _ns(binding), _name(binding), None,
                      {"subjects": subjects}, None, "delete (its only subjects are anonymous)")
    body: t.Dict[str, t.Any] = {
        "metadata": {"resourceVersion": _meta(binding).get("resourceVersion")},
        "subjects": keep,
    }
    # The API server re-adds subjects to its own bindings on restart unless autoupdate is off.
    if (_meta(binding).get("annotations") or {}).get(AUTOUPDATE) == "true":
        body["metadata"]["annotations"] = {AUTOUPDATE: "false"}
    if body["metadata"]["resourceVersion"] is None:
        del body["metadata"]["resourceVersion"]
    return Action("PATCH", kind, _ns(binding), _name(binding), body,
                  {"subjects": subjects}, {"subjects": keep}, "remove anonymous subjects")


def _bound_service_accounts(snap) -> t.Set[t.Tuple[str, str]]:
    """(namespace, name) of service accounts named by a binding; ("ns", "*") for a whole-namespace group."""
    bound = set()
    for binding in list(snap["kinds"]["ClusterRoleBinding"]) + list(snap["kinds"]["RoleBinding"]):
        if _labels(binding).get(BOOTSTRAP_LABEL) == "rbac-defaults":
            continue
        for s in binding.get("subjects") or []:
            if s.get("kind") == "ServiceAccount":
                bound.add((s.get("namespace") or _ns(binding), s.get("name")))
            elif s.get("kind") == "Group" and s.get("name", "").startswith("system:serviceaccounts:"):
                bound.add((s["name"].split(":", 2)[2], "*"))
            elif s.get("kind") == "Group" and s.get("name") == "system:serviceaccounts":
                bound.add(("*", "*"))
    return bound


def check_default_sa_automount(snap, rule, opts) -> CheckResult:
    findings = []
    bound = _bound_service_accounts(snap)
    for sa in snap["kinds"]["ServiceAccount"]:
        if _name(sa) != "default":
            continue
        value = sa.get("automountServiceAccountToken")
        if value is False:
            continue
        action = None
        if opts.remediate and opts.fix_default_service_accounts:
            action = Action("PATCH", "ServiceAccount", _ns(sa), "default", {"automountServiceAccountToken": False},
                            {"automountServiceAccountToken": value}, {"automountServiceAccountToken": False},
                            "set automountServiceAccountToken: false")
        findings.append(Violation("namespace %s" % _ns(sa), "automountServiceAccountToken %s" % (
            "unset (defaults to true)" if value is None else json.dumps(value)), action))
    used = sorted("%s/default" % ns for ns, name in bound if name == "default")
    notes = ["default service accounts with RBAC bindings (give those workloads their own account): "
             + ", ".join(used)] if used else []
    return findings, [], notes


def check_sa_token_mounts(snap, rule, opts) -> CheckResult:
    accounts = {(_ns(sa), _name(sa)): sa for sa in snap["kinds"]["ServiceAccount"]}
    bound = _bound_service_accounts(snap)
    findings, exempt = [], []
    for pod in snap["kinds"]["Pod"]:
        spec = pod.get("spec") or {}
        account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        mount = spec.get("automountServiceAccountToken")
        if mount is None:
            mount = (accounts.get((_ns(pod), account)) or {}).get("automountServiceAccountToken")
        if mount is False:
            continue
        if _ns(pod) in opts.exempt_namespaces:
            exempt.append(_ref(pod))
            continue
        unbound = not ({(_ns(pod), account), (_ns(pod), "*"), ("*", "*")} & bound)
        findings.append(Violation(_ref(pod), "mounts the token of %s%s" % (
            account, " (no RBAC binding: most likely unused)" if unbound else "")))
    return findings, exempt, []


def check_psa_enforce(snap, rule, opts) -> CheckResult:
    findings, exempt = [], []
    for ns in snap["kinds"]["Namespace"]:
        labels = _labels(ns)
        enforce = labels.get(PSA + "enforce")
        if enforce in ("baseline", "restricted"):
            continue
        if _name(ns) in opts.exempt_namespaces:
            exempt.append(_name(ns))
            continue
        action, resolves = None, False
        if opts.remediate and opts.psa_labels:
            add = {PSA + mode: opts.psa_level for mode in ("warn", "audit") if PSA + mode not in labels}
            if opts.psa_enforce and enforce is None:
                add[PSA + "enforce"] = opts.psa_level
                resolves = True
            if add:
                before = {k: v for k, v in labels.items() if k.startswith(PSA)}
                action = Action("PATCH", "Namespace", None, _name(ns), {"metadata": {"labels": add}},
                                {"labels": before}, {"labels": dict(before, **add)},
                                "label " + ", ".join("%s=%s" % kv for kv in sorted(add.items())))
        detail = "enforce=%s" % enforce if enforce else "no enforce label"
        if enforce == "privileged":
            detail += " (set explicitly: change it by hand or list the namespace in kubefort_cluster_exempt_namespaces)"
        findings.append(Violation("namespace %s" % _name(ns), detail, action, resolves))
    return findings, exempt, []


def check_network_policy(snap, rule, opts) -> CheckResult:
    with_policy = {_ns(p) for p in snap["kinds"]["NetworkPolicy"]}
    names = {_name(ns) for ns in snap["kinds"]["Namespace"]}
    unknown = [n for n in opts.default_deny_namespaces if n not in names]
    if opts.remediate and unknown:
        raise ClusterPolicyError(
            "kubefort_cluster_default_deny_namespaces names namespaces that do not exist: %s. "
            "Create them first or remove them from the list." % ", ".join(unknown)
        )
    findings = []
    for ns in snap["kinds"]["Namespace"]:
        name = _name(ns)
        if name in with_policy:
            continue
        action = None
        if opts.remediate and name in opts.default_deny_namespaces:
            body = {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": DEFAULT_DENY_NAME, "namespace": name, "labels": dict(MANAGED_BY)},
                "spec": {"podSelector": {}, "policyTypes": list(opts.default_deny_policy_types)},
            }
            action = Action("POST", "NetworkPolicy", name, DEFAULT_DENY_NAME, body, None, body,
                            "create default-deny (%s)" % ", ".join(opts.default_deny_policy_types))
        findings.append(Violation("namespace %s" % name, "no NetworkPolicy", action))
    return findings, [], []


def check_default_namespace(snap, rule, opts) -> CheckResult:
    findings = [Violation("Pod default/%s" % _name(p), "") for p in snap["kinds"]["Pod"] if _ns(p) == "default"]
    findings += [
        Violation("Service default/%s" % _name(s), "")
        for s in snap["kinds"]["Service"]
        if _ns(s) == "default" and _name(s) != "kubernetes"
    ]
    return findings, [], []


# Pod checks: each returns what is wrong with one pod (empty when nothing).


def _pod_flag(key: str) -> t.Callable[[t.Mapping[str, t.Any]], t.List[str]]:
    def check(pod: t.Mapping[str, t.Any]) -> t.List[str]:
        return ["%s: true" % key] if (pod.get("spec") or {}).get(key) is True else []

    return check


def _privileged(pod):
    return ["container %s privileged" % c.get("name") for c in _containers(pod) if _sc(c).get("privileged") is True]


def _privilege_escalation(pod):
    return [
        "container %s allowPrivilegeEscalation%s" % (
            c.get("name"), ": true" if _sc(c).get("allowPrivilegeEscalation") is True else " (privileged)")
        for c in _containers(pod)
        if _sc(c).get("allowPrivilegeEscalation") is True or _sc(c).get("privileged") is True
    ]


def _root(pod):
    if ((pod.get("spec") or {}).get("os") or {}).get("name") == "windows":
        return []
    out = []
    for c in _containers(pod):
        user = _sc(c).get("runAsUser", _pod_sc(pod).get("runAsUser"))
        non_root = _sc(c).get("runAsNonRoot", _pod_sc(pod).get("runAsNonRoot"))
        if user == 0:
            out.append("container %s runAsUser: 0" % c.get("name"))
        elif user is None and non_root is not True:
            out.append("container %s may run as root (no runAsNonRoot or runAsUser)" % c.get("name"))
    return out


def _caps(c, key: str) -> t.List[str]:
    return [str(x).upper().replace("CAP_", "") for x in ((_sc(c).get("capabilities") or {}).get(key) or [])]


def _net_raw(pod):
    out = []
    for c in _containers(pod):
        if "NET_RAW" in _caps(c, "add") or "ALL" in _caps(c, "add"):
            out.append("container %s adds NET_RAW" % c.get("name"))
        elif _sc(c).get("privileged") is True:
            out.append("container %s privileged (all capabilities)" % c.get("name"))
        elif not {"NET_RAW", "ALL"} & set(_caps(c, "drop")):
            out.append("container %s does not drop NET_RAW" % c.get("name"))
    return out


def _capabilities(pod):
    return ["container %s adds %s" % (c.get("name"), ",".join(_caps(c, "add"))) for c in _containers(pod) if _caps(c, "add")]


def _windows_hostprocess(pod):
    out = ["hostProcess (pod)"] if (_pod_sc(pod).get("windowsOptions") or {}).get("hostProcess") is True else []
    return out + [
        "container %s hostProcess" % c.get("name")
        for c in _containers(pod)
        if (_sc(c).get("windowsOptions") or {}).get("hostProcess") is True
    ]


def _host_path(pod):
    return [
        "hostPath %s (volume %s)" % ((v.get("hostPath") or {}).get("path"), v.get("name"))
        for v in (pod.get("spec") or {}).get("volumes") or []
        if "hostPath" in v
    ]


def _host_port(pod):
    return [
        "container %s hostPort %s/%s" % (c.get("name"), p["hostPort"], p.get("protocol", "TCP"))
        for c in _containers(pod)
        for p in c.get("ports") or []
        if p.get("hostPort")
    ]


def _seccomp(pod):
    pod_type = (_pod_sc(pod).get("seccompProfile") or {}).get("type")
    out = []
    for c in _containers(pod):
        kind = (_sc(c).get("seccompProfile") or {}).get("type") or pod_type
        if kind not in ("RuntimeDefault", "Localhost"):
            out.append("container %s seccomp %s" % (c.get("name"), kind or "unset"))
    return out


def _security_context(pod):
    if _pod_sc(pod) or any(_sc(c) for c in _containers(pod)):
        return []
    return ["no securityContext on the pod or its containers"]


def _secrets_in_env(pod):
    out = []
    for c in _containers(pod):
        for env in c.get("env") or []:
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                out.append("container %s env %s from secret %s" % (c.get("name"), env.get("name"), ref.get("name")))
        for src in c.get("envFrom") or []:
            if src.get("secretRef"):
                out.append("container %s envFrom secret %s" % (c.get("name"), src["secretRef"].get("name")))
    return out


POD_CHECKS: t.Dict[str, t.Callable[[t.Mapping[str, t.Any]], t.List[str]]] = {
    "privileged": _privileged,
    "host_pid": _pod_flag("hostPID"),
    "host_ipc": _pod_flag("hostIPC"),
    "host_network": _pod_flag("hostNetwork"),
    "privilege_escalation": _privilege_escalation,
    "root": _root,
    "net_raw": _net_raw,
    "capabilities": _capabilities,
    "windows_hostprocess": _windows_hostprocess,
    "host_path": _host_path,
    "host_port": _host_port,
    "seccomp": _seccomp,
    "security_context": _security_context,
    "secrets_in_env": _secrets_in_env,
}


def _check_pods(snap, rule, opts) -> CheckResult:
    check = POD_CHECKS[_spec(rule).evaluator]
    findings, exempt = [], []
    for pod in snap["kinds"]["Pod"]:
        problems = check(pod)
        if not problems:
            continue
        if _ns(pod) in opts.exempt_namespaces:
            exempt.append(_ref(pod))
        else:
            findings.append(Violation(_ref(pod), ", ".join(problems)))
    return findings, exempt, []


CHECKS: t.Dict[str, t.Callable[..., CheckResult]] = {
    "rbac_permission": check_rbac_permission,
    "cluster_admin_bindings": check_cluster_admin_bindings,
    "system_masters": check_system_masters,
    "rbac_wildcards": check_rbac_wildcards,
    "anonymous_bindings": check_anonymous_bindings,
    "default_sa_automount": check_default_sa_automount,
    "sa_token_mounts": check_sa_token_mounts,
    "psa_enforce": check_psa_enforce,
    "network_policy": check_network_policy,
    "default_namespace": check_default_namespace,
}
CHECKS.update({name: _check_pods for name in POD_CHECKS})


def _spec(rule: Rule) -> ClusterObjects:
    if not isinstance(rule.check, ClusterObjects):
        raise TypeError("cluster rule %s: check must be a ClusterObjects spec, not %r" % (rule.id, rule.check))
    return rule.check


def _check_catalog(rules: t.Iterable[Rule]) -> None:
    """Every cluster rule names an evaluator of CHECKS and kinds of KINDS (checked at import)."""
    for rule in rules:
        spec = _spec(rule)
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
        kinds = _spec(rule).kinds
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
            outcome.findings, outcome.exempt, notes = CHECKS[_spec(rule).evaluator](snap, rule, opts)
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
