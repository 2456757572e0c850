"""Every rule's check is a typed spec, and every spec type has exactly one evaluator in its area's registry.

A spec type without an evaluator, a custom evaluator name nobody registered, or a catalog entry whose
check is not a spec fails when the modules are imported, not when a rule first meets it on a host.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest

from ansible_collections.kubefort.hardening.plugins.module_utils import _check_specs, _cluster_policy
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _catalog, _ports_evaluate
from ansible_collections.kubefort.hardening.plugins.module_utils._check_specs import (
    CLUSTER_SPECS,
    NODE_SPECS,
    PORTS_SPECS,
    CheckSpec,
    Compare,
    Custom,
    FileMode,
    FileOwner,
    FileSet,
    Loopback,
)
from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Rule
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _check_engines

BUILD = os.path.join(os.path.dirname(__file__), "..", "..", ".build")
AREA_SPECS = {"ports": PORTS_SPECS, "cluster": CLUSTER_SPECS}


def test_every_spec_type_belongs_to_exactly_one_area():
    every = [cls for cls in vars(_check_specs).values()
             if isinstance(cls, type) and issubclass(cls, CheckSpec) and cls is not CheckSpec]
    assert sorted(c.__name__ for c in every) == sorted(c.__name__ for c in NODE_SPECS + PORTS_SPECS + CLUSTER_SPECS)
    assert len(set(NODE_SPECS + PORTS_SPECS + CLUSTER_SPECS)) == len(NODE_SPECS + PORTS_SPECS + CLUSTER_SPECS)


def test_every_spec_type_has_its_evaluator():
    assert set(_check_engines.ENGINES) == set(NODE_SPECS)
    assert set(_ports_evaluate.JUDGES) == set(PORTS_SPECS)
    for rule in _catalog.ALL_RULES:
        if isinstance(rule.check, Custom):
            assert rule.check.evaluator in _check_engines.CUSTOM, rule.id
        if rule.component == "cluster":
            assert rule.check.evaluator in _cluster_policy.CHECKS, rule.id


@pytest.mark.parametrize("rule", _catalog.ALL_RULES, ids=lambda r: r.id)
def test_every_rule_has_a_spec_of_its_area(rule):
    allowed = AREA_SPECS.get(rule.component, NODE_SPECS)
    assert type(rule.check) in allowed, (rule.id, type(rule.check).__name__)


def test_a_check_that_is_not_a_spec_fails_where_the_rule_is_made():
    with pytest.raises(TypeError, match="check must be a spec"):
        Rule(id="x", title="x", component="kubelet", section="4.2", severity="low", check={"check": "ciphers"})
    with pytest.raises(ValueError, match="a FileMode check needs operator mode_at_most"):
        Rule(id="x", title="x", component="kubelet", section="4.1", severity="low", operator="eq",
             check=FileMode(FileSet("config")))
    with pytest.raises(ValueError, match="unknown file set 'kubeconfigs'"):
        FileSet("kubeconfigs")


@pytest.mark.parametrize("check, operator", [
    (Compare(), "eq"), (FileMode(FileSet("config")), "mode_at_most"), (FileOwner(FileSet("config")), "owner"),
    (Loopback(), "custom"), (Custom("etcd_unique_ca"), "custom"),
])
def test_a_rule_without_an_operator_takes_the_one_its_check_implies(check, operator):
    assert Rule(id="x", title="x", component="kubelet", section="4.1", severity="low", check=check).operator == operator


def test_an_operator_given_is_kept():
    rule = Rule(id="x", title="x", component="kube-apiserver", section="1.2", severity="low", operator="present",
                check=Custom("audit_log_path"))
    assert rule.operator == "present"


def test_a_node_rule_without_an_engine_is_refused():
    @dataclasses.dataclass(frozen=True)
    class Unregistered(CheckSpec):
        pass

    stray = dataclasses.replace(_catalog.BY_ID["kubelet-read-only-port"], check=Unregistered())
    with pytest.raises(TypeError, match="no node check engine for Unregistered"):
        _check_engines.check_registry([stray])
    unnamed = dataclasses.replace(_catalog.BY_ID["kubelet-tls-cert"], check=Custom("kubelet_serving_certs"))
    with pytest.raises(TypeError, match="unknown custom evaluator 'kubelet_serving_certs'"):
        _check_engines.check_registry([unnamed])


def _import_with(patch: str, module: str) -> subprocess.CompletedProcess:
    code = "import sys; sys.path.insert(0, %r)\n%s\nimport %s\n" % (os.path.abspath(BUILD), patch, module)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("module", [
    "ansible_collections.kubefort.hardening.plugins.plugin_utils._check_engines",
    "ansible_collections.kubefort.hardening.plugins.plugin_utils._ports_evaluate",
])
def test_a_spec_type_without_an_evaluator_fails_at_import(module):
    patch = (
        "import dataclasses\n"
        "from ansible_collections.kubefort.hardening.plugins.module_utils import _check_specs\n"
        "@dataclasses.dataclass(frozen=True)\n"
        "class NewCheck(_check_specs.CheckSpec):\n    pass\n"
        "_check_specs.NODE_SPECS += (NewCheck,)\n"
        "_check_specs.PORTS_SPECS += (NewCheck,)\n"
    )
    broken = _import_with(patch, module)
    assert broken.returncode != 0 and "TypeError" in broken.stderr and "NewCheck" in broken.stderr, broken.stderr
    assert _import_with("", module).returncode == 0


def test_an_unknown_cluster_evaluator_fails_at_import():
    patch = (
        "import dataclasses\n"
        "from ansible_collections.kubefort.hardening.plugins.module_utils import _rules_cluster\n"
        "_rules_cluster.RULES = _rules_cluster.RULES + (dataclasses.replace(_rules_cluster.RULES[0], id='x', "
        "check=dataclasses.replace(_rules_cluster.RULES[0].check, evaluator='rbac_permissions')),)\n"
    )
    broken = _import_with(patch, "ansible_collections.kubefort.hardening.plugins.module_utils._cluster_policy")
    assert broken.returncode != 0 and "unknown evaluator 'rbac_permissions'" in broken.stderr, broken.stderr


def test_the_catalog_has_no_untyped_extra():
    assert not any(hasattr(rule, "extra") for rule in _catalog.ALL_RULES)
    assert "extra" not in {f.name for f in dataclasses.fields(Rule)}
