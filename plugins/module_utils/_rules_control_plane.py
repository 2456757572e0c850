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
    Custom,
    FileSet,
    SuppliedFile,
)
from ansible_collections.kubefort.hardening.plugins.module_utils import _rules_apiserver
from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Rule
from ansible_collections.kubefort.hardening.plugins.module_utils._rule_builders import (
    bind_address_rule,
    feature_gate_rule,
    insecure_port_rule,
    file_mode_rule,
    file_owner_rule,
    files_named_rule,
    flag_rule,
    manual_rule,
    profiling_rule,
)

FILES = "1.1 Control Plane Node Configuration Files"
CM = "1.3 Controller Manager"
SCHED = "1.4 Scheduler"
ETCD = "2 etcd"
AUTHN = "3.1 Authentication and Authorization"
LOGGING = "3.2 Logging"

STATIC_POD = ("kubeadm", "kubespray", "rke2")
KUBEADM = ("kubeadm", "kubespray")

# Files and directories the rules below stat, beyond discovery's first round (for the lead's request).
STAT_PATHS = ("/var/lib/etcd", "/etc/cni/net.d/**", "/var/lib/cni/networks/**", "/etc/kubernetes")

_NAMES = {
    "kube-apiserver": "API server",
    "kube-controller-manager": "controller manager",
    "kube-scheduler": "scheduler",
    "etcd": "etcd",
}


def _manifest_rules(component: str, cis_mode: str, cis_owner: str, keep_ids: t.Tuple[str, str]) -> t.Tuple[Rule, Rule]:
    name = _cap(_NAMES[component])
    manifest = FileSet("manifest")
    return (
        file_mode_rule(
            keep_ids[0], cis_mode, component, FILES, "%s pod specification file permissions are 600 or more restrictive"
            % name, manifest, "600", "chmod 600 on the %s static pod manifest (group and other bits removed)." % component,
            "The manifest decides how %s runs; only root may change or read it." % component, distributions=STATIC_POD,
        ),
        file_owner_rule(
            keep_ids[1], cis_owner, component, FILES, "%s pod specification file ownership is root:root" % name, manifest,
            "chown root:root on the %s static pod manifest." % component,
            "The manifest decides how %s runs; only root may own it." % component, distributions=STATIC_POD,
        ),
    )


def _kubeconfig_rules(component: str, cis: t.Tuple[str, str], name: str) -> t.Tuple[Rule, Rule]:
    """The mode and owner of a control-plane component's --kubeconfig (scheduler.conf, controller-manager.conf)."""
    files = FileSet("kubeconfig", default_path="/etc/kubernetes/%s.conf" % name)
    who = _NAMES[component]
    what = "%s.conf (the %s's --kubeconfig)" % (name, who)
    why = "The file holds the %s's client credentials." % who
    return (
        file_mode_rule("%s-kubeconfig-permissions" % name, cis[0], component, FILES,
                       "%s permissions are 600 or more restrictive" % what, files, "600",
                       "chmod 600 on the file the %s's --kubeconfig names." % who, why),
        file_owner_rule("%s-kubeconfig-ownership" % name, cis[1], component, FILES, "%s ownership is root:root" % what,
                        files, "chown root:root on the file the %s's --kubeconfig names." % who, why),
    )


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]


_CNI = FileSet("cni", optional=True)

