#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: node_files
short_description: Change a Kubernetes node's files safely, or put them back from a backup
version_added: 0.1.0
description:
  - Applies a set of file changes computed on the controller (by M(kubefort.hardening.node_harden)) as one
    transaction. Every file is compared with the checksum it had when it was read; if any differs,
    nothing is written.
  - Each changed file is backed up under O(backup_dir) (outside every directory a component loads
    files from), written through a temporary dot-file beside it and renamed into place, keeping its
    owner, mode and SELinux context. When a write fails, the files already written are restored.
  - With O(state=restore) it puts files back from the backups a previous run returned.
extends_documentation_fragment:
  - kubefort.hardening.attributes
  - kubefort.hardening.attributes.FILES
  - kubefort.hardening.attributes.NODE
  - kubefort.hardening.attributes.ROOT
options:
  state:
    description: V(apply) writes O(files); V(restore) restores O(backups).
    type: str
    choices: [apply, restore]
    default: apply
  files:
    description: The changes to make.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Node path of the file.
        type: str
        required: true
      content:
        description: The whole new text of the file. Omit to change only its metadata.
        type: str
      expected_sha256:
        description:
          - SHA-256 of the text the change was computed from (V(absent) for a file that did not exist,
            V(present) for a file whose content was not read, V(directory) for a directory whose mode or
            owner changes). A file that no longer matches is not written, and neither is any other file of
            the call.
        type: str
      mode:
        description: Mode to set (octal string), or the mode of a new file (default V(0600)).
        type: str
      owner:
        description: Owner to set.
        type: str
      group:
        description: Group to set.
        type: str
      create_parents:
        description: Create the file's missing parent directories.
        type: bool
        default: false
      parents_mode:
        description: Mode of the parent directories O(files[].create_parents) creates.
        type: str
        default: "0755"
  backups:
    description: With O(state=restore), the C(backups) list a previous call returned.
    type: list
    elements: dict
    default: []
  backup_dir:
    description: Node directory under which each run keeps its backups, in a directory named after O(run_id).
    type: str
    default: /var/lib/kubefort/backups
  run_id:
    description: Name of this run's backup directory. Defaults to the current UTC time.
    type: str
  read_after:
    description:
      - After the files are written, read the node again as M(kubefort.hardening.node_facts) does with
        these options (C(read), C(stat), C(list), C(units), C(processes), C(versions), C(encryption)) and
        return it as RV(snapshot), so the next kubefort role of the run needs no round trip of its own.
        Not done in check mode or when nothing changed.
    type: dict
author:
  - kubefort maintainers (@kubefort)
"""

EXAMPLES = r"""
- name: Set the kubelet's read-only port to 0
  kubefort.hardening.node_files:
    files:
      - path: /var/lib/kubelet/config.yaml
        content: "{{ new_text }}"
        expected_sha256: "{{ old_sha256 }}"
  register: written

- name: Put the files back
  kubefort.hardening.node_files:
    state: restore
    backups: "{{ written.backups }}"
"""

RETURN = r"""
files:
  description: Per file, whether it changed and where its backup is.
  returned: success
  type: list
  elements: dict
backups:
  description:
    - The files written, each with C(path), C(backup) (null for a new file or a directory) and C(created);
      a directory also with C(directory), its C(mode), C(uid) and C(gid) before the change.
  returned: success
  type: list
  elements: dict
restored:
  description: With O(state=restore), the paths restored.
  returned: success
  type: list
  elements: str
snapshot:
  description:
    - With O(read_after), the node as read after the write (the RV(kubefort.hardening.node_facts#module:snapshot)
      of M(kubefort.hardening.node_facts)), or C(error) when it could not be read.
  returned: when O(read_after) is set and files were written
  type: dict
"""

import datetime

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubefort.hardening.plugins.module_utils._nodefs import NodeFS
from ansible_collections.kubefort.hardening.plugins.module_utils._safe_write import ChangeError, FileChange, Writer


def _read_after(root: str, wanted: dict) -> dict:
    """The node read again after the write, as node_facts reads it (``wanted``: its options), or the error."""
    # Imported here: only a write that is followed by another role's discovery needs it.
    from ansible_collections.kubefort.hardening.plugins.module_utils._node_snapshot import snapshot_for
    from ansible_collections.kubefort.hardening.plugins.module_utils._nodefs import NodeFSError

    try:
        return snapshot_for(root, wanted)
    except NodeFSError as exc:
        return {"error": str(exc)}


def run(module: AnsibleModule) -> dict:
    params = module.params
    run_id = params["run_id"] or datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    writer = Writer(module, NodeFS(params["root"]), params["backup_dir"], run_id)
    if params["state"] == "restore":
        if module.check_mode:
            return {"changed": bool(params["backups"]), "restored": []}
        return {"changed": bool(params["backups"]), "restored": writer.restore(params["backups"])}
    changes = [FileChange(spec) for spec in params["files"]]
    planned = writer.plan(changes)
    changed = any(p["changed"] for p in planned)
    if changed and not module.check_mode:
        writer.apply(changes, planned)
    result: dict = {
        "changed": changed,
        "files": [{k: v for k, v in p.items() if k != "diff"} for p in planned],
        "backups": writer.done,
    }
    if module._diff:
        result["diff"] = [p["diff"] for p in planned if p["content_changed"]]
    if params["read_after"] is not None and changed and not module.check_mode:
        result["snapshot"] = _read_after(params["root"], params["read_after"])
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "root": {"type": "path", "default": "/"},
            "state": {"type": "str", "choices": ["apply", "restore"], "default": "apply"},
            "files": {
                "type": "list", "elements": "dict", "default": [],
                "options": {
                    "path": {"type": "str", "required": True},
                    "content": {"type": "str"},
                    "expected_sha256": {"type": "str"},
                    "mode": {"type": "str"},
                    "owner": {"type": "str"},
                    "group": {"type": "str"},
                    "create_parents": {"type": "bool", "default": False},
                    "parents_mode": {"type": "str", "default": "0755"},
                },
            },
            "backups": {"type": "list", "elements": "dict", "default": []},
            "backup_dir": {"type": "str", "default": "/var/lib/kubefort/backups"},
            "run_id": {"type": "str"},
            "read_after": {"type": "dict"},
        },
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except (ChangeError, OSError) as exc:
        module.fail_json(msg="No file was left half-written: %s" % exc)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
