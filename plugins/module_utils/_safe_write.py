# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Compare-and-swap file changes with backups, written atomically, all or nothing.

Backups go to a directory of their own (``/var/lib/kubefort/backups/<run>/<node path>``), never next to
the file: the kubelet runs every file in its static-pod directory, including a ``.bak`` copy.
Temporary files are created beside the target with a leading dot, which the kubelet ignores.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import stat
import tempfile
import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils._nodefs import NodeFS, sha256_text


class ChangeError(Exception):
    """A change cannot be made safely; nothing was written."""


class FileChange:
    def __init__(self, spec: t.Mapping[str, t.Any]) -> None:
        self.path: str = spec["path"]
        self.content: t.Optional[str] = spec.get("content")
        self.expected_sha256: t.Optional[str] = spec.get("expected_sha256")
        self.mode: t.Optional[str] = spec.get("mode")
        self.owner: t.Optional[str] = spec.get("owner")
        self.group: t.Optional[str] = spec.get("group")
        self.create_parents = bool(spec.get("create_parents"))
        self.parents_mode = int(spec.get("parents_mode") or "0755", 8)
        self.before: t.Optional[str] = None
        self.exists = False
        # A directory whose mode or owner changes: (mode, uid, gid) before, for the rollback.
        self.directory: t.Optional[t.Tuple[int, int, int]] = None
        if not self.path.startswith("/"):
            raise ChangeError("path %r is not absolute" % self.path)


def _make_parents(directory: str, mode: int) -> None:
    """Create missing directories with exactly ``mode`` (makedirs alone would apply the umask)."""
    if os.path.isdir(directory):
        return
    _make_parents(os.path.dirname(directory), mode)
    os.mkdir(directory)
    os.chmod(directory, mode)


