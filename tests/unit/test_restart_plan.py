"""The typed restart plan: what each layout restarts after a fix, and how the node sees it is back.

Plans are computed from the real installer-written fixtures (tests/fixtures/nodes, demo/nodes); the node
side (node_restart's runner) is driven with a fake /proc, a fake systemctl/journalctl and a loopback
HTTP server on a port chosen at run time.
"""

from __future__ import annotations

import http.server
import os
import shutil
import threading
import typing as t

import pytest

from ansible_collections.kubefort.hardening.plugins.module_utils import _restart
from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options
from ansible_collections.kubefort.hardening.plugins.plugin_utils._harden import run, select_rules
from kubefort_testlib import REPO, _demo_nodes_script, call_module_factory, demo_node

FIXTURES = os.path.join(REPO, "tests", "fixtures", "nodes")
COMPONENTS = ("kubelet", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kube-proxy")


def fixture_copy(tmp_path: t.Any, name: str) -> str:
    root = os.path.join(str(tmp_path), name)
    shutil.copytree(os.path.join(FIXTURES, name), root, symlinks=True)
    _demo_nodes_script().apply_modes(root)
    return root


def plan_of(root: str, components: t.Sequence[str] = COMPONENTS, rules: t.Sequence[str] = (),
            overrides: t.Optional[t.Dict[str, t.Any]] = None) -> t.List[t.Dict[str, t.Any]]:
    selected = select_rules(list(components), list(rules), [])
    outcome = run(call_module_factory(check=True), root, selected, Options(overrides=overrides or {}), True,
                  "/var/lib/kubefort/backups", False)
    return outcome["restart"]


def by_name(plan: t.Sequence[t.Dict[str, t.Any]]) -> t.Dict[str, t.Dict[str, t.Any]]:
    return {s["name"]: s for s in plan}


def test_k3s_restarts_the_whole_service_and_checks_its_kubelet_and_api_server(tmp_path: t.Any) -> None:
    plan = plan_of(fixture_copy(tmp_path, "k3s"), rules=["4.2.4", "1.2.6"])
    assert [s["name"] for s in plan] == ["k3s"]
    step = plan[0]
    assert step["kind"] == "unit" and step["unit"] == "k3s.service"
    assert step["processes"] == [{"program": "k3s", "unit": "k3s.service"}]
    assert {h["url"] for h in step["health"]} == {"http://127.0.0.1:10248/healthz", "https://127.0.0.1:6443/readyz"}
    apiserver = next(h for h in step["health"] if "readyz" in h["url"])
    assert apiserver["kubeconfig"] == "/etc/rancher/k3s/k3s.yaml"
    assert step["logs"] == {"unit": "k3s.service", "identifier": "k3s"}


def test_microk8s_restarts_kubelite_and_checks_its_api_server_on_16443(tmp_path: t.Any) -> None:
    plan = plan_of(fixture_copy(tmp_path, "microk8s"), rules=["4.2.2", "1.2.6"])
    assert [(s["kind"], s["unit"]) for s in plan] == [("unit", "snap.microk8s.daemon-kubelite.service")]
    assert plan[0]["processes"][0]["program"] == "kubelite"
    urls = {h["url"]: h for h in plan[0]["health"]}
    assert "https://127.0.0.1:16443/readyz" in urls
    assert urls["https://127.0.0.1:16443/readyz"]["kubeconfig"] == "/var/snap/microk8s/current/credentials/client.config"


def test_rke2_restarts_rke2_server(tmp_path: t.Any) -> None:
    plan = plan_of(fixture_copy(tmp_path, "rke2"), rules=["4.2.1"])
    assert [(s["kind"], s["unit"]) for s in plan] == [("unit", "rke2-server.service")]
    assert plan[0]["processes"][0] == {"program": "rke2", "unit": "rke2-server.service"}
    assert "http://127.0.0.1:10248/healthz" in [h["url"] for h in plan[0]["health"]]
    # RKE2's kubelet is its child process writing to a file: its reason for exiting is only there.
    assert plan[0]["logs"] == {"unit": "rke2-server.service", "identifier": "rke2",
                               "files": ["/var/lib/rancher/rke2/agent/logs/kubelet.log"]}


def test_microk8s_logs_are_read_by_snapds_syslog_identifier(tmp_path: t.Any) -> None:
    plan = plan_of(fixture_copy(tmp_path, "microk8s"), rules=["4.2.2"])
    assert plan[0]["logs"] == {"unit": "snap.microk8s.daemon-kubelite.service", "identifier": "microk8s.daemon-kubelite"}


def test_last_log_lines_add_the_services_log_files(tmp_path: t.Any) -> None:
    log = tmp_path / "kubelet.log"
    log.write_text("I serving\nE startup failed: readOnlyPort (--read-only-port) (70000) must be between 0 and 65535\n")
    step = {"logs": {"unit": "rke2-server.service", "identifier": "rke2", "files": [str(log), str(tmp_path / "absent.log")]}}
    lines = _restart.last_log_lines(step, Runner(journal="E Kubelet exited: exit status 1\n"))
    assert lines == ["E Kubelet exited: exit status 1", "%s: I serving" % log,
                     "%s: E startup failed: readOnlyPort (--read-only-port) (70000) must be between 0 and 65535" % log]


def test_rke2_etcd_started_with_its_config_file_runs_that_files_settings(tmp_path: t.Any) -> None:
    """etcd --config-file ignores its flags: the running process has the file's client-cert-auth, not etcd's
    default (which made every live RKE2 server 'restart needed' forever, and a restart wait for an etcd pod
    that RKE2 never restarts)."""
    root = fixture_copy(tmp_path, "rke2")

    def processes(snapshot: t.Dict[str, t.Any]) -> t.Dict[str, t.Any]:
        started = max(f.get("mtime") or 0 for f in snapshot["files"].values()) + 60
        return {"rke2": [{"pid": 70, "argv": ["/usr/local/bin/rke2", "server"], "start_ticks": 0, "started": started}],
                "etcd": [{"pid": 71, "argv": ["etcd", "--config-file=/var/lib/rancher/rke2/server/db/etcd/config"],
                          "start_ticks": 0, "started": started}]}

    rules = select_rules(["etcd"], ["etcd-client-cert-auth", "etcd-peer-client-cert-auth"], [])
    outcome = run(live_call(processes), root, rules, Options(), True, "/b", False)
    assert {r["id"]: r["status"] for r in outcome["results"]} == {"etcd-client-cert-auth": "pass",
                                                                  "etcd-peer-client-cert-auth": "pass"}
    assert outcome["restart"] == []


def test_systemd_etcd_is_restarted_first_and_waits_for_health_with_its_own_certificates(tmp_path: t.Any) -> None:
    root = fixture_copy(tmp_path, "kubespray")
    plan = plan_of(root, components=["etcd", "kubelet"], rules=["etcd-peer-client-cert-auth", "kubelet-read-only-port"])
    assert [s["unit"] for s in plan if s["kind"] == "unit"] == ["etcd.service", "kubelet.service"]
    etcd = plan[0]
    assert etcd["processes"] == [{"program": "etcd", "unit": "etcd.service"}]
    # kubespray's etcd has no metrics URL: /health on the loopback client URL, with etcd's own TLS files.
    assert etcd["health"] == [{"component": "etcd", "url": "https://127.0.0.1:2379/health",
                               "ca_file": "/etc/ssl/etcd/ssl/ca.pem", "cert_file": "/etc/ssl/etcd/ssl/member-node1.pem",
                               "key_file": "/etc/ssl/etcd/ssl/member-node1-key.pem"}]


def test_kubeadm_static_pod_step_carries_the_new_and_the_old_command_line(tmp_path: t.Any) -> None:
    root = demo_node(tmp_path, "cp1")
    plan = plan_of(root, components=["kube-apiserver"], rules=["1.2.6"])
    (step,) = plan
    assert step["kind"] == "static_pod" and step["manifest"] == "/etc/kubernetes/manifests/kube-apiserver.yaml"
    (process,) = step["processes"]
    assert process["program"] == "kube-apiserver"
    assert "--authorization-mode=Node,RBAC" in process["command"]
    assert "--authorization-mode=Node,RBAC" not in process["rollback_command"]
    assert process["command"][0] == process["rollback_command"][0] == "kube-apiserver"
    (check,) = step["health"]
    assert check["url"].endswith("/readyz") and check["default_kubeconfig"] is True
    assert step["logs"] == {"pod": "kube-apiserver"}


def test_kubeadm_kubelet_fix_restarts_the_kubelet_unit(tmp_path: t.Any) -> None:
    plan = plan_of(demo_node(tmp_path, "worker1"), components=["kubelet"], rules=["4.2.4"])
    assert [(s["kind"], s["unit"]) for s in plan] == [("unit", "kubelet.service")]
    assert plan[0]["health"] == [{"component": "kubelet", "url": "http://127.0.0.1:10248/healthz"}]


# --- node side ----------------------------------------------------------------------------------------


class Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"ok" if type(self).status == 200 else b"not ready")

    def log_message(self, *args: t.Any) -> None:
        pass


