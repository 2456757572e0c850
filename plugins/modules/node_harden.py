#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: node_harden
short_description: Audit and fix the CIS settings of Kubernetes components on one node
version_added: 0.1.0
description:
  - Discovers the effective settings of the selected components (running command lines, static pod
    manifests, the kubelet's systemd unit, drop-ins, environment files and config files) with
    M(kubefort.hardening.node_facts), evaluates every selected rule of the catalog, and, when not in
    check mode, writes the fixes with M(kubefort.hardening.node_files) in one transaction.
  - An audit takes one module round trip (two when a flag names a file outside the usual places); an
    apply adds one, whatever the number of rules.
  - Each setting is fixed where its effective value comes from; a kubelet flag is changed in the file
    and line that sets it, a config key in the file that defines it.
  - This is an action plugin; the evaluation runs on the controller.
extends_documentation_fragment:
  - kubefort.hardening.attributes
  - kubefort.hardening.attributes.FILES
  - kubefort.hardening.attributes.ACTION
  - kubefort.hardening.attributes.NODE
  - kubefort.hardening.attributes.ROOT
attributes:
  check_mode:
    details: Reports V(would_fix) for every rule a real run would fix, and C(changed) exactly as a real run.
options:
  components:
    description: Components whose rules run. Rules of components that do not run on the node are V(not_applicable).
    type: list
    elements: str
    required: true
    choices: [kube-apiserver, kube-controller-manager, kube-scheduler, etcd, kubelet, kube-proxy]
  rules:
    description: Only these rules (our IDs, CIS IDs such as V(4.2.4), or sections such as V(4.2)). Empty means all.
    type: list
    elements: str
    default: []
  skip_rules:
    description: Rules not to run, named as in O(rules). An unknown name fails the task.
    type: list
    elements: str
    default: []
  overrides:
    description: Expected values that replace the catalog's, by rule ID.
    type: dict
    default: {}
  waivers:
    description:
      - Accepted findings, each a dict with C(id) (our ID or CIS ID), C(reason) and optional C(expires) (YYYY-MM-DD).
      - A waived rule is reported as V(waived) and not fixed; after its expiry date it counts again.
    type: list
    elements: dict
    default: []
  level:
    description: CIS profile level; level 2 rules are V(not_applicable) under level 1.
    type: int
    choices: [1, 2]
    default: 1
  remediate:
    description: Fix failing rules. V(false) only reports, even outside check mode.
    type: bool
    default: true
  backup_dir:
    description: Node directory for backups (see M(kubefort.hardening.node_files)).
    type: str
    default: /var/lib/kubefort/backups
  apiserver_anonymous_auth_force:
    description:
      - Set C(--anonymous-auth=false) on API servers older than 1.32 even though the kubelet's anonymous
        HTTP probes then fail. Change the probes first.
    type: bool
    default: false
  apiserver_probes_tcp:
    description:
      - On API servers older than 1.32 whose manifest has anonymous C(httpGet) probes, replace the liveness,
        readiness and startup probes by C(tcpSocket) probes on the same host and port and set
        C(--anonymous-auth=false), in one manifest edit. A TCP probe does not see an unhealthy API server.
    type: bool
    default: false
  supplied:
    description:
      - Content for fixes that need the operator's decision, by input name, for example
        C(audit_policy), C(encryption_config) and C(admission_config) (the API server's audit policy,
        encryption provider configuration and admission control configuration). A rule whose input is
        missing fails with a message naming the role variable to set.
    type: dict
    default: {}
  benchmark:
    description:
      - The CIS Kubernetes Benchmark the host's results refer to. V(auto) picks it by the host's detected
        Kubernetes version as kube-bench's version mapping does (1.32-1.33 C(cis-1.12), 1.34 and later
        C(cis-2.0); C(cis-1.12) when the version is unknown or older). Results carry the IDs of both.
    type: str
    choices: [auto, cis-1.12, cis-2.0]
    default: auto
  role:
    description:
      - Name under which the results are recorded in the host fact C(kubefort_host.roles). By default
        V(control_plane) when O(components) names a control-plane component, else V(node).
    type: str
    choices: [control_plane, node]
  ports:
    description:
      - On a live node, collect what M(kubefort.hardening.ports_audit) needs (listening sockets and, with
        C(probe), the node's own probes) in the same round trip as the files; the options of
        M(kubefort.hardening.node_facts) O(kubefort.hardening.node_facts#module:ports). Later kubefort
        actions of the same run use this discovery instead of reading the node again (unless something
        was written).
    type: dict
  defer_restarts:
    description:
      - Outside check mode, with O(remediate), write the fixes only when they restart nothing (file modes and
        owners, files no running component reads yet). When a fix needs a restart (or a running process
        is older than its fixed file), write nothing, report as check mode does (V(would_fix)) and return
        C(deferred) true; run the task again without this option to make the fix and restart, in
        batches. C(playbooks/harden.yml) hardens every node at once this way and rolls out only the
        deferred ones. A second run of the task in the same play replaces the results of the first.
    type: bool
    default: false
  defer_writes:
    description:
      - Outside check mode, with O(remediate), write nothing; when anything would be written (or, with
        O(defer_restarts), restarted), report as check mode does (V(would_fix)) and return C(deferred) true;
        run the task again without this option to make the fixes. C(playbooks/harden.yml) plans the control-plane, etcd and ungrouped
        hosts at once this way and rolls out, one at a time, only the hosts with something to change.
    type: bool
    default: false
  restarts:
    description:
      - Whether this run makes the restarts its fixes need (the roles' restart handlers; false while
        provisioning, C(kubefort_provisioning), and on an offline tree). When false, a restart the plan names is
        not counted as a change (nothing is written or restarted), so the task reports no change.
    type: bool
    default: true
  rollout_group:
    description:
      - When the fixes were deferred (O(defer_restarts), O(defer_writes)), put the host in this inventory
        group for the rest of the run, as M(ansible.builtin.group_by) would, without a task of its own.
      - Set, the task is one of the plays that take every host at once, before any rollout, and writes
        whatever the other hosts' results. Unset, a real run on a control-plane, etcd or ungrouped host
        writes nothing once such a host before it in the inventory failed in this run (the one-at-a-time
        rollout of C(playbooks/harden.yml)), and on a worker once a worker's restart was rolled back.
    type: str
author:
  - kubefort maintainers (@kubefort)
"""

EXAMPLES = r"""
- name: Audit and fix the kubelet
  kubefort.hardening.node_harden:
    components: [kubelet]
    skip_rules: ["4.2.4"]
    waivers:
      - id: kubelet-anonymous-auth
        reason: legacy monitoring, replaced in Q3
        expires: "2027-09-30"
  register: kubelet_audit
"""

RETURN = r"""
ansible_facts:
  description:
    - C(kubefort_results) with this task's results appended and C(kubefort_host) with its host metadata
      merged (C(roles), C(mode), C(round_trips), C(run)), for the report role; no C(set_fact) needed.
  returned: success
  type: dict
kubefort_progress:
  description: This host's place in the play and score so far, for the kubefort.hardening.progress callback.
  returned: success
  type: dict
results:
  description: One result per selected rule (see docs/architecture.md for the keys).
  returned: always
  type: list
  elements: dict
host:
  description:
    - C(layout), C(kubernetes_version), C(root), C(live) and the C(components) found.
    - C(version_source) (where the version comes from, or why it is unknown), C(component_versions)
      (each component's C(version) and C(source)), C(version_dependent_rules) (when the version is
      unknown, the rules whose verdict depends on it), C(benchmark) and C(benchmark_reason).
  returned: always
  type: dict
restart:
  description: What must restart for the changes to apply, C(kubelet) (bool) and C(static_pods) (names).
  returned: always
  type: dict
backups:
  description: The files written, each with C(path) and C(backup) (for M(kubefort.hardening.node_files) O(kubefort.hardening.node_files#module:state=restore)).
  returned: always
  type: list
  elements: dict
round_trips:
  description: Module round trips this task made.
  returned: always
  type: int
deferred:
  description:
    - With O(defer_restarts), whether the fixes need a restart and were left for a later run (nothing written);
      with O(defer_writes), whether there was anything to write (or, with both, to restart; nothing written).
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubefort.hardening.plugins.module_utils._harden_args import ARGUMENT_SPEC


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.fail_json(msg="kubefort.hardening.node_harden runs as an action plugin on the controller; call it as a task.")


if __name__ == "__main__":
    main()
