# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The API server's EncryptionConfiguration, summarised on the node: provider types per resource, no keys.

The file holds key material (``secret:`` under ``keys``), so it is never sent to the controller. The node
reads it and returns, for each ``resources`` entry, the resource names and the provider types in order
(``aescbc``, ``kms`` (with its API version ``v1``/``v2``), ``identity`` ...) and the entry's line. Nothing
else of the file leaves the node: no key names, no secrets, no KMS endpoints.

Only the standard library is available here, so YAML is read with a small parser for the block and flow
forms such files use (mappings, sequences, quoted and plain scalars, ``{}``/``[]``, comments). Anything it
does not understand (anchors, aliases, tags, several documents) is an error: the controller then reports
the rule as ``error``, never as a pass.
"""

from __future__ import annotations

import json
import re
import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils import _errors

PROVIDER_TYPES = ("aescbc", "aesgcm", "secretbox", "kms", "identity")
API_VERSION = "apiserver.config.k8s.io/v1"
KIND = "EncryptionConfiguration"


class ParseError(_errors.UnreadableError):
    """The text is not YAML this parser can read safely."""


class _Map(dict):  # type: ignore[type-arg]
    line: int = 0


class _Seq(list):  # type: ignore[type-arg]
    line: int = 0


def _strip_comment(text: str) -> str:
    quote = ""
    for index, char in enumerate(text):
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'" and (index == 0 or text[index - 1] in " \t[{,:-"):
            quote = char
        elif char == "#" and (index == 0 or text[index - 1] in " \t"):
            return text[:index].rstrip()
    return text.rstrip()


def _lines(text: str) -> t.List[t.Tuple[int, int, str]]:
    """(line number, indent, content) of every line that holds something."""
    out: t.List[t.Tuple[int, int, str]] = []
    documents = 0
    for number, raw in enumerate(text.splitlines(), 1):
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise ParseError("line %d is indented with a tab" % number)
        content = _strip_comment(raw)
        if not content.strip():
            continue
        if content.startswith("---") and content[3:].strip() == "":
            documents += 1
            if documents > 1 or out:
                raise ParseError("line %d starts a second YAML document" % number)
            continue
        if content.startswith("%"):
            raise ParseError("line %d holds a YAML directive" % number)
        out.append((number, len(content) - len(content.lstrip(" ")), content.strip()))
    return out


_KEY = re.compile(r"""^(?:"((?:[^"\\]|\\.)*)"|'((?:[^']|'')*)'|([^\s"'#\[\]{},&*!|>][^:#]*?))\s*:(?:\s+|$)(.*)$""")


def _scalar(text: str, number: int) -> t.Any:
    text = text.strip()
    if not text:
        return None
    head = text[0]
    if head in "&*!":
        raise ParseError("line %d uses a YAML anchor, alias or tag" % number)
    if head in "|>":
        raise ParseError("line %d starts a block scalar where a value was expected" % number)
    if head == '"':
        try:
            value = json.loads(text)
        except ValueError:
            raise ParseError("line %d: unreadable double-quoted string" % number)
        return value
    if head == "'":
        if len(text) < 2 or not text.endswith("'"):
            raise ParseError("line %d: unterminated single-quoted string" % number)
        return text[1:-1].replace("''", "'")
    if head in "[{":
        value, rest = _flow(text, 0, number)
        if text[rest:].strip():
            raise ParseError("line %d: text after a flow collection" % number)
        return value
    return text


def _flow(text: str, index: int, number: int) -> t.Tuple[t.Any, int]:
    """A flow sequence or mapping starting at ``text[index]``; returns the value and the index after it."""
    opener = text[index]
    closer = "]" if opener == "[" else "}"
    items: t.List[t.Any] = []
    pairs: t.Dict[str, t.Any] = {}
    index += 1
    while True:
        while index < len(text) and text[index] in " ,":
            index += 1
        if index >= len(text):
            raise ParseError("line %d: unterminated flow collection (flow collections must stay on one line)" % number)
        if text[index] == closer:
            return (_Seq(items) if opener == "[" else _Map(pairs)), index + 1
        if text[index] in "[{":
            value, index = _flow(text, index, number)
            item_text = None
        else:
            end = index
            quote = ""
            while end < len(text):
                char = text[end]
                if quote:
                    if char == quote:
                        quote = ""
                elif char in "\"'":
                    quote = char
                elif char in ",]}":
                    break
                end += 1
            item_text = text[index:end].strip()
            index = end
            value = None
        if opener == "[":
            items.append(value if item_text is None else _scalar(item_text, number))
        else:
            if item_text is None:
                raise ParseError("line %d: a flow mapping key must be a scalar" % number)
            key, sep, rest = item_text.partition(":")
            if not sep:
                raise ParseError("line %d: flow mapping entry without ':'" % number)
            pairs[str(_scalar(key, number))] = _scalar(rest, number)