@pytest.fixture()
def health_server() -> t.Iterator[t.Tuple[str, t.Type[Health]]]:
    handler = type("H", (Health,), {"status": 200})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:%d/healthz" % server.server_address[1], handler
    finally:
        server.shutdown()
        server.server_close()


def fake_proc(tmp_path: t.Any, processes: t.Dict[int, t.Tuple[t.List[str], float]]) -> str:
    """A /proc with these processes (argv, seconds since boot)."""
    ticks = os.sysconf("SC_CLK_TCK")
    proc = tmp_path / "proc"
    proc.mkdir()
    for pid, (argv, since_boot) in processes.items():
        directory = proc / str(pid)
        directory.mkdir()
        (directory / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
        fields = ["S"] + ["0"] * 18 + [str(int(since_boot * ticks))] + ["0"] * 30
        (directory / "stat").write_bytes(("%d (x) " % pid).encode() + " ".join(fields).encode())
    return str(proc)


def boot() -> float:
    from ansible_collections.kubefort.hardening.plugins.module_utils._component_health import _boot_time
    return _boot_time()


class Runner:
    def __init__(self, journal: str = "") -> None:
        self.calls: t.List[t.List[str]] = []
        self.journal = journal

    def __call__(self, argv: t.Sequence[str]) -> t.Tuple[int, str, str]:
        self.calls.append(list(argv))
        if argv[0] == "journalctl":
            return 0, self.journal, ""
        return 0, "", ""


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def unit_tree(tmp_path: t.Any) -> str:
    root = tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "etc/systemd/system/kubelet.service").write_text(
        "[Service]\nEnvironment=KUBELET_ARGS=--read-only-port=0\nExecStart=/usr/bin/kubelet $KUBELET_ARGS\n")
    return str(root)


