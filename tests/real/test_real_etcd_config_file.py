"""The etcd stand-in's --config-file (how k3s and RKE2 start etcd) against Debian's real etcd.

Both read every setting from the file and ignore the other flags (a --listen-client-urls flag next to the
file opens nothing), and both refuse a boolean that is not one with the same Go decoding error. Debian's etcd
is 3.4 (RKE2 runs 3.5, whose config-file handling is the same code, configFromFile).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import typing as t
import urllib.request

import pytest

STANDINS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "standins")
ETCD = shutil.which("etcd")
pytestmark = pytest.mark.skipif(ETCD is None, reason="Debian's etcd (etcd-server, .ci/apt-packages.txt) is not installed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def config(tmp_path: t.Any, client_cert_auth: str) -> str:
    client, peer, metrics = free_port(), free_port(), free_port()
    path = tmp_path / "etcd-config"
    path.write_text(
        "name: kubefort\ndata-dir: %s\nlisten-client-urls: http://127.0.0.1:%d\nadvertise-client-urls: http://127.0.0.1:%d\n"
        "listen-peer-urls: http://127.0.0.1:%d\ninitial-advertise-peer-urls: http://127.0.0.1:%d\n"
        "initial-cluster: kubefort=http://127.0.0.1:%d\nlisten-metrics-urls: http://127.0.0.1:%d\n"
        "client-transport-security:\n  client-cert-auth: %s\n"
        % (tmp_path / "data", client, client, peer, peer, peer, metrics, client_cert_auth))
    return str(path), metrics


def start(which: str, path: str, *flags: str) -> subprocess.Popen:
    if which == "real":
        argv = [t.cast(str, ETCD), "--config-file=" + path, *flags]
        env = dict(os.environ)
    else:
        argv = [sys.executable, os.path.join(STANDINS, "components_standin.py"), "--config-file=" + path, *flags]
        env = dict(os.environ, KUBEFORT_STANDIN_ARGV0="etcd")
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def healthy(port: int, process: subprocess.Popen, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/health" % port, timeout=2) as answer:
                return answer.status == 200
        except OSError:
            time.sleep(0.2)
    return False


@pytest.mark.parametrize("which", ["real", "standin"])
def test_a_config_file_wins_over_every_flag(tmp_path: t.Any, which: str) -> None:
    path, metrics = config(tmp_path, "false")
    ignored = free_port()
    process = start(which, path, "--listen-client-urls=http://127.0.0.1:%d" % ignored)
    try:
        assert healthy(metrics, process), process.stderr.read() if process.poll() is not None and process.stderr else ""
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", ignored), timeout=1).close()
    finally:
        process.terminate()
        _out, err = process.communicate(timeout=30)
    assert "Other configuration command line flags and environment variables will be ignored if provided" in err


@pytest.mark.parametrize("which", ["real", "standin"])
def test_a_boolean_that_is_not_one_stops_it(tmp_path: t.Any, which: str) -> None:
    path, _metrics = config(tmp_path, "maybe")
    process = start(which, path)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 1, err
    assert ("json: cannot unmarshal string into Go struct field securityConfig.client-transport-security.client-cert-auth "
            "of type bool") in err
