"""The rule catalog's data files: what the loader makes of them, and every way an entry fails at import.

The control-plane, node and ports rules are YAML (plugins/plugin_utils/catalog/); plugin_utils/_rule_loader.py
makes them Rule objects when plugin_utils/_catalog is imported. A wrong entry must stop that import with a message
naming the file and the entry, never load as something else.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap

import pytest

from ansible_collections.kubefort.hardening.plugins.module_utils._check_specs import FileMode, FileSet, ListenerClosed
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _catalog, _rule_builders, _rule_loader
from ansible_collections.kubefort.hardening.plugins.plugin_utils._rule_loader import CatalogError, load_area

REPO = os.path.join(os.path.dirname(__file__), "..", "..")
BUILD = os.path.join(REPO, ".build")

GOOD = """\
---
stat_paths: [/var/lib/demo]
sections:
  - section: 4.2 Kubelet
    rules:
      - id: demo-flag
        cis: "4.2.99"
        title: kubelet --demo is false
        component: kubelet
        severity: low
        flag: demo
        config_key: demo
        expected: false
        default: {any: true}
        fix: false
        distributions: [kubeadm, rke2]
      - id: demo-mode
        builder: file_mode_rule
        cis: "4.1.99"
        component: kubelet
        title: demo file is 600
        files: {which: config, optional: true}
        mode: "600"
        remediation: chmod 600.
        rationale: Because.
  - include: more.yml
"""
MORE = """\
sections:
  - section: Ports and network exposure
    rules:
      - id: demo-closed
        builder: live_check_rule
        title: nothing on 1
        severity: low
        check: {type: ListenerClosed, ports: [1]}
        remediation: close it.
        rationale: Because.
        related_rules: [demo-flag]
