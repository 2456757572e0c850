"""Fixes that need more than one flag: operator-supplied files, host mounts, multi-file attributes.

The findings come from the catalog's evaluation of the real kubeadm API server manifest of demo node cp1;
the planner then turns them into file texts, which must still be valid Pods.
"""

from __future__ import annotations

import os

import pytest
import yaml

from ansible_collections.kubefort.hardening.plugins.module_utils._flags import parse_args
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _catalog
from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import Component, Node
from ansible_collections.kubefort.hardening.plugins.plugin_utils._edits import Planner
from ansible_collections.kubefort.hardening.plugins.plugin_utils._edits_extra import (
    ExtraEditError,
    plan_extra,
    set_top_level_list,
)
from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options, evaluate
from ansible_collections.kubefort.hardening.plugins.plugin_utils._manifests import load_manifest, manifest_flags

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PATH = "/etc/kubernetes/manifests/kube-apiserver.yaml"
POLICY = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n"
ADMISSION = ("apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: EventRateLimit\n"
             "  path: /etc/kubernetes/kubefort/event-rate-limit.yaml\n")


def cp1(mode: str = "0600") -> Node:
    with open(os.path.join(REPO, "demo", "nodes", "cp1", PATH.lstrip("/"))) as handle:
        text = handle.read()
    manifest, name = load_manifest(PATH, text)
    comp = Component(name=name, present=True, version="1.28.7", manifest=manifest)
    comp.disk_flags = manifest_flags(name, manifest)
    files = {
        PATH: {"type": "file", "mode": mode, "uid": 0, "gid": 0, "owner": "root", "group": "root", "content": text},
        "/etc/kubernetes/manifests": {"type": "dir", "mode": "0777", "uid": 0, "gid": 0, "owner": "root", "group": "root"},
        "/etc/kubernetes": {"type": "dir", "mode": "0755", "uid": 0, "gid": 0, "owner": "root", "group": "root"},
    }
    return Node(root="/", live=False, layout="kubeadm", components={name: comp}, files=files,
                static_pod_path="/etc/kubernetes/manifests")


def plan(rule_ids, mode="0600", **options):
    node = cp1(mode)
    findings = evaluate(node, [_catalog.BY_ID[r] for r in rule_ids], Options(**options))
    planner = Planner(node)
    planner.plan(findings)
    plan_extra(planner, findings)
    planner._validate()
    return planner


def container(planner):
    data = yaml.safe_load(planner.edits[PATH].after)
    return data, data["spec"]["containers"][0]


def test_supplied_audit_policy_is_written_flagged_and_mounted():
    planner = plan(["apiserver-audit-policy"], supplied={"audit_policy": POLICY})
    policy = planner.edits["/etc/kubernetes/kubefort/audit-policy.yaml"]
    assert (policy.after, policy.mode, policy.create_parents, policy.before) == (POLICY, "0600", True, None)
    data, main = container(planner)
    assert "--audit-policy-file=/etc/kubernetes/kubefort/audit-policy.yaml" in main["command"]
    assert {"mountPath": "/etc/kubernetes/kubefort", "name": "kubefort-config", "readOnly": True} in main["volumeMounts"]
    assert {"hostPath": {"path": "/etc/kubernetes/kubefort", "type": "DirectoryOrCreate"}, "name": "kubefort-config"} in data["spec"]["volumes"]
    assert planner.errors == {}


def test_audit_log_path_gets_a_writable_host_mount():
    planner = plan(["apiserver-audit-log-path", "apiserver-audit-log-maxage"])
    data, main = container(planner)
    assert "--audit-log-path=/var/log/kubernetes/audit/audit.log" in main["command"]
    assert "--audit-log-maxage=30" in main["command"]
    assert {"mountPath": "/var/log/kubernetes/audit", "name": "kubefort-audit-log-path"} in main["volumeMounts"]
    assert planner.edits[PATH].rules == ["apiserver-audit-log-maxage", "apiserver-audit-log-path"] or \
        sorted(planner.edits[PATH].rules) == ["apiserver-audit-log-maxage", "apiserver-audit-log-path"]


