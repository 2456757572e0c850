"""Run the real Kubernetes binaries (kube-apiserver, kubelet) on a node tree kubefort wrote.

Each test node is a set of private namespaces (mount, network, PID; ``unshare``) whose PID 1 is
``nsinit.py``. Inside it the node tree (an offline copy kubefort audited or fixed) is bind-mounted at
the real paths (``/etc/kubernetes``, ``/var/lib/kubelet``) over writable overlays of the host's
``/etc``, ``/var/lib`` and ``/var/log``, with ``/run`` on a tmpfs, and the node's IP on ``lo``, so every
component reads exactly the files and command line kubefort left, at the paths they name. The API
server runs chrooted in a root that holds only its pod's ``hostPath`` volumes at their ``mountPath``
(a file kubefort adds but does not mount is not there). The test reaches ports inside through sockets
it created on the host's loopback (runtime-chosen ports) and passed down.

Nothing is left behind: the namespaces die with their PID 1 (and take every process and mount with
them); the host sysctls the kubelet changes (``vm.overcommit_memory``, ``kernel.panic`` …) are put back
after each kubelet; and ``guard.py``, in its own session, does both again when the test process ends
in any way (failure, Ctrl-C, SIGKILL).

Binaries: the directory ``KUBEFORT_K8S_BINARIES`` names (``vX.Y.Z/{kube-apiserver,kubelet}.xz`` and
``SHA256SUMS``), by default ``../shared/k8s`` beside the checkout (``../../shared/k8s`` for a git
worktree under ``wt/``); unpacked once into ``.build/k8s/<sha256>/``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import typing as t

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CACHE = os.path.join(REPO, ".build", "k8s")
ENV_VAR = "KUBEFORT_K8S_BINARIES"
NEEDED_TOOLS = ("unshare", "mount", "ip", "xz", "etcd", "containerd", "runc", "openssl")
# Host sysctls the kubelet sets (not namespaced): saved before it starts, written back after.
SYSCTLS = ("vm.overcommit_memory", "kernel.panic", "kernel.panic_on_oops", "kernel.keys.root_maxkeys",
           "kernel.keys.root_maxbytes")
# Flags the harness adds after the node's own, because this test machine is not a full node: no systemd
# (cgroupfs driver), and no pods are run (no QoS cgroups, nothing to enforce). None of them touches what
# the tests look at (ports, authentication, authorization).
KUBELET_TEST_FLAGS = ("--cgroup-driver=cgroupfs", "--cgroups-per-qos=false", "--enforce-node-allocatable=",
                      "--fail-swap-on=false", "--container-runtime-endpoint=unix:///run/containerd/containerd.sock")


# Any HTTP status: the server is up (what it answers is for the test to judge).
ANSWERED = tuple(range(100, 600))


class HarnessError(Exception):
    pass


# --- binaries ----------------------------------------------------------------------------------------


def binaries_dir() -> t.Tuple[t.Optional[str], str]:
    """The directory with the real binaries, or None and why not."""
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        if os.path.isfile(os.path.join(explicit, "v1.28.7", "SHA256SUMS")):
            return explicit, ""
        return None, "%s=%s holds no v1.28.7/SHA256SUMS" % (ENV_VAR, explicit)
    for candidate in (os.path.join(REPO, "..", "shared", "k8s"), os.path.join(REPO, "..", "..", "shared", "k8s")):
        if os.path.isfile(os.path.join(candidate, "v1.28.7", "SHA256SUMS")):
            return os.path.realpath(candidate), ""
    return None, "no real Kubernetes binaries: set %s to a directory holding v1.28.7/{kube-apiserver,kubelet}.xz and SHA256SUMS" % ENV_VAR


def missing_requirements() -> t.List[str]:
    """What this machine lacks to run the real components (empty when all is there)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (namespaces, mounts, sysctls)")
    missing.extend("the %s command" % tool for tool in NEEDED_TOOLS if shutil.which(tool) is None)
    return missing


