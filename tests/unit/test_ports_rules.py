"""Ports rules evaluated on captured listings (tests/fixtures/proc) and probe outcomes."""

from __future__ import annotations

import datetime
import os

import pytest

from ansible_collections.kubefort.hardening.plugins.module_utils import _sockets
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _catalog, _ports_evaluate
from ansible_collections.kubefort.hardening.plugins.module_utils._rule import STATUSES

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "proc")
RESULT_KEYS = {"id", "cis", "references", "title", "component", "section", "severity", "level", "status", "actual",
               "expected", "source", "remediation", "automated", "message", "waiver", "changed_files"}


def listing(layout: str) -> dict:
    return _sockets.listening_sockets(os.path.join(FIXTURES, layout))


def statuses(results: list) -> dict:
    return {r["id"]: r["status"] for r in results}


def probe_run(prober: str, **denied_by_name) -> dict:
    probes = []
    for name, outcome in denied_by_name.items():
        name = name.replace("_", "-")
        kind, status = outcome if isinstance(outcome, tuple) else (outcome, None)
        denied = {"refused": True, "timeout": True, "error": None}.get(kind, status in (401, 403))
        probes.append({"name": name, "url": "https://node:1/x", "outcome": kind, "status": status, "denied": denied,
                       "message": "HTTP %s" % status if status else kind})
    return {"prober": prober, "probes": probes}


# layout -> the status every listener rule gets
@pytest.mark.parametrize(
    "layout, expected",
    [
        ("kubeadm-control-plane", {
            "ports-kubelet-readonly-closed": "fail",
            "ports-cadvisor-closed": "pass",
            "ports-controller-manager-loopback": "pass",
            "ports-scheduler-loopback": "pass",
            "ports-kube-proxy-healthz-binding": "fail",  # kube-proxy's default 0.0.0.0:10256
            "ports-kube-proxy-metrics-binding": "pass",
            "ports-felix-health-loopback": "pass",
            "ports-no-any-address": "pass",  # 6443 and 10250 are allowed by default; sshd is not Kubernetes
        }),
        ("hardened-worker", {
            "ports-kubelet-readonly-closed": "pass",
            "ports-cadvisor-closed": "pass",
            "ports-controller-manager-loopback": "not_applicable",
            "ports-scheduler-loopback": "not_applicable",
            "ports-kube-proxy-healthz-binding": "pass",
            "ports-kube-proxy-metrics-binding": "pass",
            "ports-felix-health-loopback": "pass",
            "ports-no-any-address": "pass",
        }),
        ("legacy-node", {
            "ports-kubelet-readonly-closed": "fail",
            "ports-cadvisor-closed": "fail",
            "ports-controller-manager-loopback": "fail",
            "ports-scheduler-loopback": "fail",
            "ports-kube-proxy-healthz-binding": "not_applicable",
            "ports-kube-proxy-metrics-binding": "not_applicable",
            "ports-felix-health-loopback": "fail",
            "ports-no-any-address": "pass",
        }),
    ],
)
def test_listener_rules(layout, expected):
    results = _ports_evaluate.evaluate(listing(layout), None)
    got = statuses(results)
    assert {k: got[k] for k in expected} == expected
    for probe_rule in ("ports-kubelet-readonly-anonymous", "ports-kubelet-api-anonymous", "ports-apiserver-anonymous"):
        assert got[probe_rule] == "skipped"


def test_failure_names_the_listener_and_source():
    result = {r["id"]: r for r in _ports_evaluate.evaluate(listing("kubeadm-control-plane"), None)}
    readonly = result["ports-kubelet-readonly-closed"]
    assert readonly["actual"] == "listening on [::]:10255 (kubelet, pid 1010)"
    assert readonly["source"] == "/proc/net/tcp6"
    assert readonly["expected"] == "not listening"
    assert "readOnlyPort: 0" in readonly["remediation"]
    assert result["ports-kube-proxy-healthz-binding"]["actual"] == "[::]:10256 (kube-proxy, pid 3030) [any]"


def test_no_any_address_without_allow_list():
    results = _ports_evaluate.evaluate(listing("kubeadm-control-plane"), None, {"allow_any_address": []})
    no_any = {r["id"]: r for r in results}["ports-no-any-address"]
    assert no_any["status"] == "fail"
    # ports with their own rule (10255, 10256) are reported there, not twice
    assert no_any["actual"] == "on all addresses: [::]:6443 (kube-apiserver, pid 2010), [::]:10250 (kubelet, pid 1010)"


def test_allow_by_component_name():
    results = _ports_evaluate.evaluate(listing("kubeadm-control-plane"), None,
                                       {"allow_any_address": ["kube-apiserver", 10250]})
    assert statuses(results)["ports-no-any-address"] == "pass"


def test_configured_scopes_change_the_verdict():
    results = _ports_evaluate.evaluate(listing("kubeadm-control-plane"), None,
                                       {"kube_proxy_healthz_scopes": ["loopback", "node", "any"],
                                        "kube_proxy_metrics_scopes": ["node"]})
    got = statuses(results)
    assert got["ports-kube-proxy-healthz-binding"] == "pass"
    assert got["ports-kube-proxy-metrics-binding"] == "fail"


