"""Sample results for the report tests: what the engines give on real fixtures, recorded as the actions do.

Imported by the other test_report_* files (and by tests/integration/test_report_outputs.py).

- ``control_plane(state)``: the demo control plane cp1 (a kubeadm 1.28 tree with authorization wide open and
  a readable API server manifest), audited by the control_plane and node roles (``_harden.run`` with
  node_facts and node_files in-process) and its ports as listed on a live kubeadm control plane
  (``tests/fixtures/proc/kubeadm-control-plane``, node_facts and the ports engine, probes off);
  ``state`` is ``check`` (would_fix), ``apply`` (fixed) or ``hardened`` (applied, then audited again).
- ``worker(state)``: the demo worker1 (flags in /etc/default/kubelet override a good config file), node
  role, with a waiver on the cAdvisor port.
- ``broken_worker()``: the demo worker3 with a kubelet config file that does not parse (every kubelet rule
  ``error``).
- ``cluster()``: the cluster rules on the saved dump of an insecure kubeadm cluster
  (``tests/fixtures/cluster/kubeadm-insecure.json``), through the cluster_policy module.
- ``HOST_INFO``: each node's ``kubefort_host`` fact as the actions record it (``_host_state.record``).

Together they hold every status: pass, fail, would_fix, fixed, error, manual, waived, not_applicable,
skipped. Run by another user than root, the copies are that user's, not root's as installers leave them, and
kubefort cannot chown them to root: the ownership rules are left out then (the report tests derive what they
expect from the samples). ``result()`` builds one result by hand, only for what no fixture holds: hostile text (markup,
control characters) to test escaping, and one rule in each status in isolation to test a mapping.
"""

from __future__ import annotations

import copy
import datetime
import functools
import os
import shutil
import tempfile
import typing as t

from ansible_collections.kubefort.hardening.plugins.plugin_utils import _catalog, _ports_evaluate
from ansible_collections.kubefort.hardening.plugins.module_utils._rule import STATUSES, make_result
from ansible_collections.kubefort.hardening.plugins.modules import cluster_policy, node_facts
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _harden, _host_state
from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options
from kubefort_testlib import REPO, call_module_factory, demo_node, run_module

TODAY = datetime.date(2026, 12, 1)
CONTROL_PLANE = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"]
NODE = ["kubelet", "kube-proxy"]
WAIVER = {"id": "kubelet-cadvisor-port", "reason": "legacy monitoring until Q3", "expires": "2027-01-01"}
NOT_ROOTS = [] if os.geteuid() == 0 else [r.id for r in _catalog.ALL_RULES if r.operator == "owner"]
CAPTURE = os.path.join(REPO, "tests", "fixtures", "proc", "kubeadm-control-plane")
CLUSTER_DUMP = os.path.join(REPO, "tests", "fixtures", "cluster", "kubeadm-insecure.json")


def _node_roles(name: str, roles: t.Sequence[t.Tuple[str, t.Sequence[str]]], steps: t.Sequence[bool],
                options: t.Mapping[str, t.Any], breaker: t.Optional[t.Callable[[str], None]] = None) -> t.Dict[str, t.Any]:
    """Run the roles on a fresh copy of a demo node, once per step (True: check mode); the facts of the last."""
    with tempfile.TemporaryDirectory(prefix="kubefort-samples-") as tmp:
        root = demo_node(tmp, name)
        if breaker is not None:
            breaker(root)
        facts: t.Dict[str, t.Any] = {}
        for check in steps:
            facts = {}
            for role, components in roles:
                rules = _harden.select_rules(components, [], NOT_ROOTS)
                outcome = _harden.run(call_module_factory(check=check), root, rules, Options(today=TODAY, **options), check,
                                      "/var/lib/kubefort/backups", False)
                host = dict(outcome["host"], root="/")  # as on a live node: the temporary copy's path is not kept
                facts = _host_state.record({"ansible_facts": facts}, role, outcome["results"], host, outcome["round_trips"], check)
        return facts


def _ports(facts: t.Dict[str, t.Any], check: bool) -> t.Dict[str, t.Any]:
    with tempfile.TemporaryDirectory(prefix="kubefort-samples-") as tmp:
        proc = os.path.join(tmp, "proc")
        shutil.copytree(CAPTURE, proc, symlinks=True)
        listing = run_module(node_facts, {"root": "/", "ports": {"proc_path": proc, "probe": False}})["snapshot"]["ports"]["listing"]
    results = _ports_evaluate.evaluate(listing, None, {}, today=TODAY)
    return _host_state.record({"ansible_facts": facts}, "ports", results, {"root": "/"}, 1, check)


