# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""kubeadm and kubespray nodes (and generic ones): systemd units, environment files, static pods.

Read (``build``): the kubelet from its systemd unit (unit search path, drop-ins, environment files) and
the config file it names merged with its ``--config-dir`` drop-ins; the control plane from the static
pods in the kubelet's ``staticPodPath``; etcd as a static pod or, on kubespray, as ``etcd.service``
with ``/etc/etcd.env``; kube-proxy as a unit or process, or cluster-side (a DaemonSet's ConfigMap).

Written: a flag where it occurs — the static pod manifest item, the unit's ``ExecStart`` line or the
environment-file line that defines the variable (repeated occurrences folded into the first); a
flag-only kubelet's new flag in the ``KUBELET_EXTRA_ARGS`` environment file its unit reads; an etcd
option set by an ``ETCD_*`` variable on that variable's line (a flag next to it would stop etcd).
"""

from __future__ import annotations

import copy
import re
import typing as t

import yaml

from ansible_collections.kubefort.hardening.plugins.module_utils._flags import parse_args
from ansible_collections.kubefort.hardening.plugins.module_utils._systemd import parse_env_file
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _yaml_edit
from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import (
    DEFAULT_STATIC_POD_PATH,
    ETCD_UNIT,
    KUBE_PROXY_UNIT,
    KUBELET_UNIT,
    STATIC_POD_COMPONENTS,
    Component,
)
from ansible_collections.kubefort.hardening.plugins.plugin_utils._config_files import kube_proxy_config
from ansible_collections.kubefort.hardening.plugins.plugin_utils._dist_base import (
    KUBEADM,
    KUBESPRAY,
    Distribution,
    EditError,
    Layout,
    replace_line_flag,
)
from ansible_collections.kubefort.hardening.plugins.plugin_utils._kubelet_merge import kubelet_config
from ansible_collections.kubefort.hardening.plugins.plugin_utils._manifests import load_static_pods
from ansible_collections.kubefort.hardening.plugins.plugin_utils._processes import apply_etcd_env, attach_processes, etcd_flag

if t.TYPE_CHECKING:
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._edits import Planner


LAYOUTS = (
    Layout(
        name=KUBEADM,
        description="kubeadm: static pods in /etc/kubernetes/manifests, kubelet unit + kubeadm-flags.env + /var/lib/kubelet/config.yaml",
        markers=("/var/lib/kubelet/kubeadm-flags.env",),
        read=(
            "/etc/kubernetes/manifests/*.yaml",
            "/etc/kubernetes/manifests/*.yml",
            "/etc/kubernetes/manifests/*.json",
            "/var/lib/kubelet/config.yaml",
            "/var/lib/kubelet/kubeadm-flags.env",
            "/etc/default/kubelet",
            "/etc/sysconfig/kubelet",
        ),
        stat=("/etc/kubernetes/**", "/var/lib/kubelet/config.yaml"),
        listdirs=("/etc/kubernetes/manifests",),
        units=("kubelet.service", "kube-proxy.service"),
        processes=("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kubelet", "kube-proxy"),
        settings={"kubelet": "unit", "kube-proxy": "unit", "default": "manifest"},
        cluster_side={"kube-proxy": "the kube-proxy DaemonSet reads the kube-system/kube-proxy ConfigMap"},
    ),
    Layout(
        name=KUBESPRAY,
        description="kubespray: kubeadm static pods, kubelet.env + /etc/kubernetes/kubelet-config.yaml, etcd as a systemd unit with /etc/etcd.env",
        markers=("/etc/kubernetes/kubelet.env", "/etc/etcd.env"),
        read=("/etc/kubernetes/kubelet.env", "/etc/kubernetes/kubelet-config.yaml", "/etc/etcd.env"),
        stat=("/etc/ssl/etcd/ssl/*", "/etc/etcd.env"),
        units=("etcd.service",),
        settings={"kubelet": "unit", "etcd": "unit", "default": "manifest"},
        cluster_side={"kube-proxy": "the kube-proxy DaemonSet reads the kube-system/kube-proxy ConfigMap"},
    ),
)


# --- reading -----------------------------------------------------------------------------------------


def build(snapshot: t.Dict[str, t.Any], layout: str, errors: t.List[str]) -> t.Tuple[t.Dict[str, Component], str]:
    known = {entry.name: entry for entry in LAYOUTS}.get(layout)
    return build_node_parts(snapshot, layout, errors, known.cluster_side if known else {})


def build_node_parts(snapshot: t.Dict[str, t.Any], layout: str, errors: t.List[str],
                     cluster_side: t.Mapping[str, str]) -> t.Tuple[t.Dict[str, Component], str]:
    """A node of systemd units and static pods: the kubelet (its unit, environment files, config and
    drop-ins), the static pods in its staticPodPath, etcd as a pod or a unit, kube-proxy as a unit, a
    process or the cluster's DaemonSet."""
    files = snapshot.get("files", {})
    kubelet = _build_kubelet(snapshot)
    found = kubelet.config.get("staticPodPath") if kubelet.config else None
    pod_path = (kubelet.disk_flags.value("pod-manifest-path") if kubelet.disk_flags else None) or found or DEFAULT_STATIC_POD_PATH
    components: t.Dict[str, Component] = {"kubelet": kubelet}
    for name in STATIC_POD_COMPONENTS:
        components[name] = Component(name=name)
    load_static_pods(components, files, pod_path, errors, set(STATIC_POD_COMPONENTS))
    etcd = components["etcd"]
    if not etcd.present:
        _etcd_from_unit(etcd, snapshot, errors)
    attach_processes(components, snapshot, skip=())
    apply_etcd_env(etcd, errors)
    components["kube-proxy"] = _build_kube_proxy(snapshot, cluster_side.get("kube-proxy"))
    for comp in components.values():
        if comp.settings == "manifest" and comp.kind == "systemd":
            comp.settings = "unit"
    return components, pod_path


def _etcd_from_unit(etcd: Component, snapshot: t.Dict[str, t.Any], errors: t.List[str]) -> None:
    """etcd run by systemd (kubespray's default ``etcd_deployment_type: host``): flags plus ETCD_* variables."""
    unit = snapshot.get("units", {}).get(ETCD_UNIT)
    if not unit or not unit.get("unit"):
        return
    etcd.present = True
    etcd.kind = "systemd"
    etcd.settings = "unit"
    etcd.unit = unit
    etcd.service = "etcd"
    etcd.errors.extend(unit.get("errors", []))
    argv = unit.get("argv") or []
    etcd.disk_flags = parse_args("etcd", argv[1:], (unit.get("argv_sources") or [])[1:])
    etcd.env = {var: {"value": e["value"], "path": e["path"], "line": e["line"], "flag": etcd_flag(var)}
                for var, e in unit.get("env", {}).items() if var.startswith("ETCD_")}


def _build_kube_proxy(snapshot: t.Dict[str, t.Any], side: t.Optional[str]) -> Component:
    """kube-proxy as a systemd unit or a process; a DaemonSet's ConfigMap is cluster-side."""
    files = snapshot.get("files", {})
    comp = Component(name="kube-proxy", kind="systemd", settings="unit")
    unit = snapshot.get("units", {}).get(KUBE_PROXY_UNIT)
    if unit and unit.get("unit"):
        comp.present = True
        comp.unit = unit
        comp.service = "kube-proxy"
        comp.errors.extend(unit.get("errors", []))
        comp.disk_flags = parse_args("kube-proxy", (unit.get("argv") or [])[1:], (unit.get("argv_sources") or [])[1:])
    procs = snapshot.get("processes", {}).get("kube-proxy") or []
    if procs:
        proc = procs[0]
        comp.present = True
        comp.process = proc
        comp.running_flags = parse_args("kube-proxy", proc["argv"][1:], [{"path": "/proc/%d/cmdline" % proc["pid"]}] * (len(proc["argv"]) - 1))
    if not comp.present:
        comp.cluster_side = side
        return comp
    kube_proxy_config(comp, files, side if comp.unit is None else None)
    return comp


def _build_kubelet(snapshot: t.Dict[str, t.Any]) -> Component:
    comp = Component(name="kubelet", kind="systemd", settings="unit")
    files = snapshot.get("files", {})
    unit = snapshot.get("units", {}).get(KUBELET_UNIT)
    if unit and unit.get("unit"):
        comp.present = True
        comp.unit = unit
        comp.errors.extend(unit.get("errors", []))
        if unit.get("argv"):
            comp.disk_flags = parse_args("kubelet", unit["argv"][1:], unit["argv_sources"][1:])
    flags = comp.disk_flags
    procs = snapshot.get("processes", {}).get("kubelet")
    if procs:
        flags = parse_args("kubelet", procs[0]["argv"][1:])
    if flags is None:
        return comp
    kubelet_config(comp, files, flags.value("config"), flags.value("config-dir"))
    return comp


# --- writing -----------------------------------------------------------------------------------------


def write_flag(planner: "Planner", comp: "Component", flag: str, value: str, rule_ids: t.Sequence[str]) -> None:
    if from_env(comp, flag):
        env_flag(planner, comp, flag, value, rule_ids)
    elif comp.manifest is not None:
        planner._manifest_flags(comp, {flag: value}, rule_ids)
    else:
        systemd_flag(planner, comp, flag, value, rule_ids)


def systemd_flag(planner: "Planner", comp: "Component", flag: str, value: str, rule_ids: t.Sequence[str]) -> None:
    flags = comp.disk_flags
    if flags is None or comp.unit is None:
        raise EditError("%s has no systemd unit to change; set %s by hand" % (comp.name, flag))
    occurrences = flags.find(flag)
    if occurrences:
        for number, occ in enumerate(occurrences):
            path, line = occ.source.get("path"), occ.source.get("line")
            if not path or not line:
                raise EditError("cannot tell which file sets --%s" % flag)
            edit = planner.edit(path, comp.name, rule_ids[0])
            edit.rules.extend(r for r in rule_ids if r not in edit.rules)
            edit.after = replace_line_flag(t.cast(str, edit.text), line, flag, None if number else value)
        return
    path, var = extra_args_file(comp)
    edit = planner.edit(path, comp.name, rule_ids[0])
    edit.rules.extend(r for r in rule_ids if r not in edit.rules)
    edit.after = add_env_flag(edit.text or "", var, "--%s=%s" % (flag, value))
    if edit.before is None:
        edit.mode, edit.create_parents = "0644", True


# --- ETCD_* environment variables -------------------------------------------------------------------


def from_env(comp: "Component", flag: str) -> bool:
    """Whether the effective value of ``--flag`` comes from an ETCD_* variable."""
    found = comp.disk_flags.find(flag) if comp.disk_flags is not None else []
    return bool(found) and all(o.form == "env" for o in found)


def env_flag(planner: "Planner", comp: "Component", flag: str, value: str, rule_ids: t.Sequence[str]) -> None:
    """Change the variable that sets the option (adding a flag next to it would stop etcd)."""
    entry = t.cast(t.Dict[str, t.Any], comp.env_value(flag))
    path, line, var = entry["path"], entry.get("line"), entry["var"]
    if not line:
        raise EditError("%s sets --%s but its line is unknown; change it by hand" % (var, flag))
    edit = planner.edit(path, comp.name, rule_ids[0])
    edit.rules.extend(r for r in rule_ids if r not in edit.rules)
    if comp.manifest is not None and path == comp.manifest.path:
        index = entry["index"]
        edit.after = replace_scalar(t.cast(str, edit.text),
                                    ("spec", "containers", comp.manifest.container, "env", index, "value"), value, path)
    else:
        edit.after = set_env_line(t.cast(str, edit.text), line, var, value)


# --- unit and environment file text ------------------------------------------------------------------


def extra_args_file(comp: "Component") -> t.Tuple[str, str]:
    """The environment file and variable where a flag-only kubelet takes extra arguments."""
    unit = t.cast(t.Dict[str, t.Any], comp.unit)
    used_vars = set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", " ".join(_exec_words(unit))))
    for env_file in reversed(unit.get("env_files", [])):
        path = env_file["path"]
        for var in ("KUBELET_EXTRA_ARGS", "KUBELET_ARGS", "KUBELET_OPTS"):
            if var in used_vars:
                defined = unit.get("env", {}).get(var)
                if defined is None or defined.get("path") == path:
                    return path, var
    raise EditError(
        "the kubelet has no config file and its unit reads no KUBELET_EXTRA_ARGS environment file; "
        "add the flag to its unit by hand or give it a --config file"
    )


def _exec_words(unit: t.Mapping[str, t.Any]) -> t.List[str]:
    return [str((unit.get("exec_start") or {}).get("raw", ""))]


def add_env_flag(text: str, var: str, word: str) -> str:
    """Append a word to ``VAR=...`` in an environment file (adding the line when it is missing)."""
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        match = re.match(r"^(\s*(?:export\s+)?%s=)(.*?)(\s*)$" % re.escape(var), line)
        if not match:
            continue
        head, value, tail = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            inner = value[1:-1]
            new_value = value[0] + (inner + " " if inner.strip() else "") + word + value[0]
        elif value.strip():
            new_value = '"%s %s"' % (value.strip(), word)
        else:
            new_value = word
        lines[index] = head + new_value + (tail or "\n")
        new = "".join(lines)
        break
    else:
        new = text + ("" if not text or text.endswith("\n") else "\n") + "%s=%s\n" % (var, word)
    parsed = parse_env_file(new).get(var, ("", 0))[0]
    if word not in parsed.split():
        raise EditError("could not add %s to %s safely" % (word, var))
    return new


def set_env_line(text: str, line: int, var: str, value: str) -> str:
    """Set ``VAR=value`` on one line of an environment file or an ``Environment=`` unit line."""
    lines = text.splitlines(keepends=True)
    if line < 1 or line > len(lines):
        raise EditError("line %d is outside the file" % line)
    old = lines[line - 1]
    pattern = re.compile(r"(?<![\w])(%s=)(\"[^\"]*\"|'[^']*'|[^\s\"']*)" % re.escape(var))
    match = pattern.search(old)
    if not match:
        raise EditError("%s is not on line %d as expected" % (var, line))
    current = match.group(2)
    quote = current[0] if current[:1] in ("\"", "'") else ""
    lines[line - 1] = old[:match.start(2)] + quote + value + quote + old[match.end(2):]
    new = "".join(lines)
    if parse_env_file(new).get(var, ("", 0))[0] != value and "Environment=" not in old:
        raise EditError("could not set %s safely" % var)
    return new


def replace_scalar(text: str, path: t.Tuple[t.Union[str, int], ...], value: str, what: str) -> str:
    """Replace one scalar (found by a path of keys and list indexes), checked by reparsing."""
    data, root = _yaml_edit.load(text, what)
    node = root
    for key in path:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            node = None
        if node is None:
            raise EditError("%s: %s not found" % (what, ".".join(map(str, path))))
    if not isinstance(node, yaml.ScalarNode):
        raise EditError("%s: %s is not a scalar" % (what, ".".join(map(str, path))))
    new = text[:node.start_mark.index] + _yaml_edit.scalar_text(value) + text[node.end_mark.index:]
    expected = copy.deepcopy(data)
    target = expected
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return _yaml_edit._checked(new, expected, what)


DISTRIBUTION = Distribution(name=KUBEADM, layouts=LAYOUTS, build=build, write_flag=write_flag)
