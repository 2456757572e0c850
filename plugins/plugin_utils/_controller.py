# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""What the collection's controller-only action plugins share (check_input, report, kubeadm_config).

They never connect to a host, support check mode, validate their arguments against their module's
argument spec, and read other hosts' variables, which they turn into plain data first.
"""

from __future__ import annotations

import json
import typing as t

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase


class ControllerAction(ActionBase):
    """An action plugin that runs on the controller only."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def start(self, tmp: t.Any, task_vars: t.Optional[t.Dict[str, t.Any]], argument_spec: t.Mapping[str, t.Any],
              name: t.Optional[str] = None) -> t.Tuple[t.Dict[str, t.Any], t.Dict[str, t.Any], t.Dict[str, t.Any]]:
        """The base result, the task variables and the validated arguments. A wrong argument fails the task
        (raises); with ``name``, the result is returned ``failed`` instead, with ``name: reason``, and no arguments."""
        result = super().run(tmp, task_vars)
        try:
            _validation, args = self.validate_argument_spec(argument_spec=dict(argument_spec))
        except AnsibleError as exc:
            if name is None:
                raise
            return dict(result, failed=True, msg="%s: %s" % (name, exc)), task_vars or {}, {}
        return result, task_vars or {}, args


def plain(value: t.Any) -> t.Any:
    """Native Python types (variables and facts may come back as Ansible's tagged or lazy containers)."""
    return json.loads(json.dumps(value, default=str))
