"""Flag lists per release (plugins/module_utils/_component_flags.py): the recorded changes, the verdicts
for each release, the audit's "will not start" error and the planner's refusal to write a flag the
component's version does not accept."""

from __future__ import annotations

import os
import re

import pytest
from kubefort_testlib import call_module_factory, demo_node

from ansible_collections.kubefort.hardening.plugins.module_utils import _component_flags as cf
from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options
from ansible_collections.kubefort.hardening.plugins.plugin_utils._harden import run, select_rules

BASE_LISTS = {c: cf.FLAGS[(c, cf.BASE)] for c in cf.COMPONENTS}


def test_every_change_is_well_formed_and_consistent_with_1_28():
    seen = set()
    for change in cf.CHANGES:
        assert change.component in cf.COMPONENTS and change.kind in ("added", "removed"), change
        assert change.release in cf.RELEASE_SOURCES, change  # read from a release kubefort names
        assert change.source and re.match(r"^[a-z0-9][a-z0-9-]+$", change.flag), change
        assert (change.component, change.flag, change.kind) not in seen, change
        seen.add((change.component, change.flag, change.kind))
        if change.kind == "removed":
            assert change.flag in BASE_LISTS[change.component], change  # only 1.28 flags are removed here
        else:
            assert change.flag not in BASE_LISTS[change.component], change  # an addition is new after 1.28


# (component, flag, release of the change, kind): the flag is fine one release before, refused from the release on.
REMOVED = [
    ("kubelet", "keep-terminated-pod-volumes", (1, 31)),
    ("kubelet", "iptables-masquerade-bit", (1, 31)),
    ("kubelet", "iptables-drop-bit", (1, 31)),
    ("kubelet", "azure-container-registry-config", (1, 31)),
    ("kubelet", "runonce", (1, 32)),
    ("kubelet", "cloud-config", (1, 34)),
    ("kubelet", "register-schedulable", (1, 34)),
    ("kube-apiserver", "cloud-provider", (1, 33)),
    ("kube-apiserver", "cloud-config", (1, 33)),
    ("kubelet", "pod-infra-container-image", (1, 35)),
    ("kube-apiserver", "cloud-provider-gce-lb-src-cidrs", (1, 31)),
    ("kube-apiserver", "cloud-provider-gce-l7lb-src-cidrs", (1, 31)),
]
ADDED = [
    ("kube-apiserver", "authentication-config", (1, 29)),
    ("kube-apiserver", "authorization-config", (1, 29)),
    ("kube-apiserver", "allow-metric-labels-manifest", (1, 29)),
    ("kubelet", "log-text-split-stream", (1, 30)),
    ("kube-apiserver", "log-text-info-buffer-size", (1, 30)),
    ("kubelet", "fail-cgroupv1", (1, 31)),
    ("kube-apiserver", "disable-http2-serving", (1, 31)),
    ("kube-apiserver", "emulated-version", (1, 31)),
    ("kube-apiserver", "requestheader-uid-headers", (1, 32)),
    ("kube-apiserver", "service-account-signing-endpoint", (1, 32)),
    ("kube-apiserver", "emulation-forward-compatible", (1, 33)),
    ("kube-apiserver", "min-compatibility-version", (1, 35)),
]


@pytest.mark.parametrize("component,flag,release", REMOVED)
def test_a_removed_flag_is_refused_from_its_release_on_and_fine_before(component, flag, release):
    before = (release[0], release[1] - 1)
    assert cf.verdict(component, (1, 28, 7), flag).status == "known"
    assert cf.verdict(component, before, flag).status == "known"
    for minor in range(release[1], 38):  # later releases do not bring it back
        found = cf.verdict(component, (1, minor), flag)
        assert found.status == "unknown", (minor, found)
        assert "removed in %d.%d" % release in found.reason and "not in 1.%d" % minor in found.reason
    assert flag not in cf.accepted_flags(component, release)
    assert flag in cf.accepted_flags(component, before)


