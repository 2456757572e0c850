"""The stand-ins (tests/standins/) answer as the real v1.28.7 components do, on the same files.

The podman scenarios prove restarts, health waits and rollbacks on stand-ins; these tests pin the
stand-ins to the real binaries for what they emulate: which ports answer, what an anonymous request and
a client certificate get, whether the component starts at all. The real kubelet runs with the real API
server of the node (Node,RBAC) in its namespace, so its Webhook authorization has someone to ask.
"""

from __future__ import annotations

import os
import sys

import pytest
from k8s_harness import (
    ANSWERED,
    REPO,
    HarnessError,
    Node,
    http_get,
    joined_kubeconfig,
    kubeconfig_cert,
    kubelet_command,
    kubelet_ports,
    node_ip,
)
from kubefort_testlib import demo_node
from test_real_fixes import CONTROL_PLANE, apply
from test_real_kubelet_merge import CASES, make_tree

pytestmark = pytest.mark.real_k8s

STANDINS = os.path.join(REPO, "tests", "standins")
DONOR = os.path.join(REPO, "demo", "nodes", "cp1")
CLIENT = (os.path.join(DONOR, "etc/kubernetes/pki/apiserver-kubelet-client.crt"),
          os.path.join(DONOR, "etc/kubernetes/pki/apiserver-kubelet-client.key"))
KUBELET_CASES = ["config-insecure", "dropin-unrelated-key"]


def kubelet_answers(root, standin):
    argv, env = kubelet_command(root)
    address = node_ip(root)
    node = Node(root, kubelet_ports(address), address=address)
    if standin:
        # Static pods are not part of this comparison (the stand-in would run them as systemd units).
        node.add_process("kubelet", [sys.executable, os.path.join(STANDINS, "kubelet_standin.py")] + argv[1:],
                         env=dict(env, KUBEFORT_STANDIN_KUBELET_VERSION="1.28.7", KUBEFORT_STANDIN_SYNC_SECONDS="3600"))
    else:
        node.add_etcd()
        node.add_apiserver()
        node.add_containerd()
        node.add_kubelet(argv, env)
    with node:
        try:
            node.wait_for("kubelet", "10248", "/healthz", tls=False)
        except HarnessError:
            if node.exited("kubelet") is not None:
                return "does not start"
            raise
        if not standin:
            admin = kubeconfig_cert(root, "etc/kubernetes/admin.conf", node.scratch)
            node.wait_for("kube-apiserver", "6443", "/readyz", cert=admin)
        node.wait_for("kubelet", "10250", "/healthz", accept=ANSWERED)
        port = node.host_ports
        return {"anonymous /pods": http_get(port["10250"], "/pods")[0],
                "certificate /pods": http_get(port["10250"], "/pods", cert=CLIENT, timeout=60)[0],
                "10255 /pods": http_get(port["10255"], "/pods", tls=False)[0],
                "10248 /healthz": http_get(port["10248"], "/healthz", tls=False)[0]}


@pytest.mark.parametrize("case", KUBELET_CASES + ["alpha-variable-missing"])
def test_kubelet_standin_answers_as_the_real_kubelet(tmp_path, case):
    if case == "alpha-variable-missing":
        files, extra = {"etc/kubernetes/kubelet.conf.d/50-pods.conf": "apiVersion: kubelet.config.k8s.io/v1beta1\n"
                                                                      "kind: KubeletConfiguration\nmaxPods: 50\n"}, \
            "--config-dir=/etc/kubernetes/kubelet.conf.d"
    else:
        files, extra = CASES[case]
    root = make_tree(tmp_path, files, extra)
    # The node's API server authorizes with Node,RBAC (so the kubelet's Webhook questions get real answers).
    path = os.path.join(root, "etc/kubernetes/manifests/kube-apiserver.yaml")
    with open(path) as handle:
        text = handle.read()
    with open(path, "w") as handle:
        handle.write(text.replace("--authorization-mode=AlwaysAllow", "--authorization-mode=Node,RBAC"))
    joined_kubeconfig(root, kubelet_command(root)[0], DONOR)
    assert kubelet_answers(root, standin=True) == kubelet_answers(root, standin=False)


def apiserver_answers(root, standin):
    node = Node(root, {"6443": "tcp:%s:6443" % node_ip(root)})
    node.add_etcd()
    if standin:
        argv = node.add_apiserver()
        node.processes.pop()
        node.add_process("kube-apiserver", [sys.executable, os.path.join(STANDINS, "apiserver_standin.py")] + argv[1:],
                         env={"KUBEFORT_STANDIN_VERSION": "v1.28.7"})
    else:
        node.add_apiserver()
    admin = kubeconfig_cert(root, "etc/kubernetes/admin.conf", node.scratch)
    with node:
        try:
            node.wait_for("kube-apiserver", "6443", "/readyz", cert=admin)
        except HarnessError:
            if node.exited("kube-apiserver") is not None:
                return "does not start"
            raise
        port = node.host_ports["6443"]
        answers = {"admin " + p: http_get(port, p, cert=admin)[0] for p in ("/readyz", "/api")}
        answers.update({"anonymous " + p: http_get(port, p)[0] for p in ("/readyz", "/livez", "/healthz", "/version", "/api")})
        return answers


@pytest.mark.parametrize(("name", "fix"), [("cp1", False), ("cp2", "force")])
def test_apiserver_standin_answers_as_the_real_apiserver(tmp_path, name, fix):
    root = demo_node(tmp_path, name)
    if fix:
        apply(root, CONTROL_PLANE, **({"apiserver_anonymous_force": True} if fix == "force" else {}))
    assert apiserver_answers(root, standin=True) == apiserver_answers(root, standin=False)
