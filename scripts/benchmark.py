#!/usr/bin/env python
"""Benchmark the audit and the apply run: wall time, time per host, module round trips, controller memory.

Builds N offline demo nodes (copies of demo/nodes/* with the modes their MODES files record) in a
temporary directory, writes an inventory in kubespray groups and times ``ansible-playbook
playbooks/harden.yml`` (``--check`` and apply) with the settings a user would have: pipelining on and
forks 10 and a higher value. With ``--podman``, the same on 2-6 podman node containers built by
tests/podman/setup. Not part of the normal test run.

Counts are independent of the collection's own counter: every module run on a node goes through a
small interpreter wrapper that logs one line per start (host, pipelined or not); the plugin's
``round_trips`` and the ``kubefort_host.round_trips`` fact are collected by a callback
(scripts/benchmark_plugins/callback/kubefort_benchmark.py) and compared.

Controller memory is sampled from /proc every 0.1 s over ansible-playbook and its forked workers
(processes with ansible-playbook's command line); module processes below them are counted apart.
RSS counts pages the forked workers share once per process (an upper bound); PSS splits them.

Every fleet also gets the floor, scripts/benchmark_floor.yml (one ``ping`` per host, same inventory and
settings), interleaved with the audit (``--repeat`` pairs, floor then audit), and every figure is shown
as a ratio to the median floor of its fleet: on a loaded machine only figures from the same run and
minutes compare. The load average is recorded before and after every run.

With ``--baseline DIR`` (another checkout, e.g. a bootstrapped git worktree of main) its harden.yml runs in
every offline floor and audit pair too (rules ``baseline``): a before/after measured in the same minutes.

Usage: .venv/bin/python scripts/benchmark.py [--sizes 1,10,100,500] [--forks 10,50] [--podman 2,6]
           [--repeat 3] [--lock /tmp/kubefort-test-locks/podman.lock] [--subset 4.2.4] [--markdown FILE] [--json FILE]
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime
import importlib.util
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import typing as t

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLAYBOOK = os.path.join(REPO, "playbooks", "harden.yml")
# One ping per host on the same inventory: the floor every figure is divided by.
FLOOR_PLAYBOOK = os.path.join(REPO, "scripts", "benchmark_floor.yml")
DEMO_NODES = os.path.join(REPO, "demo", "nodes")
DEMO_INVENTORY = os.path.join(REPO, "demo", "inventory.yml")
CALLBACK_DIR = os.path.join(REPO, "scripts", "benchmark_plugins", "callback")
PODMAN_SETUP = os.path.join(REPO, "tests", "podman", "setup")
KUBESPRAY_GROUPS = ("kube_control_plane", "kube_node", "etcd")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024

COUNTER_SCRIPT = """#!/bin/sh
# kubefort benchmark: one line per module run (host, argument count: 0 = pipelined).
echo "${0##*/} $#" >> %(log)s
exec %(python)s "$@"
"""


class BenchmarkError(Exception):
    """The benchmark cannot go on; the message says what to do."""


# ---------------------------------------------------------------- fleet


@dataclasses.dataclass(frozen=True)
class Node:
    name: str
    template: str
    groups: tuple[str, ...]


def demo_groups(inventory: t.Mapping[str, t.Any]) -> dict[str, tuple[str, ...]]:
    """Template host -> kubespray groups it is in, from the demo inventory's ``all.children``."""
    children = (inventory.get("all") or {}).get("children") or {}
    found: dict[str, list[str]] = collections.defaultdict(list)
    for group, body in children.items():
        for host in ((body or {}).get("hosts") or {}):
            found[host].append(group)
    return {host: tuple(sorted(groups)) for host, groups in found.items()}


def plan_fleet(n: int, templates: t.Mapping[str, t.Sequence[str]], control_plane: int = 3) -> list[Node]:
    """N nodes like a real cluster: ``control_plane`` control-plane nodes (at most N), the rest workers.

    Control-plane nodes cycle through the demo's control-plane trees, workers through the others; a
    clone is in the same groups as its template.
    """
    cps = sorted(h for h, g in templates.items() if "kube_control_plane" in g)
    workers = sorted(h for h, g in templates.items() if "kube_control_plane" not in g)
    if not cps or not workers:
        raise BenchmarkError("the demo inventory needs control-plane and worker hosts")
    nodes = []
    for i in range(n):
        pool, k = (cps, i) if i < min(control_plane, n) else (workers, i - min(control_plane, n))
        template = pool[k % len(pool)]
        nodes.append(Node(f"{template}-{i + 1:04d}", template, tuple(templates[template])))
    return nodes


def inventory_for(nodes: t.Sequence[Node], host_vars: t.Mapping[str, t.Any],
                  per_host: t.Mapping[str, t.Mapping[str, t.Any]] | None = None) -> dict[str, t.Any]:
    """A YAML inventory (as a dict) with kubespray groups; ``host_vars`` go to ``all.vars``."""
    children: dict[str, t.Any] = {group: {"hosts": {}} for group in KUBESPRAY_GROUPS}
    for node in nodes:
        for group in node.groups:
            children.setdefault(group, {"hosts": {}})["hosts"][node.name] = dict((per_host or {}).get(node.name, {})) or None
    children = {g: body for g, body in children.items() if body["hosts"]}
    return {"all": {"vars": dict(host_vars), "children": children}}


