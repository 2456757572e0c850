# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""k3s and RKE2: one binary and one ``config.yaml`` (+ ``config.yaml.d``) whose ``<component>-arg`` lists are
applied over the distribution's own defaults.

Written: the ``<component>-arg`` entry that sets the flag (replaced, later ones removed, in the file that
holds it), else a new entry in the file that last defines the list, else in ``config.yaml`` (created 0600);
a kubelet value from the user's own drop-in in that drop-in. Never the files the distribution regenerates
at every start (its kubelet defaults drop-in, its etcd config, RKE2's ``agent/pod-manifests``).

Read (``build``): whether the node is a server or an agent (the enabled unit, its command line, the
process), which components run there, each one's flags as the distribution's defaults (or RKE2's
generated manifest) with the ``-arg`` entries applied over them (``_rancher_args``), the kubelet with its
``--config-dir`` drop-ins (the distribution's generated defaults first).
"""

from __future__ import annotations

import json
import typing as t
from dataclasses import dataclass, field

import yaml

from ansible_collections.kubefort.hardening.plugins.module_utils._flags import FlagSet, parse_args
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _versions
from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import ALL_COMPONENTS, STATIC_POD_COMPONENTS, Component, ConfigFile, Source
from ansible_collections.kubefort.hardening.plugins.plugin_utils._dist_base import (
    K3S,
    RKE2,
    Distribution,
    EditError,
    Layout,
    generated_mode,
)
from ansible_collections.kubefort.hardening.plugins.plugin_utils._kubelet_merge import kubelet_config
from ansible_collections.kubefort.hardening.plugins.plugin_utils._manifests import load_static_pods
from ansible_collections.kubefort.hardening.plugins.plugin_utils._processes import attach_processes
from ansible_collections.kubefort.hardening.plugins.plugin_utils._rancher_args import command_line_items, get_args, rancher_config, set_list_entries
from ansible_collections.kubefort.hardening.plugins.plugin_utils._yaml_edit import YAMLEditError, line_of, load

if t.TYPE_CHECKING:
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._edits import Planner
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Finding, Fix


@dataclass(frozen=True)
class Rancher:
    """k3s and RKE2: one binary, one config file, components configured by ``<component>-arg`` lists."""

    name: str
    config: str
    data_dir: str
    server_units: t.Tuple[str, ...]
    agent_units: t.Tuple[str, ...]
    programs: t.Tuple[str, ...]
    pod_manifests: t.Optional[str]
    kubelet_config_dir: str
    # component -> the config.yaml key holding its extra arguments
    arg_keys: t.Mapping[str, str] = field(default_factory=dict)

    @property
    def config_dir(self) -> str:
        return self.config + ".d"

    def data_file(self, name: str) -> str:
        """A file the distribution writes under its data dir (``agent/...`` on every node, ``server/...``)."""
        return "%s/%s" % (self.data_dir, name)


ARG_KEYS = {
    "kube-apiserver": "kube-apiserver-arg",
    "kube-controller-manager": "kube-controller-manager-arg",
    "kube-scheduler": "kube-scheduler-arg",
    "etcd": "etcd-arg",
    "kubelet": "kubelet-arg",
    "kube-proxy": "kube-proxy-arg",
}


def _rancher(name: str, server_unit: str, agent_unit: str, static_pods: bool) -> Rancher:
    """A distribution laid out the k3s way: /etc/rancher/<name>, /var/lib/rancher/<name>, one <name> binary."""
    data_dir = "/var/lib/rancher/" + name
    return Rancher(name=name, config="/etc/rancher/%s/config.yaml" % name, data_dir=data_dir,
                   server_units=(server_unit,), agent_units=(agent_unit,), programs=(name,),
                   pod_manifests=data_dir + "/agent/pod-manifests" if static_pods else None,
                   kubelet_config_dir=data_dir + "/agent/etc/kubelet.conf.d", arg_keys=ARG_KEYS)


K3S_DIST = _rancher(K3S, "k3s.service", "k3s-agent.service", static_pods=False)
RKE2_DIST = _rancher(RKE2, "rke2-server.service", "rke2-agent.service", static_pods=True)
RANCHER_DISTS = {K3S: K3S_DIST, RKE2: RKE2_DIST}

# The settings k3s passes its embedded components before the user's ``-arg`` entries, from k3s'
# pkg/daemons/control/server.go and pkg/daemons/agent (only the ones the catalog can look at).
# RKE2 runs the same code for the kubelet; its control plane runs as static pods whose generated
# manifests hold the defaults, so RKE2 entries here are used only before the first start.
RANCHER_DEFAULTS: t.Mapping[str, t.Mapping[str, str]] = {
    "kube-apiserver": {
        "anonymous-auth": "false",
        "authorization-mode": "Node,RBAC",
        "enable-admission-plugins": "NodeRestriction",
        "profiling": "false",
        "allow-privileged": "true",
        "bind-address": "127.0.0.1",
    },
    "kube-controller-manager": {
        "profiling": "false",
        "bind-address": "127.0.0.1",
        "use-service-account-credentials": "true",
    },
    "kube-scheduler": {
        "profiling": "false",
        "bind-address": "127.0.0.1",
    },
    "etcd": {
        "client-cert-auth": "true",
        "peer-client-cert-auth": "true",
    },
    "kube-proxy": {
        "proxy-mode": "iptables",
        "healthz-bind-address": "127.0.0.1",
    },
}

# The kubelet defaults k3s and RKE2 write to ``<data>/agent/etc/kubelet.conf.d/00-<name>-defaults.conf``
# at every start (v1.32 and later; older releases passed the same values as flags), with the agent's
# client CA (``kubelet_defaults``).
RANCHER_KUBELET_CONFIG: t.Mapping[str, t.Any] = {
    "apiVersion": "kubelet.config.k8s.io/v1beta1",
    "kind": "KubeletConfiguration",
    "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True}},
    "authorization": {"mode": "Webhook"},
}
# The files the distribution writes and starts its components with, under its data dir (k3s
# pkg/agent/config and pkg/daemons/agent for the agent, every node; the server's runtime files,
# pkg/daemons/control/deps, for the controller manager and scheduler; RKE2 runs the same code with its own
# data dir and passes the same paths in its generated manifests): each component's --kubeconfig, and the
# client CA the kubelet verifies callers with (clientCAFile in the defaults drop-in, --client-ca-file
# before v1.32).
FILE_FLAGS: t.Mapping[str, t.Mapping[str, str]] = {
    "kubelet": {"kubeconfig": "agent/kubelet.kubeconfig"},
    "kube-proxy": {"kubeconfig": "agent/kubeproxy.kubeconfig"},
    "kube-controller-manager": {"kubeconfig": "server/cred/controller.kubeconfig"},
    "kube-scheduler": {"kubeconfig": "server/cred/scheduler.kubeconfig"},
}
CLIENT_CA = "agent/client-ca.crt"
# Releases whose kubelet ran with the read-only port 10255 open: the generated drop-in omits
# readOnlyPort 0 and the kubelet, started with --config-dir only, keeps its flag default.
# k3s-io/k3s#12164 (fixed in v1.32.4+k3s1); rancher/rke2#8094/#8100 (fix validated June 2025: taken here
# as the first releases after it, v1.32.6 and v1.33.2, which is approximate).
READ_ONLY_PORT_OPEN: t.Mapping[str, t.Tuple[t.Tuple[t.Tuple[int, ...], t.Tuple[int, ...]], ...]] = {
    K3S: (((1, 32, 0), (1, 32, 4)),),
    RKE2: (((1, 32, 0), (1, 32, 6)), ((1, 33, 0), (1, 33, 2))),
}


def defaults(dist: Rancher, component: str) -> t.Dict[str, t.Tuple[str, Source]]:
    """The flags the distribution starts a component with (before its -arg entries), with their source."""
    flags = dict(RANCHER_DEFAULTS.get(component, {}))
    flags.update((flag, dist.data_file(name)) for flag, name in FILE_FLAGS.get(component, {}).items())
    return {flag: (value, {"path": "%s default" % dist.name}) for flag, value in flags.items()}


def kubelet_defaults(dist: Rancher) -> t.Dict[str, t.Any]:
    """The KubeletConfiguration of the distribution's defaults drop-in."""
    config = json.loads(json.dumps(RANCHER_KUBELET_CONFIG))
    config["authentication"]["x509"] = {"clientCAFile": dist.data_file(CLIENT_CA)}
    return config


def read_only_port_open(dist: str, version: t.Optional[str]) -> bool:
    """Whether this k3s/RKE2 release left the kubelet's read-only port at its flag default 10255."""
    if not version:
        return False
    try:
        parts = tuple(int(p) for p in version.lstrip("v").split("+")[0].split("-")[0].split(".")[:3])
    except ValueError:
        return False
    return any(low <= parts < high for low, high in READ_ONLY_PORT_OPEN.get(dist, ()))


WANTS = "/etc/systemd/system/multi-user.target.wants"


def _layout(dist: Rancher, description: str, markers: t.Tuple[str, ...], also_read: t.Tuple[str, ...] = ()) -> Layout:
    pods = (dist.pod_manifests,) if dist.pod_manifests else ()
    return Layout(
        name=dist.name,
        description=description,
        markers=markers,
        read=(dist.config, dist.config_dir + "/*.yaml", dist.config_dir + "/*.yml", dist.kubelet_config_dir + "/*.conf")
        + tuple(p + "/*.yaml" for p in pods) + (dist.data_dir + "/server/db/etcd/config",) + also_read,
        # Certificates, keys and kubeconfigs the file rules check: stat only, never read.
        stat=("/etc/rancher/%s/**" % dist.name, dist.data_dir + "/server/tls/**", dist.data_dir + "/server/cred/*",
              dist.data_dir + "/agent/*"),
        # The enabled unit tells a server from an agent (RKE2 installs both units on every node).
        listdirs=(dist.config_dir, dist.kubelet_config_dir) + pods + (WANTS,),
        units=dist.server_units + dist.agent_units,
        processes=dist.programs,
        settings={"default": "rancher"},
    )


LAYOUTS = (
    _layout(K3S_DIST, "k3s: /etc/rancher/k3s/config.yaml(+.d) <component>-arg lists over k3s defaults; one k3s process",
            ("/etc/rancher/k3s/config.yaml", "/etc/systemd/system/k3s.service", "/etc/systemd/system/k3s-agent.service")),
    _layout(RKE2_DIST, "RKE2: /etc/rancher/rke2/config.yaml(+.d) <component>-arg lists; generated static pods in agent/pod-manifests (read-only)",
            ("/etc/rancher/rke2/config.yaml", "/usr/local/lib/systemd/system/rke2-server.service",
             "/usr/lib/systemd/system/rke2-server.service", "/usr/local/lib/systemd/system/rke2-agent.service",
             "/usr/lib/systemd/system/rke2-agent.service"),
            # Files RKE2 writes and its API server manifest names (never rke2.yaml: it holds keys).
            ("/etc/rancher/rke2/rke2-pss.yaml", "/etc/rancher/rke2/audit-policy.yaml")),
)


# --- reading -----------------------------------------------------------------------------------------


def _rancher_role(snapshot: t.Dict[str, t.Any], dist: Rancher, values: t.Mapping[str, t.Any]) -> t.Tuple[str, t.Optional[t.Dict[str, t.Any]]]:
    """``server`` or ``agent``, and the unit that runs it."""
    units = snapshot.get("units", {})
    wants = snapshot.get("listings", {}).get(WANTS, [])
    candidates = [(u, "server") for u in dist.server_units] + [(u, "agent") for u in dist.agent_units]
    present = [(u, role) for u, role in candidates if (units.get(u) or {}).get("unit")]
    enabled = [(u, role) for u, role in present if u in wants]
    for unit_name, role in enabled or present:
        argv = units[unit_name].get("argv") or []
        if len(argv) > 1 and argv[1] in ("server", "agent"):
            role = argv[1]
        if len(enabled or present) == 1 or role == "server":
            return role, dict(units[unit_name], name=unit_name)
    processes = snapshot.get("processes", {})
    for program in dist.programs:
        for proc in processes.get(program) or []:
            if len(proc["argv"]) > 1 and proc["argv"][1] in ("server", "agent"):
                return proc["argv"][1], None
    manifests = dist.pod_manifests and any(
        p.startswith(dist.pod_manifests + "/kube-apiserver") for p in snapshot.get("files", {}))
    return ("agent" if values.get("server") and not manifests else "server"), None


def build(snapshot: t.Dict[str, t.Any], layout: str, errors: t.List[str]) -> t.Tuple[t.Dict[str, Component], str]:
    """The components of a k3s or RKE2 node: the distribution's defaults, then the -arg entries; RKE2's
    generated pod manifests are what runs (and what the next start applies the entries over)."""
    dist = RANCHER_DISTS[layout]
    files = snapshot.get("files", {})
    config_errors: t.List[str] = []
    values, items = rancher_config(files, dist, config_errors)
    errors.extend(config_errors)
    role, unit = _rancher_role(snapshot, dist, values)
    service = unit["name"][: -len(".service")] if unit else dist.name + ("-server" if dist.name == RKE2 and role == "server"
                                                                         else "-agent" if role == "agent" else "")
    pod_path = dist.pod_manifests or ""
    components: t.Dict[str, Component] = {}
    etcd_config = dist.data_dir + "/server/db/etcd/config"
    etcd_file_base: t.Optional[t.Dict[str, t.Tuple[str, Source]]] = None
    for name in ALL_COMPONENTS:
        components[name] = Component(name=name, kind="embedded", settings="rancher", service=service)
    if dist.pod_manifests:
        load_static_pods(components, files, dist.pod_manifests, errors, set(STATIC_POD_COMPONENTS) | {"kube-proxy"})
    # The kubelet runs from the distribution's own release (k3s binary, RKE2 runtime directory).
    manifest_version = _versions.kubelet_version(dist.name, snapshot)[0] or next(
        (c.version for c in components.values() if c.version), None)
    for name, comp in components.items():
        if not _rancher_runs(name, role, values, files, dist, comp):
            comp.present = False
            continue
        comp.present = True
        # A config file that cannot be read or parsed may set any component's arguments: fail closed.
        comp.errors.extend(config_errors)
        arg_key = dist.arg_keys[name]
        comp.arg_items = items.get(arg_key, []) + command_line_items(unit, arg_key)
        if name == "kubelet":
            rancher_kubelet(comp, files, dist, manifest_version)
            continue
        deployed = comp.disk_flags
        if comp.manifest is not None:
            comp.generated.append(comp.manifest.path)
            comp.kind = "static_pod"
            base = _flag_map(deployed) if deployed is not None else {}
        else:
            base = defaults(dist, name)
        if name == "etcd":
            if "content" in files.get(etcd_config, {}):
                # The etcd config file k3s/RKE2 generate (etcd-arg entries are merged into it at start).
                base.pop("config-file", None)
                base.update(etcd_config_flags(files[etcd_config]["content"], etcd_config, errors))
                comp.generated.append(etcd_config)
        words, sources = get_args(base, comp.arg_items)
        comp.disk_flags = parse_args(name, words, sources)
        if deployed is not None and snapshot.get("live"):
            comp.running_flags = deployed
        if name == "etcd" and "config-file" not in base and etcd_config in comp.generated:
            etcd_file_base = base
    attach_processes(components, snapshot, skip=("kubelet",) if dist.name == K3S else ())
    etcd = components["etcd"]
    if etcd_file_base is not None and etcd.running_flags is not None and etcd.running_flags.has("config-file"):
        # etcd started with --config-file runs that file's settings and ignores its other flags: what runs is
        # the file the distribution generated for it at start, not "every flag at its default".
        etcd.running_flags = parse_args("etcd", *get_args(etcd_file_base, []))
    if dist.name == K3S:
        # Everything runs inside the k3s process: its command line shows none of the components' flags.
        for comp in components.values():
            comp.running_flags = None
    return components, pod_path


def _rancher_runs(name: str, role: str, values: t.Mapping[str, t.Any], files: t.Mapping[str, t.Any],
                  dist: Rancher, comp: Component) -> bool:
    if name in ("kubelet",):
        return True
    if name == "kube-proxy":
        return not values.get("disable-kube-proxy")
    if role != "server":
        return False
    if name == "etcd":
        if values.get("disable-etcd"):
            return False
        if dist.name == RKE2:
            return comp.present or not values.get("datastore-endpoint")
        etcd_dir = dist.data_dir + "/server/db/etcd/config"
        return bool(values.get("cluster-init")) or files.get(etcd_dir, {}).get("type") == "file"
    disabled = {"kube-apiserver": "disable-apiserver", "kube-controller-manager": "disable-controller-manager",
                "kube-scheduler": "disable-scheduler"}[name]
    return not values.get(disabled)


# etcd config file sections whose keys are the flags of the same name (peer-ones prefixed with "peer-").
_ETCD_TLS_SECTIONS = {"client-transport-security": "", "peer-transport-security": "peer-"}


def etcd_config_flags(text: str, path: str, errors: t.List[str]) -> t.Dict[str, t.Tuple[str, Source]]:
    """The flags an etcd ``--config-file`` sets (its keys are flag names; TLS keys sit in two sections)."""
    try:
        data, root = load(text, path)
    except YAMLEditError as exc:
        errors.append(str(exc))
        return {}
    if not isinstance(data, dict):
        return {}
    flags: t.Dict[str, t.Tuple[str, Source]] = {}

    def add(flag: str, value: t.Any, keypath: t.Tuple[str, ...]) -> None:
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, list):
            value = ",".join(str(v) for v in value)
        flags[flag] = (str(value), {"path": path, "line": line_of(root, keypath), "generated": True})

    for key, value in data.items():
        if key in _ETCD_TLS_SECTIONS and isinstance(value, dict):
            for sub, subvalue in value.items():
                add(_ETCD_TLS_SECTIONS[key] + sub, subvalue, (key, sub))
        elif not isinstance(value, dict):
            add(str(key), value, (key,))
    return flags


def _flag_map(flags: FlagSet) -> t.Dict[str, t.Tuple[str, Source]]:
    """Each flag's effective value and the source of its last occurrence (a generated manifest's flags)."""
    result: t.Dict[str, t.Tuple[str, Source]] = {}
    for occ in flags.occurrences:
        value = flags.value(occ.name)
        result[occ.name] = (t.cast(str, value), dict(occ.source, generated=True))
    return result


def rancher_kubelet(comp: Component, files: t.Mapping[str, t.Dict[str, t.Any]], dist: Rancher,
                    version: t.Optional[str]) -> None:
    """The kubelet k3s/RKE2 start: --config-dir with their generated defaults, then the kubelet-arg entries."""
    comp.kind = "systemd"
    base = defaults(dist, "kubelet")
    base["config-dir"] = (dist.kubelet_config_dir, {"path": "%s default" % dist.name})
    if not read_only_port_open(dist.name, version):
        base["read-only-port"] = ("0", {"path": "%s default" % dist.name})
    words, sources = get_args(base, [i for i in comp.arg_items if i.flag not in ("config", "config-dir")])
    comp.disk_flags = parse_args("kubelet", words, sources)
    defaults_path = "%s/00-%s-defaults.conf" % (dist.kubelet_config_dir, dist.name)
    config = kubelet_defaults(dist)
    generated = ConfigFile(defaults_path, yaml.safe_dump(config, sort_keys=False), config, None, "yaml", generated=True)
    kubelet_config(comp, files, None, dist.kubelet_config_dir, generated)
    comp.generated.append(defaults_path)
    for config in comp.configs:
        if config.path == defaults_path:
            config.generated = True


# --- writing -----------------------------------------------------------------------------------------


def write_flag(planner: "Planner", comp: "Component", flag: str, value: str, rule_ids: t.Sequence[str]) -> None:
    """Set ``flag=value`` in the <component>-arg list entries, never in the generated files.

    An entry that sets the flag is replaced (later ones removed); without one, an entry is appended to
    the file that last defines the list, or to config.yaml.
    """
    dist = RANCHER_DISTS[comp.layout]
    arg_key = dist.arg_keys[comp.name]
    mine = [i for i in comp.arg_items if i.flag == flag]
    if any(i.origin == "command-line" for i in mine):
        where = next(i for i in mine if i.origin == "command-line")
        raise EditError("--%s %s=... is on the %s command line (%s:%s); change it there by hand"
                        % (arg_key, flag, dist.name, where.path, where.line))
    word = "%s=%s" % (flag, value)
    targets: t.Dict[t.Tuple[str, str], t.Dict[str, t.Any]] = {}
    for number, item in enumerate(mine):
        slot = targets.setdefault((item.path, item.key), {"replace": {}, "remove": set()})
        if number == 0:
            slot["replace"][item.index] = word
        else:
            slot["remove"].add(item.index)
    if not mine:
        contributing = [i for i in comp.arg_items if i.origin == "config"]
        path, key = (contributing[-1].path, contributing[-1].key) if contributing else (dist.config, arg_key)
        targets.setdefault((path, key), {"replace": {}, "remove": set()})["append"] = [word]
    for (path, key), slot in targets.items():
        edit = planner.edit(path, comp.name, rule_ids[0])
        edit.rules.extend(r for r in rule_ids if r not in edit.rules)
        if edit.before is None:
            # No config.yaml yet (installed with flags only): create it readable by root alone.
            edit.mode, edit.create_parents = "0600", True
        edit.after = set_list_entries(edit.text or "", key, slot["replace"], slot["remove"], slot.get("append", []), path)


def config_as_flag(planner: "Planner", finding: "Finding", fix: "Fix") -> bool:
    """Whether a config-file fix must be written as a flag: the file is generated at every start."""
    comp = planner.node.components[fix.component]
    if comp.settings != "rancher":
        return False
    source = comp.config_sources.get(tuple(fix.target.split(".")), (None, None))[0]
    if source and "content" in planner.node.files.get(source, {}) and not any(source.startswith(g) for g in comp.generated):
        return False  # a drop-in of the user's own: change it where it is
    if not finding.rule.flag:
        raise EditError("%s is set in %s, which %s rewrites at every start, and has no flag; set it in a "
                        "kubelet drop-in of your own" % (fix.target, comp.config_path, comp.layout))
    return True


def flag_as_config(planner: "Planner", finding: "Finding", fix: "Fix") -> bool:
    """k3s/RKE2 kubelet: a value from the user's own drop-in is changed in that drop-in, not overridden."""
    comp = planner.node.components[fix.component]
    if comp.settings != "rancher" or not finding.rule.config_key or (comp.disk_flags and comp.disk_flags.has(fix.target)):
        return False
    source = comp.config_sources.get(tuple(finding.rule.config_key.split(".")), (None, None))[0]
    return bool(source) and "content" in planner.node.files.get(source, {}) and not any(
        source.startswith(g) for g in comp.generated)


def lasting_mode(comp: "Component", path: str) -> str:
    """RKE2's pod manifests: an RKE2 release that writes them 0600; anything else generated: the default."""
    if comp.layout == RKE2 and "/agent/pod-manifests/" in path:
        return ("rke2 writes %s at every start, so a chmod/chown would be undone at its next start. RKE2 releases "
                "from October 2023 on (rancher/rke2#4473) write the pod manifests 0600: upgrade RKE2, then restart "
                "rke2-server to have them rewritten" % path)
    return generated_mode(comp, path)


DISTRIBUTION = Distribution(name="rancher", layouts=LAYOUTS, build=build, write_flag=write_flag, config_as_flag=config_as_flag,
                            flag_as_config=flag_as_config, lasting_mode=lasting_mode)
