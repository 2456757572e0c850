"""The files the CIS 4.1.x rules check come from how each distribution runs its kubelet and kube-proxy.

k3s and RKE2 start the kubelet with ``--kubeconfig=<data-dir>/agent/kubelet.kubeconfig`` and its client CA
``<data-dir>/agent/client-ca.crt`` (the defaults drop-in, a flag before v1.32), kube-proxy with
``--kubeconfig=<data-dir>/agent/kubeproxy.kubeconfig`` (k3s pkg/agent/config, pkg/daemons/agent), on servers
and agents alike; microk8s and EKS name them in the kubelet's own flags. The fixtures hold the files with
the modes their installers leave.
"""

from __future__ import annotations

import os
import typing as t

import pytest

from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options
from ansible_collections.kubefort.hardening.plugins.plugin_utils._harden import run, select_rules
from kubefort_testlib import call_module_factory, tree_hashes
from test_restart_plan import fixture_copy

RULES = ("4.1.3", "4.1.4", "4.1.5", "4.1.6", "4.1.7", "4.1.8")
KUBELET_KUBECONFIG, CLIENT_CA, PROXY_KUBECONFIG = "kubelet-kubeconfig", "kubelet-client-ca", "kube-proxy-kubeconfig"
K3S, RKE2, SNAP = "/var/lib/rancher/k3s/agent/", "/var/lib/rancher/rke2/agent/", "/var/snap/microk8s/current/"
SERVER = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-proxy", "kube-scheduler", "kubelet"]


def agent_files(agent: str) -> t.Dict[str, t.Tuple[str, str]]:
    """k3s/RKE2: what the agent writes (kubeconfigs with os.Create under umask 022, certificates 0600)."""
    return {KUBELET_KUBECONFIG: (agent + "kubelet.kubeconfig", "0644"), CLIENT_CA: (agent + "client-ca.crt", "0600"),
            PROXY_KUBECONFIG: (agent + "kubeproxy.kubeconfig", "0644")}


# fixture -> (components found, the unit a fix restarts, {file rule: (path, mode the installer leaves)})
EXPECTED = {
    "k3s": (SERVER, "k3s.service", agent_files(K3S)),
    "k3s-agent": (["kube-proxy", "kubelet"], "k3s-agent.service", agent_files(K3S)),
    "rke2": (SERVER, "rke2-server.service", agent_files(RKE2)),
    "rke2-agent": (["kube-proxy", "kubelet"], "rke2-agent.service", agent_files(RKE2)),
    "microk8s": (["kube-apiserver", "kube-proxy", "kube-scheduler", "kubelet"], "snap.microk8s.daemon-kubelite.service", {
        KUBELET_KUBECONFIG: (SNAP + "credentials/kubelet.config", "0660"), CLIENT_CA: (SNAP + "certs/ca.crt", "0660"),
        PROXY_KUBECONFIG: (SNAP + "credentials/proxy.config", "0660")}),
    "eks-al2023": (["kubelet"], "kubelet.service", {
        KUBELET_KUBECONFIG: ("/var/lib/kubelet/kubeconfig", "0644"), CLIENT_CA: ("/etc/kubernetes/pki/ca.crt", "0644")}),
    "eks-al2": (["kubelet"], "kubelet.service", {
        KUBELET_KUBECONFIG: ("/var/lib/kubelet/kubeconfig", "0644"), CLIENT_CA: ("/etc/kubernetes/pki/ca.crt", "0644")}),
}


