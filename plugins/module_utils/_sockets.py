# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Listening TCP sockets of a node, read from /proc (standard library only).

``/proc/net/tcp`` and ``/proc/net/tcp6`` list the sockets of the reader's network namespace; each
socket's inode is matched with the ``socket:[inode]`` links under ``/proc/<pid>/fd`` to find the
process that owns it. Every function takes the proc root as an argument so that tests can feed
captured contents.
"""

from __future__ import annotations

import ipaddress
import os
import sys
import typing as t

TCP_LISTEN = "0A"

# port -> (component, purpose). The ports of the hardening guide plus the ones a complete audit needs.
KNOWN_PORTS: t.Dict[int, t.Tuple[str, str]] = {
    2379: ("etcd", "client API"),
    2380: ("etcd", "peer API"),
    2381: ("etcd", "metrics and health"),
    4149: ("kubelet", "cAdvisor metrics"),
    4194: ("kubelet", "cAdvisor metrics (old kubelets)"),
    6443: ("kube-apiserver", "Kubernetes API"),
    6444: ("kube-apiserver", "Kubernetes API (k3s internal)"),
    9099: ("calico-felix", "health check server"),
    9345: ("rke2-server", "rke2 supervisor API"),
    10248: ("kubelet", "health check server"),
    10249: ("kube-proxy", "metrics"),
    10250: ("kubelet", "node API"),
    10251: ("kube-scheduler", "insecure health and metrics (old)"),
    10252: ("kube-controller-manager", "insecure health and metrics (old)"),
    10255: ("kubelet", "unauthenticated read-only API"),
    10256: ("kube-proxy", "health check server"),
    10257: ("kube-controller-manager", "health and metrics"),
    10259: ("kube-scheduler", "health and metrics"),
    16443: ("kube-apiserver", "Kubernetes API (microk8s)"),
}

# Processes that are Kubernetes components even on a port not listed above.
KUBERNETES_PROCESSES = frozenset(
    (
        "kubelet",
        "kube-proxy",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "etcd",
        "calico-node",
        "calico-felix",
        "k3s",
        "k3s-server",
        "k3s-agent",
        "rke2",
        "kubelite",
        "cluster-agent",
    )
)


class ProcReadError(Exception):
    """The socket tables could not be read at all."""


def decode_address(hex_address: str, byteorder: str = sys.byteorder) -> str:
    """An address of /proc/net/tcp{,6} in the usual text form.

    The kernel prints each 32-bit word of the address in host byte order.
    """
    raw = bytes.fromhex(hex_address)
    if byteorder == "little":
        raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw))
    address = ipaddress.IPv6Address(raw)
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def address_scope(address: str) -> str:
    """``any`` (all addresses), ``loopback`` or ``node`` (one address of the node)."""
    parsed = ipaddress.ip_address(address)
    if parsed.is_unspecified:
        return "any"
    if parsed.is_loopback:
        return "loopback"
    return "node"


def parse_tcp_table(text: str, family: str, byteorder: str = sys.byteorder) -> t.List[t.Dict[str, t.Any]]:
    """Listening sockets of one /proc/net/tcp or tcp6 table."""
    sockets = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != TCP_LISTEN:
            continue
        hex_address, hex_port = fields[1].rsplit(":", 1)
        address = decode_address(hex_address, byteorder)
        sockets.append(
            {
                "family": family,
                "address": address,
                "port": int(hex_port, 16),
                "scope": address_scope(address),
                "uid": int(fields[7]),
                "inode": int(fields[9]),
            }
        )
    return sockets


def _read(path: str) -> t.Optional[str]:
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def process_name(proc_path: str, pid: int) -> t.Optional[str]:
    """The program name: argv[0]'s base name (``comm`` is cut at 15 characters), else ``comm``."""
    cmdline = _read(os.path.join(proc_path, str(pid), "cmdline"))
    if cmdline:
        argv0 = cmdline.split("\0", 1)[0]
        if argv0:
            return os.path.basename(argv0.split(" ", 1)[0])
    comm = _read(os.path.join(proc_path, str(pid), "comm"))
    return comm.strip() if comm else None


def socket_owners(proc_path: str) -> t.Tuple[t.Dict[int, t.List[int]], int]:
    """Map socket inode -> pids holding it, and the number of processes whose fds were unreadable."""
    owners: t.Dict[int, t.List[int]] = {}
    unreadable = 0
    try:
        entries = os.listdir(proc_path)
    except OSError:
        return owners, 0
    for entry in sorted((e for e in entries if e.isdigit()), key=int):
        fd_dir = os.path.join(proc_path, entry, "fd")
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            unreadable += 1
            continue
        for fd in fds:
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target.startswith("socket:[") and target.endswith("]"):
                pids = owners.setdefault(int(target[8:-1]), [])
                if int(entry) not in pids:
                    pids.append(int(entry))
    return owners, unreadable


def classify(sock: t.Dict[str, t.Any]) -> None:
    """Add ``known``, ``component``, ``purpose`` and ``kubernetes`` to one socket."""
    known = KNOWN_PORTS.get(sock["port"])
    sock["known"] = known is not None
    sock["component"] = known[0] if known else None
    sock["purpose"] = known[1] if known else None
    sock["kubernetes"] = known is not None or sock.get("process") in KUBERNETES_PROCESSES


def listening_sockets(proc_path: str = "/proc") -> t.Dict[str, t.Any]:
    """Every listening TCP socket, with its owning process and classification.

    Raises ProcReadError when neither socket table can be read.
    """
    sockets: t.List[t.Dict[str, t.Any]] = []
    tables_read = []
    for family, name in (("ipv4", "tcp"), ("ipv6", "tcp6")):
        text = _read(os.path.join(proc_path, "net", name))
        if text is None:
            continue
        tables_read.append(name)
        sockets.extend(parse_tcp_table(text, family))
    if not tables_read:
        raise ProcReadError(
            "cannot read %s/net/tcp or %s/net/tcp6: is %s a mounted proc file system?"
            % (proc_path, proc_path, proc_path)
        )
    owners, unreadable = socket_owners(proc_path)
    for sock in sockets:
        pids = owners.get(sock["inode"], [])
        sock["pids"] = pids
        sock["pid"] = pids[0] if pids else None
        sock["process"] = process_name(proc_path, pids[0]) if pids else None
        classify(sock)
    sockets.sort(key=lambda s: (s["port"], s["family"], s["address"]))
    bindv6only = (_read(os.path.join(proc_path, "sys", "net", "ipv6", "bindv6only")) or "0").strip()
    return {
        "listeners": sockets,
        "tables": tables_read,
        "unreadable_processes": unreadable,
        # With bindv6only=0 a socket on [::] also accepts IPv4 connections.
        "ipv6_any_covers_ipv4": bindv6only == "0",
    }