def kubelet_step(url: str) -> t.Dict[str, t.Any]:
    return {"name": "kubelet", "kind": "unit", "unit": "kubelet.service", "components": ["kubelet"],
            "processes": [{"program": "kubelet", "unit": "kubelet.service"}],
            "health": [{"component": "kubelet", "url": url}], "logs": {"unit": "kubelet.service", "identifier": "kubelet"}}


def test_unit_step_restarts_then_sees_a_new_process_with_the_units_command_line(tmp_path: t.Any, health_server: t.Any) -> None:
    url, _handler = health_server
    now = boot() + 100.0
    proc = fake_proc(tmp_path, {
        41: (["/usr/bin/kubelet", "--read-only-port=10255"], 10.0),  # the old process
        42: (["/usr/bin/kubelet", "--read-only-port=0"], 100.5),  # started after the restart, new flags
    })
    runner = Runner()
    clock = Clock(now)
    done = _restart.run_step(kubelet_step(url), "apply", 10, None, runner, proc=proc, clock=clock, sleep=clock.sleep,
                             root=unit_tree(tmp_path))
    # reset-failed first: a unit that crash-looped into its start limit would refuse the (rollback's) restart.
    assert runner.calls[:3] == [["systemctl", "reset-failed", "kubelet.service"], ["systemctl", "daemon-reload"],
                                ["systemctl", "restart", "kubelet.service"]]
    assert done["pids"] == [42] and done["urls"] == [url]


