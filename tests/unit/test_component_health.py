"""component_health: waits for the new process and a 200 from the health endpoint, fails in time otherwise.

Live checks run the API server stand-in (tests/standins) with the demo control plane's real kubeadm
certificates, so the authenticated /readyz path is exercised exactly as on a node.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import typing as t

import pytest

from ansible_collections.kubefort.hardening.plugins.module_utils import _component_health as health

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CP1 = os.path.join(REPO, "demo", "nodes", "cp1", "etc", "kubernetes")
APISERVER = os.path.join(REPO, "tests", "standins", "apiserver_standin.py")


@pytest.mark.parametrize(
    ("component", "command", "expected"),
    [
        ("kubelet", [], "http://127.0.0.1:10248/healthz"),
        ("kube-apiserver", ["kube-apiserver", "--secure-port=6444"], "https://127.0.0.1:6444/readyz"),
        ("kube-apiserver", ["kube-apiserver", "--bind-address", "192.0.2.10"], "https://192.0.2.10:6443/readyz"),
        ("kube-apiserver", ["kube-apiserver", "--bind-address=0.0.0.0"], "https://127.0.0.1:6443/readyz"),
        ("kube-controller-manager", ["kube-controller-manager", "--bind-address=127.0.0.1"],
         "https://127.0.0.1:10257/healthz"),
        ("kube-scheduler", ["kube-scheduler", "--bind-address=::1"], "https://[::1]:10259/healthz"),
        ("etcd", ["etcd", "--listen-metrics-urls=http://127.0.0.1:2381"], "http://127.0.0.1:2381/health"),
        ("etcd", ["etcd"], None),
    ],
)
def test_endpoint_url_follows_the_command_line(component: str, command: list[str], expected: t.Optional[str]) -> None:
    assert health.endpoint_url(component, command, None, None) == expected


def fake_proc(tmp_path: t.Any, processes: dict[int, tuple[list[str], int]], btime: int = 1_000_000) -> str:
    (tmp_path / "self").mkdir()
    for pid, (argv, start_ticks) in processes.items():
        directory = tmp_path / str(pid)
        directory.mkdir()
        (directory / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
        fields = ["S"] + ["0"] * 18 + [str(start_ticks)] + ["0"] * 30
        (directory / "stat").write_bytes(f"{pid} (python3) ".encode() + " ".join(fields).encode())
    return str(tmp_path)


def test_processes_with_command_match_exactly_and_report_start_time(tmp_path: t.Any) -> None:
    ticks = os.sysconf("SC_CLK_TCK")
    proc = fake_proc(tmp_path, {
        10: (["kube-apiserver", "--authorization-mode=Node,RBAC"], 5 * ticks),
        11: (["kube-apiserver", "--authorization-mode=AlwaysAllow"], 6 * ticks),
        12: (["/usr/bin/python3", "kube-apiserver", "--authorization-mode=Node,RBAC"], 7 * ticks),
    })
    found = health.processes_with_command(["kube-apiserver", "--authorization-mode=Node,RBAC"], proc)
    assert [p.pid for p in found] == [10]
    assert found[0].started == pytest.approx(health._boot_time() + 5)


def test_kubeconfig_credentials_read_embedded_data() -> None:
    creds = health.kubeconfig_credentials(os.path.join(CP1, "admin.conf"))
    assert creds["ca"].startswith(b"-----BEGIN CERTIFICATE-----")
    assert creds["cert"].startswith(b"-----BEGIN CERTIFICATE-----")
    assert b"PRIVATE KEY-----" in creds["key"]


def test_kubeconfig_credentials_read_file_references(tmp_path: t.Any) -> None:
    (tmp_path / "client.pem").write_bytes(b"CERT AND KEY")
    (tmp_path / "kubelet.conf").write_text(
        "users:\n- name: default-auth\n  user:\n    client-certificate: client.pem\n"
        "    client-key: " + str(tmp_path / "client.pem") + "\n")
    assert health.kubeconfig_credentials(str(tmp_path / "kubelet.conf")) == {
        "cert": b"CERT AND KEY", "key": b"CERT AND KEY"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_process_from_before_the_change_does_not_count(tmp_path: t.Any) -> None:
    proc = fake_proc(tmp_path, {20: (["kube-scheduler", "--profiling=false"], 0)})
    clock = FakeClock()
    with pytest.raises(health.HealthError, match="only processes started before the change .*PIDs 20"):
        health.wait_healthy("kube-scheduler", ["kube-scheduler", "--profiling=false"], time.time() + 3600, 5,
                            proc=proc, clock=clock.time, sleep=clock.sleep)
    assert clock.now >= 105


def test_no_process_with_the_command_fails_with_a_clear_message(tmp_path: t.Any) -> None:
    clock = FakeClock()
    with pytest.raises(health.HealthError, match="kube-scheduler did not become healthy within 3 s: no process runs"):
        health.wait_healthy("kube-scheduler", ["kube-scheduler", "--bad"], None, 3, proc=fake_proc(tmp_path, {}),
                            clock=clock.time, sleep=clock.sleep)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def apiserver() -> t.Iterator[t.Callable[..., list[str]]]:
    started: list[subprocess.Popen] = []

    def start(*extra: str) -> list[str]:
        port = free_port()
        args = [f"--secure-port={port}", "--bind-address=127.0.0.1", f"--etcd-servers=https://127.0.0.1:{port}",
                f"--client-ca-file={CP1}/pki/ca.crt", f"--tls-cert-file={CP1}/pki/apiserver.crt",
                f"--tls-private-key-file={CP1}/pki/apiserver.key", "--authorization-mode=Node,RBAC", *extra]
        env = dict(os.environ, KUBEFORT_STANDIN_ARGV0="kube-apiserver")
        started.append(subprocess.Popen([sys.executable, APISERVER, *args], env=env, stderr=subprocess.DEVNULL))
        return ["kube-apiserver", *args]

    yield start
    for process in started:
        process.terminate()
        process.wait(10)


def test_readyz_with_the_admin_kubeconfig_when_anonymous_auth_is_off(apiserver: t.Callable) -> None:
    before = time.time()
    command = apiserver("--anonymous-auth=false")
    result = health.wait_healthy("kube-apiserver", command, before, 20, kubeconfig=os.path.join(CP1, "admin.conf"),
                                 interval=0.2)
    assert result["healthy"] and result["authenticated"] and result["status"] == 200
    assert result["url"] == f"https://127.0.0.1:{command[1].split('=')[1]}/readyz"
    assert result["pid"] is not None and result["started"] >= before - health.CLOCK_SLACK


def test_readyz_anonymously_is_refused_when_anonymous_auth_is_off(apiserver: t.Callable) -> None:
    command = apiserver("--anonymous-auth=false")
    with pytest.raises(health.HealthError, match="answered HTTP 401"):
        health.wait_healthy("kube-apiserver", command, None, 3, kubeconfig="/nonexistent", interval=0.2)


def test_an_api_server_that_refuses_its_flags_never_becomes_healthy(apiserver: t.Callable) -> None:
    command = apiserver("--authorization-mode=Bogus")
    with pytest.raises(health.HealthError, match="no process runs the manifest's command line"):
        health.wait_healthy("kube-apiserver", command, None, 3, interval=0.2)
