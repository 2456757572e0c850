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
"""

from __future__ import annotations

import copy
import json
import typing as t
from dataclasses import dataclass, field

import yaml

from ansible_collections.kubefort.hardening.plugins.plugin_utils import _yaml_edit
from ansible_collections.kubefort.hardening.plugins.plugin_utils._dist_base import (
    K3S,
    RKE2,
    Distribution,
    EditError,
    generated_mode,
)

if t.TYPE_CHECKING:
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import Component
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


ARG_KEYS = {
    "kube-apiserver": "kube-apiserver-arg",
    "kube-controller-manager": "kube-controller-manager-arg",
    "kube-scheduler": "kube-scheduler-arg",
    "etcd": "etcd-arg",
    "kubelet": "kubelet-arg",
    "kube-proxy": "kube-proxy-arg",
}

K3S_DIST = Rancher(
    name=K3S,
    config="/etc/rancher/k3s/config.yaml",
    data_dir="/var/lib/rancher/k3s",
    server_units=("k3s.service",),
    agent_units=("k3s-agent.service",),
    programs=("k3s",),
    pod_manifests=None,
    kubelet_config_dir="/var/lib/rancher/k3s/agent/etc/kubelet.conf.d",
    arg_keys=ARG_KEYS,
)
RKE2_DIST = Rancher(
    name=RKE2,
    config="/etc/rancher/rke2/config.yaml",
    data_dir="/var/lib/rancher/rke2",
    server_units=("rke2-server.service",),
    agent_units=("rke2-agent.service",),
    programs=("rke2",),
    pod_manifests="/var/lib/rancher/rke2/agent/pod-manifests",
    kubelet_config_dir="/var/lib/rancher/rke2/agent/etc/kubelet.conf.d",
    arg_keys=ARG_KEYS,
)
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
# at every start (v1.32 and later; older releases passed the same values as flags).
RANCHER_KUBELET_CONFIG: t.Mapping[str, t.Any] = {
    "apiVersion": "kubelet.config.k8s.io/v1beta1",
    "kind": "KubeletConfiguration",
    "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True}},
    "authorization": {"mode": "Webhook"},
}
# Releases whose kubelet ran with the read-only port 10255 open: the generated drop-in omits
# readOnlyPort 0 and the kubelet, started with --config-dir only, keeps its flag default.
# k3s-io/k3s#12164 (fixed in v1.32.4+k3s1); rancher/rke2#8094/#8100 (fix validated June 2025: taken here
# as the first releases after it, v1.32.6 and v1.33.2, which is approximate).
READ_ONLY_PORT_OPEN: t.Mapping[str, t.Tuple[t.Tuple[t.Tuple[int, ...], t.Tuple[int, ...]], ...]] = {
    K3S: (((1, 32, 0), (1, 32, 4)),),
    RKE2: (((1, 32, 0), (1, 32, 6)), ((1, 33, 0), (1, 33, 2))),
}


def read_only_port_open(dist: str, version: t.Optional[str]) -> bool:
    """Whether this k3s/RKE2 release left the kubelet's read-only port at its flag default 10255."""
    if not version:
        return False
    try:
        parts = tuple(int(p) for p in version.lstrip("v").split("+")[0].split("-")[0].split(".")[:3])
    except ValueError:
        return False
    return any(low <= parts < high for low, high in READ_ONLY_PORT_OPEN.get(dist, ()))


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


def set_list_entries(text: str, key: str, replace: t.Mapping[t.Optional[int], str], remove: t.Iterable[t.Optional[int]],
                     append: t.Sequence[str], what: str) -> str:
    """Replace, remove and append entries of a top-level list (``kubelet-arg: [...]``) of a config.yaml.

    A block list is edited in place; a scalar or flow list is rewritten as a flow list; a missing key is
    added at the end of the file. The result must parse to exactly the intended change.
    """
    data, root = _yaml_edit.load(text, what) if text.strip() else (None, None)
    if data is not None and not isinstance(data, dict):
        raise EditError("%s is not a YAML mapping" % what)
    data = data or {}
    old = data.get(key)
    items = list(old) if isinstance(old, list) else ([] if old is None else [old])
    removed = set(remove)
    if isinstance(old, list):
        new_items = [str(replace.get(i, v)) for i, v in enumerate(items) if i not in removed]
    else:
        new_items = [] if None in removed else [str(replace.get(None, v)) for v in items]
    new_items += list(append)
    expected = copy.deepcopy(data)
    expected[key] = new_items
    node = next((v for k, v in root.value if k.value == key), None) if isinstance(root, yaml.MappingNode) else None
    if node is None:
        block = "%s:\n%s" % (key, "".join("- %s\n" % _yaml_edit.scalar_text(v) for v in new_items))
        new = text + ("" if not text or text.endswith("\n") else "\n") + block
    elif isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
        new = _edit_block_list(text, node, replace, removed, append)
    else:
        items_nodes = node.value if isinstance(node, yaml.SequenceNode) else [node]
        style = next((n.style for n in items_nodes if isinstance(n, yaml.ScalarNode)), None)
        flow = "[" + ", ".join(_styled(v, style) for v in new_items) + "]"
        new = text[:node.start_mark.index] + flow + text[node.end_mark.index:]
    return _yaml_edit._checked(new, expected, what)


def _styled(value: str, style: t.Optional[str]) -> str:
    """A YAML scalar in the quoting style of its neighbours (so an edit changes only the value)."""
    if style == '"':
        return json.dumps(value)
    if style == "'":
        return "'%s'" % value.replace("'", "''")
    return _yaml_edit.scalar_text(value)


def _edit_block_list(text: str, node: yaml.SequenceNode, replace: t.Mapping[t.Optional[int], str],
                     removed: t.Set[t.Optional[int]], append: t.Sequence[str]) -> str:
    edits: t.List[t.Tuple[int, int, str]] = []
    for index, value in replace.items():
        if index is None:
            continue
        item = node.value[index]
        edits.append((item.start_mark.index, item.end_mark.index, _styled(value, getattr(item, "style", None))))
    for index in removed:
        if index is None:
            continue
        item = node.value[index]
        start = text.rfind("\n", 0, item.start_mark.index) + 1
        end = text.find("\n", max(item.end_mark.index - 1, item.start_mark.index))
        edits.append((start, len(text) if end == -1 else end + 1, ""))
    if append:
        last = node.value[-1]
        line_start = text.rfind("\n", 0, last.start_mark.index) + 1
        prefix = text[line_start:last.start_mark.index]
        at = text.find("\n", max(last.end_mark.index - 1, last.start_mark.index))
        at = len(text) if at == -1 else at + 1
        lead = "" if at == 0 or text[at - 1] == "\n" else "\n"
        edits.append((at, at, lead + "".join("%s%s\n" % (prefix, _styled(v, getattr(last, "style", None))) for v in append)))
    for start, end, replacement in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


DISTRIBUTION = Distribution(name="rancher", write_flag=write_flag, config_as_flag=config_as_flag, flag_as_config=flag_as_config,
                            lasting_mode=lasting_mode)
