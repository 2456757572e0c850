# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Action plugin of kubefort.hardening.report: aggregate every host's results on the controller."""

from __future__ import annotations

import datetime
import json
import os
import typing as t

from ansible.errors import AnsibleActionFail
from ansible.release import __version__ as ansible_version
from ansible_collections.kubefort.hardening.plugins.module_utils._cluster_snapshot import ClusterAPIError
from ansible_collections.kubefort.hardening.plugins.modules.report import ARGUMENT_SPEC
from ansible_collections.kubefort.hardening.plugins.plugin_utils import (
    _host_state,
    _kubeadm_config,
    _report_merge,
    _report_compare,
    _report_files,
    _report_model,
    _report_policy,
    _report_text,
)
from ansible_collections.kubefort.hardening.plugins.plugin_utils._controller import ControllerAction, plain

NODE_GROUPS = ("kube_control_plane", "kube_node", "etcd")


def collection_version() -> str:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        with open(os.path.join(root, "MANIFEST.json"), "rb") as handle:
            return str(json.load(handle)["collection_info"]["version"])
    except (OSError, ValueError, KeyError):
        pass
    try:
        with open(os.path.join(root, "galaxy.yml"), "r", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("version:"):
                    return line.split(":", 1)[1].strip().strip("'\"")
    except OSError:
        pass
    return "unknown"


class ActionModule(ControllerAction):
    def run(self, tmp: t.Any = None, task_vars: t.Optional[t.Dict[str, t.Any]] = None) -> t.Dict[str, t.Any]:
        result, task_vars, args = self.start(tmp, task_vars, ARGUMENT_SPEC)
        try:
            _host_state.check_options(task_vars, ["cluster", "report"], self._templar, _host_state.play_id(self._task))
        except _host_state.OptionsError as exc:
            raise AnsibleActionFail("kubefort settings: %s" % exc) from None
        try:
            hosts, missing = self._collect(args, task_vars)
            run = {
                "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "mode": "check" if self._play_context.check_mode else "apply",
                "benchmark": args["benchmark"],
                "profile": args["profile"],
                "collection_version": collection_version(),
                "ansible_version": ansible_version,
                "hosts_without_results": missing,
            }
            report = _report_model.build_report(hosts, run, args["fail_on"])
            if args.get("compare"):
                previous = _report_compare.load_previous(args["compare"])
                report["comparison"] = _report_compare.compare(report, previous, args["compare"])
            files = _report_files.render_all(report, args["formats"])
            written = _report_files.write_all(os.path.abspath(args["dest"]), files)
        except (_report_model.ReportInputError, _report_files.ReportWriteError, ValueError) as exc:
            raise AnsibleActionFail(str(exc)) from None
        lines = _report_text.summary_lines(report, _report_text.shown_files(args["dest"], written))
        if missing:
            lines.append("no results from: %s (unreachable, failed, or not audited)" % ", ".join(missing))
        api = args.get("policy_reports_api") or {}
        if api.get("enabled"):
            try:
                counts = _report_policy.write_through_api(report, api)
            except ClusterAPIError as exc:
                raise AnsibleActionFail(
                    "writing the ClusterPolicyReports through the Kubernetes API failed: %s. The report files are written "
                    "in %s; fix the connection (kubefort_cluster_*) or unset kubefort_report_policy_reports_apply."
                    % (exc, os.path.abspath(args["dest"]))) from None
            lines.append("ClusterPolicyReports through the API: %(created)d created, %(updated)d updated" % counts)
        failed = {host["name"]: host["failures"] for host in report["hosts"] if host.get("failures")}
        result.update(
            changed=False,
            dest=os.path.abspath(args["dest"]),
            files=written,
            summary=report["summary"],
            comparison=report["comparison"],
            gate=report["summary"]["gate"],
            stats=_report_model.awx_stats(report, args["worst"]),
            summary_lines=lines,
            failed_hosts=failed,
            failed_hosts_msg="; ".join("%s: %s" % (name, " / ".join("%s: %s" % (f["stage"], f["reason"]) for f in items))
                                       for name, items in failed.items()),
        )
        return result

    def _collect(self, args: t.Mapping[str, t.Any], task_vars: t.Mapping[str, t.Any]) -> t.Tuple[t.List[t.Dict[str, t.Any]], t.List[str]]:
        hostvars = task_vars.get("hostvars") or {}
        groups = task_vars.get("groups") or {}
        names = args.get("hosts") or list(groups.get("all") or [])
        limited = bool(task_vars.get("ansible_limit"))
        hosts, missing = [], []
        # Per-slice reports (merge): their hosts count as results of this run unless this run has its own.
        merged, merged_without = _report_merge.load_slices(args.get("merge") or [])
        kubeadm_fix = (hostvars.get(args["cluster_host"]) or {}).get("kubefort_kubeadm_fix")
        for name in names:
            if name not in hostvars:
                raise _report_model.ReportInputError("report: host %r is not in the inventory." % name)
            variables = hostvars[name]
            results = variables.get("kubefort_results")
            # The outcome of this run's opt-in kubeadm ConfigMap fix (roles/cluster, after the node plays).
            results = _kubeadm_config.with_fix(name, results, kubeadm_fix)
            info = variables.get("kubefort_host")
            if _host_state.is_stale(info):
                # Left in a persistent fact cache by an earlier run: not this run's results.
                results = info = None
            failures = _host_state.current_failures(variables)
            if results is None and info is None and not failures and name in merged:
                results, info, _kind = merged.pop(name)
            else:
                merged.pop(name, None)
            expected = bool(set(variables.get("group_names") or ()) & set(args["expected_groups"]))
            if results is None and info is None and not failures:
                if not expected:
                    continue
                missing.append(name)
                if limited:
                    # Left out by --limit: listed as such, not a failure of this run.
                    continue
                failures = [{"stage": "run", "reason": "no results: the host was unreachable or failed before "
                             "kubefort recorded anything (see the play output for %s)" % name}]
            info = plain(info) if info is not None else {}
            if isinstance(info, dict) and not info.get("roles"):
                info["roles"] = [g for g in variables.get("group_names") or () if g in NODE_GROUPS]
            hosts.append(_report_model.build_host(name, plain(results), info, failures=failures))
        cluster_vars = hostvars[args["cluster_host"]] if args["cluster_host"] in hostvars else {}
        cluster = cluster_vars.get("kubefort_cluster_results")
        # The cluster play records a cluster it could not audit (with kubefort_cluster_fail_on_error, or with
        # no results at all): the pseudo-host is a failed host, so the run fails after the report.
        cluster_failures = _host_state.current_failures({"kubefort_host_failures": cluster_vars.get("kubefort_cluster_failures")})
        if cluster_failures and cluster is None:
            cluster = []
        merged_cluster = merged.pop(_report_model.CLUSTER_HOST, None)
        # Hosts of the slices that this inventory does not name (another controller's inventory).
        for name, (results, info, kind) in merged.items():
            if not args.get("hosts"):
                hosts.append(_report_model.build_host(name, plain(results), plain(info), kind=kind))
        if cluster is not None:
            hosts.append(_report_model.build_host(_report_model.CLUSTER_HOST, plain(cluster), {"roles": ["cluster"]}, kind="cluster",
                                                  failures=cluster_failures))
        elif merged_cluster is not None:
            # Its version and benchmark follow the merged control-plane hosts, as in a single run.
            hosts.append(_report_model.build_host(_report_model.CLUSTER_HOST, plain(merged_cluster[0]), {"roles": ["cluster"]},
                                                  kind="cluster"))
        return hosts, missing