@pytest.mark.parametrize("component,flag,release", ADDED)
def test_an_added_flag_is_refused_before_its_release_and_fine_from_it_on(component, flag, release):
    assert cf.verdict(component, (1, 28), flag) == cf.Verdict("unknown", "not a flag of %s 1.28" % component)
    for minor in range(29, release[1]):
        found = cf.verdict(component, (1, minor), flag)
        assert found.status == "unknown" and "added in %d.%d" % release in found.reason, (minor, found)
    for minor in range(release[1], 38):
        assert cf.verdict(component, (1, minor), flag).status == "known"
    assert flag in cf.accepted_flags(component, release) and flag not in cf.accepted_flags(component, (1, release[1] - 1))


def test_an_addition_seen_only_as_present_is_not_guessed_for_the_releases_before(monkeypatch):
    """exact=False: the source shows the flag present by a release, not that it is new there."""
    change = cf.Change("kube-apiserver", "some-new-flag", (1, 33), "added", "test", exact=False)
    monkeypatch.setattr(cf, "CHANGES", cf.CHANGES + (change,))
    assert cf.verdict("kube-apiserver", (1, 28), "some-new-flag").status == "unknown"
    assert cf.verdict("kube-apiserver", (1, 32), "some-new-flag").status == "unchecked"
    assert cf.verdict("kube-apiserver", (1, 33), "some-new-flag").status == "known"


def test_a_flag_no_source_names_is_unknown_on_1_28_and_not_checked_later():
    assert cf.verdict("kubelet", (1, 28), "read-only-prot").status == "unknown"
    later = cf.verdict("kubelet", (1, 31), "read-only-prot")
    assert later.status == "unchecked" and "not among the flag changes kubefort read" in later.reason
    # Older than the lists: nothing is claimed.
    assert cf.verdict("kubelet", (1, 27), "keep-terminated-pod-volumes").status == "unchecked"
    assert cf.verdict("kube-proxy", (1, 31), "anything").status == "unchecked"


def test_a_1_28_flag_stays_known_in_later_releases_unless_removed():
    for minor in range(28, 38):
        assert cf.verdict("kubelet", (1, minor), "read-only-port").status == "known"
        assert cf.verdict("kube-apiserver", (1, minor), "anonymous-auth").status == "known"
        assert cf.verdict("kube-apiserver", (1, minor), "profiling").status == "known"


def test_version_unknown():
    assert cf.verdict("kubelet", None, "anonymous-auth").status == "known"
    removed = cf.verdict("kubelet", None, "keep-terminated-pod-volumes")
    assert removed == cf.Verdict("unknown", "kubelet 1.31-1.35 refuses it")
    # Accepted from 1.29 on, refused by 1.28: some release of unknown version would not start.
    assert cf.verdict("kube-apiserver", None, "authorization-config").status == "unknown"
    assert cf.verdict("kubelet", None, "read-only-prot").status == "unknown"


def test_underscores_are_dashes_as_for_the_components():
    assert cf.verdict("kubelet", (1, 28), "read_only_port").status == "known"
    assert cf.verdict("kubelet", (1, 31), "keep_terminated_pod_volumes").status == "unknown"


def test_the_kubelet_does_not_register_the_gce_load_balancer_flags():
    # They are the API server's (cmd/kube-apiserver/app/options/globalflags_providers.go).
    for flag in ("cloud-provider-gce-lb-src-cidrs", "cloud-provider-gce-l7lb-src-cidrs"):
        assert cf.verdict("kubelet", (1, 28), flag).status == "unknown"
        assert cf.verdict("kube-apiserver", (1, 28), flag).status == "known"


# --- audit and planner on a node of a given release -----------------------------------------------------------

def _node_at(tmp_path, name, version):
    """A demo node whose control plane images (and so the kubelet's version) are ``version``."""
    root = demo_node(tmp_path, name)
    manifests = os.path.join(root, "etc/kubernetes/manifests")
    for entry in os.listdir(manifests):
        path = os.path.join(manifests, entry)
        with open(path) as handle:
            text = handle.read()
        with open(path, "w") as handle:
            handle.write(re.sub(r":v1\.28\.7\b", ":v" + version, text))
    return root


