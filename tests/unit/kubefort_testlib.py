"""Run the collection's modules in-process and lay out demo nodes, for tests that do not need Ansible."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import shutil
import typing as t

import pytest
from ansible.module_utils.testing import patch_module_args

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_NODES = os.path.join(REPO, "demo", "nodes")

# A test that needs its node copy owned by root:root, as installers leave it: a copy another user makes is
# owned by that user, which the ownership rules and the parent-directory checks rightly fail, and writes
# that keep a file's owner (root) cannot be made. A root test (pytest.ini): other users skip it.
ROOT_OWNED = pytest.mark.root(reason="the node copy must be owned by root:root, as installers leave it")


def run_module(module: t.Any, args: t.Dict[str, t.Any], check: bool = False, diff: bool = False) -> t.Dict[str, t.Any]:
    """Call a module's main() with these arguments and return what it printed as JSON."""
    out = io.StringIO()
    with patch_module_args(dict(args, _ansible_check_mode=check, _ansible_diff=diff)), contextlib.redirect_stdout(out):
        try:
            module.main()
        except SystemExit:
            pass
    return json.loads(out.getvalue())


CallModule = t.Callable[[str, t.Dict[str, t.Any]], t.Dict[str, t.Any]]


def call_module_factory(check: bool = False, diff: bool = False, calls: t.Optional[t.List[str]] = None) -> CallModule:
    from ansible_collections.kubefort.hardening.plugins.modules import node_facts, node_files

    modules = {"kubefort.hardening.node_facts": node_facts, "kubefort.hardening.node_files": node_files}

    def call(name: str, args: t.Dict[str, t.Any]) -> t.Dict[str, t.Any]:
        if calls is not None:
            calls.append(name)
        return run_module(modules[name], args, check=check, diff=diff)

    return call


def demo_node(tmp_path: t.Any, name: str) -> str:
    """A fresh copy of one bundled demo node, with the modes its MODES file records."""
    dest = os.path.join(str(tmp_path), "nodes")
    os.makedirs(dest, exist_ok=True)
    target = os.path.join(dest, name)
    if os.path.exists(target):
        shutil.rmtree(target)
    shutil.copytree(os.path.join(DEMO_NODES, name), target, symlinks=True)
    _demo_nodes_script().apply_modes(target)
    return target


def _demo_nodes_script() -> t.Any:
    spec = importlib.util.spec_from_file_location("demo_nodes", os.path.join(REPO, "scripts", "demo_nodes.py"))
    module = importlib.util.module_from_spec(t.cast(t.Any, spec))
    t.cast(t.Any, spec).loader.exec_module(module)
    return module


def tree_hashes(root: str) -> t.Dict[str, t.Tuple[str, int]]:
    """Content hash and mode of every file below root (a symbolic link: its target)."""
    import hashlib

    found = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                found[os.path.relpath(path, root)] = ("symlink to " + os.readlink(path), 0)
                continue
            with open(path, "rb") as handle:
                found[os.path.relpath(path, root)] = (hashlib.sha256(handle.read()).hexdigest(), os.stat(path).st_mode)
    return found
