"""What the next kubeadm upgrade writes over a node (plugin_utils/_kubeadm_render.py), judged on the demo nodes
(_kubeadm_upgrade.py).

kubeadm's rendering is from its source (cmd/kubeadm/app/phases/controlplane/manifests.go, phases/etcd/local.go,
util/arguments.go, phases/upgrade/postupgrade.go); the ConfigMaps are the demo cluster's (demo/cluster/snapshot.json).
"""

from __future__ import annotations

import copy
import typing as t

import pytest
import yaml

from ansible_collections.kubefort.hardening.plugins.plugin_utils import _kubeadm_config, _kubeadm_render as render, _kubeadm_upgrade as up
from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options
from ansible_collections.kubefort.hardening.plugins.plugin_utils._harden import run, select_rules
from kubefort_testlib import REPO, call_module_factory, demo_node, tree_hashes

DEMO = _kubeadm_config.read_files([REPO + "/demo/cluster/snapshot.json"])
ALL = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kubelet")
CURRENT = ["kube-apiserver", "--advertise-address=192.0.2.10", "--secure-port=6443", "--etcd-servers=https://127.0.0.1:2379",
           "--profiling=false"]


def cc(version: str, extra: t.Optional[t.Dict[str, str]] = None, **fields: t.Any) -> render.ClusterConfiguration:
    data: t.Dict[str, t.Any] = {"apiVersion": "kubeadm.k8s.io/" + version, "kind": "ClusterConfiguration"}
    data.update(fields)
    if extra:
        data["apiServer"] = {"extraArgs": extra if version == "v1beta3" else [{"name": k, "value": v} for k, v in extra.items()]}
    return render.ClusterConfiguration(yaml.safe_dump(data))


def state(cc_text: t.Optional[str] = None, kubelet: t.Optional[str] = None) -> t.Dict[str, t.Any]:
    out = copy.deepcopy(DEMO)
    if cc_text is not None:
        out["kubeadm_config"]["text"] = cc_text
    if kubelet is not None:
        out["kubelet_config"]["text"] = kubelet
    return out


def audit(tmp_path: t.Any, host: str, kubeadm_state: t.Any, check: bool = True, options: t.Optional[Options] = None,
          components: t.Sequence[str] = ALL) -> t.Dict[str, t.Dict[str, t.Any]]:
    root = str(tmp_path / "nodes" / host) if (tmp_path / "nodes" / host).exists() else demo_node(tmp_path, host)
    out = run(call_module_factory(check=check), root, select_rules(components, [], []), options or Options(), check,
              str(tmp_path / "backups"), False, kubeadm_state=kubeadm_state)
    assert not out["failed"], out["msg"]
    return {r["id"]: r for r in out["results"]}


def keeps(results: t.Mapping[str, t.Mapping[str, t.Any]]) -> t.List[t.Mapping[str, t.Any]]:
    return [r["kubeadm"]["keep"] for r in results.values() if (r.get("kubeadm") or {}).get("reverted") and r["kubeadm"]["keep"]]


@pytest.mark.parametrize("version", ["v1beta3", "v1beta4"])
def test_extra_args_replace_kubeadm_defaults_by_name(version: str) -> None:
    config = cc(version, {"authorization-mode": "Node,RBAC,Webhook", "audit-log-maxage": "30"}, certificatesDir="/pki")
    command = render.render_command("kube-apiserver", config, CURRENT, (1, 31))
    assert command[0] == "kube-apiserver" and command[1:] == sorted(command[1:])
    assert "--authorization-mode=Node,RBAC,Webhook" in command and "--authorization-mode=Node,RBAC" not in command
    assert "--audit-log-maxage=30" in command and "--client-ca-file=/pki/ca.crt" in command
    assert "--advertise-address=192.0.2.10" in command  # node-local: the node's own value
    assert not any(w.startswith("--profiling") for w in command)  # not kubeadm's, not in extraArgs: gone


@pytest.mark.parametrize("version,structured", [((1, 29), False), ((1, 30), True), ((1, 35), True)])
def test_authorization_config_drops_the_default_mode_from_1_30(version: t.Tuple[int, int], structured: bool) -> None:
    config = cc("v1beta3", {"authorization-config": "/etc/kubernetes/authz.yaml"})
    command = render.render_command("kube-apiserver", config, CURRENT, version)
    assert ("--authorization-mode=Node,RBAC" not in command) == structured


@pytest.mark.parametrize("version,mode", [((1, 28), "--authorization-mode=Node,RBAC"), ((1, 31), "--authorization-mode=Node,RBAC,Nope")])
def test_unknown_mode_names_are_dropped_before_1_31(version: t.Tuple[int, int], mode: str) -> None:
    command = render.render_command("kube-apiserver", cc("v1beta3", {"authorization-mode": "Node,RBAC,Nope"}), CURRENT, version)
    assert mode in command


