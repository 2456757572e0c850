# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""One host's audit and remediation, independent of Ansible: snapshot in, results and file changes out.

The action plugin supplies ``call_module`` (one module round trip); tests supply a local function.
"""

from __future__ import annotations

import dataclasses
import os
import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils import _errors
from ansible_collections.kubefort.hardening.plugins.module_utils import _benchmark, _policy
from ansible_collections.kubefort.hardening.plugins.module_utils._nodefs import sha256_text
from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Rule, make_result
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _catalog
from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import Node, covers
from ansible_collections.kubefort.hardening.plugins.plugin_utils._discovery import (
    FIRST_REQUEST,
    build_node,
    follow_up_request,
    merge_snapshots,
)
from ansible_collections.kubefort.hardening.plugins.plugin_utils import (
    _apiserver_files,
    _check_apiserver,
    _configz,
    _kubeadm_upgrade,
    _kubespray_vars,
    _layouts,
    _restart_plan,
    _staleness,
    _versions,
    _yaml_edit,
)
from ansible_collections.kubefort.hardening.plugins.plugin_utils._edits import Planner
from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Finding, Options, evaluate, stat_paths

CallModule = t.Callable[[str, t.Dict[str, t.Any]], t.Dict[str, t.Any]]

# Flags whose value names a file that rules read.
FILE_FLAGS = ("authentication-config", "admission-control-config-file")


class HardenError(_errors.KubefortError):
    """The run cannot go on for this host; the message says what to do."""


def selection(components: t.Sequence[str], only: t.Sequence[str], skip: t.Sequence[str]) -> _policy.Selection:
    """The rules of these components that run and those skipped (the policy layer's selection)."""
    try:
        return _catalog.select_in_area(_catalog.for_components(components), only, skip)
    except _policy.PolicyError as exc:
        raise HardenError(str(exc)) from None


def select_rules(components: t.Sequence[str], only: t.Sequence[str], skip: t.Sequence[str]) -> t.List[Rule]:
    """Rules for these components, narrowed to ``only`` and without ``skip`` (IDs, CIS IDs or sections)."""
    return list(selection(components, only, skip).rules)


def discover(call_module: CallModule, root: str, rules: t.Sequence[Rule] = (),
             cached: t.Optional[t.Dict[str, t.Any]] = None,
             first_extra: t.Optional[t.Mapping[str, t.Any]] = None) -> t.Tuple[t.Dict[str, t.Any], int, Node]:
    """The node snapshot, in one round trip (two when a flag points outside the usual places).

    Round one reads every distribution's places at once (_layouts.first_request), so the layout is known
    without a round trip of its own. A file that a file read in round two names (an AdmissionConfiguration
    plugin's ``path``) needs a third.
    ``cached`` is round one as an earlier role of this run made it (no
    round trip then); ``first_extra`` are more node_facts options for round one (the ports data).
    """
    trips = 0
    if cached is not None:
        snapshot = cached
    else:
        first = call_module("kubefort.hardening.node_facts", dict(FIRST_REQUEST, root=root, **(first_extra or {})))
        if first.get("failed") or "snapshot" not in first:
            raise HardenError(first.get("msg", "node_facts returned no snapshot"))
        snapshot = first["snapshot"]
        trips = 1
    node = build_node(snapshot)
    request = follow_up_request(snapshot, [p for p in stat_paths(node, rules) if not _known(snapshot, p, stat_only=True)])
    for _round in range(2):
        reads, summaries = _file_flag_paths(node, rules)
        wanted_reads = [p for p in reads if not _known(snapshot, p)]
        wanted_summaries = [p for p in summaries if "encryption" not in snapshot.get("files", {}).get(p, {})
                            and snapshot.get("files", {}).get(p, {}).get("type") != "missing"]
        if wanted_reads or wanted_summaries:
            request = dict(request) if request else {}
            request["read"] = list(request.get("read", [])) + [p for p in wanted_reads if p not in request.get("read", [])]
            if wanted_summaries:
                request["encryption"] = wanted_summaries
        if not request:
            break
        more = call_module("kubefort.hardening.node_facts", dict(request, root=root))
        if more.get("failed") or "snapshot" not in more:
            raise HardenError(more.get("msg", "node_facts returned no snapshot"))
        snapshot = merge_snapshots(snapshot, more["snapshot"])
        trips += 1
        node = build_node(snapshot)
        request = {}
    return snapshot, trips, node


def _known(snapshot: t.Mapping[str, t.Any], path: str, stat_only: bool = False) -> bool:
    """Whether round one already says what is at ``path`` (read, or only stat'ed when that is enough),
    or that nothing is there because a pattern covering it matched nothing at that place."""
    entry = snapshot.get("files", {}).get(path)
    if entry is not None:
        return stat_only or "content" in entry or entry.get("type") in ("missing", "dir") or "error" in entry
    for pattern, matches in snapshot.get("patterns", {}).items():
        if pattern.endswith("/**") and path == pattern[:-3]:
            return True
        if covers(pattern, matches or [], path):  # a walk cut at WALK_LIMIT entries may not hold it: read it
            return True
    return False


def _file_flag_paths(node: Node, rules: t.Sequence[Rule] = ()) -> t.Tuple[t.List[str], t.List[str]]:
    """Node files the components' flags name that rules read, and those only summarised on the node (keys).

    Paths are the host files behind the flags (through the static pod's hostPath mounts).
    """
    reads: t.List[str] = []
    summaries: t.List[str] = []
    selected = {r.id for r in rules}
    wanted_flags = list(FILE_FLAGS) + [f for f, ids in _apiserver_files.FLAG_RULES.items() if not selected or selected & set(ids)]
    for comp in node.components.values():
        for flags in (comp.disk_flags, comp.running_flags):
            if flags is None:
                continue
            for name in wanted_flags:
                value = flags.value(name) if flags.has(name) else None
                if not value or not os.path.isabs(value):
                    continue
                host = _apiserver_files.host_path(comp, value).host or value
                target = summaries if name in _apiserver_files.SUMMARY_FLAGS else reads
                if host not in target:
                    target.append(host)
        if comp.name == "kube-apiserver" and comp.disk_flags is not None and (not selected or "apiserver-event-rate-limit" in selected):
            reads.extend(p for p in _admission_paths(node, comp) if p not in reads)
    # A file read for its content is never one that holds keys.
    return [p for p in reads if p not in summaries], summaries


def _admission_paths(node: Node, comp: t.Any) -> t.List[str]:
    """Files an AdmissionConfiguration's plugins name with ``path`` (relative to the file's directory)."""
    ref = _apiserver_files.flag_file(comp, "admission-control-config-file")
    entry = node.files.get(ref.host or "", {}) if ref is not None else {}
    if ref is None or "content" not in entry:
        return []
    try:
        data, _root = _yaml_edit.load(entry["content"], str(ref.host))
    except _yaml_edit.YAMLEditError:
        return []
    paths = []
    for plugin in (data or {}).get("plugins") or [] if isinstance(data, dict) else []:
        if isinstance(plugin, dict) and plugin.get("path") and plugin.get("configuration") is None:
            value = str(plugin["path"])
            inside = value if os.path.isabs(value) else os.path.join(os.path.dirname(ref.flag_value), value)
            paths.append(_apiserver_files.host_path(comp, inside).host or inside)
    return paths


def run(
    call_module: CallModule,
    root: str,
    rules: t.Sequence[Rule],
    options: Options,
    check_mode: bool,
    backup_dir: str,
    want_diff: bool,
    cached: t.Optional[t.Dict[str, t.Any]] = None,
    first_extra: t.Optional[t.Mapping[str, t.Any]] = None,
    kubeadm_state: t.Optional[t.Mapping[str, t.Any]] = None,
    configz: t.Optional[t.Mapping[str, t.Any]] = None,
    defer_restarts: bool = False,
    skipped: t.Sequence[Rule] = (),
    defer_writes: bool = False,
    restarts: bool = True,
) -> t.Dict[str, t.Any]:
    """Audit, and with ``options.remediate`` (not ``check_mode``) fix, one host's components.

    ``defer_restarts``: write only when the plan restarts nothing; otherwise write nothing, report as check
    mode would and return ``deferred`` true (playbooks/harden.yml rolls such hosts out in batches later).
    ``defer_writes``: write nothing at all; when there is anything to write (or, with ``defer_restarts``, to
    restart), report as check mode would and return ``deferred`` true (playbooks/harden.yml plans the control
    plane at once, then rolls out only the hosts with something to change, one at a time).
    ``skipped``: rules the user skipped, reported ``skipped``.
    ``restarts``: whether the run makes the restarts the plan names (not while provisioning or offline): when it
    does not, a plan alone is no change (nothing written, nothing restarted), so a second run reports none.
    """
    snapshot, trips, node = discover(call_module, root, rules, cached, first_extra)
    findings = _staleness.mark(node, evaluate(node, rules, options))
    # What the kubelet runs, from its /configz through the API server (read once by the cluster play).
    findings, waived = _waive(_configz.mark(node, findings, options, configz), options)
    planner = Planner(node, snapshot)
    if options.remediate:
        findings = planner.plan(findings)
    specs = [e.spec() for e in planner.edits.values() if e.changes]
    # A process older than its (right) file is restarted when remediating: it then runs the fix.
    restart_only = [f.rule.component for f in findings if f.restart_only and options.remediate and f.rule.id not in waived]
    deferred = False
    if not check_mode and (defer_restarts or defer_writes):
        restarts = _restarts(node, planner, findings, restart_only)
        deferred = bool(defer_restarts and restarts) or bool(defer_writes and specs)
    check_mode = check_mode or deferred
    written: t.Dict[str, t.Any] = {"backups": []}
    write_error = ""
    if specs and not check_mode:
        trips += 1
        # The node as it is after the write comes back in the same round trip (read as round one reads it):
        # the next role of the run discovers from it instead of reading the node again.
        written = call_module(
            "kubefort.hardening.node_files",
            {"root": root, "files": specs, "backup_dir": backup_dir, "read_after": dict(FIRST_REQUEST)},
        )
        if written.get("failed"):
            write_error = written.get("msg", "writing failed")
    plan = [] if write_error else _restarts(node, planner, findings, restart_only)
    restarted = {c for step in plan for c in step["components"]}
    results = [_result(f, planner, waived, check_mode, write_error, restarted) for f in findings]
    if skipped:
        order = {rule.id: index for index, rule in enumerate(_catalog.ALL_RULES)}
        results += [make_result(rule, "skipped", message=_policy.SKIPPED_MESSAGE) for rule in skipped]
        results.sort(key=lambda result: order[result["id"]])
    dependent = [f.rule.id for f in findings if _versions.version_dependent(f.rule) and f.status != "not_applicable"]
    if not node.kubernetes_version:
        for result in results:
            if result["id"] in dependent:
                note = "Kubernetes version unknown (%s): this verdict depends on it" % node.version_source
                result["message"] = (result["message"] + "; " if result["message"] else "") + note
    # Whether the audit log rules' log gets any event at all (the audit policy, CIS 3.2.1).
    _check_apiserver.note_audit_log_results(node, results, options)
    benchmark, benchmark_reason = _benchmark.select(options.benchmark, node.kubernetes_version)
    if node.layout == _layouts.KUBESPRAY:
        _kubespray_notes(node, findings, results, options)
    if kubeadm_state and not write_error:
        # What the next kubeadm upgrade would write over (kube-system/kubeadm-config and kubelet-config).
        planned = {path: edit.after for path, edit in planner.edits.items() if edit.after is not None}
        _kubeadm_upgrade.annotate(node, snapshot, findings, results, rules, options, planned, kubeadm_state)
    changed = (bool(specs) or (bool(plan) and restarts)) and not write_error and not deferred
    return {
        "changed": changed,
        "failed": bool(write_error),
        "msg": write_error or _summary(results),
        "results": results,
        "host": {
            "layout": node.layout,
            "kubernetes_version": node.kubernetes_version,
            "version_source": node.version_source,
            "component_versions": {n: {"version": c.version, "source": c.version_source}
                                   for n, c in sorted(node.components.items()) if c.present},
            "version_dependent_rules": [] if node.kubernetes_version else dependent,
            "benchmark": benchmark,
            "benchmark_reason": benchmark_reason,
            "root": node.root,
            "live": node.live,
            "components": sorted(n for n, c in node.components.items() if c.present),
            "cluster_side": {n: c.cluster_side for n, c in node.components.items() if c.cluster_side},
            "read_errors": read_errors(node),
        },
        "restart": [] if deferred else plan,
        "deferred": deferred,
        "backups": written.get("backups", []),
        "round_trips": trips,
        # A deferred fix shows its diff where it is made (the rollout), not twice.
        "diff": _diffs(planner) if want_diff and not deferred else [],
        "errors": node.errors,
        # Popped by the action: kept for the next role of the run unless something was written.
        "_snapshot": snapshot if not (specs and not check_mode) else _after_write(written),
        # The listening sockets and own probes of this round trip (node_facts ports), written or not.
        "_ports": snapshot.get("ports"),
    }


def _after_write(written: t.Mapping[str, t.Any]) -> t.Optional[t.Dict[str, t.Any]]:
    """The node as node_files read it right after a successful write (None: the next role reads it again)."""
    after = written.get("snapshot")
    if written.get("failed") or not isinstance(after, dict) or "error" in after or "files" not in after:
        return None
    return after


def _waive(findings: t.Sequence[Finding], options: Options) -> t.Tuple[t.List[Finding], t.Dict[str, t.Any]]:
    """The policy layer's waivers: a waived finding keeps its verdict and loses its fixes (nothing is written)."""
    waived: t.Dict[str, t.Any] = {}
    out = []
    for finding in findings:
        waiving = options.waive(finding.rule, finding.status)
        if waiving.waiver is not None:
            waived[finding.rule.id] = waiving.waiver
            finding = dataclasses.replace(finding, fixes=())
        out.append(finding.noted(waiving.note))
    return out, waived


def read_errors(node: Node) -> t.List[str]:
    """Everything discovery could not read, decode or parse on this node (shown in every report)."""
    found: t.List[str] = []
    for message in list(node.errors) + [e for c in node.components.values() if c.present for e in c.errors]:
        if message not in found:
            found.append(message)
    return found


def _result(finding: Finding, planner: Planner, waived: t.Mapping[str, t.Any], check_mode: bool, write_error: str,
            restarted: t.Collection[str] = ()) -> t.Dict[str, t.Any]:
    rule = finding.rule
    status = finding.status
    message = finding.message
    files = [p for p, e in planner.edits.items() if rule.id in e.rules]
    if rule.id in waived:
        status = "waived"
    elif rule.id in planner.errors:
        status = "error"
        message = planner.errors[rule.id]
    elif status == "fail" and files:
        if write_error:
            status, message = "error", write_error
        else:
            status = _policy.fixed_status(check_mode)
    elif status == "fail" and finding.restart_only and rule.component in restarted:
        # Nothing to write: the restart plan restarts the process, which then loads the file (or the
        # host fails and rolls back).
        status = _policy.fixed_status(check_mode)
    return make_result(
        rule, status, actual=finding.actual, expected=finding.expected, source=finding.source,
        message=message, changed_files=files, waiver=waived.get(rule.id),
    )


def _kubespray_notes(node: Node, findings: t.Sequence[Finding], results: t.Sequence[t.Dict[str, t.Any]], options: Options) -> None:
    """Name the kubespray inventory variable that keeps each fix (the next kubespray run re-templates the file)."""
    etcd = node.components.get("etcd")
    etcd_on_host = etcd is not None and etcd.kind == "systemd"
    for finding, result in zip(findings, results):
        rule = finding.rule
        if result["status"] not in ("fixed", "would_fix", "fail") or not (rule.flag or rule.config_key):
            continue
        if finding.fix is not None and finding.fix.kind in ("flag", "config", "config_list"):
            value = finding.fix.value
        elif rule.operator == "eq":
            value = options.expected(rule)
        else:
            continue
        key = rule.config_key if rule.component == "kubelet" else None
        sentence = _kubespray_vars.note(rule.component, rule.flag, key, value, etcd_on_host)
        if sentence:
            result["message"] = (result["message"] + "; " if result.get("message") else "") + sentence


def _restarts(node: Node, planner: Planner, findings: t.Sequence[Finding], restart_only: t.Sequence[str]) -> t.List[t.Dict[str, t.Any]]:
    """The typed restart plan (see _restart_plan): the units and static pods to restart, in order, and how
    to see each one is back. Every component whose file changed counts, also in a file shared by several
    (k3s/RKE2 config.yaml)."""
    component_of = {f.rule.id: f.rule.component for f in findings}
    changed: t.Dict[str, t.List[t.Tuple[str, t.Optional[str], t.Optional[str]]]] = {}
    for edit in planner.edits.values():
        if edit.after is None or edit.after == edit.before:
            continue
        for name in dict.fromkeys([edit.component] + [component_of[r] for r in edit.rules if r in component_of]):
            changed.setdefault(name, []).append((edit.path, edit.before, edit.after))
    return _restart_plan.plan(node, changed, restart_only)


def _diffs(planner: Planner) -> t.List[t.Dict[str, str]]:
    diffs = []
    for path, edit in planner.edits.items():
        if edit.after is not None and edit.after != edit.before:
            hidden = "(content not shown: it holds encryption keys; sha256 %s)\n"
            diffs.append({
                "before_header": path if edit.before is not None else "%s (absent)" % path,
                "after_header": path,
                "before": (hidden % sha256_text(edit.before) if edit.before else "") if edit.sensitive else edit.before or "",
                "after": hidden % sha256_text(edit.after) if edit.sensitive else edit.after,
            })
        if (edit.mode or edit.owner or edit.group) and edit.before is not None:
            diffs.append({
                "before_header": "%s (attributes)" % path,
                "after_header": "%s (attributes)" % path,
                "before": _attrs_text(planner.node.files.get(path, {})),
                "after": _attrs_text(planner.node.files.get(path, {}), edit.mode, edit.owner, edit.group),
            })
    return diffs


def _attrs_text(info: t.Mapping[str, t.Any], mode: t.Optional[str] = None, owner: t.Optional[str] = None,
                group: t.Optional[str] = None) -> str:
    return "mode: %s\nowner: %s\ngroup: %s\n" % (
        mode or info.get("mode"), owner or info.get("owner") or info.get("uid"), group or info.get("group") or info.get("gid"))


def _summary(results: t.Sequence[t.Mapping[str, t.Any]]) -> str:
    counts: t.Dict[str, int] = {}
    for result in results:
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    return ", ".join("%d %s" % (n, s) for s, n in sorted(counts.items())) or "no rules selected"
