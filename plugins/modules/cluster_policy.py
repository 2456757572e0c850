#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cluster_policy
short_description: Audit and fix cluster policy (CIS Kubernetes Benchmark section 5) through the Kubernetes API
version_added: 0.1.0
description:
  - Reads RBAC objects, namespaces, service accounts, pods, services and network policies once (one list
    call per kind) and evaluates the cluster rules of the catalog (CIS 1.12 section 5) on that snapshot.
  - The same evaluation runs on a saved dump (C(kubectl get ... -o json) output) given in O(snapshot_files),
    so an audit needs no access to the cluster.
  - With O(remediate), fixes what can be fixed safely; C(automountServiceAccountToken=false) on default
    service accounts, Pod Security Admission labels on namespaces (warn and audit; enforce only with
    O(psa_enforce)), removal of bindings that grant to C(system:anonymous) or C(system:unauthenticated),
    and a default-deny NetworkPolicy in the namespaces listed in O(default_deny_namespaces).
  - In check mode every write is sent with the API's server-side dry run (C(dryRun=All)), so admission and
    validation run and nothing is stored.
  - Runs where the Kubernetes client and credentials are, usually the controller (C(delegate_to=localhost)).
author:
  - kubefort maintainers (@kubefort)
requirements:
  - kubernetes (the Python client) to read a live cluster; not needed with O(snapshot_files).
extends_documentation_fragment:
  - kubefort.hardening.attributes
  - kubefort.hardening.attributes.ACTION
  - kubefort.hardening.kubernetes_api
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file. Without it (and without O(host) or O(in_cluster)) the client's default
        (C(KUBECONFIG) or C(~/.kube/config)) is used.
  client_cert:
    description: Client certificate file.
    type: path
  client_key:
    description: Client key file.
    type: path
  snapshot_files:
    description:
      - Saved API objects to audit instead of a live cluster; JSON as C(kubectl get KINDS -A -o json) writes
        it (a C(List), an API C(XList), several documents in one file) or as O(save_snapshot) writes it.
      - Kinds the files do not contain are evaluated as having no objects; results say so.
    type: list
    elements: path
    default: []
  save_snapshot:
    description: Write the snapshot read from the cluster to this file (JSON), for a later offline audit.
    type: path
  rules:
    description:
      - Only these rules (our IDs, CIS IDs or CIS sections); empty means every cluster rule. Selectors that
        name only rules of other areas select no cluster rule.
    type: list
    elements: str
    default: []
  level:
    description: CIS profile level; rules of a higher level are reported as C(not_applicable).
    type: int
    choices: [1, 2]
    default: 1
  waivers:
    description:
      - Accepted findings, each with C(id) (our ID or CIS ID), C(reason) and optional C(expires) (YYYY-MM-DD).
        A waived rule is reported as C(waived) and not fixed; after the expiry date it counts again.
    type: list
    elements: dict
    default: []
  skip_rules:
    description:
      - Rules not to evaluate; our IDs (V(pod-host-path)), CIS IDs (V(5.2.11)) or CIS sections (V(5.2)).
        Skipped rules are reported with status C(skipped). An unknown ID fails the task.
    type: list
    elements: str
    default: []
  selection:
    description:
      - Set by the module's action plugin, not by hand. The cluster rules O(rules) and O(skip_rules) select,
        resolved on the controller against the whole rule catalog (an ID of a node or ports rule selects no
        cluster rule there, an ID of no rule fails the task); keys C(rules) and C(skipped), lists of our rule IDs.
        Without it, O(rules) and O(skip_rules) are resolved against the cluster rules alone.
    type: dict
  exempt_namespaces:
    description:
      - Namespaces whose system workloads need host access; their pods are reported in the message but
        do not fail the pod rules, and no Pod Security label is put on them.
    type: list
    elements: str
    default: [kube-system]
  remediate:
    description: Fix what can be fixed (each kind of fix has its own switch below). Nothing is written without it.
    type: bool
    default: false
  fix_default_service_accounts:
    description: With O(remediate), set C(automountServiceAccountToken=false) on every default service account.
    type: bool
    default: true
  psa_labels:
    description: With O(remediate), add missing Pod Security Admission C(warn) and C(audit) labels at O(psa_level).
    type: bool
    default: true
  psa_enforce:
    description: With O(remediate) and O(psa_labels), also add the C(enforce) label where none is set.
    type: bool
    default: false
  psa_level:
    description: The Pod Security Standard the labels name.
    type: str
    choices: [baseline, restricted]
    default: baseline
  remove_anonymous_bindings:
    description:
      - With O(remediate), remove C(system:anonymous) and C(system:unauthenticated) from bindings that grant
        them more than health and discovery; a binding left without subjects is deleted.
    type: bool
    default: true
  anonymous_allowed_bindings:
    description:
      - Bindings (C(namespace/name) for a RoleBinding, C(name) for a ClusterRoleBinding) that may grant to
        anonymous users. The default keeps the binding C(kubeadm join) uses to read the C(cluster-info) ConfigMap.
    type: list
    elements: str
    default: [kube-public/kubeadm:bootstrap-signer-clusterinfo]
  default_deny_namespaces:
    description:
      - With O(remediate), create the NetworkPolicy C(kubefort-default-deny) (all pods, no traffic allowed
        for O(default_deny_policy_types)) in each of these namespaces that has no NetworkPolicy yet.
    type: list
    elements: str
    default: []
  default_deny_policy_types:
    description: What the default-deny policy denies. V(Egress) also blocks DNS unless other policies allow it.
    type: list
    elements: str
    choices: [Ingress, Egress]
    default: [Ingress]
