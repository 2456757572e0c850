"""What the kubefort actions keep per host without tasks: facts, the shared discovery, option checks, progress."""

from __future__ import annotations

import http.server
import os
import socket
import threading
import types

import pytest

from ansible import constants as C
from ansible.template import Templar
from ansible.parsing.dataloader import DataLoader

from ansible_collections.kubefort.hardening.plugins.action.ports_audit import ActionModule as PortsAudit
from ansible_collections.kubefort.hardening.plugins.callback.progress import CallbackModule
from ansible_collections.kubefort.hardening.plugins.modules import node_facts, port_probe
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _host_state

from kubefort_testlib import demo_node, run_module


@pytest.fixture(autouse=True)
def run_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(C, "DEFAULT_LOCAL_TMP", str(tmp_path / "ansible-local-run"))
    return tmp_path / "ansible-local-run"


def result(status):
    return {"id": "r-" + status, "status": status}


def test_record_appends_and_starts_over_after_an_earlier_run(monkeypatch, tmp_path):
    facts = _host_state.record({}, "control_plane", [result("pass")], {"layout": "kubeadm"}, 1, True)
    host_vars = {"ansible_facts": facts}
    facts = _host_state.record(host_vars, "node", [result("fail")], {"root": "/"}, 0, True)
    assert [r["status"] for r in facts["kubefort_results"]] == ["pass", "fail"]
    assert facts["kubefort_host"]["roles"] == ["control_plane", "node"]
    assert facts["kubefort_host"]["round_trips"] == 1 and facts["kubefort_host"]["mode"] == "check"
    assert facts["kubefort_host"]["layout"] == "kubeadm" and not _host_state.is_stale(facts["kubefort_host"])
    # The next ansible-playbook run (another local temporary directory) finds these facts in a
    # persistent cache: they are not appended to, and the report does not take them as current.
    monkeypatch.setattr(C, "DEFAULT_LOCAL_TMP", str(tmp_path / "ansible-local-next"))
    assert _host_state.is_stale(facts["kubefort_host"])
    again = _host_state.record({"ansible_facts": facts}, "node", [result("pass")], {}, 1, False)
    assert [r["status"] for r in again["kubefort_results"]] == ["pass"]
    assert again["kubefort_host"]["roles"] == ["node"] and again["kubefort_host"]["mode"] == "apply"


def test_discovery_is_kept_per_host_and_root_until_dropped(run_dir):
    assert _host_state.load_discovery("cp1", "/") is None
    _host_state.store_discovery("cp1", "/", {"snapshot": {"files": {}}})
    assert _host_state.load_discovery("cp1", "/") == {"snapshot": {"files": {}}}
    assert _host_state.load_discovery("cp1", "/mnt/cp1") is None
    assert _host_state.load_discovery("cp2", "/") is None
    assert oct(os.stat(run_dir / "kubefort").st_mode & 0o777) == "0o700"
    _host_state.drop_discovery("cp1", "/")
    assert _host_state.load_discovery("cp1", "/") is None


def test_options_are_checked_once_per_play_and_host():
    templar = Templar(loader=DataLoader(), variables={"wanted": 3})
    bad = {"inventory_hostname": "cp1", "kubefort_level": "{{ wanted }}", "kubefort_ports_probe": "maybe"}
    with pytest.raises(_host_state.OptionsError) as err:
        _host_state.check_options(bad, ["node", "ports"], templar, "play-1")
    assert "kubefort_level" in str(err.value) and "kubefort_ports_probe" in str(err.value)
    good = {"inventory_hostname": "cp1", "kubefort_level": 2, "kubefort_root": "/"}
    _host_state.check_options(good, ["node"], templar, "play-1")
    # Checked for this play and host: not again (the marker), but again in another play.
    _host_state.check_options(bad, ["node", "ports"], templar, "play-1")
    with pytest.raises(_host_state.OptionsError):
        _host_state.check_options(bad, ["node", "ports"], templar, "play-2")


def test_progress_counts_and_place():
    info = _host_state.progress({"ansible_play_hosts_all": ["cp1", "w1"], "inventory_hostname": "w1"},
                                [result("pass"), result("fail"), result("not_applicable")], True)
    assert info == {"index": 2, "total": 2, "final": True, "score": "50.0%", "counts": "1 fail, 1 pass, 1 not_applicable"}


class _Result:
    def __init__(self, host, data):
        self._host = types.SimpleNamespace(get_name=lambda: host)
        self._result = data


