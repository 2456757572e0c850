#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kubeadm_config
short_description: Read and patch kubeadm's cluster configuration so that node fixes survive kubeadm upgrade
version_added: 0.2.0
description:
  - C(kubeadm upgrade apply) and C(kubeadm upgrade node) render the control plane's static pod manifests again
    from the ClusterConfiguration in C(kube-system/kubeadm-config), and C(kubeadm upgrade node) writes
    C(/var/lib/kubelet/config.yaml) from the KubeletConfiguration in C(kube-system/kubelet-config).
  - With O(state=read), reads both ConfigMaps from the API (the cluster play's credentials) or from saved
    C(kubectl get -o json) output in O(snapshot_files) and returns them as RV(kubeadm_state); M(kubefort.hardening.node_harden)
    then says, for every result of a kubeadm node, whether the next upgrade would write the setting back.
  - With O(state=fix), collects from the results of O(hosts) what keeps each reverted fix (C(extraArgs) of the
    component, in the ConfigMap's own API version - a map in C(kubeadm.k8s.io/v1beta3), a list of C(name)/C(value)
    in C(kubeadm.k8s.io/v1beta4) - C(extraVolumes) for the files kubefort mounts, KubeletConfiguration keys) and,
    with O(remediate), sends one merge patch per ConfigMap with the C(resourceVersion) it read (a ConfigMap that
    changed in between is not written; run again). Rules that are skipped, waived or of a higher level are not
    in the results, so they are not written either.
  - This is an action plugin that runs on the controller.
author:
  - kubefort maintainers (@kubefort)
extends_documentation_fragment:
  - kubefort.hardening.attributes
  - kubefort.hardening.attributes.CONTROLLER
  - kubefort.hardening.kubernetes_api
attributes:
  check_mode:
    support: full
    details: The patches are sent with C(dryRun=All); the API server validates them and stores nothing.
  diff_mode:
    support: full
    details: Shows each ConfigMap key before and after.
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second run reports no change.
    support: full
    details: A second run finds nothing that an upgrade would revert and writes nothing.
options:
  state:
    description: V(read) the two ConfigMaps, or V(fix) them from the node results.
    type: str
    choices: [read, fix]
    default: read
  snapshot_files:
    description: Saved API objects holding the two ConfigMaps (read only; O(state=fix) needs a live cluster to write).
    type: list
    elements: path
    default: []
  hosts:
    description: Inventory hosts whose C(kubefort_results) are collected (O(state=fix)), or whose kubelet C(/configz) is read (O(state=read)).
    type: list
    elements: str
    default: []
  configz:
    description:
      - With O(state=read) and a live cluster, also read the kubelet C(/configz) (C(/api/v1/nodes/NAME/proxy/configz)) of
        every host of O(hosts) whose C(kubefort_root) is C(/), matching its Node by C(kubefort_node_name), the inventory
        name or C(ansible_host) (name or address). Returned as RV(kubelet_configz).
    type: bool
    default: true
  remediate:
    description: Write the patches (O(state=fix)); without it, only what would be patched is counted.
    type: bool
    default: false
seealso:
  - name: kubeadm upgrade
    description: What kubeadm upgrade rewrites.
    link: https://kubernetes.io/docs/reference/setup-tools/kubeadm/kubeadm-upgrade/
"""

EXAMPLES = r"""
- name: Read kubeadm's configuration before auditing the nodes
  kubefort.hardening.kubeadm_config:
    state: read
    kubeconfig: /etc/kubernetes/admin.conf
  register: kubeadm_read

- name: Keep the node fixes through the next kubeadm upgrade (preview with --check --diff)
  kubefort.hardening.kubeadm_config:
    state: fix
    hosts: "{{ groups['kube_control_plane'] + groups['kube_node'] }}"
    remediate: true
    kubeconfig: /etc/kubernetes/admin.conf
"""

RETURN = r"""
kubeadm_state:
  description: What was read (O(state=read)); empty when there is nothing to read.
  returned: O(state=read)
  type: dict
  sample:
    source: API https://10.0.0.11:6443
    kubeadm_config: {text: "apiServer: ...", resource_version: "1234", api_version: kubeadm.k8s.io/v1beta4}
    kubelet_config: {text: "apiVersion: kubelet.config.k8s.io/v1beta1 ...", resource_version: "1235"}
    errors: []
kubelet_configz:
  description: Per inventory host, C(node) and the kubelet's running C(configz), or C(error) (O(state=read), live cluster).
  returned: O(state=read)
  type: dict
  sample:
    worker1: {node: worker1, configz: {readOnlyPort: 0, authentication: {anonymous: {enabled: false}}}}
kubeadm_fix:
  description: The fix (O(state=fix)); C(kept) lists the host and rule of every result the patch keeps.
  returned: O(state=fix)
  type: dict
  sample:
    changed: true
    check_mode: false
    patched: [kube-system/kubeadm-config]
    kept: [{host: cp1, id: apiserver-profiling}]
    errors: []
"""
