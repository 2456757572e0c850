# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import typing as t

from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

from ansible_collections.kubefort.hardening.plugins.plugin_utils import _catalog
from ansible_collections.kubefort.hardening.plugins.module_utils._harden_args import ARGUMENT_SPEC
from ansible_collections.kubefort.hardening.plugins.module_utils._policy import PolicyError, check_waivers
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _host_state
from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options
from ansible_collections.kubefort.hardening.plugins.plugin_utils._harden import HardenError, run, selection


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
            chosen = selection(args["components"], args["rules"], args["skip_rules"])
        except HardenError as exc:
            return dict(result, failed=True, msg=str(exc))
        try:
            check_waivers(args["waivers"])
        except PolicyError as exc:
            return dict(result, failed=True, msg="kubefort_waivers: %s" % exc)
        try:
            _catalog.check_waiver_ids(args["waivers"])
        except _catalog.UnknownRuleError as exc:
            return dict(result, failed=True, msg=str(exc))
        # kubefort_overrides is shared by the roles of one play: an override of another role's rule is not
        # this role's business (failing here would stop the host before the other role's restart handler).
        # (a role run on its own has no check_input play: a wrong override must not reach a node here either)
        wrong = _catalog.override_problems(args["overrides"])
        if wrong:
            return dict(result, failed=True, msg=" | ".join(wrong))
        host = str(task_vars.get("inventory_hostname", ""))
        role = args["role"] or ("control_plane" if set(args["components"]) - {"kubelet", "kube-proxy"} else "node")
        if any(f["stage"] != "rollout" for f in _host_state.current_failures(task_vars)):
            # An earlier stage of this run failed on this host (its root is missing, it is unreachable):
            # it is in the report with the reason; nothing more is done here.
            # (kubefort_failed_before: the ports role's condition in playbooks/tasks/harden_ports.yml)
            return dict(result, changed=False, skipped=True, kubefort_failed_before=True,
                        skip_reason="an earlier kubefort stage failed on %s" % host)
        # A fix that restarts nothing (defer_restarts) is made on every host at once, whatever the others do:
        # the rollout, which another host's failure stops, is only for the fixes that restart something.
        # Nor is a plan (defer_writes), which writes nothing: the rollout that makes it checks again. Nor is
        # anything in harden.yml's first plays (rollout_group), where a host the run restarts nothing on
        # (provisioning, an offline tree) is written at once, control plane or not.
        at_once = args["defer_restarts"] or args["defer_writes"] or bool(args["rollout_group"])
        stopped_by = (self._rollout_stopped_by(task_vars, host)
                      if args["remediate"] and not self._task.check_mode and not at_once else [])
        options = Options(
            remediate=args["remediate"] and not stopped_by, overrides=args["overrides"], waivers=args["waivers"],
            level=args["level"], apiserver_anonymous_force=args["apiserver_anonymous_auth_force"],
            apiserver_probes_tcp=args["apiserver_probes_tcp"],
            supplied={k: v for k, v in args["supplied"].items() if v},
            benchmark=args["benchmark"],
        )

        def call_module(name: str, module_args: t.Dict[str, t.Any]) -> t.Dict[str, t.Any]:
            try:
                out = self._execute_module(module_name=name, module_args=module_args, task_vars=task_vars)
            except AnsibleConnectionFailure as exc:
                raise HardenError("unreachable: %s" % str(exc).splitlines()[0])
            if out.get("failed") and name.endswith("node_facts"):
                raise HardenError(out.get("msg", "node_facts failed"))
            return out

        try:
            _host_state.check_options(task_vars, _host_state.play_roles(self._task), self._templar,
                                      _host_state.play_id(self._task))
        except _host_state.OptionsError as exc:
            return dict(result, failed=True, msg="kubefort settings: %s" % exc)
        cached = _host_state.load_discovery(host, args["root"])
        ports_options = None
        if args["ports"] is not None:
            ports_options = dict(PORTS_DEFAULTS, **{k: v for k, v in args["ports"].items() if v is not None})
        first_extra = {"ports": ports_options} if ports_options is not None and cached is None else None
        # What the read play (playbooks/harden.yml, before the node plays) found: kubeadm's cluster configuration
        # and this host's kubelet /configz (roles/cluster/tasks/kubeadm_read.yml).
        localhost = (task_vars.get("hostvars") or {}).get("localhost") or {}
        kubeadm_state = localhost.get("kubefort_kubeadm_state")
        configz = (localhost.get("kubefort_kubelet_configz") or {}).get(host)
        try:
            outcome = run(
                call_module, args["root"], chosen.rules, options, bool(self._task.check_mode),
                args["backup_dir"], bool(self._task.diff),
                cached=(cached or {}).get("snapshot"), first_extra=first_extra, skipped=chosen.skipped,
                kubeadm_state=kubeadm_state if isinstance(kubeadm_state, dict) else None,
                configz=configz if isinstance(configz, dict) else None,
                defer_restarts=args["defer_restarts"], defer_writes=args["defer_writes"],
                restarts=args["restarts"],
            )
        except HardenError as exc:
            # Recorded, not fatal: the other hosts go on, the report lists this one with the reason, and
            # the report role fails the run afterwards (a failed host here would end a serial play).
            failed = dict(result, changed=False, msg=str(exc), kubefort_failure=str(exc),
                          ansible_facts=_host_state.record_failure(task_vars, role, str(exc)))
            return self._join_rollout(failed, args, True)
        finally:
            try:
                self._remove_tmp_path(self._connection._shell.tmpdir)
            except AnsibleError:
                pass
        snapshot = outcome.pop("_snapshot", None)
        ports = outcome.pop("_ports", None)
        kept: t.Dict[str, t.Any] = {}
        if ports is not None:
            kept["ports"] = dict(ports, options=ports_options)
        elif (cached or {}).get("ports") is not None:
            kept["ports"] = cached["ports"]
        if snapshot is not None:
            snapshot.pop("ports", None)
            kept["snapshot"] = snapshot
        # After a write the next role reads the node again (no snapshot kept). The sockets and probes stay:
        # a file write changes no listener, and the ports role has always seen them from before the restarts.
        if kept:
            _host_state.store_discovery(host, args["root"], kept)
        else:
            _host_state.drop_discovery(host, args["root"])
        result.update(outcome)
        if not result["diff"]:
            result.pop("diff")
        if boolean(task_vars.get("_kubefort_lean_results", False), strict=False):
            # playbooks/harden.yml: the results are in the host facts (kubefort_results); a second copy in the
            # task result would pass through the callbacks and the registered variable again for every host.
            result.pop("results")
        result["ansible_facts"] = _host_state.record(
            task_vars, role, outcome["results"], outcome["host"], outcome["round_trips"], bool(self._task.check_mode))
        if stopped_by:
            reason = "not changed (audited only): the control-plane rollout stopped after %s failed" % ", ".join(stopped_by)
            result["ansible_facts"].update(_host_state.record_failure(task_vars, "rollout", reason))
        if result.get("failed"):
            # A write that could not be made (nothing half-written): recorded like any failed stage.
            result["failed"] = False
            result["kubefort_failure"] = result["msg"]
            result["ansible_facts"].update(_host_state.record_failure(task_vars, role, result["msg"]))
        self._join_rollout(result, args, bool(result.get("kubefort_failure")))
        # harden.yml's control-plane play: the host's progress line waits for its last task, in the next play
        # (a plan's, defer_writes: for its ports task, in the next play or the rollout).
        if boolean(task_vars.get("_kubefort_progress", True), strict=False) and not args["defer_writes"]:
            result["kubefort_progress"] = _host_state.progress(task_vars, result["ansible_facts"]["kubefort_results"], False)
        return result

    @staticmethod
    def _join_rollout(result: t.Dict[str, t.Any], args: t.Mapping[str, t.Any], failed: bool) -> t.Dict[str, t.Any]:
        """Put the host in ``rollout_group`` (what group_by does, without a task round per host) when its fixes
        were deferred, or, for a plan (``defer_writes``), when it failed: playbooks/harden.yml rolls out the
        control plane when that group has any host (a failure then stops the next hosts, as it did before
        there was a plan), and not at all when no host has anything to change."""
        if args["rollout_group"] and (result.get("deferred") or (failed and args["defer_writes"])):
            result["add_group"] = args["rollout_group"]
            result["parent_groups"] = ["all"]
            # Ansible marks a result that adds its host to a group as changed; the roles' changed_when
            # reads the action's own verdict from here (nothing written is not a change).
            result["kubefort_changed"] = bool(result.get("changed"))
        return result

    def _rollout_stopped_by(self, task_vars: t.Mapping[str, t.Any], host: str) -> t.List[str]:
        """In a real run on a control-plane, etcd or ungrouped host: the other such hosts of the run where a
        stage failed (a rollout stopped by another host is not itself a cause). On a worker: the workers of
        earlier batches whose change was rolled back (a failed batch stops the worker rollout)."""
        groups = task_vars.get("groups") or {}
        workers = set(groups.get("kube_node") or []) - set(groups.get("kube_control_plane") or []) - set(groups.get("etcd") or [])
        hostvars = task_vars.get("hostvars") or {}
        if host in workers:
            return [name for name in sorted(workers) if name != host and name in hostvars
                    and any(f["stage"] == "rollback" for f in _host_state.current_failures(hostvars[name]))]
        stopped = []
        for name in groups.get("all") or []:
            if name == host:
                # Only the hosts before this one in the rollout order: a host after it fails later in the
                # one-at-a-time play (even when its plan, made at once before, already failed).
                break
            if name in workers or name not in hostvars:
                continue
            if any(f["stage"] != "rollout" for f in _host_state.current_failures(hostvars[name])):
                stopped.append(name)
        return stopped
