#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: listening_ports
short_description: List the listening TCP sockets of a node and the processes that own them
version_added: 0.1.0
description:
  - Reads C(/proc/net/tcp) and C(/proc/net/tcp6), keeps the sockets in the LISTEN state, and maps each
    to the process that owns it through the C(socket:[inode]) links under C(/proc/<pid>/fd).
  - Classifies each socket as a known Kubernetes port or not, and by scope; V(loopback), V(node) (one
    address of the node) or V(any) (all addresses).
  - Reads only; it never changes the node.
  - The socket tables are those of the network namespace the module runs in, which is the host's for
    host-network components (kubelet, kube-proxy, static control-plane pods).
author:
  - kubefort maintainers (@kubefort)
options:
  proc_path:
    description:
      - Where the proc file system is mounted. Tests point it at a directory of captured contents.
    type: path
    default: /proc
extends_documentation_fragment:
  - kubefort.hardening.attributes
  - kubefort.hardening.attributes.READ_ONLY
  - kubefort.hardening.attributes.NODE
attributes:
  platform:
    details: Linux nodes (the module reads the Linux proc file system).
notes:
  - Run with C(become) so that the file descriptors of every process can be read; without it, sockets of
    other users' processes are listed with O(proc_path) data but without a process (RV(listeners[].pid) null).
seealso:
  - module: kubefort.hardening.ports_audit
  - module: kubefort.hardening.port_probe
"""

EXAMPLES = r"""
- name: List what listens on the node
  kubefort.hardening.listening_ports:
  become: true
  register: kubefort_listeners

- name: Show Kubernetes listeners bound to all addresses
  ansible.builtin.debug:
    msg: "{{ kubefort_listeners.listeners | selectattr('kubernetes') | selectattr('scope', 'eq', 'any') }}"
"""

RETURN = r"""
listeners:
  description: Every listening TCP socket, sorted by port.
  returned: success
  type: list
  elements: dict
  contains:
    family:
      description: V(ipv4) (from C(/proc/net/tcp)) or V(ipv6) (from C(/proc/net/tcp6)).
      type: str
    address:
      description: The bound address; IPv4-mapped IPv6 addresses are shown as IPv4.
      type: str
      sample: 127.0.0.1
    port:
      description: The TCP port.
      type: int
      sample: 10250
    scope:
      description: V(loopback), V(node) or V(any).
      type: str
    uid:
      description: The user ID that owns the socket.
      type: int
    inode:
      description: The socket's inode.
      type: int
    pid:
      description: The first process holding the socket, or null when no readable process holds it.
      type: int
    pids:
      description: Every process holding the socket.
      type: list
      elements: int
    process:
      description: The program name (base name of argv[0]), or null.
      type: str
      sample: kubelet
    known:
      description: Whether the port is a known Kubernetes port.
      type: bool
    component:
      description: The component a known port belongs to.
      type: str
      sample: kubelet
    purpose:
      description: What a known port serves.
      type: str
      sample: node API
    kubernetes:
      description: Whether the socket is Kubernetes-related (a known port or a Kubernetes process).
      type: bool
  sample:
    - {family: ipv6, address: "::", port: 10250, scope: any, uid: 0, inode: 8568, pid: 1010, pids: [1010],
       process: kubelet, known: true, component: kubelet, purpose: node API, kubernetes: true}
tables:
  description: The socket tables that could be read (V(tcp), V(tcp6)).
  returned: success
  type: list
  elements: str
unreadable_processes:
  description: How many processes' file descriptors could not be read (run with become to read them all).
  returned: success
  type: int
ipv6_any_covers_ipv4:
  description: Whether a socket bound to C(::) also accepts IPv4 connections (C(net.ipv6.bindv6only=0)).
  returned: success
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubefort.hardening.plugins.module_utils._sockets import (
    ProcReadError,
    listening_sockets,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={"proc_path": {"type": "path", "default": "/proc"}},
        supports_check_mode=True,
    )
    try:
        found = listening_sockets(module.params["proc_path"])
    except ProcReadError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **found)


if __name__ == "__main__":
    main()
