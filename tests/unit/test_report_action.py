"""The report action plugin on fake host variables, and its documentation stub module."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from unittest.mock import MagicMock

import pytest
import yaml
from ansible.errors import AnsibleActionFail
from ansible_collections.kubefort.hardening.plugins.action.report import ActionModule
from ansible_collections.kubefort.hardening.plugins.modules import report as stub
from test_report_samples import HOST_INFO, cluster, control_plane, worker

BUILD = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), ".build")


def run_action(args: dict, hostvars: dict, groups: dict, check_mode: bool = True) -> dict:
    task = MagicMock()
    task.args = args
    task.async_val = 0
    task.check_mode = check_mode
    task.diff = False
    play_context = MagicMock()
    play_context.check_mode = check_mode
    action = ActionModule(task, MagicMock(), play_context, MagicMock(), MagicMock(), MagicMock())
    return action.run(task_vars={"hostvars": hostvars, "groups": groups})


def inventory() -> tuple:
    hostvars = {
        "localhost": {"group_names": [], "kubefort_cluster_results": cluster()},
        "cp1": {"group_names": ["kube_control_plane"], "kubefort_results": control_plane(), "kubefort_host": HOST_INFO["cp1"]},
        "node1": {"group_names": ["kube_node"], "kubefort_results": worker(), "kubefort_host": {"layout": "kubeadm"}},
        "node2": {"group_names": ["kube_node"]},
        "bastion": {"group_names": ["ungrouped"]},
    }
    return hostvars, {"all": ["localhost", "cp1", "node1", "node2", "bastion"]}


def test_collects_every_host_and_the_cluster(tmp_path) -> None:
    hostvars, groups = inventory()
    out = run_action({"dest": str(tmp_path / "r"), "fail_on": "high"}, hostvars, groups)
    assert out["changed"] is False
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert [h["name"] for h in report["hosts"]] == ["cp1", "node1", "node2", "cluster"]
    assert report["hosts"][1]["roles"] == ["kube_node"]  # from the inventory groups when the fact has none
    assert report["hosts"][3]["kind"] == "cluster"
    assert report["run"]["mode"] == "check"
    assert report["run"]["hosts_without_results"] == ["node2"]
    assert report["run"]["collection_version"] not in ("", "unknown")
    # node2 reported nothing: it is a failed host with an open error (high), counted by the gate too.
    assert report["summary"]["failed_hosts"] == ["node2"]
    assert [r["id"] for r in report["hosts"][2]["results"]] == ["kubefort-host-failed"]
    assert report["hosts"][2]["summary"]["score"] == 0
    high = sum(1 for r in control_plane() + worker() + cluster() if r["status"] in ("fail", "would_fix", "error")
               and r["severity"] in ("high", "critical"))
    assert out["gate"] == {"fail_on": "high", "findings": high + 1, "failed": True}  # + node2's failure
    assert out["failed_hosts"]["node2"][0]["stage"] == "run" and "node2: run: no results" in out["failed_hosts_msg"]
    assert out["stats"]["hosts"]["node1"]["would_fix"] == sum(1 for r in worker() if r["status"] == "would_fix") > 0
    assert "no results from: node2 (unreachable, failed, or not audited)" in out["summary_lines"]
    assert len(out["files"]) == 8


def test_hosts_left_out_by_limit_are_listed_but_not_failed(tmp_path) -> None:
    hostvars, groups = inventory()
    task = MagicMock()
    task.args, task.async_val, task.check_mode, task.diff = {"dest": str(tmp_path), "formats": ["json"]}, 0, True, False
    play_context = MagicMock()
    play_context.check_mode = True
    action = ActionModule(task, MagicMock(), play_context, MagicMock(), MagicMock(), MagicMock())
    out = action.run(task_vars={"hostvars": hostvars, "groups": groups, "ansible_limit": "cp1,node1"})
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["run"]["hosts_without_results"] == ["node2"]
    assert [h["name"] for h in report["hosts"]] == ["cp1", "node1", "cluster"]
    assert out["failed_hosts"] == {}


def test_apply_mode_and_host_selection(tmp_path) -> None:
    hostvars, groups = inventory()
    run_action({"dest": str(tmp_path), "hosts": ["node1"], "cluster_host": "none", "formats": ["json"]}, hostvars, groups, check_mode=False)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["run"]["mode"] == "apply"
    assert [h["name"] for h in report["hosts"]] == ["node1"]
    assert os.listdir(tmp_path) == ["report.json"]


@pytest.mark.parametrize(
    "args, hostvars_patch, message",
    [
        ({"hosts": ["ghost"]}, {}, "report: host 'ghost' is not in the inventory"),
        ({}, {"cp1": {"group_names": [], "kubefort_results": "oops"}}, "host cp1: kubefort_results must be a list"),
        ({"compare": "/nonexistent/report.json"}, {}, "kubefort_report_compare: /nonexistent/report.json does not exist"),
        ({"fail_on": "severe"}, {}, "fail_on"),
    ],
)
def test_bad_input_fails_the_task_and_writes_nothing(tmp_path, args: dict, hostvars_patch: dict, message: str) -> None:
    hostvars, groups = inventory()
    hostvars.update(hostvars_patch)
    with pytest.raises(AnsibleActionFail, match=message):
        run_action(dict(dest=str(tmp_path / "r"), **args), hostvars, groups)
    assert not (tmp_path / "r").exists()


def test_documentation_matches_the_argument_spec() -> None:
    options = yaml.safe_load(stub.DOCUMENTATION)["options"]
    assert set(options) == set(stub.ARGUMENT_SPEC)
    for name, spec in stub.ARGUMENT_SPEC.items():
        doc = options[name]
        assert doc["type"] == spec["type"], name
        assert doc.get("default") == spec.get("default"), name
        assert doc.get("choices") == spec.get("choices"), name
        assert doc.get("required", False) == spec.get("required", False), name
        assert doc.get("elements") == spec.get("elements"), name


def test_module_refuses_to_run_on_a_host(tmp_path) -> None:
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"dest": "/tmp/x"}}))
    env = dict(os.environ, PYTHONPATH=BUILD)
    proc = subprocess.run(
        [sys.executable, "-m", "ansible_collections.kubefort.hardening.plugins.modules.report", str(args)],
        capture_output=True, text=True, env=env, check=False,
    )
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert out["failed"] is True
    assert "must run through its action plugin on the controller" in out["msg"]
