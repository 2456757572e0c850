# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Fixes that survive kubespray: the inventory variable that keeps each setting.

kubespray re-templates the files kubefort fixes at its next run (``/etc/kubernetes/kubelet-config.yaml``
from roles/kubernetes/node/templates/kubelet-config.v1beta1.yaml.j2, the kubeadm ClusterConfiguration
from roles/kubernetes/control-plane/templates/kubeadm-config.v1beta3/4.yaml.j2, ``/etc/etcd.env`` from
roles/etcd/templates/etcd.env.j2). The variables below are the ones those templates read; a setting no
dedicated variable covers goes through the templates' free-form ``*_extra_args`` maps.
"""

from __future__ import annotations

import json
import typing as t

# kubelet KubeletConfiguration key -> kubespray variable (kubelet-config.v1beta1.yaml.j2)
KUBELET_KEYS: t.Mapping[str, str] = {
    "readOnlyPort": "kube_read_only_port",
    "authentication.webhook.enabled": "kubelet_authentication_token_webhook",
    "streamingConnectionIdleTimeout": "kubelet_streaming_connection_idle_timeout",
    "makeIPTablesUtilChains": "kubelet_make_iptables_util_chains",
    "protectKernelDefaults": "kubelet_protect_kernel_defaults",
    "rotateCertificates": "kubelet_rotate_certificates",
    "serverTLSBootstrap": "kubelet_rotate_server_certificates",
    "tlsCipherSuites": "tls_cipher_suites",
    "eventRecordQPS": "kubelet_event_record_qps",
    "podPidsLimit": "kubelet_pod_pids_limit",
    "seccompDefault": "kubelet_seccomp_default",
}
# (component, flag) -> kubespray variable (kubeadm-config templates)
FLAGS: t.Mapping[t.Tuple[str, str], str] = {
    ("kube-apiserver", "anonymous-auth"): "kube_api_anonymous_auth",
    ("kube-apiserver", "authorization-mode"): "authorization_modes",
    ("kube-apiserver", "enable-admission-plugins"): "kube_apiserver_enable_admission_plugins",
    ("kube-apiserver", "disable-admission-plugins"): "kube_apiserver_disable_admission_plugins",
    ("kube-apiserver", "profiling"): "kube_profiling",
    ("kube-apiserver", "service-account-lookup"): "kube_apiserver_service_account_lookup",
    ("kube-apiserver", "request-timeout"): "kube_apiserver_request_timeout",
    ("kube-apiserver", "audit-log-path"): "audit_log_path",
    ("kube-apiserver", "audit-log-maxage"): "audit_log_maxage",
    ("kube-apiserver", "audit-log-maxbackup"): "audit_log_maxbackups",
    ("kube-apiserver", "audit-log-maxsize"): "audit_log_maxsize",
    ("kube-apiserver", "tls-cipher-suites"): "tls_cipher_suites",
    ("kube-apiserver", "tls-min-version"): "tls_min_version",
    ("kube-controller-manager", "profiling"): "kube_profiling",
    ("kube-controller-manager", "bind-address"): "kube_controller_manager_bind_address",
    ("kube-controller-manager", "terminated-pod-gc-threshold"): "kube_controller_terminated_pod_gc_threshold",
    ("kube-controller-manager", "tls-cipher-suites"): "tls_cipher_suites",
    ("kube-scheduler", "profiling"): "kube_profiling",
    ("kube-scheduler", "bind-address"): "kube_scheduler_bind_address",
    ("kube-scheduler", "tls-cipher-suites"): "tls_cipher_suites",
    ("etcd", "client-cert-auth"): "etcd_secure_client",
    ("etcd", "peer-client-cert-auth"): "etcd_peer_client_auth",
}
# Flags whose kubespray setting is a switch rather than the value.
SWITCHES: t.Mapping[t.Tuple[str, str], str] = {
    ("kube-apiserver", "token-auth-file"): "kube_token_auth: false (kubespray then writes no --token-auth-file)",
    ("kube-apiserver", "encryption-provider-config"): "kube_encrypt_secret_data: true",
    ("kube-apiserver", "audit-policy-file"): "kubernetes_audit: true",
    ("kube-apiserver", "kubelet-certificate-authority"): "kubelet_rotate_server_certificates: true",
}
LIST_VARIABLES = ("authorization_modes", "kube_apiserver_enable_admission_plugins", "kube_apiserver_disable_admission_plugins",
                  "tls_cipher_suites")
EXTRA_ARGS = {
    "kube-apiserver": "kube_kubeadm_apiserver_extra_args",
    "kube-controller-manager": "kube_kubeadm_controller_extra_args",
    "kube-scheduler": "kube_kubeadm_scheduler_extra_args",
}
TEMPLATED = {
    "kubelet": "/etc/kubernetes/kubelet-config.yaml",
    "kube-apiserver": "the kubeadm ClusterConfiguration (then the static pod manifest)",
    "kube-controller-manager": "the kubeadm ClusterConfiguration (then the static pod manifest)",
    "kube-scheduler": "the kubeadm ClusterConfiguration (then the static pod manifest)",
    "etcd": "/etc/etcd.env",
}


def _yaml_value(variable: str, value: t.Any) -> str:
    if isinstance(value, str):
        if variable in LIST_VARIABLES:
            return json.dumps([v for v in value.split(",") if v])
        if value.lower() in ("true", "false"):
            return value.lower()
        if value.lstrip("-").isdigit():
            return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)) or (isinstance(value, list) and variable in LIST_VARIABLES):
        return json.dumps(value)
    return json.dumps(value)


def keeping_variable(component: str, flag: t.Optional[str], config_key: t.Optional[str], value: t.Any,
                     etcd_on_host: bool) -> t.Optional[str]:
    """``variable: value`` for the kubespray inventory that keeps this setting, or None."""
    if component == "kubelet":
        if config_key == "authorization.mode":
            return "kubelet_authorization_mode_webhook: %s" % ("true" if str(value) == "Webhook" else "false")
        if config_key == "authentication.anonymous.enabled":
            return ("none needed: kubespray's kubelet-config.yaml template always writes anonymous.enabled: false "
                    "(drop --anonymous-auth from kubelet_custom_flags and kubelet_node_custom_flags)")
        if config_key in KUBELET_KEYS:
            return "%s: %s" % (KUBELET_KEYS[config_key], _yaml_value(KUBELET_KEYS[config_key], value))
        if config_key:
            return "kubelet_config_extra_args: {%s: %s}" % (config_key.split(".")[0], json.dumps(value))
        return None
    if not flag:
        return None
    if (component, flag) in SWITCHES:
        return SWITCHES[(component, flag)]
    if (component, flag) in FLAGS:
        variable = FLAGS[(component, flag)]
        return "%s: %s" % (variable, _yaml_value(variable, value))
    if component == "etcd":
        if etcd_on_host:
            return "etcd_extra_vars: {ETCD_%s: %s}" % (flag.upper().replace("-", "_"), json.dumps(str(value)))
        return "etcd_extra_vars: {%s: %s}" % (flag, json.dumps(str(value)))
    if component in EXTRA_ARGS:
        return "%s: {%s: %s}" % (EXTRA_ARGS[component], flag, json.dumps(str(value)))
    return None


def note(component: str, flag: t.Optional[str], config_key: t.Optional[str], value: t.Any, etcd_on_host: bool) -> t.Optional[str]:
    """The sentence the report adds to a kubespray node's result."""
    keep = keeping_variable(component, flag, config_key, value, etcd_on_host)
    if keep is None:
        return None
    return "kubespray re-templates %s at its next run: keep this fix with %s in the kubespray inventory" % (
        TEMPLATED.get(component, "this file"), keep)
