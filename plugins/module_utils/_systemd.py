# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The command line systemd would run for a unit, with the file and line of every word.

Follows systemd's rules: unit search path precedence, drop-ins from every ``<unit>.d`` directory sorted
by file name (a same-named drop-in in a higher-priority directory hides the lower one), an empty
``ExecStart=`` resetting the list, ``EnvironmentFile=`` values overriding ``Environment=`` ones, and
``$VAR`` splitting into words where ``${VAR}`` does not.
"""

from __future__ import annotations

import re
import shlex
import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils._nodefs import NodeFS, NodeFSError

UNIT_DIRS = (
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
)

Source = t.Dict[str, t.Any]


def _logical_lines(text: str) -> t.Iterator[t.Tuple[int, str]]:
    """Lines of a unit file, continuation lines joined, with the number of the first line."""
    buffer = ""
    start = 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not buffer and (not stripped or stripped[0] in "#;"):
            continue
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        yield start, buffer + stripped
        buffer = ""
    if buffer:
        yield start, buffer


def parse_unit(text: str) -> t.List[t.Tuple[str, str, str, int]]:
    """(section, key, value, line) for every assignment."""
    section = ""
    entries = []
    for number, line in _logical_lines(text):
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        if "=" in line:
            key, value = line.split("=", 1)
            entries.append((section, key.strip(), value.strip(), number))
    return entries


def parse_env_file(text: str) -> t.Dict[str, t.Tuple[str, int]]:
    """KEY=VALUE lines of an EnvironmentFile, with quotes removed, and the line of each."""
    values: t.Dict[str, t.Tuple[str, int]] = {}
    for number, line in _logical_lines(text):
        if "=" not in line:
            continue
        key, raw = line.split("=", 1)
        key = key.strip()
        if key.startswith("export "):
            key = key[len("export "):].strip()
        try:
            words = shlex.split(raw, comments=True, posix=True)
        except ValueError:
            words = [raw.strip()]
        values[key] = (" ".join(words), number)
    return values


def find_unit(fs: NodeFS, name: str) -> t.Tuple[t.Optional[str], t.List[str]]:
    """The unit file and its drop-ins, in the order systemd applies them."""
    unit = None
    for directory in UNIT_DIRS:
        path = "%s/%s" % (directory, name)
        if fs.exists(path):
            unit = path
            break
    dropins: t.Dict[str, str] = {}
    for directory in reversed(UNIT_DIRS):
        conf_dir = "%s/%s.d" % (directory, name)
        for entry in fs.listdir(conf_dir):
            if entry.endswith(".conf"):
                dropins[entry] = "%s/%s" % (conf_dir, entry)
    return unit, [dropins[k] for k in sorted(dropins)]


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def unit_command(fs: NodeFS, name: str) -> t.Dict[str, t.Any]:
    """Expand a unit's ExecStart into argv with a source per word.

    Returns ``unit``, ``dropins``, ``argv``, ``argv_sources``, ``env`` (variable -> value, path, line),
    ``env_files`` (every EnvironmentFile named, with whether it is optional and exists),
    ``exec_start`` (path and line of the ExecStart used) and ``errors``.
    """
    unit, dropins = find_unit(fs, name)
    result: t.Dict[str, t.Any] = {
        "unit": unit, "dropins": dropins, "argv": [], "argv_sources": [], "env": {},
        "env_files": [], "exec_start": None, "errors": [],
    }
    if unit is None:
        return result
    exec_start: t.Optional[t.Tuple[str, str, int]] = None
    plain_env: t.Dict[str, Source] = {}
    file_env: t.Dict[str, Source] = {}
    for path in [unit] + dropins:
        try:
            text = fs.read_text(path)
        except NodeFSError as exc:
            result["errors"].append(str(exc))
            continue
        for section, key, value, line in parse_unit(text):
            if section != "Service":
                continue
            if key == "ExecStart":
                exec_start = (value, path, line) if value else None
            elif key == "Environment":
                for word in _split_words(value):
                    var, _sep, val = word.partition("=")
                    plain_env[var] = {"value": val, "path": path, "line": line}
            elif key == "EnvironmentFile":
                _read_env_file(fs, value, result, file_env)
    env = dict(plain_env)
    env.update(file_env)
    result["env"] = env
    if exec_start is None:
        result["errors"].append("%s has no ExecStart" % name)
        return result
    value, path, line = exec_start
    result["exec_start"] = {"path": path, "line": line, "raw": value}
    argv, sources = _expand(value.lstrip("-@:+!"), env, {"path": path, "line": line})
    result["argv"] = argv
    result["argv_sources"] = sources
    return result


def _read_env_file(fs: NodeFS, value: str, result: t.Dict[str, t.Any], file_env: t.Dict[str, Source]) -> None:
    optional = value.startswith("-")
    env_path = value.lstrip("-").strip()
    exists = fs.exists(env_path)
    result["env_files"].append({"path": env_path, "optional": optional, "exists": exists})
    if not exists:
        if not optional:
            result["errors"].append("required EnvironmentFile %s is missing" % env_path)
        return
    try:
        parsed = parse_env_file(fs.read_text(env_path))
    except NodeFSError as exc:
        result["errors"].append(str(exc))
        return
    for var, (val, env_line) in parsed.items():
        file_env[var] = {"value": val, "path": env_path, "line": env_line}


def _split_words(value: str) -> t.List[str]:
    try:
        return shlex.split(value, posix=True)
    except ValueError:
        return value.split()


def _expand(command: str, env: t.Mapping[str, Source], line_source: Source) -> t.Tuple[t.List[str], t.List[Source]]:
    argv: t.List[str] = []
    sources: t.List[Source] = []
    for word in _split_words(command):
        whole = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
        if whole:
            var = whole.group(1)
            entry = env.get(var)
            if entry is None:
                continue
            for part in entry["value"].split():
                argv.append(part)
                sources.append({"path": entry["path"], "line": entry["line"], "var": var})
            continue
        used: t.List[str] = []

        def substitute(match: t.Match[str]) -> str:
            var = match.group(1) or match.group(2)
            used.append(var)
            return str(env.get(var, {}).get("value", ""))

        expanded = _VAR.sub(substitute, word)
        source = dict(line_source)
        if used and used[0] in env:
            source = {"path": env[used[0]]["path"], "line": env[used[0]]["line"], "var": used[0]}
        argv.append(expanded)
        sources.append(source)
    return argv, sources
