"""The whole sections 1-4 catalog on the bundled kubeadm demo nodes (real kubeadm files), in check mode.

Check mode writes nothing; the statuses show the catalog reading real files the way the components do.
"""

from __future__ import annotations

import pytest

from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options
from ansible_collections.kubefort.hardening.plugins.plugin_utils._harden import run, select_rules
from kubefort_testlib import ROOT_OWNED, call_module_factory, demo_node, tree_hashes

CONTROL_PLANE = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"]
NODE = ["kubelet", "kube-proxy"]


def audit(root, components):
    rules = select_rules(components, [], [])
    outcome = run(call_module_factory(check=True), root, rules, Options(level=2), True, "/var/lib/kubefort/backups", False)
    return {r["id"]: r for r in outcome["results"]}


@pytest.fixture(scope="module")
def cp1(tmp_path_factory):
    root = demo_node(tmp_path_factory.mktemp("cp1"), "cp1")
    before = tree_hashes(root)
    results = audit(root, CONTROL_PLANE)
    results.update(audit(root, NODE))
    assert tree_hashes(root) == before
    return results


@pytest.mark.parametrize("rule_id, status", [
    ("apiserver-manifest-permissions", "would_fix"),      # kube-apiserver.yaml is 0644 on cp1
    pytest.param("controller-manager-manifest-permissions", "pass", marks=ROOT_OWNED),
    ("pki-key-permissions", "pass"),
    pytest.param("pki-ownership", "pass", marks=ROOT_OWNED),
    ("apiserver-profiling", "would_fix"),                 # kubeadm leaves profiling on
    ("apiserver-audit-log-maxage", "would_fix"),
    ("apiserver-service-account-lookup", "pass"),         # absent: the default true
    ("apiserver-kubelet-client-cert", "pass"),
    ("apiserver-kubelet-certificate-authority", "fail"),  # kubeadm does not set it; operator decision
    ("apiserver-audit-policy", "fail"),                   # nothing supplied: says which variable to set
    ("apiserver-insecure-port", "not_applicable"),        # 1.28: the flag no longer exists
    ("controller-manager-bind-address", "pass"),
    ("controller-manager-rotate-kubelet-server-certificate", "pass"),
    ("etcd-client-cert-auth", "pass"),
    ("etcd-unique-ca", "pass"),                           # pki/etcd/ca.crt is not the cluster CA
    ("users-no-client-certificates", "manual"),
    ("kubelet-streaming-connection-idle-timeout", "pass"),  # 0s in config.yaml is the 4h default
    ("kubelet-read-only-port", "would_fix"),
    ("kubelet-rotate-certificates", "pass"),
    pytest.param("kubelet-client-ca-permissions", "pass", marks=ROOT_OWNED),
    ("kubelet-cadvisor-port", "not_applicable"),
])
def test_demo_cp1(cp1, rule_id, status):
    assert cp1[rule_id]["status"] == status, cp1[rule_id]["message"]


def test_demo_results_say_what_to_provide(cp1):
    assert "kubefort_apiserver_audit_policy" in cp1["apiserver-audit-policy"]["message"]
    assert cp1["kubelet-streaming-connection-idle-timeout"]["actual"] == "0s"
    assert "default 4h0m0s" in cp1["kubelet-streaming-connection-idle-timeout"]["message"]