def test_progress_callback_prints_in_host_order(capsys):
    cb = CallbackModule()
    printed = []
    cb._display = types.SimpleNamespace(display=printed.append)
    cb.v2_playbook_on_play_start(types.SimpleNamespace(_uuid="p1"))

    def done(host, index, final):
        cb.v2_runner_on_ok(_Result(host, {"kubefort_progress": {"index": index, "total": 3, "final": final,
                                                                "score": "n/a", "counts": "no results"}}))

    done("w2", 3, True)
    done("w1", 2, False)
    done("cp1", 1, False)
    assert printed == []
    done("cp1", 1, True)
    assert printed == ["kubefort [1/3] cp1: score n/a, no results"]
    done("w1", 2, True)
    assert [p.split()[1] for p in printed] == ["[1/3]", "[2/3]", "[3/3]"]
    # A host that failed before its last kubefort task: printed at the end of the play, in order.
    cb.v2_playbook_on_play_start(types.SimpleNamespace(_uuid="p2"))
    done("b", 2, True)
    done("a", 1, False)
    cb.v2_playbook_on_stats(None)
    assert printed[3:] == ["kubefort [1/3] a: score n/a, no results", "kubefort [2/3] b: score n/a, no results"]


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.send_response(401)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_node_facts_ports_and_batched_probes(tmp_path):
    listening = run_module(node_facts, {"root": "/", "ports": {"probe": True, "timeout": 1}})
    ports = listening["snapshot"]["ports"]
    assert "listeners" in ports["listing"] or "error" in ports["listing"]
    assert len(ports["probe"]["probes"]) > 0 and ports["probe"]["host"] == "127.0.0.1"
    # Offline trees: no ports data at all.
    offline = run_module(node_facts, {"root": demo_node(tmp_path, "worker1"), "ports": {"probe": True}})
    assert "ports" not in offline["snapshot"]

    server = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        spec = [{"name": "custom", "port": port, "scheme": "http", "path": "/pods"}]
        batched = run_module(port_probe, {"hosts": ["127.0.0.1", "localhost"], "probes": spec, "timeout": 2})
    finally:
        server.shutdown()
    assert [r["host"] for r in batched["runs"]] == ["127.0.0.1", "localhost"]
    assert all(r["probes"][0]["status"] == 401 for r in batched["runs"]) and batched["prober"] == socket.gethostname()
    # Each node's ports audit takes its own entry of the prober's batch, labelled by the prober.
    registered = [dict(batched, item="prober1"), {"skipped": True, "item": "prober2"}]
    mine = PortsAudit._extra_runs(registered, "localhost")
    assert mine == [{"prober": "prober1", "host": "localhost", "probes": batched["runs"][1]["probes"]}]
    assert PortsAudit._extra_runs(registered, "192.0.2.1") == []


def test_a_role_recorded_again_in_the_same_run_replaces_its_results():
    # harden.yml's rollout: the node role deferred its fix (would_fix), then made it (fixed).
    facts = _host_state.record({}, "control_plane", [result("pass")], {}, 1, False)
    facts = _host_state.record({"ansible_facts": facts}, "node", [{"id": "k1", "status": "would_fix"},
                                                                  {"id": "k2", "status": "pass"}], {}, 0, False)
    facts = _host_state.record({"ansible_facts": facts}, "ports", [{"id": "p1", "status": "pass"}], {}, 0, False)
    again = _host_state.record({"ansible_facts": facts}, "node", [{"id": "k1", "status": "fixed"},
                                                                  {"id": "k2", "status": "pass"}], {}, 1, False)
    assert [(r["id"], r["status"]) for r in again["kubefort_results"]] == [
        ("r-pass", "pass"), ("p1", "pass"), ("k1", "fixed"), ("k2", "pass")]
    assert again["kubefort_host"]["roles"] == ["control_plane", "node", "ports"]
    assert again["kubefort_host"]["round_trips"] == 2
    assert again["kubefort_run"] == _host_state.run_id()


def test_options_at_their_role_default_are_neither_checked_nor_rendered():
    # kubefort_ports_control_plane_sources' default reads every control-plane host's variables: rendering it
    # for every host cost more than the audit itself. As the role writes it, it is the role's own.
    templar = Templar(loader=DataLoader(), variables={})
    default = _host_state._role_defaults("ports")["kubefort_ports_control_plane_sources"]
    assert "hostvars" in default
    _host_state.check_options({"inventory_hostname": "w1", "kubefort_ports_control_plane_sources": default,
                               "kubefort_level": 1}, ["ports"], templar, "play-d")
    # Set by the user (not the default as written): rendered and checked.
    with pytest.raises(_host_state.OptionsError) as err:
        _host_state.check_options({"inventory_hostname": "w2", "kubefort_ports_control_plane_sources": {"a": 1},
                                   "kubefort_ports_probe": "maybe"}, ["ports"], templar, "play-d")
    assert "kubefort_ports_control_plane_sources" in str(err.value) and "kubefort_ports_probe" in str(err.value)
    # A bool never stands for a number that equals it (true == 1 in Python).
    assert not _host_state._is_default("kubefort_level", True, ["node"])
    assert _host_state._is_default("kubefort_level", 1, ["node"])


def test_progress_callback_reads_the_raw_result_when_there_is_one():
    cb = CallbackModule()
    printed = []
    cb._display = types.SimpleNamespace(display=printed.append)
    cb.v2_playbook_on_play_start(types.SimpleNamespace(_uuid="p1"))
    raw = types.SimpleNamespace(_host=types.SimpleNamespace(get_name=lambda: "cp1"), _return_data={
        "kubefort_progress": {"index": 1, "total": 1, "final": True, "score": "n/a", "counts": "no results"}})
    cb.v2_runner_on_ok(raw)  # no _result: the callback must not need the converted copy
    assert printed == ["kubefort [1/1] cp1: score n/a, no results"]