def test_bad_scope_option():
    with pytest.raises(_ports_evaluate.PortsOptionsError, match="loopback, node, any"):
        _ports_evaluate.evaluate(listing("hardened-worker"), None, {"kube_proxy_healthz_scopes": ["public"]})


@pytest.mark.parametrize(
    "runs, expected",
    [
        ([probe_run("node", kubelet_readonly="refused", kubelet_api=("http", 401), kube_apiserver=("http", 403))],
         {"ports-kubelet-readonly-anonymous": "pass", "ports-kubelet-api-anonymous": "pass",
          "ports-apiserver-anonymous": "pass"}),
        ([probe_run("node", kubelet_readonly=("http", 200), kubelet_api=("http", 200), kube_apiserver="refused")],
         {"ports-kubelet-readonly-anonymous": "fail", "ports-kubelet-api-anonymous": "fail",
          "ports-apiserver-anonymous": "pass"}),
        # refused from the node itself, but answered across the network: fail
        ([probe_run("node", kubelet_readonly="refused"), probe_run("controller", kubelet_readonly=("http", 200))],
         {"ports-kubelet-readonly-anonymous": "fail", "ports-kubelet-api-anonymous": "skipped"}),
        ([probe_run("node", kubelet_api="error")], {"ports-kubelet-api-anonymous": "error"}),
    ],
)
def test_probe_rules(runs, expected):
    got = statuses(_ports_evaluate.evaluate(listing("hardened-worker"), runs))
    assert {k: got[k] for k in expected} == expected


def test_probe_result_says_what_each_prober_got():
    runs = [probe_run("node", kubelet_readonly="refused"), probe_run("controller", kubelet_readonly=("http", 200))]
    result = {r["id"]: r for r in _ports_evaluate.evaluate(listing("hardened-worker"), runs)}
    assert result["ports-kubelet-readonly-anonymous"]["actual"] == "from node: refused; from controller: HTTP 200"


def test_offline_everything_not_applicable():
    results = _ports_evaluate.evaluate(None, None, offline_reason="offline node (root /mnt/image)")
    assert {r["status"] for r in results} == {"not_applicable"}
    assert all(r["message"] == "offline node (root /mnt/image)" for r in results)


def test_skip_and_waivers():
    today = datetime.date(2026, 6, 1)
    results = _ports_evaluate.evaluate(listing("legacy-node"), None, {
        "skip": ["ports-felix-health-loopback"],
        "waivers": [{"id": "ports-cadvisor-closed", "reason": "legacy node, replaced in Q3", "expires": "2026-09-30"},
                    {"id": "ports-scheduler-loopback", "reason": "old", "expires": "2026-01-01"}],
    }, today=today)
    by_id = {r["id"]: r for r in results}
    assert by_id["ports-felix-health-loopback"]["status"] == "skipped"
    assert by_id["ports-cadvisor-closed"]["status"] == "waived"
    assert by_id["ports-cadvisor-closed"]["waiver"] == {"id": "ports-cadvisor-closed", "reason": "legacy node, replaced in Q3",
                                                        "expires": "2026-09-30"}
    assert by_id["ports-scheduler-loopback"]["status"] == "fail"
    assert "waiver expired" in by_id["ports-scheduler-loopback"]["message"]


def test_every_result_is_in_the_report_model():
    for layout in ("kubeadm-control-plane", "hardened-worker", "legacy-node"):
        for result in _ports_evaluate.evaluate(listing(layout), [probe_run("node", kubelet_api="refused")]):
            assert set(result) == RESULT_KEYS
            assert result["status"] in STATUSES
            assert result["component"] == "ports"


def test_catalog_holds_the_ports_rules():
    ids = [r.id for r in _catalog.PORTS_RULES]
    assert len(ids) == len(set(ids)) == 11
    assert all(rid.startswith("ports-") for rid in ids)
    assert all(_catalog.BY_ID[rule.id] is rule for rule in _catalog.PORTS_RULES)
    assert {r.check.label() for r in _catalog.PORTS_RULES} == {"closed", "scope", "probe", "no_any"}
    # CIS checks of settings belong to the node and control-plane areas; ours carry only related IDs
    assert all(r.cis is None for r in _catalog.PORTS_RULES)


def test_only_selected_rules():
    results = _ports_evaluate.evaluate(listing("legacy-node"), None, {"rules": ["ports-cadvisor-closed", "4.2.4"]})
    assert [r["id"] for r in results] == ["ports-cadvisor-closed"]


@pytest.mark.parametrize(
    "waiver, message",
    [({"id": "ports-cadvisor-closed"}, "needs an id and a reason"),
     ({"id": "ports-cadvisor-closed", "reason": "x", "expires": "next year"}, "use YYYY-MM-DD")],
)
def test_bad_waivers(waiver, message):
    with pytest.raises(_ports_evaluate.PortsOptionsError, match=message):
        _ports_evaluate.evaluate(listing("legacy-node"), None, {"waivers": [waiver]})


def test_related_rules_exist_in_the_catalog():
    # the config rules that fix what these live checks find (node and control-plane areas)
    related = {rid for r in _catalog.PORTS_RULES for rid in r.related_rules}
    assert related and related <= set(_catalog.BY_ID)
    for rule in _catalog.PORTS_RULES:
        for cis in rule.related_cis:
            assert any(r.cis == cis for r in _catalog.ALL_RULES), (rule.id, cis)
