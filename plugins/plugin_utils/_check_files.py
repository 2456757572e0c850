# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The file checks: a file set's mode and owner (and each file's parent directory), and flags that must
name files that exist (the evaluators _check_engines registers, with the paths each needs discovered).
"""

from __future__ import annotations

import fnmatch
import os
import re
import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils._check_specs import FileMode, FileOwner, FileSet, FilesNamed
from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Rule
from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import Component, Node
from ansible_collections.kubefort.hardening.plugins.plugin_utils._findings import Finding, Fix
from ansible_collections.kubefort.hardening.plugins.plugin_utils._node_options import NodeOptions
from ansible_collections.kubefort.hardening.plugins.plugin_utils._settings import lookup, normalize


def file_state(node: Node, path: str) -> str:
    kind = node.file(path).get("type")
    if kind in ("file", "dir", "other"):
        return "exists"
    if kind == "missing":
        return "missing"
    # Discovery walks whole directories (/etc/kubernetes/**): a path absent from a walked one is missing.
    parent = os.path.dirname(path)
    if node.file(parent).get("type") == "dir" and any(os.path.dirname(p) == parent for p in node.files if p != parent):
        return "missing"
    return "unknown"


def evaluate_files_named(node: Node, comp: Component, rule: Rule, spec: FilesNamed, expected: t.Any,
                         options: NodeOptions) -> Finding:
    """Each flag (or config key) is set and names a file that exists on the node."""
    values, sources, problems, notes = [], [], [], []
    for flag, key in spec.pairs():
        disk = lookup(comp, rule, comp.disk_flags, flag, key)
        if not disk.value:
            problems.append("--%s is not set" % flag)
            continue
        values.append(disk.value)
        sources.append(disk.source)
        state = file_state(node, disk.value)
        if state == "missing":
            problems.append("--%s names %s, which does not exist" % (flag, disk.value))
        elif state == "unknown":
            notes.append("%s was not collected, so its existence was not checked" % disk.value)
    return Finding(rule, "fail" if problems else "pass", ", ".join(values) or None, "; ".join(sources) or "not set",
                   message="; ".join(problems + notes))


def flag_named_paths(comp: Component, rule: Rule, pairs: t.Sequence[t.Tuple[str, t.Optional[str]]]) -> t.List[str]:
    """Files that flags (or the config keys beside them) name, for an existence check (stat only: they may hold keys)."""
    paths = []
    for flag, key in pairs:
        value = lookup(comp, rule, comp.disk_flags, flag, key).value
        if value and os.path.isabs(value):
            paths.append(value)
    return paths


def files_named_paths(node: Node, comp: Component, rule: Rule, spec: FilesNamed) -> t.List[str]:
    return flag_named_paths(comp, rule, spec.pairs())


ADMIN_KUBECONFIGS = ("/etc/kubernetes/admin.conf", "/etc/kubernetes/super-admin.conf")
CNI_DIRS = ("/etc/cni/net.d", "/var/lib/cni/networks")
DEFAULT_PKI_DIR = "/etc/kubernetes/pki"


def _flag_of(comp: Component, name: str) -> t.Optional[str]:
    for flags in (comp.disk_flags, comp.running_flags):
        if flags is not None and flags.has(name):
            return flags.value(name)
    return None


def _config_of(comp: Component, key: str) -> t.Optional[str]:
    if not comp.config_path:
        return None
    found, value, _source = comp.config_value(key)
    return normalize(value) if found and value not in ("", None) else None


def _under(node: Node, directory: str) -> t.List[str]:
    prefix = directory.rstrip("/") + "/"
    return sorted(p for p, info in node.files.items() if p.startswith(prefix) and info.get("type") in ("file", "dir"))


def pki_dir(node: Node) -> str:
    api = node.components.get("kube-apiserver")
    ca = _flag_of(api, "client-ca-file") if api is not None else None
    return os.path.dirname(ca) if ca else DEFAULT_PKI_DIR


def _manifest(node: Node, comp: Component, files: FileSet) -> t.Tuple[t.List[str], t.List[str]]:
    return ([comp.manifest.path] if comp.manifest else []), []


def _config(node: Node, comp: Component, files: FileSet) -> t.Tuple[t.List[str], t.List[str]]:
    return ([comp.config_path] if comp.config_path else []), []


def _kubeconfig(node: Node, comp: Component, files: FileSet) -> t.Tuple[t.List[str], t.List[str]]:
    path = _flag_of(comp, "kubeconfig") or _config_of(comp, "clientConnection.kubeconfig") or files.default_path
    paths = [path] if path else []
    # Before TLS bootstrap the kubelet has not written its kubeconfig yet (it creates it 0600).
    return paths, list(paths) if _flag_of(comp, "bootstrap-kubeconfig") else []


def _admin(node: Node, comp: Component, files: FileSet) -> t.Tuple[t.List[str], t.List[str]]:
    return list(ADMIN_KUBECONFIGS), [ADMIN_KUBECONFIGS[1]]


def _unit(node: Node, comp: Component, files: FileSet) -> t.Tuple[t.List[str], t.List[str]]:
    unit = comp.unit or {}
    return [p for p in [unit.get("unit")] + list(unit.get("dropins", [])) if p], []


def _client_ca(node: Node, comp: Component, files: FileSet) -> t.Tuple[t.List[str], t.List[str]]:
    path = _flag_of(comp, "client-ca-file") or _config_of(comp, "authentication.x509.clientCAFile")
    return ([path] if path else []), []


def _data_dir(node: Node, comp: Component, files: FileSet) -> t.Tuple[t.List[str], t.List[str]]:
    path = _flag_of(comp, "data-dir")
    paths = [path] if path else []
    # etcd creates its data directory at first start (kubeadm's hostPath is DirectoryOrCreate).
    return paths, list(paths) if comp.process is None else []


def _pki(node: Node, comp: Component, files: FileSet) -> t.Tuple[t.List[str], t.List[str]]:
    directory = pki_dir(node)
    return [directory] + _under(node, directory), []


def _cni(node: Node, comp: Component, files: FileSet) -> t.Tuple[t.List[str], t.List[str]]:
    return [p for d in CNI_DIRS for p in _under(node, d) if node.file(p).get("type") == "file"], []


# Each FileSet name (_check_specs.FILE_SETS) and the files it means on a node, with those that may be absent.
FILE_TARGETS: t.Dict[str, t.Callable[[Node, Component, FileSet], t.Tuple[t.List[str], t.List[str]]]] = {
    "manifest": _manifest, "config": _config, "kubeconfig": _kubeconfig, "admin": _admin, "unit": _unit,
    "client_ca": _client_ca, "data_dir": _data_dir, "pki": _pki, "cni": _cni,
}


def file_targets(node: Node, comp: Component, files: FileSet) -> t.Tuple[t.List[str], t.List[str]]:
    """The files a file rule checks, and those of them that may be absent."""
    paths, optional = FILE_TARGETS[files.which](node, comp, files)
    if files.pattern:
        paths = [p for p in paths if fnmatch.fnmatch(os.path.basename(p), files.pattern) and node.file(p).get("type") == "file"]
    if files.optional:
        optional = list(paths)
    return paths, optional


def file_set_paths(node: Node, comp: Component, rule: Rule, spec: t.Union[FileMode, FileOwner]) -> t.List[str]:
    """What discovery must stat for a file rule: its files (a whole PKI directory) and their parents."""
    paths, _optional = file_targets(node, comp, spec.files)
    if spec.files.which == "pki":
        paths = [pki_dir(node) + "/**"]
    wanted: t.List[str] = []
    for path in paths:
        for candidate in (path, os.path.dirname(path.rstrip("/*"))):
            if candidate and candidate not in wanted:
                wanted.append(candidate)
    return wanted


def _present(node: Node, comp: Component, rule: Rule, files: FileSet) -> t.Union[Finding, t.List[str]]:
    """The files of the set that are there, or the finding when there is none to judge or one is missing."""
    which = files.which
    paths, optional = file_targets(node, comp, files)
    present = []
    for path in paths:
        kind = file_state(node, path)
        if kind in ("missing", "unknown") and path in optional:
            continue
        if kind in ("missing", "unknown"):
            why = "does not exist" if kind == "missing" else "was not collected by discovery"
            return Finding(rule, "error", source=path, message="%s %s; the rule cannot be checked" % (path, why))
        present.append(path)
    if not present:
        what = {"data_dir": "--data-dir", "cni": "CNI file", "kubeconfig": "kubeconfig file"}.get(which, "%s file" % which)
        why = " yet (it is written at TLS bootstrap)" if which == "kubeconfig" and _flag_of(comp, "bootstrap-kubeconfig") else ""
        if which == "data_dir" and paths:
            why = " yet (%s is created when etcd first starts)" % paths[0]
        return Finding(rule, "not_applicable", message="%s has no %s on this node%s" % (comp.name, what, why))
    return present


def evaluate_file_mode(node: Node, comp: Component, rule: Rule, spec: FileMode, expected: t.Any,
                       options: NodeOptions) -> Finding:
    present = _present(node, comp, rule, spec.files)
    if isinstance(present, Finding):
        return present
    return _check_modes(node, comp, rule, present, str(expected), parents=spec.files.which not in ("pki", "cni"))


def evaluate_file_owner(node: Node, comp: Component, rule: Rule, spec: FileOwner, expected: t.Any,
                        options: NodeOptions) -> Finding:
    present = _present(node, comp, rule, spec.files)
    if isinstance(present, Finding):
        return present
    return _check_owners(node, comp, rule, spec, present, str(expected))


def _mode_problem(info: t.Mapping[str, t.Any], allowed: int) -> t.Optional[int]:
    mode = int(info["mode"], 8)
    return mode & allowed if mode & ~allowed else None


def _parent_problem(node: Node, comp: Component, path: str) -> t.Tuple[str, t.Optional[Fix], str]:
    """Why the directory holding ``path`` lets a non-root user replace it ('' when it does not)."""
    parent = os.path.dirname(path.rstrip("/"))
    info = node.files.get(parent)
    if not info or info.get("type") != "dir":
        return "", None, parent
    mode = int(info["mode"], 8)
    words = []
    fix = None
    if mode & 0o022 and not mode & 0o1000:
        words.append("is mode %s (writable by group/others)" % info["mode"])
        fix = Fix("attrs", comp.name, parent, mode="%04o" % (mode & ~0o022 & 0o7777))
    if info.get("uid") not in (0, None):
        words.append("is owned by %s" % (info.get("owner") or info.get("uid")))
    return (" and ".join(words), fix, parent) if words else ("", None, parent)


def _check_modes(node: Node, comp: Component, rule: Rule, paths: t.List[str], expected: str, parents: bool) -> Finding:
    allowed = int(expected, 8)
    bad: t.List[str] = []
    fixes: t.List[Fix] = []
    for path in paths:
        new = _mode_problem(node.file(path), allowed)
        if new is not None:
            bad.append("%s %s" % (path, node.file(path)["mode"]))
            fixes.append(Fix("attrs", comp.name, path, mode="%04o" % new))
    parent_notes: t.List[str] = []
    seen: t.Set[str] = set()
    for path in paths if parents else []:
        why, fix, parent = _parent_problem(node, comp, path)
        if why and parent not in seen:
            seen.add(parent)
            parent_notes.append("parent directory %s %s: a non-root user can replace %s" % (parent, why, path))
            if fix is not None:
                fixes.append(fix)
    single = len(paths) == 1
    actual = node.file(paths[0])["mode"] if single else ("; ".join(bad[:10]) if bad else "%d files" % len(paths))
    source = paths[0] if single else os.path.commonpath(paths)
    more = " (and %d more)" % (len(bad) - 10) if len(bad) > 10 else ""
    return Finding(rule, "fail" if bad or parent_notes else "pass", actual, source, message="; ".join(parent_notes) + more,
                   fixes=tuple(fixes) if rule.automated else ())


def _run_as(node: Node, comp: Component) -> t.Tuple[t.Optional[int], t.Optional[int], str]:
    """The uid and gid a component runs as, and how that is known."""
    if comp.manifest is not None:
        spec = comp.manifest.data.get("spec") or {}
        container = (spec.get("containers") or [{}])[comp.manifest.container]
        pod_ctx = spec.get("securityContext") or {}
        ctx = container.get("securityContext") or {}
        uid = ctx.get("runAsUser", pod_ctx.get("runAsUser"))
        gid = ctx.get("runAsGroup", pod_ctx.get("runAsGroup"))
        how = "%s's pod runAsUser" % comp.name if uid is not None else "%s's pod sets no runAsUser: root" % comp.name
        return (int(uid) if uid is not None else 0), (int(gid) if gid is not None else 0 if uid is None else None), how
    unit = comp.unit or {}
    user = None
    for path in [unit.get("unit")] + list(unit.get("dropins", [])):
        for match in re.finditer(r"^\s*User=(\S*)", node.file(path or "").get("content", ""), re.MULTILINE):
            user = match.group(1) or None
    if comp.unit is not None and user is None:
        return 0, 0, "%s's unit sets no User=: root" % comp.name
    if user in ("root", "0"):
        # kubespray's etcd.service says User=root: root, with root's group (no Group= is read here)
        return 0, 0, "User=%s in %s's unit" % (user, comp.name)
    return None, None, "User=%s in %s's unit" % (user, comp.name) if user else ""


def _owner_ok(info: t.Mapping[str, t.Any], user: str, group: str, ids: t.Tuple[t.Optional[int], t.Optional[int]]) -> bool:
    uid, gid = ids
    user_ok = info.get("owner") == user or (uid is not None and info.get("uid") == uid)
    group_ok = info.get("group") == group or (gid is not None and info.get("gid") == gid)
    return user_ok and group_ok


def _owner_text(info: t.Mapping[str, t.Any]) -> str:
    return "%s:%s" % (info.get("owner") or info.get("uid"), info.get("group") or info.get("gid"))


def _check_owners(node: Node, comp: Component, rule: Rule, spec: FileOwner, paths: t.List[str], expected: str) -> Finding:
    user, _sep, group = expected.partition(":")
    group = group or user
    ids: t.Tuple[t.Optional[int], t.Optional[int]] = (0, 0) if user == "root" else (None, None)
    note = ""
    fix_owner: t.Tuple[t.Optional[str], t.Optional[str]] = (user, group)
    if spec.run_as_of:
        uid, gid, how = _run_as(node, node.components.get(spec.run_as_of, comp))
        if uid is not None:
            ids = (uid, gid)
            fix_owner = (str(uid), str(gid) if gid is not None else None)
            note = "%s runs as %s:%s (%s), accepted in place of %s" % (spec.run_as_of, uid, gid, how, expected)
        elif not how:
            fix_owner = (None, None)
            note = "cannot tell which account %s runs as; chown the directory to it" % spec.run_as_of
    bad = [p for p in paths if not _owner_ok(node.file(p), user, group, ids)]
    single = len(paths) == 1
    actual = _owner_text(node.file(paths[0])) if single else (
        "; ".join("%s %s" % (p, _owner_text(node.file(p))) for p in bad[:10]) if bad else "%d paths" % len(paths))
    source = paths[0] if single else os.path.commonpath(paths)
    words = "%s, or %s:%s" % (expected, ids[0], ids[1]) if spec.run_as_of and ids[0] is not None else None
    fixes: t.Tuple[Fix, ...] = ()
    if bad and rule.automated and fix_owner[0] is not None:
        fixes = tuple(Fix("attrs", comp.name, p, owner=fix_owner[0], group=fix_owner[1]) for p in bad)
    return Finding(rule, "fail" if bad else "pass", actual, source, expected=words, message=note, fixes=fixes)
