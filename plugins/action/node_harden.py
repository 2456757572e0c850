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
from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options
from ansible_collections.kubefort.hardening.plugins.plugin_utils._harden import HardenError, run, select_rules


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
            outcome = run(
                call_module, args["root"], rules, options, bool(self._task.check_mode),
                args["backup_dir"], bool(self._task.diff),
            )
        except HardenError as exc:
            return dict(result, failed=True, msg=str(exc))
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        result.update(outcome)
        if not result["diff"]:
            result.pop("diff")
        return result
