#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_firewall
short_description: Allow Kubernetes ports only from configured sources, in a firewall table of our own
version_added: 0.1.0
description:
  - Filters only the ports listed in O(ports); every other port is left to the node's own firewall.
    New connections to a managed port are accepted from its sources and O(common_sources), from
    loopback, from O(keep_sources) and from the SSH client Ansible is connected from; already
    established connections are always accepted. Every other new connection gets a TCP reset, so a
    client sees "connection refused".
  - With nftables, the rules live in their own table C(inet kubefort), replaced in one transaction.
    Where C(nft) is absent, an C(iptables)/C(ip6tables) chain C(KUBEFORT-INPUT) hooked first into
    C(INPUT) is used instead.
  - The SSH client address comes from C(SSH_CONNECTION), looked up in the module's environment and in
    its ancestors' (C(become) drops it). The port that SSH connection uses can never be managed.
  - With O(persist=true), the rules are written to C(/etc/kubefort/) and loaded at boot by the systemd
    unit C(kubefort-firewall.service) (ordered after C(nftables.service), whose C(flush ruleset) would
    otherwise drop them). O(state=absent) removes the loaded rules, the files and the unit.
  - Idempotent; the loaded ruleset carries a fingerprint of what was rendered, so a second run with
    the same input changes nothing, and check mode predicts exactly.
author:
  - kubefort maintainers (@kubefort)
options:
  state:
    description: V(present) loads and persists the firewall; V(absent) removes every trace of it.
    type: str
    choices: [present, absent]
    default: present
  backend:
    description: V(auto) uses nftables when C(nft) exists, else iptables.
    type: str
    choices: [auto, nftables, iptables]
    default: auto
  ports:
    description: The managed ports and who may connect to each.
    type: list
    elements: dict
    default: []
    suboptions:
      port:
        description: TCP port.
        type: int
        required: true
      sources:
        description: Addresses or CIDRs (IPv4 or IPv6) allowed to connect; empty means loopback and the kept sources only.
        type: list
        elements: str
        default: []
      comment:
        description: Shown as the comment of the port's accept rules.
        type: str
  common_sources:
    description: Addresses or CIDRs allowed on every managed port (for example node-local DNS).
    type: list
    elements: str
    default: []
  keep_sources:
    description: Addresses or CIDRs always allowed to everything (bastions, the controller).
    type: list
    elements: str
    default: []
  detect_ssh_client:
    description: Allow the SSH client Ansible connects from (see the description).
    type: bool
    default: true
  persist:
    description: Write the rules and the systemd unit so they survive a reboot; V(false) removes them.
    type: bool
    default: true
  persist_root:
    description: Directory under which C(etc/kubefort/) and the unit are written. V(/) on a real node.
    type: path
    default: /
extends_documentation_fragment:
  - kubefort.hardening.attributes
  - kubefort.hardening.attributes.NODE
attributes:
  check_mode:
    support: full
    details: Predicts exactly whether the loaded rules, the files or the unit link change.
  diff_mode:
    support: full
    details: Shows the files and unit link before and after, and the loaded ruleset's fingerprint.
  platform:
    details: Linux with nftables or iptables; run with C(become).
notes:
  - Workloads that reach the kubelet API from pods (metrics-server, Prometheus) need their pod CIDR
    in the sources of port 10250.
seealso:
  - module: kubefort.hardening.ports_audit
"""

EXAMPLES = r"""
- name: Allow the kubelet API only from the control plane; close the read-only and cAdvisor ports
  kubefort.hardening.host_firewall:
    ports:
      - {port: 10250, sources: [192.0.2.10, 192.0.2.11, 10.244.0.0/16], comment: kubelet API}
      - {port: 10255, comment: kubelet read-only}
      - {port: 4194, comment: cAdvisor}
      - {port: 10256, sources: [35.191.0.0/16, 130.211.0.0/22], comment: kube-proxy health}
    common_sources: [169.254.20.10]
  become: true

