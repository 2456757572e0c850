"""The kubeadm 1.28 node trees a real kubeadm v1.28.7 wrote (shared/fixtures/nodes), fixed by kubefort, run by the
real v1.28.7 kube-apiserver and kubelet: every fix is accepted and each rule does what it promises.

Unlike the demo nodes (varied by hand), these trees are byte for byte what ``kubeadm init`` / ``join`` left,
so this is the run an operator of a stock kubeadm 1.28 cluster gets. What is checked on the running
component, per rule:

- API server: it starts and is ready; profiling is off (``/debug/pprof/`` 404); anonymous requests reach only
  the health paths; a TLS client offering only a cipher suite outside kubefort's list is refused, one of the
  list is served; the audit log kubefort configures is opened in the node's ``/var/log`` (hostPath volume),
  and it records requests only when an audit policy that audits something is set too (CIS 3.2.1): without
  one, or with one whose rules are all level None (RKE2's default), it stays empty, and kubefort's audit log
  results (CIS 1.2.16-1.2.19) say so exactly then.
- kubelet: it starts; anonymous requests to 10250 get 401; the read-only port 10255 is closed; the serving
  port refuses a cipher suite outside the list.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import time

import pytest
from k8s_harness import (
    ANSWERED,
    REPO,
    Node,
    http_get,
    joined_kubeconfig,
    kubeconfig_cert,
    kubelet_command,
    kubelet_ports,
    node_ip,
)
from kubefort_testlib import _demo_nodes_script, call_module_factory

from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options
from ansible_collections.kubefort.hardening.plugins.plugin_utils._harden import run, select_rules

pytestmark = pytest.mark.real_k8s

CONTROL_PLANE = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"]
# A policy an operator would supply for CIS 3.2.1: every request at Metadata level.
AUDIT_POLICY = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n"
# A policy that audits nothing, as RKE2's default audit-policy.yaml.
AUDIT_NOTHING = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n"
AUDIT_LOG_RULES = ("apiserver-audit-log-path", "apiserver-audit-log-maxage", "apiserver-audit-log-maxbackup",
                   "apiserver-audit-log-maxsize")
NONE_WRITTEN = "no audit events are written"
# OpenSSL names: one suite outside kubefort's lists (CBC, no AEAD) and one inside them.
OUTSIDE = "ECDHE-RSA-AES128-SHA"
INSIDE = "ECDHE-RSA-AES128-GCM-SHA256"


def shared_fixtures() -> str:
    for candidate in (os.path.join(REPO, "..", "shared", "fixtures", "nodes"),
                      os.path.join(REPO, "..", "..", "shared", "fixtures", "nodes")):
        if os.path.isdir(os.path.join(candidate, "kubeadm-1.28-control-plane")):
            return os.path.realpath(candidate)
    pytest.skip("the kubeadm 1.28 fixtures of shared/fixtures/nodes are not beside this checkout")
    raise AssertionError  # not reached


def fixture_node(tmp_path, name: str) -> str:
    target = os.path.join(str(tmp_path), "nodes", name)
    shutil.copytree(os.path.join(shared_fixtures(), name), target, symlinks=True)
    for directory, dirs, files in os.walk(target):  # the shared copy is read-only
        for entry in dirs + files:
            os.chmod(os.path.join(directory, entry), 0o755 if entry in dirs else 0o644)
    os.chmod(target, 0o755)
    _demo_nodes_script().apply_modes(target)
    return target


def apply(root: str, components, **options):
    return apply_twice(root, components, **options)[0]


def apply_twice(root: str, components, **options):
    """The results of an apply and of a second apply (which changes nothing: what the node now says)."""
    rules = select_rules(components, [], [])
    first = run(call_module_factory(check=False), root, rules, Options(**options), False, "/var/lib/kubefort/backups", True)
    assert not first["failed"], first["msg"]
    assert not [(r["id"], r["message"]) for r in first["results"] if r["status"] == "error"]
    again = run(call_module_factory(check=False), root, rules, Options(**options), False, "/var/lib/kubefort/backups", True)
    assert not again["changed"]
    return {r["id"]: r for r in first["results"]}, {r["id"]: r for r in again["results"]}


def tls_handshake(port: int, cipher: str) -> bool:
    """Whether the server completes a TLS 1.2 handshake offering only this cipher suite."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(cipher)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            with context.wrap_socket(sock):
                return True
    except (ssl.SSLError, OSError):
        return False


def audit_log(node: Node) -> str:
    """The audit log the API server writes in the node's /var/log (the overlay's upper layer), or '' if none."""
    found = [os.path.join(d, f) for d, _s, files in os.walk(node.scratch) for f in files if f == "audit.log"]
    assert found, "the API server opened no audit.log"
    with open(found[0]) as handle:
        return handle.read()


