"""Shared plumbing of the TEST STAND-INS for Kubernetes components (not part of the collection).

No kubelet, kube-apiserver or etcd binary can be installed on the test machines, so the podman test nodes
run these small Python programs instead (see tests/standins/README.md). This module holds what they
share: looking like the real process in ``/proc/<pid>/cmdline``, flag parsing in pflag style, TLS
serving with optional client certificates, and Kubernetes-style JSON answers.

Standard library only (the node image has python3 and python3-yaml).
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import typing as t

LIB_DIR = os.path.dirname(os.path.realpath(__file__))
ENV_REEXEC = "KUBEFORT_STANDIN_REEXEC"
ENV_ARGV0 = "KUBEFORT_STANDIN_ARGV0"
ENV_CWD = "KUBEFORT_STANDIN_CWD"
# One-letter aliases of the stand-in scripts, so that the re-executed interpreter's command line is
# never longer than the command line it pretends to have (see present_as).
SHORT_NAMES = {
    "kubelet_standin.py": "k",
    "apiserver_standin.py": "a",
    "components_standin.py": "c",
    "k3s_standin.py": "s",
    "rke2_standin.py": "r",
    "microk8s_standin.py": "m",
}


class StartupError(Exception):
    """The component refuses to start; the message is what the real one would say."""


def log(component: str, message: str) -> None:
    sys.stderr.write(f"{component}-standin: {message}\n")
    sys.stderr.flush()


def die(component: str, message: str) -> t.NoReturn:
    log(component, f"E startup failed: {message}")
    sys.exit(1)


# Go crypto/tls cipher suite names the components accept in --tls-cipher-suites / tlsCipherSuites.
CIPHER_SUITES = {
    "TLS_RSA_WITH_RC4_128_SHA", "TLS_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA", "TLS_RSA_WITH_AES_128_CBC_SHA256", "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA", "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
    "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
}


# --- looking like the real process in /proc ------------------------------------------------------


def _arg_region() -> tuple[int, int]:
    with open("/proc/self/stat", "rb") as stat:
        data = stat.read()
    fields = data[data.rindex(b")") + 2 :].split()
    # fields[0] is field 3 (state); arg_start and arg_end are fields 48 and 49 (proc(5)).
    return int(fields[45]), int(fields[46])


def _set_comm(name: str) -> None:
    """Set /proc/self/comm (what pgrep and ps -C match) like the real binary's, 15 bytes at most."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(15, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass


def present_as(script_file: str) -> str:
    """Make /proc/self/cmdline read exactly ``argv0 args...`` like the real binary; return argv0.

    A script started through its shebang shows ``/usr/bin/python3 /path/script args...``. Discovery
    code reads command lines, so the stand-in re-executes the interpreter with a padded first word and
    a one-letter script alias, making the argument area exactly as long as the wanted command line, and
    then overwrites that area in place through /proc/self/mem (what setproctitle does). The PID stays
    the same, so systemd's MainPID and a kubelet's child PID remain valid.
    """
    args = sys.argv[1:]
    if os.environ.pop(ENV_REEXEC, None) == "1":
        argv0 = os.environ.pop(ENV_ARGV0, "")
        os.chdir(os.environ.pop(ENV_CWD, "/"))
        wanted = b"\0".join(a.encode() for a in [argv0, *args]) + b"\0"
        start, end = _arg_region()
        if end - start == len(wanted):
            with open("/proc/self/mem", "r+b", buffering=0) as mem:
                mem.seek(start)
                mem.write(wanted)
        _set_comm(os.path.basename(argv0))
        return argv0
    argv0 = os.environ.pop(ENV_ARGV0, None) or sys.argv[0]
    short = SHORT_NAMES.get(os.path.basename(os.path.realpath(script_file)))
    if short is None or not os.path.exists(os.path.join(LIB_DIR, short)):
        return argv0
    pad = len(argv0.encode()) - len(short) - 1
    if pad < 1 or os.environ.get("KUBEFORT_STANDIN_NO_REEXEC"):
        return argv0
    env = dict(os.environ)
    env.update({ENV_REEXEC: "1", ENV_ARGV0: argv0, ENV_CWD: os.getcwd()})
    os.chdir(LIB_DIR)
    os.execve(sys.executable, ["x" * pad, short, *args], env)
    raise AssertionError("unreachable")