def load_demo_nodes_module() -> t.Any:
    spec = importlib.util.spec_from_file_location("kubefort_demo_nodes", os.path.join(REPO, "scripts", "demo_nodes.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_offline_fleet(dest: str, nodes: t.Sequence[Node]) -> None:
    """Fresh copies of the demo trees under ``dest/<node>``, with scripts/demo_nodes.py's mode handling."""
    demo = load_demo_nodes_module()
    if os.path.exists(dest):
        shutil.rmtree(dest)
    os.makedirs(dest)
    for node in nodes:
        target = os.path.join(dest, node.name)
        shutil.copytree(os.path.join(DEMO_NODES, node.template), target, symlinks=True)
        demo.apply_modes(target)


def install_counter(bin_dir: str, log: str, python: str, hosts: t.Iterable[str]) -> None:
    """``bin_dir/<host>`` -> one wrapper that logs each interpreter start and execs ``python``."""
    os.makedirs(bin_dir, exist_ok=True)
    wrapper = os.path.join(bin_dir, "_count")
    with open(wrapper, "w") as handle:
        handle.write(COUNTER_SCRIPT % {"log": log, "python": python})
    os.chmod(wrapper, 0o755)
    for host in hosts:
        link = os.path.join(bin_dir, host)
        if not os.path.lexists(link):
            os.symlink("_count", link)


def parse_counter_log(lines: t.Iterable[str]) -> dict[str, dict[str, int]]:
    """Wrapper log lines ``host argc`` -> {host: {"runs": n, "pipelined": n}}."""
    counts: dict[str, dict[str, int]] = {}
    for line in lines:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            continue
        entry = counts.setdefault(parts[0], {"runs": 0, "pipelined": 0})
        entry["runs"] += 1
        entry["pipelined"] += parts[1] == "0"
    return counts


# ---------------------------------------------------------------- memory


def parse_stat(text: str) -> tuple[int, str]:
    """(ppid, comm) from /proc/<pid>/stat; comm may hold spaces and parentheses."""
    comm = text[text.index("(") + 1:text.rindex(")")]
    return int(text[text.rindex(")") + 2:].split()[1]), comm


def parse_stat_cpu_s(text: str) -> float:
    """utime + stime of /proc/<pid>/stat, in seconds."""
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def parse_statm_rss_kib(text: str) -> int:
    return int(text.split()[1]) * PAGE_KIB


def parse_smaps_rollup_pss_kib(text: str) -> int | None:
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return None


def descendants(root: int, parents: t.Mapping[int, int]) -> list[int]:
    """``root`` and every process below it, given pid -> ppid."""
    children: dict[int, list[int]] = collections.defaultdict(list)
    for pid, ppid in parents.items():
        children[ppid].append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return None


class TreeSampler(threading.Thread):
    """Peak memory of a process tree: controller (ansible-playbook + forked workers) and module processes."""

    def __init__(self, root: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.main_cpu_s = 0.0
        self.stop = threading.Event()
        self.peak = {"controller_rss_kib": 0, "controller_pss_kib": 0, "modules_rss_kib": 0,
                     "controller_processes": 0, "module_processes": 0}

    def sample(self) -> None:
        procs, root_stat = {}, None
        for name in os.listdir("/proc"):
            text = _read(f"/proc/{name}/stat") if name.isdigit() else None
            if text:
                procs[int(name)] = parse_stat(text)
                root_stat = text if int(name) == self.root else root_stat
        if self.root not in procs or root_stat is None:
            return
        # The main process is single-threaded strategy + callbacks: its CPU bounds the wall time at scale.
        self.main_cpu_s = parse_stat_cpu_s(root_stat)
        # Forked workers keep ansible-playbook's command name; module processes (sh, python) do not.
        controller_comm = procs[self.root][1]
        now: collections.Counter[str] = collections.Counter()
        for pid in descendants(self.root, {pid: ppid for pid, (ppid, _comm) in procs.items()}):
            statm = _read(f"/proc/{pid}/statm")
            if not statm or pid not in procs:
                continue
            if procs[pid][1] == controller_comm:
                now["controller_rss_kib"] += parse_statm_rss_kib(statm)
                now["controller_pss_kib"] += parse_smaps_rollup_pss_kib(_read(f"/proc/{pid}/smaps_rollup") or "") or 0
                now["controller_processes"] += 1
            else:
                now["modules_rss_kib"] += parse_statm_rss_kib(statm)
                now["module_processes"] += 1
        for key, value in now.items():
            self.peak[key] = max(self.peak[key], value)

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(self.interval)


# ---------------------------------------------------------------- runs


@dataclasses.dataclass
class RunSpec:
    kind: str  # "offline" or "podman"
    nodes: int
    forks: int
    check: bool
    rules: str  # "all", the subset's label, "floor" (the one-ping playbook), "norestart" or "norestart-again",
    # "baseline" (all rules, the playbook of another checkout: --baseline)
    extra_vars: dict[str, t.Any] | None = None
    rep: int = 0  # repetition (interleaved floor and audit pairs)
    checkout: str = ""  # the checkout whose harden.yml and ansible.cfg run ("": this one)

    @property
    def label(self) -> str:
        mode = "check" if self.check else "apply"
        return f"{self.kind}-n{self.nodes}-f{self.forks}-{mode}-{self.rules}" + (f"-r{self.rep}" if self.rep else "")


def playbook_of(spec: RunSpec) -> tuple[str, str]:
    """The playbook a run plays and the ansible.cfg it reads: the floor's, this checkout's or the baseline's."""
    if spec.rules == "floor":
        return FLOOR_PLAYBOOK, os.path.join(REPO, "ansible.cfg")
    if not spec.checkout:
        return PLAYBOOK, os.path.join(REPO, "ansible.cfg")
    return os.path.join(spec.checkout, "playbooks", "harden.yml"), os.path.join(spec.checkout, "ansible.cfg")


def check_baseline(checkout: str) -> str:
    """The --baseline checkout as an absolute path, once it can run (its .build link made by scripts/bootstrap)."""
    path = os.path.abspath(checkout)
    if not os.path.isfile(os.path.join(path, "playbooks", "harden.yml")):
        raise BenchmarkError(f"--baseline {checkout}: no playbooks/harden.yml there; give a kubefort checkout "
                             "(e.g. git worktree add /tmp/base main)")
    if not os.path.isdir(os.path.join(path, ".build", "ansible_collections", "kubefort", "hardening")):
        raise BenchmarkError(f"--baseline {checkout}: its collection link is missing; run {path}/scripts/bootstrap first")
    return path


def ansible_env(forks: int, callback_out: str, config: str = "") -> dict[str, str]:
    env = dict(os.environ)
    enabled = [c for c in env.get("ANSIBLE_CALLBACKS_ENABLED", "").split(",") if c]
    env.update({
        "ANSIBLE_CONFIG": config or os.path.join(REPO, "ansible.cfg"),
        "ANSIBLE_FORKS": str(forks),
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_CALLBACK_PLUGINS": CALLBACK_DIR,
        "ANSIBLE_CALLBACKS_ENABLED": ",".join(enabled + ["kubefort_benchmark"]),
        "KUBEFORT_BENCH_CALLBACK_OUT": callback_out,
        "PATH": os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""),
    })
    return env


def run_playbook(spec: RunSpec, inventory: str, work: str, profile: str | None = None) -> dict[str, t.Any]:
    """One ansible-playbook run in its own directory (the report lands there); returns its measurements."""
    run_dir = os.path.join(work, spec.label)
    os.makedirs(run_dir, exist_ok=True)
    callback_out = os.path.join(run_dir, "callback.json")
    playbook, config = playbook_of(spec)
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory, playbook]
    if spec.check:
        cmd.append("--check")
    if spec.extra_vars:
        cmd += ["-e", json.dumps(spec.extra_vars)]
    if profile:
        cmd = [profile, "record", "--subprocesses", "--format", "raw", "--rate", "50", "--nonblocking",
               "-o", os.path.join(run_dir, "pyspy.txt"), "--"] + cmd
    start_wall = time.time()
    load_before = os.getloadavg()[0]
    with open(os.path.join(run_dir, "ansible.log"), "wb") as log:
        start, cpu_before = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.Popen(cmd, cwd=run_dir, env=ansible_env(spec.forks, callback_out, config), stdout=log,
                                stderr=subprocess.STDOUT)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        code = proc.wait()
        wall = time.monotonic() - start
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        sampler.stop.set()
        sampler.join()
    callback = {}
    if os.path.exists(callback_out):
        with open(callback_out) as handle:
            callback = json.load(handle)
    return {"label": spec.label, "kind": spec.kind, "nodes": spec.nodes, "forks": spec.forks,
            "mode": "check" if spec.check else "apply", "rules": spec.rules, "rc": code,
            "wall_s": round(wall, 2), "cpu_s": round(cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime
                                                     - cpu_before.ru_stime, 2),
            "started": start_wall, "main_cpu_s": round(sampler.main_cpu_s, 2), "memory": sampler.peak, "callback": callback, "run_dir": run_dir,
            "rep": spec.rep, "load": [round(load_before, 1), round(os.getloadavg()[0], 1)]}


def summarize(run: dict[str, t.Any], counts: t.Mapping[str, t.Mapping[str, int]],
              node_names: t.Sequence[str]) -> dict[str, t.Any]:
    """Per-run figures: time per host, round trips per node (counted, plugin, fact), rules evaluated."""
    hosts = (run.get("callback") or {}).get("hosts", {})
    counted = [counts.get(n, {}).get("runs", 0) for n in node_names]
    plugin = [hosts.get(n, {}).get("plugin_round_trips", 0) for n in node_names]
    facts = [hosts.get(n, {}).get("fact_round_trips") for n in node_names]
    results = [hosts.get(n, {}).get("results", 0) for n in node_names]
    pipelined = sum(counts.get(n, {}).get("pipelined", 0) for n in node_names)
    n = max(len(node_names), 1)
    return {
        "per_host_s": round(run["wall_s"] / n, 3),
        "cpu_per_host_s": round(run.get("cpu_s", 0.0) / n, 3),
        "trips_max": max(counted or [0]),
        "trips_mean": round(sum(counted) / n, 2),
        "trips_plugin_max": max(plugin or [0]),
        "trips_fact_max": max([f for f in facts if f is not None] or [0]),
        "trips_agree": counted == plugin,
        "pipelined_share": round(pipelined / max(sum(counted), 1), 2),
        "results_per_host_max": max(results or [0]),
        "controller_modules": counts.get("localhost", {}).get("runs", 0),
        "failed_hosts": sorted(h for h, v in hosts.items() if v.get("outcomes", {}).get("failed")
                               or v.get("outcomes", {}).get("unreachable")),
    }


def slope(points: t.Sequence[tuple[float, float]]) -> tuple[float, float] | None:
    """Least-squares line y = a + b*x through the points: (a, b); None with fewer than two x values."""
    xs = [p[0] for p in points]
    if len(set(xs)) < 2:
        return None
    mx, my = sum(xs) / len(xs), sum(p[1] for p in points) / len(points)
    b = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x in xs)
    return my - b * mx, b


