#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: component_health
short_description: Wait until a Kubernetes component runs the new settings and is healthy
version_added: 0.1.0
description:
  - Polls until the component is healthy or O(timeout) seconds have passed, then fails with what it saw last.
  - For a static pod, first waits for a B(new) process whose C(/proc/<pid>/cmdline) is exactly O(command)
    (the manifest's C(command) + C(args)) and that started after the manifest changed, so that the kubelet
    has picked up the change. Then the health endpoint must answer 200.
  - "Health endpoints: kubelet C(/healthz) on 127.0.0.1:10248; kube-apiserver C(/readyz) on 6443, with the client
    certificate of O(kubeconfig) when it exists (so it works with anonymous auth off) or anonymously
    (C(/readyz) is an anonymous health path by default); kube-controller-manager and kube-scheduler
    C(/healthz) on 10257 and 10259; etcd C(/health) on its first C(--listen-metrics-urls) HTTP URL.
    C(--secure-port) and C(--bind-address) in O(command) are honoured. V(static-pod) is any other static
    pod: only its new process is waited for."
  - Reads only; never changes the node.
extends_documentation_fragment:
  - kubefort.hardening.attributes
  - kubefort.hardening.attributes.READ_ONLY
  - kubefort.hardening.attributes.NODE
options:
  component:
    description: The component to wait for.
    type: str
    required: true
    choices: [kubelet, kube-apiserver, kube-controller-manager, kube-scheduler, etcd, static-pod]
  command:
    description:
      - The static pod's command line (container C(command) followed by C(args)). When given, a process
        with exactly this command line must run.
    type: list
    elements: str
    default: []
  manifest:
    description:
      - Path of the static pod manifest that changed. A process started before the manifest's last
        change (its ctime) does not count. Ignored when O(started_after) is given.
    type: path
  started_after:
    description: Only processes started at or after this time (seconds since the epoch) count.
    type: float
  kubeconfig:
    description:
      - Kubeconfig whose client certificate authenticates the kube-apiserver health request and whose CA
        verifies the server. Skipped when the file does not exist (the request is then anonymous).
    type: path
    default: /etc/kubernetes/admin.conf
  host:
    description: Address of the health endpoint, when not the loopback or the component's C(--bind-address).
    type: str
  port:
    description: Port of the health endpoint, when not the default or the component's C(--secure-port).
    type: int
  timeout:
    description: Seconds to wait before failing.
    type: int
    default: 120
seealso:
  - module: kubefort.hardening.node_files
author:
  - kubefort maintainers (@kubefort)
"""

EXAMPLES = r"""
- name: Wait for the kubelet to answer /healthz after its restart
  kubefort.hardening.component_health:
    component: kubelet
    timeout: 60

- name: Wait for the kubelet to run the changed kube-apiserver manifest and for /readyz
  kubefort.hardening.component_health:
    component: kube-apiserver
    command: "{{ manifest.spec.containers[0].command + (manifest.spec.containers[0].args | default([])) }}"
    manifest: /etc/kubernetes/manifests/kube-apiserver.yaml
    kubeconfig: /etc/kubernetes/admin.conf
"""

RETURN = r"""
healthy:
  description: Always V(true) on success (the module fails otherwise).
  returned: success
  type: bool
url:
  description: The health URL that answered 200 (null when the component has none to probe).
  returned: success
  type: str
  sample: https://127.0.0.1:6443/readyz
pid:
  description: PID of the new process that runs O(command).
  returned: success
  type: int
started:
  description: When that process started (seconds since the epoch).
  returned: success
  type: float
authenticated:
  description: Whether the health request used the client certificate of O(kubeconfig).
  returned: success
  type: bool
elapsed:
  description: Seconds waited.
  returned: always
  type: float
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubefort.hardening.plugins.module_utils._component_health import HealthError, wait_healthy


def run(module: AnsibleModule) -> dict:
    params = module.params
    started_after = params["started_after"]
    if started_after is None and params["manifest"]:
        try:
            started_after = os.stat(params["manifest"]).st_ctime
        except OSError as exc:
            raise HealthError("cannot read the manifest %s: %s" % (params["manifest"], exc.strerror)) from None
    result = wait_healthy(
        params["component"], params["command"], started_after, params["timeout"],
        kubeconfig=params["kubeconfig"], host=params["host"], port=params["port"],
    )
    result["changed"] = False
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "component": {"type": "str", "required": True,
                          "choices": ["kubelet", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd",
                                      "static-pod"]},
            "command": {"type": "list", "elements": "str", "default": []},
            "manifest": {"type": "path"},
            "started_after": {"type": "float"},
            "kubeconfig": {"type": "path", "default": "/etc/kubernetes/admin.conf"},
            "host": {"type": "str"},
            "port": {"type": "int"},
            "timeout": {"type": "int", "default": 120},
        },
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except HealthError as exc:
        module.fail_json(msg=str(exc), healthy=False)
    except (OSError, ValueError) as exc:
        module.fail_json(msg="Could not check %s: %s" % (module.params["component"], exc), healthy=False)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
