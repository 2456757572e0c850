"""Tables: every authorizer chain, anonymous setting and encryption provider order, with the verdict each gives.

The authorizer and anonymous rows run the whole audit (check mode, in-process) on the kubeadm-1.34 fixture
with one file or flag changed, so each row shows which input gives which result. Encryption, audit policy
and EventRateLimit rows call the judges on the node's summary / the file's text.
"""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest

from ansible_collections.kubefort.hardening.plugins.module_utils import _encryption
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _apiserver_files, _authz
from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options
from ansible_collections.kubefort.hardening.plugins.plugin_utils._harden import run, select_rules
from kubefort_testlib import REPO, _demo_nodes_script, call_module_factory

FIXTURE = os.path.join(REPO, "tests", "fixtures", "nodes", "kubeadm-1.34")
CONFIG = "etc/kubernetes/apiserver-config"
MANIFEST = "etc/kubernetes/manifests/kube-apiserver.yaml"
AUTHZ = {"1.2.6": "apiserver-authorization-mode-not-alwaysallow", "1.2.7": "apiserver-authorization-mode-node",
         "1.2.8": "apiserver-authorization-mode-rbac"}


@pytest.fixture()
def root(tmp_path):
    target = os.path.join(str(tmp_path), "node")
    shutil.copytree(FIXTURE, target, symlinks=True)
    _demo_nodes_script().apply_modes(target)
    return target


def write(root, rel, text):
    with open(os.path.join(root, rel), "w") as handle:
        handle.write(text)


def edit_manifest(root, old, new):
    path = os.path.join(root, MANIFEST)
    with open(path) as handle:
        text = handle.read()
    assert old in text
    write(root, MANIFEST, text.replace(old, new))


def audit(root, rules, **options):
    selected = select_rules(["kube-apiserver"], rules, [])
    outcome = run(call_module_factory(check=True), root, selected, Options(**options), True, "/var/lib/kubefort/backups", True)
    return {r["cis"]: r for r in outcome["results"]}


def authz_text(*entries):
    lines = ["apiVersion: apiserver.config.k8s.io/v1", "kind: AuthorizationConfiguration", "authorizers:"]
    for entry in entries:
        kind, _sep, name = entry.partition(":")
        lines.append("  - type: %s" % kind)
        if name != "-":
            lines.append("    name: %s" % (name or kind.lower()))
        if kind == "Webhook":
            lines += ["    webhook:", "      timeout: 3s", "      authorizedTTL: 5m", "      unauthorizedTTL: 30s",
                      "      subjectAccessReviewVersion: v1", "      failurePolicy: Deny",
                      "      connectionInfo:", "        type: InCluster"]
    return "\n".join(lines) + "\n"


# authorizers (type[:name], name '-' for none) -> verdicts of 1.2.6, 1.2.7, 1.2.8 in check mode
AUTHZ_TABLE = [
    (("Node", "RBAC"), ("pass", "pass", "pass")),
    (("AlwaysAllow",), ("would_fix", "would_fix", "would_fix")),
    (("Node", "AlwaysAllow"), ("would_fix", "pass", "would_fix")),
    (("Node", "RBAC", "AlwaysAllow"), ("would_fix", "pass", "pass")),
    (("RBAC",), ("pass", "would_fix", "pass")),
    (("Node",), ("pass", "pass", "would_fix")),
    (("Webhook:policy",), ("pass", "would_fix", "would_fix")),
    (("Webhook:deny", "RBAC"), ("pass", "would_fix", "pass")),
    (("AlwaysDeny",), ("pass", "would_fix", "would_fix")),
    (("Node", "RBAC", "Webhook:a", "Webhook:b"), ("pass", "pass", "pass")),
    # What the API server refuses to load is an error for all three, never a pass.
    (("Node", "Node:node2"), ("error", "error", "error")),
    (("Node:Node_1", "RBAC"), ("error", "error", "error")),
    (("Node:-", "RBAC"), ("error", "error", "error")),
    (("Node:same", "RBAC:same"), ("error", "error", "error")),
    (("Magic",), ("error", "error", "error")),
]


@pytest.mark.parametrize("entries, verdicts", AUTHZ_TABLE, ids=lambda v: ",".join(v) if isinstance(v, tuple) else None)
def test_authorizer_chains(root, entries, verdicts):
    write(root, CONFIG + "/authorization-config.yaml", authz_text(*entries))
    got = audit(root, list(AUTHZ))
    assert tuple(got[c]["status"] for c in AUTHZ) == verdicts
    assert all(got[c]["source"].startswith("/%s/authorization-config.yaml" % CONFIG) for c in AUTHZ)


