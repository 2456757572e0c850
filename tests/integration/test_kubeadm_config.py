"""Fixes that survive kubeadm, through ansible-playbook against the stand-in API server.

The demo cluster's kube-system/kubeadm-config and kubelet-config (as kubeadm 1.28 stores them, and the same
cluster as kubeadm 1.31+ stores it: v1beta4, extraArgs as name/value pairs) are served by
tests/standins/fake_apiserver.py. Order: check (dry run, nothing written anywhere) -> apply with the opt-in
ConfigMap fix (the count goes to zero) -> apply again (no API write, no node write).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import typing as t

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "standins"))
sys.path.insert(0, os.path.join(REPO, "tests", "unit"))

from fake_apiserver import FakeAPIServer  # noqa: E402
from kubefort_testlib import demo_node, tree_hashes  # noqa: E402

pytestmark = pytest.mark.integration

HOSTS = ("cp1", "cp2", "worker1")


def v1beta4(text: str) -> str:
    """The demo's v1beta3 ClusterConfiguration as kubeadm 1.31+ stores it (``kubeadm config migrate``)."""
    data = yaml.safe_load(text)
    data["apiVersion"] = "kubeadm.k8s.io/v1beta4"
    data["apiServer"] = {"extraArgs": [{"name": "event-ttl", "value": "2h0m0s"}]}  # a user's own list entry
    data.update(encryptionAlgorithm="RSA-2048", proxy={}, kubernetesVersion="v1.31.4")
    return yaml.safe_dump(data, default_flow_style=False, sort_keys=True)


def objects(tmp_path: t.Any, version: str) -> str:
    with open(os.path.join(REPO, "demo", "cluster", "snapshot.json"), encoding="utf-8") as f:
        snap = json.load(f)
    items = [copy.deepcopy(i) for i in snap["items"]]
    for item in items:
        if item["kind"] == "ConfigMap" and item["metadata"]["name"] == "kubeadm-config" and version == "v1beta4":
            item["data"]["ClusterConfiguration"] = v1beta4(item["data"]["ClusterConfiguration"])
    path = tmp_path / "objects.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    return str(path)


@pytest.fixture(params=["v1beta3", "v1beta4"])
def api(request: t.Any, tmp_path: t.Any) -> t.Iterator[FakeAPIServer]:
    with FakeAPIServer(objects(tmp_path, request.param), str(tmp_path)) as server:
        server.version = request.param  # type: ignore[attr-defined]
        yield server


def playbook(tmp_path: t.Any, api: FakeAPIServer, *args: str, **extra: t.Any) -> subprocess.CompletedProcess:
    for host in HOSTS:
        if not os.path.isdir(tmp_path / "nodes" / host):
            demo_node(tmp_path, host)
    extra_vars = dict({"kubefort_cluster_snapshot_files": [], "kubefort_cluster_kubeconfig": api.kubeconfig(),
                       "kubefort_report_dir": str(tmp_path / "report"), "kubefort_backup_dir": str(tmp_path / "backups")}, **extra)
    env = dict(os.environ, KUBEFORT_DEMO_DIR=str(tmp_path / "nodes"), ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
               ANSIBLE_NOCOLOR="1", PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    return subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), os.path.join(REPO, "playbooks", "harden.yml"),
         "-i", os.path.join(REPO, "demo", "inventory.yml"), "--limit", ",".join(HOSTS + ("localhost",)),
         "-e", json.dumps(extra_vars), *args],
        cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=600, check=False,
    )


def report(tmp_path: t.Any) -> t.Dict[str, t.Any]:
    return json.loads((tmp_path / "report" / "report.json").read_text())


def reverted(rep: t.Mapping[str, t.Any]) -> t.Dict[t.Tuple[str, str], t.Dict[str, t.Any]]:
    return {(h["name"], r["id"]): r for h in rep["hosts"] for r in h["results"] if (r.get("kubeadm") or {}).get("reverted")}


def cluster_configuration(api: FakeAPIServer) -> t.Dict[str, t.Any]:
    return yaml.safe_load(t.cast(dict, api.get("ConfigMap", "kube-system", "kubeadm-config"))["data"]["ClusterConfiguration"])


