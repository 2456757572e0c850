#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: report
short_description: Write the kubefort report for every host, on the controller
version_added: 0.1.0
description:
  - Aggregates the results that the hardening roles stored in the host facts C(kubefort_results) and
    C(kubefort_host) of every inventory host, plus the cluster-wide results in C(kubefort_cluster_results) of
    O(cluster_host) (reported as the pseudo-host C(cluster)), into one report.
  - Writes C(report.json) (schema C(docs/report.schema.json)), C(kube-bench/<host>.json) in kube-bench's JSON
    layout, C(report.xml) (JUnit), C(report.md) and a self-contained C(report.html) into O(dest).
  - This is an action plugin that runs on the controller; it never connects to the hosts it reports on.
  - The report is written in check mode too (an audit is a check-mode run), and the task never reports
    C(changed), so a second run of a playbook stays at C(changed=0).
  - It does not fail when findings remain; it returns RV(gate) so a task can fail after the report is
    written (the C(kubefort.hardening.report) role does that for C(kubefort_fail_on)).
author:
  - kubefort maintainers (@kubefort)
extends_documentation_fragment:
  - kubefort.hardening.attributes
  - kubefort.hardening.attributes.CONTROLLER
attributes:
  check_mode:
    support: full
    details: The report files are written in check mode as well; nothing on any managed host changes.
  diff_mode:
    support: none
options:
  dest:
    description:
      - Directory the report files are written into; created when missing. A relative path is relative
        to the current directory of the C(ansible-playbook) process.
    type: path
    required: true
  hosts:
    description:
      - Inventory hosts to report on, in this order. By default every inventory host that has
        C(kubefort_results) or C(kubefort_host) facts.
    type: list
    elements: str
  cluster_host:
    description: Host whose C(kubefort_cluster_results) fact holds the cluster-wide results.
    type: str
    default: localhost
  expected_groups:
    description:
      - Hosts in these groups that have no results are listed as RV(summary_lines) warning and in the
        report's C(run.hosts_without_results) (unreachable, failed or not audited).
    type: list
    elements: str
    default: [kube_control_plane, kube_node, etcd]
  compare:
    description:
      - Path of the C(report.json) of an earlier run. The report then lists what is new, fixed and
        regressed since then.
    type: path
  merge:
    description:
      - C(report.json) files of other runs to merge into this report, one per slice of a sliced job (AWX job
        slicing) or per controller, so that one report covers the whole fleet. Each node host may be in one
        of them only; a host this run has results for is taken from this run; the cluster pseudo-host from
        the newest file. Hosts of the inventory in none of them count as without results.
      - With only O(merge) (a play on C(localhost) after the slices, no node plays), the report is the
        fleet report of the slices.
    type: list
    elements: path
    default: []
  fail_on:
    description:
      - Lowest severity of an open finding (V(fail), V(would_fix) or V(error)) that makes RV(gate.failed)
        true. V(none) never does.
    type: str
    default: none
    choices: [none, low, medium, high, critical]
  formats:
    description:
      - Which files to write. V(prometheus) writes C(kubefort.prom) (Prometheus text format for
        node_exporter's textfile collector), V(policy_report) C(policy-reports.json) (wgpolicyk8s.io/v1alpha2
        ClusterPolicyReports as a v1 List for C(kubectl apply -f)), V(oscal) C(oscal-assessment-results.json)
        (OSCAL assessment results) and V(sarif) C(report.sarif) (SARIF 2.1.0); they are not written by default.
    type: list
    elements: str
    default: [json, kube_bench, junit, markdown, html]
    choices: [json, kube_bench, junit, markdown, html, prometheus, policy_report, oscal, sarif]
  policy_reports_api:
    description:
      - Also create or update the ClusterPolicyReports through the Kubernetes API (opt-in). The objects
        are written in check mode too, as they are the report, not a change to any node or policy.
      - Needs the C(kubernetes) Python package on the controller and the right to create, get and patch
        C(clusterpolicyreports.wgpolicyk8s.io), whose CRD must be installed (policy-reporter and Kyverno install it).
    type: dict
    suboptions:
      enabled:
        description: Write the reports through the API.
        type: bool
        default: false
      kubeconfig:
        description: Kubeconfig file; the client's default location when empty and no O(policy_reports_api.host) is given.
        type: path
      context:
        description: Context of the kubeconfig.
        type: str
      in_cluster:
        description: Use the pod's service account.
        type: bool
        default: false
      host:
        description: API server URL (with O(policy_reports_api.api_key)).
        type: str
      api_key:
        description: Bearer token.
        type: str
      ca_cert:
        description: CA bundle of the API server.
        type: path
      validate_certs:
        description: Verify the API server's certificate.
        type: bool
        default: true
      request_timeout:
        description: Seconds to wait for each API call.
        type: float
        default: 20
  benchmark:
    description:
      - The CIS Kubernetes Benchmark. V(auto) keeps each host's own, chosen by its Kubernetes version
        (see M(kubefort.hardening.node_harden)); V(cis-1.12) or V(cis-2.0)
        reports every host against that one. Every report names the benchmark of each host.
    type: str
    choices: [auto, cis-1.12, cis-2.0]
    default: auto
  profile:
    description: Profile recorded in the report's run metadata.
    type: str
    default: level1
  worst:
    description: How many of the most severe open findings RV(stats) lists.
    type: int
    default: 10