@pytest.mark.parametrize("text, problem", [
    (authz_text("Webhook:-").replace("  - type: Webhook\n", "  - type: Webhook\n    name: w\n"), None),
    ("apiVersion: apiserver.config.k8s.io/v1\nkind: AuthorizationConfiguration\nauthorizers:\n- type: Webhook\n  name: w\n",
     "webhook: required when type=Webhook"),
    ("apiVersion: apiserver.config.k8s.io/v1\nkind: AuthorizationConfiguration\nauthorizers:\n- type: Node\n  name: n\n"
     "  webhook: {}\n", "may only be specified when type=Webhook"),
    ("apiVersion: apiserver.config.k8s.io/v2\nkind: AuthorizationConfiguration\nauthorizers:\n- type: Node\n  name: n\n",
     "apiVersion"),
    ("apiVersion: apiserver.config.k8s.io/v1\nkind: AuthorizationConfiguration\nauthorizers: []\n", "at least one"),
    ("apiVersion: apiserver.config.k8s.io/v1alpha1\nkind: AuthorizationConfiguration\nauthorizers:\n- {type: RBAC, name: "
     + "a" * 254 + "}\n", "DNS-1123"),
])
def test_authorization_validation(text, problem):
    problems = _authz.validate(__import__("yaml").safe_load(text), "f")
    assert (problems == []) if problem is None else any(problem in p for p in problems), problems


@pytest.mark.parametrize("types, need, expected", [
    (["AlwaysAllow"], (True, True, True), ["Node", "RBAC"]),
    (["Node", "Webhook"], (False, False, True), ["Node", "RBAC", "Webhook"]),
    (["Webhook", "RBAC"], (False, True, False), ["Webhook", "Node", "RBAC"]),
    (["Webhook", "AlwaysAllow"], (True, True, True), ["Webhook", "Node", "RBAC"]),
    (["RBAC", "Webhook"], (False, True, False), ["Node", "RBAC", "Webhook"]),
    (["Webhook"], (False, True, True), ["Node", "RBAC", "Webhook"]),
    (["Node", "AlwaysAllow", "Webhook"], (True, False, True), ["Node", "RBAC", "Webhook"]),
])
def test_chain_order(types, need, expected):
    chain = _authz.wanted_chain(types, *need)
    assert [types[i] if isinstance(i, int) else i for i in chain] == expected


def test_added_names_do_not_collide():
    config = _authz.load("f.yaml", authz_text("Webhook:node", "AlwaysAllow"))
    text = _authz.edited_text(config, True, True, True)
    assert [(a.type, a.name) for a in _authz.load("f.yaml", text).authorizers] == [
        ("Webhook", "node"), ("Node", "node-2"), ("RBAC", "rbac")]


# --- anonymous (1.2.1) -----------------------------------------------------------------------------

AUTHN = "apiVersion: apiserver.config.k8s.io/v1\nkind: AuthenticationConfiguration\n"
SECTION = {
    "off": "anonymous:\n  enabled: false\n",
    "on": "anonymous:\n  enabled: true\n",
    "health": "anonymous:\n  enabled: true\n  conditions:\n  - path: /livez\n  - path: /readyz\n  - path: /healthz\n",
    "livez": "anonymous:\n  enabled: true\n  conditions:\n  - path: /livez\n",
    "api": "anonymous:\n  enabled: true\n  conditions:\n  - path: /livez\n  - path: /api\n",
    "off+conditions": "anonymous:\n  enabled: false\n  conditions:\n  - path: /livez\n",
    "none": "",
}
AUTHN_FLAG = "    - --authentication-config=/etc/kubernetes/apiserver-config/authentication-config.yaml\n"
TCP = ("      tcpSocket:\n        host: 192.0.2.10\n        port: 6443\n")


