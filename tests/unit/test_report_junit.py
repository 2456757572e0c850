"""JUnit XML: one test case per host and rule, valid against the JUnit schema CI servers read."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET

import pytest
import xmlschema
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _report_junit as junit
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _report_model as model
from test_report_model import RUN, expected_score, fleet, inputs
from test_report_samples import by_id, result, worker

XSD = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "junit", "junit.xsd")


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(XSD)


def test_valid_against_the_junit_schema(schema: xmlschema.XMLSchema) -> None:
    schema.validate(junit.render(fleet()).decode("utf-8"))


def test_schema_is_strict_enough_to_catch_mistakes(schema: xmlschema.XMLSchema) -> None:
    good = junit.render(fleet()).decode("utf-8")
    bad = re.sub(r'tests="[0-9]+"', 'tests="four"', good, count=1)
    assert bad != good
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        schema.validate(bad)
    two_outcomes = '<testsuite name="x" tests="1"><testcase name="a" classname="b"><failure/><skipped/></testcase></testsuite>'
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        schema.validate(two_outcomes)


def test_one_case_per_host_and_rule_with_counts() -> None:
    def outcomes(results: list) -> tuple:
        statuses = [r["status"] for r in results]
        return (str(len(statuses)), str(statuses.count("fail") + statuses.count("would_fix")), str(statuses.count("error")),
                str(sum(statuses.count(s) for s in ("manual", "waived", "not_applicable", "skipped"))))

    given = inputs()
    root = ET.fromstring(junit.render(fleet()))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == outcomes(
        [r for results in given.values() for r in results])
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert list(suites) == ["cp1", "node1", "cluster"]
    for name, suite in suites.items():
        assert len(suite.findall("testcase")) == len(given[name])
        assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == outcomes(given[name])
    props = {p.get("name"): p.get("value") for p in suites["cp1"].find("properties")}
    assert props["layout"] == "kubeadm" and props["kubernetes_version"] == "1.28.7"
    assert props["score"] == str(expected_score(given["cp1"]))


def test_failure_carries_actual_expected_and_fix() -> None:
    # worker1's /etc/default/kubelet sets --read-only-port=10255 over a good config file
    port = by_id(worker(), "kubelet-read-only-port")
    root = ET.fromstring(junit.render(fleet()))
    (case,) = [c for c in root.findall("testsuite[@name='node1']/testcase") if " kubelet-read-only-port: " in c.get("name")]
    assert case.get("name") == "4.2.4 kubelet-read-only-port: " + port["title"]
    assert case.get("classname") == "node1.kubelet"
    failure = case.find("failure")
    assert failure.get("type") == "would_fix"
    assert "actual 10255, expected 0" in failure.get("message")
    assert "Fix: " + port["remediation"] in failure.get("message")
    assert "source: --read-only-port at /etc/default/kubelet:1" in failure.text


@pytest.mark.parametrize(
    "status, element",
    [("pass", None), ("fixed", None), ("fail", "failure"), ("would_fix", "failure"), ("error", "error"),
     ("manual", "skipped"), ("waived", "skipped"), ("not_applicable", "skipped"), ("skipped", "skipped")],
)
def test_status_to_outcome(status: str, element: object) -> None:
    hosts = [model.build_host("h.example.com", [result("kubelet-read-only-port", status, message="why")])]
    case = ET.fromstring(junit.render(model.build_report(hosts, RUN))).find("testsuite/testcase")
    outcomes = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
    assert outcomes == ([element] if element else [])
    assert case.get("classname") == "h_example_com.kubelet"


def test_control_characters_do_not_break_the_xml(schema: xmlschema.XMLSchema) -> None:
    hosts = [model.build_host("h", [result("kubelet-read-only-port", "fail", actual="10255\x00\x1b[31m", message="<&>\"")])]
    xml = junit.render(model.build_report(hosts, RUN))
    schema.validate(xml.decode("utf-8"))
    failure = ET.fromstring(xml).find(".//failure")
    assert "10255\ufffd\ufffd[31m" in failure.get("message")
    assert 'message: <&>"' in failure.text