notes:
  - Must run through its action plugin; calling the module directly on a host fails.
seealso:
  - name: Report formats
    description: docs/reports.md in the collection describes every file and field.
    link: https://example.invalid/kubefort/hardening/docs/reports.md
"""

EXAMPLES = r"""
- name: Write the kubefort report for the fleet
  kubefort.hardening.report:
    dest: ./kubefort-report/
    compare: ./previous/report.json
    fail_on: high
  register: kubefort_report

- name: Fail the play when high or critical findings remain
  ansible.builtin.fail:
    msg: "{{ kubefort_report.gate.findings }} findings at or above high remain"
  when: kubefort_report.gate.failed
"""

RETURN = r"""
dest:
  description: Absolute path of the report directory.
  returned: success
  type: str
files:
  description: Absolute paths of the files written.
  returned: success
  type: list
  elements: str
summary:
  description: Counts by status, open findings by severity, score and gate, as in C(report.json).
  returned: success
  type: dict
gate:
  description: Result of O(fail_on).
  returned: success
  type: dict
  contains:
    fail_on:
      description: The threshold.
      type: str
    findings:
      description: Open findings at or above the threshold.
      type: int
    failed:
      description: Whether any such finding remains.
      type: bool
comparison:
  description: New, fixed and regressed findings since O(compare); null without O(compare).
  returned: success
  type: dict
stats:
  description: Compact counts per status and host, score, the worst findings and the gate, for C(set_stats).
  returned: success
  type: dict
summary_lines:
  description: A readable summary of the report, one line a list item.
  returned: success
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubefort.hardening.plugins.module_utils._cluster_snapshot import connection_options

FORMATS = ["json", "kube_bench", "junit", "markdown", "html"]
OPTIONAL_FORMATS = ["prometheus", "policy_report", "oscal", "sarif"]
ARGUMENT_SPEC = {
    "dest": {"type": "path", "required": True},
    "hosts": {"type": "list", "elements": "str"},
    "cluster_host": {"type": "str", "default": "localhost"},
    "expected_groups": {"type": "list", "elements": "str", "default": ["kube_control_plane", "kube_node", "etcd"]},
    "compare": {"type": "path"},
    "merge": {"type": "list", "elements": "path", "default": []},
    "fail_on": {"type": "str", "default": "none", "choices": ["none", "low", "medium", "high", "critical"]},
    "formats": {"type": "list", "elements": "str", "default": FORMATS, "choices": FORMATS + OPTIONAL_FORMATS},
    "policy_reports_api": {
        "type": "dict",
        "options": connection_options(enabled={"type": "bool", "default": False}),
    },
    "benchmark": {"type": "str", "default": "auto", "choices": ["auto", "cis-1.12", "cis-2.0"]},
    "profile": {"type": "str", "default": "level1"},
    "worst": {"type": "int", "default": 10},
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.fail_json(
        msg="kubefort.hardening.report must run through its action plugin on the controller "
        "(use it as a task; do not run the module file on a host)."
    )


if __name__ == "__main__":
    main()