def growth(runs: t.Sequence[t.Mapping[str, t.Any]]) -> list[dict[str, t.Any]]:
    """For each (kind, mode, forks, rules) series over N: fixed cost, cost per host, memory per host."""
    series: dict[tuple[str, str, int, str], list[t.Mapping[str, t.Any]]] = collections.defaultdict(list)
    for run in runs:
        series[(run["kind"], run["mode"], run["forks"], run["rules"])].append(run)
    rows = []
    for (kind, mode, forks, rules), items in sorted(series.items()):
        wall = slope([(r["nodes"], r["wall_s"]) for r in items])
        cpu = slope([(r["nodes"], r.get("cpu_s", 0.0)) for r in items])
        mem = slope([(r["nodes"], r["memory"]["controller_pss_kib"] / 1024) for r in items])
        if wall is None:
            continue
        rows.append({"kind": kind, "mode": mode, "forks": forks, "rules": rules,
                     "fixed_s": round(wall[0], 2), "per_host_s": round(wall[1], 3),
                     "cpu_fixed_s": round(cpu[0], 2) if cpu else None, "cpu_per_host_s": round(cpu[1], 3) if cpu else None,
                     "fixed_mib": round(mem[0], 1) if mem else None,
                     "per_host_mib": round(mem[1], 3) if mem else None,
                     "sizes": sorted(r["nodes"] for r in items)})
    return rows


def rule_ratio(runs: t.Sequence[t.Mapping[str, t.Any]], subset: str) -> list[dict[str, t.Any]]:
    """Wall time and round trips of the subset run against the all-rules run with the same N and forks."""
    by_key = {(r["kind"], r["nodes"], r["forks"], r["mode"], r["rules"]): r for r in runs}
    rows = []
    for (kind, nodes, forks, mode, rules), run in sorted(by_key.items()):
        other = by_key.get((kind, nodes, forks, mode, "all"))
        if rules != subset or other is None:
            continue
        rows.append({"kind": kind, "nodes": nodes, "forks": forks, "mode": mode,
                     "subset_s": run["wall_s"], "all_s": other["wall_s"],
                     "ratio": round(other["wall_s"] / run["wall_s"], 2) if run["wall_s"] else None,
                     "subset_results": run["summary"]["results_per_host_max"],
                     "all_results": other["summary"]["results_per_host_max"],
                     "subset_trips": run["summary"]["trips_max"], "all_trips": other["summary"]["trips_max"]})
    return rows


