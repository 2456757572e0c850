# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Wait until a Kubernetes component is healthy after a change (node side, standard library only).

Two conditions, both polled until a deadline:
- for a static pod, a process whose /proc/<pid>/cmdline is exactly the manifest's command line and that
  started after the manifest was written (so the kubelet has picked up the change: never a sleep);
- the component's health endpoint answers 200: kubelet /healthz (10248), kube-apiserver /readyz (6443,
  with the client certificate of a kubeconfig, or anonymously), controller manager and scheduler
  /healthz (10257 / 10259), etcd /health on its metrics URL. Ports and addresses come from the command
  line when it names them.
"""

from __future__ import annotations

import base64
import http.client
import os
import re
import shutil
import ssl
import tempfile
import time
import typing as t
import urllib.parse

# component -> (scheme, default port, path, flag naming the port, flag naming the address)
ENDPOINTS: t.Dict[str, t.Tuple[str, int, str, str, str]] = {
    "kubelet": ("http", 10248, "/healthz", "healthz-port", "healthz-bind-address"),
    "kube-apiserver": ("https", 6443, "/readyz", "secure-port", "bind-address"),
    "kube-controller-manager": ("https", 10257, "/healthz", "secure-port", "bind-address"),
    "kube-scheduler": ("https", 10259, "/healthz", "secure-port", "bind-address"),
    "etcd": ("http", 2381, "/health", "", ""),
    "static-pod": ("", 0, "", "", ""),  # any other static pod: its new process is all we check
}
# btime in /proc/stat has whole seconds: a process may look up to 1 s older than it is.
CLOCK_SLACK = 1.1


class HealthError(Exception):
    """The component did not become healthy in time; the message says what was seen last."""


class Process(t.NamedTuple):
    pid: int
    started: float  # epoch seconds


def flag_value(command: t.Sequence[str], name: str) -> t.Optional[str]:
    """The last value of --name in an argv (``--name=v`` or ``--name v``)."""
    value = None
    for index, arg in enumerate(command):
        if arg.startswith("--%s=" % name):
            value = arg.split("=", 1)[1]
        elif arg == "--" + name and index + 1 < len(command):
            value = command[index + 1]
    return value


def endpoint_url(component: str, command: t.Sequence[str], host: t.Optional[str], port: t.Optional[int]) -> t.Optional[str]:
    if component == "static-pod":
        return None
    if component == "etcd":
        if host or port:
            return "http://%s:%d/health" % (host or "127.0.0.1", port or 2381)
        urls = [u for u in (flag_value(command, "listen-metrics-urls") or "").split(",") if u.startswith("http://")]
        return urls[0].rstrip("/") + "/health" if urls else None
    scheme, default_port, path, port_flag, address_flag = ENDPOINTS[component]
    if port is None:
        port = int(flag_value(command, port_flag) or default_port) if port_flag else default_port
    if host is None:
        bound = flag_value(command, address_flag) if address_flag else None
        host = bound if bound and bound not in ("0.0.0.0", "::") else "127.0.0.1"
    if ":" in host:
        host = "[%s]" % host
    return "%s://%s:%d%s" % (scheme, host, port, path)


def _boot_time() -> float:
    with open("/proc/stat") as handle:
        for line in handle:
            if line.startswith("btime "):
                return float(line.split()[1])
    raise HealthError("/proc/stat has no btime")


def _processes(proc: str, keep: t.Callable[[t.List[bytes]], t.Optional[t.List[bytes]]]) -> t.List[t.Tuple[Process, t.List[bytes]]]:
    """One scan of ``proc``: the processes whose argv ``keep`` accepts (it returns the argv to keep, or None),
    oldest first, with their start time from /proc/<pid>/stat."""
    ticks = os.sysconf("SC_CLK_TCK")
    boot = _boot_time()
    found = []
    for name in os.listdir(proc):
        if not name.isdigit():
            continue
        try:
            with open(os.path.join(proc, name, "cmdline"), "rb") as handle:
                kept = keep(handle.read().rstrip(b"\0").split(b"\0"))
            if kept is None:
                continue
            with open(os.path.join(proc, name, "stat"), "rb") as handle:
                stat = handle.read()
        except OSError:
            continue  # the process ended while we looked
        start_ticks = int(stat[stat.rindex(b")") + 2:].split()[19])  # field 22, starttime
        found.append((Process(int(name), boot + start_ticks / ticks), kept))
    return sorted(found, key=lambda p: p[0].started)


def processes_with_command(command: t.Sequence[str], proc: str = "/proc") -> t.List[Process]:
    """Processes whose argv is exactly ``command`` (trailing NUL padding ignored)."""
    wanted = [c.encode() for c in command]
    return [found for found, _argv in _processes(proc, lambda argv: argv if argv == wanted else None)]


def program_of(argv: t.Sequence[bytes]) -> t.Tuple[str, t.List[bytes]]:
    """The program name of an argv (a script run by python is named by the script), and its argv."""
    words = list(argv)
    program = os.path.basename(words[0].decode("utf-8", "replace")) if words else ""
    if program.startswith("python") and len(words) > 1:
        words = words[1:]
        program = os.path.basename(words[0].decode("utf-8", "replace"))
    return program, words


def processes_of_program(program: str, proc: str = "/proc") -> t.List[t.Tuple[Process, t.List[str]]]:
    """Processes running ``program`` (by argv[0]'s base name), oldest first, with their argv."""
    def keep(raw: t.List[bytes]) -> t.Optional[t.List[bytes]]:
        found, argv = program_of(raw)
        return argv if found == program else None

    return [(found, [w.decode("utf-8", "replace") for w in argv]) for found, argv in _processes(proc, keep)]


def _decode_data(value: str) -> bytes:
    return base64.b64decode(value.strip().strip('"'))


def kubeconfig_credentials(path: str) -> t.Dict[str, bytes]:
    """CA, client certificate and key of a kubeconfig (its first user), as PEM bytes.

    kubeconfigs that kubeadm and the distributions write have one cluster and one user, with the data
    embedded (``*-data``) or as file paths; this reads the first occurrence of each key without YAML.
    """
    with open(path) as handle:
        text = handle.read()
    creds: t.Dict[str, bytes] = {}
    for key, name in (("certificate-authority", "ca"), ("client-certificate", "cert"), ("client-key", "key")):
        match = re.search(r"^\s*%s-data:\s*(\S+)\s*$" % key, text, re.M)
        if match:
            creds[name] = _decode_data(match.group(1))
            continue
        match = re.search(r"^\s*%s:\s*(\S+)\s*$" % key, text, re.M)
        if match:
            file_path = match.group(1).strip('"\'')
            if not os.path.isabs(file_path):
                file_path = os.path.join(os.path.dirname(path), file_path)
            with open(file_path, "rb") as handle:
                creds[name] = handle.read()
    if "cert" not in creds:
        # A user with a bearer token (microk8s' client.config): sent only over TLS.
        match = re.search(r"^\s*token:\s*(\S+)\s*$", text, re.M)
        if match:
            creds["token"] = match.group(1).strip('"\'').encode()
    return creds


class Prober:
    """GET one URL; with a kubeconfig, present its client certificate (or bearer token) and verify the
    server's CA. ``ca_file``/``cert_file``/``key_file`` do the same from files on the node (etcd)."""

    def __init__(self, kubeconfig: t.Optional[str], ca_file: t.Optional[str] = None, cert_file: t.Optional[str] = None,
                 key_file: t.Optional[str] = None) -> None:
        self.context = ssl.create_default_context()
        # Loopback or the node's own address: the name is not checked, the CA is when we have it.
        self.context.check_hostname = False
        self.context.verify_mode = ssl.CERT_NONE
        self.tempdir: t.Optional[str] = None
        self.authenticated = False
        self.token: t.Optional[str] = None
        if kubeconfig and os.path.exists(kubeconfig):
            self._load(kubeconfig)
        if ca_file:
            self.context.verify_mode = ssl.CERT_REQUIRED
            self.context.load_verify_locations(cafile=ca_file)
        if cert_file and key_file:
            self.context.load_cert_chain(cert_file, key_file)
            self.authenticated = True

    def _load(self, kubeconfig: str) -> None:
        creds = kubeconfig_credentials(kubeconfig)
        if "token" in creds:
            self.token = creds["token"].decode("utf-8", "replace")
            self.authenticated = True
        if "ca" in creds:
            self.context.verify_mode = ssl.CERT_REQUIRED
            self.context.load_verify_locations(cadata=creds["ca"].decode("ascii", "replace"))
        if "cert" in creds and "key" in creds:
            self.tempdir = tempfile.mkdtemp(prefix="kubefort-health-")
            cert, key = os.path.join(self.tempdir, "tls.crt"), os.path.join(self.tempdir, "tls.key")
            for file_path, data in ((cert, creds["cert"]), (key, creds["key"])):
                fd = os.open(file_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
            self.context.load_cert_chain(cert, key)
            self.authenticated = True

    def close(self) -> None:
        if self.tempdir:
            shutil.rmtree(self.tempdir, ignore_errors=True)

    def get(self, url: str) -> t.Tuple[t.Optional[int], str]:
        """(HTTP status or None, short description of the answer)."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme == "https":
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                parts.hostname, parts.port, timeout=5, context=self.context)
        else:
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        try:
            headers = {"Authorization": "Bearer %s" % self.token} if self.token and parts.scheme == "https" else {}
            connection.request("GET", parts.path or "/", headers=headers)
            answer = connection.getresponse()
            body = answer.read(200).decode("utf-8", "replace").strip()
        except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
            return None, str(getattr(exc, "reason", None) or exc)
        finally:
            connection.close()
        if answer.status == 200:
            return 200, body
        return answer.status, "HTTP %d %s" % (answer.status, body)


def wait_healthy(
    component: str,
    command: t.Sequence[str],
    started_after: t.Optional[float],
    timeout: float,
    kubeconfig: t.Optional[str] = None,
    host: t.Optional[str] = None,
    port: t.Optional[int] = None,
    interval: float = 1.0,
    proc: str = "/proc",
    clock: t.Callable[[], float] = time.time,
    sleep: t.Callable[[float], None] = time.sleep,
) -> t.Dict[str, t.Any]:
    """Poll until the (new) process exists and the endpoint answers 200; raise HealthError at the deadline."""
    if component not in ENDPOINTS:
        raise HealthError("unknown component %r: use one of %s" % (component, ", ".join(sorted(ENDPOINTS))))
    url = endpoint_url(component, command, host, port)
    prober = Prober(kubeconfig if component == "kube-apiserver" else None)
    start = clock()
    deadline = start + timeout
    last_process = "no process checked"
    last_answer = "not probed yet"
    try:
        while True:
            process = None
            process_ok = not command
            if command:
                candidates = processes_with_command(command, proc)
                fresh = [p for p in candidates if started_after is None or p.started >= started_after - CLOCK_SLACK]
                if fresh:
                    process, process_ok = fresh[-1], True
                else:
                    last_process = ("no process runs the manifest's command line" if not candidates else
                                    "only processes started before the change run the manifest's command line (PIDs %s)"
                                    % ", ".join(str(p.pid) for p in candidates))
            if process_ok and url:
                code, answer = prober.get(url)
                last_answer = "%s answered %s" % (url, answer if code is None or code != 200 else "200")
                if code == 200 and (process is None or os.path.exists(os.path.join(proc, str(process.pid)))):
                    return {
                        "healthy": True, "component": component, "url": url, "status": code,
                        "pid": process.pid if process else None,
                        "started": process.started if process else None,
                        "authenticated": prober.authenticated, "elapsed": round(clock() - start, 2),
                    }
            elif process_ok:
                return {"healthy": True, "component": component, "url": None, "status": None,
                        "pid": process.pid if process else None, "started": process.started if process else None,
                        "authenticated": False, "elapsed": round(clock() - start, 2)}
            if clock() >= deadline:
                seen = last_answer if process_ok else last_process
                raise HealthError("%s did not become healthy within %d s: %s" % (component, timeout, seen))
            sleep(interval)
    finally:
        prober.close()
