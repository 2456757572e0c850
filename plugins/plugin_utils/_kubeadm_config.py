# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Read and patch kubeadm's cluster configuration: ``kube-system/kubeadm-config`` (key ``ClusterConfiguration``)
and ``kube-system/kubelet-config`` (key ``kubelet``), from the API or from a saved dump.

Reading gives ``kubefort_kubeadm_state`` (``{source, kubeadm_config: {text, resource_version}, kubelet_config:
..., errors}``) that ``node_harden`` judges every kubeadm node's results against (``_kubeadm_upgrade``). The
opt-in fix collects what each reverted result needs (its ``kubeadm.keep``) from every host, refuses values
that disagree between hosts, and sends one merge patch per ConfigMap with the ``resourceVersion`` it read
(the API server answers 409 when the object changed since) and ``dryRun=All`` in check mode.
"""

from __future__ import annotations

import json
import os
import typing as t
from urllib.parse import quote

from ansible_collections.kubefort.hardening.plugins.module_utils._cluster_policy import ClusterPolicyError, parse_json_documents
from ansible_collections.kubefort.hardening.plugins.module_utils._cluster_snapshot import (
    MERGE_PATCH,
    ApiException,
    ClusterAPIError,
    ClusterAuthError,
    ClusterConfigError,
    ClusterConnection,
    ClusterUnreachableError,
    HTTPStatusError,
    Urllib3HTTPError,
)
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _configz, _kubeadm_render as render, _kubeadm_upgrade as upgrade
from ansible_collections.kubefort.hardening.plugins.plugin_utils._kubeadm_render import KubeadmConfigError

# The errors after which no other call can work either.
FATAL = (ClusterAuthError, ClusterConfigError, ClusterUnreachableError)
CONFIGMAPS = {"kubeadm_config": (render.KUBEADM_CONFIGMAP, render.KUBEADM_KEY),
              "kubelet_config": (render.KUBELET_CONFIGMAP, render.KUBELET_KEY)}

__all__ = ["KubeadmConfigError", "read_files", "read_live", "collect", "fix_live", "with_fix"]


def configmap_path(name: str) -> str:
    return "/api/v1/namespaces/%s/configmaps/%s" % (render.NAMESPACE, quote(name, safe=""))


class KubeadmConnection(ClusterConnection):
    """The cluster connection of the cluster play, for single objects."""

    def get(self, path: str) -> t.Optional[t.Dict[str, t.Any]]:
        """The object, or None when it does not exist (404)."""
        try:
            return self._request("GET", path)
        except (HTTPStatusError, ApiException, Urllib3HTTPError, OSError) as exc:
            self._raise(exc, path, missing_ok=True)
        return None

    def patch(self, path: str, body: t.Mapping[str, t.Any], dry_run: bool) -> t.Dict[str, t.Any]:
        try:
            return self._request("PATCH", path, {"dryRun": "All"} if dry_run else None, body, MERGE_PATCH)
        except (HTTPStatusError, ApiException, Urllib3HTTPError, OSError) as exc:
            self._raise(exc, path)
        return {}

    def _raise(self, exc: t.Any, path: str, missing_ok: bool = False) -> None:
        fatal = self._fatal(exc)
        if fatal is not None:
            raise fatal from None
        if missing_ok and getattr(exc, "status", None) == 404:
            return
        if getattr(exc, "status", None) == 409:
            raise ClusterAPIError("%s: %s; the ConfigMap changed since kubefort read it: run again" % (path, self._describe(exc)))
        raise ClusterAPIError("%s: %s" % (path, self._describe(exc)))


def _entry(obj: t.Optional[t.Mapping[str, t.Any]], key: str, where: str, errors: t.List[str]) -> t.Optional[t.Dict[str, t.Any]]:
    if obj is None:
        errors.append("%s not found" % where)
        return None
    text = (obj.get("data") or {}).get(key)
    if not isinstance(text, str):
        errors.append("%s has no %s key" % (where, key))
        return None
    return {"text": text, "resource_version": (obj.get("metadata") or {}).get("resourceVersion")}


def read_live(auth: t.Mapping[str, t.Any], timeout: float,
              hosts: t.Optional[t.Mapping[str, t.Sequence[str]]] = None) -> t.Tuple[t.Dict[str, t.Any], t.Dict[str, t.Any]]:
    """The two ConfigMaps, and the kubelet /configz of every live inventory host (``hosts``: host -> names)."""
    conn = KubeadmConnection(auth, timeout=timeout)
    configz: t.Dict[str, t.Any] = {}
    if hosts:
        try:
            configz = _configz.fetch(conn, hosts)
        except ClusterAPIError as exc:
            if isinstance(exc, FATAL):
                raise
            configz = {host: {"error": str(exc)} for host in hosts}
    state: t.Dict[str, t.Any] = {"source": "API %s" % conn.client.configuration.host, "errors": []}
    for field, (name, key) in CONFIGMAPS.items():
        where = "%s/%s" % (render.NAMESPACE, name)
        try:
            obj = conn.get(configmap_path(name))
        except ClusterAPIError as exc:
            if isinstance(exc, FATAL):  # expired token, unreachable: the whole read fails
                raise
            state["errors"].append(str(exc))
            state[field] = None
            continue
        state[field] = _entry(obj, key, where, state["errors"])
    return _checked(state), configz


def _configmaps_in(doc: t.Any) -> t.Iterator[t.Mapping[str, t.Any]]:
    if isinstance(doc, list):
        for item in doc:
            yield from _configmaps_in(item)
    elif isinstance(doc, dict):
        if isinstance(doc.get("kinds"), dict):  # a snapshot cluster_policy saved
            yield from doc["kinds"].get("ConfigMap") or []
        elif isinstance(doc.get("items"), list):
            for item in doc["items"]:
                if isinstance(item, dict) and (item.get("kind") or ("ConfigMap" if doc.get("kind") == "ConfigMapList" else None)) == "ConfigMap":
                    yield item
        elif doc.get("kind") == "ConfigMap":
            yield doc


def read_files(paths: t.Sequence[str]) -> t.Dict[str, t.Any]:
    """The two ConfigMaps from saved ``kubectl get -o json`` output; absent ones are recorded in ``errors``."""
    found: t.Dict[str, t.Mapping[str, t.Any]] = {}
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                docs = parse_json_documents(f.read(), path)
        except OSError as exc:
            raise KubeadmConfigError("cannot read snapshot file %s: %s" % (path, exc.strerror)) from None
        except ClusterPolicyError as exc:
            raise KubeadmConfigError(str(exc)) from None
        for obj in _configmaps_in(docs):
            meta = obj.get("metadata") or {}
            if meta.get("namespace") == render.NAMESPACE:
                found.setdefault(str(meta.get("name")), obj)
    if not any(name in found for name, _key in CONFIGMAPS.values()):
        return {}
    state: t.Dict[str, t.Any] = {"source": "snapshot " + ", ".join(os.path.basename(p) for p in paths), "errors": []}
    for field, (name, key) in CONFIGMAPS.items():
        state[field] = _entry(found.get(name), key, "%s/%s in the snapshot" % (render.NAMESPACE, name), state["errors"])
    return _checked(state)


def _checked(state: t.Dict[str, t.Any]) -> t.Dict[str, t.Any]:
    """A ClusterConfiguration that cannot be parsed is an error of the state, not of the run."""
    entry = state.get("kubeadm_config")
    if entry is not None:
        try:
            entry["api_version"] = render.ClusterConfiguration(entry["text"]).api_version
        except KubeadmConfigError as exc:
            state["errors"].append(str(exc))
    return state


def read_summary(state: t.Mapping[str, t.Any]) -> str:
    if not state:
        return "kubeadm's cluster configuration not read (no cluster credentials or saved dump holding it)"
    got = ["%s/%s" % (render.NAMESPACE, CONFIGMAPS[f][0]) for f in CONFIGMAPS if state.get(f)]
    return "read %s from %s%s" % (" and ".join(got) or "nothing", state["source"],
                                  "; " + "; ".join(state["errors"]) if state.get("errors") else "")


# --- the fix ------------------------------------------------------------------------------------------


def collect(hosts: t.Mapping[str, t.Sequence[t.Mapping[str, t.Any]]]) -> t.Dict[str, t.Any]:
    """Every keep of every reverted result (host, rule, keep); the settings whose values hosts disagree on;
    and the settings naming a file (a path, a volume) that only some of the hosts running the component have
    fixed: the ConfigMaps are cluster-wide, so the next upgrade would give the others a flag whose file they
    lack (an API server that does not start). Neither is written."""
    items: t.List[t.Dict[str, t.Any]] = []
    values: t.Dict[t.Tuple[str, str], t.Set[str]] = {}
    running: t.Dict[str, t.Set[str]] = {}
    having: t.Dict[t.Tuple[str, str], t.Set[str]] = {}
    files: t.Set[t.Tuple[str, str]] = set()
    for host, results in sorted(hosts.items()):
        for result in results or []:
            info = result.get("kubeadm") if isinstance(result, t.Mapping) else None
            if not info:
                continue
            running.setdefault(str(result.get("component")), set()).add(host)
            if not info.get("reverted") or not info.get("keep"):
                continue
            keep = info["keep"]
            items.append({"host": host, "id": result.get("id"), "keep": keep})
            settings = dict(keep.get("args") or {}, **(keep.get("kubelet") or {}))
            for name, value in settings.items():
                pair = (keep["component"], name)
                values.setdefault(pair, set()).add(json.dumps(value, sort_keys=True))
                having.setdefault(pair, set()).add(host)
                if keep.get("volumes") or (isinstance(value, str) and value.startswith("/")):
                    files.add(pair)
    conflicts = sorted("%s %s" % pair for pair, seen in values.items() if len(seen) > 1)
    partial = sorted("%s %s (not fixed on %s)" % (pair[0], pair[1], ", ".join(sorted(running.get(pair[0], set()) - having[pair])))
                     for pair in files if running.get(pair[0], set()) - having[pair])
    return {"items": items, "conflicts": conflicts, "partial": partial}


def empty_fix(check_mode: bool, keeps: t.Optional[t.Mapping[str, t.Any]] = None) -> t.Dict[str, t.Any]:
    return {"changed": False, "check_mode": check_mode, "kept": [], "patched": [], "diff": [], "errors": [], "held": [],
            "pending": len((keeps or {}).get("items") or [])}


def fix_live(auth: t.Mapping[str, t.Any], timeout: float, keeps: t.Mapping[str, t.Any], check_mode: bool) -> t.Dict[str, t.Any]:
    """Patch both ConfigMaps so the next upgrade keeps every collected fix (server-side dry run in check mode)."""
    out = empty_fix(check_mode, keeps)
    held = list(keeps["conflicts"]) + [p.split(" (", 1)[0] for p in keeps.get("partial") or []]
    usable = [i for i in keeps["items"] if not _in_conflict(i["keep"], held)]
    if keeps["conflicts"]:
        out["errors"].append("hosts need different values for %s: not written; align the nodes first"
                             % ", ".join(keeps["conflicts"]))
    out["held"] = list(keeps.get("partial") or [])
    conn = KubeadmConnection(auth, timeout=timeout)
    texts: t.Dict[str, t.Optional[t.Dict[str, t.Any]]] = {}
    for field, (name, key) in CONFIGMAPS.items():
        texts[field] = _entry(conn.get(configmap_path(name)), key, "%s/%s" % (render.NAMESPACE, name), out["errors"])
    cc = texts["kubeadm_config"]
    kubelet = texts["kubelet_config"]
    new_cc, new_kubelet = upgrade.apply_keep(cc["text"] if cc else None, kubelet["text"] if kubelet else None,
                                             [i["keep"] for i in usable])
    written_fields = []
    for field, new in (("kubeadm_config", new_cc), ("kubelet_config", new_kubelet)):
        entry = texts[field]
        if entry is None or new is None or new == entry["text"]:
            continue
        name, key = CONFIGMAPS[field]
        body = {"metadata": {"resourceVersion": entry["resource_version"]}, "data": {key: new}}
        conn.patch(configmap_path(name), body, check_mode)
        written_fields.append(field)
        out["patched"].append("%s/%s" % (render.NAMESPACE, name))
        out["diff"].append({"before_header": "%s/%s %s (before)" % (render.NAMESPACE, name, key),
                            "after_header": "%s/%s %s (kubefort)" % (render.NAMESPACE, name, key),
                            "before": entry["text"], "after": new})
    for item in usable:
        field = "kubelet_config" if item["keep"]["component"] == "kubelet" else "kubeadm_config"
        if texts[field] is not None:
            out["kept"].append({"host": item["host"], "id": item["id"]})
    out["changed"] = bool(written_fields)
    verb = "would patch" if check_mode else "patched"
    out["msg"] = "%s %s to keep %d fixes" % (verb, " and ".join(out["patched"]), len(out["kept"])) if out["patched"] else \
        "kubeadm's configuration already keeps every fix"
    if out["held"]:
        out["msg"] += "; not written until every host running the component has the fix (it names a file): %s" % \
            "; ".join(out["held"])
    return out


def _in_conflict(keep: t.Mapping[str, t.Any], conflicts: t.Sequence[str]) -> bool:
    names = ["%s %s" % (keep["component"], n) for n in list(keep.get("args") or {}) + list(keep.get("kubelet") or {})]
    return any(n in conflicts for n in names)


def with_fix(host: str, results: t.Any, fix: t.Optional[t.Mapping[str, t.Any]]) -> t.Any:
    """The host's results with the outcome of this run's ConfigMap fix: a reverted result the patch keeps
    is no longer reverted (a real run) or says the dry run accepted the patch (check mode)."""
    if not fix or not fix.get("kept") or not isinstance(results, list):
        return results
    kept = {item["id"] for item in fix["kept"] if item.get("host") == host}
    out = []
    for result in results:
        info = result.get("kubeadm") if isinstance(result, t.Mapping) else None
        if info and info.get("reverted") and result.get("id") in kept:
            result = dict(result)
            if fix.get("check_mode"):
                detail = info["detail"] + " (kubefort_cluster_kubeadm_remediate would keep it: the server-side dry run " \
                    "of the ConfigMap patch passed)"
                result["kubeadm"] = dict(info, detail=detail)
            else:
                detail = "kept by kubeadm's configuration: this run patched %s" % ", ".join(fix["patched"])
                result["kubeadm"] = dict(info, reverted=False, detail=detail)
            result["message"] = str(result.get("message") or "").replace(info["detail"], detail)
        out.append(result)
    return out
