# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Edits of YAML text that change one value and leave every other byte (comments, order, quoting) alone.

PyYAML's composer gives the position of every node; edits replace or insert text at those positions.
Each edit is checked by parsing the result and comparing it with the original data changed the same
way in Python: an edit that would change anything else is refused.
"""

from __future__ import annotations

import copy
import json
import typing as t

import yaml

from ansible_collections.kubefort.hardening.plugins.module_utils import _errors

Path = t.Tuple[t.Union[str, int], ...]


# libyaml's parser when PyYAML was built with it (ansible-core's usually is): same data and positions,
# several times faster than the pure-Python one.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader) if getattr(yaml, "__with_libyaml__", False) else yaml.SafeLoader


class YAMLEditError(_errors.EditError):
    """The text cannot be parsed or edited safely."""


def load(text: str, what: str) -> t.Tuple[t.Any, t.Optional[yaml.Node]]:
    """Data and node tree of a single-document YAML text."""
    try:
        nodes = list(yaml.compose_all(text, Loader=_LOADER))
        data = list(yaml.load_all(text, Loader=_LOADER))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = " at line %d, column %d" % (mark.line + 1, mark.column + 1) if mark else ""
        raise YAMLEditError("%s is not valid YAML%s: %s" % (what, where, getattr(exc, "problem", exc)))
    if len(nodes) > 1:
        raise YAMLEditError("%s holds %d YAML documents; one is expected" % (what, len(nodes)))
    return (data[0] if data else None), (nodes[0] if nodes else None)


def line_of(root: t.Optional[yaml.Node], path: Path) -> t.Optional[int]:
    """1-based line of the value at ``path``, or None."""
    node = _find(root, path)
    return node.start_mark.line + 1 if node is not None else None


def _find(node: t.Optional[yaml.Node], path: Path) -> t.Optional[yaml.Node]:
    for key in path:
        if isinstance(node, yaml.MappingNode) and isinstance(key, str):
            node = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            return None
    return node


def scalar_text(value: t.Any) -> str:
    """YAML text for a scalar, plain when that reads back as the same value, else double-quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    if text and "\n" not in text:
        try:
            if yaml.safe_load(text) == text and text == text.strip():
                return text
        except yaml.YAMLError:
            pass
    return json.dumps(text)


def _after(text: str, node: yaml.Node) -> int:
    """Index just past the line holding the end of a node's last scalar (its trailing comment included)."""
    while isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.value and not node.flow_style:
        last = node.value[-1]
        node = last[1] if isinstance(last, tuple) else last
    end = node.end_mark.index
    return _line_end(text, max(end - 1, node.start_mark.index))


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _line_end(text: str, index: int) -> int:
    end = text.find("\n", index)
    return len(text) if end == -1 else end + 1


