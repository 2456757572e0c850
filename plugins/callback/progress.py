# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: progress
type: aggregate
short_description: One kubefort line per host, in host order, with its place in the play and its score
version_added: 0.1.0
description:
  - Prints a line such as C(kubefort [3/6] worker1 - score 80.0%, 2 would_fix, 8 pass) once a host's
    kubefort roles are done, in the order of the play's hosts (never out of order as the hosts finish), with no task
    of its own; the numbers come from the results of the kubefort.hardening actions.
  - A host's line is printed when its last kubefort task of the play (the ports role's audit) is in and
    every host before it has been printed; what is left (failed hosts, plays without the ports role) is
    printed at the end of the play or of the run.
  - Enable it with C(callbacks_enabled = kubefort.hardening.progress) in C(ansible.cfg) (the
    repository's C(ansible.cfg) does) or C(ANSIBLE_CALLBACKS_ENABLED).
requirements:
  - enable in configuration
author:
  - kubefort maintainers (@kubefort)
"""

import typing as t

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "kubefort.hardening.progress"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._lines: t.Dict[int, t.Tuple[str, t.Dict[str, t.Any]]] = {}
        self._final: t.Set[int] = set()
        self._next = 1
        self._play = ""

    def _flush(self, everything: bool) -> None:
        while self._next in self._lines and (everything or self._next in self._final):
            self._print(self._next)
            self._next += 1
        if everything:
            for index in sorted(self._lines):
                self._print(index)
                self._next = max(self._next, index + 1)
            self._final.clear()

    def _print(self, index: int) -> None:
        entry = self._lines.pop(index, None)
        if entry is None:
            return
        host, info = entry
        self._display.display("kubefort [%d/%d] %s: score %s, %s" % (
            info.get("index"), info.get("total"), host, info.get("score"), info.get("counts")))

    def v2_runner_on_ok(self, result: t.Any) -> None:
        # ansible-core 2.19+ converts the whole result (every rule result, the host facts) to native types
        # the first time a callback reads ``result``; the one small key needed here is read from the copy
        # it already holds (_return_data), without that conversion.
        data = getattr(result, "_return_data", None)
        if not isinstance(data, dict):
            data = result._result
        info = data.get("kubefort_progress")
        if not isinstance(info, dict) or not info.get("index"):
            return
        index = int(info["index"])
        if index < self._next:
            return  # already printed
        self._lines[index] = (result._host.get_name(), info)
        if info.get("final"):
            self._final.add(index)
        # Hosts that failed before the final task never get there: their lines wait for the play's end.
        self._flush(False)

    def v2_playbook_on_play_start(self, play: t.Any) -> None:
        # Called again for each serial batch of the same play: its places go on from the last one.
        self._flush(True)
        uuid = str(getattr(play, "_uuid", ""))
        if uuid != self._play:
            self._play = uuid
            self._next = 1

    def v2_playbook_on_stats(self, stats: t.Any) -> None:
        self._flush(True)
