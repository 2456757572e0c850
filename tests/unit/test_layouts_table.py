"""The layout table: one round trip finds any distribution, and detection prefers the most specific layout."""

from __future__ import annotations

import fnmatch
import os

import pytest

from ansible_collections.kubefort.hardening.plugins.plugin_utils import _dist_rancher, _layouts
from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options
from ansible_collections.kubefort.hardening.plugins.plugin_utils._harden import run, select_rules
from kubefort_testlib import DEMO_NODES, REPO, call_module_factory

FIXTURES = os.path.join(REPO, "tests", "fixtures", "nodes")
SETTINGS = ["4.2.1", "4.2.2", "4.2.4", "1.2.6", "1.2.7", "1.2.8"]


def covered(path, request):
    """Whether round one reads or stats ``path`` (or names it as a unit file)."""
    patterns = request["read"] + request["stat"]
    for pattern in patterns:
        if pattern.endswith("/**") and path.startswith(pattern[:-2]):
            return True
        if fnmatch.fnmatch(path, pattern):
            return True
    return os.path.basename(path) in request["units"]


@pytest.mark.parametrize("layout", _layouts.LAYOUTS, ids=lambda layout: layout.name)
def test_round_one_asks_for_every_marker(layout):
    request = _layouts.first_request()
    for marker in layout.markers:
        assert covered(marker, request), marker
    assert set(layout.processes) <= set(request["processes"])


@pytest.mark.parametrize("files, units, processes, expected", [
    ({"/var/lib/kubelet/kubeadm-flags.env": {"type": "file"}}, {}, {}, "kubeadm"),
    # kubespray runs kubeadm too: its own files win.
    ({"/var/lib/kubelet/kubeadm-flags.env": {"type": "file"}, "/etc/kubernetes/kubelet.env": {"type": "file"}}, {}, {}, "kubespray"),
    ({}, {"k3s-agent.service": {"unit": "/etc/systemd/system/k3s-agent.service"}}, {}, "k3s"),
    ({}, {"rke2-server.service": {"unit": "/usr/lib/systemd/system/rke2-server.service"}}, {}, "rke2"),
    ({}, {}, {"kubelite": [{"pid": 1}]}, "microk8s"),
    ({"/etc/kubernetes/kubelet/kubelet-config.json": {"type": "file"}}, {}, {}, "eks"),
    ({"/etc/rancher/k3s/config.yaml": {"type": "missing"}}, {}, {}, None),
])
def test_detect(files, units, processes, expected):
    assert _layouts.detect(files, units, processes) == expected


@pytest.mark.parametrize("root", [os.path.join(FIXTURES, n) for n in sorted(os.listdir(FIXTURES))]
                         + [os.path.join(DEMO_NODES, "cp1"), os.path.join(DEMO_NODES, "worker2")])
def test_an_audit_is_one_round_trip_two_at_most(root):
    components = ["kubelet", "kube-proxy", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"]
    # The settings rules: every distribution's files are in round one.
    calls = []
    outcome = run(call_module_factory(check=True, calls=calls), root, select_rules(components, SETTINGS, []), Options(), True,
                  "/var/lib/kubefort/backups", False)
    # The kubeadm fixtures' API servers name structured configuration files in a directory of the
    # administrator's (/etc/kubernetes/apiserver-config): a second round reads them.
    own_dir = os.path.basename(root).startswith("kubeadm-1.")
    assert outcome["round_trips"] == (2 if own_dir else 1) and set(calls) == {"kubefort.hardening.node_facts"}
    # Every rule (file rules stat what flags name): a second round at most, whatever the number of rules.
    calls = []
    outcome = run(call_module_factory(check=True, calls=calls), root, select_rules(components, [], []), Options(), True,
                  "/var/lib/kubefort/backups", False)
    # A third only when an AdmissionConfiguration read in round two names another file (kubeadm-1.35's
    # EventRateLimit ``path``).
    assert outcome["round_trips"] <= (3 if root.endswith("kubeadm-1.35") else 2) and set(calls) == {"kubefort.hardening.node_facts"}


@pytest.mark.parametrize("dist, version, open_port", [
    ("k3s", "v1.32.3+k3s1", True), ("k3s", "v1.32.4+k3s1", False), ("k3s", "v1.31.7+k3s1", False),
    ("rke2", "v1.32.5+rke2r1", True), ("rke2", "v1.33.2+rke2r1", False), ("k3s", None, False), ("k3s", "garbage", False),
])
def test_read_only_port_releases(dist, version, open_port):
    assert _dist_rancher.read_only_port_open(dist, version) is open_port


@pytest.mark.parametrize("layout", _layouts.LAYOUTS, ids=lambda layout: layout.name)
def test_every_layout_is_written_by_its_distribution_module(layout):
    dist = _layouts.distribution(layout.name)
    assert dist is _layouts.DISTRIBUTIONS[layout.name]
    # The module that writes the layout's settings is the one named after its distribution.
    module = {"kubespray": "kubeadm", "k3s": "rancher", "rke2": "rancher"}.get(layout.name, layout.name)
    assert dist.write_flag.__module__.endswith("_dist_" + module) or layout.name == "eks"
    assert dist.lasting_mode.__module__.endswith(("_dist_" + module, "_dist_base"))


def test_generic_nodes_are_written_as_kubeadm_nodes():
    from ansible_collections.kubefort.hardening.plugins.plugin_utils import _dist_kubeadm

    assert _layouts.distribution("generic") is _dist_kubeadm.DISTRIBUTION
    assert _layouts.distribution("none") is _dist_kubeadm.DISTRIBUTION