_FILE_RULES: t.Tuple[Rule, ...] = (
    _manifest_rules("kube-apiserver", "1.1.1", "1.1.2", ("apiserver-manifest-permissions", "apiserver-manifest-ownership"))
    + _manifest_rules("kube-controller-manager", "1.1.3", "1.1.4",
                      ("controller-manager-manifest-permissions", "controller-manager-manifest-ownership"))
    + _manifest_rules("kube-scheduler", "1.1.5", "1.1.6", ("scheduler-manifest-permissions", "scheduler-manifest-ownership"))
    + _manifest_rules("etcd", "1.1.7", "1.1.8", ("etcd-manifest-permissions", "etcd-manifest-ownership"))
    + (
        file_mode_rule(
            "cni-files-permissions", "1.1.9", "kubelet", FILES,
            "Container Network Interface files are 600 or more restrictive", _CNI, "600",
            "chmod 600 on the files under /etc/cni/net.d and /var/lib/cni/networks. Not automated: CNI plugins "
            "(Calico, Cilium, Flannel) rewrite these files with their own modes, so fix the plugin's install settings.",
            "CNI configuration can hold credentials (kubeconfigs) and decides pod networking.",
            severity="low", automated=False,
        ),
        file_owner_rule(
            "cni-files-ownership", "1.1.10", "kubelet", FILES, "Container Network Interface files are owned by root:root",
            _CNI,
            "chown root:root on the files under /etc/cni/net.d and /var/lib/cni/networks (through the CNI plugin's "
            "installer, which rewrites them).",
            "CNI configuration decides pod networking; only root may own it.", severity="low", automated=False,
        ),
        file_mode_rule(
            "etcd-data-dir-permissions", "1.1.11", "etcd", FILES,
            "etcd data directory permissions are 700 or more restrictive", FileSet("data_dir"), "700",
            "chmod 700 on the directory etcd's --data-dir (or ETCD_DATA_DIR) names.",
            "The data directory holds every object of the cluster, Secrets included.", severity="high",
        ),
        file_owner_rule(
            "etcd-data-dir-ownership", "1.1.12", "etcd", FILES,
            "etcd data directory ownership is etcd:etcd (or the account etcd runs as)", FileSet("data_dir"),
            "chown the data directory to the account etcd runs as: etcd:etcd for a systemd etcd with User=etcd; the "
            "pod's runAsUser:runAsGroup (root, 0:0, when none is set) for a static pod. Numeric ids are used, so no "
            "etcd user needs to exist on the host.",
            "Only etcd itself may own its data; an etcd user that does not exist cannot own anything.",
            owner="etcd:etcd", run_as_of="etcd",
        ),
        file_mode_rule(
            "admin-kubeconfig-permissions", "1.1.13", "kube-apiserver", FILES,
            "Default administrative credential files (admin.conf, super-admin.conf) are 600", FileSet("admin"), "600",
            "chmod 600 /etc/kubernetes/admin.conf (and super-admin.conf, written by kubeadm >= 1.29).",
            "These kubeconfigs carry cluster-admin (super-admin.conf: system:masters) credentials.",
            severity="high", distributions=KUBEADM,
        ),
        file_owner_rule(
            "admin-kubeconfig-ownership", "1.1.14", "kube-apiserver", FILES,
            "Default administrative credential files (admin.conf, super-admin.conf) are owned by root:root",
            FileSet("admin"), "chown root:root /etc/kubernetes/admin.conf (and super-admin.conf when present).",
            "These kubeconfigs carry cluster-admin credentials.", severity="high", distributions=KUBEADM,
        ),
    )
    + _kubeconfig_rules("kube-scheduler", ("1.1.15", "1.1.16"), "scheduler")
    + _kubeconfig_rules("kube-controller-manager", ("1.1.17", "1.1.18"), "controller-manager")
    + (
        file_owner_rule(
            "pki-ownership", "1.1.19", "kube-apiserver", FILES,
            "Kubernetes PKI directory and everything in it are owned by root:root", FileSet("pki"),
            "chown -R root:root on the PKI directory (the directory of the API server's --client-ca-file, "
            "/etc/kubernetes/pki on kubeadm, /etc/kubernetes/ssl on kubespray).",
            "The directory holds the cluster's CA keys and every component's certificates.", severity="high",
        ),
        file_mode_rule(
            "pki-certificate-permissions", "1.1.20", "kube-apiserver", FILES,
            "Kubernetes PKI certificate files (*.crt) are 644 or more restrictive", FileSet("pki", pattern="*.crt"), "644",
            "chmod 644 (only taking bits away) on every *.crt under the PKI directory.",
            "A writable certificate can be replaced by one an attacker controls.",
        ),
        file_mode_rule(
            "pki-key-permissions", "1.1.21", "kube-apiserver", FILES,
            "Kubernetes PKI key files (*.key) are 600 or more restrictive", FileSet("pki", pattern="*.key"), "600",
            "chmod 600 (only taking bits away) on every *.key under the PKI directory.",
            "A readable CA or service-account key lets anyone mint credentials.", severity="high",
        ),
    )
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
    profiling_rule("controller-manager-profiling", "1.3.2", "kube-controller-manager", CM, "Controller manager"),
    flag_rule(
        "controller-manager-use-service-account-credentials", "1.3.3", "kube-controller-manager", CM,
        "Controller manager --use-service-account-credentials is true", "use-service-account-credentials", "eq", True,
        "false", True, severity="medium",
        remediation="--use-service-account-credentials=true (each controller then uses its own service account).",
        rationale="Otherwise every controller acts with the controller manager's broad credentials.",
    ),
    files_named_rule(
        "controller-manager-service-account-private-key-file", "1.3.4",
        "Controller manager --service-account-private-key-file is set", ("service-account-private-key-file",),
        "kube-controller-manager", CM,
        "Set --service-account-private-key-file to the key that signs service account tokens (kubeadm: pki/sa.key).",
        "Without it service account tokens cannot be signed with a key that can be rotated.",
    ),
    files_named_rule(
        "controller-manager-root-ca-file", "1.3.5", "Controller manager --root-ca-file is set", ("root-ca-file",),
        "kube-controller-manager", CM,
        "Set --root-ca-file to the cluster CA bundle (kubeadm: pki/ca.crt) so pods can verify the API server.",
        "Pods need the CA to verify the API server's certificate.", severity="medium",
    ),
    feature_gate_rule(
        "controller-manager-rotate-kubelet-server-certificate", "1.3.6", "kube-controller-manager", CM,
        "Controller manager", "RotateKubeletServerCertificate", "medium",
        "Remove RotateKubeletServerCertificate=false from --feature-gates (set it to true).",
        "Kubelet serving certificates must be rotated before they expire.",
    ),
    bind_address_rule("controller-manager-bind-address", "1.3.7", "kube-controller-manager", CM, "Controller manager", 10257),
    insecure_port_rule(
        "controller-manager-insecure-port", "kube-controller-manager", CM, "Controller manager", "port", 10252, "1.21",
        "high", "--port=0. From 1.22 insecure serving is gone (the flag was removed in 1.24); kubefort never writes it "
        "there.", "Port 10252 served /metrics and /debug without authentication on every address.",
    ),
)

