"""cluster_policy against a local HTTPS stand-in API server (tests/standins/fake_apiserver.py).

The real ``kubernetes`` client does the TLS, the kubeconfig and token handling and the HTTP calls; the
stand-in serves the objects of tests/fixtures/cluster/kubeadm-insecure.json and records every request.
Order of the playbook test: check → apply → check → apply again (nothing left to change).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing as t

import pytest

from ansible_collections.kubefort.hardening.plugins.modules.cluster_policy import ARGUMENT_SPEC, run_module

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "standins"))

from fake_apiserver import FakeAPIServer, make_certificates  # noqa: E402

FIXTURE = os.path.join(REPO, "tests", "fixtures", "cluster", "kubeadm-insecure.json")
LIST_CALLS = 9  # one per kind

pytestmark = pytest.mark.integration


@pytest.fixture
def api(tmp_path: t.Any) -> t.Iterator[FakeAPIServer]:
    with FakeAPIServer(FIXTURE, str(tmp_path)) as server:
        yield server


def params(**values: t.Any) -> t.Dict[str, t.Any]:
    out = {key: spec.get("default") for key, spec in ARGUMENT_SPEC.items()}
    out["level"] = 2
    out.update(values)
    return out


def statuses(result: t.Mapping[str, t.Any]) -> t.Dict[str, str]:
    return {r["id"]: r["status"] for r in result["results"]}


REMEDIATE = {"remediate": True, "psa_enforce": True, "default_deny_namespaces": ["shop"]}


def test_audit_reads_each_kind_once_and_writes_nothing(api: FakeAPIServer) -> None:
    result = run_module(params(kubeconfig=api.kubeconfig()), check_mode=False)
    assert not result.get("failed") and result["changed"] is False
    assert [r["method"] for r in api.requests] == ["GET"] * LIST_CALLS
    assert result["snapshot"]["counts"]["ClusterRoleBinding"] == 20 and result["snapshot"]["missing"] == {}
    got = statuses(result)
    assert got["rbac-anonymous-access"] == "fail" and got["default-sa-automount"] == "fail"
    assert got["cluster-admin-bindings"] == "manual" and got["pod-windows-hostprocess"] == "pass"
    assert result["results"][0]["source"].startswith("API %s: " % api.url)
    assert "ClusterRoleBinding anonymous-status" in " ".join(result["findings"]["rbac-anonymous-access"])


def test_context_and_ca_are_honoured(api: FakeAPIServer, tmp_path: t.Any) -> None:
    kubeconfig = api.kubeconfig()
    result = run_module(params(kubeconfig=kubeconfig, context="kubefort-test"), check_mode=False)
    assert not result.get("failed")
    result = run_module(params(kubeconfig=kubeconfig, context="prod"), check_mode=False)
    assert result["failed"] and "could not load kubeconfig" in result["msg"] and "prod" in result["msg"]
    # host + token without a kubeconfig, with the wrong CA: the TLS error is reported, no traceback
    os.makedirs(tmp_path / "other")
    other_ca = make_certificates(str(tmp_path / "other"))[0]
    result = run_module(params(host=api.url, api_key=api.token, ca_cert=other_ca, request_timeout=5), check_mode=False)
    assert result["failed"] and "TLS with the API server" in result["msg"] and "CERTIFICATE_VERIFY_FAILED" in result["msg"]
    assert api.token not in json.dumps(result)
    result = run_module(params(host=api.url, api_key=api.token, ca_cert=api.ca), check_mode=False)
    assert not result.get("failed")


def test_check_mode_uses_server_side_dry_run(api: FakeAPIServer) -> None:
    before = json.dumps(sorted(api.store.items()), sort_keys=True)
    result = run_module(params(kubeconfig=api.kubeconfig(), **REMEDIATE), check_mode=True)
    writes = api.writes()
    assert writes and all(w["dry_run"] for w in writes)
    assert {w["method"] for w in writes} == {"PATCH", "POST", "DELETE"}
    assert all(w["content_type"] == "application/merge-patch+json" for w in writes if w["method"] == "PATCH")
    assert json.dumps(sorted(api.store.items()), sort_keys=True) == before
    assert result["changed"] is True
    got = statuses(result)
    assert got["default-sa-automount"] == "would_fix" and got["rbac-anonymous-access"] == "would_fix"
    assert result["diff"]


def test_remediation_then_nothing_left(api: FakeAPIServer) -> None:
    kubeconfig = api.kubeconfig()
    result = run_module(params(kubeconfig=kubeconfig, **REMEDIATE), check_mode=False)
    assert result["changed"] is True
    assert statuses(result)["default-sa-automount"] == "fixed" and statuses(result)["rbac-anonymous-access"] == "fixed"
    assert api.get("ServiceAccount", "shop", "default")["automountServiceAccountToken"] is False
    assert api.get("ClusterRoleBinding", "", "anonymous-status") is None
    assert api.get("ClusterRoleBinding", "", "secret-reader-dev")["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "dev-team"}]
    assert api.get("RoleBinding", "kube-public", "kubeadm:bootstrap-signer-clusterinfo") is not None
    labels = api.get("Namespace", "", "default")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert api.get("Namespace", "", "shop")["metadata"]["labels"]["pod-security.kubernetes.io/warn"] == "baseline"
    assert "pod-security.kubernetes.io/warn" not in api.get("Namespace", "", "kube-system")["metadata"]["labels"]
    assert api.get("NetworkPolicy", "shop", "kubefort-default-deny")["spec"]["policyTypes"] == ["Ingress"]

    api.requests.clear()
    again = run_module(params(kubeconfig=kubeconfig, **REMEDIATE), check_mode=False)
    assert again["changed"] is False and api.writes() == []
    got = statuses(again)
    assert got["default-sa-automount"] == "pass" and got["rbac-anonymous-access"] == "pass"
    assert got["psa-enforce"] == "fail"  # monitoring keeps its explicit enforce=privileged


def test_expired_token(api: FakeAPIServer) -> None:
    api.expired_tokens.add(api.token)
    result = run_module(params(kubeconfig=api.kubeconfig()), check_mode=False)
    assert result["failed"]
    assert "401 Unauthorized" in result["msg"] and "Renew it" in result["msg"]
    assert {r["status"] for r in result["results"]} == {"error"}
    assert api.token not in json.dumps(result)
    assert len(api.requests) == 1  # stops at the first refusal


def test_forbidden_list_and_forbidden_write(api: FakeAPIServer) -> None:
    api.forbid.add(("list", "roles"))
    result = run_module(params(kubeconfig=api.kubeconfig()), check_mode=False)
    got = statuses(result)
    assert got["rbac-secrets-access"] == "error" and got["pod-privileged"] == "fail"
    message = next(r["message"] for r in result["results"] if r["id"] == "rbac-secrets-access")
    assert 'cannot list resource "roles"' in message and "Grant this user list on roles" in message

    api.forbid = {("patch", "serviceaccounts")}
    result = run_module(params(kubeconfig=api.kubeconfig(), remediate=True), check_mode=False)
    sa = next(r for r in result["results"] if r["id"] == "default-sa-automount")
    assert sa["status"] == "error" and "403 Forbidden" in sa["message"]
    assert statuses(result)["rbac-anonymous-access"] == "fixed"


def test_timeout(api: FakeAPIServer) -> None:
    api.delay = 3
    result = run_module(params(kubeconfig=api.kubeconfig(), request_timeout=1), check_mode=False)
    api.delay = 0
    assert result["failed"] and "did not answer within 1 s" in result["msg"]
    assert {r["status"] for r in result["results"]} == {"error"}


def test_missing_api_group(api: FakeAPIServer) -> None:
    api.missing_groups.add("networking.k8s.io/v1")
    result = run_module(params(kubeconfig=api.kubeconfig(), **REMEDIATE), check_mode=False)
    assert not result.get("failed")
    netpol = next(r for r in result["results"] if r["id"] == "namespace-network-policy")
    assert netpol["status"] == "error" and "networking.k8s.io/v1 is not served by this cluster (404)" in netpol["message"]
    assert result["snapshot"]["missing"] == {"NetworkPolicy": "API group/version networking.k8s.io/v1 is not served by this cluster (404)"}
    assert not [w for w in api.writes() if "networkpolicies" in w["path"]]
    assert statuses(result)["default-sa-automount"] == "fixed"


def test_conflict_when_the_object_changed(api: FakeAPIServer) -> None:
    """A binding edited between read and write is not overwritten (resourceVersion precondition)."""
    real = api._do

    def edit_first(method, kind, *args):  # type: ignore[no-untyped-def]
        if method == "PATCH" and kind == "ClusterRoleBinding":
            api.store[(kind, "", "secret-reader-dev")]["metadata"]["resourceVersion"] = "1"
        return real(method, kind, *args)

    api._do = edit_first  # type: ignore[method-assign]
    result = run_module(params(kubeconfig=api.kubeconfig(), remediate=True), check_mode=False)
    anon = next(r for r in result["results"] if r["id"] == "rbac-anonymous-access")
    assert anon["status"] == "error" and "the object changed since it was read: run again" in anon["message"]


def test_saved_snapshot_audits_offline(api: FakeAPIServer, tmp_path: t.Any) -> None:
    saved = str(tmp_path / "cluster.json")
    live = run_module(params(kubeconfig=api.kubeconfig(), save_snapshot=saved), check_mode=False)
    offline = run_module(params(snapshot_files=[saved]), check_mode=False)
    assert [(r["id"], r["status"], r["actual"]) for r in live["results"]] == [
        (r["id"], r["status"], r["actual"]) for r in offline["results"]]
    refused = run_module(params(snapshot_files=[saved], remediate=True), check_mode=False)
    assert refused["failed"] and "remediate needs a live cluster" in refused["msg"]


def test_rule_selection(api: FakeAPIServer) -> None:
    result = run_module(params(kubeconfig=api.kubeconfig(), skip_rules=["5.2", "rbac-anonymous-access"], remediate=True), False)
    got = statuses(result)
    assert {got[r["id"]] for r in result["results"] if (r["cis"] or "").startswith("5.2.")} == {"skipped"}
    assert got["rbac-anonymous-access"] == "skipped"
    assert not [w for w in api.writes() if "namespaces/" in w["path"] and w["method"] == "PATCH" and "serviceaccounts" not in w["path"]]
    assert api.get("ClusterRoleBinding", "", "anonymous-status") is not None  # a skipped rule fixes nothing
    only = run_module(params(snapshot_files=[FIXTURE], rules=["5.3"]), False)
    assert [r["id"] for r in only["results"]] == ["namespace-network-policy"]
    bad = run_module(params(snapshot_files=[FIXTURE], skip_rules=["5.9.9"]), False)
    assert bad["failed"] and "unknown rule ID(s): 5.9.9" in bad["msg"]


# -- through ansible-playbook: the role, check/apply/check, --diff, no_log, error handling -------------------


def playbook(tmp_path: t.Any, extra: t.Mapping[str, t.Any], *args: str) -> subprocess.CompletedProcess:
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
    play = tmp_path / "play.yml"
    play.write_text(
        "- import_playbook: %s/playbooks/cluster.yml\n"
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.copy:\n        content: \"{{ kubefort_cluster_results | default([]) | to_json }}\"\n"
        "        dest: %s/results.json\n      check_mode: false\n      changed_when: false\n" % (REPO, tmp_path)
    )
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    extra_vars = dict({"kubefort_level": 2}, **extra)
    return subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(inventory), str(play),
         "-e", json.dumps(extra_vars), *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
    )


def recap(output: str) -> str:
    return output[output.rindex("PLAY RECAP"):]


def test_role_check_apply_check(api: FakeAPIServer, tmp_path: t.Any) -> None:
    # host + api_key (no kubeconfig): the token must not appear anywhere in the output
    auth = {"kubefort_cluster_host": api.url, "kubefort_cluster_api_key": api.token, "kubefort_cluster_ca_cert": api.ca}
    fix = dict(auth, kubefort_cluster_remediate=True, kubefort_cluster_default_deny_namespaces=["shop"])

    run = playbook(tmp_path, fix, "--check", "--diff", "-v")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "changed=1" in recap(run.stdout) and api.token not in run.stdout + run.stderr
    assert "automountServiceAccountToken" in run.stdout  # the diff
    assert all(w["dry_run"] for w in api.writes())
    results = json.loads((tmp_path / "results.json").read_text())
    assert {r["id"]: r["status"] for r in results}["default-sa-automount"] == "would_fix"

    run = playbook(tmp_path, fix)
    assert run.returncode == 0 and "changed=1" in recap(run.stdout), run.stdout
    assert api.get("ServiceAccount", "default", "default")["automountServiceAccountToken"] is False

    api.requests.clear()
    run = playbook(tmp_path, fix, "--check")
    assert run.returncode == 0 and "changed=0" in recap(run.stdout), run.stdout
    assert api.writes() == []
    results = json.loads((tmp_path / "results.json").read_text())
    assert {r["id"]: r["status"] for r in results}["default-sa-automount"] == "pass"
    assert len(results) == len([r for r in results if r["component"] == "cluster"]) == 31


def test_role_reports_an_unreachable_cluster(api: FakeAPIServer, tmp_path: t.Any) -> None:
    api.expired_tokens.add(api.token)
    run = playbook(tmp_path, {"kubefort_cluster_kubeconfig": api.kubeconfig()})
    assert run.returncode == 0, run.stdout
    assert "Traceback" not in run.stdout + run.stderr
    assert "401 Unauthorized" in run.stdout and "rescued=1" in recap(run.stdout)
    results = json.loads((tmp_path / "results.json").read_text())
    assert {r["status"] for r in results} == {"error"}

    run = playbook(tmp_path, {"kubefort_cluster_kubeconfig": api.kubeconfig(), "kubefort_cluster_fail_on_error": True})
    assert run.returncode == 2 and "401 Unauthorized" in run.stdout and "Traceback" not in run.stdout + run.stderr


def test_role_rejects_unknown_rule_and_skips_without_config(tmp_path: t.Any) -> None:
    run = playbook(tmp_path, {"kubefort_skip_rules": ["5.9.9"], "kubefort_cluster_snapshot_files": [FIXTURE]})
    assert run.returncode == 2 and "unknown rule ID(s): 5.9.9" in run.stdout
    run = playbook(tmp_path, {})
    assert run.returncode == 0 and "Cluster policy (CIS 5.x) not audited" in run.stdout
    assert json.loads((tmp_path / "results.json").read_text()) == []


def test_in_cluster_outside_a_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    result = run_module(params(in_cluster=True), check_mode=False)
    assert result["failed"] and "could not load the in-cluster service account" in result["msg"]
    result = run_module(params(in_cluster=True, kubeconfig="/tmp/x"), check_mode=False)
    assert result["failed"] and "in_cluster cannot be combined" in result["msg"]
