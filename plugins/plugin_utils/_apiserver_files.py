# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Files the API server's flags name, seen from the node: where they are, and what they say.

A flag of a static pod names a path inside the container; the file the API server reads is the host
file a ``hostPath`` volume mounted there maps to. ``host_path`` finds it (or says that nothing mounts
it: the API server would not start). The judges below read the content of such files where a CIS check
is decided by it: the EncryptionConfiguration (summarised on the node, keys never leave it), the audit
Policy and the AdmissionConfiguration.
"""

from __future__ import annotations

import os
import typing as t

from ansible_collections.kubefort.hardening.plugins.plugin_utils._yaml_edit import YAMLEditError, load, line_of

# Flags of the API server whose file kubefort reads (its content decides a rule).
READ_FLAGS = ("authentication-config", "authorization-config", "admission-control-config-file", "audit-policy-file")
# Flags whose file is summarised on the node only (it holds keys).
SUMMARY_FLAGS = ("encryption-provider-config",)

STRONG_PROVIDERS = ("aescbc", "secretbox", "kms")
# Which rules need each file (discovery reads a file only for the rules selected).
FLAG_RULES = {
    "authorization-config": ("apiserver-authorization-mode-not-alwaysallow", "apiserver-authorization-mode-node",
                             "apiserver-authorization-mode-rbac"),
    # The audit log rules say whether the policy audits anything (_check_apiserver.note_audit_log_results).
    "audit-policy-file": ("apiserver-audit-policy", "apiserver-audit-log-path", "apiserver-audit-log-maxage",
                          "apiserver-audit-log-maxbackup", "apiserver-audit-log-maxsize"),
    "encryption-provider-config": ("apiserver-encryption-providers",),
}


class FileRef(t.NamedTuple):
    flag_value: str          # the path the flag names (inside the container for a static pod)
    host: t.Optional[str]    # the node file the component reads, None when nothing mounts it
    problem: str             # why ``host`` is None


def host_path(comp: t.Any, path: str, flag: str = "") -> FileRef:
    """The node file behind a path a component's flag names.

    A static pod written by kubeadm or kubespray reads it through a hostPath volume; the longest
    volumeMount that covers the path decides. k3s, RKE2 (its generated manifests mount what its config
    names), microk8s and systemd components read host paths directly.
    """
    manifest = getattr(comp, "manifest", None)
    if manifest is None or getattr(comp, "layout", "") in ("rke2", "k3s", "microk8s"):
        return FileRef(path, path, "")
    spec = (manifest.data or {}).get("spec") or {}
    containers = spec.get("containers") or []
    container = containers[manifest.container] if manifest.container < len(containers) else {}
    volumes = {v.get("name"): v for v in spec.get("volumes") or [] if isinstance(v, dict)}
    best: t.Optional[t.Tuple[int, str]] = None
    for mount in container.get("volumeMounts") or []:
        if not isinstance(mount, dict):
            continue
        mount_path = str(mount.get("mountPath") or "").rstrip("/") or "/"
        if not (path == mount_path or path.startswith(mount_path.rstrip("/") + "/")):
            continue
        volume = volumes.get(mount.get("name")) or {}
        host = (volume.get("hostPath") or {}).get("path") if isinstance(volume.get("hostPath"), dict) else None
        if not host:
            continue
        sub = str(mount.get("subPath") or "")
        rest = path[len(mount_path):].lstrip("/")
        target = os.path.normpath(os.path.join(str(host), sub, rest)) if (sub or rest) else str(host)
        if best is None or len(mount_path) > best[0]:
            best = (len(mount_path), target)
    if best is None:
        return FileRef(path, None, "%s names %s, but no hostPath volume of the %s pod is mounted there, so the API "
                                   "server cannot read it: add a hostPath volume and a volumeMount for it to %s"
                       % ("--" + flag if flag else "the flag", path, comp.name, manifest.path))
    return FileRef(path, best[1], "")


def flag_file(comp: t.Any, flag: str, flags: t.Any = None) -> t.Optional[FileRef]:
    flags = flags if flags is not None else comp.disk_flags
    value = flags.value(flag) if flags is not None and flags.has(flag) else None
    return host_path(comp, value, flag) if value else None


# --- EncryptionConfiguration (CIS 1.2.28) -----------------------------------------------------------


def parse_group_resource(name: str) -> t.Tuple[str, str]:
    """(group, resource) the way the API server's ParseGroupResource reads a name: ``secrets`` -> ('', 'secrets')."""
    resource, _sep, group = name.partition(".")
    return group, resource