def binary(name: str, version: str = "v1.28.7") -> str:
    """Path of the unpacked binary, checked against SHA256SUMS; unpacked once per digest."""
    source, reason = binaries_dir()
    if source is None:
        raise HarnessError(reason)
    sums = {}
    with open(os.path.join(source, version, "SHA256SUMS")) as handle:
        for line in handle:
            if line.strip():
                digest, file_name = line.split()
                sums[file_name.lstrip("*")] = digest
    digest = sums[name]
    target = os.path.join(CACHE, digest, name)
    if os.path.exists(target):
        return target
    os.makedirs(os.path.dirname(target), exist_ok=True)
    partial = "%s.%d.partial" % (target, os.getpid())
    hasher = hashlib.sha256()
    with open(os.path.join(source, version, name + ".xz"), "rb") as src, open(partial, "wb") as out:
        proc = subprocess.Popen(["xz", "-dc"], stdin=src, stdout=subprocess.PIPE)
        assert proc.stdout is not None
        for chunk in iter(lambda: proc.stdout.read(1 << 20), b""):
            hasher.update(chunk)
            out.write(chunk)
        if proc.wait() != 0:
            raise HarnessError("xz could not unpack %s" % name)
    if hasher.hexdigest() != digest:
        os.unlink(partial)
        raise HarnessError("%s does not match SHA256SUMS" % name)
    os.chmod(partial, 0o755)
    os.replace(partial, target)
    return target


# --- the guard ---------------------------------------------------------------------------------------


def read_sysctls() -> t.Dict[str, str]:
    values = {}
    for name in SYSCTLS:
        with open("/proc/sys/" + name.replace(".", "/")) as handle:
            values[name] = handle.read().strip()
    return values


def write_sysctls(values: t.Mapping[str, str]) -> None:
    for name, value in values.items():
        path = "/proc/sys/" + name.replace(".", "/")
        with open(path) as handle:
            if handle.read().strip() == value:
                continue
        with open(path, "w") as handle:
            handle.write(value)


