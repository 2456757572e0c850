# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Catalog entries for the cluster area: CIS Kubernetes Benchmark 1.12 section 5 (see _rule.Rule).

Every rule is evaluated on a snapshot of API objects by ``_cluster_policy``. Its ``check`` is a
``ClusterObjects`` spec (_check_specs) with:

- ``evaluator``: the function in ``_cluster_policy.CHECKS``; ``grants``: a permission check's triples;
- ``kinds``: the API kinds it reads (a kind that could not be read makes the result ``error``);
- ``on_finding``: ``fail`` when the API answers the question, ``manual`` when a person must decide
  whether each finding is needed (the result then lists the findings and says what to review);
- ``always_manual``: the API cannot answer the whole question, so the result is ``manual`` even when
  nothing is found.

CIS 1.12 numbers General Policies 5.6.x (5.7.x in 1.10 and earlier) and merges "added capabilities"
into 5.2.9; the IDs below follow 1.12.
"""

from __future__ import annotations

import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils._check_specs import ClusterObjects
from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Rule

RBAC = "5.1 RBAC and Service Accounts"
PSS = "5.2 Pod Security Standards"
NET = "5.3 Network Policies and CNI"
SECRETS = "5.4 Secrets Management"
GENERAL = "5.6 General Policies"

_RBAC_KINDS = ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
_POD_KINDS = ("Namespace", "Pod")

_PERMISSION_REVIEW = (
    "Review each subject listed; where it does not need this permission, bind it to a narrower Role "
    "(or remove the binding). Built-in subjects (system:*, service accounts in kube-system) are not listed."
)


def _objects_rule(id: str, cis: str, title: str, section: str, severity: str, expected: str, check: ClusterObjects,
                  remediation: str, rationale: str = "", level: int = 1, automated: bool = False) -> Rule:
    """A cluster rule: judged on a snapshot of API objects by _cluster_policy."""
    return Rule(id=id, cis=cis, title=title, component="cluster", section=section, severity=severity, level=level,
                expected=expected, automated=automated, remediation=remediation,
                rationale=rationale, check=check)


def _rbac(
    rule_id: str,
    cis: str,
    title: str,
    severity: str,
    grants: t.Sequence[t.Tuple[str, str, str]],
    remediation: str,
) -> Rule:
    """A "who may do X" rule: grants are (apiGroup, resource, verb) triples."""
    return _objects_rule(
        rule_id, cis, title, RBAC, severity, "only the subjects that need it",
        ClusterObjects("rbac_permission", _RBAC_KINDS, on_finding="manual", grants=tuple(grants)),
        remediation + " " + _PERMISSION_REVIEW,
    )


def _pod(
    rule_id: str,
    cis: str,
    title: str,
    severity: str,
    check: str,
    expected: str,
    remediation: str,
    level: int = 1,
    on_finding: str = "fail",
) -> Rule:
    return _objects_rule(
        rule_id, cis, title, PSS if cis.startswith("5.2") else GENERAL, severity, expected,
        ClusterObjects(check, _POD_KINDS, on_finding=on_finding), remediation, level=level,
    )


_PSA_HINT = (
    " Then enforce Pod Security Admission (baseline or restricted) on the namespace "
    "(kubefort_cluster_psa_enforce) so new pods cannot do it again."
)

RULES: t.Tuple[Rule, ...] = (
    _objects_rule(
        "cluster-admin-bindings", "5.1.1", "Ensure that the cluster-admin role is only used where required", RBAC,
        "high", "only the built-in bindings (system:masters, kubeadm:cluster-admins)",
        remediation="For each binding listed, bind the subject to a narrower role first, then delete the "
                    "binding to cluster-admin (kubectl delete clusterrolebinding NAME).",
        rationale="cluster-admin grants every verb on every resource.",
        check=ClusterObjects("cluster_admin_bindings", ("ClusterRoleBinding", "RoleBinding"), on_finding="manual"),
    ),
    _rbac(
        "rbac-secrets-access", "5.1.2", "Minimize access to secrets", "high",
        [("", "secrets", "get"), ("", "secrets", "list"), ("", "secrets", "watch")],
        "Remove get, list and watch on secrets where they are not needed.",
    ),
    _objects_rule(
        "rbac-wildcards", "5.1.3", "Minimize wildcard use in Roles and ClusterRoles", RBAC, "medium",
        "no '*' in verbs, resources or apiGroups outside the built-in roles",
        remediation="Replace each '*' in the roles listed with the objects and verbs actually needed.",
        check=ClusterObjects("rbac_wildcards", ("ClusterRole", "Role"), on_finding="manual"),
    ),
    _rbac(
        "rbac-create-pods", "5.1.4", "Minimize access to create pods", "high", [("", "pods", "create")],
        "Remove create on pods where it is not needed (a pod can mount any secret or service account of its namespace).",
    ),
    _objects_rule(
        "default-sa-automount", "5.1.5", "Ensure that default service accounts are not actively used", RBAC, "medium",
        "automountServiceAccountToken: false on every default service account", automated=True,
        remediation="Set automountServiceAccountToken: false on each namespace's default service account "
                    "(kubefort_cluster_remediate with kubefort_cluster_fix_default_service_accounts); give "
                    "workloads that call the API their own service account.",
        check=ClusterObjects("default_sa_automount", ("Namespace", "ServiceAccount", "RoleBinding", "ClusterRoleBinding"), on_finding="fail"),
    ),
    _objects_rule(
        "sa-token-mounts", "5.1.6", "Ensure that Service Account Tokens are only mounted where necessary", RBAC,
        "medium", "pods mount a token only when they call the API",
        remediation="Set automountServiceAccountToken: false in the pod template (or the service account) of each "
                    "workload listed that does not call the Kubernetes API. Pods whose service account has no RBAC "
                    "binding at all are marked: their token most likely serves no purpose.",
        check=ClusterObjects("sa_token_mounts", ("Namespace", "Pod", "ServiceAccount", "RoleBinding", "ClusterRoleBinding"), on_finding="manual"),
    ),
    _objects_rule(
        "system-masters-use", "5.1.7", "Avoid use of system:masters group", RBAC, "high",
        "no credentials in system:masters apart from break-glass ones",
        remediation="Client certificates with O=system:masters are not visible through the API: review the "
                    "certificates your CA issued (kubeadm >= 1.29 gives admin.conf the kubeadm:cluster-admins group "
                    "instead) and remove bindings that name system:masters.",
        check=ClusterObjects("system_masters", ("ClusterRoleBinding", "RoleBinding"), on_finding="manual", always_manual=True),
    ),
    _rbac(
        "rbac-bind-escalate-impersonate", "5.1.8",
        "Limit use of the Bind, Impersonate and Escalate permissions in the Kubernetes cluster", "high",
        [
            ("rbac.authorization.k8s.io", "roles", "bind"),
            ("rbac.authorization.k8s.io", "clusterroles", "bind"),
            ("rbac.authorization.k8s.io", "roles", "escalate"),
            ("rbac.authorization.k8s.io", "clusterroles", "escalate"),
            ("", "users", "impersonate"),
            ("", "groups", "impersonate"),
            ("", "serviceaccounts", "impersonate"),
            ("authentication.k8s.io", "userextras", "impersonate"),
            ("authentication.k8s.io", "uids", "impersonate"),
        ],
        "Remove bind, escalate and impersonate where they are not needed.",
    ),
    _rbac(
        "rbac-create-pv", "5.1.9", "Minimize access to create persistent volumes", "medium",
        [("", "persistentvolumes", "create")],
        "Remove create on persistentvolumes where it is not needed (a hostPath volume exposes the node).",
    ),
    _rbac(
        "rbac-nodes-proxy", "5.1.10", "Minimize access to the proxy sub-resource of nodes", "high",
        [("", "nodes/proxy", "get"), ("", "nodes/proxy", "create")],
        "Remove access to nodes/proxy where it is not needed (it reaches the kubelet API).",
    ),
    _rbac(
        "rbac-csr-approval", "5.1.11",
        "Minimize access to the approval sub-resource of certificatesigningrequests objects", "high",
        [
            ("certificates.k8s.io", "certificatesigningrequests/approval", "update"),
            ("certificates.k8s.io", "certificatesigningrequests/approval", "patch"),
        ],
        "Remove update and patch on certificatesigningrequests/approval where they are not needed.",
    ),
    _rbac(
        "rbac-webhook-config", "5.1.12", "Minimize access to webhook configuration objects", "high",
        [
            (group_verb[0], resource, group_verb[1])
            for resource in ("validatingwebhookconfigurations", "mutatingwebhookconfigurations")
            for group_verb in (
                ("admissionregistration.k8s.io", "create"),
                ("admissionregistration.k8s.io", "update"),
                ("admissionregistration.k8s.io", "patch"),
                ("admissionregistration.k8s.io", "delete"),
            )
        ],
        "Remove write access to validating and mutating webhook configurations where it is not needed.",
    ),
    _rbac(
        "rbac-token-create", "5.1.13", "Minimize access to the service account token creation", "high",
        [("", "serviceaccounts/token", "create")], "Remove create on serviceaccounts/token where it is not needed.",
    ),
    Rule(
        id="rbac-anonymous-access",
        title="Grant nothing to system:anonymous or system:unauthenticated beyond health and discovery",
        component="cluster",
        section=RBAC,
        severity="critical",
        expected="only get on health and discovery URLs",
        automated=True,
        remediation=(
            "Remove the anonymous and unauthenticated subjects from the bindings listed (the binding is "
            "deleted when they are its only subjects): kubefort_cluster_remediate with "
            "kubefort_cluster_remove_anonymous_bindings. Bindings in kubefort_cluster_anonymous_allowed_bindings "
            "are kept."
        ),
        rationale="Anything granted to these subjects is granted to every client that can reach the API server.",
        check=ClusterObjects("anonymous_bindings", _RBAC_KINDS, on_finding="fail"),
    ),
    _objects_rule(
        "psa-enforce", "5.2.1", "Ensure that the cluster has at least one active policy control mechanism in place",
        PSS, "high", "pod-security.kubernetes.io/enforce baseline or restricted on every namespace with workloads",
        automated=True,
        remediation="Label each namespace with pod-security.kubernetes.io/warn and audit first "
                    "(kubefort_cluster_psa_labels), then enforce (kubefort_cluster_psa_enforce) at "
                    "kubefort_cluster_psa_level. Namespaces in kubefort_cluster_exempt_namespaces are left alone.",
        rationale="A cluster-wide default in the API server's AdmissionConfiguration or an external policy engine "
                  "is not visible through the API; such clusters can waive this rule.",
        check=ClusterObjects("psa_enforce", ("Namespace",), on_finding="fail"),
    ),
    _pod(
        "pod-privileged", "5.2.2", "Minimize the admission of privileged containers", "high", "privileged",
        "no privileged containers", "Remove securityContext.privileged: true from the workloads listed." + _PSA_HINT,
    ),
    _pod(
        "pod-host-pid", "5.2.3", "Minimize the admission of containers wishing to share the host process ID namespace",
        "high", "host_pid", "hostPID unset or false", "Remove hostPID: true from the workloads listed." + _PSA_HINT,
    ),
    _pod(
        "pod-host-ipc", "5.2.4", "Minimize the admission of containers wishing to share the host IPC namespace",
        "high", "host_ipc", "hostIPC unset or false", "Remove hostIPC: true from the workloads listed." + _PSA_HINT,
    ),
    _pod(
        "pod-host-network", "5.2.5",
        "Minimize the admission of containers wishing to share the host network namespace", "high", "host_network",
        "hostNetwork unset or false", "Remove hostNetwork: true from the workloads listed." + _PSA_HINT,
    ),
    _pod(
        "pod-privilege-escalation", "5.2.6", "Minimize the admission of containers with allowPrivilegeEscalation",
        "medium", "privilege_escalation", "allowPrivilegeEscalation not true",
        "Set securityContext.allowPrivilegeEscalation: false in the containers listed (PSA restricted requires it).",
    ),
    _pod(
        "pod-root", "5.2.7", "Minimize the admission of root containers", "medium", "root",
        "runAsNonRoot: true or a non-zero runAsUser",
        "Set runAsNonRoot: true (and a non-zero runAsUser) in the pods or containers listed.", level=2,
    ),
    _pod(
        "pod-net-raw", "5.2.8", "Minimize the admission of containers with the NET_RAW capability", "medium",
        "net_raw", "NET_RAW (or ALL) dropped and not added",
        "Add NET_RAW (or ALL) to securityContext.capabilities.drop in the containers listed.",
    ),
    _pod(
        "pod-capabilities", "5.2.9", "Minimize the admission of containers with capabilities assigned", "medium",
        "capabilities", "no capabilities added",
        "Remove securityContext.capabilities.add from the containers listed and drop ALL where the "
        "application needs no capability.",
        level=2,
    ),
    _pod(
        "pod-windows-hostprocess", "5.2.10", "Minimize the admission of Windows HostProcess containers", "high",
        "windows_hostprocess", "windowsOptions.hostProcess unset or false",
        "Remove windowsOptions.hostProcess: true from the workloads listed." + _PSA_HINT,
    ),
    _pod(
        "pod-host-path", "5.2.11", "Minimize the admission of HostPath volumes", "high", "host_path",
        "no hostPath volumes",
        "Replace the hostPath volumes of the workloads listed (emptyDir, configMap, PVC)." + _PSA_HINT,
    ),
    _pod(
        "pod-host-port", "5.2.12", "Minimize the admission of containers which use HostPorts", "medium", "host_port",
        "no hostPort", "Remove hostPort from the containers listed and expose them through a Service." + _PSA_HINT,
    ),
    _objects_rule(
        "namespace-network-policy", "5.3.2", "Ensure that all Namespaces have NetworkPolicies defined", NET, "medium",
        "at least one NetworkPolicy in every namespace", level=2, automated=True,
        remediation="Write NetworkPolicies for the namespaces listed; for namespaces in "
                    "kubefort_cluster_default_deny_namespaces the collection creates a default-deny policy "
                    "(kubefort-default-deny).",
        check=ClusterObjects("network_policy", ("Namespace", "NetworkPolicy"), on_finding="fail"),
    ),
    _objects_rule(
        "secrets-in-env", "5.4.1", "Prefer using Secrets as files over Secrets as environment variables", SECRETS,
        "medium", "no secretKeyRef or secretRef in env / envFrom", level=2,
        remediation="Mount the secrets listed as files (a secret volume) and have the application read them there.",
        check=ClusterObjects("secrets_in_env", _POD_KINDS, on_finding="fail"),
    ),
    _pod(
        "pod-seccomp", "5.6.2", "Ensure that the seccomp profile is set to RuntimeDefault in your Pod definitions",
        "medium", "seccomp", "seccompProfile RuntimeDefault or Localhost",
        "Set securityContext.seccompProfile.type: RuntimeDefault in the pods listed (or enable the "
        "kubelet's seccompDefault, which the API cannot show).",
        level=2,
    ),
    _pod(
        "pod-security-context", "5.6.3", "Apply SecurityContext to your Pods and Containers", "low",
        "security_context", "a securityContext on the pod or its containers",
        "Give the pods listed a securityContext (runAsNonRoot, seccompProfile, dropped capabilities).", level=2,
    ),
    _objects_rule(
        "default-namespace-used", "5.6.4", "The default namespace should not be used", GENERAL, "low",
        "no pods and no services other than kubernetes in default", level=2,
        remediation="Move the workloads listed to namespaces of their own.",
        check=ClusterObjects("default_namespace", ("Pod", "Service"), on_finding="fail"),
    ),
)
