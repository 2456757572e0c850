# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The command-line flags each Kubernetes release's components accept (catalog data).

A flag the binary does not know makes it exit at start (``unknown flag: --x``), so kubefort reports such a
component as ``error`` and never writes a flag that is not listed for the component's version.

- 1.28: the flags the real v1.28.7 binaries list in ``--help``, plus the hidden (deprecated) flags they
  still accept (found by starting them with each candidate name), plus the flags only the official builds
  with in-tree cloud providers register (the test binaries are built ``providerless``; from
  ``globalflags_providers.go``). tests/real/test_real_flags.py checks the lists against the binaries.
- other releases: no list is kept (the flags are spread over many files of each release's source and
  were not read); for them kubefort says, in the result, that the flags were not checked.
"""

from __future__ import annotations

import typing as t


KUBELET_1_28_HELP: t.FrozenSet[str] = frozenset((
    "address", "allowed-unsafe-sysctls", "anonymous-auth", "application-metrics-count-limit",
    "authentication-token-webhook", "authentication-token-webhook-cache-ttl", "authorization-mode",
    "authorization-webhook-cache-authorized-ttl", "authorization-webhook-cache-unauthorized-ttl", "boot-id-file",
    "bootstrap-kubeconfig", "cert-dir", "cgroup-driver", "cgroup-root", "cgroups-per-qos", "client-ca-file",
    "cloud-config", "cloud-provider", "cluster-dns", "cluster-domain", "config", "config-dir", "container-hints",
    "container-log-max-files", "container-log-max-size", "container-runtime-endpoint", "containerd",
    "containerd-namespace", "contention-profiling", "cpu-cfs-quota", "cpu-cfs-quota-period", "cpu-manager-policy",
    "cpu-manager-policy-options", "cpu-manager-reconcile-period", "enable-controller-attach-detach",
    "enable-debugging-handlers", "enable-load-reader", "enable-server", "enforce-node-allocatable", "event-burst",
    "event-qps", "event-storage-age-limit", "event-storage-event-limit", "eviction-hard",
    "eviction-max-pod-grace-period", "eviction-minimum-reclaim", "eviction-pressure-transition-period",
    "eviction-soft", "eviction-soft-grace-period", "exit-on-lock-contention",
    "experimental-allocatable-ignore-eviction", "experimental-mounter-path", "fail-swap-on", "feature-gates",
    "file-check-frequency", "global-housekeeping-interval", "hairpin-mode", "healthz-bind-address", "healthz-port",
    "help", "hostname-override", "housekeeping-interval", "http-check-frequency",
    "image-credential-provider-bin-dir", "image-credential-provider-config", "image-gc-high-threshold",
    "image-gc-low-threshold", "image-service-endpoint", "keep-terminated-pod-volumes", "kernel-memcg-notification",
    "kube-api-burst", "kube-api-content-type", "kube-api-qps", "kube-reserved", "kube-reserved-cgroup",
    "kubeconfig", "kubelet-cgroups", "local-storage-capacity-isolation", "lock-file", "log-cadvisor-usage",
    "log-flush-frequency", "log-json-info-buffer-size", "log-json-split-stream", "logging-format",
    "machine-id-file", "make-iptables-util-chains", "manifest-url", "manifest-url-header", "max-open-files",
    "max-pods", "maximum-dead-containers", "maximum-dead-containers-per-container", "memory-manager-policy",
    "minimum-container-ttl-duration", "minimum-image-ttl-duration", "node-ip", "node-labels",
    "node-status-max-images", "node-status-update-frequency", "oom-score-adj", "pod-cidr",
    "pod-infra-container-image", "pod-manifest-path", "pod-max-pids", "pods-per-core", "port",
    "protect-kernel-defaults", "provider-id", "qos-reserved", "read-only-port", "register-node",
    "register-schedulable", "register-with-taints", "registry-burst", "registry-qps", "reserved-cpus",
    "reserved-memory", "resolv-conf", "root-dir", "rotate-certificates", "rotate-server-certificates", "runonce",
    "runtime-cgroups", "runtime-request-timeout", "seccomp-default", "serialize-image-pulls",
    "storage-driver-buffer-duration", "storage-driver-db", "storage-driver-host", "storage-driver-password",
    "storage-driver-secure", "storage-driver-table", "storage-driver-user", "streaming-connection-idle-timeout",
    "sync-frequency", "system-cgroups", "system-reserved", "system-reserved-cgroup", "tls-cert-file",
    "tls-cipher-suites", "tls-min-version", "tls-private-key-file", "topology-manager-policy",
    "topology-manager-policy-options", "topology-manager-scope", "v", "version", "vmodule", "volume-plugin-dir",
    "volume-stats-agg-period",
))


KUBELET_1_28_HIDDEN: t.FrozenSet[str] = frozenset((
    "iptables-drop-bit", "iptables-masquerade-bit",
))


KUBE_APISERVER_1_28_HELP: t.FrozenSet[str] = frozenset((
    "admission-control", "admission-control-config-file", "advertise-address",
    "aggregator-reject-forwarding-redirect", "allow-metric-labels", "allow-privileged", "anonymous-auth",
    "api-audiences", "audit-log-batch-buffer-size", "audit-log-batch-max-size", "audit-log-batch-max-wait",
    "audit-log-batch-throttle-burst", "audit-log-batch-throttle-enable", "audit-log-batch-throttle-qps",
    "audit-log-compress", "audit-log-format", "audit-log-maxage", "audit-log-maxbackup", "audit-log-maxsize",
    "audit-log-mode", "audit-log-path", "audit-log-truncate-enabled", "audit-log-truncate-max-batch-size",
    "audit-log-truncate-max-event-size", "audit-log-version", "audit-policy-file",
    "audit-webhook-batch-buffer-size", "audit-webhook-batch-max-size", "audit-webhook-batch-max-wait",
    "audit-webhook-batch-throttle-burst", "audit-webhook-batch-throttle-enable", "audit-webhook-batch-throttle-qps",
    "audit-webhook-config-file", "audit-webhook-initial-backoff", "audit-webhook-mode",
    "audit-webhook-truncate-enabled", "audit-webhook-truncate-max-batch-size",
    "audit-webhook-truncate-max-event-size", "audit-webhook-version", "authentication-token-webhook-cache-ttl",
    "authentication-token-webhook-config-file", "authentication-token-webhook-version", "authorization-mode",
    "authorization-policy-file", "authorization-webhook-cache-authorized-ttl",
    "authorization-webhook-cache-unauthorized-ttl", "authorization-webhook-config-file",
    "authorization-webhook-version", "bind-address", "cert-dir", "client-ca-file", "cloud-config", "cloud-provider",
    "contention-profiling", "cors-allowed-origins", "debug-socket-path", "default-not-ready-toleration-seconds",
    "default-unreachable-toleration-seconds", "delete-collection-workers", "disable-admission-plugins",
    "disabled-metrics", "egress-selector-config-file", "enable-admission-plugins", "enable-aggregator-routing",
    "enable-bootstrap-token-auth", "enable-garbage-collector", "enable-priority-and-fairness",
    "encryption-provider-config", "encryption-provider-config-automatic-reload", "endpoint-reconciler-type",
    "etcd-cafile", "etcd-certfile", "etcd-compaction-interval", "etcd-count-metric-poll-period",
    "etcd-db-metric-poll-interval", "etcd-healthcheck-timeout", "etcd-keyfile", "etcd-prefix",
    "etcd-readycheck-timeout", "etcd-servers", "etcd-servers-overrides", "event-ttl", "external-hostname",
    "feature-gates", "goaway-chance", "help", "http2-max-streams-per-connection", "kubelet-certificate-authority",
    "kubelet-client-certificate", "kubelet-client-key", "kubelet-preferred-address-types", "kubelet-timeout",
    "kubernetes-service-node-port", "lease-reuse-duration-seconds", "livez-grace-period", "log-flush-frequency",
    "log-json-info-buffer-size", "log-json-split-stream", "logging-format", "max-connection-bytes-per-sec",
    "max-mutating-requests-inflight", "max-requests-inflight", "min-request-timeout", "oidc-ca-file",
    "oidc-client-id", "oidc-groups-claim", "oidc-groups-prefix", "oidc-issuer-url", "oidc-required-claim",
    "oidc-signing-algs", "oidc-username-claim", "oidc-username-prefix", "peer-advertise-ip", "peer-advertise-port",
    "peer-ca-file", "permit-address-sharing", "permit-port-sharing", "profiling", "proxy-client-cert-file",
    "proxy-client-key-file", "request-timeout", "requestheader-allowed-names", "requestheader-client-ca-file",
    "requestheader-extra-headers-prefix", "requestheader-group-headers", "requestheader-username-headers",
    "runtime-config", "secure-port", "service-account-extend-token-expiration", "service-account-issuer",
    "service-account-jwks-uri", "service-account-key-file", "service-account-lookup",
    "service-account-max-token-expiration", "service-account-signing-key-file", "service-cluster-ip-range",
    "service-node-port-range", "show-hidden-metrics-for-version", "shutdown-delay-duration",
    "shutdown-send-retry-after", "shutdown-watch-termination-grace-period", "storage-backend", "storage-media-type",
    "strict-transport-security-directives", "tls-cert-file", "tls-cipher-suites", "tls-min-version",
    "tls-private-key-file", "tls-sni-cert-key", "token-auth-file", "tracing-config-file", "v", "version", "vmodule",
    "watch-cache", "watch-cache-sizes",
))


KUBE_APISERVER_1_28_HIDDEN: t.FrozenSet[str] = frozenset((
    "apiserver-count", "enable-logs-handler", "kubelet-read-only-port",
))


# Registered only by builds with the in-tree cloud providers (the official 1.28 release binaries).
PROVIDER_FLAGS_1_28: t.Mapping[str, t.FrozenSet[str]] = {
    "kubelet": frozenset(("azure-container-registry-config", "cloud-provider-gce-lb-src-cidrs", "cloud-provider-gce-l7lb-src-cidrs")),
    "kube-apiserver": frozenset(("cloud-provider-gce-lb-src-cidrs", "cloud-provider-gce-l7lb-src-cidrs")),
}

FLAGS: t.Mapping[t.Tuple[str, t.Tuple[int, int]], t.FrozenSet[str]] = {
    ("kubelet", (1, 28)): KUBELET_1_28_HELP | KUBELET_1_28_HIDDEN | PROVIDER_FLAGS_1_28["kubelet"],
    ("kube-apiserver", (1, 28)): KUBE_APISERVER_1_28_HELP | KUBE_APISERVER_1_28_HIDDEN | PROVIDER_FLAGS_1_28["kube-apiserver"],
}


def known_flags(component: str, version: t.Tuple[int, ...]) -> t.Optional[t.FrozenSet[str]]:
    """The flags ``component`` of this minor version accepts, or None when kubefort keeps no list for it."""
    return FLAGS.get((component, t.cast(t.Tuple[int, int], tuple(version[:2]))))


def normalize(name: str) -> str:
    """As the components' flag sets see a name (cliflag.WordSepNormalizeFunc: ``_`` is ``-``)."""
    return name.replace("_", "-")
