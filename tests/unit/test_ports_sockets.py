"""Listening sockets from captured /proc contents (tests/fixtures/proc/<layout>, see capture.py there)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.kubefort.hardening.plugins.module_utils import _sockets

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "proc")
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def listeners(layout: str) -> dict:
    found = _sockets.listening_sockets(os.path.join(FIXTURES, layout))
    return {(s["address"], s["port"]): s for s in found["listeners"]}


@pytest.mark.parametrize(
    "hex_address, byteorder, expected",
    [
        ("0100007F", "little", "127.0.0.1"),
        ("0A38A8C0", "little", "192.168.56.10"),
        ("7F000001", "big", "127.0.0.1"),
        ("00000000", "little", "0.0.0.0"),
        ("00000000000000000000000000000000", "little", "::"),
        ("00000000000000000000000001000000", "little", "::1"),
        ("0000000000000000FFFF00000500000A", "little", "10.0.0.5"),
        ("B80D0120000000000000000001000000", "little", "2001:db8::1"),
    ],
)
def test_decode_address(hex_address, byteorder, expected):
    assert _sockets.decode_address(hex_address, byteorder) == expected


@pytest.mark.parametrize(
    "layout, address, port, scope, process, component, kubernetes",
    [
        ("kubeadm-control-plane", "::", 10250, "any", "kubelet", "kubelet", True),
        ("kubeadm-control-plane", "::", 10255, "any", "kubelet", "kubelet", True),
        ("kubeadm-control-plane", "127.0.0.1", 10248, "loopback", "kubelet", "kubelet", True),
        ("kubeadm-control-plane", "::", 6443, "any", "kube-apiserver", "kube-apiserver", True),
        ("kubeadm-control-plane", "127.0.0.1", 10257, "loopback", "kube-controller-manager",
         "kube-controller-manager", True),
        ("kubeadm-control-plane", "127.0.0.1", 10259, "loopback", "kube-scheduler", "kube-scheduler", True),
        ("kubeadm-control-plane", "192.168.56.10", 2380, "node", "etcd", "etcd", True),
        ("kubeadm-control-plane", "::", 10256, "any", "kube-proxy", "kube-proxy", True),
        ("kubeadm-control-plane", "127.0.0.1", 9099, "loopback", "calico-node", "calico-felix", True),
        ("kubeadm-control-plane", "0.0.0.0", 22, "any", "sshd", None, False),
        ("hardened-worker", "192.168.56.21", 10250, "node", "kubelet", "kubelet", True),
        # an unknown port is still Kubernetes-related when a Kubernetes process owns it
        ("hardened-worker", "127.0.0.1", 37851, "loopback", "kubelet", None, True),
        ("hardened-worker", "::1", 9099, "loopback", "calico-node", "calico-felix", True),
        ("legacy-node", "::", 4194, "any", "kubelet", "kubelet", True),
        ("legacy-node", "::", 10252, "any", "kube-controller-manager", "kube-controller-manager", True),
        ("legacy-node", "10.0.0.5", 8000, "node", "python3", None, False),
    ],
)
def test_listener_classification(layout, address, port, scope, process, component, kubernetes):
    sock = listeners(layout)[(address, port)]
    assert sock["scope"] == scope
    assert sock["process"] == process
    assert sock["component"] == component
    assert sock["known"] is (component is not None)
    assert sock["kubernetes"] is kubernetes
    assert sock["pid"] is not None and sock["pids"] == [sock["pid"]]


def test_only_listeners_are_listed():
    # the capture holds an established connection on 127.0.0.1:9099 (both ends); neither is a listener
    found = _sockets.listening_sockets(os.path.join(FIXTURES, "kubeadm-control-plane"))
    ports = [s["port"] for s in found["listeners"]]
    assert len(ports) == 15
    assert ports == sorted(ports)
    assert found["tables"] == ["tcp", "tcp6"]
    assert found["ipv6_any_covers_ipv4"] is True


def test_socket_without_readable_owner(tmp_path):
    (tmp_path / "net").mkdir()
    src = os.path.join(FIXTURES, "hardened-worker", "net", "tcp")
    with open(src, encoding="utf-8") as handle:
        (tmp_path / "net" / "tcp").write_text(handle.read())
    found = _sockets.listening_sockets(str(tmp_path))
    assert found["tables"] == ["tcp"]
    assert all(s["pid"] is None and s["process"] is None for s in found["listeners"])
    assert {s["port"] for s in found["listeners"]} >= {10250, 10256}


def test_missing_proc_is_a_clear_error(tmp_path):
    with pytest.raises(_sockets.ProcReadError, match="mounted proc file system"):
        _sockets.listening_sockets(str(tmp_path))


def run_module(args: dict) -> dict:
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, ".build"))
    proc = subprocess.run(
        [sys.executable, "-m", "ansible_collections.kubefort.hardening.plugins.modules.listening_ports"],
        input=json.dumps({"ANSIBLE_MODULE_ARGS": args}), capture_output=True, text=True, env=env, check=False,
    )
    return json.loads(proc.stdout)


def test_module_reads_captured_proc():
    result = run_module({"proc_path": os.path.join(FIXTURES, "legacy-node"), "_ansible_check_mode": True})
    assert result["changed"] is False
    assert {(s["port"], s["scope"]) for s in result["listeners"]} >= {(4194, "any"), (9099, "any")}


def test_module_fails_cleanly_on_bad_proc(tmp_path):
    result = run_module({"proc_path": str(tmp_path)})
    assert result["failed"] is True
    assert "mounted proc file system" in result["msg"]


def test_module_reads_the_live_node():
    # whatever listens here, the live tables parse and every socket has a scope
    result = run_module({})
    assert "failed" not in result
    assert all(s["scope"] in ("any", "loopback", "node") for s in result["listeners"])