class _Parser:
    def __init__(self, text: str) -> None:
        self.lines = _lines(text)
        self.pos = 0

    def parse(self) -> t.Any:
        if not self.lines:
            return None
        value = self.block(self.lines[0][1])
        if self.pos < len(self.lines):
            raise ParseError("line %d is not where its indentation puts it" % self.lines[self.pos][0])
        return value

    def block(self, indent: int) -> t.Any:
        number, line_indent, content = self.lines[self.pos]
        if line_indent != indent:
            raise ParseError("line %d is indented unexpectedly" % number)
        if content == "-" or content.startswith("- "):
            return self.sequence(indent)
        if _KEY.match(content):
            return self.mapping(indent)
        self.pos += 1
        return _scalar(content, number)

    def sequence(self, indent: int) -> _Seq:
        seq = _Seq()
        seq.line = self.lines[self.pos][0]
        while self.pos < len(self.lines):
            number, line_indent, content = self.lines[self.pos]
            if line_indent != indent or not (content == "-" or content.startswith("- ")):
                break
            rest = content[1:].lstrip()
            if not rest:
                self.pos += 1
                seq.append(self.child(indent, number))
                continue
            offset = indent + (len(content) - len(rest))
            # The item's text becomes a line of its own at its column (a compact nested mapping or sequence).
            self.lines[self.pos] = (number, offset, rest)
            seq.append(self.block(offset))
        return seq

    def mapping(self, indent: int) -> _Map:
        mapping = _Map()
        mapping.line = self.lines[self.pos][0]
        while self.pos < len(self.lines):
            number, line_indent, content = self.lines[self.pos]
            if line_indent != indent:
                break
            match = _KEY.match(content)
            if not match or content.startswith("- "):
                break
            key = match.group(1) if match.group(1) is not None else (
                match.group(2).replace("''", "'") if match.group(2) is not None else match.group(3).strip())
            if key in mapping:
                raise ParseError("line %d repeats the key %r" % (number, key))
            value_text = match.group(4).strip()
            self.pos += 1
            if value_text[:1] in ("|", ">"):
                mapping[key] = self.block_scalar(indent)
            elif value_text:
                mapping[key] = _scalar(value_text, number)
            else:
                mapping[key] = self.child(indent, number, allow_same_indent_sequence=True)
        return mapping

    def child(self, indent: int, number: int, allow_same_indent_sequence: bool = False) -> t.Any:
        if self.pos >= len(self.lines):
            return None
        _next_number, next_indent, content = self.lines[self.pos]
        if next_indent > indent:
            return self.block(next_indent)
        if allow_same_indent_sequence and next_indent == indent and (content == "-" or content.startswith("- ")):
            return self.sequence(indent)
        return None

    def block_scalar(self, indent: int) -> str:
        while self.pos < len(self.lines) and self.lines[self.pos][1] > indent:
            self.pos += 1
        return "<block scalar>"


def parse(text: str) -> t.Any:
    """The data of a JSON or (subset of) YAML text; ParseError when it cannot be read safely."""
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ParseError("not valid JSON: %s" % exc)
    return _Parser(text).parse()


def summarize(text: str) -> t.Dict[str, t.Any]:
    """Provider types per resources entry; ``{"error": ...}`` when the file cannot be judged.

    The result holds resource names, provider type names, KMS API versions (``v1``/``v2``) and line
    numbers only.
    """
    try:
        data = parse(text)
    except ParseError as exc:
        return {"error": "cannot be read safely on the node: %s" % exc}
    if not isinstance(data, dict):
        return {"error": "is not a YAML or JSON mapping"}
    summary: t.Dict[str, t.Any] = {
        "kind": _word(data.get("kind")), "apiVersion": _word(data.get("apiVersion")), "resources": []}
    entries = data.get("resources")
    if not isinstance(entries, list):
        summary["error"] = "has no resources list"
        return summary
    for entry in entries:
        if not isinstance(entry, dict):
            summary["error"] = "has a resources entry that is not a mapping"
            return summary
        names = entry.get("resources")
        providers = entry.get("providers")
        item: t.Dict[str, t.Any] = {
            "line": getattr(entry, "line", None) or None,
            "resources": [_word(n) for n in names] if isinstance(names, list) else [],
            "providers": [],
        }
        for provider in providers if isinstance(providers, list) else []:
            item["providers"].append(_provider(provider))
        summary["resources"].append(item)
    return summary


def _word(value: t.Any) -> str:
    """A short identifier as text (kind, apiVersion, resource name); anything else becomes '?'."""
    text = str(value) if isinstance(value, (str, int, float)) else ""
    return text if re.match(r"^[A-Za-z0-9_.*/:-]{0,100}$", text) else "?"


def _provider(provider: t.Any) -> t.Dict[str, t.Any]:
    if not isinstance(provider, dict):
        return {"type": "invalid", "line": None}
    types = [k for k in provider if k in PROVIDER_TYPES]
    unknown = [k for k in provider if k not in PROVIDER_TYPES]
    found: t.Dict[str, t.Any] = {"line": getattr(provider, "line", None) or None}
    if len(types) != 1 or unknown:
        found["type"] = "invalid"
        found["why"] = ("more than one provider in a single element" if len(types) > 1 else
                        "no known provider (one of %s)" % ", ".join(PROVIDER_TYPES))
        return found
    found["type"] = types[0]
    if types[0] == "kms":
        config = provider.get("kms")
        version = config.get("apiVersion") if isinstance(config, dict) else None
        # v1 is the default when apiVersion is not set (the API server's defaulting).
        found["kms_api_version"] = version if version in ("v1", "v2") else ("v1" if version is None else "other")
    return found
