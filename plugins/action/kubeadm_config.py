# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils._cluster_snapshot import ClusterAPIError, connection_options
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _kubeadm_config
from ansible_collections.kubefort.hardening.plugins.plugin_utils._controller import ControllerAction

ARGUMENT_SPEC: t.Dict[str, t.Any] = connection_options(
    state={"type": "str", "choices": ["read", "fix"], "default": "read"},
    snapshot_files={"type": "list", "elements": "path", "default": []},
    hosts={"type": "list", "elements": "str", "default": []},
    configz={"type": "bool", "default": True},
    remediate={"type": "bool", "default": False},
)
AUTH_KEYS = ("kubeconfig", "context", "in_cluster", "host", "api_key", "ca_cert", "validate_certs")


class ActionModule(ControllerAction):
    def run(self, tmp: t.Any = None, task_vars: t.Optional[t.Dict[str, t.Any]] = None) -> t.Dict[str, t.Any]:
        result, task_vars, args = self.start(tmp, task_vars, ARGUMENT_SPEC, name="kubeadm_config")
        if result.get("failed"):
            return result
        auth = {key: args[key] for key in AUTH_KEYS}
        live = bool(args["in_cluster"] or args["kubeconfig"] or args["host"])
        try:
            if args["state"] == "read":
                configz: t.Dict[str, t.Any] = {}
                if args["snapshot_files"]:
                    state = _kubeadm_config.read_files(args["snapshot_files"])
                elif live:
                    state, configz = _kubeadm_config.read_live(auth, args["request_timeout"], self._live_hosts(args, task_vars))
                else:
                    state = {}
                return dict(result, changed=False, kubeadm_state=state, kubelet_configz=configz,
                            msg=_kubeadm_config.read_summary(state))
            hostvars = task_vars.get("hostvars") or {}
            hosts = {name: hostvars[name].get("kubefort_results") or [] for name in args["hosts"] if name in hostvars}
            keeps = _kubeadm_config.collect(hosts)
            if not keeps["items"]:
                return dict(result, changed=False, kubeadm_fix=_kubeadm_config.empty_fix(bool(self._task.check_mode)),
                            msg="no fix a kubeadm upgrade would revert can be kept in kubeadm's configuration")
            if not args["remediate"]:
                return dict(result, changed=False, kubeadm_fix=_kubeadm_config.empty_fix(bool(self._task.check_mode), keeps),
                            msg="%d fixes would be reverted by a kubeadm upgrade; kubefort_cluster_kubeadm_remediate patches "
                                "kube-system/kubeadm-config and kubelet-config to keep them" % len(keeps["items"]))
            if args["snapshot_files"] or not live:
                return dict(result, failed=True, msg="kubefort_cluster_kubeadm_remediate needs a live cluster "
                            "(kubefort_cluster_kubeconfig, kubefort_cluster_host or kubefort_cluster_in_cluster); a saved "
                            "dump is only audited")
            outcome = _kubeadm_config.fix_live(auth, args["request_timeout"], keeps, bool(self._task.check_mode))
        except (ClusterAPIError, _kubeadm_config.KubeadmConfigError) as exc:
            return dict(result, failed=True, msg=str(exc), kubefort_failure=str(exc))
        result.update(changed=outcome["changed"], kubeadm_fix=outcome, msg=outcome["msg"])
        if self._task.diff and outcome.get("diff"):
            result["diff"] = outcome["diff"]
        if outcome.get("errors"):
            result.update(failed=True, msg="; ".join(outcome["errors"]), kubefort_failure="; ".join(outcome["errors"]))
        return result

    def _live_hosts(self, args: t.Mapping[str, t.Any], task_vars: t.Mapping[str, t.Any]) -> t.Dict[str, t.List[str]]:
        """Inventory hosts that are live nodes (no other kubefort_root), with the names their Node may have."""
        if not args["configz"]:
            return {}
        hostvars = task_vars.get("hostvars") or {}
        out: t.Dict[str, t.List[str]] = {}
        for name in args["hosts"]:
            if name not in hostvars or name == "localhost":
                continue
            variables = hostvars[name]
            root = self._templar.template(variables.get("kubefort_root", "/"))
            if root not in ("", "/", None):
                continue  # an offline node: no kubelet runs there
            candidates = (variables.get("kubefort_node_name"), name, variables.get("ansible_host"))
            out[name] = [str(self._templar.template(v)) for v in candidates if v]
        return out
