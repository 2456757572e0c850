#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: check_input
short_description: Check every host's kubefort variables before anything runs, on the controller
version_added: 0.1.0
description:
  - Checks the C(kubefort_*) variables of the given hosts against the argument specs of the
    kubefort.hardening roles (type, list elements, choices) and the rule IDs named in C(kubefort_rules),
    C(kubefort_skip_rules) and C(kubefort_waivers) against the rule catalog.
  - Fails with one line per problem, naming the variable, the expected type and an example, and the
    hosts concerned; C(playbooks/harden.yml) runs it once before any host is audited.
  - This is an action plugin that runs on the controller; it never connects to the hosts it checks.
author:
  - kubefort maintainers (@kubefort)
extends_documentation_fragment:
  - kubefort.hardening.attributes
  - kubefort.hardening.attributes.READ_ONLY
  - kubefort.hardening.attributes.CONTROLLER
options:
  hosts:
    description: Inventory hosts whose variables are checked.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Check the kubefort variables of every host of the play
  kubefort.hardening.check_input:
    hosts: "{{ ansible_play_hosts_all }}"
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
msg:
  description: On failure, every problem found (separated by C( | )), with the hosts concerned unless all are.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    module = AnsibleModule(argument_spec={"hosts": {"type": "list", "elements": "str", "required": True}}, supports_check_mode=True)
    module.fail_json(
        msg="kubefort.hardening.check_input is an action plugin that runs on the controller; call it from a play, "
            "not as a module on a node."
    )


if __name__ == "__main__":
    main()