def _now_is(host: str) -> str:
    """What is at ``host`` now and when it last changed, for a compare-and-swap message."""
    try:
        info = os.lstat(host)
    except OSError:
        return "absent"
    when = datetime.datetime.fromtimestamp(info.st_mtime, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    kind = "a directory" if stat.S_ISDIR(info.st_mode) else "a symbolic link" if stat.S_ISLNK(info.st_mode) else "a file"
    return "%s modified %s" % (kind, when)


def _existing(path: str, host: str) -> FileChange:
    change = FileChange({"path": path})
    change.exists = os.path.isfile(host)
    return change


class Writer:
    """Writes a set of changes on one node; renames are done here so a failure can be undone."""

    def __init__(self, module: t.Any, fs: NodeFS, backup_dir: str, run_id: str) -> None:
        self.module = module
        self.fs = fs
        self.backup_root = os.path.join(backup_dir, run_id)
        self.done: t.List[t.Dict[str, t.Any]] = []

    def plan(self, changes: t.Sequence[FileChange]) -> t.List[t.Dict[str, t.Any]]:
        """Check every precondition before anything is written; describe what would change."""
        planned = []
        for change in changes:
            host = self.fs.host_path(change.path)
            change.exists = os.path.isfile(host)
            if change.exists:
                with open(host, "rb") as handle:
                    change.before = handle.read().decode("utf-8", "surrogateescape")
            if change.expected_sha256 == "directory":
                # Discovery saw a directory (etcd's data directory, a PKI or parent directory): only its
                # mode and owner change, and it must still be a directory.
                if not os.path.isdir(host) or os.path.islink(host) or change.content is not None:
                    raise ChangeError(
                        "%s was a directory when the node was read and is %s now; nothing was written. Run the play "
                        "again: it reads the node afresh" % (change.path, _now_is(host)))
                info = os.stat(host)
                change.directory = (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)
            elif change.expected_sha256 == "present":
                # Only stat'ed by discovery (a kubeconfig or key): it must still be a file, and its
                # content, which kubefort did not read, is never replaced.
                if not change.exists:
                    raise ChangeError(
                        "%s was a file when the node was read and is %s now; nothing was written. Run the play "
                        "again: it reads the node afresh" % (change.path, _now_is(host)))
                if change.content is not None:
                    raise ChangeError("%s was not read, so kubefort does not replace its content; nothing was "
                                      "written" % change.path)
            elif change.expected_sha256 is not None:
                actual = sha256_text(change.before) if change.before is not None else "absent"
                if actual != change.expected_sha256:
                    was = "absent" if change.expected_sha256 == "absent" else "sha256 " + change.expected_sha256
                    now = _now_is(host) + ("" if actual == "absent" else ", sha256 " + actual)
                    raise ChangeError(
                        "%s changed since it was read (it was %s; now it is %s): something else changed the node "
                        "meanwhile; nothing was written. Run the play again when that change is done: it reads "
                        "the node afresh" % (change.path, was, now))
            if change.content is not None and not change.create_parents and not os.path.isdir(os.path.dirname(host)):
                raise ChangeError("directory of %s does not exist; nothing was written" % change.path)
            content_changed = change.content is not None and change.content != change.before
            attrs_changed = self._attrs_differ(change, host) if change.exists or change.directory or content_changed else False
            planned.append({
                "path": change.path,
                "changed": bool(content_changed or attrs_changed),
                "content_changed": content_changed,
                "diff": {
                    "before_header": change.path, "after_header": change.path,
                    "before": change.before or "",
                    "after": change.content if change.content is not None else (change.before or ""),
                },
            })
        return planned

    def _attrs_differ(self, change: FileChange, host: str) -> bool:
        if not os.path.exists(host):
            return True
        info = self.fs.stat(change.path)
        if change.mode is not None and int(info["mode"], 8) != int(change.mode, 8):
            return True
        if change.owner is not None and info["owner"] != change.owner and str(info["uid"]) != change.owner:
            return True
        if change.group is not None and info["group"] != change.group and str(info["gid"]) != change.group:
            return True
        return False

    def apply(self, changes: t.Sequence[FileChange], planned: t.Sequence[t.Dict[str, t.Any]]) -> None:
        """Back up and write every changed file; on any failure restore those already written."""
        try:
            for change, plan in zip(changes, planned):
                if plan["changed"]:
                    plan["backup"] = self._backup(change)
                    done = {"path": change.path, "backup": plan["backup"], "created": not change.exists and not change.directory}
                    if change.directory:
                        mode, uid, gid = change.directory
                        done["directory"] = {"mode": "%04o" % mode, "uid": uid, "gid": gid}
                    self._write(change, plan["content_changed"])
                    self.done.append(done)
        except Exception as exc:  # undo everything written, then report
            self.restore(self.done)
            raise ChangeError("writing failed and every file written before was restored: %s" % exc)
        finally:
            self._write_manifest()

    def _backup(self, change: FileChange) -> t.Optional[str]:
        if not change.exists:
            return None  # a new file (removed on rollback) or a directory (its mode and owner are kept in the entry)
        node_backup = os.path.join(self.backup_root, change.path.lstrip("/"))
        host_backup = self.fs.host_path(node_backup)
        os.makedirs(os.path.dirname(host_backup), mode=0o700, exist_ok=True)
        os.chmod(self.fs.host_path(self.backup_root), 0o700)
        shutil.copy2(self.fs.host_path(change.path), host_backup)
        return node_backup

    def _write(self, change: FileChange, content_changed: bool) -> None:
        host = self.fs.host_path(change.path)
        if content_changed:
            if change.create_parents:
                _make_parents(os.path.dirname(host), change.parents_mode)
            fd, tmp = tempfile.mkstemp(prefix=".kubefort-", dir=os.path.dirname(host))
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(t.cast(str, change.content).encode("utf-8", "surrogateescape"))
                    handle.flush()
                    os.fsync(handle.fileno())
                self._replace(tmp, host, change)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        file_args = {"path": host, "mode": change.mode, "owner": change.owner, "group": change.group,
                     "secontext": None, "attributes": None}
        self.module.set_fs_attributes_if_different(file_args, False)

    def _replace(self, tmp: str, host: str, change: FileChange) -> None:
        """Rename the written temporary file over the target, with the target's owner, mode and context.

        Errors are raised (not reported through fail_json) so that apply() can restore what it wrote.
        """
        if os.path.isdir(host):
            raise ChangeError("%s is a directory" % change.path)
        if change.exists:
            info = os.stat(host)
            os.chmod(tmp, info.st_mode & 0o7777)
            if os.geteuid() == 0:
                os.chown(tmp, info.st_uid, info.st_gid)
            if self.module.selinux_enabled():
                self.module.set_context_if_different(tmp, self.module.selinux_context(host), False)
        else:
            os.chmod(tmp, int(change.mode or "0600", 8))
            if self.module.selinux_enabled():
                self.module.set_context_if_different(tmp, self.module.selinux_default_context(host), False)
        os.rename(tmp, host)

    def _write_manifest(self) -> None:
        if not self.done:
            return
        path = self.fs.host_path(os.path.join(self.backup_root, "manifest.json"))
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with open(path, "w") as handle:
            json.dump({"files": self.done}, handle, indent=2)

    def restore(self, entries: t.Sequence[t.Mapping[str, t.Any]]) -> t.List[str]:
        """Put backed-up files back byte for byte (and remove files that did not exist before); directories get
        their mode and owner back."""
        restored = []
        for entry in reversed(list(entries)):
            host = self.fs.host_path(entry["path"])
            if entry.get("directory"):
                before = entry["directory"]
                os.chmod(host, int(before["mode"], 8))
                if os.geteuid() == 0:
                    os.chown(host, int(before["uid"]), int(before["gid"]))
            elif entry.get("backup"):
                source = self.fs.host_path(entry["backup"])
                original = os.stat(source)
                fd, tmp = tempfile.mkstemp(prefix=".kubefort-", dir=os.path.dirname(host))
                os.close(fd)
                try:
                    shutil.copyfile(source, tmp)
                    # The target's SELinux context is kept; mode and owner come from the backup.
                    self._replace(tmp, host, _existing(entry["path"], host))
                finally:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
                os.chmod(host, original.st_mode & 0o7777)
                if os.geteuid() == 0:
                    os.chown(host, original.st_uid, original.st_gid)
            elif entry.get("created") and os.path.exists(host):
                os.unlink(host)
            restored.append(entry["path"])
        return restored
