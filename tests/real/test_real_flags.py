"""The 1.28 flag lists of the catalog (plugins/module_utils/_component_flags.py) are the real binaries' flags,
and a flag they do not know is what kubefort reports as "will not start" — as the real binary does."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from k8s_harness import REPO, Node, binary, joined_kubeconfig, kubelet_command, kubelet_ports, node_ip
from kubefort_testlib import call_module_factory, demo_node

from ansible_collections.kubefort.hardening.plugins.module_utils import _component_flags
from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options
from ansible_collections.kubefort.hardening.plugins.plugin_utils._harden import run, select_rules

pytestmark = pytest.mark.real_k8s

LISTS = {
    "kubelet": (_component_flags.KUBELET_1_28_HELP, _component_flags.KUBELET_1_28_HIDDEN),
    "kube-apiserver": (_component_flags.KUBE_APISERVER_1_28_HELP, _component_flags.KUBE_APISERVER_1_28_HIDDEN),
}


def accepts(program: str, flag: str) -> bool:
    """Whether the binary parses ``--flag=x`` (``--version`` then makes it print and exit: nothing starts)."""
    out = subprocess.run([binary(program), "--%s=x" % flag, "--version"], capture_output=True, text=True, timeout=60, check=False)
    return "unknown flag" not in out.stdout + out.stderr


@pytest.mark.parametrize("program", sorted(LISTS))
def test_help_flags_are_the_catalog_list(program):
    out = subprocess.run([binary(program), "--help"], capture_output=True, text=True, timeout=60, check=False)
    listed = set(re.findall(r"^\s+(?:-\w, )?--([a-z0-9][a-z0-9-]*)", out.stdout + out.stderr, re.M))
    assert listed == set(LISTS[program][0])


@pytest.mark.parametrize("program", sorted(LISTS))
def test_hidden_flags_are_accepted_and_a_misspelt_one_is_not(program):
    for flag in LISTS[program][1]:
        assert accepts(program, flag), flag
    assert not accepts(program, "read-only-prot")


@pytest.mark.parametrize("program", sorted(LISTS))
def test_the_recorded_later_changes_agree_with_the_1_28_binary(program):
    """Every change recorded for 1.29+ starts from 1.28 as the real binary has it: a flag added later is
    refused by the 1.28 binary, a flag removed later is accepted by it (provider-only flags excepted: these
    binaries are built providerless)."""
    providers = _component_flags.PROVIDER_FLAGS_1_28[program]
    changes = [c for c in _component_flags.CHANGES if c.component == program]
    assert changes
    for change in changes:
        if change.kind == "added":
            assert not accepts(program, change.flag), change
        elif change.flag not in providers:
            assert accepts(program, change.flag), change
    for flag in providers:
        assert not accepts(program, flag), flag  # providerless: the list keeps them from the source


def audit(root, components):
    rules = select_rules(components, [], [])
    return run(call_module_factory(check=True), root, rules, Options(), True, "/var/lib/kubefort/backups", False)


def test_misspelt_kubelet_flag_is_an_error_and_the_real_kubelet_exits(tmp_path):
    root = demo_node(tmp_path, "cp1")
    os.makedirs(os.path.join(root, "etc/default"), exist_ok=True)
    with open(os.path.join(root, "etc/default/kubelet"), "w") as handle:
        handle.write('KUBELET_EXTRA_ARGS="--read-only-prot=0"\n')
    outcome = audit(root, ["kubelet"])
    for result in outcome["results"]:
        if result["status"] != "not_applicable":
            assert result["status"] == "error" and "unknown flag --read-only-prot" in result["message"], result
    assert not outcome["diff"]
    argv, env = kubelet_command(root)
    joined_kubeconfig(root, argv, os.path.join(REPO, "demo", "nodes", "cp1"))
    node = Node(root, kubelet_ports(node_ip(root)), address=node_ip(root))
    node.add_containerd()
    node.add_kubelet(argv, env)
    with node:
        assert node.wait_exit("kubelet") != 0
        assert "unknown flag: --read-only-prot" in node.tail("kubelet", 40)


def test_misspelt_apiserver_flag_is_an_error(tmp_path):
    """The real API server's refusal of the same manifest is tests/real/test_real_fixes.py's."""
    root = demo_node(tmp_path, "cp2")
    path = os.path.join(root, "etc/kubernetes/manifests/kube-apiserver.yaml")
    with open(path) as handle:
        text = handle.read()
    with open(path, "w") as handle:
        handle.write(text.replace("    - --secure-port=6443\n", "    - --secure-port=6443\n    - --profilling=false\n"))
    outcome = audit(root, ["kube-apiserver"])
    statuses = {r["status"] for r in outcome["results"] if r["component"] == "kube-apiserver"}
    assert statuses <= {"error", "not_applicable"}
    assert any("unknown flag --profilling" in r["message"] for r in outcome["results"])
