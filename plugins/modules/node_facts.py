#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: node_facts
short_description: Collect the files, units and processes that decide a Kubernetes node's settings
version_added: 0.1.0
description:
  - Reads, in one round trip, the configuration files, file metadata, directory listings, systemd
    unit command lines and running process command lines that the controller asks for.
  - Does not interpret YAML; M(kubefort.hardening.node_harden) does that on the controller.
  - Never reads key material unless asked to; the collection only asks to O(stat) certificates, keys
    and kubeconfigs.
  - Needs only the Python standard library on the node.
extends_documentation_fragment:
  - kubefort.hardening.attributes
  - kubefort.hardening.attributes.READ_ONLY
  - kubefort.hardening.attributes.NODE
  - kubefort.hardening.attributes.ROOT
options:
  read:
    description:
      - Node paths to read as UTF-8 text, with their metadata. A wildcard in the last path component
        or a trailing C(/**) (everything below a directory) is expanded on the node.
      - Files larger than 1 MiB or not UTF-8 are reported with an error instead of content.
    type: list
    elements: str
    default: []
  stat:
    description: Node paths (wildcards as for O(read)) whose type, mode, owner and group are returned.
    type: list
    elements: str
    default: []
  list:
    description: Directories whose entries are returned.
    type: list
    elements: str
    default: []
  units:
    description:
      - systemd units whose C(ExecStart) command line is expanded the way systemd does it (unit file,
        drop-ins, C(Environment=), C(EnvironmentFile=)), with the file and line of every word.
    type: list
    elements: str
    default: []
  processes:
    description: Program names whose running processes are returned (live nodes only).
    type: list
    elements: str
    default: []
  versions:
    description:
      - Where the node names its Kubernetes version. Keys C(packages) (package names looked up in the
        dpkg status file and the rpm sqlite database), C(binaries) (paths read in chunks for a version
        string, stopping at the first), C(binary_units) (units whose program is scanned first), C(links)
        (symlinks whose target is returned), C(binary_package) (the package the binaries belong to, by
        default the first of C(packages)) and C(scan) (V(if_no_package), the default, skips the binary
        scan when that package is installed; V(always)).
      - Only the matching package entries and the version strings are returned, never whole files.
    type: dict
  encryption:
    description:
      - Paths of API server EncryptionConfiguration files to summarise on the node. Their content, which
        holds keys, is never returned; the file's entry gets C(encryption) instead, with the resource names
        and provider types in order per entry (and the KMS API version), or an C(error).
    type: list
    elements: str
    default: []
  ports:
    description:
      - Also list the node's listening TCP sockets (as M(kubefort.hardening.listening_ports) does) and, when
        O(ports.probe) is set, probe the node's own Kubernetes ports anonymously (as
        M(kubefort.hardening.port_probe) does), in the same round trip. Live nodes only.
      - Returned in RV(snapshot.ports) for M(kubefort.hardening.ports_audit).
    type: dict
    suboptions:
      proc_path:
        description: Where the proc file system is.
        type: path
        default: /proc
      probe:
        description: Probe the node's own ports.
        type: bool
        default: false
      host:
        description: Address the probes connect to.
        type: str
        default: 127.0.0.1
      timeout:
        description: Seconds per probe.
        type: float
        default: 3.0
      include_health:
        description: Also probe the health endpoints.
        type: bool
        default: false
author:
  - kubefort maintainers (@kubefort)
"""

EXAMPLES = r"""
- name: Read the kubelet's configuration and command line
  kubefort.hardening.node_facts:
    read:
      - /var/lib/kubelet/config.yaml
      - /etc/kubernetes/manifests/*.yaml
    stat:
      - /etc/kubernetes/pki/**
    units:
      - kubelet.service
    processes:
      - kubelet
  register: node
"""

RETURN = r"""
snapshot:
  description: What was found.
  returned: success
  type: dict
  contains:
    root:
      description: The root directory used.
      type: str
      sample: /
    live:
      description: Whether this is the live node (O(root) is V(/)).
      type: bool
    files:
      description:
        - Node path to C(type), C(mode), C(owner), C(group), C(uid), C(gid), and for read files C(content) and C(sha256).
        - For O(encryption) paths C(encryption) (the summary) and never C(content) or C(sha256).
      type: dict
    patterns:
      description: Each wildcard pattern asked for, with the paths it matched (possibly none).
      type: dict
    listings:
      description: Directory to sorted entry names.
      type: dict
    units:
      description: Unit name to its expanded command (C(argv), C(argv_sources), C(env), C(env_files), C(errors)).
      type: dict
    processes:
      description: Program name to a list of C(pid), C(argv), C(start_ticks).
      type: dict
    versions:
      description: C(dpkg), C(rpm) (matching packages), C(binaries) (version found per scanned binary), C(links).
      type: dict
      returned: when O(versions) is given
    ports:
      description:
        - With O(ports) on a live node, C(listing) (the return values of M(kubefort.hardening.listening_ports),
          or C(error)) and, with O(ports.probe), C(probe) (C(host) and the C(probes) of
          M(kubefort.hardening.port_probe), or C(error)).
      type: dict
      returned: when O(ports) is set
"""

import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubefort.hardening.plugins.module_utils._node_snapshot import snapshot_for
from ansible_collections.kubefort.hardening.plugins.module_utils._nodefs import NodeFSError

PORTS_OPTIONS = {
    "proc_path": {"type": "path", "default": "/proc"},
    "probe": {"type": "bool", "default": False},
    "host": {"type": "str", "default": "127.0.0.1"},
    "timeout": {"type": "float", "default": 3.0},
    "include_health": {"type": "bool", "default": False},
}


def ports(options: t.Mapping[str, t.Any]) -> t.Dict[str, t.Any]:
    """Listening sockets and the node's own probes, each with an error instead when it cannot be done."""
    # Imported here: only a live node with the ports role needs them (ssl, http.client and ipaddress cost
    # every other node_facts run time for nothing; AnsiballZ compiles module_utils from source each run).
    from ansible_collections.kubefort.hardening.plugins.module_utils._probe import ProbeSpecError, default_specs, run_probes
    from ansible_collections.kubefort.hardening.plugins.module_utils._sockets import ProcReadError, listening_sockets

    found: t.Dict[str, t.Any] = {}
    try:
        found["listing"] = listening_sockets(options["proc_path"])
    except ProcReadError as exc:
        found["listing"] = {"error": str(exc)}
    if options["probe"]:
        try:
            found["probe"] = {"host": options["host"],
                              "probes": run_probes(options["host"], default_specs(options["include_health"]), options["timeout"])}
        except ProbeSpecError as exc:
            found["probe"] = {"error": str(exc)}
    return found


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "root": {"type": "path", "default": "/"},
            "read": {"type": "list", "elements": "str", "default": []},
            "stat": {"type": "list", "elements": "str", "default": []},
            "list": {"type": "list", "elements": "str", "default": []},
            "units": {"type": "list", "elements": "str", "default": []},
            "processes": {"type": "list", "elements": "str", "default": []},
            "versions": {"type": "dict"},
            "encryption": {"type": "list", "elements": "str", "default": []},
            "ports": {"type": "dict", "options": PORTS_OPTIONS},
        },
        supports_check_mode=True,
    )
    params = module.params
    try:
        found = snapshot_for(params["root"], params)
    except NodeFSError as exc:
        module.fail_json(msg="%s. Set kubefort_root to the directory where the node is mounted, or / on a live node." % exc)
    if params["ports"] is not None and found["live"]:
        found["ports"] = ports(params["ports"])
    module.exit_json(changed=False, snapshot=found)


if __name__ == "__main__":
    main()
