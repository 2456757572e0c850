# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The cluster rules on namespaces and pods (CIS 5.2, 5.3, 5.4, 5.6): Pod Security Admission labels,
NetworkPolicies, the default namespace, and each pod's security settings. Each check returns (violations,
exempt, notes).
"""

from __future__ import annotations

import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils._cluster_objects import (
    Action,
    CheckResult,
    Violation,
    containers_of,
    context_of,
    labels_of,
    name_of,
    namespace_of,
    pod_context_of,
    ref_of,
    spec_of,
)
from ansible_collections.kubefort.hardening.plugins.module_utils._cluster_objects import ClusterPolicyError

PSA = "pod-security.kubernetes.io/"
PSA_LEVELS = ("privileged", "baseline", "restricted")
DEFAULT_DENY_NAME = "kubefort-default-deny"
MANAGED_BY = {"app.kubernetes.io/managed-by": "kubefort.hardening"}


def check_psa_enforce(snap, rule, opts) -> CheckResult:
    findings, exempt = [], []
    for ns in snap["kinds"]["Namespace"]:
        labels = labels_of(ns)
        enforce = labels.get(PSA + "enforce")
        if enforce in ("baseline", "restricted"):
            continue
        if name_of(ns) in opts.exempt_namespaces:
            exempt.append(name_of(ns))
            continue
        action, resolves = None, False
        if opts.remediate and opts.psa_labels:
            add = {PSA + mode: opts.psa_level for mode in ("warn", "audit") if PSA + mode not in labels}
            if opts.psa_enforce and enforce is None:
                add[PSA + "enforce"] = opts.psa_level
                resolves = True
            if add:
                before = {k: v for k, v in labels.items() if k.startswith(PSA)}
                action = Action("PATCH", "Namespace", None, name_of(ns), {"metadata": {"labels": add}},
                                {"labels": before}, {"labels": dict(before, **add)},
                                "label " + ", ".join("%s=%s" % kv for kv in sorted(add.items())))
        detail = "enforce=%s" % enforce if enforce else "no enforce label"
        if enforce == "privileged":
            detail += " (set explicitly: change it by hand or list the namespace in kubefort_cluster_exempt_namespaces)"
        findings.append(Violation("namespace %s" % name_of(ns), detail, action, resolves))
    return findings, exempt, []


def check_network_policy(snap, rule, opts) -> CheckResult:
    with_policy = {namespace_of(p) for p in snap["kinds"]["NetworkPolicy"]}
    names = {name_of(ns) for ns in snap["kinds"]["Namespace"]}
    unknown = [n for n in opts.default_deny_namespaces if n not in names]
    if opts.remediate and unknown:
        raise ClusterPolicyError(
            "kubefort_cluster_default_deny_namespaces names namespaces that do not exist: %s. "
            "Create them first or remove them from the list." % ", ".join(unknown)
        )
    findings = []
    for ns in snap["kinds"]["Namespace"]:
        name = name_of(ns)
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
    findings = [Violation("Pod default/%s" % name_of(p), "") for p in snap["kinds"]["Pod"] if namespace_of(p) == "default"]
    findings += [
        Violation("Service default/%s" % name_of(s), "")
        for s in snap["kinds"]["Service"]
        if namespace_of(s) == "default" and name_of(s) != "kubernetes"
    ]
    return findings, [], []


# Pod checks: each returns what is wrong with one pod (empty when nothing).


def _pod_flag(key: str) -> t.Callable[[t.Mapping[str, t.Any]], t.List[str]]:
    def check(pod: t.Mapping[str, t.Any]) -> t.List[str]:
        return ["%s: true" % key] if (pod.get("spec") or {}).get(key) is True else []

    return check


def _privileged(pod):
    return ["container %s privileged" % c.get("name") for c in containers_of(pod) if context_of(c).get("privileged") is True]


def _privilege_escalation(pod):
    return [
        "container %s allowPrivilegeEscalation%s" % (
            c.get("name"), ": true" if context_of(c).get("allowPrivilegeEscalation") is True else " (privileged)")
        for c in containers_of(pod)
        if context_of(c).get("allowPrivilegeEscalation") is True or context_of(c).get("privileged") is True
    ]


def _root(pod):
    if ((pod.get("spec") or {}).get("os") or {}).get("name") == "windows":
        return []
    out = []
    for c in containers_of(pod):
        user = context_of(c).get("runAsUser", pod_context_of(pod).get("runAsUser"))
        non_root = context_of(c).get("runAsNonRoot", pod_context_of(pod).get("runAsNonRoot"))
        if user == 0:
            out.append("container %s runAsUser: 0" % c.get("name"))
        elif user is None and non_root is not True:
            out.append("container %s may run as root (no runAsNonRoot or runAsUser)" % c.get("name"))
    return out


def _caps(c, key: str) -> t.List[str]:
    return [str(x).upper().replace("CAP_", "") for x in ((context_of(c).get("capabilities") or {}).get(key) or [])]


def _net_raw(pod):
    out = []
    for c in containers_of(pod):
        if "NET_RAW" in _caps(c, "add") or "ALL" in _caps(c, "add"):
            out.append("container %s adds NET_RAW" % c.get("name"))
        elif context_of(c).get("privileged") is True:
            out.append("container %s privileged (all capabilities)" % c.get("name"))
        elif not {"NET_RAW", "ALL"} & set(_caps(c, "drop")):
            out.append("container %s does not drop NET_RAW" % c.get("name"))
    return out


def _capabilities(pod):
    return ["container %s adds %s" % (c.get("name"), ",".join(_caps(c, "add"))) for c in containers_of(pod) if _caps(c, "add")]


def _windows_hostprocess(pod):
    out = ["hostProcess (pod)"] if (pod_context_of(pod).get("windowsOptions") or {}).get("hostProcess") is True else []
    return out + [
        "container %s hostProcess" % c.get("name")
        for c in containers_of(pod)
        if (context_of(c).get("windowsOptions") or {}).get("hostProcess") is True
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
        for c in containers_of(pod)
        for p in c.get("ports") or []
        if p.get("hostPort")
    ]


def _seccomp(pod):
    pod_type = (pod_context_of(pod).get("seccompProfile") or {}).get("type")
    out = []
    for c in containers_of(pod):
        kind = (context_of(c).get("seccompProfile") or {}).get("type") or pod_type
        if kind not in ("RuntimeDefault", "Localhost"):
            out.append("container %s seccomp %s" % (c.get("name"), kind or "unset"))
    return out


def _security_context(pod):
    if pod_context_of(pod) or any(context_of(c) for c in containers_of(pod)):
        return []
    return ["no securityContext on the pod or its containers"]


def _secrets_in_env(pod):
    out = []
    for c in containers_of(pod):
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


def check_pods(snap, rule, opts) -> CheckResult:
    check = POD_CHECKS[spec_of(rule).evaluator]
    findings, exempt = [], []
    for pod in snap["kinds"]["Pod"]:
        problems = check(pod)
        if not problems:
            continue
        if namespace_of(pod) in opts.exempt_namespaces:
            exempt.append(ref_of(pod))
        else:
            findings.append(Violation(ref_of(pod), ", ".join(problems)))
    return findings, exempt, []
