# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.
"""Catalog entries for the API server's settings (CIS 1.2); see _rules_control_plane.py for the spec types."""

from __future__ import annotations

import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils._check_specs import (
    AdmissionPluginConfig,
    AuthorizationMode,
    Custom,
    Loopback,
    SuppliedFile,
)
from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Rule
from ansible_collections.kubefort.hardening.plugins.module_utils._rule_builders import (
    admission_plugin_rule,
    cipher_suites_rule,
    files_named_rule,
    insecure_port_rule,
    flag_rule,
    manual_rule,
    profiling_rule,
)

API = "1.2 API Server"

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

_API_PKI = "Set it to the file kubeadm (or your installer) created; it cannot be generated safely here."


def _authorization_mode(id: str, cis: str, verb: str, mode: str, severity: str, fix: str, remediation: str,
                        rationale: str, insert_first: bool = False) -> Rule:
    """A mode --authorization-mode (or the --authorization-config file) must include or leave out (``verb``)."""
    return Rule(
        id=id, cis=cis, title="API server --authorization-mode %s %s" % (verb, mode), component="kube-apiserver",
        section=API, severity=severity, flag="authorization-mode",
        operator="contains" if verb == "includes" else "not_contains", expected=mode, default={"any": "AlwaysAllow"},
        fix=fix, check=AuthorizationMode(insert_first=insert_first), remediation=remediation, rationale=rationale,
    )


