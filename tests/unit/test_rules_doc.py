"""docs/rules.md is generated from the catalog and must not be stale."""

from __future__ import annotations

import importlib.util
import os

from ansible_collections.kubefort.hardening.plugins.plugin_utils import _catalog

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _generator():
    spec = importlib.util.spec_from_file_location("gen_rules_doc", os.path.join(REPO, "scripts", "gen_rules_doc.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rules_doc_is_up_to_date():
    with open(os.path.join(REPO, "docs", "rules.md")) as handle:
        current = handle.read()
    assert current == _generator().render(), "docs/rules.md is stale: run python3 scripts/gen_rules_doc.py"


def test_rules_doc_names_every_rule_and_cis_id():
    text = _generator().render()
    for rule in _catalog.ALL_RULES:
        assert "| `%s` |" % rule.id in text
        if rule.cis:
            assert "| `%s` | %s |" % (rule.id, rule.cis) in text


def test_doc_says_which_rules_are_manual_and_which_need_input():
    text = _generator().render()
    assert "| `apiserver-audit-policy` | 3.2.1 |" in text and "with `audit_policy`" in text
    assert "| `users-no-client-certificates` | 3.1.1 |" in text
    row = next(line for line in text.splitlines() if line.startswith("| `kubelet-read-only-port`"))
    assert "flags: `10255`" in row and "config: `0`" in row


def test_doc_gives_the_benchmark_mapping_and_both_ids():
    text = _generator().render()
    assert "| 1.33 | cis-1.12 |" in text and "| 1.34 | cis-2.0 |" in text and "| 1.35 | cis-2.0 |" in text
    assert "| older or unknown | cis-1.12 |" in text
    assert "| `kubelet-read-only-port` | 4.2.4 | 4.2.4 |" in text
    assert "IDs new in cis-2.0: none." in text
