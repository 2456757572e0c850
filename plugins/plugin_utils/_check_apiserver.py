# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The API server's checks beyond one flag: anonymous access (CIS 1.2.1, with its probe guard), files the
operator supplies (audit policy, encryption config), the EventRateLimit admission configuration, the audit
log path, and the encryption providers; evaluators registered in _check_engines.
"""

from __future__ import annotations

import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils._check_specs import AdmissionPluginConfig, Custom, SuppliedFile
from ansible_collections.kubefort.hardening.plugins.module_utils._flags import FlagSet, parse_bool, split_list
from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Rule
from ansible_collections.kubefort.hardening.plugins.plugin_utils._check_files import file_state, flag_named_paths
from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import Component, Node
from ansible_collections.kubefort.hardening.plugins.plugin_utils._findings import SUPPLIED_DIR, Finding, Fix
from ansible_collections.kubefort.hardening.plugins.plugin_utils._node_options import NodeOptions
from ansible_collections.kubefort.hardening.plugins.plugin_utils._settings import lookup, version_tuple

# The role variable that carries each supplied input (for messages).
INPUT_VARIABLES = {
    "audit_policy": "kubefort_apiserver_audit_policy",
    "encryption_config": "kubefort_apiserver_encryption_config",
    "admission_config": "kubefort_apiserver_admission_config",
}


def _supplied_path(spec: t.Union[SuppliedFile, AdmissionPluginConfig]) -> str:
    return "%s/%s" % (SUPPLIED_DIR, spec.file_name)


def evaluate_supplied_file(node: Node, comp: Component, rule: Rule, spec: SuppliedFile, expected: t.Any,
                           options: NodeOptions) -> Finding:
    """A flag that must name a file whose content only the operator can write."""
    disk = lookup(comp, rule, comp.disk_flags)
    variable = INPUT_VARIABLES.get(spec.input, spec.input)
    if disk.value:
        state = file_state(node, disk.value)
        if state == "missing":
            return Finding(rule, "fail", disk.value, disk.source, message="%s does not exist" % disk.value)
        found = Finding(rule, "pass", disk.value, disk.source)
        if spec.input == "audit_policy":
            from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate_files import evaluate_audit_policy

            found = evaluate_audit_policy(node, comp, rule, found)
        return found
    content = options.supplied.get(spec.input)
    if content and spec.input == "audit_policy":
        from ansible_collections.kubefort.hardening.plugins.plugin_utils._apiserver_files import judge_audit_policy

        # A policy that audits nothing would not meet 3.2.1 once written (and one the API server refuses
        # would stop it): never written, never 'fixed'.
        ok, _actual, _line, why = judge_audit_policy(str(content), variable)
        if ok is None:
            # Bad input: the API server would not start with it.
            return Finding(rule, "error", None, disk.source, message="%s: nothing written" % why)
        if not ok:
            return Finding(rule, "fail", None, disk.source, message=(
                "the policy in %s audits nothing (%s): nothing written; give a rule a level of Metadata or more"
                % (variable, _why(why))))
    if content:
        return Finding(rule, "fail", None, disk.source, fixes=(Fix(
            "supplied_file", comp.name, t.cast(str, rule.flag), value={"path": _supplied_path(spec), "content": content}),))
    return Finding(rule, "fail", None, disk.source, message="provide the file's content in %s; kubefort then writes %s "
                   "and sets --%s" % (variable, _supplied_path(spec), rule.flag))


def evaluate_admission_config(node: Node, comp: Component, rule: Rule, spec: AdmissionPluginConfig, expected: t.Any,
                              options: NodeOptions) -> Finding:
    plugin, config_flag = spec.plugin, spec.config_flag
    plugins = lookup(comp, rule, comp.disk_flags)
    config = lookup(comp, rule, comp.disk_flags, config_flag)
    enabled = plugin in split_list(plugins.value)
    if enabled and config.value:
        from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate_files import evaluate_admission_file

        judged = evaluate_admission_file(node, comp, rule, config.value, plugin, t.cast(str, plugins.value), plugins.source)
        if judged is not None:
            return judged
        return Finding(rule, "pass", "%s; %s" % (plugins.value, config.value), "%s; %s" % (plugins.source, config.source))
    content = options.supplied.get(spec.input)
    variable = INPUT_VARIABLES.get(spec.input, spec.input)
    if config.value:
        return Finding(rule, "fail", plugins.value, plugins.source, message=(
            "--%s already names %s: add a %s section there and %s to --enable-admission-plugins by hand"
            % (config_flag, config.value, plugin, plugin)))
    if content:
        return Finding(rule, "fail", plugins.value, plugins.source, fixes=(Fix(
            "supplied_file", comp.name, config_flag,
            value={"path": _supplied_path(spec), "content": content, "plugin": plugin}),))
    return Finding(rule, "fail", plugins.value, plugins.source,
                   message="provide an AdmissionConfiguration with a %s section in %s" % (plugin, variable))


def evaluate_audit_log_path(node: Node, comp: Component, rule: Rule, spec: Custom, expected: t.Any,
                            options: NodeOptions) -> Finding:
    disk = lookup(comp, rule, comp.disk_flags)
    if disk.value and disk.value != "-":
        return Finding(rule, "pass", disk.value, disk.source)
    path = expected if expected != rule.expected and expected else rule.fix
    return Finding(rule, "fail", disk.value, disk.source,
                   message="'-' writes audit events to the API server's stdout, mixed with its log" if disk.value == "-" else "",
                   fixes=(Fix("flag_mount", comp.name, t.cast(str, rule.flag), value=path),))


def evaluate_encryption_providers(node: Node, comp: Component, rule: Rule, spec: Custom, expected: t.Any,
                                  options: NodeOptions) -> Finding:
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate_files import evaluate_encryption

    return evaluate_encryption(node, comp, rule, options)


def supplied_file_paths(node: Node, comp: Component, rule: Rule, spec: SuppliedFile) -> t.List[str]:
    return flag_named_paths(comp, rule, [(t.cast(str, rule.flag), None)])


def admission_config_paths(node: Node, comp: Component, rule: Rule, spec: AdmissionPluginConfig) -> t.List[str]:
    return flag_named_paths(comp, rule, [(t.cast(str, rule.flag), None), (spec.config_flag, None)])


ANONYMOUS_HEALTH_PATHS = ("/livez", "/readyz", "/healthz")


def evaluate_apiserver_anonymous(node: Node, comp: Component, rule: Rule, spec: Custom, expected: t.Any,
                                 options: NodeOptions) -> Finding:
    """CIS 1.2.1: the AuthenticationConfiguration's anonymous section decides when there is one, else the flag.

    Whether --anonymous-auth=false is safe depends on the API server's probes: kubeadm's (and kubespray's)
    manifest has anonymous HTTPS liveness/readiness/startup probes; k3s and microk8s run the API server
    inside their own process (no kubelet probes) and RKE2's manifest probes with a client certificate.
    """
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._apiserver_files import flag_file
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._authn import anonymous_policy

    flags = comp.disk_flags or FlagSet(comp.name)
    setting = lookup(comp, rule, flags)
    ref = flag_file(comp, "authentication-config")
    policy = None
    if ref is not None:
        if ref.host is None:
            return Finding(rule, "error", None, ref.flag_value, message=ref.problem)
        policy = anonymous_policy(node.files.get(ref.host, {}), ref.host)
        if policy.error:
            return Finding(rule, "error", None, ref.host, message=policy.error)
    version = version_tuple(comp.version)
    if policy is not None and policy.configured:
        source = "%s:%s" % (ref.host, policy.line) if policy.line else t.cast(str, ref.host)
        if flags.has("anonymous-auth"):
            return Finding(rule, "error", setting.value, source, message=(
                "--anonymous-auth is set and %s has an anonymous section: the API server refuses to start with both. "
                "Remove --anonymous-auth" % ref.host))
        if not policy.enabled and policy.paths:
            return Finding(rule, "error", None, source, message=(
                "%s: anonymous.enabled is false but conditions are set, which the API server refuses" % ref.host))
        ok = not policy.enabled or set(policy.paths) <= set(ANONYMOUS_HEALTH_PATHS) and bool(policy.paths)
        actual = "AuthenticationConfiguration anonymous %s" % (
            "disabled" if not policy.enabled else "on %s" % (",".join(policy.paths) or "every path"))
        if ok:
            return Finding(rule, "pass", actual, source)
        return Finding(rule, "fail", actual, source, fixes=(
            Fix("authn_config", comp.name, t.cast(str, ref.host), value={"mode": "conditions"}),), message=(
            "the fix limits anonymous.conditions in %s to %s (no --anonymous-auth: the API server refuses it next to "
            "an anonymous section)" % (ref.host, ", ".join(ANONYMOUS_HEALTH_PATHS))))
    if parse_bool(setting.value) is False:
        return Finding(rule, "pass", setting.value, setting.source)
    fix, message, status = _anonymous_fix(comp, ref, version, options)
    return Finding(rule, status, setting.value, setting.source, message=message, fixes=(fix,) if fix else ())


def _anonymous_fix(comp: Component, ref: t.Any, version: t.Tuple[int, ...],
                   options: NodeOptions) -> t.Tuple[t.Optional[Fix], str, str]:
    """The fix of an API server that allows anonymous requests, why, and the status: fail, or manual when no
    fix is safe (kubeadm's anonymous httpGet probes before 1.32)."""
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._edits_apiserver import http_probes

    probes = http_probes(comp.manifest)
    if not probes:
        # Nothing the kubelet runs depends on anonymous access: the flag is safe on every version.
        return Fix("flag", comp.name, "anonymous-auth", "false"), (
            "no HTTP probe of the API server relies on anonymous requests (%s): --anonymous-auth=false"
            % _probe_words(comp)), "fail"
    if options.apiserver_anonymous_force:
        return Fix("flag", comp.name, "anonymous-auth", "false"), (
            "forced by kubefort_apiserver_anonymous_auth_force: anonymous HTTP probes will get 401"), "fail"
    if version >= (1, 32) and ref is None:
        return Fix("apiserver_anonymous", comp.name, "authentication-config", value=comp.version), "", "fail"
    if version >= (1, 32):
        return Fix("authn_config", comp.name, t.cast(str, ref.host), value={"mode": "add_section"}), (
            "the fix adds an anonymous section (health paths only) to %s and removes --anonymous-auth" % ref.host), "fail"
    if options.apiserver_probes_tcp:
        return Fix("apiserver_probes_tcp", comp.name, "anonymous-auth", value=probes), (
            "kubefort_apiserver_probes_tcp: %s become tcpSocket probes and --anonymous-auth=false; a TCP probe only "
            "sees that the port accepts connections, not that the API server is healthy" % ", ".join(probes)), "fail"
    return None, (
        "Kubernetes %s: --anonymous-auth=false would make the kubelet's anonymous %s (httpGet) fail with 401 and "
        "restart the API server. Anonymous requests reach only what RBAC grants system:anonymous/"
        "system:unauthenticated (by default /healthz, /livez, /readyz, /version): check those bindings, upgrade "
        "to >= 1.32 for an automatic fix, set kubefort_apiserver_probes_tcp: true (the probes become tcpSocket "
        "probes, which do not see an unhealthy API server), or set kubefort_apiserver_anonymous_auth_force: true "
        "after changing the probes yourself." % (comp.version or "of unknown version", ", ".join(probes))), "manual"


def _probe_words(comp: Component) -> str:
    if comp.manifest is None:
        return "%s runs the API server in its own process, without kubelet probes" % (comp.layout if comp.layout != "generic" else comp.kind)
    return "the pod's probes are exec or tcpSocket probes"


# --- whether the audit log gets anything (CIS 1.2.16-1.2.19 and 3.2.1) ----------------------------------

# The rules about the audit log file: met or not, the API server writes audit events only when its audit
# policy (CIS 3.2.1, apiserver-audit-policy) audits something.
AUDIT_LOG_RULES = ("apiserver-audit-log-path", "apiserver-audit-log-maxage", "apiserver-audit-log-maxbackup",
                   "apiserver-audit-log-maxsize")
AUDIT_POLICY_RULE = "apiserver-audit-policy"
# Results that judge the setting (an error, a rule that does not apply or was skipped says nothing of it).
_NOTED_STATUSES = ("pass", "fail", "would_fix", "fixed", "waived", "manual")


def audit_log_note(node: Node, policy_status: t.Optional[str], options: NodeOptions) -> str:
    """What the audit log rules' results must add about the audit policy ('' when the policy audits something).

    ``policy_status`` is this run's result of apiserver-audit-policy (None when not selected): ``fixed`` or
    ``would_fix`` means kubefort writes the policy supplied in kubefort_apiserver_audit_policy (only one that
    audits something is written).
    """
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._apiserver_files import flag_file, judge_audit_policy

    comp = node.components.get("kube-apiserver")
    if comp is None or not comp.present:
        return ""
    variable = INPUT_VARIABLES["audit_policy"]
    cis = "CIS 3.2.1, %s" % AUDIT_POLICY_RULE
    if policy_status == "fixed":
        # 3.2.1 writes only a supplied policy that audits something (evaluate_supplied_file).
        return ""
    if policy_status == "would_fix":
        return "no audit events are written until the audit policy is set too (%s: would_fix, from %s)" % (cis, variable)
    ref = flag_file(comp, "audit-policy-file")
    if ref is None:
        if options.supplied.get("audit_policy"):
            # Supplied, but not written: it audits nothing or cannot be read (3.2.1 says which), or 3.2.1
            # does not run (not selected, waived).
            return ("no audit events are written: the API server has no --audit-policy-file (%s), and kubefort wrote "
                    "none from %s (see %s's result)" % (cis, variable, AUDIT_POLICY_RULE))
        return ("no audit events are written: the API server has no --audit-policy-file (%s) and without a policy "
                "audits nothing. Set %s: kubefort then writes the policy and --audit-policy-file" % (cis, variable))
    entry = node.file(ref.host) if ref.host else {}
    if entry.get("type") == "missing":
        return "no audit events are written: the audit policy %s does not exist (%s)" % (ref.host, cis)
    if "content" not in entry:
        return "whether audit events are written depends on the audit policy %s, which could not be read (%s)" % (
            ref.host or ref.flag_value, cis)
    ok, _actual, _line, why = judge_audit_policy(entry["content"], t.cast(str, ref.host))
    if ok:
        return ""
    if ok is None:
        return "whether audit events are written depends on the audit policy %s, which the API server refuses (%s)" % (
            ref.host, cis)
    return ("no audit events are written: the audit policy %s audits nothing (%s; %s): give a rule a level of "
            "Metadata or more" % (ref.host, _why(why), cis))


def _why(message: str) -> str:
    """judge_audit_policy's reason without its conclusion (the note says it first)."""
    for tail in (": nothing is audited", ", so nothing is audited"):
        if message.endswith(tail):
            return message[:-len(tail)]
    return message


def note_audit_log_results(node: Node, results: t.Sequence[t.Dict[str, t.Any]], options: NodeOptions) -> None:
    """Add to the audit log rules' results whether audit events are written at all (see audit_log_note).

    CIS scores 1.2.16-1.2.19 on the flags alone (kube-bench's checks read --audit-log-*), and the missing or
    empty policy is 3.2.1's own finding: the status stays, the message says what the log will hold.
    """
    targets = [r for r in results if r["id"] in AUDIT_LOG_RULES and r["status"] in _NOTED_STATUSES]
    if not targets:
        return
    policy = next((r["status"] for r in results if r["id"] == AUDIT_POLICY_RULE), None)
    note = audit_log_note(node, policy, options)
    if not note:
        return
    for result in targets:
        result["message"] = (result["message"] + "; " if result.get("message") else "") + note
