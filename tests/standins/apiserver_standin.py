#!/usr/bin/env python
"""TEST STAND-IN for kube-apiserver (NOT the real API server): /usr/local/bin/kube-apiserver in test images.

The kubelet stand-in runs it from the static pod manifest's command line, so it shows up in /proc with
the manifest's flags. It emulates what the hardening collection changes and what its tests probe:

* Refuses to start (exit 1, one clear log line) on what the real one rejects: an unknown flag (including
  flags removed from Kubernetes, such as --insecure-port), an unknown or repeated --authorization-mode,
  ABAC/Webhook without their files, --authorization-mode together with --authorization-config,
  --authentication-config before 1.29, an ``anonymous`` section before 1.32, --anonymous-auth together
  with an AuthenticationConfiguration that has an ``anonymous`` section, an unknown TLS cipher suite, an
  invalid port or boolean, and
  a file named by a flag that does not exist. The version is the manifest image's tag, which the kubelet
  stand-in passes in KUBEFORT_STANDIN_VERSION (default v1.28.7).
* Serves HTTPS on --bind-address:--secure-port (6443) with the --tls-cert-file certificate: /livez,
  /readyz (also checks that the first --etcd-servers endpoint accepts connections: a host and port, or
  a unix:// socket path as microk8s' kine serves it), /healthz, /version,
  /api, /apis. Clients are authenticated by a certificate signed by --client-ca-file (CN = user,
  O = groups); without one a request is anonymous when anonymous auth is on (--anonymous-auth, default
  true, but off with AlwaysAllow among the modes, as in the real one; or the AuthenticationConfiguration's
  anonymous.enabled, limited to its conditions' paths) and 401 otherwise. Authorization in --authorization-mode order: AlwaysAllow allows; RBAC allows what the
  default bootstrap roles allow (health and /version to everyone, discovery to authenticated users,
  everything to system:masters); Node, Webhook and ABAC give no opinion here; the end is 403.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sys
import typing as t
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

import standin_common as common
from standin_common import StartupError

NAME = "kube-apiserver"
BOOL_FLAGS = {
    "allow-privileged", "anonymous-auth", "enable-bootstrap-token-auth", "profiling", "service-account-lookup",
    "enable-aggregator-routing", "enable-garbage-collector", "enable-priority-and-fairness",
    "audit-log-compress", "audit-log-truncate-enabled", "audit-webhook-truncate-enabled", "contention-profiling",
    "watch-cache", "permit-port-sharing", "permit-address-sharing", "encryption-provider-config-automatic-reload",
    "enable-logs-handler", "service-account-extend-token-expiration", "logtostderr", "alsologtostderr", "help",
    "version",
}
VALUE_FLAGS = {
    "advertise-address", "authorization-mode", "authorization-config", "authorization-policy-file",
    "authorization-webhook-config-file", "authorization-webhook-cache-authorized-ttl",
    "authorization-webhook-cache-unauthorized-ttl", "authorization-webhook-version",
    "authentication-config", "authentication-token-webhook-config-file", "authentication-token-webhook-cache-ttl",
    "authentication-token-webhook-version", "client-ca-file", "enable-admission-plugins",
    "disable-admission-plugins", "admission-control-config-file", "etcd-cafile", "etcd-certfile", "etcd-keyfile",
    "etcd-servers", "etcd-prefix", "etcd-servers-overrides", "etcd-compaction-interval", "etcd-count-metric-poll-period",
    "kubelet-client-certificate", "kubelet-client-key", "kubelet-certificate-authority",
    "kubelet-preferred-address-types", "kubelet-timeout", "proxy-client-cert-file", "proxy-client-key-file",
    "requestheader-allowed-names", "requestheader-client-ca-file", "requestheader-extra-headers-prefix",
    "requestheader-group-headers", "requestheader-username-headers", "secure-port", "bind-address", "cert-dir",
    "service-account-issuer", "service-account-key-file", "service-account-signing-key-file",
    "service-account-max-token-expiration", "api-audiences", "service-cluster-ip-range", "service-node-port-range",
    "tls-cert-file", "tls-private-key-file", "tls-cipher-suites", "tls-min-version", "tls-sni-cert-key",
    "audit-log-path", "audit-log-maxage", "audit-log-maxbackup", "audit-log-maxsize", "audit-log-format",
    "audit-log-mode", "audit-log-batch-max-size", "audit-policy-file", "audit-webhook-config-file",
    "audit-webhook-mode", "audit-webhook-batch-max-size", "encryption-provider-config", "request-timeout",
    "min-request-timeout", "max-requests-inflight", "max-mutating-requests-inflight", "event-ttl",
    "token-auth-file", "feature-gates", "runtime-config", "v", "vmodule", "external-hostname",
    "endpoint-reconciler-type", "storage-backend", "storage-media-type", "default-watch-cache-size",
    "watch-cache-sizes", "goaway-chance", "shutdown-delay-duration", "shutdown-watch-termination-grace-period",
    "livez-grace-period", "oidc-issuer-url", "oidc-client-id", "oidc-username-claim", "oidc-username-prefix",
    "oidc-groups-claim", "oidc-groups-prefix", "oidc-ca-file", "oidc-required-claim", "oidc-signing-algs",
    "cloud-provider", "cloud-config", "cors-allowed-origins", "default-not-ready-toleration-seconds",
    "default-unreachable-toleration-seconds", "delete-collection-workers", "egress-selector-config-file",
    "lease-reuse-duration-seconds", "strict-transport-security-directives", "log-flush-frequency",
    "logging-format", "audit-log-version", "audit-webhook-version", "audit-webhook-initial-backoff",
    "service-account-jwks-uri", "peer-advertise-ip", "peer-advertise-port", "peer-ca-file",
    "max-connection-bytes-per-sec", "http2-max-streams-per-connection",
    "etcd-healthcheck-timeout", "etcd-readycheck-timeout", "admission-control", "tracing-config-file",
}
FILE_FLAGS = (
    "client-ca-file", "tls-cert-file", "tls-private-key-file", "etcd-cafile", "etcd-certfile", "etcd-keyfile",
    "kubelet-client-certificate", "kubelet-client-key", "kubelet-certificate-authority", "proxy-client-cert-file",
    "proxy-client-key-file", "requestheader-client-ca-file", "service-account-key-file",
    "service-account-signing-key-file", "authentication-config", "authorization-config",
    "authorization-policy-file", "authorization-webhook-config-file", "authentication-token-webhook-config-file",
    "audit-policy-file", "audit-webhook-config-file", "encryption-provider-config", "admission-control-config-file",
    "token-auth-file", "oidc-ca-file", "egress-selector-config-file",
)
MODES = ("AlwaysAllow", "AlwaysDeny", "ABAC", "Webhook", "RBAC", "Node")
PUBLIC_PATHS = ("/healthz", "/livez", "/readyz", "/version")
DISCOVERY = re.compile(r"^/(api|apis|openapi)(/.*)?$")


def version_tuple(text: str) -> tuple[int, int]:
    match = re.match(r"v?(\d+)\.(\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else (1, 28)


def last(flags: dict[str, list[str]], name: str, default: str = "") -> str:
    return flags.get(name, [default])[-1]


def authentication_config(path: str, version: tuple[int, int], anonymous_flag_set: bool) -> dict | None:
    """The anonymous section of an AuthenticationConfiguration (None when absent)."""
    import yaml

    if version < (1, 29):
        raise StartupError("unknown flag: --authentication-config")
    try:
        with open(path, encoding="utf-8") as handle:
            document = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as exc:
        raise StartupError(f"failed to load authentication configuration {path}: {' '.join(str(exc).split())}") \
            from None
    if not isinstance(document, dict) or document.get("kind") != "AuthenticationConfiguration":
        raise StartupError(f"{path}: not an AuthenticationConfiguration")
    anonymous = document.get("anonymous")
    if anonymous is None:
        return None
    if version < (1, 32):
        raise StartupError(f"{path}: anonymous: Forbidden: anonymous is not supported when "
                           "AnonymousAuthConfigurableEndpoints feature gate is disabled")
    if anonymous_flag_set:
        raise StartupError("anonymous: Forbidden: --anonymous-auth flag cannot be set when anonymous field "
                           "is configured in authentication configuration file")
    if not isinstance(anonymous, dict) or not isinstance(anonymous.get("enabled"), bool):
        raise StartupError(f"{path}: anonymous.enabled: Required value")
    paths = [c.get("path") for c in anonymous.get("conditions") or [] if isinstance(c, dict)]
    if paths and not anonymous["enabled"]:
        raise StartupError(f"{path}: anonymous.conditions: Invalid value: conditions can only be set when "
                           "anonymous is enabled")
    return {"enabled": anonymous["enabled"], "paths": paths}


def settings_from(flags: dict[str, list[str]], version: tuple[int, int]) -> dict[str, t.Any]:
    common.require_files(NAME, flags, FILE_FLAGS)
    modes = [m for value in flags.get("authorization-mode", []) for m in value.split(",") if m]
    if "authorization-config" in flags:
        if "authorization-mode" in flags:
            raise StartupError("--authorization-config can not be specified when --authorization-mode or "
                               "--authorization-webhook-* flags are set")
    elif not modes:
        modes = ["AlwaysAllow"]
    for mode in modes:
        if mode not in MODES:
            raise StartupError(f"authorization-mode {mode!r} is not a valid mode")
        if modes.count(mode) > 1:
            raise StartupError(f"authorization-mode {mode!r} has mode specified more than once")
    if "ABAC" in modes and "authorization-policy-file" not in flags:
        raise StartupError("authorization-mode ABAC's authorization policy file not passed")
    if "Webhook" in modes and "authorization-webhook-config-file" not in flags:
        raise StartupError("authorization-mode Webhook's authorization config file not passed")
    anonymous_set = "anonymous-auth" in flags
    anonymous = {"enabled": common.parse_bool("anonymous-auth", last(flags, "anonymous-auth", "true")),
                 "paths": []}
    if "AlwaysAllow" in modes and anonymous["enabled"]:
        # As the real one: "AnonymousAuth is not allowed with the AlwaysAllow authorizer" (401 for anonymous).
        anonymous = {"enabled": False, "paths": []}
    if "authentication-config" in flags:
        from_file = authentication_config(last(flags, "authentication-config"), version, anonymous_set)
        if from_file is not None:
            anonymous = from_file
    for name in BOOL_FLAGS & set(flags):
        common.parse_bool(name, flags[name][-1])
    unknown = [c for c in last(flags, "tls-cipher-suites").split(",") if c and c not in common.CIPHER_SUITES]
    if unknown:
        raise StartupError(f'invalid argument "{last(flags, "tls-cipher-suites")}" for "--tls-cipher-suites" flag: '
                           f"Cipher suite {unknown[0]} not supported or doesn't exist")
    return {
        "modes": modes,
        "anonymous": anonymous,
        "port": common.parse_port("--secure-port", last(flags, "secure-port", "6443"), False),
        "bind": last(flags, "bind-address", "0.0.0.0"),
        "client_ca": last(flags, "client-ca-file") or None,
        "etcd": last(flags, "etcd-servers").split(",")[0],
        "audit_log": last(flags, "audit-log-path"),
    }


class ApiServer:
    def __init__(self, settings: dict[str, t.Any], version: str) -> None:
        self.settings = settings
        self.version = version

    def etcd_reachable(self) -> bool:
        endpoint = self.settings["etcd"]
        if endpoint.startswith("unix://"):
            # A socket path, as microk8s' k8s-dqlite (kine) serves it: "unix://.../kine.sock:12379" is the file
            # kine.sock:12379, which the etcd client dials as it is.
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                    sock.settimeout(2)
                    sock.connect(endpoint[len("unix://"):])
                return True
            except OSError:
                return False
        url = urllib.parse.urlparse(endpoint)
        if not url.hostname:
            return False
        try:
            with socket.create_connection((url.hostname, url.port or 2379), timeout=2):
                return True
        except OSError:
            return False

    def allowed(self, user: str, groups: list[str], path: str) -> bool:
        for mode in self.settings["modes"]:
            if mode == "AlwaysAllow":
                return True
            if mode == "AlwaysDeny":
                return False
            if mode == "RBAC":
                if "system:masters" in groups:
                    return True
                if path in PUBLIC_PATHS or path.startswith(tuple(p + "/" for p in PUBLIC_PATHS)):
                    return True  # system:public-info-viewer: authenticated and unauthenticated
                if "system:authenticated" in groups and DISCOVERY.match(path):
                    return True  # system:discovery, system:basic-user
        return False

    def handle(self, _handler: t.Any, raw_path: str, identity: tuple[str, list[str]] | None) -> tuple[int, t.Any]:
        path = raw_path.split("?", 1)[0]
        if identity is not None:
            user, groups = identity[0], [*identity[1], "system:authenticated"]
        else:
            anonymous = self.settings["anonymous"]
            if not anonymous["enabled"] or (anonymous["paths"] and path not in anonymous["paths"]):
                return 401, common.status(401, "Unauthorized", "Unauthorized")
            user, groups = "system:anonymous", ["system:unauthenticated"]
        if not self.allowed(user, groups, path):
            return 403, common.status(403, "Forbidden",
                                      f'forbidden: User "{user}" cannot get path "{path}"')
        return self.endpoint(path)

    def endpoint(self, path: str) -> tuple[int, t.Any]:
        if path in ("/livez", "/healthz"):
            return 200, "ok"
        if path == "/readyz":
            return (200, "ok") if self.etcd_reachable() else (500, "[-]etcd failed: reason withheld\nreadyz check failed")
        if path == "/version":
            major, minor = version_tuple(self.version)
            return 200, {"major": str(major), "minor": str(minor), "gitVersion": self.version,
                         "platform": "linux/amd64", "goVersion": "standin"}
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        if path == "/apis":
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}
        return 404, common.status(404, "NotFound", "the server could not find the requested resource")


def main() -> int:
    common.present_as(__file__)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    version = os.environ.get("KUBEFORT_STANDIN_VERSION", "v1.28.7")
    try:
        flags = common.parse_flags(sys.argv[1:], BOOL_FLAGS, VALUE_FLAGS | BOOL_FLAGS)
        settings = settings_from(flags, version_tuple(version))
        if settings["audit_log"] and settings["audit_log"] != "-":
            os.makedirs(os.path.dirname(settings["audit_log"]) or ".", exist_ok=True)
        cert, key = last(flags, "tls-cert-file"), last(flags, "tls-private-key-file")
        if not cert:
            cert, key = common.temporary_self_signed("kube-apiserver")
        context = common.server_context(cert, key, settings["client_ca"])
        common.serve(NAME, settings["bind"], settings["port"], common.Handler, context,
                     ApiServer(settings, version))
    except StartupError as exc:
        common.die(NAME, str(exc))
    common.log(NAME, f"I started {version}: authorization-mode={','.join(settings['modes'])} "
                     f"anonymous={settings['anonymous']}")
    common.wait_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
