"""PID 1 of a test node: private mount, network and PID namespaces (started by ``unshare``).

Usage (by tests/real/k8s_harness.py only): unshare --mount --net --pid --fork --kill-child --mount-proc
    python3 nsinit.py SPEC.json

SPEC says, in this order, what to set up and run:
- ``addresses``: extra addresses on ``lo`` (the node's own IP, so certificates and kubeconfigs match);
- ``mounts``: ``overlay`` (a writable layer over a host directory, upper layer in the test's temp dir),
  ``tmpfs``, ``bind`` (source -> target, target created inside an overlay when missing);
- ``forward``: byte relays, ``{"fd": N, "to": "tcp:IP:PORT"}`` (a listening socket the test created in
  the host's network namespace and passed down, so the test reaches ports inside) or
  ``{"listen": "tcp:IP:PORT" | "unix:PATH", "to": ...}``;
- ``processes``: started in order, each with argv, env and a log file, after ``wait_path`` exists.
``status`` names a JSON file rewritten whenever a process starts or exits (pid, rc). SIGTERM stops every
process (TERM, then KILL), then init exits; the kernel kills anything left in the PID namespace and the
mount namespace, with every mount made here, goes away with its last process.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import typing as t

STATE: t.Dict[str, t.Dict[str, t.Any]] = {}
PROCS: t.Dict[str, subprocess.Popen] = {}
LOCK = threading.Lock()


def write_status(path: str) -> None:
    with LOCK:
        tmp = path + ".tmp"
        with open(tmp, "w") as handle:
            json.dump(STATE, handle)
        os.replace(tmp, path)


def run(*argv: str) -> None:
    subprocess.run(list(argv), check=True, stdout=subprocess.DEVNULL)


def setup_mounts(mounts: t.List[t.Dict[str, str]], scratch: str) -> None:
    run("mount", "--make-rprivate", "/")
    for index, mount in enumerate(mounts):
        target = mount["target"]
        if mount["type"] == "overlay":
            upper = os.path.join(scratch, "overlay%d" % index, "upper")
            work = os.path.join(scratch, "overlay%d" % index, "work")
            os.makedirs(upper)
            os.makedirs(work)
            run("mount", "-t", "overlay", "overlay", "-o", "lowerdir=%s,upperdir=%s,workdir=%s" % (target, upper, work), target)
        elif mount["type"] == "tmpfs":
            os.makedirs(target, exist_ok=True)
            run("mount", "-t", "tmpfs", "tmpfs", target)
        elif mount["type"] == "bind":
            if os.path.isdir(mount["source"]):
                os.makedirs(target, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                if not os.path.exists(target):
                    open(target, "a").close()
            run("mount", "--bind", mount["source"], target)
        else:
            raise SystemExit("unknown mount type %r" % mount["type"])


def pod_root(root: str, binds: t.List[t.Dict[str, t.Any]]) -> None:
    """A container's view: only its hostPath volumes, at their mountPath (as the kubelet would mount them)."""
    os.makedirs(root, exist_ok=True)
    for name in ("dev", "proc", "tmp"):
        os.makedirs(os.path.join(root, name), exist_ok=True)
    run("mount", "--rbind", "/dev", os.path.join(root, "dev"))
    run("mount", "-t", "proc", "proc", os.path.join(root, "proc"))
    for bind in binds:
        source, kind = bind["source"], bind.get("type", "")
        if not os.path.exists(source):
            if kind in ("", "DirectoryOrCreate"):
                os.makedirs(source)
            elif kind == "FileOrCreate":
                open(source, "a").close()
            else:
                raise OSError("hostPath %s (type %s) does not exist" % (source, kind))
        target = os.path.join(root, bind["target"].lstrip("/"))
        if os.path.isdir(source):
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if not os.path.exists(target):
                open(target, "a").close()
        run("mount", "--bind", source, target)
        if bind.get("readonly"):
            run("mount", "-o", "remount,bind,ro", target)


def _chroot(root: str) -> t.Callable[[], None]:
    def enter() -> None:
        os.chroot(root)
        os.chdir("/")
    return enter


def _endpoint(spec: str) -> t.Tuple[int, t.Any]:
    kind, _sep, rest = spec.partition(":")
    if kind == "unix":
        return socket.AF_UNIX, rest
    host, _sep, port = rest.rpartition(":")
    return socket.AF_INET, (host, int(port))


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _serve(listener: socket.socket, to: str) -> None:
    family, address = _endpoint(to)
    while True:
        try:
            client, _address = listener.accept()
        except OSError:
            return
        upstream = socket.socket(family, socket.SOCK_STREAM)
        try:
            upstream.connect(address)
        except OSError:
            client.close()
            upstream.close()
            continue
        threading.Thread(target=_pipe, args=(client, upstream), daemon=True).start()
        threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()


def setup_forward(forwards: t.List[t.Dict[str, t.Any]]) -> None:
    for forward in forwards:
        if "fd" in forward:
            listener = socket.socket(fileno=forward["fd"])
        else:
            family, address = _endpoint(forward["listen"])
            listener = socket.socket(family, socket.SOCK_STREAM)
            if family == socket.AF_INET:
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(address)
            listener.listen(64)
        threading.Thread(target=_serve, args=(listener, forward["to"]), daemon=True).start()


def stop_all(_signum: int = 0, _frame: t.Any = None) -> None:
    for proc in PROCS.values():
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + 5
    for proc in PROCS.values():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
    os._exit(0)


def main() -> int:
    with open(sys.argv[1]) as handle:
        spec = json.load(handle)
    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)
    run("ip", "link", "set", "lo", "up")
    for address in spec.get("addresses", []):
        run("ip", "addr", "add", address, "dev", "lo")
    setup_mounts(spec.get("mounts", []), spec["scratch"])
    setup_forward(spec.get("forward", []))
    status = spec["status"]
    STATE["_init"] = {"pid": os.getpid(), "ready": True}
    for proc in spec.get("processes", []):
        log = open(proc["log"], "ab")
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
        env.update(proc.get("env", {}))
        preexec = None
        deadline = time.monotonic() + 120
        while proc.get("wait_path") and not os.path.exists(proc["wait_path"]) and time.monotonic() < deadline:
            time.sleep(0.05)  # e.g. the kubelet waits for containerd's socket, as systemd's ordering would
        try:
            if proc.get("chroot"):
                pod_root(proc["chroot"], proc.get("binds", []))
                preexec = _chroot(proc["chroot"])
            child = subprocess.Popen(proc["argv"], env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     executable=proc.get("executable"), preexec_fn=preexec)
        except (OSError, subprocess.CalledProcessError) as exc:
            log.write(("cannot start %s: %s\n" % (proc["name"], exc)).encode())
            log.flush()
            STATE[proc["name"]] = {"pid": None, "rc": 127, "error": str(exc)}
            write_status(status)
            continue
        PROCS[proc["name"]] = child
        STATE[proc["name"]] = {"pid": child.pid, "rc": None}
        write_status(status)
    write_status(status)
    while True:
        try:
            pid, code = os.wait()
        except ChildProcessError:
            time.sleep(0.2)
            continue
        for name, child in PROCS.items():
            if child.pid == pid:
                child.returncode = os.waitstatus_to_exitcode(code)
                STATE[name]["rc"] = child.returncode
                write_status(status)


if __name__ == "__main__":
    sys.exit(main())
