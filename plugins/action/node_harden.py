# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import typing as t

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase

from ansible_collections.kubefort.hardening.plugins.module_utils._harden_args import ARGUMENT_SPEC
from ansible_collections.kubefort.hardening.plugins.module_utils._rule import check_waivers
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _host_state
from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options
from ansible_collections.kubefort.hardening.plugins.plugin_utils._harden import HardenError, run, select_rules


# The node_facts ports options (plugins/modules/node_facts.py), as ports_audit compares them.
PORTS_DEFAULTS = {"proc_path": "/proc", "probe": False, "host": "127.0.0.1", "timeout": 3.0, "include_health": False}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp: t.Any = None, task_vars: t.Optional[t.Dict[str, t.Any]] = None) -> t.Dict[str, t.Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        try:
            validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        except AnsibleError as exc:
            return dict(result, failed=True, msg="node_harden: %s" % exc)
        try:
            rules = select_rules(args["components"], args["rules"], args["skip_rules"])
        except HardenError as exc:
            return dict(result, failed=True, msg=str(exc))
        try:
            check_waivers(args["waivers"])
        except ValueError as exc:
            return dict(result, failed=True, msg="kubefort_waivers: %s" % exc)
        unknown = sorted(set(args["overrides"]) - {r.id for r in rules})
        if unknown:
            return dict(result, failed=True, msg="overrides name rules that are not selected for %s: %s" % (
                ", ".join(args["components"]), ", ".join(unknown)))
        options = Options(
            remediate=args["remediate"], overrides=args["overrides"], waivers=args["waivers"],
            level=args["level"], apiserver_anonymous_force=args["apiserver_anonymous_auth_force"],
            apiserver_probes_tcp=args["apiserver_probes_tcp"],
            supplied={k: v for k, v in args["supplied"].items() if v},
            benchmark=args["benchmark"],
        )

        def call_module(name: str, module_args: t.Dict[str, t.Any]) -> t.Dict[str, t.Any]:
            out = self._execute_module(module_name=name, module_args=module_args, task_vars=task_vars)
            if out.get("failed") and name.endswith("node_facts"):
                raise HardenError(out.get("msg", "node_facts failed"))
            return out

        try:
            _host_state.check_options(task_vars, _host_state.play_roles(self._task), self._templar,
                                      _host_state.play_id(self._task))
        except _host_state.OptionsError as exc:
            return dict(result, failed=True, msg="kubefort settings: %s" % exc)
        host = str(task_vars.get("inventory_hostname", ""))
        cached = _host_state.load_discovery(host, args["root"])
        ports_options = None
        if args["ports"] is not None:
            ports_options = dict(PORTS_DEFAULTS, **{k: v for k, v in args["ports"].items() if v is not None})
        first_extra = {"ports": ports_options} if ports_options is not None and cached is None else None
        try:
            outcome = run(
                call_module, args["root"], rules, options, bool(self._task.check_mode),
                args["backup_dir"], bool(self._task.diff),
                cached=(cached or {}).get("snapshot"), first_extra=first_extra,
            )
        except HardenError as exc:
            return dict(result, failed=True, msg=str(exc))
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        snapshot = outcome.pop("_snapshot", None)
        if snapshot is None:
            _host_state.drop_discovery(host, args["root"])
        else:
            ports = snapshot.pop("ports", None)
            kept = dict(cached or {}, snapshot=snapshot)
            if ports is not None:
                kept["ports"] = dict(ports, options=ports_options)
            _host_state.store_discovery(host, args["root"], kept)
        result.update(outcome)
        if not result["diff"]:
            result.pop("diff")
        role = args["role"] or ("control_plane" if set(args["components"]) - {"kubelet", "kube-proxy"} else "node")
        result["ansible_facts"] = _host_state.record(
            task_vars, role, outcome["results"], outcome["host"], outcome["round_trips"], bool(self._task.check_mode))
        result["kubefort_progress"] = _host_state.progress(task_vars, result["ansible_facts"]["kubefort_results"], False)
        return result
