# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Catalog entries for the control plane: API server, controller manager, scheduler, etcd (CIS 1.x, 2.x, 3.x).

Each rule's ``check`` is a typed spec (module_utils/_check_specs.py): a plain comparison (``Compare``, the
default), a file's mode or owner (``FileMode``/``FileOwner`` of a ``FileSet``), flags naming files that exist
(``FilesNamed``), a file the operator supplies (``SuppliedFile``), a manual decision (``Manual``), or a check
of its own (``Custom`` with the name of its evaluator). ``default_from`` / ``default_before`` give the default
where it changed between versions (an unknown version takes the rule's own default); ``needs_override``: the
value is the operator's decision, written only when ``kubefort_overrides`` names one.
"""

from __future__ import annotations

import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils._check_specs import (
    AdmissionPluginConfig,
    AuthorizationMode,
    CipherSuites,
    Custom,
    FeatureGate,
    FileMode,
    FileOwner,
    FileSet,
    FilesNamed,
    Loopback,
    Manual,
    SuppliedFile,
)
from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Rule

FILES = "1.1 Control Plane Node Configuration Files"
API = "1.2 API Server"
CM = "1.3 Controller Manager"
SCHED = "1.4 Scheduler"
ETCD = "2 etcd"
AUTHN = "3.1 Authentication and Authorization"
LOGGING = "3.2 Logging"

STATIC_POD = ("kubeadm", "kubespray", "rke2")
KUBEADM = ("kubeadm", "kubespray")

# Go's TLS 1.2 suites with forward secrecy and AEAD, plus the TLS 1.3 suites (CIS 1.2.29).
STRONG_CIPHERS = (
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
)

# Files and directories the rules below stat, beyond discovery's first round (for the lead's request).
STAT_PATHS = ("/var/lib/etcd", "/etc/cni/net.d/**", "/var/lib/cni/networks/**", "/etc/kubernetes")

_NAMES = {
    "kube-apiserver": "API server",
    "kube-controller-manager": "controller manager",
    "kube-scheduler": "scheduler",
    "etcd": "etcd",
}


def _manifest_rules(component: str, cis_mode: str, cis_owner: str, keep_ids: t.Tuple[str, str]) -> t.Tuple[Rule, Rule]:
    name = _NAMES[component]
    return (
        Rule(
            id=keep_ids[0], cis=cis_mode, component=component, section=FILES, severity="medium",
            title="%s pod specification file permissions are 600 or more restrictive" % _cap(name),
            operator="mode_at_most", expected="600", fix="0600", check=FileMode(FileSet("manifest")),
            distributions=STATIC_POD,
            remediation="chmod 600 on the %s static pod manifest (group and other bits removed)." % component,
            rationale="The manifest decides how %s runs; only root may change or read it." % component,
        ),
        Rule(
            id=keep_ids[1], cis=cis_owner, component=component, section=FILES, severity="medium",
            title="%s pod specification file ownership is root:root" % _cap(name),
            operator="owner", expected="root:root", fix="root:root", check=FileOwner(FileSet("manifest")),
            distributions=STATIC_POD,
            remediation="chown root:root on the %s static pod manifest." % component,
            rationale="The manifest decides how %s runs; only root may own it." % component,
        ),
    )


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]


def _flag_rule(
    id: str, cis: t.Optional[str], component: str, section: str, title: str, flag: str, operator: str,
    expected: t.Any, default: t.Any, fix: t.Any, severity: str = "medium", **kwargs: t.Any,
) -> Rule:
    """A rule on one command-line flag of a static-pod component (no config file)."""
    return Rule(
        id=id, cis=cis, component=component, section=section, title=title, severity=severity, flag=flag,
        operator=operator, expected=expected, default={"any": default} if default is not None else {},
        fix=fix, **kwargs,
    )


def _files_rule(id: str, cis: str, title: str, flags: t.Tuple[str, ...], component: str, section: str,
                remediation: str, rationale: str, severity: str = "high") -> Rule:
    """Flags that must name files (certificates, keys, CAs) that exist: checked, fixed by the operator."""
    return Rule(
        id=id, cis=cis, component=component, section=section, severity=severity, title=title,
        flag=flags[0], operator="custom", expected="%s set to files that exist" % ", ".join("--" + f for f in flags),
        automated=False, check=FilesNamed(flags), remediation=remediation, rationale=rationale,
    )


def _manual(id: str, cis: str, title: str, component: str, section: str, guidance: str, level: int = 1,
            severity: str = "medium", flag: t.Optional[str] = None, default_value: t.Optional[str] = None) -> Rule:
    return Rule(
        id=id, cis=cis, component=component, section=section, severity=severity, title=title, level=level,
        flag=flag, operator="custom", expected="decided by the operator", automated=False,
        check=Manual(guidance, default_value), remediation=guidance,
        rationale="CIS marks this check manual: the right setting depends on the cluster.",
    )


_FILE_RULES: t.Tuple[Rule, ...] = (
    _manifest_rules("kube-apiserver", "1.1.1", "1.1.2", ("apiserver-manifest-permissions", "apiserver-manifest-ownership"))
    + _manifest_rules("kube-controller-manager", "1.1.3", "1.1.4",
                      ("controller-manager-manifest-permissions", "controller-manager-manifest-ownership"))
    + _manifest_rules("kube-scheduler", "1.1.5", "1.1.6", ("scheduler-manifest-permissions", "scheduler-manifest-ownership"))
    + _manifest_rules("etcd", "1.1.7", "1.1.8", ("etcd-manifest-permissions", "etcd-manifest-ownership"))
    + (
        Rule(
            id="cni-files-permissions", cis="1.1.9", component="kubelet", section=FILES, severity="low",
            title="Container Network Interface files are 600 or more restrictive",
            operator="mode_at_most", expected="600", fix="0600", automated=False,
            check=FileMode(FileSet("cni", optional=True)),
            remediation="chmod 600 on the files under /etc/cni/net.d and /var/lib/cni/networks. Not automated: "
                        "CNI plugins (Calico, Cilium, Flannel) rewrite these files with their own modes, so fix "
                        "the plugin's install settings.",
            rationale="CNI configuration can hold credentials (kubeconfigs) and decides pod networking.",
        ),
        Rule(
            id="cni-files-ownership", cis="1.1.10", component="kubelet", section=FILES, severity="low",
            title="Container Network Interface files are owned by root:root",
            operator="owner", expected="root:root", fix="root:root", automated=False,
            check=FileOwner(FileSet("cni", optional=True)),
            remediation="chown root:root on the files under /etc/cni/net.d and /var/lib/cni/networks (through the "
                        "CNI plugin's installer, which rewrites them).",
            rationale="CNI configuration decides pod networking; only root may own it.",
        ),
        Rule(
            id="etcd-data-dir-permissions", cis="1.1.11", component="etcd", section=FILES, severity="high",
            title="etcd data directory permissions are 700 or more restrictive",
            operator="mode_at_most", expected="700", fix="0700", check=FileMode(FileSet("data_dir")),
            remediation="chmod 700 on the directory etcd's --data-dir (or ETCD_DATA_DIR) names.",
            rationale="The data directory holds every object of the cluster, Secrets included.",
        ),
        Rule(
            id="etcd-data-dir-ownership", cis="1.1.12", component="etcd", section=FILES, severity="medium",
            title="etcd data directory ownership is etcd:etcd (or the account etcd runs as)",
            operator="owner", expected="etcd:etcd", fix="etcd:etcd", check=FileOwner(FileSet("data_dir"), run_as_of="etcd"),
            remediation="chown the data directory to the account etcd runs as: etcd:etcd for a systemd etcd with "
                        "User=etcd; the pod's runAsUser:runAsGroup (root, 0:0, when none is set) for a static pod. "
                        "Numeric ids are used, so no etcd user needs to exist on the host.",
            rationale="Only etcd itself may own its data; an etcd user that does not exist cannot own anything.",
        ),
        Rule(
            id="admin-kubeconfig-permissions", cis="1.1.13", component="kube-apiserver", section=FILES,
            severity="high", title="Default administrative credential files (admin.conf, super-admin.conf) are 600",
            operator="mode_at_most", expected="600", fix="0600", check=FileMode(FileSet("admin")), distributions=KUBEADM,
            remediation="chmod 600 /etc/kubernetes/admin.conf (and super-admin.conf, written by kubeadm >= 1.29).",
            rationale="These kubeconfigs carry cluster-admin (super-admin.conf: system:masters) credentials.",
        ),
        Rule(
            id="admin-kubeconfig-ownership", cis="1.1.14", component="kube-apiserver", section=FILES,
            severity="high", title="Default administrative credential files (admin.conf, super-admin.conf) are owned by root:root",
            operator="owner", expected="root:root", fix="root:root", check=FileOwner(FileSet("admin")), distributions=KUBEADM,
            remediation="chown root:root /etc/kubernetes/admin.conf (and super-admin.conf when present).",
            rationale="These kubeconfigs carry cluster-admin credentials.",
        ),
        Rule(
            id="scheduler-kubeconfig-permissions", cis="1.1.15", component="kube-scheduler", section=FILES,
            severity="medium", title="scheduler.conf (the scheduler's --kubeconfig) permissions are 600 or more restrictive",
            operator="mode_at_most", expected="600", fix="0600",
            check=FileMode(FileSet("kubeconfig", default_path="/etc/kubernetes/scheduler.conf")),
            remediation="chmod 600 on the file the scheduler's --kubeconfig names.",
            rationale="The file holds the scheduler's client credentials.",
        ),
        Rule(
            id="scheduler-kubeconfig-ownership", cis="1.1.16", component="kube-scheduler", section=FILES,
            severity="medium", title="scheduler.conf (the scheduler's --kubeconfig) ownership is root:root",
            operator="owner", expected="root:root", fix="root:root",
            check=FileOwner(FileSet("kubeconfig", default_path="/etc/kubernetes/scheduler.conf")),
            remediation="chown root:root on the file the scheduler's --kubeconfig names.",
            rationale="The file holds the scheduler's client credentials.",
        ),
        Rule(
            id="controller-manager-kubeconfig-permissions", cis="1.1.17", component="kube-controller-manager",
            section=FILES, severity="medium",
            title="controller-manager.conf (the controller manager's --kubeconfig) permissions are 600 or more restrictive",
            operator="mode_at_most", expected="600", fix="0600",
            check=FileMode(FileSet("kubeconfig", default_path="/etc/kubernetes/controller-manager.conf")),
            remediation="chmod 600 on the file the controller manager's --kubeconfig names.",
            rationale="The file holds the controller manager's client credentials.",
        ),
        Rule(
            id="controller-manager-kubeconfig-ownership", cis="1.1.18", component="kube-controller-manager",
            section=FILES, severity="medium",
            title="controller-manager.conf (the controller manager's --kubeconfig) ownership is root:root",
            operator="owner", expected="root:root", fix="root:root",
            check=FileOwner(FileSet("kubeconfig", default_path="/etc/kubernetes/controller-manager.conf")),
            remediation="chown root:root on the file the controller manager's --kubeconfig names.",
            rationale="The file holds the controller manager's client credentials.",
        ),
        Rule(
            id="pki-ownership", cis="1.1.19", component="kube-apiserver", section=FILES, severity="high",
            title="Kubernetes PKI directory and everything in it are owned by root:root",
            operator="owner", expected="root:root", fix="root:root", check=FileOwner(FileSet("pki")),
            remediation="chown -R root:root on the PKI directory (the directory of the API server's --client-ca-file, "
                        "/etc/kubernetes/pki on kubeadm, /etc/kubernetes/ssl on kubespray).",
            rationale="The directory holds the cluster's CA keys and every component's certificates.",
        ),
        Rule(
            id="pki-certificate-permissions", cis="1.1.20", component="kube-apiserver", section=FILES,
            severity="medium", title="Kubernetes PKI certificate files (*.crt) are 644 or more restrictive",
            operator="mode_at_most", expected="644", fix="0644", check=FileMode(FileSet("pki", pattern="*.crt")),
            remediation="chmod 644 (only taking bits away) on every *.crt under the PKI directory.",
            rationale="A writable certificate can be replaced by one an attacker controls.",
        ),
        Rule(
            id="pki-key-permissions", cis="1.1.21", component="kube-apiserver", section=FILES, severity="high",
            title="Kubernetes PKI key files (*.key) are 600 or more restrictive",
            operator="mode_at_most", expected="600", fix="0600", check=FileMode(FileSet("pki", pattern="*.key")),
            remediation="chmod 600 (only taking bits away) on every *.key under the PKI directory.",
            rationale="A readable CA or service-account key lets anyone mint credentials.",
        ),
    )
)

_API_PKI = "Set it to the file kubeadm (or your installer) created; it cannot be generated safely here."

_API_RULES: t.Tuple[Rule, ...] = (
    Rule(
        id="apiserver-anonymous-auth",
        cis="1.2.1",
        title="API server anonymous requests are limited to health endpoints",
        component="kube-apiserver",
        section=API,
        severity="high",
        flag="anonymous-auth",
        operator="custom",
        expected="false, or anonymous limited to /livez, /readyz, /healthz",
        default={"any": "true"},
        fix="false",
        check=Custom("apiserver_anonymous"),
        remediation=(
            "Kubernetes >= 1.32: an AuthenticationConfiguration (--authentication-config) that allows anonymous "
            "requests only on /livez, /readyz and /healthz, so the kubelet's probes keep working. Older versions: "
            "--anonymous-auth=false breaks kubeadm's anonymous liveness probes, so the fix is manual (see "
            "docs/user-guide.md) unless kubefort_apiserver_anonymous_auth_force is true."
        ),
        rationale="Anonymous requests reach whatever RBAC grants system:anonymous and system:unauthenticated.",
    ),
    _flag_rule(
        "apiserver-token-auth-file", "1.2.2", "kube-apiserver", API, "API server --token-auth-file is not set",
        "token-auth-file", "absent", None, None, None, severity="high", automated=False,
        remediation="Move the users of the static token file to another authenticator (OIDC, client certificates, "
                    "webhook), then remove --token-auth-file. Not automated: removing it locks those users out.",
        rationale="Static tokens live in clear text on disk, never expire and cannot be revoked without a restart.",
    ),
    _flag_rule(
        "apiserver-deny-service-external-ips", "1.2.3", "kube-apiserver", API,
        "API server admission plugin DenyServiceExternalIPs is enabled", "enable-admission-plugins", "contains",
        "DenyServiceExternalIPs", "", "DenyServiceExternalIPs", severity="medium", automated=False, min_version="1.21",
        remediation="Add DenyServiceExternalIPs to --enable-admission-plugins once no Service needs spec.externalIPs "
                    "(kubectl get svc -A -o jsonpath='{..externalIPs}'). Not automated: Services that use externalIPs "
                    "can no longer be created or updated.",
        rationale="Service externalIPs let any Service author intercept traffic to arbitrary IPs (CVE-2020-8554).",
    ),
    _files_rule(
        "apiserver-kubelet-client-cert", "1.2.4",
        "API server --kubelet-client-certificate and --kubelet-client-key are set",
        ("kubelet-client-certificate", "kubelet-client-key"), "kube-apiserver", API,
        "Set --kubelet-client-certificate and --kubelet-client-key to a client certificate and key the kubelets "
        "trust (kubeadm: pki/apiserver-kubelet-client.{crt,key}). " + _API_PKI,
        "Without a client certificate the kubelets cannot authenticate the API server's requests.",
    ),
    _files_rule(
        "apiserver-kubelet-certificate-authority", "1.2.5",
        "API server --kubelet-certificate-authority is set", ("kubelet-certificate-authority",), "kube-apiserver", API,
        "Give the kubelets serving certificates signed by a CA (serverTLSBootstrap: true and approve their CSRs), then "
        "set --kubelet-certificate-authority to that CA. Not automated: with self-signed kubelet certificates it "
        "breaks kubectl logs/exec.",
        "Without it the API server does not verify the kubelet it talks to (man-in-the-middle).",
    ),
    Rule(
        id="apiserver-authorization-mode-not-alwaysallow",
        cis="1.2.6",
        title="API server --authorization-mode does not include AlwaysAllow",
        component="kube-apiserver",
        section=API,
        severity="critical",
        flag="authorization-mode",
        operator="not_contains",
        expected="AlwaysAllow",
        default={"any": "AlwaysAllow"},
        fix="Node,RBAC",
        check=AuthorizationMode(),
        remediation="Remove AlwaysAllow from --authorization-mode (Node,RBAC when nothing else remains); with "
                    "--authorization-config, the AlwaysAllow authorizer is removed from that file instead.",
        rationale="AlwaysAllow lets every authenticated (and anonymous) request do anything.",
    ),
    Rule(
        id="apiserver-authorization-mode-node",
        cis="1.2.7",
        title="API server --authorization-mode includes Node",
        component="kube-apiserver",
        section=API,
        severity="high",
        flag="authorization-mode",
        operator="contains",
        expected="Node",
        default={"any": "AlwaysAllow"},
        fix="Node",
        check=AuthorizationMode(insert_first=True),
        remediation="Add Node to --authorization-mode (first); with --authorization-config, a Node authorizer "
                    "(name: node) is added to that file, before RBAC.",
        rationale="The Node authorizer limits each kubelet to the objects of its own node.",
    ),
    Rule(
        id="apiserver-authorization-mode-rbac",
        cis="1.2.8",
        title="API server --authorization-mode includes RBAC",
        component="kube-apiserver",
        section=API,
        severity="high",
        flag="authorization-mode",
        operator="contains",
        expected="RBAC",
        default={"any": "AlwaysAllow"},
        fix="RBAC",
        check=AuthorizationMode(),
        remediation="Add RBAC to --authorization-mode; with --authorization-config, an RBAC authorizer "
                    "(name: rbac) is added to that file, right after Node.",
        rationale="RBAC is how cluster access policy is expressed.",
    ),
    Rule(
        id="apiserver-event-rate-limit", cis="1.2.9", component="kube-apiserver", section=API, severity="low",
        title="API server admission plugin EventRateLimit is enabled with a configuration",
        flag="enable-admission-plugins", operator="custom",
        expected="EventRateLimit in --enable-admission-plugins and --admission-control-config-file set",
        check=AdmissionPluginConfig("EventRateLimit", "admission-control-config-file", "admission_config",
                                    "admission-config.yaml"),
        remediation="Provide an AdmissionConfiguration with an EventRateLimit section in "
                    "kubefort_apiserver_admission_config; kubefort then writes it, sets "
                    "--admission-control-config-file and adds EventRateLimit. An existing "
                    "--admission-control-config-file (e.g. for PodSecurity) must be merged by hand.",
        rationale="Without limits a client can flood the API server and etcd with events.",
    ),
    _flag_rule(
        "apiserver-always-admit", "1.2.10", "kube-apiserver", API,
        "API server admission plugin AlwaysAdmit is not enabled", "enable-admission-plugins", "not_contains",
        "AlwaysAdmit", "", "", severity="high",
        remediation="Remove AlwaysAdmit from --enable-admission-plugins.",
        rationale="AlwaysAdmit admits every request, bypassing the other admission controls.",
    ),
    _flag_rule(
        "apiserver-always-pull-images", "1.2.11", "kube-apiserver", API,
        "API server admission plugin AlwaysPullImages is enabled", "enable-admission-plugins", "contains",
        "AlwaysPullImages", "", "AlwaysPullImages", severity="low", automated=False,
        remediation="Add AlwaysPullImages to --enable-admission-plugins when every node can reach its registries. "
                    "Not automated: pods no longer start from cached images when a registry is unreachable.",
        rationale="Without it a pod can use a private image another tenant's credentials pulled onto the node.",
    ),
    _flag_rule(
        "apiserver-service-account-plugin", "1.2.12", "kube-apiserver", API,
        "API server admission plugin ServiceAccount is not disabled", "disable-admission-plugins", "not_contains",
        "ServiceAccount", "", "", severity="medium",
        remediation="Remove ServiceAccount from --disable-admission-plugins.",
        rationale="The ServiceAccount plugin assigns and checks service accounts of pods.",
    ),
    _flag_rule(
        "apiserver-namespace-lifecycle-plugin", "1.2.13", "kube-apiserver", API,
        "API server admission plugin NamespaceLifecycle is not disabled", "disable-admission-plugins",
        "not_contains", "NamespaceLifecycle", "", "", severity="medium",
        remediation="Remove NamespaceLifecycle from --disable-admission-plugins.",
        rationale="It refuses objects in namespaces that are terminating or do not exist.",
    ),
    _flag_rule(
        "apiserver-node-restriction-plugin", "1.2.14", "kube-apiserver", API,
        "API server admission plugin NodeRestriction is enabled", "enable-admission-plugins", "contains",
        "NodeRestriction", "", "NodeRestriction", severity="high",
        remediation="Add NodeRestriction to --enable-admission-plugins (needs --authorization-mode with Node).",
        rationale="It limits what a kubelet may change to its own Node and its pods.",
    ),
    _flag_rule(
        "apiserver-profiling", "1.2.15", "kube-apiserver", API, "API server --profiling is false", "profiling",
        "eq", False, "true", False, severity="low",
        remediation="--profiling=false.", rationale="Profiling endpoints reveal internals and cost resources.",
    ),
    Rule(
        id="apiserver-audit-log-path", cis="1.2.16", component="kube-apiserver", section=API, severity="medium",
        title="API server --audit-log-path is set", flag="audit-log-path", operator="present", expected=None,
        fix="/var/log/kubernetes/audit/audit.log", check=Custom("audit_log_path"),
        remediation="--audit-log-path=/var/log/kubernetes/audit/audit.log with a hostPath mount of its directory, "
                    "so the log survives restarts. Logs only what --audit-policy-file (3.2.1) selects.",
        rationale="Audit logs are how requests are traced after an incident.",
    ),
    _flag_rule(
        "apiserver-audit-log-maxage", "1.2.17", "kube-apiserver", API,
        "API server --audit-log-maxage is 30 or more", "audit-log-maxage", "gte", 30, "0", 30, severity="low",
        remediation="--audit-log-maxage=30 (days; overridable).", rationale="Keep audit logs long enough to investigate.",
    ),
    _flag_rule(
        "apiserver-audit-log-maxbackup", "1.2.18", "kube-apiserver", API,
        "API server --audit-log-maxbackup is 10 or more", "audit-log-maxbackup", "gte", 10, "0", 10, severity="low",
        remediation="--audit-log-maxbackup=10 (overridable).", rationale="Keep enough rotated audit logs.",
    ),
    _flag_rule(
        "apiserver-audit-log-maxsize", "1.2.19", "kube-apiserver", API,
        "API server --audit-log-maxsize is 100 (MB) or more", "audit-log-maxsize", "gte", 100, "0", 100,
        severity="low", remediation="--audit-log-maxsize=100 (MB; overridable).",
        rationale="Rotate audit logs at a size that keeps enough history.",
    ),
    _manual(
        "apiserver-request-timeout", "1.2.20", "API server --request-timeout is set as appropriate", "kube-apiserver",
        API, "The default (60s) suits most clusters; raise it only for slow, large list requests "
             "(e.g. --request-timeout=300s). Set kubefort_overrides.apiserver-request-timeout to enforce a value.",
        flag="request-timeout", severity="low", default_value="60s",
    ),
    _flag_rule(
        "apiserver-service-account-lookup", "1.2.21", "kube-apiserver", API,
        "API server --service-account-lookup is true", "service-account-lookup", "eq", True, "true", True,
        severity="medium", remediation="--service-account-lookup=true (or remove the flag: true is the default).",
        rationale="Without lookup, tokens of deleted service accounts keep working until they expire.",
    ),
    _files_rule(
        "apiserver-service-account-key-file", "1.2.22", "API server --service-account-key-file is set",
        ("service-account-key-file",), "kube-apiserver", API,
        "Set --service-account-key-file to the public key(s) that verify service account tokens "
        "(kubeadm: pki/sa.pub). " + _API_PKI,
        "The key file makes token verification (and key rotation) explicit.", severity="medium",
    ),
    _files_rule(
        "apiserver-etcd-client-cert", "1.2.23", "API server --etcd-certfile and --etcd-keyfile are set",
        ("etcd-certfile", "etcd-keyfile"), "kube-apiserver", API,
        "Set --etcd-certfile and --etcd-keyfile to a client certificate etcd trusts. " + _API_PKI,
        "etcd must only accept the API server's authenticated connections.",
    ),
    _files_rule(
        "apiserver-tls-cert", "1.2.24", "API server --tls-cert-file and --tls-private-key-file are set",
        ("tls-cert-file", "tls-private-key-file"), "kube-apiserver", API,
        "Set --tls-cert-file and --tls-private-key-file to the API server's serving certificate and key. " + _API_PKI,
        "Without them the API server serves a self-signed certificate clients cannot verify.",
    ),
    _files_rule(
        "apiserver-client-ca-file", "1.2.25", "API server --client-ca-file is set", ("client-ca-file",),
        "kube-apiserver", API, "Set --client-ca-file to the CA that signs client certificates. " + _API_PKI,
        "Without it client certificate authentication (kubelets, controllers) does not work.",
    ),
    _files_rule(
        "apiserver-etcd-cafile", "1.2.26", "API server --etcd-cafile is set", ("etcd-cafile",), "kube-apiserver", API,
        "Set --etcd-cafile to the CA of etcd's serving certificate. " + _API_PKI,
        "Without it the API server does not verify the etcd it writes to.",
    ),
    Rule(
        id="apiserver-encryption-provider-config", cis="1.2.27", component="kube-apiserver", section=API,
        severity="high", title="API server --encryption-provider-config is set",
        flag="encryption-provider-config", operator="custom", expected="set to a file that exists",
        check=SuppliedFile("encryption_config", "encryption-config.yaml"),
        remediation="Provide an EncryptionConfiguration (aescbc, secretbox or kms v2 first) in "
                    "kubefort_apiserver_encryption_config; kubefort writes it (mode 600), sets "
                    "--encryption-provider-config and mounts it. Then rewrite existing Secrets: "
                    "kubectl get secrets -A -o json | kubectl replace -f -",
        rationale="Without it Secrets are stored in etcd in clear text.",
    ),
    Rule(
        id="apiserver-encryption-providers", cis="1.2.28", component="kube-apiserver", section=API, severity="high",
        title="API server encryption providers are appropriately configured", flag="encryption-provider-config",
        operator="custom", expected="kms (v2), aescbc or secretbox first for secrets", automated=False,
        check=Custom("encryption_providers"),
        remediation="Make kms (v2), aescbc or secretbox the first provider of the EncryptionConfiguration entry that "
                    "covers secrets (identity may stay as the last one, to read old data), restart the API server, "
                    "then rewrite existing Secrets: kubectl get secrets -A -o json | kubectl replace -f -. Not "
                    "automated: the file holds keys. kubefort reads it on the node and sends only the provider "
                    "types per resource to the controller.",
        rationale="With identity first, new Secrets are written to etcd in clear text.",
    ),
    Rule(
        id="apiserver-tls-cipher-suites", cis="1.2.29", component="kube-apiserver", section=API, severity="medium",
        title="API server only uses strong cryptographic ciphers", flag="tls-cipher-suites", operator="custom",
        expected="only " + ",".join(STRONG_CIPHERS), fix=list(STRONG_CIPHERS), check=CipherSuites(),
        remediation="--tls-cipher-suites set to the strong list (override the list with "
                    "kubefort_overrides.apiserver-tls-cipher-suites).",
        rationale="Go's default list still offers CBC and non-forward-secret RSA key exchange suites.",
    ),
    _flag_rule(
        "apiserver-service-account-extend-token-expiration", "1.2.30", "kube-apiserver", API,
        "API server --service-account-extend-token-expiration is false", "service-account-extend-token-expiration",
        "eq", False, "true", False, severity="low", min_version="1.19", default_before={"1.20": "false"},
        remediation="--service-account-extend-token-expiration=false (the default is true from 1.20).",
        rationale="Extended tokens stay valid for a year instead of their requested lifetime.",
    ),
    Rule(
        id="apiserver-insecure-port", cis=None, component="kube-apiserver", section=API, severity="critical",
        title="API server insecure port is disabled (--insecure-port=0; Kubernetes < 1.20)", flag="insecure-port",
        operator="eq", expected=0, default={"any": 8080}, fix=0, max_version="1.19",
        remediation="--insecure-port=0. From 1.20 the insecure port is always off and from 1.24 the flag is gone, "
                    "so kubefort never writes it there.",
        rationale="The insecure port serves the whole API without authentication or authorization.",
    ),
    Rule(
        id="apiserver-insecure-bind-address", cis=None, component="kube-apiserver", section=API, severity="high",
        title="API server --insecure-bind-address is loopback (Kubernetes < 1.20)", flag="insecure-bind-address",
        operator="custom", expected="127.0.0.1 (or unset)", default={"any": "127.0.0.1"}, fix="127.0.0.1",
        max_version="1.19", check=Loopback(),
        remediation="Remove --insecure-bind-address or set it to 127.0.0.1 (and set --insecure-port=0).",
        rationale="A non-loopback insecure address serves the unauthenticated API to the network.",
    ),
)

_CM_RULES: t.Tuple[Rule, ...] = (
    Rule(
        id="controller-manager-terminated-pod-gc-threshold", cis="1.3.1", component="kube-controller-manager",
        section=CM, severity="low", title="Controller manager --terminated-pod-gc-threshold is set as appropriate",
        flag="terminated-pod-gc-threshold", operator="lte", expected=12500, default={"any": "12500"}, fix=12500,
        needs_override=True,
        remediation="Choose a threshold (e.g. 10) and set kubefort_overrides.controller-manager-terminated-pod-gc-threshold; "
                    "kubefort then writes --terminated-pod-gc-threshold. The default 12500 keeps many terminated pods.",
        rationale="Terminated pods accumulate until the threshold, using etcd space.",
    ),
    _flag_rule(
        "controller-manager-profiling", "1.3.2", "kube-controller-manager", CM,
        "Controller manager --profiling is false", "profiling", "eq", False, "true", False, severity="low",
        remediation="--profiling=false.", rationale="Profiling endpoints reveal internals and cost resources.",
    ),
    _flag_rule(
        "controller-manager-use-service-account-credentials", "1.3.3", "kube-controller-manager", CM,
        "Controller manager --use-service-account-credentials is true", "use-service-account-credentials", "eq",
        True, "false", True, severity="medium",
        remediation="--use-service-account-credentials=true (each controller then uses its own service account).",
        rationale="Otherwise every controller acts with the controller manager's broad credentials.",
    ),
    _files_rule(
        "controller-manager-service-account-private-key-file", "1.3.4",
        "Controller manager --service-account-private-key-file is set", ("service-account-private-key-file",),
        "kube-controller-manager", CM,
        "Set --service-account-private-key-file to the key that signs service account tokens (kubeadm: pki/sa.key).",
        "Without it service account tokens cannot be signed with a key that can be rotated.",
    ),
    _files_rule(
        "controller-manager-root-ca-file", "1.3.5", "Controller manager --root-ca-file is set", ("root-ca-file",),
        "kube-controller-manager", CM,
        "Set --root-ca-file to the cluster CA bundle (kubeadm: pki/ca.crt) so pods can verify the API server.",
        "Pods need the CA to verify the API server's certificate.", severity="medium",
    ),
    Rule(
        id="controller-manager-rotate-kubelet-server-certificate", cis="1.3.6", component="kube-controller-manager",
        section=CM, severity="medium", title="Controller manager feature gate RotateKubeletServerCertificate is true",
        flag="feature-gates", operator="custom", expected="RotateKubeletServerCertificate=true (default)",
        fix=True, check=FeatureGate("RotateKubeletServerCertificate", default=True),
        remediation="Remove RotateKubeletServerCertificate=false from --feature-gates (set it to true).",
        rationale="Kubelet serving certificates must be rotated before they expire.",
    ),
    Rule(
        id="controller-manager-bind-address", cis="1.3.7", component="kube-controller-manager", section=CM,
        severity="high", title="Controller manager --bind-address is 127.0.0.1 (absent means 0.0.0.0)",
        flag="bind-address", operator="custom", expected="127.0.0.1 (loopback)", default={"any": "0.0.0.0"},
        fix="127.0.0.1", check=Loopback(),
        remediation="--bind-address=127.0.0.1. When the flag is absent the secure port 10257 listens on every address.",
        rationale="The controller manager's /metrics and debug endpoints should not be reachable from the network.",
    ),
    Rule(
        id="controller-manager-insecure-port", cis=None, component="kube-controller-manager", section=CM,
        severity="high", title="Controller manager insecure port is disabled (--port=0; Kubernetes < 1.22)",
        flag="port", operator="eq", expected=0, default={"any": 10252}, fix=0, max_version="1.21",
        remediation="--port=0. From 1.22 insecure serving is gone (the flag was removed in 1.24); kubefort never "
                    "writes it there.",
        rationale="Port 10252 served /metrics and /debug without authentication on every address.",
    ),
)

_SCHED_RULES: t.Tuple[Rule, ...] = (
    _flag_rule(
        "scheduler-profiling", "1.4.1", "kube-scheduler", SCHED, "Scheduler --profiling is false", "profiling", "eq",
        False, "true", False, severity="low",
        remediation="--profiling=false.", rationale="Profiling endpoints reveal internals and cost resources.",
    ),
    Rule(
        id="scheduler-bind-address", cis="1.4.2", component="kube-scheduler", section=SCHED, severity="high",
        title="Scheduler --bind-address is 127.0.0.1 (absent means 0.0.0.0)", flag="bind-address",
        operator="custom", expected="127.0.0.1 (loopback)", default={"any": "0.0.0.0"}, fix="127.0.0.1",
        check=Loopback(),
        remediation="--bind-address=127.0.0.1. When the flag is absent the secure port 10259 listens on every address.",
        rationale="The scheduler's /metrics and debug endpoints should not be reachable from the network.",
    ),
    Rule(
        id="scheduler-insecure-port", cis=None, component="kube-scheduler", section=SCHED, severity="high",
        title="Scheduler insecure port is disabled (--port=0; Kubernetes < 1.23)", flag="port", operator="eq",
        expected=0, default={"any": 10251}, fix=0, max_version="1.22",
        remediation="--port=0. From 1.23 insecure serving is gone; kubefort never writes the flag there.",
        rationale="Port 10251 served /metrics without authentication on every address.",
    ),
)


def _etcd_bool(id: str, cis: str, title: str, flag: str, expected: bool, default: str, remediation: str,
               rationale: str, severity: str = "high") -> Rule:
    return _flag_rule(id, cis, "etcd", ETCD, title, flag, "eq", expected, default, expected, severity=severity,
                      remediation=remediation, rationale=rationale)


_ETCD_RULES: t.Tuple[Rule, ...] = (
    _files_rule(
        "etcd-tls-cert", "2.1", "etcd --cert-file and --key-file are set", ("cert-file", "key-file"), "etcd", ETCD,
        "Give etcd a serving certificate and key (kubeadm: pki/etcd/server.{crt,key}) and set --cert-file and "
        "--key-file (or ETCD_CERT_FILE / ETCD_KEY_FILE).", "Without them etcd serves clients over plain HTTP.",
    ),
    _etcd_bool(
        "etcd-client-cert-auth", "2.2", "etcd --client-cert-auth is true", "client-cert-auth", True, "false",
        "--client-cert-auth=true (the API server already presents --etcd-certfile).",
        "Otherwise any client that reaches port 2379 can read and write every Secret.",
    ),
    _etcd_bool(
        "etcd-auto-tls", "2.3", "etcd --auto-tls is not true", "auto-tls", False, "false",
        "--auto-tls=false (or remove it).", "Self-signed automatic certificates cannot authenticate clients.",
    ),
    _files_rule(
        "etcd-peer-tls-cert", "2.4", "etcd --peer-cert-file and --peer-key-file are set",
        ("peer-cert-file", "peer-key-file"), "etcd", ETCD,
        "Give etcd a peer certificate and key (kubeadm: pki/etcd/peer.{crt,key}) and set --peer-cert-file and "
        "--peer-key-file.", "Without them etcd members replicate over plain HTTP.",
    ),
    _etcd_bool(
        "etcd-peer-client-cert-auth", "2.5", "etcd --peer-client-cert-auth is true", "peer-client-cert-auth", True,
        "false", "--peer-client-cert-auth=true.", "Otherwise anyone can join or talk to the etcd cluster as a peer.",
    ),
    _etcd_bool(
        "etcd-peer-auto-tls", "2.6", "etcd --peer-auto-tls is not true", "peer-auto-tls", False, "false",
        "--peer-auto-tls=false (or remove it).", "Self-signed peer certificates cannot authenticate peers.",
    ),
    Rule(
        id="etcd-unique-ca", cis="2.7", component="etcd", section=ETCD, severity="medium",
        title="etcd uses a certificate authority of its own", flag="trusted-ca-file", operator="custom",
        expected="--trusted-ca-file set and not the API server's --client-ca-file", automated=False,
        check=Custom("etcd_unique_ca"),
        remediation="Create a CA only for etcd (kubeadm does: pki/etcd/ca.crt), issue etcd's and the API server's "
                    "etcd client certificates from it and set --trusted-ca-file to it.",
        rationale="With the cluster CA, every client certificate of the cluster could talk to etcd.",
    ),
)

_POLICY_RULES: t.Tuple[Rule, ...] = (
    _manual(
        "users-no-client-certificates", "3.1.1", "Client certificate authentication is not used for users",
        "kube-apiserver", AUTHN, level=2,
        guidance="Client certificates cannot be revoked. Give people OIDC (--oidc-* or an AuthenticationConfiguration "
                 "jwt issuer) and keep certificates for components; check who holds kubeconfigs with client-certificate-data.",
    ),
    _manual(
        "users-no-service-account-tokens", "3.1.2", "Service account token authentication is not used for users",
        "kube-apiserver", AUTHN, level=2,
        guidance="Service account tokens are for workloads. Give people OIDC and find long-lived token Secrets "
                 "(type kubernetes.io/service-account-token) used outside the cluster.",
    ),
    _manual(
        "users-no-bootstrap-tokens", "3.1.3", "Bootstrap token authentication is not used for users",
        "kube-apiserver", AUTHN, level=2,
        guidance="Bootstrap tokens are for joining nodes. Keep their TTL short (kubeadm token list) and never hand "
                 "them to people.",
    ),
    Rule(
        id="apiserver-audit-policy", cis="3.2.1", component="kube-apiserver", section=LOGGING, severity="medium",
        title="A minimal audit policy is set (--audit-policy-file)", flag="audit-policy-file", operator="custom",
        expected="set to an audit Policy that audits something",
        check=SuppliedFile("audit_policy", "audit-policy.yaml"),
        remediation="Provide an audit Policy in kubefort_apiserver_audit_policy; kubefort writes it, sets "
                    "--audit-policy-file and mounts it. Without a policy the API server audits nothing; a policy "
                    "whose rules are all level None (or that starts with a catch-all None rule) audits nothing too "
                    "and fails.",
        rationale="Without a policy file no request is audited, whatever --audit-log-path says.",
    ),
    _manual(
        "apiserver-audit-policy-coverage", "3.2.2", "The audit policy covers key security concerns",
        "kube-apiserver", LOGGING, level=2, flag="audit-policy-file",
        guidance="Review the policy: Secrets, ConfigMaps and TokenReviews at Metadata level only; changes to pods "
                 "and deployments; pods/exec, pods/portforward, pods/proxy and services/proxy.",
    ),
)

RULES: t.Tuple[Rule, ...] = _FILE_RULES + _API_RULES + _CM_RULES + _SCHED_RULES + _ETCD_RULES + _POLICY_RULES
