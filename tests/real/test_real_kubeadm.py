"""kubeadm's cluster configuration and the kubelet's /configz on the real kube-apiserver and kubelet v1.28.7.

1. The demo cluster's kube-system/kubeadm-config and kubelet-config are created through the real API server
   (as kubeadm 1.28 stores them), then: audit (the kubeadm nodes' results say what an upgrade would revert),
   the ConfigMap fix as a server-side dry run (nothing stored), the fix (resourceVersion precondition, the
   real API server's merge patch), and a second run that counts nothing and writes nothing.
2. The real kubelet registers its Node with the real API server; kubefort reads its /configz through the
   API server (nodes/<name>/proxy/configz) and judges the kubelet on what it runs: a config file changed
   under the running kubelet (with its old mtime kept, so the mtime check cannot see it) is not pass.
"""

from __future__ import annotations

import json
import os
import time
import typing as t

import pytest
import yaml
from k8s_harness import REPO, Node, kubeconfig_cert, kubelet_command, kubelet_ports, node_ip
from kubefort_testlib import call_module_factory, demo_node
from test_real_cluster_policy import API

from ansible_collections.kubefort.hardening.plugins.plugin_utils import _configz, _kubeadm_config, _kubeadm_upgrade
from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options
from ansible_collections.kubefort.hardening.plugins.plugin_utils._harden import discover, run, select_rules

pytestmark = pytest.mark.real_k8s

CONTROL_PLANE = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kubelet"]


def demo_configmaps() -> t.List[t.Dict[str, t.Any]]:
    with open(os.path.join(REPO, "demo", "cluster", "snapshot.json")) as handle:
        items = [i for i in json.load(handle)["items"] if i["kind"] == "ConfigMap"]
    for item in items:
        for key in ("resourceVersion", "uid", "creationTimestamp"):
            item["metadata"].pop(key, None)
    return items


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: t.Any) -> t.Iterator[t.Tuple[API, Node, str]]:
    """cp2 (kubeadm 1.28, Node,RBAC) with etcd, the API server, containerd and its kubelet registered as Node cp1
    (the name its kubelet.conf certificate carries)."""
    directory = tmp_path_factory.mktemp("kubeadm")
    root = demo_node(directory, "cp2")
    # The kubelet starts with its read-only port open (test 2 changes the file under it).
    config = os.path.join(root, "var/lib/kubelet/config.yaml")
    with open(config, "a") as handle:
        handle.write("readOnlyPort: 10255\n")
    address = node_ip(root)
    argv, env = kubelet_command(root)
    # The node's name and address, as kubeadm join would have given them (the test namespace has no DNS, no route).
    argv = list(argv) + ["--hostname-override=cp1", "--node-ip=%s" % address]
    node = Node(root, kubelet_ports(address), address=address)
    node.add_etcd()
    node.add_apiserver()
    node.add_containerd()
    node.add_kubelet(argv, env)
    with node:
        api = API(node.host_ports["6443"], root, str(directory))
        admin = kubeconfig_cert(root, "etc/kubernetes/admin.conf", node.scratch)
        node.wait_for("kube-apiserver", "6443", "/readyz", cert=admin)
        node.wait_for("kubelet", "10248", "/healthz", tls=False)
        for item in demo_configmaps():
            status, body = api.call("POST", "/api/v1/namespaces/kube-system/configmaps", item)
            assert status == 201, body
        yield api, node, root


def state_of(api: API) -> t.Dict[str, t.Any]:
    auth = {"kubeconfig": api.kubeconfig, "validate_certs": True}
    state, _configz_unused = _kubeadm_config.read_live(auth, 30)
    return state


def audit(root: str, tmp: str, state: t.Mapping[str, t.Any]) -> t.Dict[str, t.Dict[str, t.Any]]:
    out = run(call_module_factory(check=True), root, select_rules(CONTROL_PLANE, [], []), Options(), True, tmp, False,
              kubeadm_state=state)
    return {r["id"]: r for r in out["results"]}


