"""The audit flags kubefort writes for an API server that runs on the host (microk8s' kubelite, k3s), read by the
real v1.28.7 kube-apiserver.

kubefort writes ``--audit-log-path`` (and, with kubefort_apiserver_audit_policy, ``--audit-policy-file``) into
microk8s' args file and creates no log directory: the API server makes the log's directory (0700) and the log
(0600) itself when it starts (k8s.io/apiserver AuditLogOptions.ensureLogFile), before it connects to its storage.
This runs the real binary with the two flags as the snap's wrapper reads them from the fixed args file (paths
moved under the copied node tree) and waits for the log to appear; the policy it loads is the file kubefort wrote.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import pytest
from k8s_harness import REPO, binary
from kubefort_testlib import _demo_nodes_script, call_module_factory

from ansible_collections.kubefort.hardening.plugins.plugin_utils._dist_microk8s import parse_args_file
from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options
from ansible_collections.kubefort.hardening.plugins.plugin_utils._harden import run, select_rules

pytestmark = pytest.mark.real_k8s

POLICY = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_microk8s_audit_flags_are_read_and_the_log_directory_is_made_by_the_api_server(tmp_path):
    root = str(tmp_path / "microk8s")
    shutil.copytree(os.path.join(REPO, "tests", "fixtures", "nodes", "microk8s"), root, symlinks=True)
    _demo_nodes_script().apply_modes(root)
    rules = select_rules(["kube-apiserver"], ["1.2.16", "3.2.1"], [])
    out = run(call_module_factory(), root, rules, Options(supplied={"audit_policy": POLICY}), False, "/var/lib/kubefort/backups", False)
    assert [r["status"] for r in out["results"]] == ["fixed", "fixed"], out["results"]
    args_file = "/var/snap/microk8s/current/args/kube-apiserver"
    with open(os.path.join(root, args_file.lstrip("/")), encoding="utf-8") as handle:
        words, _sources = parse_args_file(handle.read(), args_file)
    flags = dict(w[2:].split("=", 1) for w in words if w.startswith("--audit-"))
    log = os.path.join(root, flags["audit-log-path"].lstrip("/"))
    assert not os.path.exists(os.path.dirname(log))  # kubefort made no directory
    policy = os.path.join(root, flags["audit-policy-file"].lstrip("/"))
    certs = tmp_path / "sa"
    certs.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(certs / "sa.key"),
                    "-out", str(certs / "sa.crt"), "-subj", "/CN=sa", "-days", "1"], check=True, capture_output=True)
    with open(tmp_path / "apiserver.log", "wb") as output:
        proc = subprocess.Popen([
            binary("kube-apiserver"), "--audit-log-path=" + log, "--audit-policy-file=" + policy,
            "--etcd-servers=http://127.0.0.1:%d" % free_port(), "--bind-address=127.0.0.1",
            "--secure-port=%d" % free_port(), "--cert-dir=%s" % (tmp_path / "serving"),
            "--service-account-issuer=https://kubernetes.default.svc",
            "--service-account-key-file=%s" % (certs / "sa.crt"), "--service-account-signing-key-file=%s" % (certs / "sa.key"),
        ], stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not os.path.exists(log) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        with open(tmp_path / "apiserver.log", encoding="utf-8", errors="replace") as handle:
            assert os.path.exists(log), handle.read()[-3000:]
    finally:
        proc.kill()
        proc.wait()
    assert oct(os.stat(os.path.dirname(log)).st_mode & 0o777) == "0o700"
    assert oct(os.stat(log).st_mode & 0o777) == "0o600"