class Guard:
    """``guard.py`` in its own session: puts everything back when this process ends, however."""

    def __init__(self) -> None:
        self.sysctls = read_sysctls()
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "guard.py")], stdin=subprocess.PIPE,
                                     start_new_session=True, text=True)
        self.send({"sysctls": self.sysctls})

    def send(self, message: t.Mapping[str, t.Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        self.proc.wait(30)


_GUARD: t.Optional[Guard] = None


def guard() -> Guard:
    global _GUARD
    if _GUARD is None or _GUARD.proc.poll() is not None:
        _GUARD = Guard()
    return _GUARD


def _die_with_parent() -> None:
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


# --- HTTP ----------------------------------------------------------------------------------------------


def http_get(port: int, path: str, tls: bool = True, cert: t.Optional[t.Tuple[str, str]] = None,
             timeout: float = 10.0) -> t.Tuple[int, bytes]:
    """GET on a host loopback port; (status, body), or (0, error text) when nothing answers."""
    try:
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            if cert:
                context.load_cert_chain(*cert)
            conn: http.client.HTTPConnection = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=context)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        conn.close()
        return response.status, body
    except (OSError, http.client.HTTPException) as exc:
        return 0, str(exc).encode()


# --- a test node ---------------------------------------------------------------------------------------


def node_ip(tree: str) -> str:
    """The node's own address, as its kubeconfigs and certificates name it (kubeadm's advertise address)."""
    for rel in ("etc/kubernetes/kubelet.conf", "etc/kubernetes/bootstrap-kubelet.conf", "etc/kubernetes/admin.conf"):
        path = os.path.join(tree, rel)
        if os.path.exists(path):
            with open(path) as handle:
                server = yaml.safe_load(handle)["clusters"][0]["cluster"]["server"]
            return server.split("//", 1)[1].rsplit(":", 1)[0]
    return "192.0.2.10"


class Node:
    """One test node: namespaces, mounts, port relays, processes. Use as a context manager."""

    def __init__(self, tree: str, ports: t.Mapping[str, str], address: t.Optional[str] = None) -> None:
        self.tree = os.path.realpath(tree)
        self.address = address or node_ip(tree)
        self.scratch = tempfile.mkdtemp(prefix="kubefort-real-")
        self.status_path = os.path.join(self.scratch, "status.json")
        self.ports_spec = dict(ports)  # name -> "tcp:IP:PORT" inside
        self.host_ports: t.Dict[str, int] = {}
        self.processes: t.List[t.Dict[str, t.Any]] = []
        self.mounts: t.List[t.Dict[str, str]] = [
            {"type": "overlay", "target": "/etc"},
            {"type": "overlay", "target": "/var/lib"},
            {"type": "overlay", "target": "/var/log"},
            {"type": "tmpfs", "target": "/run"},
        ]
        for rel in ("etc/kubernetes", "var/lib/kubelet", "etc/default"):
            if os.path.isdir(os.path.join(self.tree, rel)):
                self.mounts.append({"type": "bind", "source": os.path.join(self.tree, rel), "target": "/" + rel})
        self.proc: t.Optional[subprocess.Popen] = None
        self.sysctls: t.Optional[t.Dict[str, str]] = None
        self._listeners: t.List[socket.socket] = []
        guard().send({"dir": self.scratch})

    # processes -------------------------------------------------------------------------------------

    def log(self, name: str) -> str:
        return os.path.join(self.scratch, name + ".log")

    def add_process(self, name: str, argv: t.Sequence[str], env: t.Optional[t.Mapping[str, str]] = None,
                    chroot: t.Optional[str] = None, binds: t.Sequence[t.Mapping[str, t.Any]] = (),
                    executable: t.Optional[str] = None) -> None:
        self.processes.append({"name": name, "argv": list(argv), "env": dict(env or {}), "log": self.log(name),
                               "chroot": chroot, "binds": list(binds), "executable": executable})

    def add_etcd(self) -> None:
        """etcd for the API server, on 127.0.0.1:2379 inside the node, with the node's etcd PKI (mTLS)."""
        pki = "/etc/kubernetes/pki/etcd"
        self.add_process("etcd", [
            shutil.which("etcd") or "etcd", "--name=test", "--data-dir=/var/lib/etcd",
            "--listen-client-urls=https://127.0.0.1:2379", "--advertise-client-urls=https://127.0.0.1:2379",
            "--listen-peer-urls=http://127.0.0.1:2380", "--initial-advertise-peer-urls=http://127.0.0.1:2380",
            "--initial-cluster=test=http://127.0.0.1:2380", "--listen-metrics-urls=http://127.0.0.1:2381",
            "--cert-file=%s/server.crt" % pki, "--key-file=%s/server.key" % pki, "--client-cert-auth=true",
            "--trusted-ca-file=%s/ca.crt" % pki,
        ], env={"ETCD_UNSUPPORTED_ARCH": ""})

    def add_apiserver(self, manifest_rel: str = "etc/kubernetes/manifests/kube-apiserver.yaml") -> t.List[str]:
        """The API server exactly as its static pod manifest runs it, in a root holding only its volumes."""
        with open(os.path.join(self.tree, manifest_rel)) as handle:
            pod = yaml.safe_load(handle)
        spec = pod["spec"]
        container = next(c for c in spec["containers"] if os.path.basename(str((c.get("command") or [""])[0])) == "kube-apiserver")
        argv = [str(w) for w in container["command"]] + [str(w) for w in container.get("args") or []]
        volumes = {v["name"]: v for v in spec.get("volumes") or []}
        root = os.path.join(self.scratch, "apiserver-root")
        binds: t.List[t.Dict[str, t.Any]] = [{"source": binary("kube-apiserver"), "target": "/usr/local/bin/kube-apiserver",
                                              "readonly": True}]
        for mount in container.get("volumeMounts") or []:
            volume = volumes.get(mount["name"], {})
            if "hostPath" not in volume:
                continue
            binds.append({"source": volume["hostPath"]["path"], "target": mount["mountPath"],
                          "readonly": bool(mount.get("readOnly")), "type": volume["hostPath"].get("type", "")})
        self.add_process("kube-apiserver", argv, chroot=root, binds=binds, executable="/usr/local/bin/kube-apiserver")
        return argv

    def add_containerd(self) -> None:
        config = os.path.join(self.scratch, "containerd.toml")
        with open(config, "w") as handle:
            handle.write('version = 2\nroot = "/var/lib/containerd"\nstate = "/run/containerd"\n'
                         '[grpc]\n  address = "/run/containerd/containerd.sock"\n')
        self.add_process("containerd", [shutil.which("containerd") or "containerd", "--config", config])

    def add_kubelet(self, argv: t.Sequence[str], env: t.Optional[t.Mapping[str, str]] = None, extra: bool = True) -> t.List[str]:
        """The kubelet with this command line (argv[0] is replaced by the real binary), plus KUBELET_TEST_FLAGS."""
        words = [binary("kubelet")] + list(argv[1:]) + (list(KUBELET_TEST_FLAGS) if extra else [])
        self.add_process("kubelet", words, env=env)
        if any(p["name"] == "containerd" for p in self.processes):
            self.processes[-1]["wait_path"] = "/run/containerd/containerd.sock"
        return words

    # lifecycle --------------------------------------------------------------------------------------

    def __enter__(self) -> "Node":
        self.start()
        return self

    def __exit__(self, *_exc: t.Any) -> None:
        self.stop()

    def start(self) -> None:
        fds = []
        forwards = []
        for name, inside in self.ports_spec.items():
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.bind(("127.0.0.1", 0))
            listener.listen(64)
            self._listeners.append(listener)
            self.host_ports[name] = listener.getsockname()[1]
            fds.append(listener.fileno())
            forwards.append({"fd": listener.fileno(), "to": inside})
        spec = {"addresses": [self.address + "/32"], "mounts": self.mounts, "forward": forwards,
                "processes": self.processes, "status": self.status_path, "scratch": self.scratch}
        spec_path = os.path.join(self.scratch, "spec.json")
        with open(spec_path, "w") as handle:
            json.dump(spec, handle)
        if any(p["name"] == "kubelet" for p in self.processes):
            self.sysctls = read_sysctls()
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--net", "--pid", "--fork", "--kill-child", "--mount-proc",
             sys.executable, os.path.join(HERE, "nsinit.py"), spec_path],
            pass_fds=fds, stdin=subprocess.DEVNULL, stdout=open(self.log("init"), "ab"), stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        guard().send({"pid": self.proc.pid})
        for listener in self._listeners:
            listener.close()  # the namespace's PID 1 holds them now

    def status(self) -> t.Dict[str, t.Any]:
        try:
            with open(self.status_path) as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return {}

    def exited(self, name: str) -> t.Optional[int]:
        """The exit code of a process of this node, None while it runs (or before it started)."""
        if self.proc is not None and self.proc.poll() is not None and name not in self.status():
            return -1
        return self.status().get(name, {}).get("rc")

    def tail(self, name: str, lines: int = 15) -> str:
        try:
            with open(self.log(name), errors="replace") as handle:
                return "".join(handle.readlines()[-lines:])
        except OSError:
            return ""

    def wait_for(self, name: str, port: str, path: str, tls: bool = True, timeout: float = 90.0,
                 cert: t.Optional[t.Tuple[str, str]] = None, accept: t.Iterable[int] = (200,)) -> t.Tuple[int, bytes]:
        """Poll until ``path`` on ``port`` answers one of ``accept``; HarnessError when the process exits first."""
        deadline = time.monotonic() + timeout
        accepted = set(accept)
        last: t.Tuple[int, bytes] = (0, b"")
        delay = 0.05
        while time.monotonic() < deadline:
            rc = self.exited(name)
            if rc is not None:
                raise HarnessError("%s exited with %s:\n%s" % (name, rc, self.tail(name)))
            last = http_get(self.host_ports[port], path, tls=tls, cert=cert, timeout=5)
            if last[0] in accepted:
                return last
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)
        raise HarnessError("%s: %s gave %s, not %s, within %ss:\n%s" % (name, path, last, sorted(accepted), timeout, self.tail(name)))

    def wait_exit(self, name: str, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        delay = 0.05
        while time.monotonic() < deadline:
            rc = self.exited(name)
            if rc is not None:
                return rc
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)
        raise HarnessError("%s still runs after %ss" % (name, timeout))

    def stop(self) -> None:
        """Kill the namespace's PID 1 (the kernel then kills everything inside, and the mounts go with it)."""
        if self.proc is not None:
            kill_namespace(self.proc.pid)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            guard().send({"forget": self.proc.pid})
        if self.sysctls is not None:
            write_sysctls(self.sysctls)
        shutil.rmtree(self.scratch, ignore_errors=True)


