"""The checkout holds only the project: no local environment committed by accident.

A `.venv` symbolic link once landed on main (`/.venv/` in .gitignore matches a directory, not a link): CI
passed on the machine where the link's target existed and failed on every fresh one.
"""
import os
import shutil
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOCAL_ONLY = (".venv", ".build", ".kubefort-demo", "kubefort-report", ".pytest_cache", ".ruff_cache")


def _tracked():
    if shutil.which("git") is None or not os.path.isdir(os.path.join(REPO, ".git")):
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "-C", REPO, "ls-files", "-s", "-z"], check=True, capture_output=True).stdout
    entries = []
    for item in out.decode().split("\0"):
        if item:
            meta, path = item.split("\t", 1)
            entries.append((meta.split()[0], path))
    return entries


def test_no_local_environment_is_tracked():
    tracked = [path for _mode, path in _tracked()]
    leaked = [p for p in tracked if p.split("/", 1)[0] in LOCAL_ONLY]
    assert leaked == []


def test_no_tracked_symlink_leaves_the_checkout():
    outside = []
    for mode, path in _tracked():
        if mode != "120000":
            continue
        target = os.readlink(os.path.join(REPO, path))
        if target.startswith("/") and not target.startswith("/dev/"):
            outside.append("%s -> %s" % (path, target))
        elif not target.startswith(("/", "socket:")):
            resolved = os.path.normpath(os.path.join(REPO, os.path.dirname(path), target))
            if not resolved.startswith(REPO + os.sep):
                outside.append("%s -> %s" % (path, target))
    assert outside == []


def test_gitignore_matches_the_local_environment_as_file_or_link():
    # "/.venv/" would only match a directory; the local environment may be a link to a shared one.
    with open(os.path.join(REPO, ".gitignore")) as fh:
        lines = {line.strip() for line in fh}
    for name in (".venv", ".build"):
        assert "/" + name in lines, name
