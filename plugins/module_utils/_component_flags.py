# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The command-line flags each Kubernetes release's components accept (catalog data).

A flag the binary does not know makes it exit at start (``unknown flag: --x``), so kubefort reports such a
component as ``error`` and never writes a flag that the component's version does not accept.

- 1.28: the flags the real v1.28.7 binaries list in ``--help``, plus the hidden (deprecated) flags they
  still accept (found by starting them with each candidate name), plus the flags only the official builds
  with in-tree cloud providers register (the test binaries are built ``providerless``; read from
  ``globalflags_providers.go`` of each component). tests/real/test_real_flags.py checks the lists against the
  binaries, and that every change recorded below for a later release is consistent with 1.28 (a flag added
  later is refused by the 1.28 binary, a flag removed later is accepted by it).
- 1.29 and later: the 1.28 list plus the changes in ``CHANGES``, each read from the release's own notes in
  the kubernetes/kubernetes source tree (``CHANGELOG/CHANGELOG-1.x.md``, commit recorded per release in
  ``RELEASE_SOURCES``) or from the flag-registering source file. The file versions of a release tag cannot
  be addressed in the source index kubefort's authors used, and release notes do not name every new flag
  (``--emulated-version`` is missing from the 1.31 notes), so the later lists are not complete: a flag
  removed by the version, or added only after it, is certain (``unknown``); any other flag that is not a
  1.28 flag is reported as not checked instead of guessed.