def _median(values: t.Sequence[float]) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def floor_ratios(runs: t.Sequence[t.Mapping[str, t.Any]]) -> list[dict[str, t.Any]]:
    """Each fleet's runs against its floor: medians of the repetitions, and their ratio to the median floor.

    The report action's own seconds (``kubefort.hardening.report`` in the callback) and the controller's
    peak PSS are given per fleet too, for the linearity of report writing and the memory target.
    """
    fleets: dict[tuple[str, int, int], list[t.Mapping[str, t.Any]]] = collections.defaultdict(list)
    for run in runs:
        fleets[(run["kind"], run["nodes"], run["forks"])].append(run)
    rows = []
    for (kind, nodes, forks), items in sorted(fleets.items()):
        floors = [r["wall_s"] for r in items if r["rules"] == "floor" and not r["rc"]]
        floor = _median(floors)
        series: dict[tuple[str, str], list[t.Mapping[str, t.Any]]] = collections.defaultdict(list)
        for r in items:
            if r["rules"] != "floor":
                series[(r["mode"], r["rules"])].append(r)
        for (mode, rules), rs in sorted(series.items()):
            wall = _median([r["wall_s"] for r in rs])
            report = _median([next((x["seconds"] for x in r.get("tasks", []) if x["action"].endswith(".report")), 0.0)
                              for r in rs])
            loads = [x for r in rs for x in r.get("load", [])] + [x for r in items if r["rules"] == "floor" for x in r.get("load", [])]
            rows.append({
                "kind": kind, "nodes": nodes, "forks": forks, "mode": mode, "rules": rules,
                "floor_s": round(floor, 2) if floor is not None else None, "floor_runs": len(floors),
                "wall_s": round(wall, 2) if wall is not None else None, "runs": len(rs),
                "walls": [r["wall_s"] for r in rs], "floors": floors,
                "ratio": round(wall / floor, 2) if floor and wall is not None else None,
                "report_s": round(report or 0.0, 2),
                "report_ms_per_host": round(1000 * (report or 0.0) / max(nodes, 1), 2),
                "pss_mib": round(max(r["memory"]["controller_pss_kib"] for r in rs) / 1024),
                "load": [min(loads), max(loads)] if loads else [],
                "rc": max(r["rc"] for r in rs),
            })
    return rows


# ---------------------------------------------------------------- podman


def podman_image() -> str:
    """The node image from tests/podman/setup (its last output line), or BenchmarkError."""
    if not shutil.which("podman"):
        raise BenchmarkError("podman is not installed")
    if not os.path.exists(PODMAN_SETUP):
        raise BenchmarkError("tests/podman/setup is not there yet")
    out = subprocess.run([PODMAN_SETUP], capture_output=True, text=True, check=False)
    if out.returncode != 0 or not out.stdout.strip():
        raise BenchmarkError(f"tests/podman/setup failed: {out.stderr.strip()[-500:]}")
    return out.stdout.strip().splitlines()[-1]