def _unshared(data: t.Any) -> t.Any:
    """A copy in which no two places share one object: PyYAML loads an alias as its anchor's object (and
    deepcopy keeps that sharing), so a change made through one place would show in the other too."""
    if isinstance(data, dict):
        return {key: _unshared(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_unshared(value) for value in data]
    return copy.deepcopy(data)


def _aliased(root: yaml.Node) -> t.Set[int]:
    """ids of the nodes that an alias refers to (they occur more than once in the node graph)."""
    seen: t.Set[int] = set()
    shared: t.Set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            shared.add(id(node))
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            stack.extend(n for pair in node.value for n in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return shared


def _set_in(data: t.Any, path: Path, value: t.Any) -> t.Any:
    data = _unshared(data) if data is not None else {}
    target = data
    for key in path[:-1]:
        if isinstance(target, dict):
            target = target.setdefault(key, {})
        else:
            target = target[key]
    target[path[-1]] = value
    return data


def set_value(text: str, path: t.Sequence[str], value: t.Any, what: str) -> str:
    """Set the mapping value at ``path`` (creating parent mappings) and return the new text."""
    path = tuple(path)
    data, root = load(text, what)
    if root is None:
        new = text + ("" if text.endswith("\n") or not text else "\n") + _block(path, value, 0)
        return _checked(new, _set_in(data, path, value), what)
    if not isinstance(root, yaml.MappingNode):
        raise YAMLEditError("%s is not a YAML mapping" % what)
    node: yaml.Node = root
    depth = 0
    shared = _aliased(root)
    for depth, key in enumerate(path):
        child = next(((k, v) for k, v in node.value if k.value == key), None)
        if child is not None and id(child[1]) in shared:
            raise YAMLEditError(
                "%s: %s is shared through a YAML anchor and alias with another key: setting it would change both, "
                "so it is left as it is; give it its own value (replace the alias) and run again"
                % (what, ".".join(path[: depth + 1])))
        if child is None:
            return _checked(_insert(text, node, path[depth:], value, what), _set_in(data, path, value), what)
        if depth == len(path) - 1:
            return _checked(_replace(text, child[1], value, what), _set_in(data, path, value), what)
        if not isinstance(child[1], yaml.MappingNode):
            raise YAMLEditError("%s: %s is not a mapping" % (what, ".".join(path[: depth + 1])))
        node = child[1]
    raise YAMLEditError("%s: empty path" % what)


def _replace(text: str, node: yaml.Node, value: t.Any, what: str) -> str:
    if not isinstance(node, yaml.ScalarNode):
        raise YAMLEditError("%s: the value to replace is not a scalar" % what)
    start, end = node.start_mark.index, node.end_mark.index
    return text[:start] + scalar_text(value) + text[end:]


def _insert(text: str, parent: yaml.MappingNode, keys: Path, value: t.Any, what: str) -> str:
    if parent.flow_style:
        if parent.value:
            raise YAMLEditError("%s: cannot add a key to a non-empty flow mapping" % what)
        indent = _key_indent_for_child(text, parent)
        start, end = parent.start_mark.index, parent.end_mark.index
        return text[:start].rstrip(" ") + "\n" + _block(keys, value, indent).rstrip("\n") + text[end:]
    if parent.value:
        first_key = parent.value[0][0]
        indent = first_key.start_mark.column
        at = _after(text, parent.value[-1][1])
    else:
        indent = 0
        at = len(text)
    prefix = "" if at == 0 or text[at - 1] == "\n" else "\n"
    return text[:at] + prefix + _block(keys, value, indent) + text[at:]


def _key_indent_for_child(text: str, node: yaml.Node) -> int:
    line_start = _line_start(text, node.start_mark.index)
    line = text[line_start:node.start_mark.index]
    return len(line) - len(line.lstrip(" ")) + 2


def _block(keys: Path, value: t.Any, indent: int) -> str:
    lines = []
    for depth, key in enumerate(keys):
        pad = " " * (indent + 2 * depth)
        if depth == len(keys) - 1:
            lines.append("%s%s: %s" % (pad, key, scalar_text(value)))
        else:
            lines.append("%s%s:" % (pad, key))
    return "\n".join(lines) + "\n"


def _checked(new_text: str, expected: t.Any, what: str) -> str:
    data, _root = load(new_text, what + " (after the edit)")
    if data != expected:
        raise YAMLEditError("%s: the edit would change more than the intended value; not written" % what)
    return new_text


# --- sequences of command-line words (static pod manifests) -----------------------------------------


def sequence_items(root: yaml.Node, path: Path) -> t.List[yaml.ScalarNode]:
    node = _find(root, path)
    if not isinstance(node, yaml.SequenceNode):
        return []
    return [item for item in node.value if isinstance(item, yaml.ScalarNode)]


def edit_sequence(
    text: str,
    path: Path,
    replace: t.Mapping[int, str],
    remove: t.Iterable[int],
    append: t.Sequence[str],
    what: str,
) -> str:
    """Replace items by index, remove items, and append new items at the end of a block sequence."""
    data, root = load(text, what)
    node = _find(root, path)
    if not isinstance(node, yaml.SequenceNode) or node.flow_style:
        raise YAMLEditError("%s: %s is not a block sequence" % (what, ".".join(map(str, path))))
    items = node.value
    remove = set(remove)
    expected_items = list(_get(data, path))
    edits: t.List[t.Tuple[int, int, str]] = []
    for index, new_value in replace.items():
        item = items[index]
        edits.append((item.start_mark.index, item.end_mark.index, scalar_text(new_value)))
        expected_items[index] = new_value
    for index in remove:
        item = items[index]
        start = _line_start(text, item.start_mark.index)
        edits.append((start, _line_end(text, item.end_mark.index - 1 if item.end_mark.index else 0), ""))
    if append:
        last = items[-1]
        line_start = _line_start(text, last.start_mark.index)
        prefix = text[line_start:last.start_mark.index]
        at = _after(text, last)
        edits.append((at, at, "".join("%s%s\n" % (prefix, scalar_text(v)) for v in append)))
    new_text = text
    for start, end, replacement in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        new_text = new_text[:start] + replacement + new_text[end:]
    expected_items = [v for i, v in enumerate(expected_items) if i not in remove] + list(append)
    expected = copy.deepcopy(data)
    parent = _get(expected, path[:-1])
    parent[path[-1]] = expected_items
    return _checked(new_text, expected, what)


def _get(data: t.Any, path: Path) -> t.Any:
    for key in path:
        data = data[key]
    return data


def append_mapping(text: str, path: Path, item: t.Mapping[str, t.Any], what: str) -> str:
    """Append a mapping (of scalars or one level of nested scalars) to a block sequence of mappings."""
    data, root = load(text, what)
    node = _find(root, path)
    if not isinstance(node, yaml.SequenceNode) or node.flow_style or not node.value:
        raise YAMLEditError("%s: %s is not a non-empty block sequence" % (what, ".".join(map(str, path))))
    last = node.value[-1]
    line_start = _line_start(text, last.start_mark.index)
    dash = text[line_start:last.start_mark.index]
    pad = " " * len(dash)
    lines = []
    for number, (key, value) in enumerate(item.items()):
        lead = dash if number == 0 else pad
        if isinstance(value, dict):
            lines.append("%s%s:" % (lead, key))
            lines.extend("%s  %s: %s" % (pad, k, scalar_text(v)) for k, v in value.items())
        else:
            lines.append("%s%s: %s" % (lead, key, scalar_text(value)))
    at = _after(text, last)
    new_text = text[:at] + "\n".join(lines) + "\n" + text[at:]
    expected = copy.deepcopy(data)
    _get(expected, path).append(dict(item))
    return _checked(new_text, expected, what)
