#!/usr/bin/env python
"""TEST STAND-IN for the kubelet (NOT the real kubelet): installed as /usr/bin/kubelet in test images.

No kubelet binary can be installed on the test machines, so the podman test nodes run this program
under the unmodified kubelet.service + 10-kubeadm.conf of the official packages. It emulates what the
hardening collection changes and what its tests probe, and nothing else:

* Command line and config like the real kubelet: ``--config`` (a KubeletConfiguration YAML file),
  ``--config-dir`` drop-ins (every ``*.conf`` below it in WalkDir order, merged over it: as a JSON merge
  patch, or, with ``KUBEFORT_STANDIN_KUBELET_VERSION=1.28.x``, decoded with the defaults and overriding
  with non-zero values only, and refused without ``KUBELET_CONFIG_DROPIN_DIR_ALPHA`` on 1.28/1.29),
  flags override both, the last
  occurrence of a flag wins; unknown flags are refused. Defaults differ as in the real kubelet: without
  ``--config`` anonymous auth is on, authorization AlwaysAllow and the read-only port 10255; with a
  config file (v1beta1 defaulting) anonymous off, Webhook and 0.
* Refuses to start (exit 1, one clear log line) where the real one does: unreadable or invalid YAML,
  wrong kind, unknown authorization mode, a port out of range, a bad duration, an unknown TLS cipher
  suite or version, a client CA or serving certificate file that does not exist, and
  ``protectKernelDefaults: true`` when the kernel settings differ (settings written to
  /etc/sysctl.d count as applied, since a container cannot apply them).
* Serves /healthz on healthzBindAddress:healthzPort (plain HTTP, 10248), the authenticated API on
  address:port (HTTPS, 10250; self-signed certificate in --cert-dir when no tlsCertFile): without a
  client certificate signed by clientCAFile a request is anonymous; anonymous off -> 401, anonymous on
  with Webhook -> 403, AlwaysAllow -> 200. Webhook authorization allows every certificate-authenticated
  user (the real one asks the API server). The read-only port (plain HTTP, no auth) only when not 0.
* Runs every static pod manifest in staticPodPath (dotfiles ignored, every other file read, as the real
  kubelet does) as processes with the containers' command + args, each in its own transient systemd unit
  (``kubepods-<pod>-<container>-<hash>``), so that, as with containerd, restarting the kubelet does not
  restart the pods. The directory is re-read every 2 s (KUBEFORT_STANDIN_SYNC_SECONDS); a pod whose spec
  changed (any field, as the real kubelet hashes the whole pod) is stopped and
  started again, a removed one is stopped. Every manifest file loaded is appended
  to /run/kubelet-standin/loaded-manifests.log so tests can prove a backup was never loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import typing as t

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

import standin_common as common
from standin_common import StartupError

NAME = "kubelet"
STATE_DIR = os.environ.get("KUBEFORT_STANDIN_STATE", "/run/kubelet-standin")
UNIT_PREFIX = "kubepods-"

BOOL_FLAGS = {
    "anonymous-auth", "authentication-token-webhook", "protect-kernel-defaults",
    "make-iptables-util-chains", "rotate-certificates", "rotate-server-certificates", "register-node",
    "register-schedulable", "fail-swap-on", "enable-server", "enable-debugging-handlers",
    "cgroups-per-qos", "kernel-memcg-notification", "serialize-image-pulls", "exit-on-lock-contention",
    "keep-terminated-pod-volumes", "enable-controller-attach-detach", "localStorageCapacityIsolation",
    "seccomp-default", "hairpin-mode-bool", "help", "version", "logtostderr", "alsologtostderr",
    "enable-load-reader", "one-output", "skip-headers", "skip-log-headers", "add-dir-header",
}
VALUE_FLAGS = {
    "config", "config-dir", "kubeconfig", "bootstrap-kubeconfig", "cert-dir", "hostname-override",
    "node-ip", "node-labels", "container-runtime-endpoint", "image-service-endpoint",
    "pod-infra-container-image", "authorization-mode", "client-ca-file", "read-only-port", "port",
    "address", "healthz-port", "healthz-bind-address", "pod-manifest-path", "tls-cert-file",
    "tls-private-key-file", "tls-cipher-suites", "tls-min-version", "event-qps", "event-burst",
    "streaming-connection-idle-timeout", "feature-gates", "cgroup-driver", "cluster-dns",
    "cluster-domain", "resolv-conf", "max-pods", "runtime-request-timeout", "v", "vmodule",
    "provider-id", "cloud-provider", "register-with-taints", "root-dir", "eviction-hard",
    "eviction-soft", "eviction-soft-grace-period", "kube-reserved", "system-reserved",
    "authentication-token-webhook-cache-ttl", "authorization-webhook-cache-authorized-ttl",
    "authorization-webhook-cache-unauthorized-ttl", "node-status-update-frequency",
    "file-check-frequency", "sync-frequency", "http-check-frequency", "max-open-files",
    "pod-max-pids", "log-flush-frequency", "logging-format", "lock-file", "volume-plugin-dir",
    "image-gc-high-threshold", "image-gc-low-threshold", "housekeeping-interval",
    "runtime-cgroups", "kubelet-cgroups", "system-cgroups", "topology-manager-policy",
    "cpu-manager-policy", "hairpin-mode", "allowed-unsafe-sysctls", "reserved-cpus",
    "container-log-max-size", "container-log-max-files", "seccomp-default", "node-status-max-images",
}
# flag -> config key path (flags override the config file)
FLAG_KEYS = {
    "anonymous-auth": ("authentication", "anonymous", "enabled"),
    "authentication-token-webhook": ("authentication", "webhook", "enabled"),
    "client-ca-file": ("authentication", "x509", "clientCAFile"),
    "authorization-mode": ("authorization", "mode"),
    "read-only-port": ("readOnlyPort",),
    "port": ("port",),
    "address": ("address",),
    "healthz-port": ("healthzPort",),
    "healthz-bind-address": ("healthzBindAddress",),
    "pod-manifest-path": ("staticPodPath",),
    "tls-cert-file": ("tlsCertFile",),
    "tls-private-key-file": ("tlsPrivateKeyFile",),
    "tls-cipher-suites": ("tlsCipherSuites",),
    "tls-min-version": ("tlsMinVersion",),
    "protect-kernel-defaults": ("protectKernelDefaults",),
    "make-iptables-util-chains": ("makeIPTablesUtilChains",),
    "event-qps": ("eventRecordQPS",),
    "rotate-certificates": ("rotateCertificates",),
    "rotate-server-certificates": ("serverTLSBootstrap",),
    "streaming-connection-idle-timeout": ("streamingConnectionIdleTimeout",),
}
FLAG_ONLY_DEFAULTS = {
    "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}, "x509": {}},
    "authorization": {"mode": "AlwaysAllow"},
    "readOnlyPort": 10255,
}
CONFIG_DEFAULTS = {
    "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True}, "x509": {}},
    "authorization": {"mode": "Webhook"},
    "readOnlyPort": 0,
}
COMMON_DEFAULTS = {
    "port": 10250, "address": "0.0.0.0", "healthzPort": 10248, "healthzBindAddress": "127.0.0.1",
    "protectKernelDefaults": False, "staticPodPath": "",
}
DURATION_KEYS = (
    ("syncFrequency",), ("fileCheckFrequency",), ("httpCheckFrequency",),
    ("streamingConnectionIdleTimeout",), ("nodeStatusUpdateFrequency",), ("nodeStatusReportFrequency",),
    ("imageMinimumGCAge",), ("volumeStatsAggPeriod",), ("cpuManagerReconcilePeriod",),
    ("runtimeRequestTimeout",), ("evictionPressureTransitionPeriod",), ("shutdownGracePeriod",),
    ("shutdownGracePeriodCriticalPods",), ("authentication", "webhook", "cacheTTL"),
    ("authorization", "webhook", "cacheAuthorizedTTL"), ("authorization", "webhook", "cacheUnauthorizedTTL"),
)
GO_DURATION = re.compile(r"^[-+]?(0|(\d+(\.\d*)?(ns|us|µs|ms|s|m|h))+)$")
TLS_VERSIONS = {"VersionTLS10", "VersionTLS11", "VersionTLS12", "VersionTLS13"}
CIPHER_SUITES = common.CIPHER_SUITES
# What protectKernelDefaults requires (pkg/kubelet/cm/container_manager_linux.go).
KERNEL_DEFAULTS = {
    "vm.overcommit_memory": 1, "vm.panic_on_oom": 0, "kernel.panic": 10, "kernel.panic_on_oops": 1,
    "kernel.keys.root_maxkeys": 1000000, "kernel.keys.root_maxbytes": 25000000,
}


# --- configuration ----------------------------------------------------------------------------------


def load_yaml(path: str, what: str) -> dict[str, t.Any]:
    import yaml  # python3-yaml in the image; PyYAML on the controller

    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except OSError as exc:
        raise StartupError(f"failed to load kubelet {what} file, path: {path}, error: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise StartupError(f"failed to load kubelet {what} file, path: {path}, error: invalid YAML: {detail}") from None
    if not isinstance(data, dict):
        raise StartupError(f"failed to load kubelet {what} file, path: {path}, error: not a mapping")
    if data.get("kind") != "KubeletConfiguration" or data.get("apiVersion") not in (
        "kubelet.config.k8s.io/v1beta1", "kubelet.config.k8s.io/v1"
    ):
        raise StartupError(
            f"failed to load kubelet {what} file, path: {path}, error: no kind \"{data.get('kind')}\" is "
            f"registered for version \"{data.get('apiVersion')}\"")
    return data


def merge(base: dict[str, t.Any], over: dict[str, t.Any]) -> dict[str, t.Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def merge_non_zero(base: dict[str, t.Any], over: dict[str, t.Any]) -> dict[str, t.Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict):
            out[key] = merge_non_zero(out.get(key) if isinstance(out.get(key), dict) else {}, value)
        elif value not in (0, False, "", None, [], {}) and not (isinstance(value, str) and re.fullmatch(r"[0.]+[a-zµ]*", value)):
            out[key] = value
    return out


def dropins(config_dir: str) -> list[str]:
    """Files below the directory whose extension (from the last dot of the name) is .conf, in Go's
    filepath.WalkDir order."""
    found = []
    for name in sorted(os.listdir(config_dir)):
        path = os.path.join(config_dir, name)
        if os.path.isdir(path):
            found.extend(dropins(path))
        elif os.path.splitext(name)[1] == ".conf" or name == ".conf":
            found.append(path)
    return found


def get(config: dict[str, t.Any], path: tuple[str, ...]) -> t.Any:
    node: t.Any = config
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def put(config: dict[str, t.Any], path: tuple[str, ...], value: t.Any) -> None:
    node = config
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def effective_config(flags: dict[str, list[str]]) -> dict[str, t.Any]:
    """Defaults, then --config, then --config-dir drop-ins, then flags (last occurrence wins)."""
    config_path = flags.get("config", [""])[-1]
    if config_path:
        config = merge(merge(COMMON_DEFAULTS, CONFIG_DEFAULTS), load_yaml(config_path, "config"))
    else:
        config = merge(COMMON_DEFAULTS, FLAG_ONLY_DEFAULTS)
    config_dir = flags.get("config-dir", [""])[-1]
    if config_dir:
        version = os.environ.get("KUBEFORT_STANDIN_KUBELET_VERSION", "")
        old = re.match(r"v?1\.(28|29)\.", version)
        if old and "KUBELET_CONFIG_DROPIN_DIR_ALPHA" not in os.environ:
            raise StartupError("failed to validate kubelet flags: the KUBELET_CONFIG_DROPIN_DIR_ALPHA environment "
                               "variable must be set to use --config-dir")
        if not os.path.isdir(config_dir):
            raise StartupError(f"failed to load kubelet config dir {config_dir}: no such directory")
        for path in dropins(config_dir):
            data = load_yaml(path, "drop-in config")
            if old and old.group(1) == "28":
                # 1.28: the drop-in is decoded with the defaults, and only non-zero values override.
                config = merge_non_zero(config, merge(merge(COMMON_DEFAULTS, CONFIG_DEFAULTS), data))
            else:
                config = merge(config, data)
    for flag, path in FLAG_KEYS.items():
        if flag not in flags:
            continue
        value: t.Any = flags[flag][-1]
        if flag in BOOL_FLAGS:
            value = common.parse_bool(flag, value)
        elif flag == "tls-cipher-suites":
            value = [v for v in value.split(",") if v]
        put(config, path, value)
    return config


def validate(config: dict[str, t.Any]) -> dict[str, t.Any]:
    """Check what the real kubelet checks for these settings; return the typed settings."""
    mode = get(config, ("authorization", "mode"))
    if mode not in ("AlwaysAllow", "Webhook"):
        raise StartupError(f"invalid configuration: authorization.mode: unknown authorization mode {mode!r} "
                           "(must be AlwaysAllow or Webhook)")
    anonymous = get(config, ("authentication", "anonymous", "enabled"))
    if not isinstance(anonymous, bool):
        anonymous = common.parse_bool("anonymous-auth", anonymous)
    for path in DURATION_KEYS:
        value = get(config, path)
        if value is not None and (not isinstance(value, str) or not GO_DURATION.match(value)):
            raise StartupError(f"failed to decode {'.'.join(path)}: time: invalid duration {value!r}")
    ciphers = get(config, ("tlsCipherSuites",)) or []
    unknown = [c for c in ciphers if c not in CIPHER_SUITES]
    if unknown:
        raise StartupError(f"invalid configuration: tlsCipherSuites: unsupported cipher suite {unknown[0]}")
    tls_min = get(config, ("tlsMinVersion",))
    if tls_min not in (None, "") and tls_min not in TLS_VERSIONS:
        raise StartupError(f"invalid configuration: tlsMinVersion: unknown tls version {tls_min!r}")
    protect = get(config, ("protectKernelDefaults",))
    return {
        "anonymous": anonymous,
        "mode": mode,
        "read_only_port": common.parse_port("readOnlyPort (--read-only-port)", config["readOnlyPort"], True),
        "port": common.parse_port("port (--port)", config["port"], False),
        "healthz_port": common.parse_port("healthzPort (--healthz-port)", config["healthzPort"], True),
        "address": str(config["address"]),
        "healthz_address": str(config["healthzBindAddress"]),
        "client_ca": get(config, ("authentication", "x509", "clientCAFile")) or "",
        "tls_cert": config.get("tlsCertFile") or "",
        "tls_key": config.get("tlsPrivateKeyFile") or "",
        "static_pod_path": config.get("staticPodPath") or "",
        "protect_kernel_defaults": protect if isinstance(protect, bool)
        else common.parse_bool("protect-kernel-defaults", protect),
    }


def written_sysctls() -> dict[str, str]:
    values: dict[str, str] = {}
    files = ["/etc/sysctl.conf"]
    for directory in ("/usr/lib/sysctl.d", "/etc/sysctl.d"):
        if os.path.isdir(directory):
            files += [os.path.join(directory, n) for n in sorted(os.listdir(directory)) if n.endswith(".conf")]
    for path in files:
        try:
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    key, eq, value = line.strip().partition("=")
                    if eq and not key.startswith(("#", ";")):
                        values[key.strip().replace("/", ".")] = value.strip()
        except OSError:
            continue
    return values


def check_kernel_defaults() -> None:
    written = written_sysctls()
    for key, expected in KERNEL_DEFAULTS.items():
        actual = written.get(key)
        if actual is None:
            try:
                with open("/proc/sys/" + key.replace(".", "/"), encoding="ascii") as handle:
                    actual = handle.read().strip()
            except OSError:
                continue
        if str(actual) != str(expected):
            raise StartupError(f"failed to run Kubelet: invalid kernel flag: {key.replace('.', '/')}, "
                               f"expected value: {expected}, actual value: {actual}")


# --- serving ------------------------------------------------------------------------------------------


class Kubelet:
    def __init__(self, settings: dict[str, t.Any], node_name: str) -> None:
        self.settings = settings
        self.node_name = node_name
        self.pods: dict[str, dict[str, t.Any]] = {}

    def pod_list(self) -> dict[str, t.Any]:
        items = [
            {"metadata": {"name": f"{pod['name']}-{self.node_name}", "namespace": pod["namespace"],
                          "annotations": {"kubernetes.io/config.source": "file",
                                          "kubernetes.io/config.hash": pod["hash"]}},
             "spec": pod["spec"], "status": {"phase": "Running"}}
            for pod in self.pods.values()
        ]
        return {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items}

    def authorize(self, identity: tuple[str, list[str]] | None) -> tuple[int, t.Any] | None:
        if identity is None:
            if not self.settings["anonymous"]:
                return 401, "Unauthorized"
            if self.settings["mode"] != "AlwaysAllow":
                return 403, "Forbidden (user=system:anonymous, verb=get, resource=nodes, subresource=proxy)"
        return None

    def endpoints(self, path: str) -> tuple[int, t.Any]:
        path = path.split("?", 1)[0]
        if path in ("/pods", "/pods/"):
            return 200, self.pod_list()
        if path == "/healthz":
            return 200, "ok"
        if path.startswith(("/spec", "/stats", "/metrics", "/configz", "/runningpods")):
            return 200, {}
        return 404, "404 page not found"


class SecureApp:
    def __init__(self, kubelet: Kubelet) -> None:
        self.kubelet = kubelet

    def handle(self, _handler: t.Any, path: str, identity: t.Any) -> tuple[int, t.Any]:
        return self.kubelet.authorize(identity) or self.kubelet.endpoints(path)


class ReadOnlyApp(SecureApp):
    def handle(self, _handler: t.Any, path: str, identity: t.Any) -> tuple[int, t.Any]:
        return self.kubelet.endpoints(path)


class HealthzApp:
    def handle(self, _handler: t.Any, path: str, identity: t.Any) -> tuple[int, t.Any]:
        return (200, "ok") if path.split("?")[0] == "/healthz" else (404, "404 page not found")


# --- static pods ----------------------------------------------------------------------------------------


def unit_safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


def read_manifest(path: str) -> dict[str, t.Any] | None:
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            pod = yaml.safe_load(handle)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        common.log(NAME, f"E could not process manifest file {path}: {' '.join(str(exc).split())}")
        return None
    containers = get(pod, ("spec", "containers")) if isinstance(pod, dict) else None
    if not isinstance(pod, dict) or pod.get("kind") != "Pod" or not isinstance(containers, list) or not containers:
        common.log(NAME, f"E could not process manifest file {path}: not a Pod with containers")
        return None
    return pod


def desired_pods(directory: str) -> dict[str, dict[str, t.Any]]:
    """Pods by unit name, from every non-dot file of the directory (name order, first name wins)."""
    wanted: dict[str, dict[str, t.Any]] = {}
    seen: set[str] = set()
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return wanted
    for name in names:
        path = os.path.join(directory, name)
        if name.startswith(".") or not os.path.isfile(path):
            continue
        pod = read_manifest(path)
        if pod is None:
            continue
        meta = pod.get("metadata") or {}
        pod_name, namespace = str(meta.get("name", "")), str(meta.get("namespace") or "default")
        if f"{namespace}/{pod_name}" in seen:
            common.log(NAME, f"W duplicate static pod {namespace}/{pod_name} in {path}: ignored")
            continue
        seen.add(f"{namespace}/{pod_name}")
        digest = hashlib.sha256(json.dumps(pod, sort_keys=True, default=str).encode()).hexdigest()[:10]
        for container in pod["spec"]["containers"]:
            unit = unit_safe(f"{UNIT_PREFIX}{pod_name}-{container.get('name', 'c')}-{digest}") + ".service"
            wanted[unit] = {"name": pod_name, "namespace": namespace, "hash": digest, "path": path,
                            "spec": pod["spec"], "container": container}
    return wanted


def running_units() -> set[str]:
    out = subprocess.run(
        ["systemctl", "list-units", "--all", "--plain", "--no-legend", "--type=service", f"{UNIT_PREFIX}*"],
        capture_output=True, text=True, check=False).stdout
    units = set()
    for line in out.splitlines():
        fields = line.split()
        if fields and fields[0].startswith(UNIT_PREFIX) and fields[2:3] != ["inactive"]:
            units.add(fields[0])
    return units


def start_unit(unit: str, pod: dict[str, t.Any]) -> None:
    container = pod["container"]
    command = [str(c) for c in (container.get("command") or [])] + [str(a) for a in (container.get("args") or [])]
    if not command:
        common.log(NAME, f"E pod {pod['name']}: container has no command (images are not emulated)")
        return
    executable = command[0] if os.path.isabs(command[0]) else shutil.which(command[0])
    if not executable:
        common.log(NAME, f"E pod {pod['name']}: executable {command[0]!r} not found in $PATH")
        return
    env = [f"--setenv={common.ENV_ARGV0}={command[0]}"]
    image = str(container.get("image") or "")
    if ":" in image.rsplit("/", 1)[-1]:
        env.append(f"--setenv=KUBEFORT_STANDIN_VERSION={image.rsplit(':', 1)[1]}")
    for item in container.get("env") or []:
        if isinstance(item, dict) and "name" in item and "value" in item:
            env.append(f"--setenv={item['name']}={item['value']}")
    description = f"static pod {pod['namespace']}/{pod['name']} from {pod['path']} hash {pod['hash']}"
    subprocess.run(
        ["systemd-run", "--quiet", "--collect", f"--unit={unit}", f"--description={description}",
         "--property=Restart=always", "--property=RestartSec=3", "--property=StartLimitIntervalSec=0",
         *env, "--", executable, *command[1:]],
        check=False)
    common.log(NAME, f"I started static pod {pod['namespace']}/{pod['name']} (unit {unit}) from {pod['path']}")


def record_loaded(pod: dict[str, t.Any]) -> None:
    os.makedirs(STATE_DIR, exist_ok=True)
    with open(os.path.join(STATE_DIR, "loaded-manifests.log"), "a", encoding="utf-8") as handle:
        handle.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {pod['path']} "
                     f"{pod['namespace']}/{pod['name']} {pod['hash']}\n")


def sync_static_pods(kubelet: Kubelet, directory: str) -> None:
    wanted = desired_pods(directory) if directory else {}
    current = running_units()
    for unit in sorted(current - set(wanted)):
        subprocess.run(["systemctl", "stop", unit], check=False)
        common.log(NAME, f"I stopped {unit}: its manifest changed or was removed")
    for unit, pod in wanted.items():
        if unit not in kubelet.pods:
            record_loaded(pod)
        if unit not in current:
            start_unit(unit, pod)
    kubelet.pods = wanted


# --- main -------------------------------------------------------------------------------------------------


def main() -> int:
    common.present_as(__file__)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        flags = common.parse_flags(sys.argv[1:], BOOL_FLAGS, VALUE_FLAGS | BOOL_FLAGS)
        settings = validate(effective_config(flags))
        common.require_files(NAME, {"client-ca-file": [settings["client_ca"]],
                                    "tls-cert-file": [settings["tls_cert"]],
                                    "tls-private-key-file": [settings["tls_key"]]},
                             ("client-ca-file", "tls-cert-file", "tls-private-key-file"))
        if settings["protect_kernel_defaults"]:
            check_kernel_defaults()
        cert, key = settings["tls_cert"], settings["tls_key"]
        if not cert:
            cert_dir = flags.get("cert-dir", ["/var/lib/kubelet/pki"])[-1]
            cert, key = os.path.join(cert_dir, "kubelet.crt"), os.path.join(cert_dir, "kubelet.key")
            if not (os.path.exists(cert) and os.path.exists(key)):
                common.self_signed(cert, key, f"{socket.gethostname()}@{int(time.time())}")
        node_name = flags.get("hostname-override", [socket.gethostname()])[-1]
        kubelet = Kubelet(settings, node_name)
        context = common.server_context(cert, key, settings["client_ca"] or None)
        if settings["healthz_port"]:
            common.serve(NAME, settings["healthz_address"], settings["healthz_port"], common.Handler, None,
                         HealthzApp())
        common.serve(NAME, settings["address"], settings["port"], common.Handler, context, SecureApp(kubelet))
        if settings["read_only_port"]:
            common.serve(NAME, settings["address"], settings["read_only_port"], common.Handler, None,
                         ReadOnlyApp(kubelet))
    except StartupError as exc:
        common.die(NAME, str(exc))
    common.log(NAME, f"I started: anonymous={settings['anonymous']} authorization={settings['mode']} "
                     f"readOnlyPort={settings['read_only_port']} staticPodPath={settings['static_pod_path']}")
    period = float(os.environ.get("KUBEFORT_STANDIN_SYNC_SECONDS", "2"))
    while True:
        sync_static_pods(kubelet, settings["static_pod_path"])
        time.sleep(period)


if __name__ == "__main__":
    sys.exit(main())