def test_unit_step_fails_with_the_units_last_log_lines_when_only_the_old_process_runs(tmp_path: t.Any, health_server: t.Any) -> None:
    url, _handler = health_server
    proc = fake_proc(tmp_path, {41: (["/usr/bin/kubelet", "--read-only-port=0"], 10.0)})
    runner = Runner(journal="I started\nE readOnlyPort (--read-only-port) (70000) must be between 0 and 65535\n")
    clock = Clock(boot() + 100.0)
    with pytest.raises(_restart.StepError) as caught:
        _restart.run_step(kubelet_step(url), "apply", 5, None, runner, proc=proc, clock=clock, sleep=clock.sleep,
                          root=unit_tree(tmp_path))
    assert "kubelet did not become healthy within 5 s after restarting kubelet.service" in str(caught.value)
    assert "only kubelet processes started before the restart run (PIDs 41)" in str(caught.value)
    assert caught.value.log[-1].startswith("E readOnlyPort")
    assert ["journalctl", "--identifier=kubelet", "--unit=kubelet.service", "--lines=5", "--no-pager", "--output=cat"] in runner.calls


def test_unit_step_fails_when_health_does_not_answer_200(tmp_path: t.Any, health_server: t.Any) -> None:
    url, handler = health_server
    handler.status = 503
    proc = fake_proc(tmp_path, {42: (["/usr/bin/kubelet", "--read-only-port=0"], 100.5)})
    clock = Clock(boot() + 100.0)
    with pytest.raises(_restart.StepError) as caught:
        _restart.run_step(kubelet_step(url), "apply", 3, None, Runner(), proc=proc, clock=clock, sleep=clock.sleep,
                          root=unit_tree(tmp_path))
    assert "answered HTTP 503" in str(caught.value)


def test_static_pod_rollback_waits_for_the_old_command_line(tmp_path: t.Any) -> None:
    root = tmp_path / "root"
    (root / "etc/kubernetes/manifests").mkdir(parents=True)
    manifest = root / "etc/kubernetes/manifests/kube-scheduler.yaml"
    manifest.write_text("kind: Pod\n")
    changed = os.stat(str(manifest)).st_ctime
    new, old = ["kube-scheduler", "--profiling=false"], ["kube-scheduler", "--profiling=true"]
    step = {"name": "kube-scheduler", "kind": "static_pod", "manifest": "/etc/kubernetes/manifests/kube-scheduler.yaml",
            "components": ["kube-scheduler"], "processes": [{"program": "kube-scheduler", "command": new, "rollback_command": old}],
            "health": [], "logs": {"pod": "kube-scheduler"}}
    since_boot = changed - boot() + 1
    proc = fake_proc(tmp_path, {7: (old, since_boot)})
    clock = Clock(changed + 2)
    assert _restart.run_step(step, "rollback", 5, None, Runner(), proc=proc, clock=clock, sleep=clock.sleep,
                             root=str(root))["pids"] == [7]
    with pytest.raises(_restart.StepError, match="no kube-scheduler process runs the expected command line"):
        _restart.run_step(step, "apply", 3, None, Runner(), proc=proc, clock=clock, sleep=clock.sleep, root=str(root))


def test_plan_stops_at_the_first_step_that_does_not_come_back(tmp_path: t.Any, health_server: t.Any) -> None:
    url, handler = health_server
    handler.status = 500
    proc = fake_proc(tmp_path, {42: (["/usr/bin/kubelet", "--read-only-port=0"], 100.5)})
    runner = Runner()
    clock = Clock(boot() + 100.0)
    second = dict(kubelet_step(url), name="kube-proxy", unit="kube-proxy.service")
    with pytest.raises(_restart.StepError) as caught:
        _restart.run_plan([kubelet_step(url), second], "apply", 2, None, runner, proc=proc, clock=clock,
                          sleep=clock.sleep, root=unit_tree(tmp_path))
    assert caught.value.step == "kubelet"
    assert ["systemctl", "restart", "kube-proxy.service"] not in runner.calls


