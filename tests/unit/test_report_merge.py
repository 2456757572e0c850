"""One fleet report from the report.json of each slice of a sliced job (the report action's merge option)."""

from __future__ import annotations

import json

import pytest
from ansible.errors import AnsibleActionFail
from test_report_action import run_action
from test_report_samples import HOST_INFO, cluster, control_plane, worker

VOLATILE = ("generated",)


def fleet() -> dict:
    return {
        "localhost": {"group_names": [], "kubefort_cluster_results": cluster()},
        "cp1": {"group_names": ["kube_control_plane"], "kubefort_results": control_plane(), "kubefort_host": HOST_INFO["cp1"]},
        "node1": {"group_names": ["kube_node"], "kubefort_results": worker(), "kubefort_host": {"layout": "kubeadm"}},
        "node2": {"group_names": ["kube_node"]},
    }


GROUPS = {"all": ["localhost", "cp1", "node1", "node2"]}


def sliced(hostvars: dict, keep: set) -> dict:
    """What one slice's play sees: the whole inventory, results only for its own hosts."""
    out = {}
    for name, variables in hostvars.items():
        out[name] = variables if name in keep or name == "localhost" else {"group_names": variables["group_names"]}
    return out


def load(path) -> dict:
    report = json.loads(path.read_text())
    report["run"] = {k: v for k, v in report["run"].items() if k not in VOLATILE}
    return report


def test_merged_slices_give_the_report_of_one_run(tmp_path) -> None:
    whole = fleet()
    run_action({"dest": str(tmp_path / "one"), "fail_on": "high"}, whole, GROUPS)
    run_action({"dest": str(tmp_path / "s1")}, sliced(whole, {"cp1"}), GROUPS)
    run_action({"dest": str(tmp_path / "s2")}, sliced(whole, {"node1", "node2"}), GROUPS)
    # The fleet report: a play on localhost after the slices, no node results of its own.
    bare = {name: {"group_names": v["group_names"]} for name, v in whole.items()}
    out = run_action({"dest": str(tmp_path / "fleet"), "fail_on": "high",
                      "merge": [str(tmp_path / "s1" / "report.json"), str(tmp_path / "s2" / "report.json")]}, bare, GROUPS)
    one, merged = load(tmp_path / "one" / "report.json"), load(tmp_path / "fleet" / "report.json")
    assert [h["name"] for h in merged["hosts"]] == ["cp1", "node1", "node2", "cluster"]  # node2: no results, failed
    assert merged == one
    assert merged["run"]["hosts_without_results"] == ["node2"]
    assert out["gate"]["failed"] is True and out["gate"] == one["summary"]["gate"]


def test_this_runs_results_win_and_hosts_of_other_inventories_are_kept(tmp_path) -> None:
    whole = fleet()
    run_action({"dest": str(tmp_path / "s1")}, whole, GROUPS)
    other = json.loads((tmp_path / "s1" / "report.json").read_text())
    other["hosts"] = [dict(h, name="edge-" + h["name"]) if h["kind"] == "node" else h for h in other["hosts"]]
    (tmp_path / "edge.json").write_text(json.dumps(other))
    only_cp1 = sliced(whole, {"cp1"})
    run_action({"dest": str(tmp_path / "r"), "merge": [str(tmp_path / "s1" / "report.json"), str(tmp_path / "edge.json")]},
               only_cp1, GROUPS)
    names = [h["name"] for h in json.loads((tmp_path / "r" / "report.json").read_text())["hosts"]]
    assert [n for n in names if not n.endswith("node2")] == ["cp1", "node1", "edge-cp1", "edge-node1", "cluster"]


@pytest.mark.parametrize("content, message", [
    (None, "merge: cannot read"),
    ("{", "is not JSON"),
    ('{"hosts": []}', "is not a kubefort report.json"),
    ('{"schema_version": "1.0", "hosts": [{"name": "x"}]}', "host entry without name or results"),
])
def test_bad_slice_files_fail_with_one_line(tmp_path, content, message) -> None:
    path = tmp_path / "slice.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(AnsibleActionFail, match=message):
        run_action({"dest": str(tmp_path / "r"), "merge": [str(path)]}, fleet(), GROUPS)
    assert not (tmp_path / "r").exists()


def test_a_host_in_two_slices_is_refused(tmp_path) -> None:
    run_action({"dest": str(tmp_path / "s1")}, fleet(), GROUPS)
    report = str(tmp_path / "s1" / "report.json")
    with pytest.raises(AnsibleActionFail, match="host cp1 is in both .* merge the reports of disjoint slices"):
        run_action({"dest": str(tmp_path / "r"), "merge": [report, report]}, fleet(), GROUPS)
