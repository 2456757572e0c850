# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Action plugin of kubefort.hardening.ports_audit: list listeners, probe, evaluate the ports rules."""

from __future__ import annotations

import typing as t

from ansible.errors import AnsibleConnectionFailure
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

from ansible_collections.kubefort.hardening.plugins.plugin_utils._ports_evaluate import (
    DEFAULT_ALLOW_ANY_ADDRESS,
    PortsOptionsError,
    evaluate,
)
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _host_state

ARGUMENT_SPEC = {
    "root": {"type": "path", "default": "/"},
    "proc_path": {"type": "path", "default": "/proc"},
    "probe": {"type": "bool", "default": True},
    "probe_host": {"type": "str", "default": "127.0.0.1"},
    "probe_timeout": {"type": "float", "default": 3.0},
    "include_health": {"type": "bool", "default": False},
    "probe_results": {"type": "list", "elements": "dict", "default": []},
    "probe_address": {"type": "str"},
    "allow_any_address": {"type": "list", "elements": "raw", "default": list(DEFAULT_ALLOW_ANY_ADDRESS)},
    "kube_proxy_healthz_scopes": {"type": "list", "elements": "str", "default": ["loopback", "node"]},
    "kube_proxy_metrics_scopes": {"type": "list", "elements": "str", "default": ["loopback"]},
    "rules": {"type": "list", "elements": "str", "default": []},
    "skip": {"type": "list", "elements": "str", "default": []},
    "waivers": {"type": "list", "elements": "dict", "default": []},
    "level": {"type": "int", "default": 1, "choices": [1, 2]},
}


def _normalize_allow(values: t.Iterable[t.Any]) -> t.List[t.Union[int, str]]:
    # YAML gives ports as int or str ("10250"); component and process names stay strings.
    return [int(v) if str(v).isdigit() else str(v) for v in values]


