#!/usr/bin/env python
"""TEST STAND-IN for microk8s' kubelite and what starts it (NOT microk8s): linked into a podman test node as
``/usr/bin/snap``, ``/snap/microk8s/<rev>/kubelite`` and ``/snap/microk8s/<rev>/bin/k8s-dqlite``.

No snap can be installed on the test machines, so the microk8s test node runs this program under the units
snapd writes for the microk8s snap (``snap.microk8s.daemon-kubelite.service``,
``snap.microk8s.daemon-k8s-dqlite.service``, ``ExecStart=/usr/bin/snap run microk8s.daemon-<app>``,
``Restart=on-failure``). The program is selected by the name it is started as:

* ``snap run microk8s.daemon-kubelite`` / ``microk8s.daemon-k8s-dqlite``: sets ``SNAP``, ``SNAP_DATA``,
  ``SNAP_COMMON``, ``SNAP_REVISION`` as snapd does and, like microk8s' ``run-kubelite-with-args`` wrapper,
  replaces itself (exec, same PID) with ``$SNAP/kubelite`` (``$SNAP/bin/k8s-dqlite``) and the words of
  ``$SNAP_DATA/args/kubelite`` (``args/k8s-dqlite``), shell-split with ``$VARS`` expanded.
* ``kubelite``: as microk8s' kubelite (its patch to Kubernetes, cmd/kubelite): the flags
  ``--apiserver-args-file``, ``--kubelet-args-file``, ... (defaults under ``/var/snap/microk8s/current/args``),
  ``--kubeconfig-file``, ``--start-control-plane``; each args file read as kubelite reads it (one or more
  words per line, ``#`` lines and blank lines skipped, every ``"`` and ``'`` removed, ``$VARS`` expanded).
  With the control plane it starts the API server (the API server stand-in's flag checks and HTTPS API,
  ``/readyz`` needing k8s-dqlite's socket), waits until ``/healthz`` answers to the ``--kubeconfig-file``
  credentials, then starts the kubelet (the kubelet stand-in's flag and config checks, ``/healthz``, 10250,
  the read-only port). When a component fails to start, kubelite logs ``Kubelet exited <error>`` (``API
  Server exited``) and the whole process exits with status 255 (klog.Fatalf), so systemd restarts it.
* ``k8s-dqlite``: accepts connections on its ``--listen`` ``unix://`` socket (kine.sock:12379), nothing more.
* ``microk8s_standin.py install``: what the snap's install hook leaves under ``$SNAP_DATA``: the CA, the
  API server's serving certificate, the front-proxy CA and client, the service-account key, the kubelet
  client certificate of the API server, and the ``credentials/*.config`` kubeconfigs with client
  certificates (``client.config`` for ``admin``, group ``system:masters``); kept when already there.

Not emulated: the controller manager, scheduler and kube-proxy inside kubelite, containerd, dqlite itself,
clustering, add-ons.
"""

from __future__ import annotations

import base64
import os
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

import apiserver_standin as apiserver
import kubelet_standin as kubelet
import standin_common as common
import yaml
from standin_common import StartupError

SNAP_ROOT = "/snap/microk8s"
DATA_ROOT = "/var/snap/microk8s"
VERSION = "v1.33.4"
KUBELITE_DEFAULTS = {
    "scheduler-args-file": DATA_ROOT + "/current/args/kube-scheduler",
    "controller-manager-args-file": DATA_ROOT + "/current/args/kube-controller-manager",
    "proxy-args-file": DATA_ROOT + "/current/args/kube-proxy",
    "kubelet-args-file": DATA_ROOT + "/current/args/kubelet",
    "apiserver-args-file": DATA_ROOT + "/current/args/kube-apiserver",
    "kubeconfig-file": DATA_ROOT + "/current/credentials/client.config",
    "start-control-plane": "true",
}
FATAL_EXIT = 255  # klog.Fatalf


def snap_env() -> dict[str, str]:
    revision = os.path.basename(os.path.realpath(SNAP_ROOT + "/current"))
    return {"SNAP": f"{SNAP_ROOT}/{revision}", "SNAP_DATA": f"{DATA_ROOT}/{revision}", "SNAP_COMMON": DATA_ROOT + "/common",
            "SNAP_NAME": "microk8s", "SNAP_REVISION": revision}