def start_apiserver(root: str) -> Node:
    node = Node(root, {"6443": "tcp:%s:6443" % node_ip(root)})
    node.add_etcd()
    node.add_apiserver()
    node.start()
    return node


def own_policy(root: str, text: str) -> None:
    """The operator's own audit policy, named by the manifest (as RKE2 names its audit-policy.yaml), in a
    directory kubeadm's manifest already mounts."""
    with open(os.path.join(root, "etc/kubernetes/pki/audit-policy.yaml"), "w") as handle:
        handle.write(text)
    manifest = os.path.join(root, "etc/kubernetes/manifests/kube-apiserver.yaml")
    with open(manifest) as handle:
        lines = handle.read().splitlines(keepends=True)
    at = lines.index("    - kube-apiserver\n") + 1
    lines.insert(at, "    - --audit-policy-file=/etc/kubernetes/pki/audit-policy.yaml\n")
    with open(manifest, "w") as handle:
        handle.write("".join(lines))


@pytest.mark.parametrize("policy", ["none", "own-audits-nothing", "supplied"])
def test_control_plane_fixture_runs_every_fix(tmp_path, policy):
    root = fixture_node(tmp_path, "kubeadm-1.28-control-plane")
    if policy == "own-audits-nothing":
        own_policy(root, AUDIT_NOTHING)
    results, after = apply_twice(root, CONTROL_PLANE, supplied={"audit_policy": AUDIT_POLICY} if policy == "supplied" else {})
    for rule in ("apiserver-profiling", "apiserver-tls-cipher-suites", "apiserver-audit-log-path"):
        assert results[rule]["status"] == "fixed", results[rule]
    assert results["apiserver-audit-policy"]["status"] == ("fixed" if policy == "supplied" else "fail")
    for rule in AUDIT_LOG_RULES:
        assert after[rule]["status"] == "pass", after[rule]
    # What kubefort says of the audit log, in the apply's results and in those of the run after it.
    said_empty = {NONE_WRITTEN in r[rule]["message"] for r in (results, after) for rule in AUDIT_LOG_RULES}
    assert len(said_empty) == 1, [r[rule]["message"] for r in (results, after) for rule in AUDIT_LOG_RULES]
    admin = kubeconfig_cert(root, "etc/kubernetes/admin.conf", str(tmp_path))
    node = start_apiserver(root)
    try:
        node.wait_for("kube-apiserver", "6443", "/readyz", cert=admin)
        port = node.host_ports["6443"]
        assert http_get(port, "/api/v1/namespaces", cert=admin)[0] == 200
        assert http_get(port, "/debug/pprof/", cert=admin)[0] == 404
        assert http_get(port, "/api")[0] == 403 and http_get(port, "/livez")[0] == 200
        assert not tls_handshake(port, OUTSIDE) and tls_handshake(port, INSIDE)
        if policy == "supplied":
            deadline = time.monotonic() + 60
            while '"/api/v1/namespaces"' not in audit_log(node) and time.monotonic() < deadline:
                time.sleep(0.2)
            events = [json.loads(line) for line in audit_log(node).splitlines()]
            assert any(e["requestURI"] == "/api/v1/namespaces" and e["level"] == "Metadata" for e in events)
        else:
            # 1.2.16-1.2.19 are met, yet the real API server audits nothing: the log stays empty (the log
            # backend writes in the request's path, so the requests above are in it if they are audited).
            assert audit_log(node) == ""
        # kubefort's results match what the real API server logs.
        assert said_empty == {audit_log(node) == ""}
    finally:
        node.stop()


def test_worker_fixture_kubelet_runs_every_fix(tmp_path):
    root = fixture_node(tmp_path, "kubeadm-1.28-worker")
    donor = fixture_node(tmp_path, "kubeadm-1.28-control-plane")  # same cluster CA: its kubelet.conf as join's
    joined_kubeconfig(root, kubelet_command(root)[0], donor)
    results = apply(root, ["kubelet"])
    assert results["kubelet-tls-cipher-suites"]["status"] == "fixed", results["kubelet-tls-cipher-suites"]
    for rule in ("kubelet-anonymous-auth", "kubelet-authorization-mode", "kubelet-read-only-port"):
        assert results[rule]["status"] in ("fixed", "pass"), results[rule]
    argv, env = kubelet_command(root)
    address = node_ip(root)
    node = Node(root, kubelet_ports(address), address=address)
    node.add_containerd()
    node.add_kubelet(argv, env)
    node.start()
    try:
        node.wait_for("kubelet", "10248", "/healthz", tls=False)
        node.wait_for("kubelet", "10250", "/healthz", accept=ANSWERED)
        assert http_get(node.host_ports["10250"], "/pods")[0] == 401
        assert http_get(node.host_ports["10255"], "/pods", tls=False)[0] == 0
        assert not tls_handshake(node.host_ports["10250"], OUTSIDE) and tls_handshake(node.host_ports["10250"], INSIDE)
    finally:
        node.stop()
