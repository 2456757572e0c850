# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The kubelet's configuration: its ``--config`` file merged with the ``--config-dir`` drop-ins, per release.

``kubelet_config`` loads the files (JSON merge patch order); once the kubelet's version is known,
``apply_kubelet_merge`` redoes the merge the way that release does it (1.28: drop-ins decoded with the
KubeletConfiguration defaults, non-zero values only; 1.29 and later: JSON merge patch) and, the version
unknown, keeps the keys the two disagree on in ``Component.config_ambiguous``.
"""

from __future__ import annotations

import json
import os
import re
import typing as t

from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import Component, ConfigFile
from ansible_collections.kubefort.hardening.plugins.plugin_utils._config_files import get_path, leaf_paths, load_config_files, merge_config
from ansible_collections.kubefort.hardening.plugins.plugin_utils._dist_base import RANCHER
from ansible_collections.kubefort.hardening.plugins.plugin_utils._yaml_edit import line_of


def kubelet_config(comp: Component, files: t.Mapping[str, t.Dict[str, t.Any]], config: t.Optional[str],
                   config_dir: t.Optional[str], generated: t.Optional[ConfigFile] = None) -> None:
    """The kubelet's --config file merged with its --config-dir drop-ins (JSON merge patch order here;
    ``apply_kubelet_merge`` redoes the merge for the kubelet's version once that is known)."""
    paths = [config] if config else []
    dropins: t.List[str] = []
    if config_dir:
        dropins = kubelet_dropins(files, config_dir)
        if generated is not None and generated.path not in dropins:
            dropins = sorted(dropins + [generated.path], key=_walk_key(config_dir))
    if not config and not dropins:
        return
    comp.config_path = config or dropins[0]
    comp.flag_defaults = not config
    load_config_files(comp, files, paths + [p for p in dropins if p not in paths], "KubeletConfiguration",
                      required=bool(config), generated=generated)


def _walk_key(config_dir: str) -> t.Callable[[str], t.Tuple[str, ...]]:
    prefix = config_dir.rstrip("/") + "/"
    return lambda path: tuple(path[len(prefix):].split("/"))


def kubelet_dropins(files: t.Mapping[str, t.Dict[str, t.Any]], config_dir: str) -> t.List[str]:
    """The drop-ins the kubelet loads: every file below ``config_dir`` whose extension (Go's
    ``filepath.Ext``: from the last dot of the name, so ``.x.conf`` too) is ``.conf``, subdirectories
    included, in ``filepath.WalkDir`` order (names sorted per directory, a directory's files where its
    name sorts). Checked with the real kubelet 1.28.7 (tests/real/test_real_kubelet_merge.py)."""
    prefix = config_dir.rstrip("/") + "/"
    # An unreadable drop-in (not UTF-8, a directory, a dangling link) is kept: its error fails closed.
    found = [p for p in files if p.startswith(prefix) and ("content" in files[p] or "error" in files[p])
             and (os.path.splitext(p)[1] == ".conf" or os.path.basename(p) == ".conf")]
    return sorted(found, key=_walk_key(config_dir))


# How each kubelet release merges --config-dir drop-ins (cmd/kubelet/app/server.go, mergeKubeletConfigurations):
# - 1.28 (KEP-3983 alpha): each drop-in is loaded like a config file, so decoded WITH the KubeletConfiguration
#   defaults, and merged with mergo ``WithOverride``: a non-zero value overrides, a zero value (0, false, "",
#   0s) never does. So a drop-in cannot turn anything off, and every non-zero default of a drop-in wins
#   (a drop-in that sets only maxPods makes authorization.mode Webhook). Measured with the real 1.28.7.
# - 1.29 and later (kubernetes/kubernetes#121193, "Retarget drop-in kubelet configuration dir feature to
#   Alpha", merged for 1.29): the drop-in is read as JSON without defaults and applied as a JSON merge
#   patch: what it writes wins, zero values included; what it does not write is kept. From 1.30 (beta) the
#   environment variable is no longer needed; later releases convert the base to v1beta1 first and check
#   each drop-in's apiVersion/kind, which gives the same result for the keys kubefort reads.
# - 1.28 and 1.29 refuse --config-dir unless KUBELET_CONFIG_DROPIN_DIR_ALPHA is in the environment.
KUBELET_MERGE_DEFAULTS = "defaults-non-zero"


KUBELET_MERGE_PATCH = "merge-patch"


DROPIN_ALPHA_ENV = "KUBELET_CONFIG_DROPIN_DIR_ALPHA"


# The KubeletConfiguration (v1beta1) defaults of the keys kubefort reads, as SetDefaults_KubeletConfiguration
# sets them; kubelet 1.28 gives them to every drop-in. tests/real/test_real_kubelet_merge.py checks them
# against the real kubelet's /configz.
KUBELET_CONFIG_DEFAULTS: t.Mapping[str, t.Any] = {
    "address": "0.0.0.0",
    "port": 10250,
    "healthzBindAddress": "127.0.0.1",
    "healthzPort": 10248,
    "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True, "cacheTTL": "2m0s"}},
    "authorization": {"mode": "Webhook", "webhook": {"cacheAuthorizedTTL": "5m0s", "cacheUnauthorizedTTL": "30s"}},
    "streamingConnectionIdleTimeout": "4h0m0s",
    "makeIPTablesUtilChains": True,
    "eventRecordQPS": 50,
    "staticPodPath": "",
}