attributes:
  check_mode:
    support: full
    details: Writes are sent with C(dryRun=All); the server validates them and stores nothing.
  diff_mode:
    support: full
    details: Shows the fields each write changes.
  platform:
    support: full
    platforms: posix
    details: Runs where the Kubernetes API can be reached, usually the controller.
notes:
  - Which subjects are built in (C(system:*) users and groups, service accounts in C(kube-system), the
    C(system:masters) and C(kubeadm:cluster-admins) groups) is decided by name; the RBAC rules do not list them.
  - A cluster-wide Pod Security default in the API server's AdmissionConfiguration, an external policy
    engine and the kubelet's C(seccompDefault) cannot be seen through the API.
seealso:
  - name: CIS Kubernetes Benchmark
    description: Section 5, Policies.
    link: https://www.cisecurity.org/benchmark/kubernetes
"""

EXAMPLES = r"""
- name: Audit cluster policy with the admin kubeconfig
  kubefort.hardening.cluster_policy:
    kubeconfig: /etc/kubernetes/admin.conf
  delegate_to: localhost
  register: kubefort_cluster

- name: Audit a saved dump (kubectl get ns,sa,pods,svc,clusterroles,clusterrolebindings,roles,rolebindings,netpol -A -o json)
  kubefort.hardening.cluster_policy:
    snapshot_files: [cluster.json]

- name: Label namespaces for Pod Security (warn/audit) and fix default service accounts; preview with --check --diff
  kubefort.hardening.cluster_policy:
    kubeconfig: ~/.kube/config
    context: prod
    remediate: true
    default_deny_namespaces: [shop]
"""

RETURN = r"""
results:
  description: One result per cluster rule, in the report model (docs/architecture.md).
  returned: always
  type: list
  elements: dict
  sample:
    - id: default-sa-automount
      cis: 5.1.5
      status: would_fix
      actual: "1: namespace shop: automountServiceAccountToken unset (defaults to true)"
findings:
  description: Every finding of every rule (results show the first few), by rule ID.
  returned: success
  type: dict
snapshot:
  description: Where the objects came from, how many of each kind, and the kinds that could not be read and why.
  returned: success
  type: dict
  sample:
    source: API https://10.0.0.11:6443
    counts: {Pod: 12}
    missing: {NetworkPolicy: "API group/version networking.k8s.io/v1 is not served by this cluster (404)"}
diff:
  description: The fields each write changes (with --diff).
  returned: changed and diff mode
  type: list
  elements: dict
