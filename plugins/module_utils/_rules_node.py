# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Catalog entries for the worker node: kubelet and kube-proxy (CIS 4.x).

Each rule's ``check`` is a typed spec (module_utils/_check_specs.py; see _rules_control_plane.py). Kubelet rules name both the flag and the
KubeletConfiguration key; ``default`` gives the value when both are absent, per mode (``flags``: no
config file, the old flag defaults; ``config``: a config file, the v1beta1 defaults).
"""

from __future__ import annotations

import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils._check_specs import (
    Custom,
    DurationNonZero,
    FileSet,
    FilesNamed,
    Loopback,
    Manual,
)
from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Rule
from ansible_collections.kubefort.hardening.plugins.module_utils._rule_builders import (
    cipher_suites_rule,
    feature_gate_rule,
    file_mode_rule,
    file_owner_rule,
)

FILES = "4.1 Worker Node Configuration Files"
KUBELET = "4.2 Kubelet"
PROXY = "4.3 kube-proxy"

# The kubelet's strong TLS 1.2 suites (CIS 4.2.12).
KUBELET_STRONG_CIPHERS = (
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
)

# Directories the rules below stat (parents of the files they check), beyond discovery's first round.
STAT_PATHS = (
    "/var/lib/kubelet",
    "/usr/lib/systemd/system",
    "/etc/systemd/system",
    "/etc/systemd/system/kubelet.service.d",
    "/usr/lib/systemd/system/kubelet.service.d",
    "/var/lib/kube-proxy/**",
)


def _file_pair(ids: t.Tuple[str, str], cis: t.Tuple[str, str], what: str, file: str, mode: str,
               component: str = "kubelet", automated: bool = True, optional: bool = False,
               default_path: t.Optional[str] = None, why: str = "") -> t.Tuple[Rule, Rule]:
    files = FileSet(file, optional=optional, default_path=default_path)
    the_file = what[0].lower() + what[1:]
    return (
        file_mode_rule(ids[0], cis[0], component, FILES, "%s permissions are %s or more restrictive" % (what, mode), files,
                       mode, "chmod %s (only taking bits away) on the %s." % (mode, the_file), why, automated=automated),
        file_owner_rule(ids[1], cis[1], component, FILES, "%s ownership is root:root" % what, files,
                        "chown root:root on the %s." % the_file, why, automated=automated),
    )


_CONFIG_WHY = "The config file decides the kubelet's authentication and authorization."

_FILE_RULES: t.Tuple[Rule, ...] = (
    _file_pair(
        ("kubelet-service-file-permissions", "kubelet-service-file-ownership"), ("4.1.1", "4.1.2"),
        "kubelet service file and its drop-ins", "unit", "600",
        why="The unit and its drop-ins decide the kubelet's command line.",
    )
    + _file_pair(
        ("kube-proxy-kubeconfig-permissions", "kube-proxy-kubeconfig-ownership"), ("4.1.3", "4.1.4"),
        "kube-proxy kubeconfig file (if it exists)", "kubeconfig", "600", component="kube-proxy", optional=True,
        why="It holds kube-proxy's credentials.",
    )
    + _file_pair(
        ("kubelet-kubeconfig-permissions", "kubelet-kubeconfig-ownership"), ("4.1.5", "4.1.6"),
        "kubelet --kubeconfig file (kubelet.conf)", "kubeconfig", "600", default_path="/etc/kubernetes/kubelet.conf",
        why="It holds the kubelet's client credentials.",
    )
    + _file_pair(
        ("kubelet-client-ca-permissions", "kubelet-client-ca-ownership"), ("4.1.7", "4.1.8"),
        "kubelet client certificate authority file", "client_ca", "644",
        why="Whoever can replace the CA file decides who may call the kubelet API.",
    )
    + (
        file_mode_rule(
            "kubelet-config-permissions", "4.1.9", "kubelet", FILES,
            "kubelet config file permissions are 600 or more restrictive", FileSet("config"), "600",
            "chmod 600 on the file the kubelet's --config names.", _CONFIG_WHY,
        ),
        file_owner_rule(
            "kubelet-config-ownership", "4.1.10", "kubelet", FILES, "kubelet config file ownership is root:root",
            FileSet("config"), "chown root:root on the file the kubelet's --config names.", _CONFIG_WHY,
        ),
    )
)

_KUBELET_RULES: t.Tuple[Rule, ...] = (
    Rule(
        id="kubelet-anonymous-auth", cis="4.2.1", title="kubelet anonymous authentication is disabled",
        component="kubelet", section=KUBELET, severity="critical", flag="anonymous-auth",
        config_key="authentication.anonymous.enabled", expected=False,
        default={"flags": True, "config": False}, fix=False,
        remediation="authentication.anonymous.enabled: false (or --anonymous-auth=false where the flag is set).",
        rationale="Anonymous requests to the kubelet API on 10250 can read pods and, with AlwaysAllow, run commands.",
    ),
    Rule(
        id="kubelet-authorization-mode", cis="4.2.2", title="kubelet authorization mode is not AlwaysAllow",
        component="kubelet", section=KUBELET, severity="critical", flag="authorization-mode",
        config_key="authorization.mode", operator="noteq", expected="AlwaysAllow",
        default={"flags": "AlwaysAllow", "config": "Webhook"}, fix="Webhook",
        remediation="authorization.mode: Webhook (or --authorization-mode=Webhook where the flag is set).",
        rationale="With AlwaysAllow every request that reaches the kubelet API is allowed, exec included.",
    ),
    Rule(
        id="kubelet-client-ca-file", cis="4.2.3", component="kubelet", section=KUBELET, severity="high",
        title="kubelet client CA file is set", flag="client-ca-file", config_key="authentication.x509.clientCAFile",
        expected="set to a file that exists", automated=False,
        check=FilesNamed(("client-ca-file",), ("authentication.x509.clientCAFile",)),
        remediation="authentication.x509.clientCAFile: the cluster CA (kubeadm: /etc/kubernetes/pki/ca.crt). Not "
                    "automated: the right CA depends on the installer.",
        rationale="Without it the kubelet cannot authenticate the API server's client certificate.",
    ),
    Rule(
        id="kubelet-read-only-port", cis="4.2.4", title="kubelet read-only port is disabled", component="kubelet",
        section=KUBELET, severity="high", flag="read-only-port", config_key="readOnlyPort", expected=0,
        default={"flags": 10255, "config": 0}, fix=0,
        remediation="readOnlyPort: 0 (or --read-only-port=0 where the flag is set).",
        rationale="Port 10255 serves pod and node details without authentication.",
    ),
    Rule(
        id="kubelet-streaming-connection-idle-timeout", cis="4.2.5", component="kubelet", section=KUBELET,
        severity="medium", title="kubelet streaming connection idle timeout is not 0",
        flag="streaming-connection-idle-timeout", config_key="streamingConnectionIdleTimeout",
        expected="a duration above 0", default={"any": "4h0m0s"}, fix="5m0s",
        check=DurationNonZero(config_zero_is_default=True),
        remediation="streamingConnectionIdleTimeout: 5m0s (or the flag where it is set). A 0 in the config file "
                    "means the 4h default (the kubelet defaults zero durations); only the flag can disable it.",
        rationale="Idle exec/attach/port-forward streams that never time out exhaust the node.",
    ),
    Rule(
        id="kubelet-make-iptables-util-chains", cis="4.2.6", component="kubelet", section=KUBELET, severity="low",
        title="kubelet makeIPTablesUtilChains is true", flag="make-iptables-util-chains",
        config_key="makeIPTablesUtilChains", expected=True, default={"any": True}, fix=True,
        remediation="makeIPTablesUtilChains: true (or remove the false setting).",
        rationale="The kubelet then keeps its iptables chains in step with the pods' network needs.",
    ),
    Rule(
        id="kubelet-hostname-override", cis="4.2.7", component="kubelet", section=KUBELET, severity="low",
        title="kubelet --hostname-override is not set", flag="hostname-override", operator="absent", automated=False,
        remediation="Remove --hostname-override once the node's hostname is its Node name. Not automated: on some "
                    "clouds (AWS with non-default names) the override is what keeps the Node name.",
        rationale="A different name breaks the TLS identity between the kubelet and the API server.",
    ),
    Rule(
        id="kubelet-event-qps", cis="4.2.8", component="kubelet", section=KUBELET, severity="info", level=2,
        title="kubelet eventRecordQPS ensures appropriate event capture", flag="event-qps",
        config_key="eventRecordQPS", expected="decided by the operator",
        default={"flags": 50, "config": 50}, automated=False,
        check=Manual("Events are security evidence: 0 means unlimited (capture all, risk of "
                     "overload); the default 50/s drops bursts. Set kubefort_overrides.kubelet-event-qps to enforce a value."),
        remediation="Choose eventRecordQPS (0 = unlimited) for your event pipeline.",
        rationale="Rate-limited events can hide what happened on a node.",
    ),
    Rule(
        id="kubelet-tls-cert", cis="4.2.9", component="kubelet", section=KUBELET, severity="medium",
        title="kubelet serves with a certificate it was given (tlsCertFile/tlsPrivateKeyFile or serverTLSBootstrap)",
        flag="tls-cert-file", config_key="tlsCertFile",
        expected="tlsCertFile and tlsPrivateKeyFile set, or serverTLSBootstrap: true", automated=False,
        check=Custom("kubelet_serving_cert"),
        remediation="serverTLSBootstrap: true (and approve the kubelet-serving CSRs), or tlsCertFile and "
                    "tlsPrivateKeyFile set to a certificate from the cluster CA.",
        rationale="Otherwise the kubelet serves a self-signed certificate the API server cannot verify.",
    ),
    Rule(
        id="kubelet-rotate-certificates", cis="4.2.10", component="kubelet", section=KUBELET, severity="medium",
        title="kubelet client certificate rotation is on (rotateCertificates)", flag="rotate-certificates",
        config_key="rotateCertificates", expected=True, default={"any": False}, fix=True,
        remediation="rotateCertificates: true. Absent means false: kubeadm sets it, other installers may not.",
        rationale="Without rotation the kubelet's client certificate expires and the node goes NotReady.",
    ),
    feature_gate_rule(
        "kubelet-rotate-server-certificate-gate", "4.2.11", "kubelet", KUBELET, "kubelet",
        "RotateKubeletServerCertificate", "low", config_key="featureGates.RotateKubeletServerCertificate",
        remediation="Remove RotateKubeletServerCertificate=false (featureGates or --feature-gates). Serving "
                    "certificates are only requested with serverTLSBootstrap: true (4.2.9).",
        rationale="Serving certificates must be renewed before they expire.",
    ),
    cipher_suites_rule(
        "kubelet-tls-cipher-suites", "4.2.12", "kubelet", KUBELET, "kubelet", KUBELET_STRONG_CIPHERS,
        "tlsCipherSuites set to the strong list (override it with kubefort_overrides.kubelet-tls-cipher-suites).",
        config_key="tlsCipherSuites",
    ),
    Rule(
        id="kubelet-pod-pids-limit", cis="4.2.13", component="kubelet", section=KUBELET, severity="medium",
        title="kubelet limits the PIDs of each pod (podPidsLimit)", flag="pod-max-pids", config_key="podPidsLimit",
        operator="gte", expected=1, default={"any": -1}, fix=4096, needs_override=True,
        remediation="Choose a limit for your workloads (e.g. 4096) in kubefort_overrides.kubelet-pod-pids-limit; "
                    "kubefort then writes podPidsLimit. -1 (the default) means unlimited.",
        rationale="A fork bomb in one pod can exhaust the node's PIDs.",
    ),
    Rule(
        id="kubelet-seccomp-default", cis="4.2.14", component="kubelet", section=KUBELET, severity="medium",
        title="kubelet seccompDefault is true", flag="seccomp-default", config_key="seccompDefault",
        expected=True, default={"any": False}, fix=True, automated=False, min_version="1.22",
        remediation="seccompDefault: true after testing workloads with the RuntimeDefault profile. Not automated: "
                    "workloads that need blocked syscalls stop working.",
        rationale="Without it containers run unconfined unless their pod asks for a profile.",
    ),
    Rule(
        id="kubelet-cadvisor-port", cis=None, component="kubelet", section=KUBELET, severity="high",
        title="kubelet cAdvisor port (--cadvisor-port) is 0 (Kubernetes < 1.12)", flag="cadvisor-port",
        expected=0, default={"any": 4194}, fix=0, max_version="1.11", default_from={"1.11": 0},
        remediation="--cadvisor-port=0. The default was 4194 before 1.11; the flag is gone from 1.12, so kubefort "
                    "never writes it there.",
        rationale="Port 4194 served the cAdvisor UI and API without authentication.",
    ),
)

_PROXY_RULES: t.Tuple[Rule, ...] = (
    Rule(
        id="kube-proxy-metrics-bind-address", cis="4.3.1", component="kube-proxy", section=PROXY, severity="medium",
        title="kube-proxy metrics service is bound to localhost", flag="metrics-bind-address",
        config_key="metricsBindAddress", expected="127.0.0.1:<port> (loopback)",
        default={"any": "127.0.0.1:10249"}, fix="127.0.0.1:10249", check=Loopback(), empty_is_default=True,
        remediation="metricsBindAddress: 127.0.0.1:10249 (or the flag where it is set); scrape it through a "
                    "local agent instead.",
        rationale="/metrics on 10249 is served without authentication.",
    ),
    Rule(
        id="kube-proxy-healthz-bind-address", cis=None, component="kube-proxy", section=PROXY, severity="low",
        title="kube-proxy health check is not bound to every address", flag="healthz-bind-address",
        config_key="healthzBindAddress", expected="a node or loopback address, not 0.0.0.0/::",
        default={"any": "0.0.0.0:10256"}, automated=False, check=Loopback(allow_specific=True), empty_is_default=True,
        remediation="healthzBindAddress: <node IP>:10256 (what load balancers with externalTrafficPolicy: Local "
                    "probe), or 127.0.0.1:10256 when nothing outside the node needs it. Not automated: only the "
                    "operator knows which load balancers probe it.",
        rationale="An empty or 0.0.0.0 address serves the health endpoint on every interface.",
    ),
)

RULES: t.Tuple[Rule, ...] = _FILE_RULES + _KUBELET_RULES + _PROXY_RULES
