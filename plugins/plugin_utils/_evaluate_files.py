# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Rules the API server's configuration files decide, not its flags (called from _evaluate).

- 1.2.6 / 1.2.7 / 1.2.8 with ``--authorization-config``: the AuthorizationConfiguration's authorizers;
  the fix edits that file (``authz_config``), never adds ``--authorization-mode``.
- 1.2.28: the EncryptionConfiguration's first provider for ``secrets`` (summarised on the node).
- 3.2.1: the audit Policy's rules (a policy whose rules are all level None audits nothing).
- 1.2.9: the AdmissionConfiguration's EventRateLimit entry and its limits.
"""

from __future__ import annotations

import os
import typing as t

from ansible_collections.kubefort.hardening.plugins.plugin_utils import _apiserver_files, _authz
from ansible_collections.kubefort.hardening.plugins.plugin_utils._findings import Finding, Fix
from ansible_collections.kubefort.hardening.plugins.plugin_utils._node_options import NodeOptions as Options

AUTHZ_RULES = {
    "apiserver-authorization-mode-not-alwaysallow": "always_allow",
    "apiserver-authorization-mode-node": "node",
    "apiserver-authorization-mode-rbac": "rbac",
}


def _file_entry(node: t.Any, ref: _apiserver_files.FileRef,
                named_by: str = "a flag that names it") -> t.Tuple[t.Optional[t.Dict[str, t.Any]], str]:
    if ref.host is None:
        return None, ref.problem
    entry = node.file(ref.host)
    if entry.get("type") == "unknown":
        # Discovery reads what the flags name in a second round: a file still unknown was not asked for.
        return None, "%s was not read by discovery (a kubefort bug: please report it)" % ref.host
    if entry.get("type") == "missing":
        return None, "%s does not exist: the API server does not start with %s" % (ref.host, named_by)
    if entry.get("error"):
        return None, "%s cannot be read: %s" % (ref.host, entry["error"])
    return entry, ""


def evaluate_authz_config(node: t.Any, comp: t.Any, rule: t.Any, options: Options) -> Finding:
    flags = comp.disk_flags
    ref = t.cast(_apiserver_files.FileRef, _apiserver_files.flag_file(comp, "authorization-config"))
    if flags.has("authorization-mode"):
        return Finding(rule, "error", flags.value("authorization-mode"), ref.flag_value, message=(
            "both --authorization-mode and --authorization-config are set: the API server refuses to start. Remove "
            "--authorization-mode (the AuthorizationConfiguration replaces it)"))
    entry, problem = _file_entry(node, ref)
    if entry is None or "content" not in entry:
        return Finding(rule, "error", None, ref.host or ref.flag_value, message=problem or "%s was not read" % ref.host)
    try:
        config = _authz.load(t.cast(str, ref.host), entry["content"])
    except _authz.AuthzError as exc:
        return Finding(rule, "error", None, t.cast(str, ref.host), message="%s. The API server refuses this file: fix it first" % exc)
    types = config.types()
    what = AUTHZ_RULES[rule.id]
    actual = "%s (AuthorizationConfiguration authorizers)" % config.chain()
    if what == "always_allow":
        ok = "AlwaysAllow" not in types
        source = config.where("AlwaysAllow") if not ok else config.path
    else:
        kind = "Node" if what == "node" else "RBAC"
        ok = kind in types
        source = config.where(kind) if ok else config.path
    running = comp.running_flags
    if ok and running is not None and running.has("authorization-mode"):
        return Finding(rule, "fail", actual, source, restart_only=True, message=(
            "the running API server still uses --authorization-mode=%s: restart it" % running.value("authorization-mode")))
    if not ok and rule.automated:
        return Finding(rule, "fail", actual, source, fixes=(Fix("authz_config", comp.name, t.cast(str, ref.host), value={
            "always_allow": what == "always_allow", "node": what == "node" or _empty_without_always_allow(types),
            "rbac": what == "rbac" or _empty_without_always_allow(types)}),),
            message="the fix edits %s (no --authorization-mode is added: the API server refuses both)" % ref.host)
    return Finding(rule, "pass" if ok else "fail", actual, source)


def _empty_without_always_allow(types: t.Sequence[str]) -> bool:
    return not [k for k in types if k != "AlwaysAllow"]


def evaluate_encryption(node: t.Any, comp: t.Any, rule: t.Any, options: Options) -> Finding:
    ref = _apiserver_files.flag_file(comp, "encryption-provider-config")
    if ref is None:
        return Finding(rule, "fail", None, "not set", message=(
            "--encryption-provider-config is not set: Secrets are stored unencrypted (see CIS 1.2.27)"))
    entry, problem = _file_entry(node, ref)
    if entry is None:
        return Finding(rule, "error", None, ref.host or ref.flag_value, message=problem)
    summary = entry.get("encryption")
    if summary is None:
        return Finding(rule, "error", None, t.cast(str, ref.host), message=(
            "%s was not summarised on the node; run again" % ref.host))
    verdict = _apiserver_files.judge_encryption(summary)
    source = "%s:%s" % (ref.host, verdict.line) if verdict.line else t.cast(str, ref.host)
    if verdict.ok is None:
        return Finding(rule, "error", None, source, message="%s %s. Fix the file, then run again" % (ref.host, verdict.message))
    return Finding(rule, "pass" if verdict.ok else "fail", verdict.actual, source, message=verdict.message)


def evaluate_audit_policy(node: t.Any, comp: t.Any, rule: t.Any, finding: Finding) -> Finding:
    """3.2.1 beyond 'the flag names a file': the policy must audit something."""
    if finding.status != "pass" or not finding.actual:
        return finding
    ref = _apiserver_files.host_path(comp, finding.actual)
    entry, problem = _file_entry(node, ref)
    if entry is None or "content" not in entry:
        return Finding(rule, "error", finding.actual, finding.source, message=problem or "%s was not read" % ref.host)
    ok, actual, line, message = _apiserver_files.judge_audit_policy(entry["content"], t.cast(str, ref.host))
    source = "%s:%s" % (ref.host, line) if line else t.cast(str, ref.host)
    if ok is None:
        return Finding(rule, "error", None, source, message=message + ". Fix the file, then run again")
    return Finding(rule, "pass" if ok else "fail", actual, source, message=message)


def evaluate_admission_file(node: t.Any, comp: t.Any, rule: t.Any, path: str, plugin: str,
                            plugins_value: str, plugins_source: str) -> t.Optional[Finding]:
    """1.2.9 with the plugin enabled and a config file: the file decides (None when not EventRateLimit)."""
    ref = _apiserver_files.host_path(comp, path)
    entry, problem = _file_entry(node, ref)
    if entry is None or "content" not in entry:
        return Finding(rule, "error", plugins_value, path, message=problem or "%s was not read" % ref.host)
    found, line, why = _apiserver_files.admission_plugin(entry["content"], t.cast(str, ref.host), plugin)
    source = "%s:%s" % (ref.host, line) if line else t.cast(str, ref.host)
    if found is None:
        return Finding(rule, "fail", plugins_value, source, message=why + ": add a %s entry with its configuration by hand" % plugin)
    if plugin != "EventRateLimit":
        return None
    nested = None
    if found.get("configuration") is None and found.get("path"):
        value = str(found["path"])
        inside = value if os.path.isabs(value) else os.path.join(os.path.dirname(path), value)
        nested_ref = _apiserver_files.host_path(comp, inside)
        nested_entry, nested_problem = _file_entry(
            node, nested_ref, "an AdmissionConfiguration whose %s entry names it (path: %s in %s)" % (plugin, value, ref.host))
        if nested_entry is None or "content" not in nested_entry:
            return Finding(rule, "error", plugins_value, source, message=nested_problem or "%s was not read" % nested_ref.host)
        nested = nested_entry["content"]
    ok, words = _apiserver_files.judge_event_rate_limit(found, nested, t.cast(str, ref.host))
    if ok is None:
        return Finding(rule, "error", plugins_value, source, message=words + ". The API server refuses it: fix the file")
    return Finding(rule, "pass" if ok else "fail", "%s; %s" % (plugins_value, words), "%s; %s" % (plugins_source, source),
                   message="" if ok else words)