def snap_run(argv: list[str]) -> None:
    """``snap run microk8s.daemon-<app>``: exec the app with its args file, as the snap's wrappers do."""
    if len(argv) < 2 or argv[0] != "run" or not argv[1].startswith("microk8s.daemon-"):
        raise StartupError("the snap stand-in knows only 'snap run microk8s.daemon-<app>'")
    app = argv[1][len("microk8s.daemon-"):]
    env = dict(os.environ, **snap_env())
    program = {"kubelite": env["SNAP"] + "/kubelite", "k8s-dqlite": env["SNAP"] + "/bin/k8s-dqlite"}.get(app)
    if program is None:
        raise StartupError(f"snap run: microk8s has no daemon {app!r} in this stand-in")
    try:
        with open(os.path.join(env["SNAP_DATA"], "args", app), encoding="utf-8") as handle:
            words = shlex.split(handle.read(), comments=True)
    except OSError as exc:
        raise StartupError(f"cannot read the {app} args file: {exc}") from None
    old = dict(os.environ)
    os.environ.update(env)
    words = [os.path.expandvars(w) for w in words]
    os.environ.clear()
    os.environ.update(old)
    os.execve(program, [program, *words], env)


def read_args_file(path: str) -> list[str]:
    """kubelite's ReadArgsFromFile: words per line, comments and blank lines skipped, quotes removed."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise StartupError(f"Failed to open arguments file {exc}") from None
    args = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = line.replace('"', "").replace("'", "")
        args.extend(os.path.expandvars(part) for part in line.split(" "))
    return args


def kubeconfig_context(path: str) -> ssl.SSLContext:
    with open(path, encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    user = config["users"][0]["user"]
    cluster = config["clusters"][0]["cluster"]
    context = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    context.check_hostname = False
    directory = os.path.join("/run", "kubelite-standin")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    cert, key = os.path.join(directory, "client.crt"), os.path.join(directory, "client.key")
    for file, field in ((cert, "client-certificate-data"), (key, "client-key-data")):
        common.write_file(file, base64.b64decode(user[field]).decode(), 0o600)
    context.load_cert_chain(cert, key)
    return context


def wait_for_api_server(kubeconfig: str, port: int, timeout: float = 360.0) -> None:
    """kubelite's WaitForAPIServer: /healthz with the --kubeconfig-file credentials."""
    common.log("kubelite", "I Waiting for the API server")
    context = kubeconfig_context(kubeconfig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", context=context, timeout=3) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    fatal("the API server did not answer /healthz within %d s" % timeout)


def fatal(message: str) -> None:
    common.log("kubelite", "F " + message)
    sys.exit(FATAL_EXIT)


def start_api_server(args: list[str]) -> int:
    common.log("kubelite", "I Starting API Server")
    try:
        flags = common.parse_flags(args, apiserver.BOOL_FLAGS, apiserver.VALUE_FLAGS | apiserver.BOOL_FLAGS)
        settings = apiserver.settings_from(flags, apiserver.version_tuple(VERSION))
        cert, key = apiserver.last(flags, "tls-cert-file"), apiserver.last(flags, "tls-private-key-file")
        context = common.server_context(cert, key, settings["client_ca"])
        common.serve("kubelite", settings["bind"], settings["port"], common.Handler, context,
                     apiserver.ApiServer(settings, VERSION))
    except StartupError as exc:
        fatal(f"API Server exited {exc}")
    return settings["port"]


def start_kubelet(args: list[str]) -> None:
    common.log("kubelite", "I Starting Kubelet")
    os.environ.setdefault("KUBEFORT_STANDIN_KUBELET_VERSION", VERSION)
    try:
        flags = common.parse_flags(args, kubelet.BOOL_FLAGS, kubelet.VALUE_FLAGS | kubelet.BOOL_FLAGS)
        settings = kubelet.validate(kubelet.effective_config(flags))
        common.require_files("kubelet", {"client-ca-file": [settings["client_ca"]]}, ("client-ca-file",))
        cert, key = settings["tls_cert"], settings["tls_key"]
        if not cert:
            cert_dir = flags.get("cert-dir", ["/var/lib/kubelet/pki"])[-1]
            cert, key = os.path.join(cert_dir, "kubelet.crt"), os.path.join(cert_dir, "kubelet.key")
            if not (os.path.exists(cert) and os.path.exists(key)):
                common.self_signed(cert, key, f"{socket.gethostname()}@{int(time.time())}")
        node = kubelet.Kubelet(settings, flags.get("hostname-override", [socket.gethostname()])[-1])
        context = common.server_context(cert, key, settings["client_ca"] or None)
        if settings["healthz_port"]:
            common.serve("kubelite", settings["healthz_address"], settings["healthz_port"], common.Handler, None,
                         kubelet.HealthzApp())
        common.serve("kubelite", settings["address"], settings["port"], common.Handler, context, kubelet.SecureApp(node))
        if settings["read_only_port"]:
            common.serve("kubelite", settings["address"], settings["read_only_port"], common.Handler, None,
                         kubelet.ReadOnlyApp(node))
    except StartupError as exc:
        fatal(f"Kubelet exited {exc}")
    common.log("kubelite", f"I kubelet running: anonymous={settings['anonymous']} authorization={settings['mode']} "
                           f"readOnlyPort={settings['read_only_port']}")


def kubelite(argv: list[str]) -> None:
    flags = common.parse_flags(argv, {"start-control-plane"}, set(KUBELITE_DEFAULTS))
    options = {name: flags.get(name, [default])[-1] for name, default in KUBELITE_DEFAULTS.items()}
    print("Starting kubelite", file=sys.stderr, flush=True)
    if common.parse_bool("start-control-plane", options["start-control-plane"]):
        port = start_api_server(read_args_file(options["apiserver-args-file"]))
        wait_for_api_server(options["kubeconfig-file"], port)
        common.log("kubelite", "I the controller manager and scheduler are not emulated")
    start_kubelet(read_args_file(options["kubelet-args-file"]))
    common.wait_forever()


def k8s_dqlite(argv: list[str]) -> None:
    flags = common.parse_flags(argv, set(), None)
    listen = flags.get("listen", ["unix://" + DATA_ROOT + "/current/var/kubernetes/backend/kine.sock:12379"])[-1]
    if not listen.startswith("unix://"):
        raise StartupError(f"--listen {listen}: only unix:// sockets are emulated")
    path = listen[len("unix://"):]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.exists(path):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(16)
    common.log("k8s-dqlite", f"I listening on {listen}")
    while True:
        connection, _address = server.accept()
        connection.close()


def install() -> None:
    """What the snap's install hook generates under $SNAP_DATA (kept when there)."""
    env = snap_env()
    certs, creds = env["SNAP_DATA"] + "/certs", env["SNAP_DATA"] + "/credentials"
    if os.path.exists(creds + "/client.config"):
        return
    ca = (certs + "/ca.crt", certs + "/ca.key")
    common.issue(*ca, "10.152.183.1")
    host = socket.gethostname()
    names = ["IP:127.0.0.1", "IP:10.152.183.1", "DNS:localhost", "DNS:kubernetes", "DNS:kubernetes.default", "DNS:" + host]
    common.issue(certs + "/server.crt", certs + "/server.key", "127.0.0.1", ca, "", names)
    proxy_ca = (certs + "/front-proxy-ca.crt", certs + "/front-proxy-ca.key")
    common.issue(*proxy_ca, "front-proxy-ca")
    common.issue(certs + "/front-proxy-client.crt", certs + "/front-proxy-client.key", "front-proxy-client", proxy_ca)
    common.issue(certs + "/apiserver-kubelet-client.crt", certs + "/apiserver-kubelet-client.key",
                 "kube-apiserver-kubelet-client", ca, "system:masters")
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-out", certs + "/serviceaccount.key"], check=True, capture_output=True)
    os.chmod(certs + "/serviceaccount.key", 0o600)
    for name, cn, org in (("client", "admin", "system:masters"), ("kubelet", "system:node:" + host, "system:nodes"),
                          ("proxy", "system:kube-proxy", ""), ("scheduler", "system:kube-scheduler", ""),
                          ("controller", "system:kube-controller-manager", "")):
        cert, key = f"{certs}/{name}.crt", f"{certs}/{name}.key"
        common.issue(cert, key, cn, ca, org)
        common.kubeconfig(f"{creds}/{name}.config", "https://127.0.0.1:16443", ca[0], cert, key, 0o600, "microk8s-cluster")


def main() -> int:
    name = os.path.basename(sys.argv[0])
    try:
        if name == "snap":
            snap_run(sys.argv[1:])
        if name == "microk8s_standin.py" and sys.argv[1:2] == ["install"]:
            install()
            return 0
        argv0 = common.present_as(__file__)
        name = os.path.basename(argv0)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        if name == "kubelite":
            kubelite(sys.argv[1:])
        elif name == "k8s-dqlite":
            k8s_dqlite(sys.argv[1:])
        else:
            raise StartupError(f"started as {name!r}: expected snap, kubelite, k8s-dqlite or 'install'")
    except StartupError as exc:
        common.log(name, f"F {exc}")
        return FATAL_EXIT
    return 0


if __name__ == "__main__":
    sys.exit(main())