def test_v1beta3_map_and_v1beta4_list_are_patched_in_their_own_shape() -> None:
    for version in ("v1beta3", "v1beta4"):
        config = cc(version, {"event-ttl": "2h0m0s"})
        config.set_args("kube-apiserver", {"profiling": "false", "event-ttl": None})
        config.set_args("etcd", {"auto-tls": "false"})
        data = yaml.safe_load(config.dump())
        if version == "v1beta3":
            assert data["apiServer"]["extraArgs"] == {"profiling": "false"} and data["etcd"]["local"]["extraArgs"] == {"auto-tls": "false"}
        else:
            assert data["apiServer"]["extraArgs"] == [{"name": "profiling", "value": "false"}]
            assert data["etcd"]["local"]["extraArgs"] == [{"name": "auto-tls", "value": "false"}]


def test_unknown_api_version_is_refused() -> None:
    with pytest.raises(render.KubeadmConfigError, match="v1beta2"):
        render.ClusterConfiguration("apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\n")


@pytest.mark.parametrize("version", ["v1beta3", "v1beta4"])
def test_check_mode_reverts_then_the_keep_makes_the_count_zero(tmp_path: t.Any, version: str) -> None:
    text = DEMO["kubeadm_config"]["text"]
    if version == "v1beta4":
        data = yaml.safe_load(text)
        data["apiVersion"] = "kubeadm.k8s.io/v1beta4"
        data.pop("apiServer")
        text = yaml.safe_dump(data)
    results = audit(tmp_path, "cp1", state(text))
    profiling = results["apiserver-profiling"]
    assert profiling["status"] == "would_fix" and profiling["kubeadm"]["reverted"] is True
    assert profiling["kubeadm"]["keep"] == {"component": "kube-apiserver", "args": {"profiling": "false"}, "volumes": []}
    assert profiling["kubeadm"]["by"] == "kubeadm upgrade apply / kubeadm upgrade node"
    audit_path = results["apiserver-audit-log-path"]["kubeadm"]["keep"]
    assert audit_path["volumes"] and audit_path["volumes"][0]["hostPath"] == "/var/log/kubernetes/audit"
    assert results["etcd-client-cert-auth"]["kubeadm"]["reverted"] is False  # kubeadm's own default
    assert up.count(results.values()) > 5
    new_cc, new_kubelet = up.apply_keep(text, DEMO["kubelet_config"]["text"], keeps(results))
    assert ("kubeadm.k8s.io/" + version) in t.cast(str, new_cc)
    again = audit(tmp_path, "cp1", state(new_cc, new_kubelet))
    assert up.count(again.values()) == 0
    assert again["apiserver-profiling"]["kubeadm"]["reverted"] is False


def test_apply_then_second_run_writes_nothing_and_counts_nothing(tmp_path: t.Any) -> None:
    first = audit(tmp_path, "cp2", state(), check=False)
    assert first["scheduler-profiling"]["status"] == "fixed" and first["scheduler-profiling"]["kubeadm"]["reverted"]
    new_cc, new_kubelet = up.apply_keep(DEMO["kubeadm_config"]["text"], DEMO["kubelet_config"]["text"], keeps(first))
    hashes = tree_hashes(str(tmp_path / "nodes" / "cp2"))
    second = audit(tmp_path, "cp2", state(new_cc, new_kubelet), check=False)
    assert tree_hashes(str(tmp_path / "nodes" / "cp2")) == hashes
    assert up.count(second.values()) == 0 and second["scheduler-profiling"]["status"] == "pass"


def test_kubelet_config_from_the_configmap(tmp_path: t.Any) -> None:
    kubelet = DEMO["kubelet_config"]["text"] + "readOnlyPort: 10255\n"
    results = audit(tmp_path, "cp1", state(kubelet=kubelet), components=["kubelet"])
    port = results["kubelet-read-only-port"]
    assert port["kubeadm"]["reverted"] is True and port["kubeadm"]["by"] == "kubeadm upgrade node"
    assert port["kubeadm"]["keep"] == {"component": "kubelet", "kubelet": {"readOnlyPort": 0}}
    assert "kube-system/kubelet-config gives 10255" in port["message"]
    # worker1 sets the port in /etc/default/kubelet, which kubeadm never touches: the fix lasts
    worker = audit(tmp_path, "worker1", state(kubelet=kubelet), components=["kubelet"])
    assert worker["kubelet-read-only-port"]["status"] == "would_fix" and worker["kubelet-read-only-port"]["kubeadm"]["reverted"] is False
    _cc, patched = up.apply_keep(None, kubelet, keeps(results))
    assert yaml.safe_load(t.cast(str, patched))["readOnlyPort"] == 0
    assert up.count(audit(tmp_path, "cp1", state(kubelet=patched), components=["kubelet"]).values()) == 0


