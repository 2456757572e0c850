"""The benchmark's own logic (scripts/benchmark.py): fleet plan, counting, memory sampling, aggregation.

The benchmark itself is not run here (it takes minutes); these tests check the parts its figures rest on.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import types

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _load(name: str, path: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


bench = _load("kubefort_benchmark_script", "scripts/benchmark.py")
callback = _load("kubefort_benchmark_callback", "scripts/benchmark_plugins/callback/kubefort_benchmark.py")

DEMO = {"all": {"vars": {"x": 1}, "children": {
    "kube_control_plane": {"hosts": {"cp1": None, "cp2": None}},
    "kube_node": {"hosts": {"cp1": None, "cp2": None, "w1": None, "w2": None, "w3": None}},
}}}


def test_demo_groups_reads_every_group_of_a_host() -> None:
    assert bench.demo_groups(DEMO) == {"cp1": ("kube_control_plane", "kube_node"), "cp2": ("kube_control_plane", "kube_node"),
                                       "w1": ("kube_node",), "w2": ("kube_node",), "w3": ("kube_node",)}


def test_demo_groups_of_the_bundled_demo_has_control_plane_and_workers() -> None:
    import yaml

    with open(os.path.join(REPO, "demo", "inventory.yml")) as handle:
        groups = bench.demo_groups(yaml.safe_load(handle))
    nodes = bench.plan_fleet(10, groups)
    assert sum("kube_control_plane" in n.groups for n in nodes) == 3
    assert all(os.path.isdir(os.path.join(REPO, "demo", "nodes", n.template)) for n in nodes)


@pytest.mark.parametrize("n, control_plane, want_templates", [
    (1, 3, ["cp1"]),
    (2, 3, ["cp1", "cp2"]),
    (4, 3, ["cp1", "cp2", "cp1", "w1"]),
    (7, 2, ["cp1", "cp2", "w1", "w2", "w3", "w1", "w2"]),
    (3, 0, ["w1", "w2", "w3"]),
])
def test_plan_fleet_puts_control_plane_first_and_cycles_templates(n: int, control_plane: int, want_templates: list) -> None:
    nodes = bench.plan_fleet(n, bench.demo_groups(DEMO), control_plane)
    assert [node.template for node in nodes] == want_templates
    assert len({node.name for node in nodes}) == n
    assert nodes[0].name.endswith("-0001")
    assert all(node.groups == bench.demo_groups(DEMO)[node.template] for node in nodes)


def test_plan_fleet_needs_both_kinds_of_template() -> None:
    with pytest.raises(bench.BenchmarkError):
        bench.plan_fleet(3, {"w1": ("kube_node",)})


def test_inventory_for_lists_hosts_in_their_groups_only() -> None:
    nodes = bench.plan_fleet(4, bench.demo_groups(DEMO), 1)
    inv = bench.inventory_for(nodes, {"ansible_connection": "local"}, {nodes[0].name: {"ansible_host": "c1"}})
    children = inv["all"]["children"]
    assert set(children) == {"kube_control_plane", "kube_node"}  # no empty etcd group
    assert list(children["kube_control_plane"]["hosts"]) == [nodes[0].name]
    assert list(children["kube_node"]["hosts"]) == [n.name for n in nodes]
    assert children["kube_node"]["hosts"][nodes[0].name] == {"ansible_host": "c1"}
    assert children["kube_node"]["hosts"][nodes[1].name] is None
    assert inv["all"]["vars"] == {"ansible_connection": "local"}


def test_parse_counter_log_counts_runs_and_pipelined_runs_per_host() -> None:
    lines = ["cp1-0001 0\n", "cp1-0001 0\n", "cp1-0001 1\n", "w1-0002 0\n", "garbage\n", "x y\n", ""]
    assert bench.parse_counter_log(lines) == {"cp1-0001": {"runs": 3, "pipelined": 2}, "w1-0002": {"runs": 1, "pipelined": 1}}


def test_counter_wrapper_logs_the_host_and_runs_python(tmp_path) -> None:
    log = tmp_path / "count.log"
    bench.install_counter(str(tmp_path / "bin"), str(log), sys.executable, ["node-1", "node-2"])
    bench.install_counter(str(tmp_path / "bin"), str(log), sys.executable, ["node-1"])  # again: no error
    out = subprocess.run([str(tmp_path / "bin" / "node-2"), "-c", "print(6 * 7)"], capture_output=True, text=True, check=True)
    subprocess.run([str(tmp_path / "bin" / "node-1")], input="pass\n", text=True, check=True)
    assert out.stdout == "42\n"
    assert bench.parse_counter_log(log.read_text().splitlines()) == {
        "node-2": {"runs": 1, "pipelined": 0}, "node-1": {"runs": 1, "pipelined": 1}}


def test_count_exec_events_maps_containers_to_nodes_and_ignores_others() -> None:
    names = ["kubefort-bench-cp1-0001\n", "kubefort-bench-cp1-0001", "other-container", "kubefort-bench-w1-0002", ""]
    node_of = {"kubefort-bench-cp1-0001": "cp1-0001", "kubefort-bench-w1-0002": "w1-0002"}
    assert bench.count_exec_events(names, node_of) == {"cp1-0001": 2, "w1-0002": 1}


def test_parse_stat_survives_parentheses_and_spaces_in_the_command_name() -> None:
    assert bench.parse_stat("4242 (a) b (c)) S 17 4242 4242 0 -1") == (17, "a) b (c)")
    assert bench.parse_stat("1 (systemd) S 0 1 1 0 -1") == (0, "systemd")


def test_parse_stat_cpu_s_adds_user_and_system_time() -> None:
    ticks = os.sysconf("SC_CLK_TCK")
    line = f"7 (ansible-playboo) S 1 7 7 0 -1 4194304 100 0 0 0 {3 * ticks} {ticks} 0 0 20 0 1 0 5 1000 50"
    assert bench.parse_stat_cpu_s(line) == 4.0


def test_memory_parsers() -> None:
    assert bench.parse_statm_rss_kib("1000 250 30 1 0 100 0") == 250 * bench.PAGE_KIB
    assert bench.parse_smaps_rollup_pss_kib("00400000-ffff [rollup]\nRss:  900 kB\nPss:  512 kB\nPss_Anon: 1 kB\n") == 512
    assert bench.parse_smaps_rollup_pss_kib("") is None


def test_descendants_walks_the_whole_tree_and_nothing_else() -> None:
    parents = {1: 0, 10: 1, 11: 10, 12: 10, 13: 12, 20: 1, 21: 20}
    assert sorted(bench.descendants(10, parents)) == [10, 11, 12, 13]


def test_tree_sampler_separates_forked_workers_from_child_programs() -> None:
    # A parent that starts a `sleep` (another program) and forks one worker (same command name), then says
    # so. Sampling starts only then: between fork and exec the sleep's process still has the parent's command
    # name, and a sample in that window (wide at load 15+) would count it as a third controller process.
    code = ("import os, subprocess, sys, time\n"
            "data = bytearray(40 * 1024 * 1024)\n"
            "sleeper = subprocess.Popen(['sleep', '30'])\n"  # returns once the exec has happened
            "pid = os.fork()\n"
            "if pid == 0:\n    time.sleep(30); os._exit(0)\n"
            "print('ready', flush=True)\n"
            "sleeper.wait()\n")
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        sampler = bench.TreeSampler(proc.pid)
        deadline = time.monotonic() + 20  # a loaded CI machine can be slow to start the children
        while time.monotonic() < deadline and (sampler.peak["controller_processes"], sampler.peak["module_processes"]) != (2, 1):
            time.sleep(0.1)
            sampler.sample()
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the test's own process group: parent, worker and sleep
        proc.wait()
    peak = sampler.peak
    assert peak["controller_processes"] == 2
    assert peak["module_processes"] == 1
    assert peak["controller_rss_kib"] > 2 * 40 * 1024  # the bytearray counted once per process in RSS
    assert 40 * 1024 < peak["controller_pss_kib"] < peak["controller_rss_kib"]  # shared pages split in PSS
    assert 0 < sampler.main_cpu_s < 30


def _run(nodes: int, wall: float, pss_mib: float, rules: str = "all", mode: str = "check", forks: int = 10) -> dict:
    return {"kind": "offline", "nodes": nodes, "forks": forks, "mode": mode, "rules": rules, "wall_s": wall,
            "memory": {"controller_pss_kib": pss_mib * 1024},
            "summary": {"results_per_host_max": 11 if rules == "all" else 1, "trips_max": 2}}


def test_summarize_compares_counted_and_reported_round_trips() -> None:
    run = {"wall_s": 30.0, "callback": {"hosts": {
        "a": {"plugin_round_trips": 2, "fact_round_trips": 2, "results": 11, "outcomes": {"ok": 4}},
        "b": {"plugin_round_trips": 1, "fact_round_trips": 1, "results": 5, "outcomes": {"ok": 2, "failed": 1}},
        "localhost": {"outcomes": {"ok": 3}}}}}
    counts = {"a": {"runs": 2, "pipelined": 2}, "b": {"runs": 2, "pipelined": 1}, "localhost": {"runs": 1, "pipelined": 1}}
    s = bench.summarize(run, counts, ["a", "b", "c"])
    assert s["per_host_s"] == 10.0
    assert (s["trips_max"], s["trips_mean"], s["trips_plugin_max"], s["trips_fact_max"]) == (2, 1.33, 2, 2)
    assert s["trips_agree"] is False  # b: counted 2, plugin said 1
    assert s["pipelined_share"] == 0.75
    assert s["results_per_host_max"] == 11
    assert s["controller_modules"] == 1
    assert s["failed_hosts"] == ["b"]


def test_slope_fits_a_line_and_needs_two_sizes() -> None:
    assert bench.slope([(1, 5.0), (11, 6.0), (101, 15.0)]) == pytest.approx((4.9, 0.1))
    assert bench.slope([(10, 1.0), (10, 2.0)]) is None


def test_growth_gives_fixed_cost_and_cost_per_host_per_series() -> None:
    runs = [_run(1, 4.0, 100), _run(11, 9.0, 110), _run(101, 54.0, 200), _run(10, 1.0, 50, forks=50)]
    (row,) = bench.growth(runs)
    assert (row["fixed_s"], row["per_host_s"], row["sizes"]) == (3.5, 0.5, [1, 11, 101])
    assert (row["fixed_mib"], row["per_host_mib"]) == (99.0, 1.0)


def test_rule_ratio_pairs_the_subset_with_the_all_rules_run() -> None:
    runs = [_run(10, 12.0, 1), _run(10, 10.0, 1, rules="4.2.4"), _run(100, 50.0, 1, rules="4.2.4")]
    (row,) = bench.rule_ratio(runs, "4.2.4")
    assert (row["nodes"], row["ratio"], row["subset_results"], row["all_results"]) == (10, 1.2, 1, 11)


def test_offline_specs_full_matrix_then_only_checks_above_full_max() -> None:
    labels = [s.label for s in bench.offline_specs(10, [10, 50], "4.2.4", 100)]
    assert labels == ["offline-n10-f10-check-all", "offline-n10-f50-check-all", "offline-n10-f50-check-4.2.4",
                      "offline-n10-f50-apply-all"]
    assert [s.label for s in bench.offline_specs(500, [10, 50], "4.2.4", 100)] == ["offline-n500-f50-check-all"]
    assert len(bench.offline_specs(1, [10], "4.2.4", 100)) == 3
    assert bench.offline_specs(1, [10], "4.2.4", 100)[1].extra_vars == {"kubefort_rules": ["4.2.4"]}


def test_baseline_runs_the_other_checkouts_playbook_and_config(tmp_path) -> None:
    # --baseline: the same fleet, the other checkout's harden.yml and ansible.cfg; the floor stays this one's.
    with pytest.raises(bench.BenchmarkError, match="no playbooks/harden.yml there"):
        bench.check_baseline(str(tmp_path))
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "harden.yml").write_text("---\n")
    with pytest.raises(bench.BenchmarkError, match="run .*/scripts/bootstrap first"):
        bench.check_baseline(str(tmp_path))
    (tmp_path / ".build" / "ansible_collections" / "kubefort" / "hardening").mkdir(parents=True)
    base = bench.check_baseline(str(tmp_path))
    spec = bench.RunSpec("offline", 10, 10, True, "baseline", None, 1, base)
    assert spec.label == "offline-n10-f10-check-baseline-r1"
    assert bench.playbook_of(spec) == (str(tmp_path / "playbooks" / "harden.yml"), str(tmp_path / "ansible.cfg"))
    assert bench.playbook_of(bench.RunSpec("offline", 10, 10, True, "all")) == (
        bench.PLAYBOOK, os.path.join(bench.REPO, "ansible.cfg"))
    assert bench.playbook_of(bench.RunSpec("offline", 10, 10, True, "floor", None, 0, base))[0] == bench.FLOOR_PLAYBOOK
    assert bench.ansible_env(10, "/tmp/cb.json", bench.playbook_of(spec)[1])["ANSIBLE_CONFIG"] == str(tmp_path / "ansible.cfg")
    # Its own series against the same floor, apart from this checkout's audit.
    runs = [{"kind": "offline", "nodes": 10, "forks": 10, "mode": "check", "rules": rules, "rc": 0, "wall_s": wall,
             "memory": {"controller_pss_kib": 1024}, "load": [1.0, 1.0]}
            for rules, wall in (("floor", 10.0), ("baseline", 20.0), ("all", 15.0))]
    assert {(r["rules"], r["ratio"]) for r in bench.floor_ratios(runs)} == {("baseline", 2.0), ("all", 1.5)}


def test_task_breakdown_sums_seconds_per_action() -> None:
    cb = {"tasks": [{"action": "kubefort.hardening.node_harden", "seconds": 3.0},
                    {"action": "ansible.builtin.set_fact", "seconds": 0.5},
                    {"action": "kubefort.hardening.node_harden", "seconds": 2.0}]}
    assert bench.task_breakdown(cb) == [{"action": "kubefort.hardening.node_harden", "seconds": 5.0},
                                        {"action": "ansible.builtin.set_fact", "seconds": 0.5}]


def test_markdown_has_a_row_per_run_and_the_machine() -> None:
    run = _run(10, 12.0, 300)
    run.update(label="offline-n10-f10-check-all", rc=0, callback={"tasks": []}, cpu_s=20.0, main_cpu_s=9.5,
               memory={"controller_pss_kib": 300 * 1024, "controller_rss_kib": 600 * 1024, "controller_processes": 11},
               summary={"per_host_s": 1.2, "cpu_per_host_s": 2.0, "trips_max": 2, "trips_mean": 1.3, "trips_plugin_max": 2, "trips_fact_max": 2,
                        "results_per_host_max": 11})
    out = {"machine": {"date": "d", "nproc": 2, "cpu": "Xeon", "memory_gib": 23.5, "kernel": "k", "python": "3.11.7",
                       "ansible_core": "ansible-playbook [core 2.19.14]", "load_before": 1.0},
           "runs": [run], "growth": [], "rules": [], "notes": ["podman nodes not measured: x"]}
    text = bench.markdown(out)
    assert "| 10 | offline | check | all | 10 | 12.0 | 1.200 | 20.0 | 2.000 | 9.5 | 2 | 1.3 | 2 | 2 | - | 11 | 300 | 600 | 11 | 0 |" in text
    assert "2 CPUs (Xeon)" in text and "core 2.19.14" in text and "podman nodes not measured: x" in text


def test_markdown_shows_the_cost_per_task_of_the_largest_audit_next_to_its_floor() -> None:
    def run(rules: str, tasks: list) -> dict:
        r = _run(100, 50.0, 300)
        r.update(label="offline-n100-f10-check-" + rules, rules=rules, rc=0, callback={"tasks": tasks}, cpu_s=1.0,
                 memory={"controller_pss_kib": 1, "controller_rss_kib": 1, "controller_processes": 1},
                 summary={"per_host_s": 0.5, "trips_max": 1, "trips_mean": 1, "trips_plugin_max": 1, "trips_fact_max": 1,
                          "results_per_host_max": 1})
        return r

    floor = run("floor", [{"name": "Ping every host once", "action": "ansible.builtin.ping", "hosts": 100, "seconds": 14.0}])
    audit = run("all", [{"name": "kubefort.hardening.node : Audit", "action": "kubefort.hardening.node_harden", "hosts": 100,
                         "seconds": 25.0},
                        {"name": "tiny", "action": "ansible.builtin.debug", "hosts": 1, "seconds": 0.01}])
    out = {"machine": {"date": "d", "nproc": 2, "cpu": "Xeon", "memory_gib": 23.5, "kernel": "k", "python": "3.11.7",
                       "ansible_core": "core", "load_before": 1.0}, "runs": [floor, audit], "growth": [], "rules": [], "notes": []}
    text = bench.markdown(out)
    assert "Where the wall time of `offline-n100-f10-check-all` goes" in text
    assert "| floor: Ping every host once | ansible.builtin.ping | 100 | 14.00 | 140 |" in text
    assert "| kubefort.hardening.node : Audit | kubefort.hardening.node_harden | 100 | 25.00 | 250 |" in text
    assert "| tiny |" not in text


class _Task:
    def __init__(self, name: str, action: str) -> None:
        self.name, self.action = name, action

    def get_name(self) -> str:
        return self.name


class _Host:
    def __init__(self, name: str) -> None:
        self.name = name

    def get_name(self) -> str:
        return self.name


class _Result:
    def __init__(self, host: str, data: dict) -> None:
        self._host, self._result = _Host(host), data


def test_callback_sums_plugin_round_trips_and_keeps_the_fact(tmp_path, monkeypatch) -> None:
    out = tmp_path / "cb.json"
    monkeypatch.setenv("KUBEFORT_BENCH_CALLBACK_OUT", str(out))
    cb = callback.CallbackModule()
    cb.v2_playbook_on_task_start(_Task("audit", "kubefort.hardening.node_harden"), False)
    cb.v2_runner_on_ok(_Result("cp1", {"round_trips": 1, "ansible_facts": {"kubefort_results": [{}, {}]}}))
    cb.v2_runner_on_failed(_Result("w1", {"round_trips": 2}))
    cb.v2_playbook_on_task_start(_Task("record", "ansible.builtin.set_fact"), False)
    cb.v2_runner_on_ok(_Result("cp1", {"ansible_facts": {"kubefort_host": {"round_trips": 1}}}))
    cb.v2_playbook_on_task_start(_Task("audit", "kubefort.hardening.node_harden"), False)
    # The host's results so far are in the facts (harden.yml's actions return no second copy).
    cb.v2_runner_on_ok(_Result("cp1", {"round_trips": 2, "ansible_facts": {"kubefort_results": [{}, {}, {}]}}))
    cb.v2_runner_on_skipped(_Result("w1", {}))
    cb.v2_playbook_on_handler_task_start(_Task("restart", "ansible.builtin.include_tasks"))
    cb.v2_runner_on_ok(_Result("cp1", {}))
    cb.v2_playbook_on_stats(None)
    data = json.loads(out.read_text())
    assert [(t["action"], t["hosts"]) for t in data["tasks"]] == [
        ("kubefort.hardening.node_harden", 2), ("ansible.builtin.set_fact", 1), ("kubefort.hardening.node_harden", 2),
        ("ansible.builtin.include_tasks", 1)]
    assert data["tasks"][-1]["handler"] is True
    assert all(t["seconds"] >= 0 and "_start" not in t for t in data["tasks"])
    assert data["hosts"]["cp1"] == {"plugin_round_trips": 3, "fact_round_trips": 1, "results": 3, "outcomes": {"ok": 4}}
    assert data["hosts"]["w1"]["outcomes"] == {"failed": 1, "skipped": 1}


def test_callback_writes_after_each_task_so_an_aborted_play_still_has_figures(tmp_path, monkeypatch) -> None:
    out = tmp_path / "cb.json"
    monkeypatch.setenv("KUBEFORT_BENCH_CALLBACK_OUT", str(out))
    cb = callback.CallbackModule()
    cb.v2_playbook_on_task_start(_Task("audit", "kubefort.hardening.node_harden"), False)
    cb.v2_runner_on_ok(_Result("cp1", {"round_trips": 1, "results": [{}]}))
    assert not out.exists()
    cb.v2_playbook_on_task_start(_Task("handler", "ansible.builtin.include_tasks"), False)  # the play aborts here
    data = json.loads(out.read_text())
    assert data["hosts"]["cp1"]["plugin_round_trips"] == 1
    assert [t["name"] for t in data["tasks"]] == ["audit"]


CONTROLLER, NODE = frozenset({"_harden.py", "_yaml_edit.py"}), frozenset({"_node_snapshot.py"})


@pytest.mark.parametrize("frames, category", [
    (["run (ansible/executor/process/worker.py:1)", "run (_harden.py:90)", "load (_yaml_edit.py:34)",
      "check_token (yaml/scanner.py:113)"], "kubefort evaluation: YAML parsing"),
    (["run (_harden.py:90)", "evaluate (_evaluate.py:3)"], "kubefort evaluation: other"),
    (["run (_harden.py:90)", "_recv (multiprocessing/connection.py:395)"], "idle (waiting)"),
    (["_execute_module (ansible/plugins/action/__init__.py:1)", "modify_module (ansible/executor/module_common.py:9)"],
     "module build (AnsiballZ)"),
    (["run (_harden.py:90)", "call_module (node_harden.py:50)", "_execute_module (ansible/plugins/action/__init__.py:1)",
      "modify_module (ansible/executor/module_common.py:9)"], "module build (AnsiballZ)"),
    (["run (_harden.py:90)", "exec_command (ansible/plugins/connection/local.py:120)"], "module transport (connection)"),
    (["template (ansible/_internal/_templating/_engine.py:1)"], "templating"),
    (["<module> (<stdin>:1)", "_compile_source (<frozen zipimport>:695)"], "imports and byte-compiling"),
    (["<module> (<stdin>:1)", "snapshot (_node_snapshot.py:41)"], "kubefort node code"),
    (["_queue_task (ansible/plugins/strategy/__init__.py:376)", "_launch (multiprocessing/popen_fork.py:66)"],
     "process start (fork/exec)"),
    (["send_callback (ansible/executor/task_queue_manager.py:1)"], "ansible and python, other"),
    ([], "other"),
])
def test_classify_stack(frames: list, category: str) -> None:
    assert bench.classify_stack(frames, CONTROLLER, NODE) == category


def test_profile_summary_splits_main_workers_and_modules() -> None:
    main = 'process 10:"python ansible-playbook -i inv site.yml"'
    worker = 'process 11:"python ansible-playbook -i inv site.yml"'
    module = 'process 12:"/usr/bin/python3"'
    lines = [
        f"{main};<module> (ansible-playbook:8);_wait_on_pending_results (ansible/plugins/strategy/__init__.py:796) 7\n",
        f"{main};<module> (ansible-playbook:8);{worker};run (ansible/executor/process/worker.py:1);"
        "load (_yaml_edit.py:34);check_token (yaml/scanner.py:113) 5\n",
        f"{main};<module> (ansible-playbook:8);{worker};{module};_compile_source (<frozen zipimport>:695) 3\n",
        "no stack here\n",
    ]
    out = bench.profile_summary(lines)
    assert out["main"] == {"ansible and python, other": 7}
    assert out["modules"] == {"imports and byte-compiling": 3}
    assert sum(out["workers"].values()) == 5


def test_yaml_variants_parse_like_pyyaml_and_refuse_several_documents() -> None:
    import yaml

    class FakeYamlEdit:
        class YAMLEditError(ValueError):
            pass

    variants = {label: (load, reset) for label, load, reset in bench.yaml_variants(FakeYamlEdit)}
    assert variants["as built"][0] is None
    text = "# é\nspec:\n  containers:\n  - command: [kube-apiserver, --a=1]\n"
    for label in ("what if: libyaml", "what if: libyaml, each text once"):
        load, reset = variants[label]
        data, node = load(text, "manifest")
        assert data == yaml.safe_load(text)
        assert node.value[0][1].start_mark.index == yaml.compose(text).value[0][1].start_mark.index
        data["spec"] = None  # callers may change the data: the next parse must not see that
        assert load(text, "manifest")[0] == yaml.safe_load(text)
        reset()
        with pytest.raises(FakeYamlEdit.YAMLEditError):
            load("a: 1\n---\nb: 2\n", "two docs")
