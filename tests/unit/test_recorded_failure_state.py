"""What the ports audit and the report read of recorded failures (the playbook side is
tests/integration/test_failures_recorded.py)."""

from __future__ import annotations

import pytest

from ansible import constants as C

from ansible_collections.kubefort.hardening.plugins.action.ports_audit import ActionModule as PortsAudit
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _host_state


@pytest.fixture(autouse=True)
def run_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(C, "DEFAULT_LOCAL_TMP", str(tmp_path / "ansible-local-run"))


# What a run_once, looped, ignore_errors/ignore_unreachable port_probe registers, one entry per prober.
PROBE_RUNS = [
    {"item": "prober1", "runs": [{"host": "10.0.0.5", "probes": [{"port": 10255, "result": "refused"}]}]},
    {"item": "gone", "unreachable": True, "changed": False,
     "msg": "Task failed: Failed to connect to the host via ssh: ssh: connect to host 127.0.0.1 port 9: Connection refused"},
    {"item": "broken", "failed": True, "msg": "port_probe: hosts must be a list\nsecond line"},
    {"item": "skipped-one", "skipped": True},
]


def test_failed_and_unreachable_probers_are_named_with_their_reason():
    assert PortsAudit._failed_probers(PROBE_RUNS) == [
        ("gone", "unreachable: Task failed: Failed to connect to the host via ssh: ssh: connect to host 127.0.0.1 port 9: "
                 "Connection refused"),
        ("broken", "port_probe: hosts must be a list"),
    ]
    # Their (missing) probes are never taken as evidence.
    assert PortsAudit._extra_runs(PROBE_RUNS, "10.0.0.5") == [
        {"prober": "prober1", "host": "10.0.0.5", "probes": [{"port": 10255, "result": "refused"}]}]


def test_the_actions_facts_and_the_rescues_set_facts_are_both_failures_of_this_run(monkeypatch, tmp_path):
    facts = _host_state.record_failure({}, "node", "unreachable: ssh: connect to host")
    variables = {"kubefort_host_failures": facts["kubefort_host_failures"],
                 "kubefort_task_failures": [{"stage": "ports", "reason": "the host firewall was not set: no sources"}]}
    assert _host_state.current_failures(variables) == [
        {"stage": "node", "reason": "unreachable: ssh: connect to host"},
        {"stage": "ports", "reason": "the host firewall was not set: no sources"}]
    # A persistent fact cache keeps the actions' facts of an earlier run: those are not this run's failures;
    # the rescues' set_fact values are never cached.
    monkeypatch.setattr(C, "DEFAULT_LOCAL_TMP", str(tmp_path / "ansible-local-next"))
    assert _host_state.current_failures(variables) == [
        {"stage": "ports", "reason": "the host firewall was not set: no sources"}]
    # Recording another action failure keeps only the actions' own entries in their fact.
    again = _host_state.record_failure(variables, "control_plane", "x")
    assert [f["stage"] for f in again["kubefort_host_failures"]] == ["control_plane"]
