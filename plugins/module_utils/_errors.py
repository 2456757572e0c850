# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The errors of every area, by what they mean for the run; each message says what happened and what to do.

- ``InputError``: the user's input cannot be used (an unknown rule ID, a malformed waiver, a bad option). The
  task fails with the one line before anything is judged; it is never a rule's result.
- ``UnreadableError``: something a rule needs could not be read, decoded or parsed (a config file the
  component would refuse). The rule is ``error``: fail closed, never ``not_applicable``.
- ``EditError``: a fix cannot be written safely (the text would not parse back, a component would refuse
  it). Nothing is written for the rules it serves; they are ``error``.
- ``APIError``: the Kubernetes API could not be asked, or refused a write. The rules it serves are ``error``.

``rule_error`` is the one mapping from an error to a rule's ``error`` message.
Standard library only: modules raise them too.
"""

from __future__ import annotations


class KubefortError(Exception):
    """The base of kubefort's errors."""


class InputError(KubefortError, ValueError):
    """The user's input cannot be used: the task fails with this message."""


class UnreadableError(KubefortError, ValueError):
    """Something a rule needs could not be read, decoded or parsed: the rule is ``error``."""


class EditError(KubefortError, ValueError):
    """A fix cannot be written safely: nothing is written, and the rules it serves are ``error``."""


class APIError(KubefortError):
    """The Kubernetes API could not be asked, or refused a write: the rules it serves are ``error``."""


def rule_error(exc: BaseException, context: str = "") -> str:
    """The message of the ``error`` result of a rule that ``exc`` stopped (``context`` first, when given).

    An InputError is raised again: bad input fails the task, it is never one rule's result.
    """
    if isinstance(exc, InputError):
        raise exc
    return "%s: %s" % (context, exc) if context else str(exc)
