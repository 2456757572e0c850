"""Anonymous probes against real local servers on loopback: what each outcome looks like."""

from __future__ import annotations

import datetime
import http.server
import json
import os
import socket
import ssl
import subprocess
import sys
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.kubefort.hardening.plugins.module_utils import _probe

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class Handler(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802 (http.server's naming)
        body = b'{"kind":"PodList","items":[]}'
        self.send_response(self.server.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def self_signed(tmp_path) -> tuple:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubefort-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


@pytest.fixture
def server(tmp_path):
    started = []

    def start(status: int, tls: bool = False) -> int:
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.status = status
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self_signed(tmp_path))
            httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        started.append(httpd)
        return httpd.server_address[1]

    yield start
    for httpd in started:
        httpd.shutdown()
        httpd.server_close()


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def spec(port: int, scheme: str = "http") -> dict:
    return _probe.normalize_spec({"name": "p", "port": port, "scheme": scheme, "path": "/pods"})


@pytest.mark.parametrize(
    "status, tls, denied",
    [(200, False, False), (401, False, True), (403, True, True), (200, True, False), (404, True, False)],
)
def test_http_answers(server, status, tls, denied):
    port = server(status, tls)
    result = _probe.probe("127.0.0.1", spec(port, "https" if tls else "http"))
    assert result["outcome"] == "http"
    assert result["status"] == status
    assert result["denied"] is denied
    assert "PodList" not in json.dumps(result)  # the body is never returned


def test_refused():
    result = _probe.probe("127.0.0.1", spec(closed_port()))
    assert (result["outcome"], result["status"], result["denied"]) == ("refused", None, True)
    assert result["url"].startswith("http://127.0.0.1:")


def test_https_probe_of_plain_http_port_fails_tls(server):
    result = _probe.probe("127.0.0.1", spec(server(200), "https"))
    assert result["outcome"] == "tls_error"
    assert result["denied"] is True


def test_silent_server_times_out():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        result = _probe.probe("127.0.0.1", spec(listener.getsockname()[1]), timeout=0.3)
    finally:
        listener.close()
    assert result["outcome"] == "timeout"
    assert result["denied"] is True


def test_unresolvable_host_is_undecided():
    result = _probe.probe("no-such-host.invalid", spec(10255))
    assert result["outcome"] == "error"
    assert result["denied"] is None


def test_ipv6_url():
    assert _probe.url_of("::1", spec(10250, "https")) == "https://[::1]:10250/pods"


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"port": 1}, "needs a name"),
        ({"name": "x", "port": "ten"}, "port must be a number"),
        ({"name": "x", "port": 70000}, "port must be a number"),
        ({"name": "x", "port": 1, "scheme": "ftp"}, "scheme must be http or https"),
        ({"name": "x", "port": 1, "path": "pods"}, "path must start with /"),
        ({"name": "x", "port": 1, "kind": "other"}, "kind must be"),
    ],
)
def test_bad_specs(bad, message):
    with pytest.raises(_probe.ProbeSpecError, match=message):
        _probe.run_probes("127.0.0.1", [bad])


def test_defaults():
    names = [s["name"] for s in _probe.default_specs(False)]
    assert names == ["kubelet-readonly", "kubelet-api", "kube-apiserver"]
    assert {(s["port"], s["scheme"], s["path"]) for s in _probe.default_specs(False)} == {
        (10255, "http", "/pods"), (10250, "https", "/pods"), (6443, "https", "/api")}
    assert len(_probe.default_specs(True)) == 6


def run_module(args: dict) -> dict:
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, ".build"))
    proc = subprocess.run(
        [sys.executable, "-m", "ansible_collections.kubefort.hardening.plugins.modules.port_probe"],
        input=json.dumps({"ANSIBLE_MODULE_ARGS": args}), capture_output=True, text=True, env=env, check=False,
    )
    return json.loads(proc.stdout)


def test_module(server):
    port = server(401, tls=True)
    result = run_module({"host": "127.0.0.1", "timeout": 2, "_ansible_check_mode": True, "probes": [
        {"name": "api", "port": port, "path": "/api"},
        {"name": "closed", "port": closed_port(), "scheme": "http"},
    ]})
    assert result["changed"] is False
    assert [(p["name"], p["outcome"], p["status"], p["denied"]) for p in result["probes"]] == [
        ("api", "http", 401, True), ("closed", "refused", None, True)]