# --- what runs vs what is on disk (live nodes) ---------------------------------------------------------


def live_call(processes: t.Callable[[t.Dict[str, t.Any]], t.Dict[str, t.Any]]) -> t.Any:
    """node_facts on a tree, presented as a live node whose processes ``processes(snapshot)`` returns."""
    inner = call_module_factory(check=True)

    def call(name: str, args: t.Dict[str, t.Any]) -> t.Dict[str, t.Any]:
        out = inner(name, args)
        if name.endswith("node_facts") and "snapshot" in out:
            out["snapshot"]["live"] = True
            out["snapshot"]["processes"] = processes(out["snapshot"])
        return out

    return call


def kubelet_process(offset: float) -> t.Callable[[t.Dict[str, t.Any]], t.Dict[str, t.Any]]:
    """A kubelet running the unit's own command line, started ``offset`` s after its config file changed."""
    def processes(snapshot: t.Dict[str, t.Any]) -> t.Dict[str, t.Any]:
        argv = snapshot["units"]["kubelet.service"]["argv"]
        mtime = snapshot["files"]["/var/lib/kubelet/config.yaml"]["mtime"]
        return {"kubelet": [{"pid": 4242, "argv": argv, "start_ticks": 0, "started": mtime + offset}]}
    return processes


@pytest.mark.parametrize("offset, status", [(-60.0, "would_fix"), (60.0, "pass")])
def test_a_kubelet_older_than_its_config_file_is_fixed_on_disk_restart_needed(tmp_path: t.Any, offset: float, status: str) -> None:
    root = demo_node(tmp_path, "worker1")
    rules = select_rules(["kubelet"], ["kubelet-authorization-mode"], [])
    # The config file already has authorization mode Webhook: right on disk.
    assert run(call_module_factory(check=True), root, rules, Options(), True, "/b", False)["results"][0]["status"] == "pass"
    outcome = run(live_call(kubelet_process(offset)), root, rules, Options(), True, "/b", False)
    (result,) = outcome["results"]
    assert result["status"] == status
    if status == "pass":
        assert outcome["restart"] == [] and not outcome["changed"]
        return
    assert "fixed on disk, restart needed: /var/lib/kubelet/config.yaml" in result["message"]
    assert "kubelet (PID 4242)" in result["message"]
    assert [s["unit"] for s in outcome["restart"]] == ["kubelet.service"]
    assert outcome["changed"]  # a live run restarts the kubelet (check mode predicts it)
    # Auditing only: the same finding is a failure, and nothing would restart.
    audit = run(live_call(kubelet_process(offset)), root, rules, Options(remediate=False), True, "/b", False)
    assert audit["results"][0]["status"] == "fail" and audit["restart"] == []


def test_a_run_that_makes_no_restarts_counts_a_planned_restart_as_no_change(tmp_path: t.Any) -> None:
    # kubefort_provisioning on a live node: the roles pass restarts=false and no handler restarts anything, so a
    # second provisioning run, with nothing to write, must report no change (it reported one on every run).
    from kubefort_testlib import tree_hashes

    root = demo_node(tmp_path, "worker1")
    before = tree_hashes(root)
    rules = select_rules(["kubelet"], ["kubelet-authorization-mode"], [])
    for check_mode in (True, False):
        outcome = run(live_call(kubelet_process(-60.0)), root, rules, Options(), check_mode, "/b", False, restarts=False)
        assert [s["unit"] for s in outcome["restart"]] == ["kubelet.service"]  # still named, never made
        assert not outcome["changed"] and outcome["backups"] == []
    assert tree_hashes(root) == before