class EncryptionVerdict(t.NamedTuple):
    ok: t.Optional[bool]   # None: the file cannot be judged (error)
    actual: str
    line: t.Optional[int]
    message: str


def judge_encryption(summary: t.Mapping[str, t.Any], resource: str = "secrets") -> EncryptionVerdict:
    """Which provider encrypts new writes of ``resource``, from the node's summary of the file.

    As the API server builds its transformers: entries in order, an exact group/resource first, then
    ``*.<group>``, then ``*.*``; a name after a wildcard that masks it is refused at start; the first
    provider of the first matching entry encrypts writes.
    """
    if summary.get("error"):
        return EncryptionVerdict(None, "", None, summary["error"])
    if summary.get("kind") != "EncryptionConfiguration" or summary.get("apiVersion") != "apiserver.config.k8s.io/v1":
        return EncryptionVerdict(None, "", None, "is %s %s, not an apiserver.config.k8s.io/v1 EncryptionConfiguration: the "
                                 "API server does not load it" % (summary.get("apiVersion"), summary.get("kind")))
    seen: t.Dict[t.Tuple[str, str], t.List[t.Tuple[t.Dict[str, t.Any], t.Dict[str, t.Any]]]] = {}
    for entry in summary.get("resources") or []:
        if not entry.get("resources") or not entry.get("providers"):
            return EncryptionVerdict(None, "", entry.get("line"), "has a resources entry (line %s) without resources or "
                                     "providers: the API server refuses it" % entry.get("line"))
        bad = [p for p in entry["providers"] if p.get("type") == "invalid"]
        if bad:
            return EncryptionVerdict(None, "", bad[0].get("line"), "line %s: %s" % (bad[0].get("line"), bad[0].get("why")))
        for name in entry["resources"]:
            group, res = parse_group_resource(name)
            for masking in ((group, "*"), ("*", "*")):
                if masking in seen and masking != (group, res):
                    return EncryptionVerdict(None, "", entry.get("line"), "resource %r (line %s) is masked by an earlier "
                                             "wildcard entry: the API server refuses to start" % (name, entry.get("line")))
            seen.setdefault((group, res), []).append((entry, entry["providers"][0]))
    group, res = parse_group_resource(resource)
    chosen = seen.get((group, res)) or seen.get((group, "*")) or seen.get(("*", "*"))
    if not chosen:
        return EncryptionVerdict(False, "identity (no entry for %s)" % resource, None,
                                 "no resources entry names %s (or *. / *.*): %s are stored unencrypted" % (resource, resource))
    entry, first = chosen[0]
    order = ",".join(_provider_word(p) for p in entry["providers"])
    actual = "%s: %s" % (resource, order)
    kind = first.get("type")
    if kind == "identity":
        return EncryptionVerdict(False, actual, first.get("line") or entry.get("line"),
                                 "identity is the first provider for %s: new writes are stored unencrypted" % resource)
    if kind not in STRONG_PROVIDERS:
        return EncryptionVerdict(False, actual, first.get("line") or entry.get("line"),
                                 "%s is first for %s; CIS asks for kms (v2), aescbc or secretbox (aesgcm needs a key "
                                 "rotation every 200,000 writes)" % (kind, resource))
    note = "kms v1 is deprecated since Kubernetes 1.28: move to kms v2" if first.get("kms_api_version") == "v1" else ""
    return EncryptionVerdict(True, actual, first.get("line") or entry.get("line"), note)


def _provider_word(provider: t.Mapping[str, t.Any]) -> str:
    if provider.get("type") == "kms":
        return "kms(%s)" % provider.get("kms_api_version", "v1")
    return str(provider.get("type"))


# --- audit Policy (CIS 3.2.1) -------------------------------------------------------------------------

AUDIT_LEVELS = ("None", "Metadata", "Request", "RequestResponse")