"""

from __future__ import annotations

import typing as t


def _names(text: str) -> t.FrozenSet[str]:
    """Flag names as --help prints them (without the dashes), separated by white space."""
    return frozenset(text.split())


KUBELET_1_28_HELP: t.FrozenSet[str] = _names("""
address allowed-unsafe-sysctls anonymous-auth application-metrics-count-limit authentication-token-webhook
authentication-token-webhook-cache-ttl authorization-mode authorization-webhook-cache-authorized-ttl
authorization-webhook-cache-unauthorized-ttl boot-id-file bootstrap-kubeconfig cert-dir cgroup-driver cgroup-root
cgroups-per-qos client-ca-file cloud-config cloud-provider cluster-dns cluster-domain config config-dir
container-hints container-log-max-files container-log-max-size container-runtime-endpoint containerd
containerd-namespace contention-profiling cpu-cfs-quota cpu-cfs-quota-period cpu-manager-policy
cpu-manager-policy-options cpu-manager-reconcile-period enable-controller-attach-detach enable-debugging-handlers
enable-load-reader enable-server enforce-node-allocatable event-burst event-qps event-storage-age-limit
event-storage-event-limit eviction-hard eviction-max-pod-grace-period eviction-minimum-reclaim
eviction-pressure-transition-period eviction-soft eviction-soft-grace-period exit-on-lock-contention
experimental-allocatable-ignore-eviction experimental-mounter-path fail-swap-on feature-gates file-check-frequency
global-housekeeping-interval hairpin-mode healthz-bind-address healthz-port help hostname-override
housekeeping-interval http-check-frequency image-credential-provider-bin-dir image-credential-provider-config
image-gc-high-threshold image-gc-low-threshold image-service-endpoint keep-terminated-pod-volumes
kernel-memcg-notification kube-api-burst kube-api-content-type kube-api-qps kube-reserved kube-reserved-cgroup
kubeconfig kubelet-cgroups local-storage-capacity-isolation lock-file log-cadvisor-usage log-flush-frequency
log-json-info-buffer-size log-json-split-stream logging-format machine-id-file make-iptables-util-chains
manifest-url manifest-url-header max-open-files max-pods maximum-dead-containers
maximum-dead-containers-per-container memory-manager-policy minimum-container-ttl-duration
minimum-image-ttl-duration node-ip node-labels node-status-max-images node-status-update-frequency oom-score-adj
pod-cidr pod-infra-container-image pod-manifest-path pod-max-pids pods-per-core port protect-kernel-defaults
provider-id qos-reserved read-only-port register-node register-schedulable register-with-taints registry-burst
registry-qps reserved-cpus reserved-memory resolv-conf root-dir rotate-certificates rotate-server-certificates
runonce runtime-cgroups runtime-request-timeout seccomp-default serialize-image-pulls storage-driver-buffer-duration
storage-driver-db storage-driver-host storage-driver-password storage-driver-secure storage-driver-table
storage-driver-user streaming-connection-idle-timeout sync-frequency system-cgroups system-reserved
system-reserved-cgroup tls-cert-file tls-cipher-suites tls-min-version tls-private-key-file topology-manager-policy
topology-manager-policy-options topology-manager-scope v version vmodule volume-plugin-dir volume-stats-agg-period
""")


KUBELET_1_28_HIDDEN: t.FrozenSet[str] = _names("iptables-drop-bit iptables-masquerade-bit")


KUBE_APISERVER_1_28_HELP: t.FrozenSet[str] = _names("""
admission-control admission-control-config-file advertise-address aggregator-reject-forwarding-redirect
allow-metric-labels allow-privileged anonymous-auth api-audiences audit-log-batch-buffer-size
audit-log-batch-max-size audit-log-batch-max-wait audit-log-batch-throttle-burst audit-log-batch-throttle-enable
audit-log-batch-throttle-qps audit-log-compress audit-log-format audit-log-maxage audit-log-maxbackup
audit-log-maxsize audit-log-mode audit-log-path audit-log-truncate-enabled audit-log-truncate-max-batch-size
audit-log-truncate-max-event-size audit-log-version audit-policy-file audit-webhook-batch-buffer-size
audit-webhook-batch-max-size audit-webhook-batch-max-wait audit-webhook-batch-throttle-burst
audit-webhook-batch-throttle-enable audit-webhook-batch-throttle-qps audit-webhook-config-file
audit-webhook-initial-backoff audit-webhook-mode audit-webhook-truncate-enabled
audit-webhook-truncate-max-batch-size audit-webhook-truncate-max-event-size audit-webhook-version
authentication-token-webhook-cache-ttl authentication-token-webhook-config-file authentication-token-webhook-version
authorization-mode authorization-policy-file authorization-webhook-cache-authorized-ttl
authorization-webhook-cache-unauthorized-ttl authorization-webhook-config-file authorization-webhook-version
bind-address cert-dir client-ca-file cloud-config cloud-provider contention-profiling cors-allowed-origins
debug-socket-path default-not-ready-toleration-seconds default-unreachable-toleration-seconds
delete-collection-workers disable-admission-plugins disabled-metrics egress-selector-config-file
enable-admission-plugins enable-aggregator-routing enable-bootstrap-token-auth enable-garbage-collector
enable-priority-and-fairness encryption-provider-config encryption-provider-config-automatic-reload
endpoint-reconciler-type etcd-cafile etcd-certfile etcd-compaction-interval etcd-count-metric-poll-period
etcd-db-metric-poll-interval etcd-healthcheck-timeout etcd-keyfile etcd-prefix etcd-readycheck-timeout etcd-servers
etcd-servers-overrides event-ttl external-hostname feature-gates goaway-chance help http2-max-streams-per-connection
kubelet-certificate-authority kubelet-client-certificate kubelet-client-key kubelet-preferred-address-types
kubelet-timeout kubernetes-service-node-port lease-reuse-duration-seconds livez-grace-period log-flush-frequency
log-json-info-buffer-size log-json-split-stream logging-format max-connection-bytes-per-sec
max-mutating-requests-inflight max-requests-inflight min-request-timeout oidc-ca-file oidc-client-id
oidc-groups-claim oidc-groups-prefix oidc-issuer-url oidc-required-claim oidc-signing-algs oidc-username-claim
oidc-username-prefix peer-advertise-ip peer-advertise-port peer-ca-file permit-address-sharing permit-port-sharing
profiling proxy-client-cert-file proxy-client-key-file request-timeout requestheader-allowed-names
requestheader-client-ca-file requestheader-extra-headers-prefix requestheader-group-headers
requestheader-username-headers runtime-config secure-port service-account-extend-token-expiration
service-account-issuer service-account-jwks-uri service-account-key-file service-account-lookup
service-account-max-token-expiration service-account-signing-key-file service-cluster-ip-range
service-node-port-range show-hidden-metrics-for-version shutdown-delay-duration shutdown-send-retry-after
shutdown-watch-termination-grace-period storage-backend storage-media-type strict-transport-security-directives
tls-cert-file tls-cipher-suites tls-min-version tls-private-key-file tls-sni-cert-key token-auth-file
tracing-config-file v version vmodule watch-cache watch-cache-sizes
""")


KUBE_APISERVER_1_28_HIDDEN: t.FrozenSet[str] = _names("apiserver-count enable-logs-handler kubelet-read-only-port")


# Registered only by builds with the in-tree cloud providers (the official 1.28 release binaries), read from the
# source: the kubelet's cmd/kubelet/app/options/globalflags_providers.go registers azure-container-registry-config
# (addLegacyCloudProviderCredentialProviderFlags; kubernetes/kubernetes@2d58ef78); the API server's
# cmd/kube-apiserver/app/options/globalflags_providers.go registers the two GCE load-balancer flags
# (registerLegacyGlobalFlags; kubernetes/kubernetes@4ed16993), the first one deprecated (so hidden in --help). The
# kubelet does not register the GCE flags: its AddGlobalFlags copies only named flags into its own flag set.
PROVIDER_FLAGS_1_28: t.Mapping[str, t.FrozenSet[str]] = {
    "kubelet": frozenset(("azure-container-registry-config",)),
    "kube-apiserver": frozenset(("cloud-provider-gce-lb-src-cidrs", "cloud-provider-gce-l7lb-src-cidrs")),
}

FLAGS: t.Mapping[t.Tuple[str, t.Tuple[int, int]], t.FrozenSet[str]] = {
    ("kubelet", (1, 28)): KUBELET_1_28_HELP | KUBELET_1_28_HIDDEN | PROVIDER_FLAGS_1_28["kubelet"],
    ("kube-apiserver", (1, 28)): KUBE_APISERVER_1_28_HELP | KUBE_APISERVER_1_28_HIDDEN | PROVIDER_FLAGS_1_28["kube-apiserver"],
}

BASE = (1, 28)


class Change(t.NamedTuple):
    """One flag added to or removed from a component in a release, with where that was read.

    ``exact``: the source says the flag is new in ``release`` (so earlier releases do not accept it); False when it
    only shows the flag present by then.
    """

    component: str
    flag: str
    release: t.Tuple[int, int]
    kind: str  # "added" or "removed"
    source: str
    exact: bool = True


# Where each release was read: kubernetes/kubernetes CHANGELOG/CHANGELOG-1.x.md at the commit named, and which part.
RELEASE_SOURCES: t.Mapping[t.Tuple[int, int], str] = {
    (1, 29): "CHANGELOG-1.29.md@1c9cf914f2f9 (v1.29.0 section: all changes since v1.28.0)",
    (1, 30): "CHANGELOG-1.30.md@a7f9938cd545 (v1.30.0 section: all changes since v1.29.0)",
    (1, 31): "CHANGELOG-1.31.md@f72233c6f060 (v1.31.0-alpha.1 to rc.0 sections; rc.1 and later not read)",
    (1, 32): "CHANGELOG-1.32.md@030880a5dc54 (v1.32.0 section: all changes since v1.31.0)",
    (1, 33): "CHANGELOG-1.33.md@2e94b405ac89 (v1.33.0 section: all changes since v1.32.0)",
    (1, 34): "CHANGELOG-1.34.md@008b3652959c (v1.34.0 section: all changes since v1.33.0)",
    # Read through the index's file id: the 233,712-character version of the file (the index does not name its commit).
    (1, 35): "CHANGELOG-1.35.md (v1.35.0 section: all changes since v1.34.0)",
}


def _note(components: t.Sequence[str], flags: t.Sequence[str], release: t.Tuple[int, int], kind: str,
          source: str) -> t.Tuple[Change, ...]:
    """The changes one release note makes: each of ``flags`` added to or removed from each of ``components``."""
    return tuple(Change(component, flag, release, kind, source) for component in components for flag in flags)


CHANGES: t.Tuple[Change, ...] = (
    # 1.29
    Change("kube-apiserver", "authentication-config", (1, 29), "added", "CHANGELOG-1.29 API Change, kubernetes#119142"),
    Change("kube-apiserver", "authorization-config", (1, 29), "added", "CHANGELOG-1.29 API Change, kubernetes#120154"),
    Change("kube-apiserver", "allow-metric-labels-manifest", (1, 29), "added", "CHANGELOG-1.29 Feature, kubernetes#118299"),
    # 1.30: text logging with split streams (component-base logs options, registered by both components); the flag
    # names are the ones the 1.31 generated reference lists for component-base users.
    *_note(("kubelet", "kube-apiserver"), ("log-text-split-stream", "log-text-info-buffer-size"), (1, 30), "added",
           "CHANGELOG-1.30 API Change, kubernetes#114672"),
    # 1.31
    Change("kubelet", "keep-terminated-pod-volumes", (1, 31), "removed", "CHANGELOG-1.31 Urgent Upgrade Notes, kubernetes#122082"),
    *_note(("kubelet",), ("iptables-masquerade-bit", "iptables-drop-bit"), (1, 31), "removed",
           "CHANGELOG-1.31 Other, kubernetes#122363"),
    Change("kubelet", "azure-container-registry-config", (1, 31), "removed",
           "CHANGELOG-1.31: in-tree cloud provider code removed, kubernetes#124886 and #124519 (gone by 1.31)"),
    Change("kubelet", "fail-cgroupv1", (1, 31), "added", "CHANGELOG-1.31 API Change, kubernetes#126031"),
    *_note(("kube-apiserver",), ("cloud-provider-gce-lb-src-cidrs", "cloud-provider-gce-l7lb-src-cidrs"), (1, 31), "removed",
           "CHANGELOG-1.31: in-tree cloud provider code removed, kubernetes#124886 and #124519"),
    Change("kube-apiserver", "disable-http2-serving", (1, 31), "added", "CHANGELOG-1.31 Feature, kubernetes#122176"),
    Change("kube-apiserver", "emulated-version", (1, 31), "added",
           "compatibility versions (KEP-4330): 1.31 generated reference 'kube=1.31..1.31', kubernetes/website#47555"),
    # 1.32
    Change("kubelet", "runonce", (1, 32), "removed", "CHANGELOG-1.32 Other: --runonce mode removed, an error, kubernetes#126336"),
    Change("kube-apiserver", "requestheader-uid-headers", (1, 32), "added", "CHANGELOG-1.32 Feature, kubernetes#115834"),
    Change("kube-apiserver", "service-account-signing-endpoint", (1, 32), "added", "CHANGELOG-1.32 Feature, kubernetes#128190"),
    # 1.33
    *_note(("kube-apiserver",), ("cloud-provider", "cloud-config"), (1, 33), "removed", "CHANGELOG-1.33 Other, kubernetes#130162"),
    *_note(("kube-apiserver",), ("emulation-forward-compatible", "runtime-config-emulation-forward-compatible"), (1, 33),
           "added", "CHANGELOG-1.33 Feature, kubernetes#130354"),
    # 1.34 (also "configurable flags for coordinated leader election", kubernetes#132433: names not given, not recorded)
    Change("kubelet", "cloud-config", (1, 34), "removed", "CHANGELOG-1.34 Urgent Upgrade Notes, kubernetes#130161"),
    Change("kubelet", "register-schedulable", (1, 34), "removed", "CHANGELOG-1.34 Other, kubernetes#122384"),
    # 1.35
    Change("kubelet", "pod-infra-container-image", (1, 35), "removed", "CHANGELOG-1.35 Urgent Upgrade Notes, kubernetes#133779"),
    Change("kube-apiserver", "min-compatibility-version", (1, 35), "added", "CHANGELOG-1.35 API Change, kubernetes#133980"),
)

COMPONENTS = ("kubelet", "kube-apiserver")


class Verdict(t.NamedTuple):
    """Whether a component of a version accepts a flag: ``known``, ``unknown`` (it exits at start) or
    ``unchecked`` (kubefort cannot tell), with the reason shown to the user."""

    status: str
    reason: str = ""


def _minor(version: t.Sequence[int]) -> t.Tuple[int, int]:
    return (int(version[0]), int(version[1]))


def _shown(release: t.Tuple[int, int]) -> str:
    return "%d.%d" % release


def verdict(component: str, version: t.Optional[t.Sequence[int]], flag: str) -> Verdict:
    """Whether ``component`` of ``version`` (None: unknown) accepts ``--flag``."""
    name = normalize(flag)
    if component not in COMPONENTS:
        return Verdict("unchecked", "kubefort keeps no flag list for %s" % component)
    if version is None:
        verdicts = [verdict(component, release, name) for release in releases()]
        refusing = refused_by(component, name)
        if refusing:
            return Verdict("unknown", "%s %s refuses it" % (component, refusing))
        if all(v.status == "known" for v in verdicts):
            return Verdict("known")
        return Verdict("unchecked", "the version is unknown")
    minor = _minor(version)
    base = FLAGS[(component, BASE)]
    if minor == BASE:
        return Verdict("known") if name in base else Verdict("unknown", "not a flag of %s 1.28" % component)
    if minor < BASE:
        return Verdict("unchecked", "kubefort keeps no flag list for %s %s" % (component, _shown(minor)))
    changes = sorted((c for c in CHANGES if c.component == component and c.flag == name), key=lambda c: c.release)
    removed = [c for c in changes if c.kind == "removed" and c.release <= minor]
    added = [c for c in changes if c.kind == "added" and c.release <= minor]
    if removed and not (added and added[-1].release > removed[-1].release):
        last = removed[-1]
        return Verdict("unknown", "not in %s: removed in %s (%s)" % (_shown(minor), _shown(last.release), last.source))
    if added or name in base:
        return Verdict("known")
    later = [c for c in changes if c.kind == "added" and c.release > minor and c.exact]
    if later:
        return Verdict("unknown", "not in %s: added in %s (%s)" % (_shown(minor), _shown(later[0].release), later[0].source))
    return Verdict("unchecked", "not a 1.28 flag and not among the flag changes kubefort read for %s 1.29-%s"
                   % (component, _shown(releases()[-1])))


def refused_by(component: str, flag: str) -> str:
    """The releases kubefort knows refuse ``--flag`` as ranges ('1.28', '1.31-1.35', '1.28, 1.31-1.35'), '' for none."""
    refusing = [r for r in releases() if verdict(component, r, flag).status == "unknown"]
    spans: t.List[t.List[t.Tuple[int, int]]] = []
    for release in refusing:
        if spans and releases().index(release) == releases().index(spans[-1][-1]) + 1:
            spans[-1].append(release)
        else:
            spans.append([release])
    return ", ".join(_shown(s[0]) if len(s) == 1 else "%s-%s" % (_shown(s[0]), _shown(s[-1])) for s in spans)


def releases() -> t.List[t.Tuple[int, int]]:
    """The releases kubefort has flag data for: 1.28 and those whose changes were read."""
    return [BASE] + sorted(RELEASE_SOURCES)


def known_flags(component: str, version: t.Tuple[int, ...]) -> t.Optional[t.FrozenSet[str]]:
    """The complete list of flags ``component`` of this minor version accepts (only 1.28, from the real
    binaries), or None when kubefort has no complete list; see ``verdict`` for the other releases."""
    return FLAGS.get((component, t.cast(t.Tuple[int, int], tuple(version[:2]))))


def accepted_flags(component: str, version: t.Sequence[int]) -> t.FrozenSet[str]:
    """The flags kubefort knows ``component`` of ``version`` (1.28 or later) accepts: 1.28's list with the
    recorded changes applied. Not complete after 1.28 (see the module text)."""
    minor = _minor(version)
    flags = set(FLAGS[(component, BASE)])
    for change in sorted(CHANGES, key=lambda c: c.release):
        if change.component == component and BASE < change.release <= minor:
            if change.kind == "added":
                flags.add(change.flag)
            else:
                flags.discard(change.flag)
    return frozenset(flags)


def normalize(name: str) -> str:
    """As the components' flag sets see a name (cliflag.WordSepNormalizeFunc: ``_`` is ``-``)."""
    return name.replace("_", "-")
