# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Static pod manifests: the Pod a kubelet runs from its ``staticPodPath``, and the flags in it.

A manifest is found by the program in ``command[0]``, not by its file name; dot-files are ignored as the
kubelet ignores them. A manifest that cannot be read or is not a complete Pod the kubelet would run makes
the component it is named after an error (kubefort never edits it).
"""

from __future__ import annotations

import json
import os
import re
import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils._flags import FlagSet, parse_args
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _versions
from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import MANIFEST_PROGRAMS, STATIC_POD_COMPONENTS, Component, Manifest
from ansible_collections.kubefort.hardening.plugins.plugin_utils._processes import etcd_flag
from ansible_collections.kubefort.hardening.plugins.plugin_utils._yaml_edit import YAMLEditError, line_of, load, sequence_items


def load_manifest(path: str, text: str) -> t.Tuple[Manifest, str]:
    if path.endswith(".json"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise YAMLEditError("%s is not valid JSON: %s" % (path, exc))
        root = None
    else:
        data, root = load(text, path)
    if not isinstance(data, dict) or data.get("kind") != "Pod":
        raise YAMLEditError("%s is not a Pod manifest (kind: %r)" % (path, data.get("kind") if isinstance(data, dict) else None))
    spec = data.get("spec")
    containers = spec.get("containers") if isinstance(spec, dict) else None
    if not isinstance(containers, list) or not containers or not all(isinstance(c, dict) for c in containers):
        raise YAMLEditError("%s is not a complete Pod manifest: it has no spec.containers list" % path)
    volumes = {str(v.get("name")) for v in spec.get("volumes") or [] if isinstance(v, dict)}
    for index, container in enumerate(containers):
        command = container.get("command") or []
        args = container.get("args") or []
        if not isinstance(command, list) or not isinstance(args, list):
            raise YAMLEditError("%s is not a complete Pod manifest: command and args of container %s must be lists"
                                % (path, container.get("name", index)))
        program = os.path.basename(str(command[0])) if command else ""
        if program in MANIFEST_PROGRAMS:
            # What the kubelet refuses to run (the API server's Pod validation): no image, a volume mount
            # of a volume the pod does not define.
            if not str(container.get("image") or "").strip():
                raise YAMLEditError("%s is not a complete Pod manifest: container %s has no image (a truncated "
                                    "file?); the kubelet refuses it" % (path, container.get("name", program)))
            missing = sorted({str(m.get("name")) for m in container.get("volumeMounts") or [] if isinstance(m, dict)} - volumes)
            if missing:
                raise YAMLEditError("%s is not a complete Pod manifest: container %s mounts volume %s, which the pod "
                                    "does not define (a truncated file?); the kubelet refuses it"
                                    % (path, container.get("name", program), ", ".join(missing)))
            key, words, offset = ("command", [str(w) for w in command], 1)
            if args:
                # The container runs command + args; flags in args come after those in command.
                words = words + [str(a) for a in args]
            return Manifest(path, text, data, root, index, key, words, offset), program
    name = (data.get("metadata") or {}).get("name", "")
    raise YAMLEditError("%s runs no known control-plane program (pod %s)" % (path, name))


def manifest_flags(name: str, manifest: Manifest) -> FlagSet:
    line_nodes = []
    if manifest.root is not None:
        line_nodes = sequence_items(manifest.root, ("spec", "containers", manifest.container, manifest.key))
        if manifest.key == "command":
            line_nodes = line_nodes + sequence_items(manifest.root, ("spec", "containers", manifest.container, "args"))
    sources = []
    for index in range(manifest.offset, len(manifest.words)):
        line = line_nodes[index].start_mark.line + 1 if index < len(line_nodes) else None
        sources.append({"path": manifest.path, "line": line, "index": index})
    return parse_args(name, manifest.words[manifest.offset:], sources)


def _broken_manifest(components: t.Dict[str, Component], wanted: t.Set[str], path: str, message: str) -> None:
    """A manifest that cannot be read or is not a complete Pod: the component it is named after (by file
    name, as it cannot be told by its program) is configured but unreadable, so its rules are errors."""
    base = re.sub(r"\.(ya?ml|json)$", "", os.path.basename(path))
    guesses = [base] if base in components else [n for n in sorted(components, key=len, reverse=True) if n in base][:1]
    for guess in guesses:
        if guess in wanted and not components[guess].present:
            components[guess].present = True
            components[guess].kind = "static_pod"
            components[guess].errors.append("%s. Fix the manifest (or move it out of the kubelet's static pod "
                                            "directory); kubefort does not edit it" % message.rstrip("."))


def load_static_pods(components: t.Dict[str, Component], files: t.Mapping[str, t.Dict[str, t.Any]], pod_path: str,
                     errors: t.List[str], wanted: t.Set[str]) -> None:
    directory = files.get(pod_path.rstrip("/"), {})
    if directory.get("type") in ("file", "other"):
        message = ("the kubelet's static pod path %s is a file, not a directory: kubefort cannot tell which "
                   "components it runs. Make it a directory holding the manifests" % pod_path)
        errors.append(message)
        for name in sorted(wanted & set(STATIC_POD_COMPONENTS)):
            if name in components and not components[name].present:
                components[name].present = True
                components[name].kind = "static_pod"
                components[name].errors.append(message)
        return
    for path in sorted(files):
        if os.path.dirname(path) != pod_path.rstrip("/") or os.path.basename(path).startswith("."):
            continue
        if not path.endswith((".yaml", ".yml", ".json")) or "content" not in files[path]:
            if files[path].get("error"):
                errors.append(files[path]["error"])
                if path.endswith((".yaml", ".yml", ".json")):
                    _broken_manifest(components, wanted, path, files[path]["error"])
            continue
        try:
            manifest, name = load_manifest(path, files[path]["content"])
        except YAMLEditError as exc:
            errors.append(str(exc))
            _broken_manifest(components, wanted, path, str(exc))
            continue
        if name in components and name in wanted and not components[name].present:
            comp = components[name]
            comp.present = True
            comp.manifest = manifest
            comp.disk_flags = manifest_flags(name, manifest)
            if name != "etcd":
                # etcd's image tag is etcd's own version, not Kubernetes'.
                comp.version, comp.version_source = image_version(manifest.data, manifest.container, path)
            if name == "etcd":
                comp.env = manifest_env(manifest)


def manifest_env(manifest: Manifest) -> t.Dict[str, t.Dict[str, t.Any]]:
    container = manifest.data["spec"]["containers"][manifest.container]
    env = {}
    for index, item in enumerate(container.get("env") or []):
        name = str((item or {}).get("name", ""))
        if name.startswith("ETCD_") and "value" in item:
            line = line_of(manifest.root, ("spec", "containers", manifest.container, "env", index, "value")) if manifest.root else None
            env[name] = {"value": str(item["value"]), "path": manifest.path, "line": line, "flag": etcd_flag(name), "index": index}
    return env


def image_version(data: t.Dict[str, t.Any], index: int, path: str) -> t.Tuple[t.Optional[str], t.Optional[str]]:
    image = str(((data.get("spec") or {}).get("containers") or [{}])[index].get("image", ""))
    version = _versions.image_version(image)
    return (version, "image %s in %s" % (image, path)) if version else (None, None)