def judge_audit_policy(text: str, what: str) -> t.Tuple[t.Optional[bool], str, t.Optional[int], str]:
    """Whether an audit Policy records anything: (ok or None for unreadable, actual, line, message)."""
    try:
        data, root = load(text, what)
    except YAMLEditError as exc:
        return None, "", None, str(exc)
    if not isinstance(data, dict) or data.get("kind") != "Policy" or data.get("apiVersion") != "audit.k8s.io/v1":
        return None, "", None, "%s is not an audit.k8s.io/v1 Policy: the API server does not start with it" % what
    rules = data.get("rules")
    if not isinstance(rules, list) or not rules:
        return None, "", None, "%s has no rules: the API server refuses a policy without rules" % what
    levels = [str(r.get("level")) if isinstance(r, dict) else "?" for r in rules]
    unknown = [lv for lv in levels if lv not in AUDIT_LEVELS]
    if unknown:
        return None, "", None, "%s has a rule with level %s, which the API server refuses" % (what, unknown[0])
    line = line_of(root, ("rules",))
    actual = "%d rules, levels %s" % (len(levels), ",".join(sorted(set(levels), key=AUDIT_LEVELS.index)))
    if all(lv == "None" for lv in levels):
        return False, actual, line, "every rule has level None: nothing is audited"
    first_catch_all = next((i for i, r in enumerate(rules) if isinstance(r, dict) and _catch_all(r)), None)
    if first_catch_all is not None and levels[first_catch_all] == "None" and all(lv == "None" for lv in levels[:first_catch_all + 1]):
        return False, actual, line, ("rule %d is a catch-all with level None: it matches every request before any other "
                                     "level, so nothing is audited" % (first_catch_all + 1))
    return True, actual, line, ""


def _catch_all(rule: t.Mapping[str, t.Any]) -> bool:
    """A rule without any selector matches every request."""
    selectors = ("users", "userGroups", "verbs", "resources", "namespaces", "nonResourceURLs")
    return not any(rule.get(s) for s in selectors)


# --- AdmissionConfiguration (CIS 1.2.9) -------------------------------------------------------------


def admission_plugin(text: str, what: str, plugin: str) -> t.Tuple[t.Optional[t.Dict[str, t.Any]], t.Optional[int], str]:
    """The plugins[] entry of ``plugin`` in an AdmissionConfiguration: (entry, line, problem)."""
    try:
        data, root = load(text, what)
    except YAMLEditError as exc:
        return None, None, str(exc)
    if not isinstance(data, dict) or data.get("kind") != "AdmissionConfiguration":
        return None, None, "%s is not an AdmissionConfiguration" % what
    for index, entry in enumerate(data.get("plugins") or []):
        if isinstance(entry, dict) and entry.get("name") == plugin:
            return entry, line_of(root, ("plugins", index)), ""
    return None, None, "%s has no plugins entry named %s" % (what, plugin)


def judge_event_rate_limit(entry: t.Mapping[str, t.Any], nested: t.Optional[str], what: str) -> t.Tuple[t.Optional[bool], str]:
    """An EventRateLimit Configuration with at least one limit (qps and burst > 0)."""
    config: t.Any = entry.get("configuration")
    if config is None and nested is not None:
        try:
            config = load(nested, what)[0]
        except YAMLEditError as exc:
            return None, str(exc)
    if not isinstance(config, dict) or config.get("kind") != "Configuration" or not str(config.get("apiVersion", "")).startswith(
            "eventratelimit.admission.k8s.io/"):
        return None, "the EventRateLimit entry of %s has no eventratelimit.admission.k8s.io Configuration" % what
    limits = config.get("limits")
    if not isinstance(limits, list) or not limits:
        return False, "the EventRateLimit Configuration has no limits"
    bad = [lim for lim in limits if not isinstance(lim, dict) or lim.get("type") not in ("Server", "Namespace", "User", "SourceAndObject")
           or not _positive(lim.get("qps")) or not _positive(lim.get("burst"))]
    if bad:
        return None, "an EventRateLimit limit needs a type (Server, Namespace, User, SourceAndObject) and qps and burst > 0"
    return True, "limits: %s" % ",".join(str(lim["type"]) for lim in limits)


def _positive(value: t.Any) -> bool:
    try:
        return int(value) > 0
    except (TypeError, ValueError):
        return False
