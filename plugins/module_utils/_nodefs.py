# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The node's file system, seen from the node or from an image mounted at a root directory.

Paths are node paths (``/etc/kubernetes/...``). With a root other than ``/`` every path, including
absolute symlink targets, is resolved inside the root, the way the node would see it when booted.
"""

from __future__ import annotations

import fnmatch
import grp
import hashlib
import os
import pwd
import stat
import typing as t

MAX_READ_BYTES = 1024 * 1024


class NodeFSError(Exception):
    """A file could not be read or resolved."""


class NodeFS:
    def __init__(self, root: str = "/") -> None:
        self.root = os.path.abspath(root or "/")
        self.offline = self.root != "/"

    def host_path(self, node_path: str, follow_last: bool = True) -> str:
        """The path on this machine of a node path, symlinks resolved inside the root."""
        if not self.offline:
            return node_path
        parts = [p for p in node_path.split("/") if p not in ("", ".")]
        resolved: t.List[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = os.path.join(self.root, *resolved, part)
            if os.path.islink(candidate) and (parts or follow_last):
                hops += 1
                if hops > 40:
                    raise NodeFSError("too many levels of symbolic links: %s" % node_path)
                target = os.readlink(candidate)
                if target.startswith("/"):
                    resolved = []
                parts = [p for p in target.split("/") if p not in ("", ".")] + parts
                continue
            resolved.append(part)
        return os.path.join(self.root, *resolved)

    def exists(self, node_path: str) -> bool:
        return os.path.exists(self.host_path(node_path))

    def isdir(self, node_path: str) -> bool:
        return os.path.isdir(self.host_path(node_path))

    def read_text(self, node_path: str) -> str:
        path = self.host_path(node_path)
        try:
            size = os.path.getsize(path)
            if size > MAX_READ_BYTES:
                raise NodeFSError("%s is %d bytes, more than the %d read" % (node_path, size, MAX_READ_BYTES))
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise NodeFSError("cannot read %s: %s" % (node_path, exc.strerror or exc))
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise NodeFSError("%s is not UTF-8 text" % node_path)

    def listdir(self, node_path: str) -> t.List[str]:
        try:
            return sorted(os.listdir(self.host_path(node_path)))
        except OSError:
            return []

    def glob(self, pattern: str) -> t.List[str]:
        """Node paths matching a pattern whose wildcards are in the last component, or ``dir/**``."""
        if pattern.endswith("/**"):
            return self.walk(pattern[:-3])
        directory, name = os.path.split(pattern)
        if not any(c in name for c in "*?["):
            return [pattern] if self.exists(pattern) else []
        return [os.path.join(directory, n) for n in self.listdir(directory) if fnmatch.fnmatch(n, name)]

    def walk(self, node_dir: str, limit: int = 2000) -> t.List[str]:
        found: t.List[str] = []
        base = self.host_path(node_dir)
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            rel = os.path.relpath(dirpath, base)
            node_sub = node_dir if rel == "." else os.path.join(node_dir, rel)
            for name in sorted(dirnames) + sorted(filenames):
                found.append(os.path.join(node_sub, name))
                if len(found) >= limit:
                    return found
        return found

    def dangling_link(self, node_path: str) -> t.Optional[str]:
        """Why ``node_path`` is missing although a symbolic link is there (its target), else None."""
        try:
            link = self.host_path(node_path, follow_last=False)
            if not os.path.islink(link):
                return None
            target = os.readlink(link)
        except (OSError, NodeFSError):
            return None
        if self.offline:
            return ("%s is a symbolic link to %s, which does not exist on the node (links are resolved inside "
                    "kubefort_root %s, as the node sees them when booted): make the link point to a file inside the "
                    "node, or replace it with the file" % (node_path, target, self.root))
        return "%s is a symbolic link to %s, which does not exist: restore the target or replace the link with the file" % (
            node_path, target)

    def stat(self, node_path: str) -> t.Dict[str, t.Any]:
        """Type, mode, owner and group of a path; ``{"type": "missing"}`` when absent (with ``link`` naming
        the target of a dangling symbolic link)."""
        try:
            info = os.stat(self.host_path(node_path))
        except (OSError, NodeFSError) as exc:
            entry: t.Dict[str, t.Any] = {"type": "missing"}
            dangling = self.dangling_link(node_path) if not isinstance(exc, NodeFSError) else str(exc)
            if dangling:
                entry["link_error"] = dangling
            return entry
        kind = "dir" if stat.S_ISDIR(info.st_mode) else "file" if stat.S_ISREG(info.st_mode) else "other"
        return {
            "type": kind,
            "mode": "%04o" % stat.S_IMODE(info.st_mode),
            "uid": info.st_uid,
            "gid": info.st_gid,
            "owner": _user_name(info.st_uid, self),
            "group": _group_name(info.st_gid, self),
            "size": info.st_size,
            # Last change of the content: a live process older than this has not loaded it.
            "mtime": round(info.st_mtime, 3),
        }


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _id_names(fs: NodeFS, filename: str) -> t.Dict[int, str]:
    """uid/gid to name from the node's own passwd/group (an image's, when offline)."""
    names: t.Dict[int, str] = {}
    try:
        text = fs.read_text(filename)
    except NodeFSError:
        return names
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[2].isdigit():
            names.setdefault(int(fields[2]), fields[0])
    return names


_NAME_CACHE: t.Dict[t.Tuple[str, str], t.Dict[int, str]] = {}


def _lookup(fs: NodeFS, filename: str, ident: int, live: t.Callable[[int], str]) -> t.Optional[str]:
    key = (fs.root, filename)
    if key not in _NAME_CACHE:
        _NAME_CACHE[key] = _id_names(fs, filename)
    if ident in _NAME_CACHE[key]:
        return _NAME_CACHE[key][ident]
    if ident == 0:
        return "root"
    if not fs.offline:
        try:
            return live(ident)
        except KeyError:
            return None
    return None


def _user_name(uid: int, fs: NodeFS) -> t.Optional[str]:
    return _lookup(fs, "/etc/passwd", uid, lambda i: pwd.getpwuid(i).pw_name)


def _group_name(gid: int, fs: NodeFS) -> t.Optional[str]:
    return _lookup(fs, "/etc/group", gid, lambda i: grp.getgrgid(i).gr_name)