def harden(root: str, check: bool, rules: t.Sequence[str] = RULES) -> t.Dict[str, t.Any]:
    components = ["kubelet", "kube-proxy", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"]
    return run(call_module_factory(check=check), root, select_rules(components, rules, []), Options(), check,
               "/var/lib/kubefort/backups", True)


def by_id(outcome: t.Mapping[str, t.Any]) -> t.Dict[str, t.Dict[str, t.Any]]:
    return {r["id"]: r for r in outcome["results"]}


def mode(root: str, path: str) -> str:
    return "%04o" % (os.stat(os.path.join(root, path.lstrip("/"))).st_mode & 0o7777)


@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_file_rules_check_the_files_the_distribution_starts_its_components_with(tmp_path: t.Any, fixture: str) -> None:
    root = fixture_copy(tmp_path, fixture)
    components, unit, files = EXPECTED[fixture]
    hashes = tree_hashes(root)

    audit = harden(root, check=True)
    assert tree_hashes(root) == hashes  # check mode writes nothing
    assert audit["host"]["components"] == components
    results = by_id(audit)
    assert not [r["id"] for r in results.values() if r["status"] == "error"], [r["message"] for r in results.values()]
    for prefix, (path, installed) in files.items():
        permissions, ownership = results[prefix + "-permissions"], results[prefix + "-ownership"]
        assert (permissions["source"], permissions["actual"]) == (path, installed), prefix
        assert ownership["status"] == "pass" and ownership["source"] == path
        allowed = 0o644 if prefix == CLIENT_CA else 0o600
        assert permissions["status"] == ("pass" if int(installed, 8) & ~allowed == 0 else "would_fix"), prefix
    if PROXY_KUBECONFIG not in files:
        assert results["kube-proxy-kubeconfig-permissions"]["status"] == "not_applicable"

    applied = harden(root, check=False)
    for prefix, (path, installed) in files.items():
        allowed = 0o644 if prefix == CLIENT_CA else 0o600
        assert int(mode(root, path), 8) == int(installed, 8) & allowed, path  # bits taken away, none added
    assert [s["unit"] for s in applied["restart"] if s["kind"] == "unit"] in ([], [unit])


@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_a_second_run_changes_nothing(tmp_path: t.Any, fixture: str) -> None:
    root = fixture_copy(tmp_path, fixture)
    _components, _unit, files = EXPECTED[fixture]
    harden(root, check=False)
    again = harden(root, check=True)
    assert {r["status"] for r in again["results"] if r["id"].startswith(tuple(files))} == {"pass"}
    assert again["diff"] == []


def test_a_k3s_agent_before_its_first_start_is_checked_at_the_paths_k3s_will_use(tmp_path: t.Any) -> None:
    """No defaults drop-in and no agent files yet: the paths come from k3s' own defaults; the files are
    not there, so the kubeconfig and client CA rules are errors (fail closed), kube-proxy's is optional."""
    root = fixture_copy(tmp_path, "k3s-agent")
    agent = os.path.join(root, K3S.strip("/"))
    for name in os.listdir(agent):
        if name != "etc":
            os.remove(os.path.join(agent, name))
    os.remove(os.path.join(agent, "etc/kubelet.conf.d/00-k3s-defaults.conf"))
    results = by_id(harden(root, check=True))
    for rule in ("kubelet-kubeconfig-permissions", "kubelet-client-ca-permissions"):
        assert results[rule]["status"] == "error" and results[rule]["source"].startswith(K3S), rule
        assert "does not exist" in results[rule]["message"]
    assert results["kubelet-kubeconfig-permissions"]["source"] == K3S + "kubelet.kubeconfig"
    assert results["kubelet-client-ca-permissions"]["source"] == K3S + "client-ca.crt"
    assert results["kube-proxy-kubeconfig-permissions"]["status"] == "not_applicable"
    assert not any("/etc/kubernetes/kubelet.conf" in (r["source"] or "") for r in results.values())


def test_a_kubelet_arg_kubeconfig_replaces_the_default(tmp_path: t.Any) -> None:
    root = fixture_copy(tmp_path, "k3s-agent")
    custom = "/etc/rancher/k3s/kubelet.kubeconfig"
    with open(os.path.join(root, "etc/rancher/k3s/config.yaml"), "a") as handle:
        handle.write('  - "kubeconfig=%s"\n' % custom)
    with open(os.path.join(root, custom.lstrip("/")), "w") as handle:
        handle.write("apiVersion: v1\nkind: Config\n")
    os.chmod(os.path.join(root, custom.lstrip("/")), 0o600)
    result = by_id(harden(root, check=True))["kubelet-kubeconfig-permissions"]
    assert (result["source"], result["actual"], result["status"]) == (custom, "0600", "pass")


@pytest.mark.parametrize("fixture, cred", [("k3s", "/var/lib/rancher/k3s/server/cred/"), ("rke2", "/var/lib/rancher/rke2/server/cred/")])
def test_the_control_plane_kubeconfigs_of_a_server_are_its_runtime_files(tmp_path: t.Any, fixture: str, cred: str) -> None:
    """The controller manager and scheduler run with <data-dir>/server/cred/{controller,scheduler}.kubeconfig
    (CIS 1.1.15-1.1.18), not kubeadm's controller-manager.conf and scheduler.conf."""
    root = fixture_copy(tmp_path, fixture)
    rules = ("1.1.15", "1.1.16", "1.1.17", "1.1.18")
    results = by_id(harden(root, check=True, rules=rules))
    for component, name in (("controller-manager", "controller"), ("scheduler", "scheduler")):
        permissions, ownership = results[component + "-kubeconfig-permissions"], results[component + "-kubeconfig-ownership"]
        assert (permissions["status"], permissions["source"], permissions["actual"]) == ("would_fix", cred + name + ".kubeconfig", "0644")
        assert (ownership["status"], ownership["source"]) == ("pass", cred + name + ".kubeconfig")
    harden(root, check=False, rules=rules)
    assert {r["status"] for r in harden(root, check=True, rules=rules)["results"]} == {"pass"}
    assert mode(root, cred + "controller.kubeconfig") == mode(root, cred + "scheduler.kubeconfig") == "0600"