def _add_kubelet_arg(root, words):
    os.makedirs(os.path.join(root, "etc/default"), exist_ok=True)
    with open(os.path.join(root, "etc/default/kubelet"), "w") as handle:
        handle.write('KUBELET_EXTRA_ARGS="%s"\n' % words)


def _audit(root, components, check=True, rule_ids=()):
    rules = select_rules(components, list(rule_ids), [])
    return run(call_module_factory(check=check), root, rules, Options(), check, "/var/lib/kubefort/backups", False)


def _kubelet_results(outcome):
    return [r for r in outcome["results"] if r["component"] == "kubelet" and r["status"] != "not_applicable"]


def test_a_flag_removed_in_1_31_stops_a_1_31_kubelet_and_is_fine_on_1_30(tmp_path):
    root = _node_at(tmp_path / "a", "cp1", "1.31.2")
    _add_kubelet_arg(root, "--keep-terminated-pod-volumes=false")
    outcome = _audit(root, ["kubelet"])
    assert _kubelet_results(outcome)
    for result in _kubelet_results(outcome):
        assert result["status"] == "error", result
        assert "the kubelet will not start: unknown flag --keep-terminated-pod-volumes (not in 1.31: removed in 1.31" in result["message"]
    assert not outcome["diff"]
    older = _node_at(tmp_path / "b", "cp1", "1.30.5")
    _add_kubelet_arg(older, "--keep-terminated-pod-volumes=false")
    assert all(r["status"] != "error" for r in _kubelet_results(_audit(older, ["kubelet"])))


def test_a_flag_added_in_1_31_stops_a_1_30_kubelet(tmp_path):
    root = _node_at(tmp_path / "a", "cp1", "1.30.5")
    _add_kubelet_arg(root, "--fail-cgroupv1=false")
    for result in _kubelet_results(_audit(root, ["kubelet"])):
        assert result["status"] == "error" and "unknown flag --fail-cgroupv1 (not in 1.30: added in 1.31" in result["message"]
    newer = _node_at(tmp_path / "b", "cp1", "1.31.2")
    _add_kubelet_arg(newer, "--fail-cgroupv1=false")
    assert all(r["status"] != "error" for r in _kubelet_results(_audit(newer, ["kubelet"])))


def test_an_unknown_flag_on_a_later_release_is_named_as_not_checked_not_guessed(tmp_path):
    root = _node_at(tmp_path, "cp1", "1.33.1")
    _add_kubelet_arg(root, "--read-only-prot=0")
    results = _kubelet_results(_audit(root, ["kubelet"]))
    assert results and all(r["status"] != "error" for r in results)
    assert any("--read-only-prot was not checked" in r["message"] or "accepts --read-only-prot was not checked" in r["message"]
               for r in results), [r["message"] for r in results]


def test_the_planner_never_writes_a_flag_the_api_server_version_does_not_accept(tmp_path, monkeypatch):
    """A fix whose flag the 1.28 API server refuses is an error with nothing written; on 1.29 it is written."""
    changes = cf.CHANGES + (cf.Change("kube-apiserver", "profiling", (1, 29), "removed", "test: pretend removal"),)
    monkeypatch.setattr(cf, "CHANGES", changes)
    rule = "apiserver-profiling"  # CIS 1.2.15: --profiling=false
    root = _node_at(tmp_path / "a", "cp2", "1.29.4")
    outcome = _audit(root, ["kube-apiserver"], check=False, rule_ids=["1.2.15"])
    result = next(r for r in outcome["results"] if r["id"] == rule)
    assert result["status"] == "error", result
    assert "the kube-apiserver would not start: --profiling is not a flag this kube-apiserver 1.29.4 accepts" in result["message"]
    assert not outcome["changed"]
    monkeypatch.setattr(cf, "CHANGES", changes[:-1])
    again = _audit(_node_at(tmp_path / "b", "cp2", "1.29.4"), ["kube-apiserver"], check=False, rule_ids=["1.2.15"])
    assert next(r for r in again["results"] if r["id"] == rule)["status"] == "fixed"