# --- flags ----------------------------------------------------------------------------------------


def parse_flags(
    args: list[str], bool_flags: t.Collection[str], known: t.Collection[str] | None = None
) -> dict[str, list[str]]:
    """Parse ``--name=value``, ``--name value`` and bare boolean ``--name`` like pflag.

    Returns every occurrence per name in order (the caller decides: last wins, or accumulate).
    Raises StartupError for an unknown flag (when ``known`` is given) or a missing value.
    """
    flags: dict[str, list[str]] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("--") or arg == "--":
            raise StartupError(f"unexpected argument {arg!r}: only --flags are accepted")
        name, eq, value = arg[2:].partition("=")
        if known is not None and name not in known and name not in bool_flags:
            raise StartupError(f"unknown flag: --{name}")
        if not eq:
            if name in bool_flags:
                value = "true"
            elif i < len(args):
                value = args[i]
                i += 1
            else:
                raise StartupError(f"flag needs an argument: --{name}")
        flags.setdefault(name, []).append(value)
    return flags


def parse_bool(name: str, value: t.Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in ("1", "t", "true"):
        return True
    if text in ("0", "f", "false"):
        return False
    raise StartupError(f'invalid argument "{value}" for "--{name}" flag: strconv.ParseBool: parsing '
                       f'"{value}": invalid syntax')


def parse_port(name: str, value: t.Any, allow_zero: bool) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise StartupError(f"{name} must be an integer, got {value!r}")
    try:
        port = int(value)
    except ValueError:
        raise StartupError(f"{name} must be an integer, got {value!r}") from None
    low = 0 if allow_zero else 1
    if not low <= port <= 65535:
        raise StartupError(f"{name} ({port}) must be between {low} and 65535, inclusive")
    return port


def require_files(component: str, flags: dict[str, list[str]], names: t.Iterable[str]) -> None:
    for name in names:
        for path in flags.get(name, []):
            if path and not os.path.isfile(path):
                raise StartupError(f"--{name}: open {path}: no such file or directory")


# --- TLS ----------------------------------------------------------------------------------------------


def self_signed(cert: str, key: str, common_name: str) -> None:
    """Generate a self-signed serving certificate, as the real components do without one."""
    os.makedirs(os.path.dirname(cert), exist_ok=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "365", "-subj", f"/CN={common_name}", "-keyout", key, "-out", cert,
         "-addext", f"subjectAltName=DNS:{socket.gethostname()},DNS:localhost,IP:127.0.0.1"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.chmod(key, 0o600)


def issue(cert: str, key: str, common_name: str, ca: tuple[str, str] | None = None, organization: str = "",
          names: t.Sequence[str] = ()) -> None:
    """A certificate and its key, as installers write them at first start: a CA when ``ca`` is None, else a
    leaf signed by ``ca`` (cert, key) for server and client use, with ``names`` (``IP:...``/``DNS:...``)."""
    for path in (cert, key):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    subject = (f"/O={organization}" if organization else "") + f"/CN={common_name}"
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE}
    if ca is None:
        subprocess.run(["openssl", "req", "-x509", *new_key, "-days", "3650", "-subj", subject, "-out", cert,
                        "-addext", "basicConstraints=critical,CA:TRUE",
                        "-addext", "keyUsage=critical,digitalSignature,keyCertSign,cRLSign"], check=True, **quiet)
    else:
        with tempfile.TemporaryDirectory() as work:
            csr, ext = os.path.join(work, "req.csr"), os.path.join(work, "ext.cnf")
            with open(ext, "w", encoding="utf-8") as handle:
                handle.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                             "extendedKeyUsage=serverAuth,clientAuth\n")
                if names:
                    handle.write("subjectAltName=" + ",".join(names) + "\n")
            subprocess.run(["openssl", "req", "-new", *new_key, "-subj", subject, "-out", csr], check=True, **quiet)
            subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-days", "3650",
                            "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-extfile", ext, "-out", cert],
                           check=True, **quiet)
    os.chmod(key, 0o600)


