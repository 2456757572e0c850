"""kubefort_overrides checked up front: an unknown rule or a value the component cannot take stops the run in one line.

An override replaces the value kubefort writes: ``readOnlyPort: ten`` or ``enabled: "false"`` in a kubelet
config makes the real kubelet refuse its config at the next start, so such a value must never reach a node.
"""

from __future__ import annotations

import pytest

from ansible_collections.kubefort.hardening.plugins.action.check_input import rule_problems


@pytest.mark.parametrize("overrides, words", [
    ({"kubelet-read-only-prot": 10255},
     ["kubefort_overrides: unknown rule ID(s): kubelet-read-only-prot", "did you mean kubelet-read-only-port"]),
    ({"4.2.4": 10255}, ["kubefort_overrides: unknown rule ID(s): 4.2.4", "kubelet-read-only-port"]),
    ({"kubelet-read-only-port": "ten"},
     ["kubefort_overrides.kubelet-read-only-port: expected an integer, got \"ten\" (str)"]),
    ({"kubelet-read-only-port": "10255"}, ["kubefort_overrides.kubelet-read-only-port: expected an integer, got \"10255\" (str)"]),
    ({"kubelet-read-only-port": True}, ["kubefort_overrides.kubelet-read-only-port: expected an integer, got true (bool)"]),
    ({"kubelet-anonymous-auth": "false"},
     ["kubefort_overrides.kubelet-anonymous-auth: expected a boolean (true or false), got \"false\" (str)"]),
    ({"kubelet-pod-pids-limit": 4.5}, ["kubefort_overrides.kubelet-pod-pids-limit: expected an integer, got 4.5 (float)"]),
])
def test_a_wrong_override_is_one_line(overrides, words):
    lines = rule_problems({"kubefort_overrides": overrides})
    assert len(lines) == 1 and "\n" not in lines[0] and len(lines[0]) < 300, lines
    for word in words:
        assert word in lines[0], lines


def test_good_overrides_pass():
    assert rule_problems({"kubefort_overrides": {
        "kubelet-read-only-port": 10255, "kubelet-pod-pids-limit": 4096, "kubelet-anonymous-auth": True,
        "apiserver-request-timeout": "300s", "apiserver-audit-log-maxage": 90,
        "kubelet-tls-cipher-suites": ["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"]}}) == []


@pytest.mark.parametrize("name, value, words", [
    ("kubefort_node_components", ["kubelett"], ["kubefort_node_components: expected a list of strs, one of kubelet, kube-proxy",
                                                "got [\"kubelett\"]"]),
    ("kubefort_control_plane_components", ["kube-apiserver", "etcd3"], ["one of kube-apiserver, kube-controller-manager, "
                                                                        "kube-scheduler, etcd"]),
    ("kubefort_node_components", [], []),  # nothing selected is a choice (a host whose node rules are not wanted)
    ("kubefort_control_plane_components", ["etcd"], []),
])
def test_a_misspelt_component_is_one_line(name, value, words):
    """A component name kubefort does not know selected no rules: the component was silently not audited."""
    from ansible_collections.kubefort.hardening.plugins.action.check_input import problem, role_options

    line = problem(name, role_options()[name], value)
    if not words:
        assert line is None, line
        return
    assert line is not None and "\n" not in line, line
    for word in words:
        assert word in line, line