"""


def _write(tmp_path, main: str, more: str = MORE) -> str:
    (tmp_path / "main.yml").write_text(main)
    (tmp_path / "more.yml").write_text(more)
    return str(tmp_path)


def test_entries_become_typed_rules(tmp_path):
    area = load_area("main.yml", _write(tmp_path, GOOD))
    flag, mode, closed = area.rules
    assert area.stat_paths == ("/var/lib/demo",)
    assert (flag.section, flag.cis, flag.expected, flag.default, flag.operator) == ("4.2 Kubelet", "4.2.99", False, {"any": True}, "eq")
    assert flag.distributions == ("kubeadm", "rke2")  # lists become tuples: the catalog is immutable
    assert mode.check == FileMode(FileSet("config", optional=True)) and (mode.expected, mode.fix) == ("600", "0600")
    assert closed.check == ListenerClosed((1,)) and closed.related_rules == ("demo-flag",)
    assert closed.section == "Ports and network exposure"  # from the included file
    linked = _rule_loader.link({"main": area})
    assert linked["main"].rules[2].related_cis == ("4.2.99",)


@pytest.mark.parametrize("old, new, message", [
    ("        flag: demo\n", "        flg: demo\n", r"main.yml, section '4.2 Kubelet', entry 1 \(demo-flag\): unknown key\(s\) flg for a rule"),
    ("builder: file_mode_rule", "builder: file_mod_rule", r"entry 2 \(demo-mode\): unknown builder 'file_mod_rule'"),
    ("        mode: \"600\"\n", "        mode: \"600\"\n        modes: \"644\"\n", r"entry 2 \(demo-mode\): unknown key\(s\) modes for builder file_mode_rule"),
    ("        title: kubelet --demo is false\n", "", r"entry 1 \(demo-flag\): a rule needs title"),
    ("        mode: \"600\"\n", "", r"entry 2 \(demo-mode\): builder file_mode_rule needs mode"),
    ("id: demo-mode", "id: demo-flag", r"entry 2 \(demo-flag\): duplicate rule ID demo-flag \(also rule catalog main.yml, section '4.2 Kubelet', entry 1"),
    ("cis: \"4.2.99\"", "cis: 4.2", r"entry 1 \(demo-flag\): cis must be text, not 4.2 \(quote it\)"),
    ("files: {which: config, optional: true}", "files: {which: configs}", r"entry 2 \(demo-mode\): unknown file set 'configs'"),
    ("severity: low\n        flag", "severity: urgent\n        flag", r"entry 1 \(demo-flag\): rule demo-flag: unknown severity 'urgent'"),
    ("  - section: 4.2 Kubelet\n    rules:\n", "  - rules:\n", r"main.yml, section 1: a section is"),
    ("stat_paths:", "stat_path:", r"main.yml: unknown key\(s\) stat_path"),
])
def test_a_wrong_entry_is_refused_naming_file_and_entry(tmp_path, old, new, message):
    assert old in GOOD
    with pytest.raises(CatalogError, match=message):
        _rule_loader.link({"main": load_area("main.yml", _write(tmp_path, GOOD.replace(old, new)))})


def test_a_wrong_check_is_refused(tmp_path):
    with pytest.raises(CatalogError, match=r"more.yml, section 'Ports and network exposure', entry 1 \(demo-closed\): "
                                           r"unknown check type 'ListenerShut'"):
        load_area("main.yml", _write(tmp_path, GOOD, MORE.replace("ListenerClosed", "ListenerShut")))
    with pytest.raises(CatalogError, match=r"entry 1 \(demo-closed\): unknown key\(s\) port for check ListenerClosed"):
        load_area("main.yml", _write(tmp_path, GOOD, MORE.replace("ports: [1]", "port: [1]")))
    with pytest.raises(CatalogError, match=r"entry 1 \(demo-closed\): check ListenerClosed needs ports"):
        load_area("main.yml", _write(tmp_path, GOOD, MORE.replace(", ports: [1]", "")))
    with pytest.raises(CatalogError, match=r"entry 1 \(demo-closed\): related_rules names no rule: demo-flagg"):
        _rule_loader.link({"main": load_area("main.yml", _write(tmp_path, GOOD, MORE.replace("[demo-flag]", "[demo-flagg]")))})


def test_a_wrong_entry_fails_when_the_catalog_is_imported(tmp_path):
    """The shipped files are read when plugin_utils/_catalog is imported (so by every action plugin): a broken
    entry stops the import, it never reaches a host."""
    broken = tmp_path / "catalog"
    broken.mkdir()
    for name in os.listdir(_rule_loader.CATALOG_DIR):
        text = open(os.path.join(_rule_loader.CATALOG_DIR, name), encoding="utf-8").read()
        broken.joinpath(name).write_text(text.replace("type: Loopback", "type: LoopBack", 1))
    code = textwrap.dedent("""\
        import sys; sys.path.insert(0, %r)
        from ansible_collections.kubefort.hardening.plugins.plugin_utils import _rule_loader
        _rule_loader.CATALOG_DIR = %r
        import ansible_collections.kubefort.hardening.plugins.plugin_utils._catalog
    """) % (os.path.abspath(BUILD), str(broken))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode != 0 and "CatalogError" in run.stderr, run.stderr
    assert "unknown check type 'LoopBack'" in run.stderr and ".yml, section '" in run.stderr, run.stderr


def test_the_shipped_catalog_names_every_builder_and_spec_it_uses():
    """Every builder of _rule_builders is used by an entry (none is dead), and the loader knows them all."""
    used = set()
    for name in os.listdir(_rule_loader.CATALOG_DIR):
        text = open(os.path.join(_rule_loader.CATALOG_DIR, name), encoding="utf-8").read()
        used |= {line.split(":", 1)[1].strip() for line in text.splitlines() if line.strip().startswith("builder:")}
    assert used == set(_rule_loader.BUILDERS)
    assert all(callable(getattr(_rule_builders, name)) for name in used)
    assert len(_catalog.ALL_RULES) == len(_catalog.BY_ID)


def test_no_module_reaches_the_loader_or_the_data_files():
    """Modules run where AnsiballZ ships only module_utils (.py): nothing they import may read the catalog's data
    files. module_utils never imports plugin_utils, and no module does."""
    plugins = os.path.join(REPO, "plugins")
    for folder in ("modules", "module_utils"):
        for name in sorted(os.listdir(os.path.join(plugins, folder))):
            if not name.endswith(".py"):
                continue
            tree = ast.parse(open(os.path.join(plugins, folder, name), encoding="utf-8").read())
            imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
            imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
            assert not [m for m in imported if "plugin_utils" in m or m == "yaml"], (folder, name, imported)
