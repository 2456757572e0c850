# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Benchmark callback (used only by scripts/benchmark.py): per-task wall time and per-host counters.

Writes one JSON document to $KUBEFORT_BENCH_CALLBACK_OUT when the playbook ends:
tasks (name, action, seconds, hosts), per host the sum of the ``round_trips`` that node_harden results
report, the ``kubefort_host.round_trips`` fact the roles keep, and per-status result counts.
"""

from __future__ import annotations

import json
import os
import time
import typing as t

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: kubefort_benchmark
type: aggregate
short_description: timings and round-trip counters for scripts/benchmark.py
description: Writes per-task wall time and per-host counters to E(KUBEFORT_BENCH_CALLBACK_OUT).
requirements: [enable in callbacks_enabled]
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "kubefort_benchmark"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.tasks: list[dict[str, t.Any]] = []
        self.hosts: dict[str, dict[str, t.Any]] = {}
        self.started = time.monotonic()

    def _close_task(self) -> None:
        if self.tasks and "seconds" not in self.tasks[-1]:
            self.tasks[-1]["seconds"] = round(time.monotonic() - self.tasks[-1].pop("_start"), 4)
            self._write()  # after every task: a play that aborts never reaches v2_playbook_on_stats

    def _write(self) -> None:
        out = os.environ.get("KUBEFORT_BENCH_CALLBACK_OUT")
        if not out:
            return
        with open(out + ".tmp", "w") as handle:
            json.dump({"tasks": [t for t in self.tasks if "seconds" in t], "hosts": self.hosts,
                       "seconds": round(time.monotonic() - self.started, 4)}, handle, indent=1)
        os.replace(out + ".tmp", out)

    def v2_playbook_on_play_start(self, play: t.Any) -> None:
        self._close_task()

    def v2_playbook_on_task_start(self, task: t.Any, is_conditional: bool) -> None:
        self._close_task()
        self.tasks.append({"name": task.get_name(), "action": task.action, "hosts": 0, "_start": time.monotonic()})

    def v2_playbook_on_handler_task_start(self, task: t.Any) -> None:
        self.v2_playbook_on_task_start(task, False)
        self.tasks[-1]["handler"] = True

    def v2_playbook_on_cleanup_task_start(self, task: t.Any) -> None:
        self.v2_playbook_on_task_start(task, False)

    def _record(self, result: t.Any, outcome: str) -> None:
        empty = {"plugin_round_trips": 0, "fact_round_trips": None, "outcomes": {}, "results": 0}
        host = self.hosts.setdefault(result._host.get_name(), empty)
        host["outcomes"][outcome] = host["outcomes"].get(outcome, 0) + 1
        if self.tasks:
            self.tasks[-1]["hosts"] += 1
        data = result._result
        if isinstance(data.get("round_trips"), int):
            host["plugin_round_trips"] += data["round_trips"]
        facts = data.get("ansible_facts") or {}
        if isinstance(facts.get("kubefort_results"), list):
            # Every result of the host so far (harden.yml's actions return them in the facts only).
            host["results"] = len(facts["kubefort_results"])
        fact = facts.get("kubefort_host")
        if isinstance(fact, dict) and "round_trips" in fact:
            host["fact_round_trips"] = fact["round_trips"]

    def v2_runner_on_ok(self, result: t.Any) -> None:
        self._record(result, "ok")

    def v2_runner_on_failed(self, result: t.Any, ignore_errors: bool = False) -> None:
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result: t.Any) -> None:
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result: t.Any) -> None:
        self._record(result, "unreachable")

    def v2_playbook_on_stats(self, stats: t.Any) -> None:
        self._close_task()
        self._write()
