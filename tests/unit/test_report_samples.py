"""Sample results for the report tests, built with make_result() as the roles build them.

Imported by the other test_report_* files (and by tests/integration/test_report_outputs.py).
"""

from __future__ import annotations

import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils._rule import (
    STATUSES,
    Rule,
    make_result,
)

RULES = {
    "apiserver-authorization-mode": Rule(
        id="apiserver-authorization-mode",
        cis="1.2.6",
        title="Ensure that the --authorization-mode argument is not set to AlwaysAllow",
        component="kube-apiserver",
        section="1.2 API Server",
        severity="critical",
        flag="--authorization-mode",
        operator="not_contains",
        expected="AlwaysAllow",
        remediation="Set --authorization-mode=Node,RBAC in /etc/kubernetes/manifests/kube-apiserver.yaml",
    ),
    "apiserver-anonymous-auth": Rule(
        id="apiserver-anonymous-auth",
        cis="1.2.1",
        title="Ensure that the --anonymous-auth argument is set to false",
        component="kube-apiserver",
        section="1.2 API Server",
        severity="high",
        flag="--anonymous-auth",
        expected="false",
        remediation="Limit anonymous access to the health endpoints with an AuthenticationConfiguration",
    ),
    "apiserver-manifest-mode": Rule(
        id="apiserver-manifest-mode",
        cis="1.1.1",
        title="Ensure that the API server pod specification file permissions are set to 600 or more restrictive",
        component="kube-apiserver",
        section="1.1 Control Plane Node Configuration Files",
        severity="medium",
        operator="mode_at_most",
        expected="600",
        remediation="chmod 600 /etc/kubernetes/manifests/kube-apiserver.yaml",
    ),
    "kubelet-read-only-port": Rule(
        id="kubelet-read-only-port",
        cis="4.2.4",
        title="Verify that if defined, the --read-only-port argument is set to 0",
        component="kubelet",
        section="4.2 Kubelet",
        severity="high",
        flag="--read-only-port",
        config_key="readOnlyPort",
        expected="0",
        remediation="Set readOnlyPort: 0 in /var/lib/kubelet/config.yaml",
    ),
    "kubelet-anonymous-auth": Rule(
        id="kubelet-anonymous-auth",
        cis="4.2.1",
        title="Ensure that the --anonymous-auth argument is set to false",
        component="kubelet",
        section="4.2 Kubelet",
        severity="critical",
        config_key="authentication.anonymous.enabled",
        expected="false",
        remediation="Set authentication.anonymous.enabled: false in /var/lib/kubelet/config.yaml",
    ),
    "kubelet-config-mode": Rule(
        id="kubelet-config-mode",
        cis="4.1.9",
        title="If the kubelet config.yaml configuration file is being used validate permissions set to 600 or more restrictive",
        component="kubelet",
        section="4.1 Worker Node Configuration Files",
        severity="medium",
        operator="mode_at_most",
        expected="600",
        remediation="chmod 600 /var/lib/kubelet/config.yaml",
    ),
    "kubelet-cadvisor-port": Rule(
        id="kubelet-cadvisor-port",
        title="The kubelet's cAdvisor port 4149 does not listen",
        component="ports",
        section="Ports",
        severity="low",
        operator="absent",
        remediation="Remove --cadvisor-port from the kubelet's command line",
    ),
    "cluster-anonymous-bindings": Rule(
        id="cluster-anonymous-bindings",
        cis="5.1.1",
        title="No RBAC binding grants rights to system:anonymous",
        component="cluster",
        section="5.1 RBAC and Service Accounts",
        severity="high",
        operator="custom",
        expected="no bindings",
        automated=False,
        remediation="Delete the bindings that name system:anonymous or system:unauthenticated",
    ),
}


def result(rule_id: str, status: str, **kwargs: t.Any) -> t.Dict[str, t.Any]:
    return make_result(RULES[rule_id], status, **kwargs)


def control_plane(status: str = "fail") -> t.List[t.Dict[str, t.Any]]:
    """A kubeadm control plane: authorization wide open unless status is pass."""
    return [
        result("apiserver-authorization-mode", status, actual="AlwaysAllow" if status != "pass" else "Node,RBAC",
               source="/etc/kubernetes/manifests/kube-apiserver.yaml:17"),
        result("apiserver-anonymous-auth", "manual", actual=None, source="default (anonymous on)",
               message="needs an AuthenticationConfiguration on this version"),
        result("apiserver-manifest-mode", "pass", actual="600", source="/etc/kubernetes/manifests/kube-apiserver.yaml"),
        result("kubelet-read-only-port", "pass", actual="0", source="/var/lib/kubelet/config.yaml:31"),
    ]


def worker(status: str = "would_fix") -> t.List[t.Dict[str, t.Any]]:
    return [
        result("kubelet-read-only-port", status, actual="10255", source="flag --read-only-port in /proc/812/cmdline",
               changed_files=["/etc/default/kubelet"]),
        result("kubelet-anonymous-auth", "pass", actual="false", source="/var/lib/kubelet/config.yaml:5"),
        result("kubelet-config-mode", "fixed" if status == "fixed" else "pass", actual="600", source="/var/lib/kubelet/config.yaml"),
        result("kubelet-cadvisor-port", "waived", actual="4149", source="0.0.0.0:4149 (kubelet)",
               waiver={"reason": "legacy monitoring until Q3", "expires": "2027-01-01"}),
    ]


def cluster() -> t.List[t.Dict[str, t.Any]]:
    return [result("cluster-anonymous-bindings", "fail", actual="ClusterRoleBinding/anon-view", source="rbac.authorization.k8s.io/v1")]


HOST_INFO = {
    "cp1": {"layout": "kubeadm", "kubernetes_version": "1.31.4", "roles": ["control_plane"], "root": "/", "mode": "check"},
    "node1": {"layout": "kubeadm", "kubernetes_version": "1.31.4", "roles": ["node"], "root": "/", "mode": "check"},
}


def test_samples_are_results_of_every_kind() -> None:
    statuses = {r["status"] for r in control_plane() + worker() + cluster()}
    assert statuses >= {"pass", "fail", "would_fix", "manual", "waived"}
    assert statuses <= set(STATUSES)
