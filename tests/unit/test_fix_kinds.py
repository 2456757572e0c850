"""The fix-kind registry: every kind is planned by the module it names, every kind the plugins make is known,
and an unknown kind is refused where the Fix is made (it used to become "fail, no fix" silently)."""

from __future__ import annotations

import os
import re

import pytest

from ansible_collections.kubefort.hardening.plugins.plugin_utils._edits_apiserver import KINDS as APISERVER_KINDS
from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import FIX_KINDS, Fix

PLUGIN_UTILS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "plugins", "plugin_utils")


def _source(module: str) -> str:
    with open(os.path.join(PLUGIN_UTILS, module + ".py"), encoding="utf-8") as handle:
        return handle.read()


@pytest.mark.parametrize("kind", sorted(FIX_KINDS))
def test_each_kind_is_dispatched_by_its_planner(kind):
    module = FIX_KINDS[kind]
    if module == "_edits_apiserver":
        # That planner takes its kinds from the registry; its last kind is its else branch.
        assert kind in APISERVER_KINDS
        assert kind == APISERVER_KINDS[-1] or 'kind == "%s"' % kind in _source(module)
    else:
        assert 'kind == "%s"' % kind in _source(module), "%s does not plan %s" % (module, kind)


def test_every_kind_the_plugins_make_is_registered():
    made = set()
    for name in os.listdir(PLUGIN_UTILS):
        if name.endswith(".py"):
            made.update(re.findall(r'\bFix\(\s*"([a-z_]+)"', _source(name[:-3])))
    assert len(made) >= 5, "too few Fix(...) found: the scan is broken"
    assert made <= set(FIX_KINDS), sorted(made - set(FIX_KINDS))


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown fix kind 'flags'"):
        Fix("flags", "kube-apiserver", "profiling", "false")
    assert Fix("flag", "kube-apiserver", "profiling", "false").kind == "flag"
