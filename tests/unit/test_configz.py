"""The kubelet judged on what it runs: /configz through the API server (plugins/plugin_utils/_configz.py).

The live node is the demo's cp2 (secure kubelet files) with a running kubelet whose /configz says otherwise;
the real kubelet and API server do the same in tests/real/test_real_configz.py.
"""

from __future__ import annotations

import copy
import time
import typing as t

from ansible_collections.kubefort.hardening.plugins.plugin_utils import _configz
from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options
from ansible_collections.kubefort.hardening.plugins.plugin_utils._harden import discover, run, select_rules
from kubefort_testlib import call_module_factory, demo_node

NODES = [
    {"metadata": {"name": "ip-10-0-1-7.ec2.internal"}, "status": {"addresses": [
        {"type": "InternalIP", "address": "10.0.1.7"}, {"type": "Hostname", "address": "ip-10-0-1-7.ec2.internal"}]}},
    {"metadata": {"name": "worker2"}, "status": {"addresses": [{"type": "InternalIP", "address": "fd00::2"}]}},
]


def test_inventory_hosts_are_matched_to_nodes_by_name_or_address() -> None:
    got = _configz.match_nodes(NODES, {
        "web1": ["web1", "10.0.1.7"],  # ansible_host is the Node's InternalIP
        "ip-10-0-1-7": ["ip-10-0-1-7"],  # short name of the Node's full name
        "w2": ["w2", "fd00:0:0:0:0:0:0:2"],  # the same IPv6 address written out
        "explicit": ["worker2", "explicit"],  # kubefort_node_name first
        "unknown": ["unknown", "192.0.2.99"],
    })
    assert got == {"web1": "ip-10-0-1-7.ec2.internal", "ip-10-0-1-7": "ip-10-0-1-7.ec2.internal", "w2": "worker2",
                   "explicit": "worker2"}


class FakeConnection:
    def __init__(self, answers: t.Mapping[str, t.Any]) -> None:
        self.answers = answers
        self.paths: t.List[str] = []

    def get(self, path: str) -> t.Any:
        self.paths.append(path)
        answer = self.answers.get(path)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_fetch_one_call_per_matched_node_and_errors_per_host() -> None:
    conn = FakeConnection({
        "/api/v1/nodes": {"items": NODES},
        "/api/v1/nodes/worker2/proxy/configz": {"kubeletconfig": {"readOnlyPort": 0}},
        "/api/v1/nodes/ip-10-0-1-7.ec2.internal/proxy/configz": RuntimeError("503 Service Unavailable: no route to host"),
    })
    got = _configz.fetch(conn, {"w2": ["worker2"], "web1": ["10.0.1.7"], "gone": ["gone"]})
    assert got["w2"] == {"node": "worker2", "configz": {"readOnlyPort": 0}}
    assert got["web1"]["node"] == "ip-10-0-1-7.ec2.internal" and "503" in got["web1"]["error"]
    assert got["gone"] == {"error": "no Node named or addressed gone"}
    assert sorted(conn.paths) == sorted(["/api/v1/nodes", "/api/v1/nodes/worker2/proxy/configz",
                                         "/api/v1/nodes/ip-10-0-1-7.ec2.internal/proxy/configz"])


def live_snapshot(tmp_path: t.Any) -> t.Dict[str, t.Any]:
    """cp2 as a live node whose kubelet was started from its unit an hour ago (the files are older still)."""
    root = demo_node(tmp_path, "cp2")
    snapshot, _trips, _node = discover(call_module_factory(), root)
    snapshot = copy.deepcopy(snapshot)
    started = time.time() - 3600
    for entry in snapshot["files"].values():
        if "mtime" in entry:
            entry["mtime"] = started - 60
    argv = snapshot["units"]["kubelet.service"]["argv"]
    snapshot.update(live=True, processes={"kubelet": [{"pid": 4242, "argv": argv, "started": started}]})
    return snapshot


RUNNING_INSECURE = {"readOnlyPort": 10255, "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": True},
                                                              "x509": {"clientCAFile": "/etc/kubernetes/pki/ca.crt"}},
                    "authorization": {"mode": "Webhook"}}


def test_a_kubelet_running_other_values_than_its_files_is_not_pass(tmp_path: t.Any) -> None:
    snapshot = live_snapshot(tmp_path)
    rules = select_rules(["kubelet"], ["kubelet-read-only-port", "kubelet-anonymous-auth", "kubelet-authorization-mode"], [])
    entry = {"node": "cp2", "configz": RUNNING_INSECURE}

    def results(check: bool, configz: t.Any) -> t.Dict[str, t.Dict[str, t.Any]]:
        out = run(call_module_factory(check=check), snapshot["root"], rules, Options(), check, str(tmp_path / "b"), False,
                  cached=copy.deepcopy(snapshot), configz=configz)
        return dict({r["id"]: r for r in out["results"]}, _restart=out["restart"])

    files_only = results(True, None)
    assert files_only["kubelet-read-only-port"]["status"] == "pass"  # the files (and their mtimes) say so
    audit = results(True, entry)
    port = audit["kubelet-read-only-port"]
    assert port["status"] == "would_fix" and port["actual"] == "10255"
    assert port["source"] == "/configz of Node cp2 (through the API server)"
    assert "fixed on disk, restart needed: the running kubelet has 10255" in port["message"]
    assert audit["kubelet-anonymous-auth"]["status"] == "would_fix"
    assert audit["kubelet-authorization-mode"]["status"] == "pass"  # runs Webhook, as the files say
    assert [step.get("unit") for step in audit["_restart"]] == ["kubelet.service"]  # the fix is a restart
    # not remediating: fail, nothing restarted
    out = run(call_module_factory(check=True), snapshot["root"], rules, Options(remediate=False), True, str(tmp_path / "b"),
              False, cached=copy.deepcopy(snapshot), configz=entry)
    assert {r["id"]: r["status"] for r in out["results"]}["kubelet-read-only-port"] == "fail" and out["restart"] == []


def test_offline_nodes_and_failed_reads_keep_the_files_verdict(tmp_path: t.Any) -> None:
    snapshot = live_snapshot(tmp_path)
    rules = select_rules(["kubelet"], ["kubelet-read-only-port"], [])
    for configz, live in (({"node": "cp2", "error": "503"}, True), ({"node": "cp2", "configz": RUNNING_INSECURE}, False)):
        snap = dict(copy.deepcopy(snapshot), live=live)
        out = run(call_module_factory(check=True), snapshot["root"], rules, Options(), True, str(tmp_path / "b"), False,
                  cached=snap, configz=configz)
        assert out["results"][0]["status"] == "pass"
