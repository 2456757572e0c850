# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Component config files (KubeletConfiguration, KubeProxyConfiguration): read, checked, merged.

A file that cannot be read, decoded or parsed, or that its component would refuse (empty, no ``kind``,
another kind), is an error of the component, never "absent". kube-proxy started with ``--config`` ignores
its other flags (kubernetes#107156): they are kept aside in ``ignored_flags``.
"""

from __future__ import annotations

import json
import typing as t

import yaml

from ansible_collections.kubefort.hardening.plugins.module_utils._flags import FlagSet
from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import Component, ConfigFile
from ansible_collections.kubefort.hardening.plugins.plugin_utils._yaml_edit import YAMLEditError, line_of, load


# kube-proxy flags that still apply when --config names a file.
KUBE_PROXY_CONFIG_FLAGS = ("config", "hostname-override", "v")


def load_config_files(comp: Component, files: t.Mapping[str, t.Dict[str, t.Any]], paths: t.Sequence[str], kind: str,
                      required: bool, generated: t.Optional[ConfigFile] = None) -> None:
    what = "the %s's config file" % comp.name
    for index, path in enumerate(paths):
        if generated is not None and path == generated.path and "content" not in files.get(path, {}):
            comp.configs.append(generated)
            merge_config(comp.config, generated.data, (), comp.config_sources, "%s (generated at start)" % path, None)
            continue
        entry = files.get(path, {})
        main = index == 0 and required
        if "content" not in entry:
            if entry.get("error") and (main or entry.get("type") == "file"):
                # There but unreadable (a directory, a dangling link, not UTF-8): never "absent".
                comp.errors.append("%s %s cannot be read: %s" % (what, path, entry["error"]))
            elif main:
                comp.errors.append("%s %s does not exist" % (what, path))
            continue
        text = entry["content"]
        try:
            if text.lstrip().startswith("{") or path.endswith(".json"):
                data, root, fmt = json.loads(text), None, "json"
            else:
                data, root = load(text, path)
                fmt = "yaml"
        except (YAMLEditError, ValueError) as exc:
            comp.errors.append("%s %s cannot be parsed: %s" % (what, path, exc))
            continue
        if data is None and main:
            # The kubelet and kube-proxy refuse an empty config file ("kubelet config file ... was empty").
            comp.errors.append("%s %s is empty; %s refuses it. Write a %s (apiVersion and kind) there, or "
                               "restore the file" % (what, path, comp.name, kind))
            continue
        if data is None:
            data = {}
        if not isinstance(data, dict):
            comp.errors.append("%s %s is not a mapping" % (what, path))
            continue
        if main and not data.get("kind"):
            # Decoding needs apiVersion and kind ("Object 'Kind' is missing"): the component does not start.
            comp.errors.append("%s %s has no kind (kind: %s); %s refuses it. Add apiVersion and kind, or "
                               "restore the file" % (what, path, kind, comp.name))
            continue
        if data.get("kind", kind) != kind:
            comp.errors.append("%s is kind %s, not %s" % (path, data.get("kind"), kind))
            continue
        is_generated = generated is not None and path == generated.path
        comp.configs.append(ConfigFile(path, text, data, root, fmt, generated=is_generated))
        merge_config(comp.config, data, (), comp.config_sources, path, root)


def merge_config(target: t.Dict[str, t.Any], data: t.Dict[str, t.Any], prefix: t.Tuple[str, ...],
                 sources: t.Dict[t.Tuple[str, ...], t.Tuple[str, t.Optional[int]]], path: str, root: t.Optional[yaml.Node]) -> None:
    for key, value in data.items():
        keypath = prefix + (key,)
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merge_config(target[key], value, keypath, sources, path, root)
            continue
        target[key] = json.loads(json.dumps(value)) if isinstance(value, (dict, list)) else value
        for sub in leaf_paths(value, keypath):
            sources[sub] = (path, line_of(root, sub) if root is not None else None)


def leaf_paths(value: t.Any, prefix: t.Tuple[str, ...]) -> t.List[t.Tuple[str, ...]]:
    if isinstance(value, dict) and value:
        out = [prefix]
        for key, sub in value.items():
            out.extend(leaf_paths(sub, prefix + (key,)))
        return out
    return [prefix]


def get_path(data: t.Any, keypath: t.Tuple[str, ...]) -> t.Any:
    for part in keypath:
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def kube_proxy_config(comp: Component, files: t.Mapping[str, t.Dict[str, t.Any]], side: t.Optional[str]) -> None:
    flags = comp.disk_flags or comp.running_flags
    config = flags.value("config") if flags is not None else None
    if not config:
        return
    entry = files.get(config, {})
    if entry.get("type") == "missing" and comp.unit is None and comp.process is not None and comp.settings == "unit":
        # The process reads a file mounted into its container: the DaemonSet's ConfigMap.
        comp.cluster_side = "%s (--config %s is inside the kube-proxy container)" % (
            side or "kube-proxy runs from a DaemonSet whose ConfigMap holds its configuration", config)
        comp.config_path = config
        return
    comp.config_path = config
    load_config_files(comp, files, [config], "KubeProxyConfiguration", required=True)
    for which in ("disk_flags", "running_flags"):
        flagset = getattr(comp, which)
        if flagset is not None:
            setattr(comp, which, _strip_ignored(comp, flagset))


def _strip_ignored(comp: Component, flags: FlagSet) -> FlagSet:
    kept = FlagSet(component=flags.component, positional=list(flags.positional))
    for occ in flags.occurrences:
        if occ.name in KUBE_PROXY_CONFIG_FLAGS:
            kept.occurrences.append(occ)
        elif occ.name not in comp.ignored_flags:
            comp.ignored_flags.append(occ.name)
    return kept
