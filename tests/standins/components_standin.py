#!/usr/bin/env python
"""TEST STAND-INS for kube-controller-manager, kube-scheduler and etcd (NOT the real programs).

Installed in test images as /usr/local/bin/{kube-controller-manager,kube-scheduler,etcd} (links to this
file; the name it is started as selects the component). The kubelet stand-in runs them from kubeadm's
static pod manifests, so they show up in /proc with the manifests' flags. What they emulate:

* kube-controller-manager / kube-scheduler: refuse to start on flags removed from Kubernetes (--address,
  --port: the insecure port is gone since 1.24), an invalid --bind-address, --secure-port or boolean, and
  a file named by a flag that does not exist. Serve HTTPS on --bind-address:--secure-port (10257 / 10259)
  with a self-signed certificate, as the real ones do without --tls-cert-file; /healthz, /livez and
  /readyz answer anonymous requests (they are --authorization-always-allow-paths by default), any other
  path is refused with 403 for anonymous requests.
* etcd: refuses to start when a certificate file is missing or --auto-tls / --peer-auto-tls is not a
  boolean. Listens on every --listen-client-urls URL (HTTPS with the --cert-file certificate; client
  certificates signed by --trusted-ca-file required when --client-cert-auth=true) and every
  --listen-metrics-urls URL (HTTP); both serve /health. Every flag can also be given as ETCD_<FLAG> in the
  environment (kubespray's /etc/etcd.env); a variable and its flag both set make it exit, as etcd does.
  With --config-file (k3s and RKE2 start etcd so, from the file they generate) every setting comes from that
  YAML file, whose keys are the flag names (TLS settings under client-transport-security and, prefixed
  peer-, peer-transport-security); the other flags and the ETCD_* variables are ignored, as etcd logs. A
  file that is not YAML, or a boolean key whose value is not a boolean, makes it exit 1 with etcd's words
  (compared with Debian's etcd in tests/real/test_real_etcd_config_file.py).
* A test fault, not etcd's behaviour: ``KUBEFORT_STANDIN_REFUSE=<flag>=<value>[,...]`` in its environment makes
  etcd refuse to start with that effective setting (values compared case-insensitively). The real etcd accepts
  every boolean kubefort writes, and kubefort refuses an override that is not a boolean up front, so the
  rollback of a fix etcd refuses is tested through this fault (extensions/molecule/live_services).
"""

from __future__ import annotations

import ipaddress
import os
import signal
import sys
import typing as t
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

import standin_common as common
from standin_common import StartupError

SECURE_PORTS = {"kube-controller-manager": 10257, "kube-scheduler": 10259}
BOOL_FLAGS = {
    "allocate-node-cidrs", "leader-elect", "use-service-account-credentials", "profiling", "contention-profiling",
    "client-cert-auth", "peer-client-cert-auth", "auto-tls", "peer-auto-tls", "experimental-initial-corrupt-check",
    "enable-v2", "strict-reconfig-check", "help", "version", "logtostderr", "alsologtostderr",
    "configure-cloud-routes", "enable-dynamic-provisioning", "enable-hostpath-provisioner",
    "enable-pprof", "debug",
}
REMOVED = {"address", "port"}
FILE_FLAGS = (
    "kubeconfig", "authentication-kubeconfig", "authorization-kubeconfig", "client-ca-file",
    "cluster-signing-cert-file", "cluster-signing-key-file", "root-ca-file", "service-account-private-key-file",
    "requestheader-client-ca-file", "tls-cert-file", "tls-private-key-file", "config",
)
ETCD_FILE_FLAGS = ("cert-file", "key-file", "trusted-ca-file", "peer-cert-file", "peer-key-file",
                   "peer-trusted-ca-file")
HEALTH_PATHS = ("/healthz", "/livez", "/readyz")


def last(flags: dict[str, list[str]], name: str, default: str = "") -> str:
    return flags.get(name, [default])[-1]


class ControlPlaneComponent:
    def handle(self, _handler: t.Any, raw_path: str, identity: t.Any) -> tuple[int, t.Any]:
        path = raw_path.split("?", 1)[0]
        if path in HEALTH_PATHS:
            return 200, "ok"
        if identity is None:
            return 403, common.status(403, "Forbidden", f'forbidden: User "system:anonymous" cannot get path "{path}"')
        return 404, "404 page not found"


class Etcd:
    def handle(self, _handler: t.Any, raw_path: str, identity: t.Any) -> tuple[int, t.Any]:
        if raw_path.split("?", 1)[0] == "/health":
            return 200, {"health": "true", "reason": ""}
        return 404, "404 page not found"


def run_control_plane_component(name: str, flags: dict[str, list[str]]) -> None:
    removed = REMOVED & set(flags)
    if removed:
        raise StartupError(f"unknown flag: --{min(removed)}")
    common.require_files(name, flags, FILE_FLAGS)
    for flag in BOOL_FLAGS & set(flags):
        common.parse_bool(flag, flags[flag][-1])
    bind = last(flags, "bind-address", "0.0.0.0")
    try:
        ipaddress.ip_address(bind)
    except ValueError:
        raise StartupError(f'invalid argument "{bind}" for "--bind-address" flag: failed to parse IP') from None
    port = common.parse_port("--secure-port", last(flags, "secure-port", str(SECURE_PORTS[name])), True)
    cert, key = last(flags, "tls-cert-file"), last(flags, "tls-private-key-file")
    if not cert:
        cert, key = common.temporary_self_signed(name)
    if port:
        common.serve(name, bind, port, common.Handler, common.server_context(cert, key, None), ControlPlaneComponent())


