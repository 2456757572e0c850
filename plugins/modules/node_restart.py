#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: node_restart
short_description: Restart what a kubefort change needs on a live node and prove each part is back
version_added: 0.2.0
description:
  - Runs the restart plan that M(kubefort.hardening.node_harden) returns as C(restart), step by step, and
    stops at the first step that does not come back.
  - A V(unit) step runs C(systemctl reset-failed) (a unit that crash-looped into its start limit refuses a
    restart), C(systemctl daemon-reload) and C(systemctl restart) on its unit (the kubelet, a
    systemd etcd or kube-proxy, C(k3s), C(k3s-agent), C(rke2-server), C(rke2-agent),
    C(snap.microk8s.daemon-kubelite)). A V(static_pod) step restarts nothing, since the kubelet restarts
    the pod when its manifest changes.
  - Each step then waits, without fixed sleeps, for a B(new) process of each program it names, started
    after the restart (or after the manifest changed) and running exactly the expected command line (the
    manifest's, or the unit's own C(ExecStart) when the unit runs the program directly), and for a 200
    from each health endpoint, with the scheme, port and credentials the plan gives.
  - On a timeout the module fails with what it saw last and the component's last log lines (the unit's
    journal and the log files the step names, such as RKE2's kubelet log, or the static pod's container
    log) in RV(log).
  - With O(phase=rollback) the static pods must come back with their command line from before the
    change (the files having been restored).
extends_documentation_fragment:
  - kubefort.hardening.attributes
  - kubefort.hardening.attributes.NODE
attributes:
  check_mode:
    support: none
  diff_mode:
    support: none
options:
  steps:
    description:
      - The plan (C(restart) of M(kubefort.hardening.node_harden)); each step has C(kind) (V(unit) or
        V(static_pod)), C(unit) or C(manifest), C(processes) (C(program), C(command), C(rollback_command),
        C(unit)), C(health) (C(url), C(kubeconfig), C(default_kubeconfig), C(ca_file), C(cert_file),
        C(key_file)) and C(logs) (C(unit), C(identifier), C(files), C(pod)).
    type: list
    elements: dict
    required: true
  phase:
    description: V(apply) after the change, V(rollback) after its files were restored.
    type: str
    choices: [apply, rollback]
    default: apply
  timeout:
    description: Seconds to wait for each step.
    type: int
    default: 120
  kubeconfig:
    description:
      - Kubeconfig for health checks the plan marks C(default_kubeconfig) (a kubeadm API server's
        C(/readyz)); skipped when the file does not exist.
    type: path
    default: /etc/kubernetes/admin.conf
seealso:
  - module: kubefort.hardening.node_harden
  - module: kubefort.hardening.component_health
author:
  - kubefort maintainers (@kubefort)
"""

EXAMPLES = r"""
- name: Restart what the change needs and wait until it is back
  kubefort.hardening.node_restart:
    steps: "{{ kubefort_node_run.restart }}"
    timeout: 120
"""

RETURN = r"""
steps:
  description: One entry per step that came back, in order.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: The step's name.
      type: str
    pids:
      description: PIDs of the new processes.
      type: list
      elements: int
    urls:
      description: Health URLs that answered 200.
      type: list
      elements: str
    elapsed:
      description: Seconds the step took.
      type: float
failed_step:
  description: The step that did not come back.
  returned: failure
  type: str
log:
  description: The last log lines of the component of the failed step.
  returned: failure
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubefort.hardening.plugins.module_utils._restart import StepError, run_plan


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "steps": {"type": "list", "elements": "dict", "required": True},
            "phase": {"type": "str", "choices": ["apply", "rollback"], "default": "apply"},
            "timeout": {"type": "int", "default": 120},
            "kubeconfig": {"type": "path", "default": "/etc/kubernetes/admin.conf"},
        },
        supports_check_mode=False,
    )
    params = module.params
    bad = [i for i, s in enumerate(params["steps"]) if s.get("kind") not in ("unit", "static_pod")
           or not s.get("unit" if s.get("kind") == "unit" else "manifest")]
    if bad:
        module.fail_json(msg="steps %s: each step needs kind unit (with unit) or static_pod (with manifest)"
                         % ", ".join(str(i) for i in bad))
    try:
        done = run_plan(params["steps"], params["phase"], params["timeout"], params["kubeconfig"])
    except StepError as exc:
        module.fail_json(msg=str(exc), failed_step=exc.step, log=exc.log, changed=True)
    except (OSError, ValueError) as exc:
        module.fail_json(msg="Could not run the restart plan: %s" % exc, changed=True)
    module.exit_json(changed=bool(done), steps=done)


if __name__ == "__main__":
    main()