def test_check_then_fix_then_nothing_left(api: FakeAPIServer, tmp_path: t.Any) -> None:
    before_cm = copy.deepcopy(api.get("ConfigMap", "kube-system", "kubeadm-config"))

    # 1. check mode with the opt-in fix: every write a server-side dry run, nodes untouched
    for host in HOSTS:
        demo_node(tmp_path, host)
    hashes = {h: tree_hashes(str(tmp_path / "nodes" / h)) for h in HOSTS}
    run = playbook(tmp_path, api, "--check", "--diff", kubefort_cluster_kubeadm_remediate=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    writes = [w for w in api.writes() if "configmaps" in w["path"]]
    assert writes and all(w["dry_run"] for w in writes), writes
    assert all(w["body"]["metadata"]["resourceVersion"] for w in writes)  # the precondition
    assert api.get("ConfigMap", "kube-system", "kubeadm-config") == before_cm
    assert hashes == {h: tree_hashes(str(tmp_path / "nodes" / h)) for h in hashes}
    rep = report(tmp_path)
    found = reverted(rep)
    assert ("cp1", "apiserver-profiling") in found and ("cp2", "scheduler-profiling") in found
    assert rep["summary"]["kubeadm_reverts"] == len(found) == rep["summary"]["kubeadm"]["reverted"] > 0
    profiling = found[("cp1", "apiserver-profiling")]
    assert profiling["status"] == "would_fix"
    assert "kubeadm upgrade would revert --profiling" in profiling["message"]
    assert "ClusterConfiguration apiServer.extraArgs has no profiling" in profiling["kubeadm"]["detail"]
    assert "dry run of the ConfigMap patch passed" in profiling["kubeadm"]["detail"]
    fragment = rep["summary"]["kubeadm"]["fragment"]
    assert "kubeadm.k8s.io/%s" % api.version in fragment  # type: ignore[attr-defined]
    assert ("- name: profiling" in fragment) == (api.version == "v1beta4")  # type: ignore[attr-defined]
    assert "kube-system/kubeadm-config" in run.stdout  # the diff header
    md = (tmp_path / "report" / "report.md").read_text()
    assert "## Fixes a kubeadm upgrade would revert" in md and "```yaml" in md

    # 2. apply with the fix: the ConfigMaps keep what the nodes now run; the count is zero
    api.requests.clear()
    run = playbook(tmp_path, api, kubefort_cluster_kubeadm_remediate=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    writes = [w for w in api.writes() if "configmaps" in w["path"]]
    assert writes and not any(w["dry_run"] for w in writes)
    cc = cluster_configuration(api)
    args = cc["apiServer"]["extraArgs"]
    if api.version == "v1beta3":  # type: ignore[attr-defined]
        assert args["profiling"] == "false" and cc["scheduler"]["extraArgs"]["profiling"] == "false"
    else:
        assert {"name": "profiling", "value": "false"} in args and {"name": "event-ttl", "value": "2h0m0s"} in args
    assert any(v["mountPath"] == "/var/log/kubernetes/audit" for v in cc["apiServer"]["extraVolumes"])
    rep = report(tmp_path)
    assert rep["summary"]["kubeadm_reverts"] == 0 and reverted(rep) == {}
    assert any((r.get("kubeadm") or {}).get("detail", "").startswith("kept by kubeadm's configuration: this run patched")
               for h in rep["hosts"] for r in h["results"])

    # 3. a second run: nothing a kubeadm upgrade would revert, no write to the API or the nodes
    api.requests.clear()
    hashes = {h: tree_hashes(str(tmp_path / "nodes" / h)) for h in HOSTS}
    run = playbook(tmp_path, api, kubefort_cluster_kubeadm_remediate=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    assert api.writes() == []
    assert hashes == {h: tree_hashes(str(tmp_path / "nodes" / h)) for h in HOSTS}
    rep = report(tmp_path)
    assert rep["summary"]["kubeadm_reverts"] == 0
    kept = [r for h in rep["hosts"] for r in h["results"] if (r.get("kubeadm") or {}).get("reverted") is False]
    assert any(r["id"] == "apiserver-profiling" for r in kept)


def test_audit_without_the_opt_in_writes_nothing(api: FakeAPIServer, tmp_path: t.Any) -> None:
    run = playbook(tmp_path, api, "--check")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    assert api.writes() == []
    assert report(tmp_path)["summary"]["kubeadm_reverts"] > 0


def test_conflicting_change_is_not_written(api: FakeAPIServer, tmp_path: t.Any) -> None:
    """The ConfigMap changes between kubefort's read and its patch: 409, nothing stored, the run says so."""
    original = api._do  # type: ignore[attr-defined]

    def bump_then_do(method: str, kind: str, *rest: t.Any) -> t.Any:
        if method == "PATCH" and kind == "ConfigMap":
            cm = api.store[("ConfigMap", "kube-system", rest[3])]
            cm["metadata"]["resourceVersion"] = str(int(cm["metadata"]["resourceVersion"]) + 1000)
        return original(method, kind, *rest)

    api._do = bump_then_do  # type: ignore[attr-defined,method-assign]
    before = cluster_configuration(api)
    run = playbook(tmp_path, api, kubefort_cluster_kubeadm_remediate=True)
    # The report is written, lists the failed fix under the cluster, and the run fails after it.
    assert run.returncode != 0 and "changed since kubefort read it" in run.stdout, run.stdout[-3000:]
    assert cluster_configuration(api) == before
    rep = report(tmp_path)
    assert rep["summary"]["kubeadm_reverts"] > 0
    cluster = next(h for h in rep["hosts"] if h["name"] == "cluster")
    assert [f["stage"] for f in cluster["failures"]] == ["kubeadm-config"] and "cluster" in rep["summary"]["failed_hosts"]