STATES = {"check": (True,), "apply": (False,), "hardened": (False, True)}


@functools.lru_cache(maxsize=None)
def _control_plane(state: str) -> t.Dict[str, t.Any]:
    facts = _node_roles("cp1", [("control_plane", CONTROL_PLANE), ("node", NODE)], STATES[state], {})
    return _ports(facts, STATES[state][-1])


@functools.lru_cache(maxsize=None)
def _worker(state: str) -> t.Dict[str, t.Any]:
    return _node_roles("worker1", [("node", NODE)], STATES[state], {"waivers": [WAIVER]})


def _unparsable_kubelet_config(root: str) -> None:
    with open(os.path.join(root, "var/lib/kubelet/config.yaml"), "a", encoding="utf-8") as handle:
        handle.write("authentication: [unclosed\n")


@functools.lru_cache(maxsize=None)
def _broken_worker() -> t.Dict[str, t.Any]:
    return _node_roles("worker3", [("node", NODE)], (True,), {}, _unparsable_kubelet_config)


@functools.lru_cache(maxsize=None)
def _cluster() -> t.List[t.Dict[str, t.Any]]:
    args = {name: spec.get("default") for name, spec in cluster_policy.ARGUMENT_SPEC.items()}
    out = cluster_policy.run_module(dict(args, snapshot_files=[CLUSTER_DUMP]), check_mode=True)
    assert not out.get("failed"), out
    return out["results"]


def control_plane(state: str = "check") -> t.List[t.Dict[str, t.Any]]:
    return copy.deepcopy(_control_plane(state)["kubefort_results"])


def worker(state: str = "check") -> t.List[t.Dict[str, t.Any]]:
    return copy.deepcopy(_worker(state)["kubefort_results"])


def broken_worker() -> t.List[t.Dict[str, t.Any]]:
    return copy.deepcopy(_broken_worker()["kubefort_results"])


def cluster() -> t.List[t.Dict[str, t.Any]]:
    return copy.deepcopy(_cluster())


class _HostInfo(dict):
    """``kubefort_host`` of each sample node in check mode, computed on first use."""

    FACTS = {"cp1": lambda: _control_plane("check"), "node1": lambda: _worker("check"), "node2": _broken_worker}

    def __missing__(self, name: str) -> t.Dict[str, t.Any]:
        return copy.deepcopy(self.FACTS[name]()["kubefort_host"])


HOST_INFO = _HostInfo()


def by_id(results: t.Iterable[t.Mapping[str, t.Any]], rule_id: str) -> t.Dict[str, t.Any]:
    (found,) = [r for r in results if r["id"] == rule_id]
    return dict(found)


def result(rule_id: str, status: str, **kwargs: t.Any) -> t.Dict[str, t.Any]:
    """One result made by hand from a catalog rule (see the module docstring for when)."""
    return make_result(_catalog.BY_ID[rule_id], status, **kwargs)


def test_samples_hold_every_status() -> None:
    found = {r["status"] for r in control_plane() + control_plane("apply") + worker() + broken_worker() + cluster()}
    assert found == set(STATUSES)


def test_samples_are_what_the_fixtures_say() -> None:
    # cp1's API server runs with --authorization-mode=AlwaysAllow from a 0644 manifest: check mode would fix it
    auth = by_id(control_plane(), "apiserver-authorization-mode-not-alwaysallow")
    assert (auth["status"], auth["actual"], auth["severity"]) == ("would_fix", "AlwaysAllow", "critical")
    assert by_id(control_plane("apply"), "apiserver-authorization-mode-not-alwaysallow")["status"] == "fixed"
    assert by_id(control_plane("hardened"), "apiserver-authorization-mode-not-alwaysallow")["status"] == "pass"
    waived = by_id(worker(), "kubelet-cadvisor-port")
    assert waived["status"] == "waived" and (waived["waiver"]["reason"], waived["waiver"]["expires"]) == (WAIVER["reason"], WAIVER["expires"])
    # every kubelet rule of the profile (level 1) is an error; level 2 and version-gated rules do not apply
    kubelet = [r for r in broken_worker() if r["component"] == "kubelet"]
    assert {r["status"] for r in kubelet if r["level"] == 1 and r["status"] != "not_applicable"} == {"error"}
    assert all("config.yaml" in r["message"] for r in kubelet if r["status"] == "error")
    assert HOST_INFO["cp1"]["roles"] == ["control_plane", "node", "ports"] and HOST_INFO["cp1"]["mode"] == "check"
