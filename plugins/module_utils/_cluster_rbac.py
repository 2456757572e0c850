# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The cluster rules on RBAC and service accounts (CIS 5.1): who may do what, anonymous bindings, wildcard
roles, default service accounts and mounted tokens. Each check returns (violations, exempt, notes).
"""

from __future__ import annotations

import json
import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils._cluster_objects import (
    Action,
    CheckResult,
    Violation,
    labels_of,
    meta_of,
    name_of,
    namespace_of,
    ref_of,
    spec_of,
)

ANONYMOUS = {("User", "system:anonymous"), ("Group", "system:unauthenticated")}
BROAD_GROUPS = {"system:authenticated", "system:unauthenticated", "system:anonymous", "system:serviceaccounts"}
DEFAULT_CLUSTER_ADMINS = {("Group", "system:masters"), ("Group", "kubeadm:cluster-admins")}
BOOTSTRAP_LABEL = "kubernetes.io/bootstrapping"
AUTOUPDATE = "rbac.authorization.kubernetes.io/autoupdate"
# Non-resource URLs anyone may GET: health and discovery.
PUBLIC_URLS = (
    "/healthz", "/livez", "/readyz", "/version", "/api", "/apis", "/openapi",
    "/.well-known/openid-configuration", "/openid/v1/jwks",
)


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


class _Rbac:
    """Roles by name, and every binding with the role it refers to."""

    def __init__(self, snap: t.Mapping[str, t.Any]) -> None:
        kinds = snap["kinds"]
        self.cluster_roles = {name_of(r): r for r in kinds["ClusterRole"]}
        self.roles = {(namespace_of(r), name_of(r)): r for r in kinds["Role"]}
        self.bindings = list(kinds["ClusterRoleBinding"]) + list(kinds["RoleBinding"])

    def role_of(self, binding: t.Mapping[str, t.Any]) -> t.Optional[t.Mapping[str, t.Any]]:
        ref = binding.get("roleRef") or {}
        if ref.get("kind") == "ClusterRole":
            return self.cluster_roles.get(ref.get("name"))
        return self.roles.get((namespace_of(binding), ref.get("name")))


def _binding_ref(binding: t.Mapping[str, t.Any]) -> str:
    kind = binding.get("kind") or ("RoleBinding" if namespace_of(binding) else "ClusterRoleBinding")
    ref = binding.get("roleRef") or {}
    scope = "in namespace %s" % namespace_of(binding) if namespace_of(binding) else "cluster-wide"
    return "%s %s -> %s %s (%s)" % (kind, ref_of(binding), ref.get("kind"), ref.get("name"), scope)


def _rule_grants(rule: t.Mapping[str, t.Any], group: str, resource: str, verb: str) -> bool:
    if rule.get("nonResourceURLs"):
        return False
    groups = rule.get("apiGroups") or []
    resources = rule.get("resources") or []
    verbs = rule.get("verbs") or []
    sub = resource.split("/", 1)[1] if "/" in resource else None
    resource_ok = "*" in resources or resource in resources or (sub is not None and "*/" + sub in resources)
    return ("*" in groups or group in groups) and resource_ok and ("*" in verbs or verb in verbs)


def check_rbac_permission(snap, rule, opts) -> CheckResult:
    rbac = _Rbac(snap)
    grants = spec_of(rule).grants
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
        if name_of(binding) == "cluster-admin" and not namespace_of(binding):
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
            if labels_of(role).get(BOOTSTRAP_LABEL) == "rbac-defaults" or name_of(role).startswith("system:"):
                builtin += 1
                continue
            findings.append(Violation("%s %s" % (kind, ref_of(role)), "'*' in " + ", ".join(wild)))
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
        kind = "RoleBinding" if namespace_of(binding) else "ClusterRoleBinding"
        if ref_of(binding) in opts.anonymous_allowed_bindings:
            allowed.append("%s %s" % (kind, ref_of(binding)))
            continue
        action = _anonymous_fix(binding, kind, subjects, anon) if opts.remediate and opts.remove_anonymous_bindings else None
        who = ", ".join(_subject_ref(s) for s in anon)
        findings.append(Violation("%s %s" % (kind, ref_of(binding)), "%s: %s" % (who, what), action))
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
        return Action("DELETE", kind, namespace_of(binding), name_of(binding), None,
                      {"subjects": subjects}, None, "delete (its only subjects are anonymous)")
    body: t.Dict[str, t.Any] = {
        "metadata": {"resourceVersion": meta_of(binding).get("resourceVersion")},
        "subjects": keep,
    }
    # The API server re-adds subjects to its own bindings on restart unless autoupdate is off.
    if (meta_of(binding).get("annotations") or {}).get(AUTOUPDATE) == "true":
        body["metadata"]["annotations"] = {AUTOUPDATE: "false"}
    if body["metadata"]["resourceVersion"] is None:
        del body["metadata"]["resourceVersion"]
    return Action("PATCH", kind, namespace_of(binding), name_of(binding), body,
                  {"subjects": subjects}, {"subjects": keep}, "remove anonymous subjects")


def _bound_service_accounts(snap) -> t.Set[t.Tuple[str, str]]:
    """(namespace, name) of service accounts named by a binding; ("ns", "*") for a whole-namespace group."""
    bound = set()
    for binding in list(snap["kinds"]["ClusterRoleBinding"]) + list(snap["kinds"]["RoleBinding"]):
        if labels_of(binding).get(BOOTSTRAP_LABEL) == "rbac-defaults":
            continue
        for s in binding.get("subjects") or []:
            if s.get("kind") == "ServiceAccount":
                bound.add((s.get("namespace") or namespace_of(binding), s.get("name")))
            elif s.get("kind") == "Group" and s.get("name", "").startswith("system:serviceaccounts:"):
                bound.add((s["name"].split(":", 2)[2], "*"))
            elif s.get("kind") == "Group" and s.get("name") == "system:serviceaccounts":
                bound.add(("*", "*"))
    return bound


def check_default_sa_automount(snap, rule, opts) -> CheckResult:
    findings = []
    bound = _bound_service_accounts(snap)
    for sa in snap["kinds"]["ServiceAccount"]:
        if name_of(sa) != "default":
            continue
        value = sa.get("automountServiceAccountToken")
        if value is False:
            continue
        action = None
        if opts.remediate and opts.fix_default_service_accounts:
            action = Action("PATCH", "ServiceAccount", namespace_of(sa), "default", {"automountServiceAccountToken": False},
                            {"automountServiceAccountToken": value}, {"automountServiceAccountToken": False},
                            "set automountServiceAccountToken: false")
        findings.append(Violation("namespace %s" % namespace_of(sa), "automountServiceAccountToken %s" % (
            "unset (defaults to true)" if value is None else json.dumps(value)), action))
    used = sorted("%s/default" % ns for ns, name in bound if name == "default")
    notes = ["default service accounts with RBAC bindings (give those workloads their own account): "
             + ", ".join(used)] if used else []
    return findings, [], notes


def check_sa_token_mounts(snap, rule, opts) -> CheckResult:
    accounts = {(namespace_of(sa), name_of(sa)): sa for sa in snap["kinds"]["ServiceAccount"]}
    bound = _bound_service_accounts(snap)
    findings, exempt = [], []
    for pod in snap["kinds"]["Pod"]:
        spec = pod.get("spec") or {}
        account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        mount = spec.get("automountServiceAccountToken")
        if mount is None:
            mount = (accounts.get((namespace_of(pod), account)) or {}).get("automountServiceAccountToken")
        if mount is False:
            continue
        if namespace_of(pod) in opts.exempt_namespaces:
            exempt.append(ref_of(pod))
            continue
        unbound = not ({(namespace_of(pod), account), (namespace_of(pod), "*"), ("*", "*")} & bound)
        findings.append(Violation(ref_of(pod), "mounts the token of %s%s" % (
            account, " (no RBAC binding: most likely unused)" if unbound else "")))
    return findings, exempt, []
