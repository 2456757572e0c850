#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: port_probe
short_description: Probe Kubernetes ports with anonymous HTTP(S) requests and report what each got
version_added: 0.1.0
description:
  - Sends anonymous requests, without any credentials, to the ports of one host; by default
    C(GET /pods) over HTTP to the kubelet read-only port 10255, C(GET /pods) over HTTPS to the kubelet
    API 10250 and C(GET /api) over HTTPS to the API server 6443.
  - Reports exactly what each probe got; connection refused, timeout, TLS failure, reset, or an HTTP
    status; and whether the anonymous request was denied (refused, timeout, TLS failure, reset,
    401 or 403). The response body is read and discarded, never returned.
  - Runs where Ansible runs it; on the node itself (probing loopback or the node address), or with
    C(delegate_to) on the controller or another inventory host, so that the real network path,
    firewalls included, is tested.
  - Server certificates are not verified; the probe tests access, not identity.
author:
  - kubefort maintainers (@kubefort)
options:
  host:
    description:
      - Address or name of the host to probe.
    type: str
    default: 127.0.0.1
  hosts:
    description:
      - Several hosts to probe in one run (one prober for a whole batch of nodes); overrides O(host).
        The results are in RV(runs), one per host.
    type: list
    elements: str
  probes:
    description:
      - The probes to send. When not given, the three anonymous probes described above (and, with
        O(include_health=true), the health probes).
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the probe in the results.
        type: str
        required: true
      port:
        description: TCP port.
        type: int
        required: true
      scheme:
        description: V(http) or V(https).
        type: str
        choices: [http, https]
        default: https
      path:
        description: Request path.
        type: str
        default: /
      kind:
        description:
          - V(anonymous) probes must be denied; V(health) probes may answer and are informational.
        type: str
        choices: [anonymous, health]
        default: anonymous
  include_health:
    description:
      - With the default probes, also probe the health endpoints (kubelet 10248 C(/healthz),
        kube-proxy 10256 C(/healthz), API server 6443 C(/readyz)), which may answer anonymously.
    type: bool
    default: false
  timeout:
    description: Seconds to wait for a connection and for an answer.
    type: float
    default: 3.0
extends_documentation_fragment:
  - kubefort.hardening.attributes
  - kubefort.hardening.attributes.READ_ONLY
  - kubefort.hardening.attributes.NODE
attributes:
  platform:
    details: Any host with Python; the node, the controller or another inventory host.
seealso:
  - module: kubefort.hardening.ports_audit
"""

EXAMPLES = r"""
- name: Probe the node from itself
  kubefort.hardening.port_probe:
    host: 127.0.0.1

- name: Probe the node from the controller, across the real network path
  kubefort.hardening.port_probe:
    host: "{{ ansible_host | default(inventory_hostname) }}"
    include_health: true
  delegate_to: localhost

- name: Probe one custom port
  kubefort.hardening.port_probe:
    host: 192.0.2.10
    probes:
      - {name: kubelet-api, port: 10250, scheme: https, path: /pods}
"""

RETURN = r"""
probes:
  description: One entry per probe, in order.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Probe name.
      type: str
      sample: kubelet-readonly
    kind:
      description: V(anonymous) or V(health).
      type: str
    url:
      description: The URL requested.
      type: str
      sample: http://192.0.2.10:10255/pods
    outcome:
      description: V(refused), V(timeout), V(tls_error), V(reset), V(unreachable), V(error) or V(http).
      type: str
    status:
      description: The HTTP status when O(probes[].kind) outcome is V(http), else null.
      type: int
      sample: 401
    denied:
      description: Whether the anonymous request was denied; null when it could not be decided (V(error), V(unreachable)).
      type: bool
    message:
      description: What happened, in words.
      type: str
      sample: HTTP 401 Unauthorized
runs:
  description: With O(hosts), one entry per host probed, with C(host) and its C(probes) (as RV(probes)).
  returned: when O(hosts) is set
  type: list
  elements: dict
prober:
  description: Host name of the machine the probes ran from.
  returned: success
  type: str
"""

import socket

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubefort.hardening.plugins.module_utils._probe import (
    ProbeSpecError,
    default_specs,
    run_probes,
)

PROBE_OPTIONS = {
    "name": {"type": "str", "required": True},
    "port": {"type": "int", "required": True},
    "scheme": {"type": "str", "choices": ["http", "https"], "default": "https"},
    "path": {"type": "str", "default": "/"},
    "kind": {"type": "str", "choices": ["anonymous", "health"], "default": "anonymous"},
}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "host": {"type": "str", "default": "127.0.0.1"},
            "hosts": {"type": "list", "elements": "str"},
            "probes": {"type": "list", "elements": "dict", "options": PROBE_OPTIONS},
            "include_health": {"type": "bool", "default": False},
            "timeout": {"type": "float", "default": 3.0},
        },
        supports_check_mode=True,
    )
    params = module.params
    specs = params["probes"] if params["probes"] is not None else default_specs(params["include_health"])
    try:
        if params["hosts"] is not None:
            runs = [{"host": host, "probes": run_probes(host, specs, params["timeout"])} for host in params["hosts"]]
            module.exit_json(changed=False, runs=runs, probes=[], prober=socket.gethostname())
        results = run_probes(params["host"], specs, params["timeout"])
    except ProbeSpecError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, probes=results, prober=socket.gethostname())


if __name__ == "__main__":
    main()
