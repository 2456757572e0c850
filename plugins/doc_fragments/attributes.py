# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """What each attribute means (DOCUMENTATION), and the attribute sets several modules share; a module lists
    ``kubefort.hardening.attributes`` first, then the sets that fit, and adds only its own ``details``."""

    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in C(check_mode)), when in diff mode.
  platform:
    description: Target OS/families that can be operated against.
"""

    # A module that only reads.
    READ_ONLY = r"""
options: {}
attributes:
  check_mode:
    support: full
    details: It only reads, so check mode gives the same results.
  diff_mode:
    support: none
    details: Nothing is changed.
"""

    # A module that writes a node's files (one transaction, node_files).
    FILES = r"""
options: {}
attributes:
  check_mode:
    support: full
    details: Predicts exactly what a real run writes, and writes nothing.
  diff_mode:
    support: full
    details: Shows each file whose content changes, before and after.
"""

    # A module that runs on the managed node.
    NODE = r"""
options: {}
attributes:
  platform:
    support: full
    platforms: posix
    details: Managed hosts need only the Python standard library.
"""

    # An action plugin (its module file holds the documentation).
    ACTION = r"""
options: {}
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the work run on the controller.
    support: full
"""

    # An action plugin that works on the controller alone (ACTION's attribute included: a fragment is one literal).
    CONTROLLER = r"""
options: {}
attributes:
  platform:
    support: full
    platforms: posix
    details: Runs on the controller only (action plugin); it never connects to the inventory hosts.
  action:
    description: Indicates this has a corresponding action plugin so some parts of the work run on the controller.
    support: full
"""

    ROOT = r"""
options:
  root:
    description:
      - Directory at which the node's file system is mounted. V(/) works on the live node.
      - Any other directory is an offline node, an image or a copy. Every path is read and written
        under it, symlinks resolve inside it, and no process or service is looked at.
    type: path
    default: /
"""