def _covers(found: t.Mapping[str, t.Any], wanted: t.Mapping[str, t.Any]) -> bool:
    """Whether ports data collected earlier in this run was collected as ``wanted`` asks."""
    if "listing" not in found:
        return False
    have = found.get("options") or {}
    if have.get("proc_path") != wanted["proc_path"]:
        return False
    if not wanted["probe"]:
        return True
    return "probe" in found and all(have.get(k) == wanted[k] for k in ("host", "timeout", "include_health"))


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp: t.Any = None, task_vars: t.Optional[t.Dict[str, t.Any]] = None) -> t.Dict[str, t.Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        options = {
            "allow_any_address": _normalize_allow(args["allow_any_address"]),
            "kube_proxy_healthz_scopes": args["kube_proxy_healthz_scopes"],
            "kube_proxy_metrics_scopes": args["kube_proxy_metrics_scopes"],
            "rules": args["rules"],
            "skip": args["skip"],
            "waivers": args["waivers"],
            "level": args["level"],
        }
        self._task_vars = task_vars
        self._root = args["root"]
        try:
            _host_state.check_options(task_vars, _host_state.play_roles(self._task), self._templar,
                                      _host_state.play_id(self._task))
        except _host_state.OptionsError as exc:
            return dict(result, failed=True, msg="kubefort settings: %s" % exc)
        if args["root"] not in ("/", ""):
            reason = "offline node (root %s): live sockets and probes cannot be checked" % args["root"]
            return self._finish(result, options, None, None, reason, 0)

        # What the node_harden action of an earlier role collected in its own round trip, when it did
        # with these options; else one node_facts round trip for the sockets and the node's own probes.
        wanted = {"proc_path": args["proc_path"], "probe": args["probe"], "host": args["probe_host"],
                  "timeout": args["probe_timeout"], "include_health": args["include_health"]}
        host = str(task_vars.get("inventory_hostname", ""))
        found = ((_host_state.load_discovery(host, args["root"]) or {}).get("ports") or {})
        trips = 0
        if not _covers(found, wanted):
            try:
                collected = self._execute_module(
                    module_name="kubefort.hardening.node_facts",
                    module_args={"root": args["root"], "ports": wanted},
                    task_vars=task_vars,
                )
                self._remove_tmp_path(self._connection._shell.tmpdir)
            except AnsibleConnectionFailure as exc:
                collected = {"failed": True, "msg": "unreachable: %s" % str(exc).splitlines()[0]}
            if collected.get("failed"):
                return self._failed(result, "node_facts failed: %s" % collected.get("msg"))
            found = dict((collected.get("snapshot") or {}).get("ports") or {}, options=wanted)
            trips = 1
        listing = found.get("listing") or {}
        if "error" in listing:
            return self._failed(result, "listening_ports failed: %s" % listing["error"])
        probe_runs = None
        if args["probe"]:
            probed = found.get("probe") or {}
            if "error" in probed:
                return self._failed(result, "port_probe failed: %s" % probed["error"])
            probe_runs = [{"prober": "node", "host": args["probe_host"], "probes": probed.get("probes", [])}]
            probe_runs.extend(self._extra_runs(args["probe_results"], args["probe_address"]))
        elif args["probe_results"]:
            probe_runs = self._extra_runs(args["probe_results"], args["probe_address"])
        outcome = self._finish(result, options, listing, probe_runs, "", trips)
        failed_probers = self._failed_probers(args["probe_results"])
        if failed_probers and not outcome.get("failed"):
            # The anonymous-access rules of this node lack that prober's evidence: the host is failed (the
            # run fails after the report) rather than judged on the probes that did run.
            reason = "; ".join("the probe from %s could not run: %s" % item for item in failed_probers)
            if not self._report_follows():
                outcome.update(failed=True, msg=reason)
                return outcome
            outcome["ansible_facts"].update(_host_state.record_failure(task_vars, "ports", reason))
            outcome["kubefort_failure"] = reason
        return outcome

    def _failed(self, result: t.Dict[str, t.Any], message: str) -> t.Dict[str, t.Any]:
        """In playbooks/harden.yml recorded, not fatal (like node_harden): the report lists the host and the run
        fails after it. The role on its own (no report follows) fails the task."""
        if not self._report_follows():
            result.update(failed=True, msg=message)
            return result
        result.update(changed=False, msg=message, kubefort_failure=message,
                      ansible_facts=_host_state.record_failure(self._task_vars, "ports", message))
        return result

    def _report_follows(self) -> bool:
        return bool(self._templar.template(self._task_vars.get("_kubefort_report_follows", False)))

    @staticmethod
    def _failed_probers(runs: t.List[t.Dict[str, t.Any]]) -> t.List[t.Tuple[str, str]]:
        """(prober, reason) of every registered port_probe run that failed or could not reach its prober."""
        failed = []
        for run in runs:
            if run.get("skipped") or not (run.get("failed") or run.get("unreachable")):
                continue
            label = str(run.get("prober_label") or run.get("item") or run.get("prober") or "another host")
            message = (str(run.get("msg") or "").strip().splitlines() or ["failed"])[0]
            if run.get("unreachable") and "unreachable" not in message.lower():
                message = "unreachable: " + message
            failed.append((label, message))
        return failed

    _task_vars: t.Dict[str, t.Any] = {}
    _root = "/"

    @staticmethod
    def _extra_runs(runs: t.List[t.Dict[str, t.Any]], address: t.Optional[str]) -> t.List[t.Dict[str, t.Any]]:
        # Registered port_probe results from other hosts (delegate_to), labelled by prober: one run per
        # target host, or one run per prober for a whole batch (``runs``), of which this host's entry.
        extra = []
        for run in runs:
            if run.get("skipped") or run.get("failed") or run.get("unreachable"):
                continue
            label = str(run.get("prober_label") or run.get("item") or run.get("prober") or "remote")
            if isinstance(run.get("runs"), list):
                for entry in run["runs"]:
                    if isinstance(entry, dict) and entry.get("host") == address and "probes" in entry:
                        extra.append({"prober": label, "host": entry["host"], "probes": entry["probes"]})
                continue
            if "probes" not in run:
                continue
            extra.append({"prober": label, "host": run.get("host"), "probes": run["probes"]})
        return extra

    def _finish(self, result: t.Dict[str, t.Any], options: t.Dict[str, t.Any],
                listing: t.Optional[t.Dict[str, t.Any]], probe_runs: t.Optional[t.List[t.Dict[str, t.Any]]],
                offline_reason: str, trips: int) -> t.Dict[str, t.Any]:
        try:
            results = evaluate(listing, probe_runs, options, offline_reason=offline_reason)
        except PortsOptionsError as exc:
            result.update(failed=True, msg=str(exc))
            return result
        task_vars = self._task_vars
        facts = _host_state.record(task_vars, "ports", results, {"root": self._root}, trips,
                                   bool(self._task.check_mode))
        # The ports role may run after the node role on the same host: its name once in the roles.
        roles = facts["kubefort_host"]["roles"]
        facts["kubefort_host"]["roles"] = [r for i, r in enumerate(roles) if r not in roles[:i]]
        result.update(
            changed=False,
            results=results,
            listeners=(listing or {}).get("listeners", []),
            probes=probe_runs or [],
            offline=bool(offline_reason),
            round_trips=trips,
            ansible_facts=facts,
            kubefort_progress=_host_state.progress(task_vars, facts["kubefort_results"], True),
        )
        if boolean(task_vars.get("_kubefort_lean_results", False), strict=False):
            # playbooks/harden.yml: the results are in the host facts (kubefort_results) only.
            result.pop("results")
        return result
