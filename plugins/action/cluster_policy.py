# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Action plugin of kubefort.hardening.cluster_policy: resolve the rule selection, then run the module.

``kubefort_rules`` / ``kubefort_skip_rules`` are shared by every role, so they are resolved against the whole
catalog (plugin_utils/_catalog), which lives on the controller only: an ID of a node or ports rule selects no
cluster rule, an ID of no rule fails the task in one line. The module gets the cluster rules chosen
(``selection``) and never needs the catalog.
"""

from __future__ import annotations

import typing as t

from ansible.module_utils.common.validation import check_type_list
from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash

from ansible_collections.kubefort.hardening.plugins.module_utils._cluster_policy import selection_failed
from ansible_collections.kubefort.hardening.plugins.module_utils._policy import PolicyError
from ansible_collections.kubefort.hardening.plugins.module_utils._rules_cluster import RULES
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _catalog


def with_selection(args: t.Mapping[str, t.Any]) -> t.Dict[str, t.Any]:
    """The module's arguments with ``selection``: the cluster rules ``rules`` and ``skip_rules`` name.

    Raises PolicyError for a selector that names no rule of the catalog, TypeError for one that is not a list."""
    only, skip = (check_type_list(args.get(key) or []) for key in ("rules", "skip_rules"))
    chosen = _catalog.select_in_area(RULES, [str(s) for s in only], [str(s) for s in skip])
    return dict(args, selection={"rules": [r.id for r in chosen.rules], "skipped": [r.id for r in chosen.skipped]})


class ActionModule(ActionBase):
    _supports_check_mode = True

    def run(self, tmp: t.Any = None, task_vars: t.Optional[t.Dict[str, t.Any]] = None) -> t.Dict[str, t.Any]:
        result = super().run(tmp, task_vars)
        try:
            module_args = with_selection(self._task.args)
        except PolicyError as exc:
            return dict(result, **selection_failed(exc))
        except TypeError as exc:
            return dict(result, failed=True, msg="rules / skip_rules: %s" % exc, results=[])
        result = merge_hash(result, self._execute_module(module_args=module_args, task_vars=task_vars))
        self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