- name: Remove the firewall
  kubefort.hardening.host_firewall:
    state: absent
  become: true
"""

RETURN = r"""
backend:
  description: The backend used, V(nftables) or V(iptables).
  returned: success
  type: str
fingerprint:
  description: The fingerprint of the rendered ruleset (null when absent).
  returned: success
  type: str
  sample: kubefort:3f2a9c0d1b7e6a54
ssh_client:
  description: The SSH client address found (always allowed), or null.
  returned: success
  type: str
kept_sources:
  description: Every address always allowed (O(keep_sources) and the SSH client).
  returned: success
  type: list
  elements: str
managed_ports:
  description: The managed ports with their effective sources.
  returned: success
  type: list
  elements: dict
systemd:
  description:
    - Whether systemd runs this host (C(/run/systemd/system) exists), so that the persisted unit can be
      started now. The ports role's handler reads it instead of gathered facts.
  returned: success
  type: bool
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubefort.hardening.plugins.module_utils import _firewall

COMMANDS = {
    "nftables": ("nft",),
    "iptables": ("iptables", "ip6tables", "iptables-restore", "ip6tables-restore"),
}


def find_commands(module: AnsibleModule, backend: str) -> tuple:
    choices = ("nftables", "iptables") if backend == "auto" else (backend,)
    for choice in choices:
        paths = {name: module.get_bin_path(name) for name in COMMANDS[choice]}
        if all(paths.values()):
            return choice, paths
    raise _firewall.FirewallError(
        "no usable firewall tool: install the nftables package (nft), or iptables (iptables, ip6tables, "
        "iptables-restore, ip6tables-restore) for backend=iptables"
    )


def run_module(module: AnsibleModule) -> dict:
    params = module.params
    ssh_client, ssh_port = (None, None)
    if params["detect_ssh_client"]:
        ssh_client, ssh_port = _firewall.ssh_client_address(os.environ)
    keep = [_firewall._network(s, "keep_sources") for s in params["keep_sources"]]
    if ssh_client:
        keep.append(_firewall._network(ssh_client, "SSH client"))
    keep = sorted(set(keep), key=_firewall._sort_key)
    policies = _firewall.parse_policies(params["ports"], params["common_sources"], [ssh_port] if ssh_port else [])
    backend, commands = find_commands(module, params["backend"])

    def run(argv, data):
        return module.run_command(argv, data=data, binary_data=True, environ_update={"LANG": "C", "LC_ALL": "C"})

    live = _firewall.LiveFirewall(backend, commands, run)
    desired = _firewall.plan(params["state"], backend, policies, keep, commands)
    changed, diffs = _firewall.converge(desired, live, params["persist_root"], params["persist"], module.check_mode)
    systemd = os.path.isdir("/run/systemd/system")
    if changed and not module.check_mode and params["persist_root"] == "/" and systemd:
        module.run_command(["systemctl", "daemon-reload"], check_rc=False)
    result = {
        "changed": changed,
        "backend": backend,
        "fingerprint": desired.mark,
        "ssh_client": ssh_client,
        "kept_sources": keep,
        "managed_ports": [{"port": p.port, "sources": list(p.sources), "comment": p.comment} for p in policies],
        "systemd": systemd,
    }
    if module._diff:
        result["diff"] = diffs
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "backend": {"type": "str", "choices": ["auto", "nftables", "iptables"], "default": "auto"},
            "ports": {"type": "list", "elements": "dict", "default": [], "options": {
                "port": {"type": "int", "required": True},
                "sources": {"type": "list", "elements": "str", "default": []},
                "comment": {"type": "str"},
            }},
            "common_sources": {"type": "list", "elements": "str", "default": []},
            "keep_sources": {"type": "list", "elements": "str", "default": []},
            "detect_ssh_client": {"type": "bool", "default": True},
            "persist": {"type": "bool", "default": True},
            "persist_root": {"type": "path", "default": "/"},
        },
        supports_check_mode=True,
    )
    try:
        result = run_module(module)
    except (_firewall.FirewallError, OSError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
