"""Files the installer regenerates: a too-open mode is a fail (it was read) with the fix where it lasts."""

from __future__ import annotations

import os
import typing as t

from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options
from ansible_collections.kubefort.hardening.plugins.plugin_utils._harden import run, select_rules
from kubefort_testlib import ROOT_OWNED, call_module_factory, tree_hashes
from test_restart_plan import fixture_copy


def harden(root: str, components: t.List[str], rule: str, check: bool) -> t.Dict[str, t.Any]:
    return run(call_module_factory(check=check), root, select_rules(components, [rule], []), Options(), check,
               "/var/lib/kubefort/backups", True)


def test_rke2_pod_manifest_mode_is_a_fail_fixed_by_upgrading_rke2(tmp_path: t.Any) -> None:
    root = fixture_copy(tmp_path, "rke2")
    manifest = os.path.join(root, "var/lib/rancher/rke2/agent/pod-manifests/kube-apiserver.yaml")
    os.chmod(manifest, 0o644)  # as RKE2 releases before rancher/rke2#4473 wrote it
    hashes = tree_hashes(root)
    outcome = harden(root, ["kube-apiserver"], "apiserver-manifest-permissions", check=False)
    (result,) = outcome["results"]
    assert result["status"] == "fail" and result["actual"] == "0644"
    assert "rke2 writes /var/lib/rancher/rke2/agent/pod-manifests/kube-apiserver.yaml at every start" in result["message"]
    assert "rancher/rke2#4473" in result["message"] and "upgrade RKE2" in result["message"]
    assert tree_hashes(root) == hashes and oct(os.stat(manifest).st_mode & 0o777) == "0o644"  # nothing written
    assert outcome["restart"] == [] and not outcome["changed"]


@ROOT_OWNED
def test_eks_al2023_nodeadm_config_mode_is_a_fail_with_a_boot_time_fix(tmp_path: t.Any) -> None:
    root = fixture_copy(tmp_path, "eks-al2023")
    # The fixture's config.json is 0644, as nodeadm left it.
    outcome = harden(root, ["kubelet"], "kubelet-config-permissions", check=True)
    (result,) = outcome["results"]
    assert result["status"] == "fail"
    assert result["message"].startswith("nodeadm writes /etc/kubernetes/kubelet/config.json at every boot")
    assert "nodeadm-run.service" in result["message"]
    assert outcome["diff"] == []


def test_kubespray_results_name_the_inventory_variable_that_keeps_each_fix(tmp_path: t.Any) -> None:
    root = fixture_copy(tmp_path, "kubespray")
    rules = select_rules(["kubelet", "kube-apiserver", "etcd"], [], [])
    outcome = run(call_module_factory(check=True), root, rules, Options(), True, "/var/lib/kubefort/backups", False)
    messages = {r["id"]: r["message"] for r in outcome["results"]}
    assert messages["kubelet-read-only-port"].endswith(
        "kubespray re-templates /etc/kubernetes/kubelet-config.yaml at its next run: keep this fix with "
        "kube_read_only_port: 0 in the kubespray inventory")
    assert messages["etcd-peer-client-cert-auth"].endswith("keep this fix with etcd_peer_client_auth: true in the kubespray inventory")
    assert "keep this fix with kube_profiling: false" in messages["apiserver-profiling"]
    assert "audit_log_maxage: 30" in messages["apiserver-audit-log-maxage"]
    assert '"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"' in messages["kubelet-tls-cipher-suites"]
    passed = [r for r in outcome["results"] if r["status"] == "pass"]
    assert passed and not any("kubespray re-templates" in (r["message"] or "") for r in passed)


def test_other_layouts_get_no_kubespray_note(tmp_path: t.Any) -> None:
    outcome = harden(fixture_copy(tmp_path, "k3s"), ["kubelet"], "kubelet-read-only-port", check=True)
    assert "kubespray" not in (outcome["results"][0]["message"] or "")
