#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ports_audit
short_description: Audit what listens on a node and what anonymous requests get, against the ports rules
version_added: 0.1.0
description:
  - Lists the node's listening sockets (as M(kubefort.hardening.listening_ports)) and, unless
    O(probe=false), probes the node from itself (as M(kubefort.hardening.port_probe)), both in one
    M(kubefort.hardening.node_facts) round trip, or in none when M(kubefort.hardening.node_harden)
    already collected them in this run (its O(kubefort.hardening.node_harden#module:ports) option);
    takes probe results from other hosts through O(probe_results); then evaluates every rule of the
    ports area on the controller.
  - Returns one result per rule in the collection's report model (C(docs/architecture.md)).
  - Read-only; it never changes the node. Bindings are fixed by the node and control-plane roles, and
    access can be limited with M(kubefort.hardening.host_firewall).
  - With O(root) other than V(/) (an offline node image), nothing live can be checked; every rule is
    reported V(not_applicable) with the reason.
author:
  - kubefort maintainers (@kubefort)
options:
  root:
    description: Where the node's file system is. Anything but V(/) is an offline node.
    type: path
    default: /
  proc_path:
    description: Where the proc file system is mounted on the node.
    type: path
    default: /proc
  probe:
    description: Send the anonymous probes from the node itself.
    type: bool
    default: true
  probe_host:
    description: The address the node probes itself on (loopback, or its node address to include its own firewall path).
    type: str
    default: 127.0.0.1
  probe_timeout:
    description: Seconds each probe waits.
    type: float
    default: 3.0
  include_health:
    description: Also probe the health endpoints (informational).
    type: bool
    default: false
  probe_results:
    description:
      - Registered results of M(kubefort.hardening.port_probe) run elsewhere (C(delegate_to)), each
        optionally with a C(prober_label); their probes count like the node's own.
      - A result of a batched run (O(kubefort.hardening.port_probe#module:hosts)) holds every host's
        probes; the entry for O(probe_address) is used.
    type: list
    elements: dict
    default: []
  probe_address:
    description: This node's address as the batched probes of O(probe_results) name it.
    type: str
  allow_any_address:
    description:
      - Ports (numbers) or component or process names that may listen on all addresses; rule
        C(ports-no-any-address).
    type: list
    elements: raw
    default: [6443, 9345, 10250, 16443]
  kube_proxy_healthz_scopes:
    description: Scopes kube-proxy's health server may be bound to (V(loopback), V(node), V(any)).
    type: list
    elements: str
    default: [loopback, node]
  kube_proxy_metrics_scopes:
    description: Scopes kube-proxy's metrics server may be bound to.
    type: list
    elements: str
    default: [loopback]
  rules:
    description:
      - Only these rules (our IDs, CIS IDs or CIS sections, as everywhere); empty means all.
      - Other areas' IDs select nothing here; an ID that names no rule of any area fails the task.
    type: list
    elements: str
    default: []
  skip:
    description: Rules to report as V(skipped) (our IDs, CIS IDs or CIS sections).
    type: list
    elements: str
    default: []
  waivers:
    description:
      - Accepted findings, each with C(id), C(reason) and optional C(expires) (YYYY-MM-DD); a V(fail) or
        V(manual) rule is reported V(waived) until the waiver expires.
      - A rule that could not be judged stays V(error), with the waiver named in its message.
    type: list
    elements: dict
    default: []
  level:
    description: CIS profile level; rules of a higher level are V(not_applicable).
    type: int
    choices: [1, 2]
    default: 1
extends_documentation_fragment:
  - kubefort.hardening.attributes
  - kubefort.hardening.attributes.READ_ONLY
  - kubefort.hardening.attributes.ACTION
  - kubefort.hardening.attributes.NODE
attributes:
  platform:
    details: Linux nodes, read through M(kubefort.hardening.node_facts); the rules are evaluated on the controller.
seealso:
  - module: kubefort.hardening.listening_ports
  - module: kubefort.hardening.port_probe
  - module: kubefort.hardening.host_firewall
"""

EXAMPLES = r"""
- name: Audit the node's ports
  kubefort.hardening.ports_audit:
    allow_any_address: [6443, 10250]
  become: true
  register: kubefort_ports

- name: Probe from the controller too, then audit with both views
  kubefort.hardening.port_probe:
    host: "{{ ansible_host | default(inventory_hostname) }}"
  delegate_to: localhost
  register: kubefort_remote_probe

- name: Audit with the controller's probe results
  kubefort.hardening.ports_audit:
    probe_results: ["{{ kubefort_remote_probe | combine({'prober_label': 'controller'}) }}"]
  become: true
"""

RETURN = r"""
results:
  description: One result per ports rule, as in the report model (id, cis, status, actual, expected, source, ...).
  returned: success
  type: list
  elements: dict
listeners:
  description: Every listening socket, as returned by M(kubefort.hardening.listening_ports).
  returned: success
  type: list
  elements: dict
probes:
  description: Probe runs, each C({prober, host, probes}).
  returned: success
  type: list
  elements: dict
offline:
  description: Whether the node was offline (O(root) other than V(/)).
  returned: success
  type: bool
round_trips:
  description: Module runs on the node for this task (0 when the discovery of an earlier role was used).
  returned: success
  type: int
ansible_facts:
  description: C(kubefort_results) with these results appended and C(kubefort_host) updated, for the report role.
  returned: success
  type: dict
"""
