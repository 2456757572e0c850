# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""k3s/RKE2 ``config.yaml``: the ``<component>-arg`` lists, read in the order the distribution merges them, and written.

Config files are merged in order (``config.yaml``, then ``config.yaml.d/*.yaml`` by name): a key replaces
the earlier value, ``key+:`` appends to it. The unit's ``--<component>-arg`` words come after them.
``get_args`` applies the resulting entries over the distribution's own defaults as k3s' ``GetArgs`` does.
``set_list_entries`` replaces, removes and appends entries of one list, keeping the rest of the file.
"""

from __future__ import annotations

import copy
import json
import typing as t

import yaml

from ansible_collections.kubefort.hardening.plugins.plugin_utils import _yaml_edit
from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import ArgItem, Source
from ansible_collections.kubefort.hardening.plugins.plugin_utils._dist_base import EditError
from ansible_collections.kubefort.hardening.plugins.plugin_utils._yaml_edit import YAMLEditError, load

if t.TYPE_CHECKING:
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._dist_rancher import Rancher


def rancher_config_paths(files: t.Mapping[str, t.Any], dist: "Rancher") -> t.List[str]:
    """config.yaml, then config.yaml.d/*.yaml and *.yml in name order (the order k3s/RKE2 merge them)."""
    prefix = dist.config_dir + "/"
    # A drop-in that cannot be read is kept: its error makes the components it may configure errors.
    dropins = sorted(p for p in files if p.startswith(prefix) and "/" not in p[len(prefix):]
                     and p.endswith((".yaml", ".yml")) and ("content" in files[p] or files[p].get("error")))
    return [dist.config] + dropins


def rancher_config(files: t.Mapping[str, t.Dict[str, t.Any]], dist: "Rancher",
                   errors: t.List[str]) -> t.Tuple[t.Dict[str, t.Any], t.Dict[str, t.List[ArgItem]]]:
    """Merged config values, and for every list key its entries with file and line.

    A key replaces the value of earlier files; ``key+`` appends to it.
    """
    values: t.Dict[str, t.Any] = {}
    items: t.Dict[str, t.List[ArgItem]] = {}
    for path in rancher_config_paths(files, dist):
        entry = files.get(path, {})
        if "content" not in entry:
            if entry.get("error"):
                errors.append(entry["error"])
            continue
        try:
            data, root = load(entry["content"], path)
        except YAMLEditError as exc:
            errors.append(str(exc))
            continue
        if data is None:
            continue
        if not isinstance(data, dict) or not isinstance(root, yaml.MappingNode):
            errors.append("%s is not a YAML mapping" % path)
            continue
        for key_node, value_node in root.value:
            key = str(key_node.value)
            base = key.rstrip("+")
            new = _arg_items(key, value_node, path)
            value = data.get(key)
            if key.endswith("+"):
                items[base] = items.get(base, []) + new
                old = values.get(base)
                old_list = old if isinstance(old, list) else ([] if old is None else [old])
                values[base] = old_list + (value if isinstance(value, list) else [value])
            else:
                items[base] = new
                values[base] = value
    return values, items


def _arg_items(key: str, node: yaml.Node, path: str) -> t.List[ArgItem]:
    if isinstance(node, yaml.SequenceNode):
        return [ArgItem(key, str(item.value), path, item.start_mark.line + 1, index)
                for index, item in enumerate(node.value) if isinstance(item, yaml.ScalarNode)]
    if isinstance(node, yaml.ScalarNode) and node.value not in ("", "~", "null"):
        return [ArgItem(key, str(node.value), path, node.start_mark.line + 1, None)]
    return []


def command_line_items(unit: t.Optional[t.Mapping[str, t.Any]], arg_key: str) -> t.List[ArgItem]:
    """``--kubelet-arg=x`` / ``--kubelet-arg x`` words of the service's ExecStart (after config values)."""
    if not unit or not unit.get("argv"):
        return []
    argv, sources = unit["argv"], unit.get("argv_sources") or []
    found = []
    i = 2
    while i < len(argv):
        word = argv[i]
        src = sources[i] if i < len(sources) else {}
        if word.startswith("--%s=" % arg_key):
            found.append(ArgItem(arg_key, word.split("=", 1)[1], src.get("path", ""), src.get("line"), None, "command-line"))
        elif word == "--" + arg_key and i + 1 < len(argv):
            found.append(ArgItem(arg_key, argv[i + 1], src.get("path", ""), src.get("line"), None, "command-line"))
            i += 1
        i += 1
    return found


def get_args(initial: t.Mapping[str, t.Tuple[str, Source]], extra: t.Sequence[ArgItem]) -> t.Tuple[t.List[str], t.List[Source]]:
    """k3s' ``GetArgs``: an entry replaces the default of its flag, ``flag+=`` appends to it, ``flag-=``
    prepends; repeated entries become repeated flags. Flags come out sorted by name."""
    initial = dict(initial)
    multi: t.Dict[str, t.List[t.Tuple[str, Source]]] = {}
    for item in extra:
        arg, has_value, value = item.value.lstrip("-").partition("=")
        if not has_value:
            value = "true"
        name = arg.rstrip("+-")
        source = {"path": item.path, "line": item.line, "arg": item.key}
        existing = multi.get(name, [])
        if arg.endswith("+"):
            new = ([initial[name]] if name in initial else []) + existing + [(value, source)]
        elif arg.endswith("-"):
            new = [(value, source)] + ([initial[name]] if name in initial else []) + existing
        else:
            new = existing + [(value, source)]
        initial.pop(name, None)
        multi[name] = new
    for name, value in initial.items():
        multi[name] = [value]
    words: t.List[str] = []
    sources: t.List[Source] = []
    for name in sorted(multi):
        for value, source in multi[name]:
            words.append("--%s=%s" % (name, value))
            sources.append(source)
    return words, sources


# --- writing -----------------------------------------------------------------------------------------


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