_SCHED_RULES: t.Tuple[Rule, ...] = (
    profiling_rule("scheduler-profiling", "1.4.1", "kube-scheduler", SCHED, "Scheduler"),
    bind_address_rule("scheduler-bind-address", "1.4.2", "kube-scheduler", SCHED, "Scheduler", 10259),
    insecure_port_rule(
        "scheduler-insecure-port", "kube-scheduler", SCHED, "Scheduler", "port", 10251, "1.22", "high",
        "--port=0. From 1.23 insecure serving is gone; kubefort never writes the flag there.",
        "Port 10251 served /metrics without authentication on every address.",
    ),
)


def _etcd_bool(id: str, cis: str, title: str, flag: str, expected: bool, default: str, remediation: str,
               rationale: str, severity: str = "high") -> Rule:
    return flag_rule(
        id, cis, "etcd", ETCD, title, flag, "eq", expected, default, expected, severity=severity,
        remediation=remediation, rationale=rationale,
    )


_ETCD_RULES: t.Tuple[Rule, ...] = (
    files_named_rule(
        "etcd-tls-cert", "2.1", "etcd --cert-file and --key-file are set", ("cert-file", "key-file"), "etcd", ETCD,
        "Give etcd a serving certificate and key (kubeadm: pki/etcd/server.{crt,key}) and set --cert-file and "
        "--key-file (or ETCD_CERT_FILE / ETCD_KEY_FILE).",
        "Without them etcd serves clients over plain HTTP.",
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
    files_named_rule(
        "etcd-peer-tls-cert", "2.4", "etcd --peer-cert-file and --peer-key-file are set",
        ("peer-cert-file", "peer-key-file"), "etcd", ETCD,
        "Give etcd a peer certificate and key (kubeadm: pki/etcd/peer.{crt,key}) and set --peer-cert-file and "
        "--peer-key-file.",
        "Without them etcd members replicate over plain HTTP.",
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
        title="etcd uses a certificate authority of its own", flag="trusted-ca-file",
        expected="--trusted-ca-file set and not the API server's --client-ca-file", automated=False,
        check=Custom("etcd_unique_ca"),
        remediation="Create a CA only for etcd (kubeadm does: pki/etcd/ca.crt), issue etcd's and the API server's "
                    "etcd client certificates from it and set --trusted-ca-file to it.",
        rationale="With the cluster CA, every client certificate of the cluster could talk to etcd.",
    ),
)

_POLICY_RULES: t.Tuple[Rule, ...] = (
    manual_rule(
        "users-no-client-certificates", "3.1.1", "Client certificate authentication is not used for users",
        "kube-apiserver", AUTHN, level=2,
        guidance="Client certificates cannot be revoked. Give people OIDC (--oidc-* or an AuthenticationConfiguration "
                 "jwt issuer) and keep certificates for components; check who holds kubeconfigs with client-certificate-data.",
    ),
    manual_rule(
        "users-no-service-account-tokens", "3.1.2", "Service account token authentication is not used for users",
        "kube-apiserver", AUTHN, level=2,
        guidance="Service account tokens are for workloads. Give people OIDC and find long-lived token Secrets "
                 "(type kubernetes.io/service-account-token) used outside the cluster.",
    ),
    manual_rule(
        "users-no-bootstrap-tokens", "3.1.3", "Bootstrap token authentication is not used for users", "kube-apiserver",
        AUTHN, level=2,
        guidance="Bootstrap tokens are for joining nodes. Keep their TTL short (kubeadm token list) and never hand "
                 "them to people.",
    ),
    Rule(
        id="apiserver-audit-policy", cis="3.2.1", component="kube-apiserver", section=LOGGING, severity="medium",
        title="A minimal audit policy is set (--audit-policy-file)", flag="audit-policy-file",
        expected="set to an audit Policy that audits something",
        check=SuppliedFile("audit_policy", "audit-policy.yaml"),
        remediation="Provide an audit Policy in kubefort_apiserver_audit_policy; kubefort writes it, sets "
                    "--audit-policy-file and mounts it. Without a policy the API server audits nothing; a policy "
                    "whose rules are all level None (or that starts with a catch-all None rule) audits nothing too "
                    "and fails.",
        rationale="Without a policy file no request is audited, whatever --audit-log-path says.",
    ),
    manual_rule(
        "apiserver-audit-policy-coverage", "3.2.2", "The audit policy covers key security concerns", "kube-apiserver",
        LOGGING, level=2, flag="audit-policy-file",
        guidance="Review the policy: Secrets, ConfigMaps and TokenReviews at Metadata level only; changes to pods "
                 "and deployments; pods/exec, pods/portforward, pods/proxy and services/proxy.",
    ),
)

RULES: t.Tuple[Rule, ...] = _FILE_RULES + _rules_apiserver.RULES + _CM_RULES + _SCHED_RULES + _ETCD_RULES + _POLICY_RULES