def test_event_rate_limit_and_node_restriction_both_end_up_in_the_plugin_list():
    planner = plan(["apiserver-node-restriction-plugin", "apiserver-always-pull-images", "apiserver-event-rate-limit"],
                   supplied={"admission_config": ADMISSION})
    _data, main = container(planner)
    plugins = [w for w in main["command"] if w.startswith("--enable-admission-plugins=")]
    assert plugins == ["--enable-admission-plugins=NodeRestriction,EventRateLimit"]
    assert "--admission-control-config-file=/etc/kubernetes/kubefort/admission-config.yaml" in main["command"]


def test_supplied_content_that_is_not_yaml_is_refused_and_not_written():
    # (an audit policy is judged before planning: tests/unit/test_audit_log_results.py)
    planner = plan(["apiserver-event-rate-limit"], supplied={"admission_config": "plugins: [\n"})
    assert "apiserver-event-rate-limit" in planner.errors
    assert "/etc/kubernetes/kubefort/admission-config.yaml" not in planner.edits


def test_parent_directory_fix_is_planned_with_the_file_rule():
    planner = plan(["apiserver-manifest-permissions"], mode="0644")
    assert planner.edits[PATH].mode == "0600"
    assert planner.edits["/etc/kubernetes/manifests"].mode == "0755"
    assert planner.edits["/etc/kubernetes/manifests"].rules == ["apiserver-manifest-permissions"]


def test_cipher_fix_through_the_planner_writes_the_whole_list():
    planner = plan(["apiserver-tls-cipher-suites"])
    _data, main = container(planner)
    words = [w for w in main["command"] if w.startswith("--tls-cipher-suites=")]
    assert len(words) == 1 and "TLS_RSA" not in words[0] and words[0].count(",") == 10


KUBELET = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n# keep me\nreadOnlyPort: 0\n"


@pytest.mark.parametrize("before, after", [
    (KUBELET, KUBELET + "tlsCipherSuites:\n- A\n- B\n"),
    ("kind: KubeletConfiguration\ntlsCipherSuites:\n- X\n- Y  # weak\nreadOnlyPort: 0\n",
     "kind: KubeletConfiguration\ntlsCipherSuites:\n- A\n- B\nreadOnlyPort: 0\n"),
    ("kind: KubeletConfiguration\ntlsCipherSuites: [X, Y]\nreadOnlyPort: 0\n",
     "kind: KubeletConfiguration\ntlsCipherSuites:\n- A\n- B\nreadOnlyPort: 0\n"),
    ("kind: KubeletConfiguration\ntlsCipherSuites:\n  - X\n  - Y", "kind: KubeletConfiguration\ntlsCipherSuites:\n- A\n- B\n"),
])
def test_top_level_list_is_set_keeping_everything_else(before, after):
    assert set_top_level_list(before, "tlsCipherSuites", ["A", "B"], "config.yaml") == after


def test_top_level_list_refuses_an_indented_document():
    with pytest.raises(ExtraEditError):
        set_top_level_list("  kind: KubeletConfiguration\n  tlsCipherSuites: [X]\n", "tlsCipherSuites", ["A"], "config.yaml")


def test_kubelet_cipher_fix_is_written_into_the_config_file():
    text = KUBELET
    comp = Component(name="kubelet", present=True, kind="systemd", version="1.30.2",
                     config_path="/var/lib/kubelet/config.yaml", config=yaml.safe_load(text))
    comp.disk_flags = parse_args("kubelet", ["--config=/var/lib/kubelet/config.yaml"])
    node = Node(root="/", live=False, layout="kubeadm", components={"kubelet": comp},
                files={"/var/lib/kubelet/config.yaml": {"type": "file", "mode": "0600", "uid": 0, "gid": 0, "content": text}},
                static_pod_path="/etc/kubernetes/manifests")
    findings = evaluate(node, [_catalog.BY_ID["kubelet-tls-cipher-suites"]], Options())
    planner = Planner(node)
    planner.plan(findings)
    plan_extra(planner, findings)
    after = planner.edits["/var/lib/kubelet/config.yaml"].after
    assert after.startswith(KUBELET) and yaml.safe_load(after)["tlsCipherSuites"][0] == "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