"""

import json
import os
import tempfile
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubefort.hardening.plugins.module_utils import _cluster_policy as policy
from ansible_collections.kubefort.hardening.plugins.module_utils._errors import rule_error
from ansible_collections.kubefort.hardening.plugins.module_utils._policy import PolicyError, Selection, select
from ansible_collections.kubefort.hardening.plugins.module_utils._cluster_snapshot import (
    ClusterAPIError,
    ClusterConnection,
    connection_options,
)
from ansible_collections.kubefort.hardening.plugins.module_utils._rules_cluster import RULES

AUTH_KEYS = ("kubeconfig", "context", "in_cluster", "host", "api_key", "ca_cert", "client_cert", "client_key",
             "validate_certs")
OPTION_KEYS = ("level", "waivers", "exempt_namespaces", "anonymous_allowed_bindings", "remediate", "fix_default_service_accounts",
               "psa_labels", "psa_level", "psa_enforce", "remove_anonymous_bindings", "default_deny_namespaces",
               "default_deny_policy_types")

ARGUMENT_SPEC: t.Dict[str, t.Any] = {
    **connection_options(client_cert={"type": "path"}, client_key={"type": "path", "no_log": False}),
    "snapshot_files": {"type": "list", "elements": "path", "default": []},
    "save_snapshot": {"type": "path"},
    "rules": {"type": "list", "elements": "str", "default": []},
    "level": {"type": "int", "choices": [1, 2], "default": 1},
    "waivers": {"type": "list", "elements": "dict", "default": []},
    "skip_rules": {"type": "list", "elements": "str", "default": []},
    "selection": {"type": "dict"},
    "exempt_namespaces": {"type": "list", "elements": "str", "default": ["kube-system"]},
    "remediate": {"type": "bool", "default": False},
    "fix_default_service_accounts": {"type": "bool", "default": True},
    "psa_labels": {"type": "bool", "default": True},
    "psa_enforce": {"type": "bool", "default": False},
    "psa_level": {"type": "str", "choices": ["baseline", "restricted"], "default": "baseline"},
    "remove_anonymous_bindings": {"type": "bool", "default": True},
    "anonymous_allowed_bindings": {"type": "list", "elements": "str",
                                   "default": ["kube-public/kubeadm:bootstrap-signer-clusterinfo"]},
    "default_deny_namespaces": {"type": "list", "elements": "str", "default": []},
    "default_deny_policy_types": {"type": "list", "elements": "str", "choices": ["Ingress", "Egress"],
                                  "default": ["Ingress"]},
}


def _load_files(paths: t.Sequence[str]) -> t.Dict[str, t.Any]:
    docs: t.List[t.Any] = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                docs.extend(policy.parse_json_documents(f.read(), path))
        except OSError as exc:
            raise policy.ClusterPolicyError("cannot read snapshot file %s: %s" % (path, exc.strerror)) from None
    # Results name the files, not the controller's directories: reports are shared beyond the controller.
    return policy.snapshot_from_documents(docs, "snapshot " + ", ".join(os.path.basename(p) for p in paths))


def _save(path: str, snap: t.Mapping[str, t.Any]) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".kubefort-snapshot-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(snap, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except OSError as exc:
        raise policy.ClusterPolicyError("cannot write snapshot to %s: %s" % (path, exc.strerror)) from None


def _apply(conn: ClusterConnection, actions: t.Sequence[policy.Action], dry_run: bool) -> t.Dict[t.Any, t.Optional[str]]:
    applied: t.Dict[t.Any, t.Optional[str]] = {}
    for index, action in enumerate(actions):
        try:
            applied[action.key] = conn.apply(action, dry_run)
        except ClusterAPIError as exc:
            applied[action.key] = rule_error(exc)
            for later in actions[index + 1:]:
                applied[later.key] = "not attempted: " + str(exc)
            break
    return applied


def _in_catalog_order(results: t.List[t.Dict[str, t.Any]]) -> t.List[t.Dict[str, t.Any]]:
    order = {rule.id: index for index, rule in enumerate(RULES)}
    return sorted(results, key=lambda result: order[result["id"]])


def selection(params: t.Mapping[str, t.Any]) -> Selection:
    """The cluster rules that run and those skipped: as the action plugin resolved them (``selection``), else
    ``rules`` / ``skip_rules`` resolved against the cluster rules (PolicyError for an ID of none)."""
    given = params.get("selection")
    if given is None:
        return select(RULES, params["rules"], params["skip_rules"])
    chosen, skipped = set(given.get("rules") or ()), set(given.get("skipped") or ())
    return Selection(tuple(r for r in RULES if r.id in chosen), tuple(r for r in RULES if r.id in skipped))


def run_module(params: t.Mapping[str, t.Any], check_mode: bool) -> t.Dict[str, t.Any]:
    """Snapshot, evaluate, fix. Returns the module result; ``failed`` with ``msg`` when nothing could be audited."""
    try:
        chosen = selection(params)
    except PolicyError as exc:
        return policy.selection_failed(exc)
    rules, skipped = list(chosen.rules), list(chosen.skipped)
    try:
        opts = policy.ClusterOptions(**{key: tuple(params[key]) if isinstance(params[key], list) else params[key]
                                        for key in OPTION_KEYS})
        if params["in_cluster"] and (params["kubeconfig"] or params["snapshot_files"]):
            raise policy.ClusterPolicyError("in_cluster cannot be combined with kubeconfig or snapshot_files; choose one.")
        if params["snapshot_files"]:
            if params["remediate"]:
                raise policy.ClusterPolicyError(
                    "remediate needs a live cluster; snapshot_files are only audited. Unset one of them.")
            conn, snap = None, _load_files(params["snapshot_files"])
        else:
            conn = ClusterConnection({key: params[key] for key in AUTH_KEYS}, timeout=params["request_timeout"])
            snap = conn.snapshot()
        if params["save_snapshot"]:
            _save(params["save_snapshot"], snap)
        outcomes = policy.evaluate(rules, snap, opts)
        actions = policy.plan(outcomes)
        applied = _apply(conn, actions, dry_run=check_mode) if conn is not None and actions else {}
    except policy.ClusterPolicyError as exc:  # bad input: no results, the task fails
        return {"failed": True, "msg": str(exc), "changed": False, "results": []}
    except ClusterAPIError as exc:  # the cluster cannot be read: every rule is reported as an error
        return {"failed": True, "msg": str(exc), "changed": False,
                "results": _in_catalog_order(policy.error_results(rules, exc) + policy.skipped_results(skipped))}
    done = [a for a in actions if a.key in applied and applied[a.key] is None]
    return {
        "changed": bool(done),
        "results": _in_catalog_order(policy.results(outcomes, applied, check_mode) + policy.skipped_results(skipped)),
        "findings": policy.findings_by_rule(outcomes),
        "snapshot": {"source": snap["source"], "counts": policy.counts(snap), "missing": snap["missing"]},
        "diff": policy.diff_of(done),
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        required_together=[("client_cert", "client_key")],
    )
    result = run_module(module.params, module.check_mode)
    if not module._diff:
        result.pop("diff", None)
    if result.get("failed"):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
