# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Where a node says which Kubernetes version it runs, read on the node (standard library only).

Only what the controller needs leaves the node: the matching package entries of the package database
(dpkg ``status``, the rpm sqlite database), the version string found in a binary, and symlink targets.
The controller (``plugin_utils/_versions.py``) decides which source wins.
"""

from __future__ import annotations

import os
import re
import sqlite3
import struct
import typing as t
from urllib.parse import quote

from ansible_collections.kubefort.hardening.plugins.module_utils._nodefs import NodeFS, NodeFSError

DPKG_STATUS = "/var/lib/dpkg/status"
# rpm 4.16+ keeps its database in sqlite (RHEL/Rocky/Alma 9, Fedora 33+; /usr/lib/sysimage on newer Fedora
# and SUSE). Older releases use Berkeley DB (Packages) or rpm's own ndb (Packages.db): no stdlib reader.
RPM_SQLITE = ("/var/lib/rpm/rpmdb.sqlite", "/usr/lib/sysimage/rpm/rpmdb.sqlite")
RPM_OTHER = ("/var/lib/rpm/Packages", "/var/lib/rpm/Packages.db", "/usr/lib/sysimage/rpm/Packages.db")

# A Go binary built by the Kubernetes release tooling carries its version (-X ...version.gitVersion) as a
# NUL-delimited string; dependency versions in Go's build info are tab-delimited and never match.
BINARY_VERSION = re.compile(rb"\x00(v1\.\d{1,2}\.\d{1,3}(?:[-+][0-9A-Za-z.+-]{1,40})?)(?=\x00)")
CHUNK = 4 * 1024 * 1024
OVERLAP = 64
MAX_BINARY_BYTES = 512 * 1024 * 1024

# rpm header tags and the string type (rpmtag.h).
RPMTAG_NAME, RPMTAG_VERSION, RPMTAG_RELEASE = 1000, 1001, 1002
RPM_STRING_TYPES = (6, 9)


def dpkg_packages(fs: NodeFS, names: t.Sequence[str], path: str = DPKG_STATUS) -> t.Dict[str, t.Any]:
    """The installed packages among ``names`` from dpkg's status file: name -> version, status, line."""
    wanted = set(names)
    found: t.Dict[str, t.Dict[str, t.Any]] = {}
    try:
        handle = open(fs.host_path(path), "r", encoding="utf-8", errors="replace")
    except (OSError, NodeFSError):
        return {"path": path, "present": False, "packages": {}}
    stanza: t.Dict[str, t.Any] = {}
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                _keep(stanza, wanted, found)
                stanza = {}
                continue
            if line[0] in " \t":
                continue
            key, _sep, value = line.partition(":")
            if key == "Package":
                stanza = {"name": value.strip(), "line": number}
            elif key in ("Status", "Version", "Architecture"):
                stanza[key.lower()] = value.strip()
        _keep(stanza, wanted, found)
    return {"path": path, "present": True, "packages": found}


def _keep(stanza: t.Mapping[str, t.Any], wanted: t.Set[str], found: t.Dict[str, t.Dict[str, t.Any]]) -> None:
    name = stanza.get("name")
    if name in wanted and str(stanza.get("status", "")).endswith(" installed") and stanza.get("version"):
        found[str(name)] = {"version": stanza["version"], "status": stanza.get("status"), "line": stanza.get("line")}


def rpm_packages(fs: NodeFS, names: t.Sequence[str]) -> t.Dict[str, t.Any]:
    """The installed packages among ``names`` from the rpm database, when it is the sqlite kind."""
    wanted = set(names)
    for path in RPM_SQLITE:
        host = fs.host_path(path)
        if not os.path.isfile(host):
            continue
        try:
            rows = _rpm_rows(host)
        except sqlite3.Error as exc:
            return {"path": path, "present": True, "packages": {}, "error": "cannot read the rpm database %s: %s" % (path, exc)}
        found: t.Dict[str, t.Dict[str, t.Any]] = {}
        for hnum, blob in rows:
            tags = rpm_header_strings(bytes(blob), (RPMTAG_NAME, RPMTAG_VERSION, RPMTAG_RELEASE))
            name = tags.get(RPMTAG_NAME)
            if name in wanted and tags.get(RPMTAG_VERSION):
                found[name] = {"version": "%s-%s" % (tags[RPMTAG_VERSION], tags.get(RPMTAG_RELEASE, "")) if tags.get(RPMTAG_RELEASE)
                               else tags[RPMTAG_VERSION], "hnum": hnum}
        return {"path": path, "present": True, "packages": found}
    for path in RPM_OTHER:
        if os.path.isfile(fs.host_path(path)):
            return {"path": path, "present": True, "packages": {},
                    "error": "the rpm database %s is Berkeley DB or ndb, which the Python standard library cannot read" % path}
    return {"path": None, "present": False, "packages": {}}