def with_environment(flags: dict[str, list[str]], env: t.Mapping[str, str]) -> dict[str, list[str]]:
    """etcd also reads every flag from ETCD_<FLAG> (kubespray's /etc/etcd.env); both set is an error."""
    merged = dict(flags)
    for var, value in sorted(env.items()):
        if not var.startswith("ETCD_") or var in ("ETCD_UNSUPPORTED_ARCH",):
            continue
        flag = var[len("ETCD_"):].lower().replace("_", "-")
        if flag in flags:
            raise StartupError(f'conflicting environment variable "{var}" is shadowed by corresponding command-line '
                               'flag (either unset environment variable or disable flag)')
        merged[flag] = [value]
    return merged


# etcd config file sections whose keys are flags (the peer one's prefixed with "peer-").
TLS_SECTIONS = {"client-transport-security": "", "peer-transport-security": "peer-"}


def config_file_flags(path: str) -> dict[str, list[str]]:
    """The settings of an etcd --config-file, as flags (what etcd's configFromFile reads)."""
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise StartupError(f"failed to load config file {path}: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise StartupError(f"failed to load config file {path}: not a mapping")
    flags: dict[str, list[str]] = {}

    def put(flag: str, value: t.Any, field: str) -> None:
        if flag in BOOL_FLAGS and not isinstance(value, bool):
            kind = {str: "string", int: "number", float: "number", list: "array", dict: "object"}.get(type(value), "value")
            raise StartupError("error verifying flags, error unmarshaling JSON: while decoding JSON: json: cannot "
                               f"unmarshal {kind} into Go struct field {field} of type bool")
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, list):
            value = ",".join(str(v) for v in value)
        flags[flag] = [str(value)]

    for key, value in data.items():
        if key in TLS_SECTIONS:
            for name, item in (value or {}).items():
                put(TLS_SECTIONS[key] + str(name), item, f"securityConfig.{key}.{name}")
        else:
            put(str(key), value, f"configYAML.{key}")
    return flags


def refuse_on_test_fault(flags: dict[str, list[str]], faults: str) -> None:
    """The test fault of the module docstring: refuse a setting the test names."""
    for fault in filter(None, (f.strip() for f in faults.split(","))):
        flag, _sep, value = fault.partition("=")
        if flag in flags and last(flags, flag).lower() == value.lower():
            raise StartupError(f"test fault: this stand-in refuses --{flag}={last(flags, flag)} (KUBEFORT_STANDIN_REFUSE)")


def run_etcd(flags: dict[str, list[str]]) -> None:
    if "config-file" in flags:
        path = last(flags, "config-file")
        flags = config_file_flags(path)
        common.log("etcd", f'I Loading server configuration from "{path}". Other configuration command line flags and '
                           "environment variables will be ignored if provided.")
    refuse_on_test_fault(flags, os.environ.get("KUBEFORT_STANDIN_REFUSE", ""))
    common.require_files("etcd", flags, ETCD_FILE_FLAGS)
    for flag in BOOL_FLAGS & set(flags):
        common.parse_bool(flag, flags[flag][-1])
    client_auth = common.parse_bool("client-cert-auth", last(flags, "client-cert-auth", "false"))
    context = None
    if last(flags, "cert-file"):
        context = common.server_context(last(flags, "cert-file"), last(flags, "key-file"),
                                        last(flags, "trusted-ca-file") or None, require_client=client_auth)
    urls = [u for u in last(flags, "listen-client-urls", "http://localhost:2379").split(",") if u]
    urls += [u for u in last(flags, "listen-metrics-urls").split(",") if u]
    for url in urls:
        parsed = urllib.parse.urlparse(url)
        tls = context if parsed.scheme == "https" else None
        if parsed.scheme == "https" and context is None:
            raise StartupError(f"TLS key/cert (--cert-file, --key-file) must be provided for {url}")
        host = parsed.hostname or "0.0.0.0"
        common.serve("etcd", "127.0.0.1" if host == "localhost" else host, parsed.port or 2379, common.Handler,
                     tls, Etcd())
    data_dir = last(flags, "data-dir")
    if data_dir:
        os.makedirs(data_dir, mode=0o700, exist_ok=True)


def main() -> int:
    argv0 = common.present_as(__file__)
    name = os.path.basename(argv0)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        flags = common.parse_flags(sys.argv[1:], BOOL_FLAGS)
        if name == "etcd":
            run_etcd(with_environment(flags, os.environ))
        elif name in SECURE_PORTS:
            run_control_plane_component(name, flags)
        else:
            raise StartupError(f"started as {name!r}: expected kube-controller-manager, kube-scheduler or etcd")
    except StartupError as exc:
        common.die(name, str(exc))
    common.log(name, "I started")
    common.notify_ready()
    common.wait_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
