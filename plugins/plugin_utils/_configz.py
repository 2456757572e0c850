# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""What the kubelet runs: its ``/configz`` through the API server (``/api/v1/nodes/<name>/proxy/configz``).

The kubelet answers ``/configz`` with the KubeletConfiguration it runs with (``{"kubeletconfig": {...}}``:
its config file, drop-ins and flags merged, defaults filled in). Discovery sees the files; a file changed after
the kubelet started is caught by its mtime (``_staleness``), but not one written with an old mtime (``cp -p``,
a restored backup, an image layer) or a value the running kubelet got some other way. When the cluster play
has credentials, the read play fetches ``/configz`` once per live inventory host's Node, and ``mark`` judges
every kubelet setting rule on what runs: a rule whose files pass but whose running value fails is ``fail``,
"fixed on disk, restart needed", and a live apply restarts the kubelet (the restart plan) instead of reporting
``pass``.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import ipaddress
import typing as t
from urllib.parse import quote

from ansible_collections.kubefort.hardening.plugins.module_utils._check_specs import FileMode, FileOwner
from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import Node
from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Finding, Options, evaluate

WORKERS = 8


def match_nodes(nodes: t.Sequence[t.Mapping[str, t.Any]], hosts: t.Mapping[str, t.Sequence[str]]) -> t.Dict[str, str]:
    """Inventory host -> Node name: the first candidate (kubefort_node_name, the inventory name, ansible_host)
    that is a Node's name, else one of its addresses (InternalIP, ExternalIP, Hostname). Short and full host
    names match each other."""
    by_name: t.Dict[str, str] = {}
    by_address: t.Dict[str, str] = {}
    for node in nodes:
        name = str((node.get("metadata") or {}).get("name") or "")
        if not name:
            continue
        by_name.setdefault(name.lower(), name)
        by_name.setdefault(name.lower().split(".", maxsplit=1)[0], name)
        for address in ((node.get("status") or {}).get("addresses") or []):
            value = str(address.get("address") or "").lower()
            if value:
                by_address.setdefault(_canonical(value), name)
    matched: t.Dict[str, str] = {}
    for host, candidates in hosts.items():
        for candidate in [str(c).lower() for c in candidates if c]:
            found = by_name.get(candidate) or by_address.get(_canonical(candidate)) or by_name.get(candidate.split(".", maxsplit=1)[0])
            if found:
                matched[host] = found
                break
    return matched


def _canonical(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return value


def fetch(conn: t.Any, hosts: t.Mapping[str, t.Sequence[str]]) -> t.Dict[str, t.Dict[str, t.Any]]:
    """``{host: {"node": name, "configz": {...}}`` or ``{host: {"error": why}}`` for every host given.

    ``conn`` is a ``_kubeadm_config.KubeadmConnection`` (its ``get`` returns None for a 404)."""
    if not hosts:
        return {}
    body = conn.get("/api/v1/nodes") or {}
    matched = match_nodes(body.get("items") or [], hosts)
    out: t.Dict[str, t.Dict[str, t.Any]] = {
        host: {"error": "no Node named or addressed %s" % " / ".join(str(c) for c in candidates if c)}
        for host, candidates in hosts.items() if host not in matched}

    def one(host: str) -> t.Tuple[str, t.Dict[str, t.Any]]:
        name = matched[host]
        try:
            answer = conn.get("/api/v1/nodes/%s/proxy/configz" % quote(name, safe=""))
        except Exception as exc:  # noqa: BLE001 - one node's answer never stops the others
            return host, {"node": name, "error": str(exc)}
        config = (answer or {}).get("kubeletconfig") if isinstance(answer, dict) else None
        if not isinstance(config, dict):
            return host, {"node": name, "error": "the kubelet of Node %s gave no /configz" % name}
        return host, {"node": name, "configz": config}

    with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for host, entry in pool.map(one, sorted(matched)):
            out[host] = entry
    return out


def mark(node: Node, findings: t.Sequence[Finding], options: Options,
         entry: t.Optional[t.Mapping[str, t.Any]]) -> t.List[Finding]:
    """Judge the kubelet's setting rules on what it runs (``entry["configz"]``): the findings, with a ``pass``
    whose running value fails turned into "fixed on disk, restart needed". Only for live nodes, where the
    kubelet runs."""
    if not node.live or not entry or not isinstance(entry.get("configz"), dict):
        return list(findings)
    comp = node.components.get("kubelet")
    if comp is None or not comp.present:
        return list(findings)
    wanted = [f for f in findings if f.rule.component == "kubelet" and f.rule.config_key
              and not isinstance(f.rule.check, (FileMode, FileOwner)) and f.status == "pass"]
    if not wanted:
        return list(findings)
    source = "/configz of Node %s (through the API server)" % entry.get("node")
    running = dataclasses.replace(
        comp, config=dict(entry["configz"]), config_sources={}, configs=[], config_defaulted={}, config_ambiguous={},
        config_path=comp.config_path or source, flag_defaults=False, disk_flags=comp.running_flags or comp.disk_flags)
    view = dataclasses.replace(node, components=dict(node.components, kubelet=running))
    judged = {f.rule.id: f for f in evaluate(view, [f.rule for f in wanted], options)}
    marked = []
    for finding in findings:
        verdict = judged.get(finding.rule.id)
        if verdict is None or verdict.status != "fail":
            marked.append(finding)
            continue
        marked.append(dataclasses.replace(
            finding, status="fail", restart_only=True, actual=verdict.actual, source=source,
            message="fixed on disk, restart needed: the running kubelet has %s (%s), its files give %s (%s): restart "
                    "the kubelet" % (_shown(verdict.actual), source, _shown(finding.actual), finding.source)))
    return marked


def _shown(value: t.Optional[str]) -> str:
    return "unset" if value is None else value