@pytest.mark.parametrize("version, section, flag, probes, options, status, words", [
    # The file's anonymous section decides, whatever the probes and the version.
    ("v1.34.2", "off", None, "http", {}, "pass", "disabled"),
    ("v1.34.2", "health", None, "http", {}, "pass", "/livez,/readyz,/healthz"),
    ("v1.34.2", "livez", None, "http", {}, "pass", "/livez"),
    ("v1.34.2", "on", None, "http", {}, "would_fix", "limits anonymous.conditions"),
    ("v1.34.2", "api", None, "http", {}, "would_fix", "limits anonymous.conditions"),
    ("v1.32.9", "on", None, "tcp", {}, "would_fix", "limits anonymous.conditions"),
    ("v1.34.2", "off+conditions", None, "http", {}, "error", "refuses"),
    ("v1.34.2", "on", "--anonymous-auth=false", "http", {}, "error", "refuses to start with both"),
    # No anonymous section: the flag decides; the file gets a section on >= 1.32.
    ("v1.34.2", "none", None, "http", {}, "would_fix", "adds an anonymous section"),
    ("v1.34.2", "none", "--anonymous-auth=false", "http", {}, "pass", ""),
    ("v1.31.9", "none", None, "http", {}, "manual", "would make the kubelet's anonymous"),
    # No --authentication-config at all.
    (None, None, None, "http", {}, "would_fix", ""),  # 1.34: kubefort's own AuthenticationConfiguration
    ("v1.30.14", None, None, "http", {}, "manual", "kubefort_apiserver_probes_tcp"),
    ("latest", None, None, "http", {}, "manual", "of unknown version"),
    ("v1.30.14", None, None, "http", {"apiserver_probes_tcp": True}, "would_fix", "tcpSocket"),
    ("v1.30.14", None, None, "http", {"apiserver_anonymous_force": True}, "would_fix", "forced"),
    ("v1.30.14", None, None, "tcp", {}, "would_fix", "no HTTP probe"),
    ("latest", None, None, "tcp", {}, "would_fix", "no HTTP probe"),
    ("v1.30.14", None, "--anonymous-auth=false", "http", {}, "pass", ""),
])
def test_anonymous_settings(root, version, section, flag, probes, options, status, words):
    if version:
        edit_manifest(root, "kube-apiserver:v1.34.2", "kube-apiserver:%s" % version)
    if section is None:
        edit_manifest(root, AUTHN_FLAG, "")
    else:
        write(root, CONFIG + "/authentication-config.yaml", AUTHN + SECTION[section])
    if flag:
        edit_manifest(root, "    - --client-ca-file", "    - %s\n    - --client-ca-file" % flag)
    if probes == "tcp":
        with open(os.path.join(root, MANIFEST)) as handle:
            text = handle.read()
        text = re.sub(r"      httpGet:\n(        .*\n)+", TCP, text)
        write(root, MANIFEST, text)
    found = audit(root, ["1.2.1"], **options)["1.2.1"]
    assert found["status"] == status, found
    assert words in (found["actual"] or "") + found["message"]


# --- encryption providers (1.2.28) -----------------------------------------------------------------


