"""CIS Kubernetes Benchmark v1.12 and v2.0: IDs of both on every result, the benchmark chosen per host by
its version as kube-bench maps versions, and every report naming the benchmark of each host."""

from __future__ import annotations

import json
import os
import typing as t
import xml.etree.ElementTree as ET

import pytest
from kubefort_testlib import call_module_factory

from ansible_collections.kubefort.hardening.plugins.module_utils import _benchmark
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _catalog
from ansible_collections.kubefort.hardening.plugins.module_utils._rule import make_result
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _report_files, _report_model, _report_text
from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options
from ansible_collections.kubefort.hardening.plugins.plugin_utils._harden import run, select_rules


def test_every_rule_with_a_cis_id_carries_both_references() -> None:
    for rule in _catalog.ALL_RULES:
        result = make_result(rule, "pass")
        if rule.cis:
            # kube-bench's cfg/cis-2.0 keeps every cis-1.12 ID (aquasecurity/kube-bench#2126).
            assert result["references"] == {"cis-1.12": rule.cis, "cis-2.0": rule.cis}, rule.id
        else:
            assert result["references"] == {}, rule.id


def test_a_renumbered_or_removed_id_would_show_in_the_references(monkeypatch: t.Any) -> None:
    monkeypatch.setattr(_benchmark, "RENUMBERED", {"1.2.3": "1.2.31", "1.2.9": None})
    assert _benchmark.references("1.2.3") == {"cis-1.12": "1.2.3", "cis-2.0": "1.2.31"}
    assert _benchmark.references("1.2.9") == {"cis-1.12": "1.2.9"}


@pytest.mark.parametrize("version,benchmark,why", [
    ("1.32.0", "cis-1.12", "Kubernetes 1.32.0 maps to cis-1.12"),
    ("1.33.4", "cis-1.12", "Kubernetes 1.33.4 maps to cis-1.12"),
    ("1.34.1", "cis-2.0", "Kubernetes 1.34.1 maps to cis-2.0"),
    ("1.35.0", "cis-2.0", "Kubernetes 1.35.0 maps to cis-2.0"),
    # not in the table: kube-bench steps the minor version down until one is
    ("1.36.2", "cis-2.0", "Kubernetes 1.36.2 maps to cis-2.0 (the newest mapped release below 1.36)"),
    ("1.28.7", "cis-1.12", "Kubernetes 1.28.7 is older than every benchmark kubefort carries"),
    ("v1.34.1+k3s1", "cis-2.0", "maps to cis-2.0"),
    (None, "cis-1.12", "Kubernetes version unknown: cis-1.12"),
])
def test_auto_selection_by_version(version: t.Optional[str], benchmark: str, why: str) -> None:
    chosen, reason = _benchmark.select("auto", version)
    assert chosen == benchmark
    assert why in reason


@pytest.mark.parametrize("setting", ["cis-1.12", "cis-2.0"])
def test_explicit_setting_wins_over_the_version(setting: str) -> None:
    assert _benchmark.select(setting, "1.34.1") == (setting, "set by kubefort_benchmark")
    assert _benchmark.select(setting, None) == (setting, "set by kubefort_benchmark")


def test_unknown_setting_is_one_clear_line() -> None:
    with pytest.raises(ValueError, match="kubefort_benchmark must be one of auto, cis-1.12, cis-2.0, not 'cis-9'"):
        _benchmark.select("cis-9", "1.34.1")


def _host(name: str, version: t.Optional[str], roles: t.List[str], setting: str = "auto") -> t.Dict[str, t.Any]:
    benchmark, reason = _benchmark.select(setting, version)
    info = {"layout": "kubeadm", "kubernetes_version": version, "version_source": "test source" if version else "unknown: nothing found",
            "benchmark": benchmark, "benchmark_reason": reason, "roles": roles, "root": "/", "mode": "check",
            "component_versions": {"kubelet": {"version": version, "source": "test source"}},
            "version_dependent_rules": [] if version else ["apiserver-anonymous-auth"]}
    results = [make_result(_catalog.BY_ID["kubelet-read-only-port"], "fail", actual="10255"),
               make_result(_catalog.BY_ID["apiserver-profiling"], "pass", actual="false")]
    return _report_model.build_host(name, results, info)


def _report(setting: str = "auto") -> t.Dict[str, t.Any]:
    hosts = [_host("cp-old", "1.33.4", ["control_plane"]), _host("cp-new", "1.35.0", ["control_plane"]),
             _host("lost", None, ["node"])]
    hosts.append(_report_model.build_host(_report_model.CLUSTER_HOST, [], {"roles": ["cluster"]}, kind="cluster"))
    return _report_model.build_report(hosts, {"benchmark": setting, "mode": "check"})