def kill_namespace(unshare_pid: int) -> None:
    """SIGKILL the child of ``unshare`` (the PID namespace's init), then ``unshare`` itself."""
    try:
        with open("/proc/%d/task/%d/children" % (unshare_pid, unshare_pid)) as handle:
            children = [int(p) for p in handle.read().split()]
    except OSError:
        children = []
    for pid in children + [unshare_pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


# --- credentials ---------------------------------------------------------------------------------------


def kubeconfig_cert(tree: str, rel: str, dest_dir: str) -> t.Tuple[str, str]:
    """The client certificate and key embedded in a kubeconfig of the tree, as files for http_get."""
    with open(os.path.join(tree, rel)) as handle:
        user = yaml.safe_load(handle)["users"][0]["user"]
    cert = os.path.join(dest_dir, os.path.basename(rel) + ".crt")
    key = os.path.join(dest_dir, os.path.basename(rel) + ".key")
    for path, field in ((cert, "client-certificate-data"), (key, "client-key-data")):
        with open(path, "wb") as handle:
            handle.write(base64.b64decode(user[field]))
        os.chmod(path, 0o600)
    return cert, key


@contextlib.contextmanager
def guarded() -> t.Iterator[Guard]:
    current = guard()
    try:
        yield current
    finally:
        current.close()


# --- kubefort's view of a tree ---------------------------------------------------------------------------


def kubelet_command(tree: str) -> t.Tuple[t.List[str], t.Dict[str, str]]:
    """The kubelet's command line and environment as systemd would start it from the tree's unit files.

    systemd itself is not run here (the test machine has none): the unit, drop-ins, ``Environment=`` and
    ``EnvironmentFile=`` are expanded by kubefort's node_facts (plugins/module_utils/_systemd.py), so what is
    proven on the real kubelet is everything from the command line on, not systemd's expansion.
    """
    from kubefort_testlib import call_module_factory

    from ansible_collections.kubefort.hardening.plugins.plugin_utils._harden import discover

    snapshot, _trips, _node = discover(call_module_factory(), tree)
    unit = snapshot.get("units", {}).get("kubelet.service") or {}
    if not unit.get("argv"):
        raise HarnessError("no kubelet unit with an ExecStart in %s" % tree)
    env = {name: str(entry.get("value", "")) for name, entry in (unit.get("env") or {}).items()}
    return list(unit["argv"]), env


def joined_kubeconfig(tree: str, argv: t.Sequence[str], donor: str) -> None:
    """Give a worker tree the kubeconfig ``kubeadm join`` would have left (the kubelet otherwise waits for
    TLS bootstrap): the donor control plane's kubelet.conf, at the path --kubeconfig names."""
    path = next((w.split("=", 1)[1] for w in argv if w.startswith("--kubeconfig=")), None)
    if path is None:
        return
    target = os.path.join(tree, path.lstrip("/"))
    if not os.path.exists(target):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy(os.path.join(donor, "etc/kubernetes/kubelet.conf"), target)
        os.chmod(target, 0o600)


def kubelet_ports(address: str) -> t.Dict[str, str]:
    return {"10250": "tcp:%s:10250" % address, "10255": "tcp:%s:10255" % address, "10248": "tcp:127.0.0.1:10248",
            "6443": "tcp:%s:6443" % address}