def kubelet_merge_model(version: t.Optional[str], layout: str = "") -> t.Optional[str]:
    have = minor_version(version)
    if not have:
        # k3s and RKE2 give the kubelet a --config-dir from v1.32 on only (before: flags).
        return KUBELET_MERGE_PATCH if layout in RANCHER else None
    return KUBELET_MERGE_DEFAULTS if have < (1, 29) else KUBELET_MERGE_PATCH


def minor_version(version: t.Optional[str]) -> t.Tuple[int, ...]:
    match = re.match(r"v?(\d+)\.(\d+)", str(version or ""))
    return (int(match.group(1)), int(match.group(2))) if match else ()


def apply_kubelet_merge(comp: Component) -> None:
    """Redo the drop-in merge as the kubelet's version does it; the version unknown, keep the keys on which
    the versions disagree in ``config_ambiguous``; and the 1.28/1.29 environment variable check."""
    dropins = [c for c in comp.configs if c.path != (comp.config_path if not comp.flag_defaults else None)]
    if comp.flag_defaults:
        dropins = list(comp.configs)
    flags = comp.disk_flags
    if not dropins and not (flags is not None and flags.value("config-dir")):
        return
    model = kubelet_merge_model(comp.version, comp.layout)
    have = minor_version(comp.version)
    if (model is None and flags is not None and flags.value("config-dir") and comp.unit is not None
            and DROPIN_ALPHA_ENV not in (comp.unit.get("env") or {})):
        # 1.28 and 1.29 exit at start on --config-dir without the variable: a kubelet that runs so is 1.30+
        # (docs/distributions.md).
        model = KUBELET_MERGE_PATCH
    comp.merge_model = model
    if (flags is not None and flags.value("config-dir") and comp.unit is not None and have in ((1, 28), (1, 29))
            and DROPIN_ALPHA_ENV not in (comp.unit.get("env") or {}) and comp.layout not in RANCHER):
        comp.fatal = (
            "the kubelet will not start: --config-dir needs %s in its environment on Kubernetes 1.28 and 1.29 "
            "(add Environment=\"%s=on\" in a kubelet.service drop-in, or remove --config-dir)" % (DROPIN_ALPHA_ENV, DROPIN_ALPHA_ENV))
    if model == KUBELET_MERGE_PATCH or not dropins:
        return
    base = [c for c in comp.configs if c not in dropins]
    config: t.Dict[str, t.Any] = {}
    sources: t.Dict[t.Tuple[str, ...], t.Tuple[str, t.Optional[int]]] = {}
    defaulted: t.Dict[t.Tuple[str, ...], str] = {}
    for main in base:
        merge_config(config, main.data, (), sources, main.path, main.root)
    for dropin in dropins:
        _merge_non_zero(config, dropin.data, KUBELET_CONFIG_DEFAULTS, (), sources, defaulted, dropin)
    if model == KUBELET_MERGE_DEFAULTS:
        comp.config, comp.config_sources, comp.config_defaulted = config, sources, defaulted
        return
    # Version unknown: the keys the two merges disagree on cannot be judged.
    for keypath in set(leaf_paths(config, ())) | set(leaf_paths(comp.config, ())):
        if keypath and get_path(config, keypath) != get_path(comp.config, keypath):
            comp.config_ambiguous[keypath] = "%s on 1.28, %s on 1.29 and later" % (
                _shown(get_path(config, keypath)), _shown(get_path(comp.config, keypath)))


def _shown(value: t.Any) -> str:
    return "unset" if value is None else json.dumps(value)


def is_zero(value: t.Any) -> bool:
    """Go's zero value as mergo sees it after decoding (0, false, "", an empty list or map, a 0 duration)."""
    if value is None or value is False or value == 0 or value in ("", [], {}):
        return value is not True
    return isinstance(value, str) and re.fullmatch(r"[+-]?(0+(\.0*)?(ns|us|µs|ms|s|m|h)?)+", value) is not None


def _merge_non_zero(target: t.Dict[str, t.Any], data: t.Mapping[str, t.Any], defaults: t.Mapping[str, t.Any],
                    prefix: t.Tuple[str, ...], sources: t.Dict[t.Tuple[str, ...], t.Tuple[str, t.Optional[int]]],
                    defaulted: t.Dict[t.Tuple[str, ...], str], dropin: ConfigFile) -> None:
    """kubelet 1.28: the drop-in, with the defaults filled in, overrides with its non-zero values only."""
    for key in list(data) + [k for k in defaults if k not in data]:
        if key in ("apiVersion", "kind") and not prefix:
            continue
        keypath = prefix + (key,)
        explicit = key in data
        value = data[key] if explicit else defaults[key]
        default = defaults.get(key) if isinstance(defaults.get(key), dict) else {}
        if isinstance(value, dict) or (explicit and isinstance(default, dict) and default and value is None):
            sub = target.get(key)
            if not isinstance(sub, dict):
                sub = {}
            _merge_non_zero(sub, value if isinstance(value, dict) else {}, default, keypath, sources, defaulted, dropin)
            if sub:
                target[key] = sub
            continue
        if is_zero(value):
            continue
        target[key] = json.loads(json.dumps(value)) if isinstance(value, list) else value
        if explicit:
            sources[keypath] = (dropin.path, line_of(dropin.root, keypath) if dropin.root is not None else None)
            defaulted.pop(keypath, None)
        else:
            sources[keypath] = (dropin.path, None)
            defaulted[keypath] = dropin.path