def _rpm_rows(host: str) -> t.List[t.Tuple[int, bytes]]:
    """Every header of the database, opened read-only; on a read-only tree (no -shm file can be made for
    a WAL database) as immutable, which reads the main file only."""
    last: t.Optional[sqlite3.Error] = None
    for options in ("mode=ro", "mode=ro&immutable=1"):
        try:
            db = sqlite3.connect("file:%s?%s" % (quote(host), options), uri=True)
            try:
                return [(int(h), bytes(b)) for h, b in db.execute("SELECT hnum, blob FROM Packages").fetchall()]
            finally:
                db.close()
        except sqlite3.Error as exc:
            last = exc
    raise t.cast(sqlite3.Error, last)


def rpm_header_strings(blob: bytes, tags: t.Iterable[int]) -> t.Dict[int, str]:
    """String tags of one rpm header as rpmdb.sqlite stores it (index count, data size, index, data)."""
    wanted = set(tags)
    out: t.Dict[int, str] = {}
    if len(blob) < 8:
        return out
    count, size = struct.unpack(">II", blob[:8])
    start = 8 + 16 * count
    if count > 100000 or start + size > len(blob):
        return out
    data = blob[start:start + size]
    for index in range(count):
        tag, kind, offset, _n = struct.unpack(">iiii", blob[8 + 16 * index: 24 + 16 * index])
        if tag in wanted and kind in RPM_STRING_TYPES and 0 <= offset < len(data):
            end = data.find(b"\x00", offset)
            out[tag] = data[offset:end if end >= 0 else len(data)].decode("utf-8", "replace")
    return out


def binary_version(fs: NodeFS, path: str, limit: int = MAX_BINARY_BYTES) -> t.Dict[str, t.Any]:
    """The Kubernetes version string in a binary, read in chunks, stopping at the first match."""
    entry: t.Dict[str, t.Any] = {"path": path}
    try:
        host = fs.host_path(path)
        size = os.path.getsize(host)
    except (OSError, NodeFSError):
        entry["type"] = "missing"
        return entry
    entry["size"] = size
    if size > limit:
        entry["error"] = "%s is %d bytes, more than the %d kubefort scans" % (path, size, limit)
        return entry
    scanned = 0
    tail = b""
    try:
        with open(host, "rb") as handle:
            while True:
                chunk = handle.read(CHUNK)
                if not chunk:
                    break
                buffer = tail + chunk
                match = BINARY_VERSION.search(buffer)
                if match:
                    entry["version"] = match.group(1).decode("ascii")
                    entry["offset"] = scanned - len(tail) + match.start(1)
                    entry["scanned"] = scanned + len(chunk)
                    return entry
                scanned += len(chunk)
                tail = buffer[-OVERLAP:]
    except OSError as exc:
        entry["error"] = "cannot read %s: %s" % (path, exc.strerror or exc)
        return entry
    entry["scanned"] = scanned
    return entry


def link_target(fs: NodeFS, path: str) -> t.Optional[str]:
    """Where a symlink on the node points (the last component not followed), or None."""
    try:
        host = fs.host_path(path, follow_last=False)
        return os.readlink(host) if os.path.islink(host) else None
    except (OSError, NodeFSError):
        return None


def collect(fs: NodeFS, request: t.Mapping[str, t.Any], unit_binaries: t.Sequence[str] = ()) -> t.Dict[str, t.Any]:
    """The ``versions`` part of a snapshot.

    ``request``: ``packages`` (names looked up in dpkg and rpm), ``binaries`` (paths scanned for a version
    string; ``unit_binaries`` - the programs the requested units run - are scanned first), ``links``
    (symlinks whose target is returned), ``binary_package`` (the package the binaries belong to, by
    default the first of ``packages``) and ``scan`` (``always``, or ``if_no_package``: skip the costly
    binary scan when the package database already names that package).
    """
    names = list(request.get("packages") or [])
    out: t.Dict[str, t.Any] = {"dpkg": dpkg_packages(fs, names), "rpm": rpm_packages(fs, names), "binaries": {}, "links": {}}
    for path in request.get("links") or []:
        out["links"][path] = link_target(fs, path)
    # The package the binaries belong to: the first one named unless said otherwise.
    package = request.get("binary_package") or (names[0] if names else None)
    have_package = package in out["dpkg"]["packages"] or package in out["rpm"]["packages"]
    if request.get("scan", "if_no_package") == "if_no_package" and have_package:
        out["binary_scan"] = "skipped: the package database names the version"
        return out
    seen: t.List[str] = []
    for path in list(unit_binaries) + list(request.get("binaries") or []):
        if path and path.startswith("/") and path not in seen:
            seen.append(path)
    for path in seen:
        found = binary_version(fs, path)
        if found.get("type") == "missing":
            continue
        out["binaries"][path] = found
        if found.get("version"):
            break
    return out