def test_unreadable_configmap_says_not_known(tmp_path: t.Any) -> None:
    missing = dict(state(), kubelet_config=None, errors=["kube-system/kubelet-config not found"])
    results = audit(tmp_path, "cp1", missing, components=["kubelet"])
    info = results["kubelet-read-only-port"]["kubeadm"]
    assert info["reverted"] is None and "kube-system/kubelet-config not found" in info["detail"]


def test_anonymous_auth_with_tcp_probes_is_not_kept_in_extra_args(tmp_path: t.Any) -> None:
    """kubeadm writes its anonymous httpGet probes again: --anonymous-auth=false from extraArgs would stop the
    API server after the upgrade, so that keep is refused (a kubeadm patch is the way)."""
    results = audit(tmp_path, "cp1", state(), options=Options(apiserver_probes_tcp=True), components=["kube-apiserver"])
    info = results["apiserver-anonymous-auth"]["kubeadm"]
    assert results["apiserver-anonymous-auth"]["status"] == "would_fix"
    assert info["reverted"] is True and info["keep"] is None and "--patches" in info["detail"]


def test_other_layouts_and_no_state_get_nothing(tmp_path: t.Any) -> None:
    assert not any(r.get("kubeadm") for r in audit(tmp_path, "cp1", None).values())
    assert not any(r.get("kubeadm") for r in audit(tmp_path, "cp1", {}).values())


def test_fragment_in_the_stored_version() -> None:
    keep = {"component": "kube-apiserver", "args": {"profiling": "false"}, "volumes": []}
    four = yaml.safe_load(up.fragment(render.V1BETA4, [keep]))
    assert four["apiServer"]["extraArgs"] == [{"name": "profiling", "value": "false"}]
    docs = list(yaml.safe_load_all(up.fragment(render.V1BETA3, [keep, {"component": "kubelet", "kubelet": {"readOnlyPort": 0}}])))
    assert docs[0]["apiServer"]["extraArgs"] == {"profiling": "false"} and docs[1] == {
        "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration", "readOnlyPort": 0}


def test_collect_refuses_values_hosts_disagree_on() -> None:
    def result(value: str) -> t.Dict[str, t.Any]:
        return {"id": "apiserver-request-timeout", "kubeadm": {"reverted": True, "keep": {
            "component": "kube-apiserver", "args": {"request-timeout": value}, "volumes": []}}}

    got = _kubeadm_config.collect({"cp1": [result("60s")], "cp2": [result("90s")]})
    assert got["conflicts"] == ["kube-apiserver request-timeout"] and len(got["items"]) == 2


def test_a_file_only_some_control_planes_have_is_held_back(tmp_path: t.Any) -> None:
    """The ConfigMaps are cluster-wide: cp3 (1.33) keeps 1.2.1 with an AuthenticationConfiguration file kubefort
    writes there; cp1 and cp2 (1.28) do not have that file, so --authentication-config is not written (their
    next upgrade would start an API server on a missing file), while --profiling=false, fixed on all three, is."""
    hosts = {name: list(audit(tmp_path, name, state(), components=["kube-apiserver"]).values()) for name in ("cp1", "cp2", "cp3")}
    got = _kubeadm_config.collect(hosts)
    assert got["partial"] == ["kube-apiserver authentication-config (not fixed on cp1, cp2)"]
    assert got["conflicts"] == []
    assert not any(p.startswith("kube-apiserver profiling") for p in got["partial"])
    assert not any(p.startswith("kube-apiserver audit-log-path") for p in got["partial"])  # every host has the volume


def test_waived_skipped_and_higher_level_rules_are_not_kept(tmp_path: t.Any) -> None:
    waiver = [{"id": "apiserver-profiling", "reason": "profiling needed by the SRE team", "expires": "2999-01-01"}]
    results = audit(tmp_path, "cp1", state(), options=Options(waivers=waiver), components=["kube-apiserver"])
    assert results["apiserver-profiling"]["status"] == "waived" and not results["apiserver-profiling"].get("kubeadm")
    got = _kubeadm_config.collect({"cp1": list(results.values())})
    assert "apiserver-profiling" not in {i["id"] for i in got["items"]}
    root = str(tmp_path / "nodes" / "cp1")
    out = run(call_module_factory(check=True), root, select_rules(["kube-apiserver"], [], ["apiserver-profiling"]), Options(),
              True, str(tmp_path / "b"), False, kubeadm_state=state())
    assert "apiserver-profiling" not in {r["id"] for r in out["results"]}
    level2 = [r for r in out["results"] if r["level"] == 2]
    assert level2 and all(not (r.get("kubeadm") or {}).get("reverted") for r in level2)  # not_applicable at level 1