def test_configmaps_audit_dry_run_fix_and_nothing_left(cluster: t.Tuple[API, Node, str], tmp_path: t.Any) -> None:
    api, _node, root = cluster
    auth = {"kubeconfig": api.kubeconfig, "validate_certs": True}
    state = state_of(api)
    assert state["source"].startswith("API https://127.0.0.1:") and state["errors"] == []
    assert state["kubeadm_config"]["api_version"] == "kubeadm.k8s.io/v1beta3"

    results = audit(root, str(tmp_path), state)
    reverted = {i for i, r in results.items() if (r.get("kubeadm") or {}).get("reverted")}
    assert {"apiserver-profiling", "scheduler-profiling", "controller-manager-profiling"} <= reverted
    keeps = _kubeadm_config.collect({"cp2": list(results.values())})
    assert keeps["conflicts"] == [] and len(keeps["items"]) == len([i for i in reverted if results[i]["kubeadm"]["keep"]])

    before = api.call("GET", "/api/v1/namespaces/kube-system/configmaps/kubeadm-config")[1]
    dry = _kubeadm_config.fix_live(auth, 30, keeps, check_mode=True)
    # kubeadm-config for the control plane's flags, kubelet-config for the kubelet's tlsCipherSuites
    assert dry["changed"] and dry["errors"] == [] and dry["patched"] == ["kube-system/kubeadm-config", "kube-system/kubelet-config"]
    assert api.call("GET", "/api/v1/namespaces/kube-system/configmaps/kubeadm-config")[1] == before  # dryRun=All

    fixed = _kubeadm_config.fix_live(auth, 30, keeps, check_mode=False)
    assert fixed["changed"] and fixed["errors"] == []
    after = api.call("GET", "/api/v1/namespaces/kube-system/configmaps/kubeadm-config")[1]
    assert after["metadata"]["resourceVersion"] != before["metadata"]["resourceVersion"]
    stored = yaml.safe_load(after["data"]["ClusterConfiguration"])
    assert stored["apiServer"]["extraArgs"]["profiling"] == "false" and stored["scheduler"]["extraArgs"]["profiling"] == "false"
    assert stored["apiServer"]["timeoutForControlPlane"] == "4m0s"  # what kubeadm wrote is kept
    kubelet = yaml.safe_load(api.call("GET", "/api/v1/namespaces/kube-system/configmaps/kubelet-config")[1]["data"]["kubelet"])
    assert kubelet["tlsCipherSuites"] and kubelet["authorization"]["mode"] == "Webhook"

    # The resourceVersion precondition: a patch carrying an older version is refused by the real API server.
    stale = {"metadata": {"resourceVersion": before["metadata"]["resourceVersion"]}, "data": {"ClusterConfiguration": "x"}}
    status, body = api.call("PATCH", "/api/v1/namespaces/kube-system/configmaps/kubeadm-config", stale,
                            "application/merge-patch+json")
    assert status == 409, body

    again = audit(root, str(tmp_path), state_of(api))
    assert _kubeadm_upgrade.count(again.values()) == 0
    assert again["apiserver-profiling"]["kubeadm"]["reverted"] is False
    nothing = _kubeadm_config.fix_live(auth, 30, _kubeadm_config.collect({"cp2": list(again.values())}), check_mode=False)
    assert nothing["changed"] is False and nothing["patched"] == []


def test_configz_through_the_api_server_shows_what_the_kubelet_runs(cluster: t.Tuple[API, Node, str], tmp_path: t.Any) -> None:
    api, node, root = cluster
    auth = {"kubeconfig": api.kubeconfig, "validate_certs": True}
    conn = _kubeadm_config.KubeadmConnection(auth, timeout=30)
    deadline = time.monotonic() + 120
    got: t.Dict[str, t.Any] = {}
    while time.monotonic() < deadline:  # the kubelet registers its Node, then the proxy reaches it
        got = _configz.fetch(conn, {"cp2-host": ["cp2-host", node.address]})
        if "configz" in got["cp2-host"]:
            break
        time.sleep(1)
    entry = got["cp2-host"]
    assert entry.get("node") == "cp1" and "configz" in entry, (entry, node.tail("kubelet"))
    assert entry["configz"]["readOnlyPort"] == 10255 and entry["configz"]["authorization"]["mode"] == "Webhook"

    # Close the port in the kubelet's config file under the running kubelet, keeping the file's old mtime (as
    # `cp -p` from a golden copy or a restored backup would): the files pass and the mtime check sees nothing;
    # what runs, read through the API server, does not pass.
    path = os.path.join(root, "var/lib/kubelet/config.yaml")
    stat = os.stat(path)
    with open(path) as handle:
        text = handle.read()
    with open(path, "w") as handle:
        handle.write(text.replace("readOnlyPort: 10255\n", ""))
    os.utime(path, (stat.st_atime, stat.st_mtime))
    try:
        snapshot, _trips, _node = discover(call_module_factory(), root)
        started = max(e.get("mtime") or 0 for e in snapshot["files"].values()) + 5  # after every file's mtime
        processes = {"kubelet": [{"pid": 1, "argv": snapshot["units"]["kubelet.service"]["argv"], "started": started}]}
        live = dict(snapshot, live=True, processes=processes)
        rules = select_rules(["kubelet"], ["kubelet-read-only-port"], [])

        def judged(configz: t.Any) -> t.Dict[str, t.Any]:
            out = run(call_module_factory(check=True), root, rules, Options(remediate=False), True, str(tmp_path), False,
                      cached=json.loads(json.dumps(live)), configz=configz)
            return out["results"][0]

        assert judged(None)["status"] == "pass"  # the files alone
        now = _configz.fetch(conn, {"cp2-host": ["cp2-host", node.address]})["cp2-host"]
        assert now["configz"]["readOnlyPort"] == 10255  # the real kubelet still runs with the port open
        result = judged(now)
        assert result["status"] == "fail" and result["actual"] == "10255"
        assert result["source"] == "/configz of Node cp1 (through the API server)"
        assert "fixed on disk, restart needed: the running kubelet has 10255" in result["message"]
    finally:
        with open(path, "w") as handle:
            handle.write(text)
        os.utime(path, (stat.st_atime, stat.st_mtime))