def kubeconfig(path: str, server: str, ca_cert: str, client_cert: str, client_key: str, mode: int = 0o600,
               name: str = "default") -> None:
    """A kubeconfig with the CA and client credentials embedded, as k3s, RKE2 and microk8s write theirs."""
    import base64

    def data(file: str) -> str:
        with open(file, "rb") as handle:
            return base64.b64encode(handle.read()).decode()

    text = (f"apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {data(ca_cert)}\n"
            f"    server: {server}\n  name: {name}\ncontexts:\n- context:\n    cluster: {name}\n    user: {name}\n"
            f"  name: {name}\ncurrent-context: {name}\npreferences: {{}}\nusers:\n- name: {name}\n  user:\n"
            f"    client-certificate-data: {data(client_cert)}\n    client-key-data: {data(client_key)}\n")
    write_file(path, text, mode)


def write_file(path: str, text: str, mode: int = 0o600) -> None:
    """Write a file whole (temporary file, then rename) with this mode, as the installers do."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def temporary_self_signed(common_name: str) -> tuple[str, str]:
    directory = tempfile.mkdtemp(prefix=f"{common_name}-")
    cert, key = os.path.join(directory, "tls.crt"), os.path.join(directory, "tls.key")
    self_signed(cert, key, common_name)
    return cert, key


def server_context(cert: str, key: str, client_ca: str | None, require_client: bool = False,
                   ciphers: str | None = None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise StartupError(f"failed to load serving certificate {cert} / {key}: {exc}") from None
    if client_ca:
        try:
            context.load_verify_locations(client_ca)
        except (OSError, ssl.SSLError) as exc:
            raise StartupError(f"failed to load client CA {client_ca}: {exc}") from None
        context.verify_mode = ssl.CERT_REQUIRED if require_client else ssl.CERT_OPTIONAL
    if ciphers:
        context.set_ciphers(ciphers)
    return context


def peer_identity(connection: t.Any) -> tuple[str, list[str]] | None:
    """(user, groups) from a verified client certificate: CN is the user, O the groups."""
    getpeercert = getattr(connection, "getpeercert", None)
    cert = getpeercert() if getpeercert else None
    if not cert:
        return None
    user, groups = "", []
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                user = value
            elif key == "organizationName":
                groups.append(value)
    return user, groups


class Server(http.server.ThreadingHTTPServer):
    """HTTP(S) server; the TLS handshake happens in the request thread, not in the accept loop."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type, context: ssl.SSLContext | None,
                 app: t.Any) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.tls_context = context
        self.app = app
        super().__init__(address, handler)

    def finish_request(self, request: t.Any, client_address: t.Any) -> None:
        request.settimeout(15)
        if self.tls_context is not None:
            try:
                request = self.tls_context.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):
                return
        self.RequestHandlerClass(request, client_address, self)


def serve(component: str, address: str, port: int, handler: type, context: ssl.SSLContext | None,
          app: t.Any) -> Server:
    try:
        server = Server((address, port), handler, context, app)
    except OSError as exc:
        raise StartupError(f"failed to listen on {address}:{port}: {exc.strerror or exc}") from None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    scheme = "https" if context else "http"
    log(component, f"I serving {scheme} on {address}:{port}")
    return server


class Handler(http.server.BaseHTTPRequestHandler):
    """Dispatches GET to ``server.app.handle(handler, path, identity)`` -> (code, body)."""

    server_version = "kubefort-standin"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: t.Any) -> None:
        pass

    def do_GET(self) -> None:
        identity = peer_identity(self.connection)
        code, body = self.server.app.handle(self, self.path, identity)
        self.reply(code, body)

    def reply(self, code: int, body: t.Any) -> None:
        if isinstance(body, (dict, list)):
            data, ctype = json.dumps(body).encode(), "application/json"
        else:
            data, ctype = str(body).encode(), "text/plain; charset=utf-8"
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def status(code: int, reason: str, message: str) -> dict[str, t.Any]:
    """A metav1.Status body as the API server and kubelet return it."""
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def notify_ready() -> None:
    """Tell systemd the service is up (Type=notify units, as etcd does), when it asked for it."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return
    address = "\0" + path[1:] if path.startswith("@") else path
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"READY=1", address)


def wait_forever() -> None:
    threading.Event().wait()