class PodmanFleet:
    """N systemd node containers with the demo trees copied in and the counting wrapper installed."""

    def __init__(self, image: str, nodes: t.Sequence[Node], trees: str) -> None:
        self.image, self.nodes, self.trees = image, nodes, trees
        self.names = [f"kubefort-bench-{n.name}" for n in nodes]

    def _podman(self, *args: str) -> str:
        out = subprocess.run(["podman", *args], capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise BenchmarkError("podman {}: {}".format(" ".join(args[:3]), out.stderr.strip()[-400:]))
        return out.stdout

    def start(self) -> None:
        self.remove()
        build_offline_fleet(self.trees, self.nodes)
        for node, name in zip(self.nodes, self.names):
            self._podman("run", "-d", "--name", name, "--hostname", node.name, "--systemd=always", self.image, "/sbin/init")
            self._podman("cp", os.path.join(self.trees, node.name) + "/.", f"{name}:/")
            script = COUNTER_SCRIPT % {"log": "/var/tmp/kubefort-bench-count.log", "python": "/usr/bin/python3"}
            subprocess.run(["podman", "exec", "-i", name, "sh", "-c", (f"cat > /usr/local/bin/{node.name} && chmod 755 "
                            f"/usr/local/bin/{node.name} && : > /var/tmp/kubefort-bench-count.log")],
                           input=script, text=True, check=True, capture_output=True)

    def reset_counts(self) -> None:
        for name in self.names:
            self._podman("exec", name, "sh", "-c", ": > /var/tmp/kubefort-bench-count.log")

    def counts(self) -> dict[str, dict[str, int]]:
        lines: list[str] = []
        for name in self.names:
            lines += self._podman("exec", name, "cat", "/var/tmp/kubefort-bench-count.log").splitlines()
        return parse_counter_log(lines)

    def exec_counts(self, since: float, until: float) -> dict[str, int]:
        """``podman exec`` calls per node between two times (the connection's commands), from podman's events."""
        stamp = [datetime.datetime.fromtimestamp(x, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") for x in (since, until)]
        out = self._podman("events", "--stream=false", "--since", stamp[0], "--until", stamp[1], "--filter", "event=exec",
                           "--format", "{{.Name}}")
        return count_exec_events(out.splitlines(), dict(zip(self.names, (n.name for n in self.nodes))))

    def remove(self) -> None:
        for name in self.names:
            subprocess.run(["podman", "rm", "-f", "-t", "0", name], capture_output=True, check=False)


def count_exec_events(names: t.Iterable[str], node_of: t.Mapping[str, str]) -> dict[str, int]:
    """Container names, one per exec event -> exec count per node (other containers ignored)."""
    counts: dict[str, int] = {}
    for name in names:
        node = node_of.get(name.strip())
        if node:
            counts[node] = counts.get(node, 0) + 1
    return counts


# ---------------------------------------------------------------- report


def machine() -> dict[str, t.Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in (_read("/proc/cpuinfo") or "").splitlines()
                if line.startswith("model name")), platform.processor())
    mem = next((int(line.split()[1]) for line in (_read("/proc/meminfo") or "").splitlines()
                if line.startswith("MemTotal:")), 0)
    core = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "--version"],
                          capture_output=True, text=True, check=False).stdout.splitlines()
    return {"nproc": os.cpu_count(), "memory_gib": round(mem / 1024 / 1024, 1), "cpu": cpu,
            "python": platform.python_version(), "ansible_core": core[0] if core else "?",
            "kernel": platform.release(), "load_before": os.getloadavg()[0],
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")}


def task_breakdown(callback: t.Mapping[str, t.Any], top: int = 6) -> list[dict[str, t.Any]]:
    """Wall seconds per task action (summed over plays), largest first."""
    spent: dict[str, float] = collections.defaultdict(float)
    for task in callback.get("tasks", []):
        spent[task.get("action", "?")] += task.get("seconds", 0.0)
    return [{"action": a, "seconds": round(v, 2)} for a, v in sorted(spent.items(), key=lambda kv: -kv[1])[:top]]


# ---------------------------------------------------------------- py-spy profile

IDLE_LEAVES = ("select", "poll", "_recv", "recv_into", "read", "readinto", "wait", "sleep", "acquire", "get",
               "_wait_for_tstate_lock", "_try_wait", "communicate", "_communicate", "accept")


def _frame_path(frame: str) -> str:
    """``func (path:line)`` -> path (py-spy shortens our files to their base name)."""
    return frame[frame.rfind("(") + 1:frame.rfind(":")] if "(" in frame else ""


def collection_files(sub: str) -> frozenset[str]:
    """Base names of the collection's Python files under plugins/<sub> (how py-spy names their frames)."""
    folder = os.path.join(REPO, "plugins", sub)
    return frozenset(n for n in os.listdir(folder) if n.endswith(".py") and n != "__init__.py") if os.path.isdir(folder) else frozenset()


def classify_stack(frames: t.Sequence[str], controller: t.AbstractSet[str], node: t.AbstractSet[str]) -> str:
    """Category of one sampled stack (one process's frames, outermost first).

    ``controller`` and ``node`` are the base names of our plugin_utils and module_utils/modules files.
    """
    if not frames:
        return "other"
    leaf = frames[-1].split(" (")[0].rsplit(".", 1)[-1]
    if leaf in IDLE_LEAVES:
        return "idle (waiting)"
    paths = [_frame_path(f) for f in frames]
    # Module runs start from inside our evaluation (call_module), so they are looked for first.
    if any(p.endswith("module_common.py") for p in paths):
        return "module build (AnsiballZ)"
    if any(p.startswith("ansible/plugins/connection/") for p in paths):
        return "module transport (connection)"
    ours = next((i for i, p in enumerate(paths) if p in controller), None)
    if ours is not None:
        yaml_below = any(p.startswith("yaml/") for p in paths[ours:])
        return "kubefort evaluation: YAML parsing" if yaml_below else "kubefort evaluation: other"
    if any(p.startswith(("ansible/template", "jinja2/")) or "_templating" in p for p in paths):
        return "templating"
    if any(p.startswith(("<frozen importlib", "<frozen zipimport")) for p in paths):
        return "imports and byte-compiling"
    if any(p in node for p in paths):
        return "kubefort node code"
    if leaf in ("_launch", "fork", "_fork_exec", "_execute_child"):
        return "process start (fork/exec)"
    return "ansible and python, other"


def profile_summary(lines: t.Iterable[str]) -> dict[str, dict[str, int]]:
    """py-spy ``--format raw --subprocesses`` lines -> samples per category for main, workers and modules.

    A child's stack follows its parents' (``process PID:"cmdline";...``); the last ``process`` frame names
    the sampled process. Main is the first process seen; workers share its command line.
    """
    out: dict[str, dict[str, int]] = {"main": {}, "workers": {}, "modules": {}}
    controller = collection_files("plugin_utils") | collection_files("action")
    node = collection_files("module_utils") | collection_files("modules")
    root = None
    for line in lines:
        stack, _sep, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        marks = [i for i, f in enumerate(frames) if f.startswith("process ")]
        if not marks:
            continue
        proc = frames[marks[-1]]
        root = root or frames[marks[0]]
        pid_of = proc.split(":", 1)[0]
        if pid_of == root.split(":", 1)[0]:
            kind = "main"
        elif "ansible-playbook" in proc:
            kind = "workers"
        else:
            kind = "modules"
        name = classify_stack(frames[marks[-1] + 1:], controller, node)
        out[kind][name] = out[kind].get(name, 0) + int(count)
    return out


# ---------------------------------------------------------------- evaluation without Ansible


PACKAGE = "ansible_collections.kubefort.hardening"


def yaml_variants(yaml_edit: t.Any) -> list[tuple[str, t.Any, t.Callable[[], None]]]:
    """(label, replacement for ``_yaml_edit.load`` or None, reset) for the what-if measurements."""
    import copy

    import yaml

    def libyaml(text: str, what: str) -> tuple[t.Any, t.Any]:  # _yaml_edit.load's contract, libyaml's parser
        try:
            nodes = list(yaml.compose_all(text, Loader=yaml.CSafeLoader))
            data = list(yaml.load_all(text, Loader=yaml.CSafeLoader))
        except yaml.YAMLError as exc:
            raise yaml_edit.YAMLEditError(f"{what} is not valid YAML: {exc}") from exc
        if len(nodes) > 1:
            raise yaml_edit.YAMLEditError(f"{what} holds {len(nodes)} YAML documents; one is expected")
        return (data[0] if data else None), (nodes[0] if nodes else None)

    cache: dict[str, tuple[t.Any, t.Any]] = {}

    def once(text: str, what: str) -> tuple[t.Any, t.Any]:  # each distinct text parsed once per run
        if text not in cache:
            cache[text] = libyaml(text, what)
        data, node = cache[text]
        return copy.deepcopy(data), node

    variants: list[tuple[str, t.Any, t.Callable[[], None]]] = [("as built", None, lambda: None)]
    if getattr(yaml, "__with_libyaml__", False):
        variants += [("what if: libyaml", libyaml, lambda: None), ("what if: libyaml, each text once", once, cache.clear)]
    return variants


def inprocess_cost(tree: str, repeat: int, subset: str) -> list[dict[str, t.Any]]:
    """Controller-side cost of one role run (discovery request + evaluation + edit planning), no Ansible.

    Calls the same entry points as the node_harden action plugin, with node_facts' snapshot run in-process,
    so the time is our evaluation alone; counts YAML parses (``_yaml_edit.load`` calls) and, as what-ifs,
    times the same run with libyaml's parser and with each text parsed once (results and diffs compared
    with the run as built). Returns [] when the entry points changed shape.
    """
    sys.path.insert(0, os.path.join(REPO, ".build"))
    try:
        from ansible_collections.kubefort.hardening.plugins.module_utils._node_snapshot import snapshot
        from ansible_collections.kubefort.hardening.plugins.plugin_utils import _harden, _yaml_edit
        from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options
    except ImportError as exc:
        print(f"in-process measurement skipped: {exc}", file=sys.stderr)
        return []

    def call_module(name: str, args: dict[str, t.Any]) -> dict[str, t.Any]:
        a = dict(args)
        return {"snapshot": snapshot(a.pop("root"), a.get("read", ()), a.get("stat", ()), a.get("list", ()),
                                     a.get("units", ()), a.get("processes", ()))}

    original = _yaml_edit.load
    holders = [m for name, m in list(sys.modules.items())
               if name.startswith(PACKAGE + ".plugins.plugin_utils.") and getattr(m, "load", None) is original]
    parses = [0]

    def use(load: t.Callable[..., t.Any]) -> None:
        def counted(*args: t.Any, **kwargs: t.Any) -> t.Any:
            parses[0] += 1
            return load(*args, **kwargs)
        for module in holders:
            module.load = counted

    rows = []
    roles = {"control_plane": ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"],
             "node": ["kubelet", "kube-proxy"]}
    try:
        for role, components in roles.items():
            for label, only in (("all", []), (subset, [subset])):
                baseline = None
                for variant, load, reset in yaml_variants(_yaml_edit):
                    use(load or original)
                    try:
                        rules = _harden.select_rules(components, only, [])
                        options = Options(remediate=True, overrides={}, waivers=[], level=1, apiserver_anonymous_force=False)
                        reset()
                        outcome = json.dumps(_harden.run(call_module, tree, rules, options, True, "/b", True),
                                             sort_keys=True, default=str)
                        parses[0] = 0
                        start = time.process_time()
                        for _repetition in range(repeat):
                            reset()
                            _harden.run(call_module, tree, rules, options, True, "/var/lib/kubefort/backups", False)
                        cpu = (time.process_time() - start) / repeat
                    except Exception as exc:  # noqa: BLE001 - the code under measurement changes under us; say so
                        print(f"in-process measurement of {role}/{label}/{variant} failed: {exc!r}", file=sys.stderr)
                        continue
                    baseline = baseline or outcome
                    rows.append({"role": role, "rules": label, "selected": len(rules), "variant": variant,
                                 "cpu_ms": round(cpu * 1000, 1), "yaml_parses": round(parses[0] / repeat, 1),
                                 "same_results": outcome == baseline})
    finally:
        for module in holders:
            module.load = original
    return rows


# ---------------------------------------------------------------- markdown


def _mib(kib: float) -> str:
    return f"{kib / 1024:.0f}"


def markdown(output: t.Mapping[str, t.Any]) -> str:
    """The results as Markdown tables (docs/performance.md quotes them)."""
    m = output["machine"]
    lines = [(f"Measured {m['date']} on {m['nproc']} CPUs ({m['cpu']}), {m['memory_gib']} GiB RAM, kernel {m['kernel']}, "
             f"Python {m['python']}, {m['ansible_core']}; load average before the run {m['load_before']:.1f}."), ""]
    if output.get("ratios"):
        lines += ["Against the floor (scripts/benchmark_floor.yml, one ping per host on the same inventory, run "
                  "interleaved with the audit; medians of the repetitions):", "",
                  ("| kind | nodes | forks | mode | rules | floor s (median of) | run s (median of) | ratio to floor "
                   "| report action s | report ms/host | controller peak PSS MiB | load average during | rc |"),
                  "|---|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---|---:|"]
        for x in output["ratios"]:
            load = "-".join(f"{v:.1f}" for v in x["load"]) if x["load"] else "-"
            lines.append(f"| {x['kind']} | {x['nodes']} | {x['forks']} | {x['mode']} | {x['rules']} "
                         f"| {x['floor_s']} ({x['floor_runs']}) | {x['wall_s']} ({x['runs']}) | {x['ratio']} "
                         f"| {x['report_s']} | {x['report_ms_per_host']} | {x['pss_mib']} | {load} | {x['rc']} |")
        lines += ["", "Every run:", ""]
    lines += [
        ("| nodes | kind | mode | rules | forks | wall s | s/host | CPU s | CPU s/host | main process CPU s | trips/node max (counted) | mean "
         "| plugin | fact | connection cmds/node | results/node | controller peak PSS MiB | RSS sum MiB | processes | rc |"),
        "|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in output["runs"]:
        s, mem = r["summary"], r["memory"]
        lines.append(f"| {r['nodes']} | {r['kind']} | {r['mode']} | {r['rules']} | {r['forks']} | {r['wall_s']:.1f} "
                     f"| {s['per_host_s']:.3f} | {r.get('cpu_s', 0):.1f} | {s.get('cpu_per_host_s', 0):.3f} | {r.get('main_cpu_s', 0):.1f} | {s['trips_max']} "
                     f"| {s['trips_mean']} | {s['trips_plugin_max']} | {s['trips_fact_max']} | {s.get('commands_max', '-')} "
                     f"| {s['results_per_host_max']} | {_mib(mem['controller_pss_kib'])} "
                     f"| {_mib(mem['controller_rss_kib'])} | {mem['controller_processes']} | {r['rc']} |")
    if output["growth"]:
        lines += ["", "Growth with N (least-squares line over the sizes measured):", "",
                  ("| kind | mode | rules | forks | sizes | fixed s | s per extra host | fixed CPU s | CPU s per extra host "
                   "| fixed MiB (PSS) | MiB per extra host |"),
                  "|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|"]
        for g in output["growth"]:
            lines.append(f"| {g['kind']} | {g['mode']} | {g['rules']} | {g['forks']} | {','.join(map(str, g['sizes']))} "
                         f"| {g['fixed_s']} | {g['per_host_s']} | {g['cpu_fixed_s']} | {g['cpu_per_host_s']} "
                         f"| {g['fixed_mib']} | {g['per_host_mib']} |")
    if output["rules"]:
        lines += ["", "Rule count (subset against all rules, same N and forks):", "",
                  "| kind | nodes | forks | mode | results/node subset | all | wall s subset | all | all/subset | trips subset | all |",
                  "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
        for x in output["rules"]:
            lines.append(f"| {x['kind']} | {x['nodes']} | {x['forks']} | {x['mode']} | {x['subset_results']} | {x['all_results']} "
                         f"| {x['subset_s']} | {x['all_s']} | {x['ratio']} | {x['subset_trips']} | {x['all_trips']} |")
    if output.get("inprocess"):
        lines += ["", "Controller CPU of one role run without Ansible (discovery + evaluation + edit planning):", "",
                  "| role | rules | rules selected | variant | CPU ms | `_yaml_edit.load` calls | same results and diffs |",
                  "|---|---|---:|---|---:|---:|---|"]
        lines += [f"| {x['role']} | {x['rules']} | {x['selected']} | {x.get('variant', 'as built')} | {x['cpu_ms']} "
                  f"| {x.get('yaml_parses', '-')} | {'yes' if x.get('same_results', True) else 'NO'} |"
                  for x in output["inprocess"]]
    for kind in ("offline", "podman"):
        audits = [r for r in output["runs"] if r["kind"] == kind and r["rules"] == "all" and r["mode"] == "check"]
        biggest = max(audits, key=lambda r: (r["nodes"], -r["wall_s"]), default=None)
        if not biggest:
            continue
        floor = next((r for r in output["runs"] if r["kind"] == kind and r["nodes"] == biggest["nodes"]
                      and r["rules"] == "floor"), None)
        lines += ["", f"Where the wall time of `{biggest['label']}` goes, per task (the floor's one task for comparison):", "",
                  "| task | action | host results | seconds | ms per host |", "|---|---|---:|---:|---:|"]
        for run in ([floor] if floor else []) + [biggest]:
            for task in (run.get("callback") or {}).get("tasks", []):
                if task.get("seconds", 0) < 0.05:
                    continue
                label = ("floor: " if run is floor else "") + task["name"][:70]
                lines.append(f"| {label} | {task['action']} | {task['hosts']} | {task['seconds']:.2f} "
                             f"| {1000 * task['seconds'] / max(biggest['nodes'], 1):.0f} |")
    for r in output["runs"]:
        if r.get("profile_summary"):
            lines += ["", f"py-spy samples of `{r['label']}` (50 Hz, every process of the run) by category:", "",
                      "| process | category | samples | share |", "|---|---|---:|---:|"]
            for kind, cats in r["profile_summary"].items():
                total = sum(cats.values()) or 1
                for name, n in sorted(cats.items(), key=lambda kv: -kv[1]):
                    lines.append(f"| {kind} | {name} | {n} | {100 * n / total:.0f}% |")
    for note in output["notes"]:
        lines += ["", f"Note: {note}"]
    return "\n".join(lines) + "\n"


def offline_specs(n: int, forks: t.Sequence[int], subset: str, full_max: int) -> list[RunSpec]:
    """The runs for N offline nodes: check with all rules at each forks value, a subset check and an apply.

    Above ``full_max`` nodes only one check with all rules runs, at the largest forks value, to keep the
    whole benchmark short.
    """
    subset_vars = {"kubefort_rules": [subset]}
    if n > full_max:
        return [RunSpec("offline", n, forks[-1], True, "all")]
    specs = [RunSpec("offline", n, f, True, "all") for f in forks]
    specs.append(RunSpec("offline", n, forks[-1], True, subset, subset_vars))
    specs.append(RunSpec("offline", n, forks[-1], False, "all"))
    seen: set[str] = set()
    return [s for s in specs if not (s.label in seen or seen.add(s.label))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,10,100,500", help="offline node counts (default 1,10,100,500)")
    parser.add_argument("--forks", default="10,50", help="fork values, smallest first (default 10,50)")
    parser.add_argument("--podman", default="2,6", help="container node counts, '' to skip (default 2,6)")
    parser.add_argument("--subset", default="4.2.4", help="rule selector for the subset run (default 4.2.4)")
    parser.add_argument("--control-plane", type=int, default=3, help="control-plane nodes per fleet (default 3)")
    parser.add_argument("--full-max", type=int, default=100,
                        help="largest N that gets every run; larger N get only the check runs at the largest forks")
    parser.add_argument("--inprocess", type=int, default=10, help="repetitions of the in-process measurement (0: skip)")
    parser.add_argument("--profile", help="py-spy binary: add one profiled check run of the largest N <= 100")
    parser.add_argument("--json", help="write all measurements to this file")
    parser.add_argument("--markdown", help="write the results as Markdown tables to this file")
    parser.add_argument("--workdir", help="keep node trees and logs here instead of a temporary directory")
    parser.add_argument("--repeat", type=int, default=3,
                        help="floor and audit pairs per fleet, interleaved (medians are reported; default 3)")
    parser.add_argument("--baseline", help="another checkout (e.g. a git worktree of main, bootstrapped): its harden.yml "
                        "also runs in every offline floor and audit pair, as the rules 'baseline' (a same-minute before/after)")
    parser.add_argument("--lock", help="hold this file's lock (flock) while the podman fleets run, e.g. /tmp/kubefort-test-locks/podman.lock")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    forks = sorted(int(f) for f in args.forks.split(",") if f)
    pods = [int(p) for p in args.podman.split(",") if p]
    baseline = check_baseline(args.baseline) if args.baseline else ""

    import yaml  # ansible-core's dependency; the benchmark runs with the project's .venv python

    with open(DEMO_INVENTORY) as handle:
        templates = demo_groups(yaml.safe_load(handle))
    work = args.workdir or tempfile.mkdtemp(prefix="kubefort-bench-")
    os.makedirs(work, exist_ok=True)
    output: dict[str, t.Any] = {"machine": machine(), "runs": [], "notes": [], "workdir": work, "inprocess": []}
    runs = output["runs"]

    def record(run: dict[str, t.Any], counts: t.Mapping[str, t.Any], names: t.Sequence[str],
               commands: t.Optional[t.Mapping[str, int]] = None) -> None:
        run["summary"] = summarize(run, counts, names)
        if commands is not None:
            run["summary"]["commands_max"] = max((commands.get(n, 0) for n in names), default=0)
        run["tasks"] = task_breakdown(run.get("callback") or {})
        runs.append(run)
        s, mem = run["summary"], run["memory"]
        print(f"{run['label']:34s} rc={run['rc']} wall={run['wall_s']:7.1f}s {s['per_host_s']:.3f}s/host "
              f"trips/node max={s['trips_max']} (plugin {s['trips_plugin_max']}, fact {s['trips_fact_max']}) "
              f"results/node={s['results_per_host_max']} controller PSS={_mib(mem['controller_pss_kib'])} MiB "
              f"RSS={_mib(mem['controller_rss_kib'])} MiB", flush=True)

    if args.inprocess:
        tree = os.path.join(work, "inprocess")
        build_offline_fleet(tree, [Node("cp", plan_fleet(1, templates)[0].template, ())])
        output["inprocess"] = inprocess_cost(os.path.join(tree, "cp"), args.inprocess, args.subset)
        for row in output["inprocess"]:
            print(f"in-process {row['role']:13s} rules={row['rules']:6s} ({row['selected']:3d} selected) {row['variant']:34s} "
                  f"{row['cpu_ms']:7.1f} ms CPU, {row['yaml_parses']} YAML load calls, same results: {row['same_results']}")

    for n in sizes:
        nodes = plan_fleet(n, templates, args.control_plane)
        names = [node.name for node in nodes]
        trees, bin_dir = os.path.join(work, f"nodes-{n}"), os.path.join(work, f"bin-{n}")
        log = os.path.join(work, f"count-{n}.log")
        install_counter(bin_dir, log, sys.executable, [*names, "localhost"])
        inventory = os.path.join(work, f"inventory-{n}.yml")
        host_vars = {"ansible_connection": "local", "ansible_python_interpreter": bin_dir + "/{{ inventory_hostname }}",
                     "kubefort_root": trees + "/{{ inventory_hostname }}"}
        with open(inventory, "w") as handle:
            yaml.safe_dump(inventory_for(nodes, host_vars), handle)
        build_offline_fleet(trees, nodes)
        specs = offline_specs(n, forks, args.subset, args.full_max)
        audit = next(s for s in specs if s.check and s.rules == "all" and s.forks == forks[-1])
        paired = []
        for rep in range(max(args.repeat, 1)):
            paired.append(RunSpec("offline", n, forks[-1], True, "floor", None, rep))
            if baseline:
                paired.append(RunSpec("offline", n, forks[-1], True, "baseline", None, rep, baseline))
            paired.append(audit if rep == 0 else dataclasses.replace(audit, rep=rep))
        for spec in paired + [s for s in specs if s is not audit]:
            if not spec.check:
                build_offline_fleet(trees, nodes)  # every apply starts from the insecure demo state
            open(log, "w").close()
            run = run_playbook(spec, inventory, work)
            with open(log) as handle:
                record(run, parse_counter_log(handle), names)
        if args.profile and n == max((s for s in sizes if s <= 100), default=None):
            open(log, "w").close()
            run = run_playbook(RunSpec("offline", n, forks[0], True, "all-profiled"), inventory, work, args.profile)
            run["profile"] = os.path.join(run["run_dir"], "pyspy.txt")
            if os.path.exists(run["profile"]):
                with open(run["profile"]) as handle:
                    run["profile_summary"] = profile_summary(handle)
            with open(log) as handle:
                record(run, parse_counter_log(handle), names)

    image = ""
    if pods:
        try:
            image = podman_image()
        except BenchmarkError as exc:
            output["notes"].append(f"podman nodes not measured: {exc}")
    lock = None
    if pods and image and args.lock:
        import fcntl

        lock = open(args.lock, "a")  # noqa: SIM115 (held until the podman runs are done)
        print(f"waiting for the lock {args.lock}", flush=True)
        fcntl.flock(lock, fcntl.LOCK_EX)
    for n in pods if image else []:
        nodes = plan_fleet(n, templates, args.control_plane)
        names = [node.name for node in nodes]
        fleet = PodmanFleet(image, nodes, os.path.join(work, f"pod-trees-{n}"))
        try:
            fleet.start()
            per_host = {node.name: {"ansible_host": name} for node, name in zip(nodes, fleet.names)}
            host_vars = {"ansible_connection": "containers.podman.podman", "kubefort_root": "/",
                         "ansible_python_interpreter": "/usr/local/bin/{{ inventory_hostname }}"}
            inventory = os.path.join(work, f"inventory-podman-{n}.yml")
            with open(inventory, "w") as handle:
                yaml.safe_dump(inventory_for(nodes, host_vars, per_host), handle)
            pod_specs = []
            for rep in range(max(args.repeat, 1)):
                pod_specs += [RunSpec("podman", n, forks[0], True, "floor", None, rep),
                              RunSpec("podman", n, forks[0], True, "all", None, rep)]
            # Apply without restarts (files written, nothing restarted: kubefort_provisioning); the
            # restart path is the live_nodes molecule scenario's to prove, its waits are not a cost figure.
            # Each repetition on fresh containers (the insecure demo trees again), after a floor.
            pod_specs += [RunSpec("podman", n, forks[0], True, args.subset, {"kubefort_rules": [args.subset]})]
            for rep in range(max(args.repeat, 1)):
                if rep:
                    pod_specs += [RunSpec("podman", n, forks[0], True, "floor", None, 2 * args.repeat + rep)]
                pod_specs += [RunSpec("podman", n, forks[0], False, "norestart", {"kubefort_provisioning": True}, rep)]
            # The same apply again on the nodes it hardened: nothing left to change or restart (what every
            # later scheduled run is), interleaved with floors like the audit.
            for rep in range(max(args.repeat, 1)):
                pod_specs += [RunSpec("podman", n, forks[0], True, "floor", None, args.repeat + rep),
                              RunSpec("podman", n, forks[0], False, "norestart-again", {"kubefort_provisioning": True}, rep)]
            for spec in pod_specs:
                if spec.rules == "floor" and spec.rep >= 2 * args.repeat:
                    # Fresh nodes for the next first apply (before its floor: the same containers for both).
                    fleet.start()
                fleet.reset_counts()
                run = run_playbook(spec, inventory, work)
                commands = fleet.exec_counts(run["started"], run["started"] + run["wall_s"] + 1)
                record(run, fleet.counts(), names, commands)
        except BenchmarkError as exc:
            output["notes"].append(f"podman run with {n} nodes failed: {exc}")
        finally:
            fleet.remove()
    if lock is not None:
        lock.close()

    output["ratios"] = floor_ratios(runs)
    output["growth"] = growth([r for r in runs if r["rules"] != "floor" and not r.get("rep")])
    output["rules"] = rule_ratio(runs, args.subset)
    text = markdown(output)
    print(text)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(output, handle, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as handle:
            handle.write(text)
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if any(r["rc"] for r in runs) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchmarkError as exc:
        sys.exit(f"benchmark: {exc}")
