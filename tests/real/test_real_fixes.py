"""Every file kubefort writes, started by the real v1.28.7 kube-apiserver and kubelet.

Each demo node is copied, fixed by kubefort (offline root, every rule of the component), then the real
component is started from the fixed files at their real paths (tests/real/k8s_harness.py) and must
behave as the rules promise. A fix the real component refuses fails here.
"""

from __future__ import annotations

import os
import re

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
from kubefort_testlib import call_module_factory, demo_node

from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options
from ansible_collections.kubefort.hardening.plugins.plugin_utils._harden import run, select_rules

pytestmark = pytest.mark.real_k8s

CONTROL_PLANE = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"]
DONOR = os.path.join(REPO, "demo", "nodes", "cp1")  # the demo cluster's CA and credentials


def apply(root: str, components, **options):
    """kubefort's fix (not check mode) with every rule of these components; the second run must change nothing."""
    rules = select_rules(components, [], [])
    first = run(call_module_factory(check=False), root, rules, Options(**options), False, "/var/lib/kubefort/backups", True)
    assert not first["failed"], first["msg"]
    errors = [(r["id"], r["message"]) for r in first["results"] if r["status"] == "error"]
    assert not errors
    again = run(call_module_factory(check=False), root, rules, Options(**options), False, "/var/lib/kubefort/backups", True)
    assert not again["changed"]
    return {r["id"]: r for r in first["results"]}


def as_version(root: str, version: str) -> None:
    """Make a demo control plane claim another version (its image tags), to run its files on this binary."""
    for name in os.listdir(os.path.join(root, "etc/kubernetes/manifests")):
        path = os.path.join(root, "etc/kubernetes/manifests", name)
        if os.path.isfile(path) and name.endswith(".yaml"):
            with open(path) as handle:
                text = handle.read()
            with open(path, "w") as handle:
                handle.write(re.sub(r"(image: \S+:)v[0-9.]+", r"\g<1>v" + version, text))


def start_apiserver(root: str) -> Node:
    node = Node(root, {"6443": "tcp:%s:6443" % node_ip(root)})
    node.add_etcd()
    node.add_apiserver()
    node.start()
    return node


# --- API server --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "version", "options"), [
    ("cp1", None, {}),  # AlwaysAllow, the anonymous rule stays manual on 1.28 (kubeadm's probes)
    ("cp2", None, {"apiserver_anonymous_force": True}),  # the opt-in --anonymous-auth=false
    ("cp3", "1.28.7", {}),  # --authorization-mode given twice, as a 1.28 control plane
])
def test_apiserver_runs_every_fix(tmp_path, name, version, options):
    root = demo_node(tmp_path, name)
    if version:
        as_version(root, version)
    results = apply(root, CONTROL_PLANE, **options)
    fixed = sorted(r for r, v in results.items() if v["status"] == "fixed" and r.startswith("apiserver-"))
    admin = kubeconfig_cert(root, "etc/kubernetes/admin.conf", str(tmp_path))
    node = start_apiserver(root)
    try:
        node.wait_for("kube-apiserver", "6443", "/readyz", cert=admin)
        port = node.host_ports["6443"]
        assert http_get(port, "/api", cert=admin)[0] == 200
        anonymous_off = results["apiserver-anonymous-auth"]["status"] in ("fixed", "pass")
        if anonymous_off:
            assert http_get(port, "/api")[0] == 401 and http_get(port, "/readyz")[0] == 401
        else:
            # Anonymous on, but authorization is Node,RBAC now: only the public health paths.
            assert http_get(port, "/api")[0] == 403
            assert http_get(port, "/readyz")[0] == 200 and http_get(port, "/livez")[0] == 200
        if "apiserver-profiling" in fixed or results["apiserver-profiling"]["status"] == "pass":
            assert http_get(port, "/debug/pprof/", cert=admin)[0] == 404
        if results.get("apiserver-audit-log-path", {}).get("status") in ("fixed", "pass"):
            # The API server opened the audit log in the node's /var/log through the volume kubefort mounted
            # (the overlay's upper layer holds what was written). Without an --audit-policy-file (not a rule
            # kubefort fixes) the real API server writes no events into it.
            found = [os.path.join(d, f) for d, _s, files in os.walk(node.scratch) for f in files if f == "audit.log"]
            assert found
    finally:
        node.stop()
    assert fixed  # there was something to fix on every one of these nodes


def test_apiserver_refuses_a_misspelt_flag(tmp_path):
    """The harness sees a refused start: a deliberately wrong flag makes the real API server exit."""
    root = demo_node(tmp_path, "cp2")
    path = os.path.join(root, "etc/kubernetes/manifests/kube-apiserver.yaml")
    with open(path) as handle:
        text = handle.read()
    with open(path, "w") as handle:
        handle.write(text.replace("- --profiling=false", "- --profilling=false") if "--profiling" in text
                     else text.replace("    - --secure-port=6443\n", "    - --secure-port=6443\n    - --profilling=false\n"))
    node = start_apiserver(root)
    try:
        assert node.wait_exit("kube-apiserver") != 0
        assert "unknown flag: --profilling" in node.tail("kube-apiserver", 50)
    finally:
        node.stop()


# --- kubelet -----------------------------------------------------------------------------------------


def start_kubelet(root: str) -> Node:
    argv, env = kubelet_command(root)
    address = node_ip(root)
    node = Node(root, kubelet_ports(address), address=address)
    node.add_containerd()
    node.add_kubelet(argv, env)
    node.start()
    return node


@pytest.mark.parametrize("name", ["cp1", "cp2", "cp3", "worker1", "worker2", "worker3"])
def test_kubelet_runs_every_fix(tmp_path, name):
    root = demo_node(tmp_path, name)
    joined_kubeconfig(root, kubelet_command(root)[0], DONOR)
    results = apply(root, ["kubelet"])
    for rule in ("kubelet-anonymous-auth", "kubelet-authorization-mode", "kubelet-read-only-port"):
        assert results[rule]["status"] in ("fixed", "pass"), results[rule]
    client = (os.path.join(DONOR, "etc/kubernetes/pki/apiserver-kubelet-client.crt"),
              os.path.join(DONOR, "etc/kubernetes/pki/apiserver-kubelet-client.key"))
    node = start_kubelet(root)
    try:
        node.wait_for("kubelet", "10248", "/healthz", tls=False)
        node.wait_for("kubelet", "10250", "/healthz", accept=ANSWERED)
        assert http_get(node.host_ports["10250"], "/pods")[0] == 401  # anonymous refused
        assert http_get(node.host_ports["10255"], "/pods", tls=False)[0] == 0  # read-only port closed
        # A certificate user (where the kubelet has a client CA: worker2 has none, so 401) is then asked
        # about by Webhook authorization (no API server here: not allowed), where AlwaysAllow says 200.
        assert http_get(node.host_ports["10250"], "/pods", cert=client, timeout=60)[0] not in (0, 200)
    finally:
        node.stop()
