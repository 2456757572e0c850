# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Action plugin of kubefort.hardening.ports_audit: list listeners, probe, evaluate the ports rules."""

from __future__ import annotations

import typing as t

from ansible.plugins.action import ActionBase

from ansible_collections.kubefort.hardening.plugins.module_utils._ports_evaluate import (
    DEFAULT_ALLOW_ANY_ADDRESS,
    PortsOptionsError,
    evaluate,
)

ARGUMENT_SPEC = {
    "root": {"type": "path", "default": "/"},
    "proc_path": {"type": "path", "default": "/proc"},
    "probe": {"type": "bool", "default": True},
    "probe_host": {"type": "str", "default": "127.0.0.1"},
    "probe_timeout": {"type": "float", "default": 3.0},
    "include_health": {"type": "bool", "default": False},
    "probe_results": {"type": "list", "elements": "dict", "default": []},
    "allow_any_address": {"type": "list", "elements": "raw", "default": list(DEFAULT_ALLOW_ANY_ADDRESS)},
    "kube_proxy_healthz_scopes": {"type": "list", "elements": "str", "default": ["loopback", "node"]},
    "kube_proxy_metrics_scopes": {"type": "list", "elements": "str", "default": ["loopback"]},
    "rules": {"type": "list", "elements": "str", "default": []},
    "skip": {"type": "list", "elements": "str", "default": []},
    "waivers": {"type": "list", "elements": "dict", "default": []},
}


def _normalize_allow(values: t.Iterable[t.Any]) -> t.List[t.Union[int, str]]:
    # YAML gives ports as int or str ("10250"); component and process names stay strings.
    return [int(v) if str(v).isdigit() else str(v) for v in values]


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
        }
        if args["root"] not in ("/", ""):
            reason = "offline node (root %s): live sockets and probes cannot be checked" % args["root"]
            return self._finish(result, options, None, None, reason)

        listing = self._execute_module(
            module_name="kubefort.hardening.listening_ports",
            module_args={"proc_path": args["proc_path"]},
            task_vars=task_vars,
        )
        if listing.get("failed"):
            result.update(failed=True, msg="listening_ports failed: %s" % listing.get("msg"))
            return result
        probe_runs = None
        if args["probe"]:
            probed = self._execute_module(
                module_name="kubefort.hardening.port_probe",
                module_args={"host": args["probe_host"], "timeout": args["probe_timeout"],
                             "include_health": args["include_health"]},
                task_vars=task_vars,
            )
            if probed.get("failed"):
                result.update(failed=True, msg="port_probe failed: %s" % probed.get("msg"))
                return result
            probe_runs = [{"prober": "node", "host": args["probe_host"], "probes": probed["probes"]}]
            probe_runs.extend(self._extra_runs(args["probe_results"]))
        elif args["probe_results"]:
            probe_runs = self._extra_runs(args["probe_results"])
        return self._finish(result, options, listing, probe_runs, "")

    @staticmethod
    def _extra_runs(runs: t.List[t.Dict[str, t.Any]]) -> t.List[t.Dict[str, t.Any]]:
        # Registered port_probe results from other hosts (delegate_to), labelled by prober.
        extra = []
        for run in runs:
            if run.get("skipped") or "probes" not in run:
                continue
            label = run.get("prober_label") or run.get("item") or run.get("prober") or "remote"
            extra.append({"prober": str(label),
                          "host": run.get("host"), "probes": run["probes"]})
        return extra

    def _finish(self, result: t.Dict[str, t.Any], options: t.Dict[str, t.Any],
                listing: t.Optional[t.Dict[str, t.Any]], probe_runs: t.Optional[t.List[t.Dict[str, t.Any]]],
                offline_reason: str) -> t.Dict[str, t.Any]:
        try:
            results = evaluate(listing, probe_runs, options, offline_reason=offline_reason)
        except PortsOptionsError as exc:
            result.update(failed=True, msg=str(exc))
            return result
        result.update(
            changed=False,
            results=results,
            listeners=(listing or {}).get("listeners", []),
            probes=probe_runs or [],
            offline=bool(offline_reason),
        )
        return result