def test_k3s_config_newer_than_the_k3s_process_needs_a_k3s_restart(tmp_path: t.Any) -> None:
    root = fixture_copy(tmp_path, "k3s")

    def processes(snapshot: t.Dict[str, t.Any]) -> t.Dict[str, t.Any]:
        mtime = snapshot["files"]["/etc/rancher/k3s/config.yaml"]["mtime"]
        return {"k3s": [{"pid": 77, "argv": ["/usr/local/bin/k3s", "server"], "start_ticks": 0, "started": mtime - 30}]}

    rules = select_rules(["kube-apiserver"], ["apiserver-profiling"], [])
    (result,) = run(live_call(processes), root, rules, Options(remediate=False), True, "/b", False)["results"]
    assert result["status"] == "fail"
    assert result["message"].startswith("fixed on disk, restart needed: /etc/rancher/k3s/config.yaml")
    assert result["message"].endswith("restart k3s")


# --- deferred restarts (playbooks/harden.yml: every node at once, then the rollout) --------------------


def test_defer_restarts_writes_only_what_restarts_nothing(tmp_path: t.Any) -> None:
    from kubefort_testlib import tree_hashes

    root = demo_node(tmp_path, "cp1")
    before = tree_hashes(root)
    kubelet = select_rules(["kubelet"], ["4.2.4"], [])
    # The read-only port is a kubelet flag: its fix restarts the kubelet, so nothing is written yet.
    deferred = run(call_module_factory(), root, kubelet, Options(), False, "/b", True, defer_restarts=True)
    assert deferred["deferred"] is True and deferred["restart"] == [] and not deferred["changed"]
    assert deferred["diff"] == []  # shown where the fix is made
    assert [r["status"] for r in deferred["results"]] == ["would_fix"] and deferred["backups"] == []
    assert deferred["_snapshot"] is not None  # nothing written: the discovery stays good for the rollout
    assert tree_hashes(root) == before
    # The rollout makes it, with the restart (as without the option).
    made = run(call_module_factory(), root, kubelet, Options(), False, str(tmp_path / "backups"), False)
    assert made["deferred"] is False and [r["status"] for r in made["results"]] == ["fixed"]
    assert [s["unit"] for s in made["restart"]] == ["kubelet.service"]
    # A mode fix restarts nothing: made at once, not deferred.
    modes = select_rules(["kubelet"], ["4.1.9"], [])
    at_once = run(call_module_factory(), root, modes, Options(), False, str(tmp_path / "backups"), False, defer_restarts=True)
    assert at_once["deferred"] is False and at_once["changed"] and at_once["restart"] == []
    assert [r["status"] for r in at_once["results"]] == ["fixed"]
    # Check mode and auditing never defer.
    assert run(call_module_factory(check=True), root, kubelet, Options(), True, "/b", False, defer_restarts=True)["deferred"] is False


def test_defer_writes_plans_without_writing_and_defers_only_when_there_is_something_to_change(tmp_path: t.Any) -> None:
    from kubefort_testlib import tree_hashes

    root = demo_node(tmp_path, "cp1")
    before = tree_hashes(root)
    # A mode fix restarts nothing, yet a plan (harden.yml's control plane, planned at once) writes nothing:
    # its host is rolled out one at a time, where the fix is made.
    modes = select_rules(["kubelet"], ["4.1.9"], [])
    planned = run(call_module_factory(), root, modes, Options(), False, "/b", True, defer_writes=True)
    assert planned["deferred"] is True and not planned["changed"] and planned["backups"] == [] and planned["diff"] == []
    assert [r["status"] for r in planned["results"]] == ["would_fix"]
    # Exactly what check mode predicts.
    predicted = run(call_module_factory(check=True), root, modes, Options(), True, "/b", False)
    assert planned["results"] == predicted["results"]
    assert tree_hashes(root) == before
    made = run(call_module_factory(), root, modes, Options(), False, str(tmp_path / "backups"), False)
    assert [r["status"] for r in made["results"]] == ["fixed"]
    # Nothing left to change: not deferred (no rollout for this host), nothing written.
    hardened = tree_hashes(root)
    again = run(call_module_factory(), root, modes, Options(), False, "/b", False, defer_writes=True)
    assert again["deferred"] is False and not again["changed"] and [r["status"] for r in again["results"]] == ["pass"]
    assert tree_hashes(root) == hardened