def enc(*entries):
    lines = ["apiVersion: apiserver.config.k8s.io/v1", "kind: EncryptionConfiguration", "resources:"]
    for resources, providers in entries:
        lines.append("  - resources: [%s]" % ", ".join("'%s'" % r for r in resources))
        lines.append("    providers:")
        for provider in providers:
            if provider == "identity":
                lines.append("      - identity: {}")
            elif provider.startswith("kms"):
                version = provider.partition("/")[2]
                lines += ["      - kms:", "          name: k%d" % len(lines), "          endpoint: unix:///kms.sock"]
                if version:
                    lines.append("          apiVersion: %s" % version)
            else:
                lines += ["      - %s:" % provider, "          keys:", "            - name: k1",
                          "              secret: c2VjcmV0LWtleS1tYXRlcmlhbC0zMi1ieXRlcyEhISE="]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text, ok, actual, words", [
    (enc((["secrets"], ["aescbc", "identity"])), True, "secrets: aescbc,identity", ""),
    (enc((["secrets"], ["secretbox"])), True, "secrets: secretbox", ""),
    (enc((["secrets"], ["kms/v2", "identity"])), True, "secrets: kms(v2),identity", ""),
    (enc((["secrets"], ["kms/v1"])), True, "secrets: kms(v1)", "deprecated"),
    (enc((["secrets"], ["kms"])), True, "secrets: kms(v1)", "deprecated"),  # apiVersion defaults to v1
    (enc((["secrets"], ["identity", "aescbc"])), False, "secrets: identity,aescbc", "unencrypted"),
    (enc((["secrets"], ["aesgcm"])), False, "secrets: aesgcm", "rotation"),
    (enc((["configmaps"], ["aescbc"])), False, "identity (no entry for secrets)", "no resources entry"),
    (enc((["*."], ["aescbc"])), True, "secrets: aescbc", ""),
    (enc((["*.*"], ["identity"])), False, "secrets: identity", "unencrypted"),
    (enc((["secrets"], ["aescbc"]), (["*.*"], ["identity"])), True, "secrets: aescbc", ""),
    (enc((["*.apps"], ["aescbc"]), (["secrets"], ["identity"])), False, "secrets: identity", ""),
    (enc((["secrets"], ["kms/v2"]), (["secrets"], ["identity"])), True, "secrets: kms(v2)", ""),
    # What the API server refuses: error.
    (enc((["*."], ["aescbc"]), (["secrets"], ["identity"])), None, "", "masked"),
    (enc((["*.*"], ["aescbc"]), (["configmaps"], ["identity"])), None, "", "masked"),
    (enc((["secrets"], []),), None, "", "without resources or providers"),
    (enc((["secrets"], ["aescbc"])).replace("      - aescbc:", "      - identity: {}\n        aescbc:"), None, "",
     "more than one provider"),
    (enc((["secrets"], ["aescbc"])).replace("EncryptionConfiguration", "EncryptionConfig"), None, "", "does not load"),
    ("resources: &a\n  - x\n", None, "", "anchor"),
    ("--- \napiVersion: v1\n---\nkind: x\n", None, "", "second YAML document"),
    (json.dumps({"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration", "resources": [
        {"resources": ["secrets"], "providers": [{"secretbox": {"keys": [{"name": "a", "secret": "c2VjcmV0"}]}}]}]}),
     True, "secrets: secretbox", ""),
])
def test_encryption_provider_orders(text, ok, actual, words):
    summary = _encryption.summarize(text)
    assert "c2VjcmV0" not in json.dumps(summary), "key material in the summary"
    verdict = _apiserver_files.judge_encryption(summary)
    assert verdict.ok is ok, verdict
    assert verdict.actual == actual and words in verdict.message


def test_encryption_parser_reads_what_pyyaml_reads():
    import yaml

    with open(os.path.join(FIXTURE, CONFIG, "encryption-config.yaml")) as handle:
        text = handle.read()
    assert _encryption.parse(text) == yaml.safe_load(text)
    assert _encryption.summarize(text)["resources"] == [
        {"line": 4, "resources": ["secrets"], "providers": [{"line": 7, "type": "identity"}, {"line": 8, "type": "aescbc"}]}]


# --- audit policy (3.2.1) and EventRateLimit (1.2.9) ---------------------------------------------------

POLICY = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n"


@pytest.mark.parametrize("rules, ok, words", [
    ("- level: Metadata\n", True, ""),
    ("- level: None\n  users: [system:kube-proxy]\n- level: RequestResponse\n", True, ""),
    ("- level: None\n", False, "level None"),
    ("- level: None\n  verbs: [watch]\n- level: None\n", False, "level None"),
    ("- level: None\n- level: Metadata\n", False, "catch-all"),
    ("[]\n", None, "no rules"),
    ("- level: Everything\n", None, "refuses"),
])
def test_audit_policies(rules, ok, words):
    text = POLICY + rules if not rules.startswith("[") else POLICY.replace("rules:\n", "rules: []\n")
    verdict, _actual, _line, message = _apiserver_files.judge_audit_policy(text, "policy.yaml")
    assert verdict is ok and words in message


ERL = ("apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: EventRateLimit\n"
       "  configuration:\n    apiVersion: eventratelimit.admission.k8s.io/v1alpha1\n    kind: Configuration\n")


@pytest.mark.parametrize("limits, ok", [
    ("    limits:\n    - type: Server\n      qps: 5\n      burst: 10\n", True),
    ("    limits: []\n", False),
    ("    limits:\n    - type: Server\n      qps: 0\n      burst: 10\n", None),
    ("    limits:\n    - type: Pod\n      qps: 5\n      burst: 10\n", None),
])
def test_event_rate_limits(limits, ok):
    entry, _line, problem = _apiserver_files.admission_plugin(ERL + limits, "a.yaml", "EventRateLimit")
    assert entry is not None and not problem
    assert _apiserver_files.judge_event_rate_limit(entry, None, "a.yaml")[0] is ok
    other = ERL.replace("EventRateLimit", "PodSecurity")
    missing, _line, problem = _apiserver_files.admission_plugin(other, "a.yaml", "EventRateLimit")
    assert missing is None and "no plugins entry named EventRateLimit" in problem
