# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The restart plan of one host's change: what to restart, in order, and how to see each part is back.

One step per thing to restart (run on the node by ``kubefort.hardening.node_restart``):

- ``unit``: a systemd unit. The kubelet (kubeadm, kubespray, EKS, generic), a systemd etcd or kube-proxy,
  and the distribution services that run components inside them: ``k3s``/``k3s-agent`` (everything in one
  process), ``rke2-server``/``rke2-agent`` (the kubelet in the rke2 process; the control plane as static
  pods that rke2 regenerates at start), microk8s' ``snap.microk8s.daemon-kubelite``.
- ``static_pod``: a manifest kubefort changed; the kubelet restarts the pod by itself.

Units come first (etcd, then the kubelet or the distribution's service, then kube-proxy), static pods after
them (etcd first, then the API server), since the kubelet runs the static pods.

"Back" means: a new process of each program named, started after the restart, running the expected
command line (the new manifest's; a unit's own ExecStart, which the node reads after the restart), and a
200 from each health endpoint: kubelet ``/healthz`` (``healthzBindAddress``/``healthzPort``, default
127.0.0.1:10248, plain HTTP), API server ``/readyz`` (HTTPS on ``--secure-port``, with the
distribution's admin kubeconfig), controller manager / scheduler ``/healthz`` (HTTPS 10257 / 10259),
etcd ``/health`` (the first plain-HTTP ``--listen-metrics-urls``, else the first client URL with etcd's
own certificate, key and CA), kube-proxy ``/healthz`` (``--healthz-bind-address``, default 10256).
"""

from __future__ import annotations

import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils._component_health import endpoint_url, flag_value
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _layouts
from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import Component, Node
from ansible_collections.kubefort.hardening.plugins.plugin_utils._manifests import load_manifest
from ansible_collections.kubefort.hardening.plugins.plugin_utils._yaml_edit import YAMLEditError

# The admin kubeconfig each distribution writes (None: kubefort_health_kubeconfig, /etc/kubernetes/admin.conf).
ADMIN_KUBECONFIG = {
    _layouts.K3S: "/etc/rancher/k3s/k3s.yaml",
    _layouts.RKE2: "/etc/rancher/rke2/rke2.yaml",
    _layouts.MICROK8S: "/var/snap/microk8s/current/credentials/client.config",
}
# The program a distribution service runs (its process, after the restart).
SERVICE_PROGRAMS = {"k3s": "k3s", "k3s-agent": "k3s", "rke2-server": "rke2", "rke2-agent": "rke2",
                    "snap.microk8s.daemon-kubelite": "kubelite", "etcd": "etcd", "kube-proxy": "kube-proxy",
                    "kubelet": "kubelet"}
# Logs a distribution service writes outside its journal: RKE2 runs the kubelet as a child process whose
# output goes to this file (its journal only says "Kubelet exited: exit status 1").
RKE2_KUBELET_LOG = "/var/lib/rancher/rke2/agent/logs/kubelet.log"
SERVICE_LOG_FILES = {"rke2-server": [RKE2_KUBELET_LOG], "rke2-agent": [RKE2_KUBELET_LOG]}
# The journal identifier of what a service runs, where it is not the program's name: snapd's units set
# SyslogIdentifier=<snap>.<app> (systemd's own lines, such as "Start request repeated too quickly", carry
# the unit only).
SERVICE_LOG_IDENTIFIERS = {"snap.microk8s.daemon-kubelite": "microk8s.daemon-kubelite"}
UNIT_ORDER = ("etcd", "kubelet", "kube-proxy")
POD_ORDER = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")


def plan(node: Node, changed: t.Mapping[str, t.Sequence[t.Tuple[str, t.Optional[str], t.Optional[str]]]],
         restart_only: t.Iterable[str]) -> t.List[t.Dict[str, t.Any]]:
    """Steps for ``changed`` (component -> [(path, before, after)] of its changed files) and the components
    whose files are right but whose process is not (``restart_only``)."""
    units: t.Dict[str, t.Dict[str, t.Any]] = {}
    pods: t.Dict[str, t.Dict[str, t.Any]] = {}
    wanted = {name: list(files) for name, files in changed.items()}
    for name in restart_only:
        wanted.setdefault(name, [])
    for name in sorted(wanted):
        comp = node.components.get(name)
        if comp is None or not comp.present or comp.cluster_side:
            continue
        if comp.service or (comp.kind == "systemd" and name == "kubelet"):
            service = comp.service or "kubelet"
            step = units.setdefault(service, _unit_step(node, service))
            step["components"].append(name)
            _unit_checks(node, step, comp)
            continue
        if comp.manifest is None:
            continue
        edits = [f for f in wanted[name] if f[0] == comp.manifest.path and f[2] is not None]
        if not edits:
            # The kubelet restarts a static pod only when its manifest changes: nothing to restart here.
            continue
        _path, before, after = edits[0]
        pods[name] = _pod_step(node, comp, before, t.cast(str, after))
    ordered = sorted(units.values(), key=lambda s: _rank(s["order"], UNIT_ORDER))
    ordered += sorted(pods.values(), key=lambda s: _rank(s["components"][0], POD_ORDER))
    for step in ordered:
        step.pop("order", None)
    return ordered


def _rank(name: str, order: t.Sequence[str]) -> int:
    return order.index(name) if name in order else (1 if order is UNIT_ORDER else len(order))


def _unit_step(node: Node, service: str) -> t.Dict[str, t.Any]:
    unit = service if service.endswith(".service") else service + ".service"
    program = SERVICE_PROGRAMS.get(service, service)
    return {
        "name": service,
        "kind": "unit",
        "unit": unit,
        "components": [],
        "processes": [{"program": program, "unit": unit}],
        "health": [],
        "logs": dict({"unit": unit, "identifier": SERVICE_LOG_IDENTIFIERS.get(service, program)},
                     **({"files": SERVICE_LOG_FILES[service]} if service in SERVICE_LOG_FILES else {})),
        "order": service if service in UNIT_ORDER else "kubelet",
    }


def _add_health(step: t.Dict[str, t.Any], check: t.Optional[t.Dict[str, t.Any]]) -> None:
    if check and check["url"] not in [h["url"] for h in step["health"]]:
        step["health"].append(check)


def _unit_checks(node: Node, step: t.Dict[str, t.Any], comp: Component) -> None:
    """Health of what runs in this unit: for a distribution service, also its kubelet and API server."""
    if step["name"] in ("kubelet", "etcd", "kube-proxy"):
        _add_health(step, health_check(node, comp, None))
        return
    for name in ("kubelet", "kube-apiserver"):
        other = node.components.get(name)
        if other is not None and other.present:
            _add_health(step, health_check(node, other, None))
    if comp.name not in ("kubelet", "kube-apiserver"):
        _add_health(step, health_check(node, comp, None))
    if comp.manifest is not None:
        # RKE2 regenerates this component's manifest at start: its new pod must run.
        program = comp.name
        if program not in [p["program"] for p in step["processes"]]:
            step["processes"].append({"program": program})


def _pod_step(node: Node, comp: Component, before: t.Optional[str], after: str) -> t.Dict[str, t.Any]:
    path = t.cast(t.Any, comp.manifest).path
    command = _manifest_command(path, after)
    rollback = _manifest_command(path, before) if before is not None else None
    return {
        "name": comp.name,
        "kind": "static_pod",
        "manifest": path,
        "components": [comp.name],
        "processes": [{"program": comp.name, "command": command, "rollback_command": rollback}],
        "health": [h for h in [health_check(node, comp, command)] if h],
        "logs": {"pod": comp.name},
    }


def _manifest_command(path: str, text: str) -> t.Optional[t.List[str]]:
    try:
        manifest, _name = load_manifest(path, text)
    except YAMLEditError:
        return None
    return manifest.words


def health_check(node: Node, comp: Component, command: t.Optional[t.Sequence[str]]) -> t.Optional[t.Dict[str, t.Any]]:
    """The component's health endpoint, from the command line it will run (or its effective flags)."""
    flags = comp.disk_flags or comp.running_flags
    argv = list(command[1:]) if command else (["--%s=%s" % (o.name, flags.value(o.name)) for o in flags.occurrences] if flags else [])
    name = comp.name
    if name == "kubelet":
        port = _first(flag_value(argv, "healthz-port"), comp.config.get("healthzPort"), 10248)
        if str(port) == "0":
            return None
        host = _first(flag_value(argv, "healthz-bind-address"), comp.config.get("healthzBindAddress"), "127.0.0.1")
        return {"component": name, "url": endpoint_url(name, [], _loopback(str(host)), int(t.cast(t.Any, port)))}
    if name == "kube-proxy":
        bind = _first(flag_value(argv, "healthz-bind-address"), comp.config.get("healthzBindAddress"), "0.0.0.0:10256")
        host, _sep, port = str(bind).rpartition(":")
        if not port or port == "0":
            return None
        return {"component": name, "url": "http://%s:%s/healthz" % (_loopback(host.strip("[]") or "0.0.0.0"), port)}
    if name == "kube-apiserver":
        url = endpoint_url(name, argv, None, None)
        check: t.Dict[str, t.Any] = {"component": name, "url": url}
        if node.layout in ADMIN_KUBECONFIG:
            check["kubeconfig"] = ADMIN_KUBECONFIG[node.layout]
        else:
            check["default_kubeconfig"] = True
        return check
    if name in ("kube-controller-manager", "kube-scheduler"):
        return {"component": name, "url": endpoint_url(name, argv, None, None)}
    if name == "etcd":
        url = endpoint_url(name, argv, None, None)
        if url:
            return {"component": name, "url": url}
        client = [u for u in (flag_value(argv, "listen-client-urls") or "").split(",") if u]
        if not client:
            return None
        local = [u for u in client if "://127.0.0.1:" in u or "://localhost:" in u or "://[::1]:" in u]
        base = (local or client)[0].rstrip("/").replace("://0.0.0.0:", "://127.0.0.1:")
        check = {"component": name, "url": base + "/health"}
        if base.startswith("https://"):
            for key, flag in (("ca_file", "trusted-ca-file"), ("cert_file", "cert-file"), ("key_file", "key-file")):
                value = flag_value(argv, flag)
                if value:
                    check[key] = value
        return check
    return None


def _first(*values: t.Any) -> t.Any:
    return next(v for v in values if v is not None and v != "")


def _loopback(host: str) -> str:
    return "127.0.0.1" if host in ("", "0.0.0.0") else "::1" if host == "::" else host