def test_each_host_keeps_its_own_benchmark_and_the_cluster_says_why() -> None:
    report = _report()
    by_name = {h["name"]: h for h in report["hosts"]}
    assert [by_name[n]["benchmark"] for n in ("cp-old", "cp-new", "lost")] == ["cis-1.12", "cis-2.0", "cis-1.12"]
    assert by_name["cluster"]["benchmark"] == "cis-1.12"
    assert by_name["cluster"]["benchmark_reason"].startswith("control-plane hosts run different versions (1.33.4, 1.35.0)")
    assert report["run"]["benchmark"] == "auto" and report["run"]["benchmarks"] == ["cis-1.12", "cis-2.0"]


def test_explicit_report_setting_applies_to_every_host() -> None:
    report = _report("cis-2.0")
    assert {h["benchmark"] for h in report["hosts"]} == {"cis-2.0"}
    assert {h["benchmark_reason"] for h in report["hosts"]} == {"set by kubefort_benchmark"}


def test_every_output_names_the_benchmark_per_host() -> None:
    report = _report()
    files = _report_files.render_all(report)
    data = json.loads(files["report.json"])
    assert {h["name"]: h["benchmark"] for h in data["hosts"]}["cp-new"] == "cis-2.0"
    markdown = files["report.md"].decode()
    assert "| cp-new | 1.35.0 | test source | cis-2.0 | Kubernetes 1.35.0 maps to cis-2.0 |" in markdown
    assert "| lost | unknown | unknown: nothing found | cis-1.12 | Kubernetes version unknown: cis-1.12" in markdown
    assert "rules that depend on the version: apiserver-anonymous-auth |" in markdown
    html = files["report.html"].decode()
    assert 'class="sub benchmark" title="cis-2.0: Kubernetes 1.35.0 maps to cis-2.0">benchmark cis-2.0</div>' in html
    suites = {s.get("name"): s for s in ET.fromstring(files["report.xml"]).iter("testsuite")}
    props = {p.get("name"): p.get("value") for p in suites["cp-old"].iter("property")}
    assert props["benchmark"] == "cis-1.12" and props["version_source"] == "test source"
    lines = _report_text.summary_lines(report)
    assert lines[0].startswith("kubefort cis-1.12+cis-2.0 report: 4 hosts")
    assert any(line.startswith("  cp-new ") and line.endswith("[cis-2.0, Kubernetes 1.35.0]") for line in lines)
    assert any(line.startswith("  lost ") and line.endswith("[cis-1.12, Kubernetes unknown]") for line in lines)


def test_kube_bench_json_uses_the_ids_of_the_host_benchmark(monkeypatch: t.Any) -> None:
    # With a renumbered ID the kube-bench file of a cis-2.0 host carries the cis-2.0 number.
    monkeypatch.setattr(_benchmark, "RENUMBERED", {"4.2.4": "4.2.40"})
    files = _report_files.render_all(_report(), ["kube_bench"])
    docs = {name.rsplit("/", 1)[-1].split(".", 1)[0]: json.loads(content) for name, content in files.items()}
    numbers = {}
    for host, doc in docs.items():
        versions = {c["version"] for c in doc["Controls"]}
        numbers[host] = ({r["test_number"] for c in doc["Controls"] for g in c["tests"] for r in g["results"]}, versions)
    assert numbers["cp-new"] == ({"4.2.40", "1.2.15"}, {"cis-2.0"})
    assert numbers["cp-old"] == ({"4.2.4", "1.2.15"}, {"cis-1.12"})
    assert {c["detected_version"] for c in docs["cp-new"]["Controls"]} == {"1.35.0"}


@pytest.mark.parametrize("fixture,version,benchmark", [
    ("kubeadm-1.30", "1.30.14", "cis-1.12"),
    ("kubeadm-1.32", "1.32.9", "cis-1.12"),
    ("kubeadm-1.34", "1.34.2", "cis-2.0"),
    ("kubeadm-1.35", "1.35.0", "cis-2.0"),
])
def test_kubeadm_control_planes_get_the_benchmark_of_their_version(fixture: str, version: str, benchmark: str) -> None:
    root = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "nodes", fixture)
    out = run(call_module_factory(check=True), root, select_rules(["kube-apiserver"], [], []), Options(), True, "/b", False)
    host = out["host"]
    assert (host["kubernetes_version"], host["benchmark"]) == (version, benchmark)
    assert host["version_source"] == ("kube-apiserver: image registry.k8s.io/kube-apiserver:v%s in "
                                      "/etc/kubernetes/manifests/kube-apiserver.yaml" % version)
    assert all(r["references"] == {"cis-1.12": r["cis"], "cis-2.0": r["cis"]} for r in out["results"] if r["cis"])
