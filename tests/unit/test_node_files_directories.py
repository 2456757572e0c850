"""node_files changes the mode and owner of a directory (etcd's data directory, the PKI directory, a parent
directory), compare-and-swap like a file, and restores them; a path that is not what discovery saw is refused."""

from __future__ import annotations

import os
import stat

from ansible_collections.kubefort.hardening.plugins.modules import node_files
from kubefort_testlib import run_module


def mode_of(path) -> str:
    return "%04o" % stat.S_IMODE(os.stat(path).st_mode)


def test_directory_mode_is_changed_and_restored(tmp_path):
    data = tmp_path / "var" / "lib" / "etcd"
    data.mkdir(parents=True)
    os.chmod(data, 0o755)
    spec = {"path": "/var/lib/etcd", "expected_sha256": "directory", "mode": "0700"}
    check = run_module(node_files, {"root": str(tmp_path), "files": [spec]}, check=True)
    assert check["changed"] and mode_of(data) == "0755"
    out = run_module(node_files, {"root": str(tmp_path), "files": [spec]})
    assert out["changed"] and mode_of(data) == "0700"
    (entry,) = out["backups"]
    assert entry == {"path": "/var/lib/etcd", "backup": None, "created": False,
                     "directory": {"mode": "0755", "uid": os.getuid(), "gid": os.getgid()}}
    again = run_module(node_files, {"root": str(tmp_path), "files": [spec]})
    assert not again["changed"]
    restored = run_module(node_files, {"root": str(tmp_path), "state": "restore", "backups": out["backups"]})
    assert restored["restored"] == ["/var/lib/etcd"] and mode_of(data) == "0755" and data.is_dir()


def test_a_directory_that_became_a_file_is_refused_and_nothing_is_written(tmp_path):
    (tmp_path / "etc").mkdir()
    target = tmp_path / "etc" / "cni"
    target.write_text("not a directory")
    other = tmp_path / "etc" / "a.conf"
    other.write_text("x")
    os.chmod(other, 0o644)
    specs = [{"path": "/etc/a.conf", "expected_sha256": None, "mode": "0600"},
             {"path": "/etc/cni", "expected_sha256": "directory", "mode": "0755"}]
    out = run_module(node_files, {"root": str(tmp_path), "files": specs})
    assert out["failed"] and "/etc/cni was a directory when the node was read and is a file" in out["msg"]
    assert mode_of(other) == "0644"