RULES: t.Tuple[Rule, ...] = (
    Rule(
        id="apiserver-anonymous-auth", cis="1.2.1",
        title="API server anonymous requests are limited to health endpoints", component="kube-apiserver", section=API,
        severity="high", flag="anonymous-auth",
        expected="false, or anonymous limited to /livez, /readyz, /healthz", default={"any": "true"}, fix="false",
        check=Custom("apiserver_anonymous"),
        remediation="Kubernetes >= 1.32: an AuthenticationConfiguration (--authentication-config) that allows anonymous "
                    "requests only on /livez, /readyz and /healthz, so the kubelet's probes keep working. Older versions: "
                    "--anonymous-auth=false breaks kubeadm's anonymous liveness probes, so the fix is manual (see "
                    "docs/user-guide.md) unless kubefort_apiserver_anonymous_auth_force is true.",
        rationale="Anonymous requests reach whatever RBAC grants system:anonymous and system:unauthenticated.",
    ),
    flag_rule(
        "apiserver-token-auth-file", "1.2.2", "kube-apiserver", API, "API server --token-auth-file is not set",
        "token-auth-file", "absent", None, None, None, severity="high", automated=False,
        remediation="Move the users of the static token file to another authenticator (OIDC, client certificates, "
                    "webhook), then remove --token-auth-file. Not automated: removing it locks those users out.",
        rationale="Static tokens live in clear text on disk, never expire and cannot be revoked without a restart.",
    ),
    admission_plugin_rule(
        "apiserver-deny-service-external-ips", "1.2.3", API, "DenyServiceExternalIPs", "enabled", "medium",
        automated=False, min_version="1.21",
        remediation="Add DenyServiceExternalIPs to --enable-admission-plugins once no Service needs spec.externalIPs "
                    "(kubectl get svc -A -o jsonpath='{..externalIPs}'). Not automated: Services that use externalIPs "
                    "can no longer be created or updated.",
        rationale="Service externalIPs let any Service author intercept traffic to arbitrary IPs (CVE-2020-8554).",
    ),
    files_named_rule(
        "apiserver-kubelet-client-cert", "1.2.4",
        "API server --kubelet-client-certificate and --kubelet-client-key are set",
        ("kubelet-client-certificate", "kubelet-client-key"), "kube-apiserver", API,
        "Set --kubelet-client-certificate and --kubelet-client-key to a client certificate and key the kubelets "
        "trust (kubeadm: pki/apiserver-kubelet-client.{crt,key}). " + _API_PKI,
        "Without a client certificate the kubelets cannot authenticate the API server's requests.",
    ),
    files_named_rule(
        "apiserver-kubelet-certificate-authority", "1.2.5", "API server --kubelet-certificate-authority is set",
        ("kubelet-certificate-authority",), "kube-apiserver", API,
        "Give the kubelets serving certificates signed by a CA (serverTLSBootstrap: true and approve their CSRs), then "
        "set --kubelet-certificate-authority to that CA. Not automated: with self-signed kubelet certificates it "
        "breaks kubectl logs/exec.",
        "Without it the API server does not verify the kubelet it talks to (man-in-the-middle).",
    ),
    _authorization_mode(
        "apiserver-authorization-mode-not-alwaysallow", "1.2.6", "does not include", "AlwaysAllow", "critical",
        "Node,RBAC",
        "Remove AlwaysAllow from --authorization-mode (Node,RBAC when nothing else remains); with "
        "--authorization-config, the AlwaysAllow authorizer is removed from that file instead.",
        "AlwaysAllow lets every authenticated (and anonymous) request do anything.",
    ),
    _authorization_mode(
        "apiserver-authorization-mode-node", "1.2.7", "includes", "Node", "high", "Node",
        "Add Node to --authorization-mode (first); with --authorization-config, a Node authorizer "
        "(name: node) is added to that file, before RBAC.",
        "The Node authorizer limits each kubelet to the objects of its own node.", insert_first=True,
    ),
    _authorization_mode(
        "apiserver-authorization-mode-rbac", "1.2.8", "includes", "RBAC", "high", "RBAC",
        "Add RBAC to --authorization-mode; with --authorization-config, an RBAC authorizer "
        "(name: rbac) is added to that file, right after Node.",
        "RBAC is how cluster access policy is expressed.",
    ),
    Rule(
        id="apiserver-event-rate-limit", cis="1.2.9", component="kube-apiserver", section=API, severity="low",
        title="API server admission plugin EventRateLimit is enabled with a configuration",
        flag="enable-admission-plugins",
        expected="EventRateLimit in --enable-admission-plugins and --admission-control-config-file set",
        check=AdmissionPluginConfig(plugin="EventRateLimit", config_flag="admission-control-config-file",
                                    input="admission_config", file_name="admission-config.yaml"),
        remediation="Provide an AdmissionConfiguration with an EventRateLimit section in "
                    "kubefort_apiserver_admission_config; kubefort then writes it, sets "
                    "--admission-control-config-file and adds EventRateLimit. An existing "
                    "--admission-control-config-file (e.g. for PodSecurity) must be merged by hand.",
        rationale="Without limits a client can flood the API server and etcd with events.",
    ),
    admission_plugin_rule("apiserver-always-admit", "1.2.10", API, "AlwaysAdmit", "not enabled", "high",
                          "AlwaysAdmit admits every request, bypassing the other admission controls."),
    admission_plugin_rule(
        "apiserver-always-pull-images", "1.2.11", API, "AlwaysPullImages", "enabled", "low", automated=False,
        remediation="Add AlwaysPullImages to --enable-admission-plugins when every node can reach its registries. "
                    "Not automated: pods no longer start from cached images when a registry is unreachable.",
        rationale="Without it a pod can use a private image another tenant's credentials pulled onto the node.",
    ),
    admission_plugin_rule("apiserver-service-account-plugin", "1.2.12", API, "ServiceAccount", "not disabled", "medium",
                          "The ServiceAccount plugin assigns and checks service accounts of pods."),
    admission_plugin_rule("apiserver-namespace-lifecycle-plugin", "1.2.13", API, "NamespaceLifecycle", "not disabled",
                          "medium", "It refuses objects in namespaces that are terminating or do not exist."),
    admission_plugin_rule(
        "apiserver-node-restriction-plugin", "1.2.14", API, "NodeRestriction", "enabled", "high",
        remediation="Add NodeRestriction to --enable-admission-plugins (needs --authorization-mode with Node).",
        rationale="It limits what a kubelet may change to its own Node and its pods.",
    ),
    profiling_rule("apiserver-profiling", "1.2.15", "kube-apiserver", API, "API server"),
    Rule(
        id="apiserver-audit-log-path", cis="1.2.16", component="kube-apiserver", section=API, severity="medium",
        title="API server --audit-log-path is set", flag="audit-log-path", operator="present", expected=None,
        fix="/var/log/kubernetes/audit/audit.log", check=Custom("audit_log_path"),
        remediation="--audit-log-path=/var/log/kubernetes/audit/audit.log with a hostPath mount of its directory, "
                    "so the log survives restarts. Logs only what --audit-policy-file (3.2.1) selects.",
        rationale="Audit logs are how requests are traced after an incident.",
    ),
    flag_rule(
        "apiserver-audit-log-maxage", "1.2.17", "kube-apiserver", API, "API server --audit-log-maxage is 30 or more",
        "audit-log-maxage", "gte", 30, "0", 30, severity="low",
        remediation="--audit-log-maxage=30 (days; overridable).",
        rationale="Keep audit logs long enough to investigate.",
    ),
    flag_rule(
        "apiserver-audit-log-maxbackup", "1.2.18", "kube-apiserver", API,
        "API server --audit-log-maxbackup is 10 or more", "audit-log-maxbackup", "gte", 10, "0", 10, severity="low",
        remediation="--audit-log-maxbackup=10 (overridable).", rationale="Keep enough rotated audit logs.",
    ),
    flag_rule(
        "apiserver-audit-log-maxsize", "1.2.19", "kube-apiserver", API,
        "API server --audit-log-maxsize is 100 (MB) or more", "audit-log-maxsize", "gte", 100, "0", 100,
        severity="low", remediation="--audit-log-maxsize=100 (MB; overridable).",
        rationale="Rotate audit logs at a size that keeps enough history.",
    ),
    manual_rule(
        "apiserver-request-timeout", "1.2.20", "API server --request-timeout is set as appropriate", "kube-apiserver",
        API,
        "The default (60s) suits most clusters; raise it only for slow, large list requests "
        "(e.g. --request-timeout=300s). Set kubefort_overrides.apiserver-request-timeout to enforce a value.",
        flag="request-timeout", severity="low", default_value="60s",
    ),
    flag_rule(
        "apiserver-service-account-lookup", "1.2.21", "kube-apiserver", API,
        "API server --service-account-lookup is true", "service-account-lookup", "eq", True, "true", True,
        severity="medium", remediation="--service-account-lookup=true (or remove the flag: true is the default).",
        rationale="Without lookup, tokens of deleted service accounts keep working until they expire.",
    ),
    files_named_rule(
        "apiserver-service-account-key-file", "1.2.22", "API server --service-account-key-file is set",
        ("service-account-key-file",), "kube-apiserver", API,
        "Set --service-account-key-file to the public key(s) that verify service account tokens "
        "(kubeadm: pki/sa.pub). " + _API_PKI,
        "The key file makes token verification (and key rotation) explicit.", severity="medium",
    ),
    files_named_rule(
        "apiserver-etcd-client-cert", "1.2.23", "API server --etcd-certfile and --etcd-keyfile are set",
        ("etcd-certfile", "etcd-keyfile"), "kube-apiserver", API,
        "Set --etcd-certfile and --etcd-keyfile to a client certificate etcd trusts. " + _API_PKI,
        "etcd must only accept the API server's authenticated connections.",
    ),
    files_named_rule(
        "apiserver-tls-cert", "1.2.24", "API server --tls-cert-file and --tls-private-key-file are set",
        ("tls-cert-file", "tls-private-key-file"), "kube-apiserver", API,
        "Set --tls-cert-file and --tls-private-key-file to the API server's serving certificate and key. " + _API_PKI,
        "Without them the API server serves a self-signed certificate clients cannot verify.",
    ),
    files_named_rule(
        "apiserver-client-ca-file", "1.2.25", "API server --client-ca-file is set", ("client-ca-file",),
        "kube-apiserver", API, "Set --client-ca-file to the CA that signs client certificates. " + _API_PKI,
        "Without it client certificate authentication (kubelets, controllers) does not work.",
    ),
    files_named_rule(
        "apiserver-etcd-cafile", "1.2.26", "API server --etcd-cafile is set", ("etcd-cafile",), "kube-apiserver", API,
        "Set --etcd-cafile to the CA of etcd's serving certificate. " + _API_PKI,
        "Without it the API server does not verify the etcd it writes to.",
    ),
    Rule(
        id="apiserver-encryption-provider-config", cis="1.2.27", component="kube-apiserver", section=API,
        severity="high", title="API server --encryption-provider-config is set", flag="encryption-provider-config",
        expected="set to a file that exists",
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
        expected="kms (v2), aescbc or secretbox first for secrets", automated=False,
        check=Custom("encryption_providers"),
        remediation="Make kms (v2), aescbc or secretbox the first provider of the EncryptionConfiguration entry that "
                    "covers secrets (identity may stay as the last one, to read old data), restart the API server, "
                    "then rewrite existing Secrets: kubectl get secrets -A -o json | kubectl replace -f -. Not "
                    "automated: the file holds keys. kubefort reads it on the node and sends only the provider "
                    "types per resource to the controller.",
        rationale="With identity first, new Secrets are written to etcd in clear text.",
    ),
    cipher_suites_rule(
        "apiserver-tls-cipher-suites", "1.2.29", "kube-apiserver", API, "API server", STRONG_CIPHERS,
        "--tls-cipher-suites set to the strong list (override the list with "
        "kubefort_overrides.apiserver-tls-cipher-suites).",
    ),
    flag_rule(
        "apiserver-service-account-extend-token-expiration", "1.2.30", "kube-apiserver", API,
        "API server --service-account-extend-token-expiration is false", "service-account-extend-token-expiration",
        "eq", False, "true", False, severity="low", min_version="1.19", default_before={"1.20": "false"},
        remediation="--service-account-extend-token-expiration=false (the default is true from 1.20).",
        rationale="Extended tokens stay valid for a year instead of their requested lifetime.",
    ),
    insecure_port_rule(
        "apiserver-insecure-port", "kube-apiserver", API, "API server", "insecure-port", 8080, "1.19", "critical",
        "--insecure-port=0. From 1.20 the insecure port is always off and from 1.24 the flag is gone, so kubefort "
        "never writes it there.", "The insecure port serves the whole API without authentication or authorization.",
    ),
    Rule(
        id="apiserver-insecure-bind-address", cis=None, component="kube-apiserver", section=API, severity="high",
        title="API server --insecure-bind-address is loopback (Kubernetes < 1.20)", flag="insecure-bind-address",
        expected="127.0.0.1 (or unset)", default={"any": "127.0.0.1"}, fix="127.0.0.1",
        max_version="1.19", check=Loopback(),
        remediation="Remove --insecure-bind-address or set it to 127.0.0.1 (and set --insecure-port=0).",
        rationale="A non-loopback insecure address serves the unauthenticated API to the network.",
    ),
)
