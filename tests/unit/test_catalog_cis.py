"""The CIS 1.12 catalog for sections 1-4: every check is a rule, with the data evaluation and docs need."""

from __future__ import annotations

import pytest

from ansible_collections.kubefort.hardening.plugins.plugin_utils import _catalog
from ansible_collections.kubefort.hardening.plugins.module_utils._check_specs import FileMode, FileOwner, Manual
from ansible_collections.kubefort.hardening.plugins.plugin_utils._check_engines import ENGINES

NODE_RULES = _catalog.CONTROL_PLANE_RULES + _catalog.NODE_RULES


def _ids(prefix: str, count: int) -> list:
    return ["%s.%d" % (prefix, n) for n in range(1, count + 1)]


# CIS Kubernetes Benchmark 1.12, sections 1-4 (as kube-bench's cfg/cis-1.12 numbers them).
CIS_1_12 = (
    _ids("1.1", 21) + _ids("1.2", 30) + _ids("1.3", 7) + _ids("1.4", 2) + _ids("2", 7)
    + _ids("3.1", 3) + _ids("3.2", 2) + _ids("4.1", 10) + _ids("4.2", 14) + _ids("4.3", 1)
)
FOUNDATION_IDS = {
    "apiserver-manifest-permissions": "1.1.1", "apiserver-manifest-ownership": "1.1.2",
    "apiserver-anonymous-auth": "1.2.1", "apiserver-authorization-mode-not-alwaysallow": "1.2.6",
    "apiserver-authorization-mode-node": "1.2.7", "apiserver-authorization-mode-rbac": "1.2.8",
    "kubelet-config-permissions": "4.1.9", "kubelet-config-ownership": "4.1.10",
    "kubelet-anonymous-auth": "4.2.1", "kubelet-authorization-mode": "4.2.2", "kubelet-read-only-port": "4.2.4",
}
LEVEL_2 = {"3.1.1", "3.1.2", "3.1.3", "3.2.2", "4.2.8"}
# Settings the benchmark misses: our own IDs, no CIS ID, each limited to the versions that have it.
EXTRA_RULES = {
    "apiserver-insecure-port": (None, "1.19"),
    "apiserver-insecure-bind-address": (None, "1.19"),
    "controller-manager-insecure-port": (None, "1.21"),
    "scheduler-insecure-port": (None, "1.22"),
    "kubelet-cadvisor-port": (None, "1.11"),
    "kube-proxy-healthz-bind-address": (None, None),
}


def test_every_cis_1_12_check_of_sections_1_to_4_is_exactly_one_rule():
    cis = [r.cis for r in NODE_RULES if r.cis]
    assert sorted(cis) == sorted(CIS_1_12)
    assert len(cis) == len(set(cis)) == 97


def test_foundation_ids_are_kept():
    for rule_id, cis in FOUNDATION_IDS.items():
        assert _catalog.BY_ID[rule_id].cis == cis


def test_ids_are_unique_across_the_whole_catalog():
    ids = [r.id for r in _catalog.ALL_RULES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("rule", NODE_RULES, ids=lambda r: r.id)
def test_rule_is_complete(rule):
    assert rule.title and rule.remediation and rule.section
    if rule.cis:
        # "1.2 API Server" for 1.2.x, "2 etcd" for 2.x.
        assert rule.cis.startswith(rule.section.split(" ")[0] + "."), (rule.cis, rule.section)
    check = rule.check.label()
    assert type(rule.check) in ENGINES
    if isinstance(rule.check, Manual):
        assert not rule.automated and rule.check.guidance
    fixed_elsewhere = ("supplied_file", "admission_config", "apiserver_anonymous", "feature_gate")
    if rule.automated and not isinstance(rule.check, (FileMode, FileOwner)) and check not in fixed_elsewhere:
        assert rule.fix is not None, "an automated setting rule needs a fix value"


def test_profiles_follow_cis():
    assert {r.cis for r in NODE_RULES if r.level == 2} == LEVEL_2


@pytest.mark.parametrize("rule_id", sorted(EXTRA_RULES))
def test_rules_the_benchmark_misses_are_version_bounded(rule_id):
    rule = _catalog.BY_ID[rule_id]
    assert rule.cis is None
    assert rule.max_version == EXTRA_RULES[rule_id][1]


def test_bind_address_rules_default_to_every_address_when_the_flag_is_absent():
    for rule_id in ("controller-manager-bind-address", "scheduler-bind-address"):
        assert _catalog.BY_ID[rule_id].default == {"any": "0.0.0.0"}


def test_selecting_a_section_selects_its_rules():
    assert {r.cis for r in _catalog.select(["1.3"])} == set(_ids("1.3", 7))
    assert {r.cis for r in _catalog.select(["2"])} == set(_ids("2", 7))
