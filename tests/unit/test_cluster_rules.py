"""Every cluster rule on pass/fail tables of API objects in the shapes the API server returns.

Objects start from tests/fixtures/cluster/kubeadm-insecure.json (a kubeadm 1.31 cluster) or from builders that
produce the same shapes; each case changes one thing and states the status the rule must give.
"""

from __future__ import annotations

import copy
import json
import os
import typing as t

import pytest

from ansible_collections.kubefort.hardening.plugins.module_utils import _cluster_policy as cp
from ansible_collections.kubefort.hardening.plugins.plugin_utils._catalog import select
from ansible_collections.kubefort.hardening.plugins.module_utils._rules_cluster import RULES

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "cluster", "kubeadm-insecure.json")
BY_ID = {rule.id: rule for rule in RULES}
RBAC_GROUP = "rbac.authorization.k8s.io"


def fixture_items() -> t.List[dict]:
    with open(FIXTURE, encoding="utf-8") as f:
        return json.load(f)["items"]


def find(kind: str, name: str, namespace: t.Optional[str] = None) -> dict:
    for obj in fixture_items():
        meta = obj["metadata"]
        if obj["kind"] == kind and meta["name"] == name and meta.get("namespace") == namespace:
            return copy.deepcopy(obj)
    raise KeyError((kind, namespace, name))


def namespace(name: str, labels: t.Optional[dict] = None) -> dict:
    obj = find("Namespace", "default")
    obj["metadata"]["name"] = name
    obj["metadata"]["labels"] = dict({"kubernetes.io/metadata.name": name}, **(labels or {}))
    return obj


def service_account(name: str, ns: str, automount: t.Optional[bool] = None) -> dict:
    obj = find("ServiceAccount", "default", "shop")
    obj["metadata"].update(name=name, namespace=ns)
    if automount is not None:
        obj["automountServiceAccountToken"] = automount
    return obj


def good_pod(ns: str = "shop", name: str = "storefront-6b7d9f8c5-zr4tq") -> dict:
    """A restricted-profile pod (the fixture's ledger pod), moved to ``ns``."""
    obj = find("Pod", "ledger-0", "payments")
    obj["metadata"].update(name=name, namespace=ns)
    return obj


def container(pod: dict) -> dict:
    return pod["spec"]["containers"][0]


def cluster_role(name: str, rules: t.List[dict], builtin: bool = False) -> dict:
    obj = find("ClusterRole", "secret-reader")
    obj["metadata"]["name"] = name
    obj["rules"] = rules
    if builtin:
        obj["metadata"]["labels"] = {"kubernetes.io/bootstrapping": "rbac-defaults"}
    return obj


def binding(name: str, role: str, subjects: t.List[dict], ns: t.Optional[str] = None, role_kind: str = "ClusterRole") -> dict:
    obj = find("ClusterRoleBinding", "secret-reader-dev")
    obj["metadata"]["name"] = name
    obj["roleRef"] = {"apiGroup": RBAC_GROUP, "kind": role_kind, "name": role}
    obj["subjects"] = subjects
    if ns:
        obj["kind"] = "RoleBinding"
        obj["metadata"]["namespace"] = ns
    return obj


def user(name: str) -> dict:
    return {"apiGroup": RBAC_GROUP, "kind": "User", "name": name}


def group(name: str) -> dict:
    return {"apiGroup": RBAC_GROUP, "kind": "Group", "name": name}


def sa_subject(name: str, ns: str) -> dict:
    return {"kind": "ServiceAccount", "name": name, "namespace": ns}


def rule(groups: t.List[str], resources: t.List[str], verbs: t.List[str], names: t.Optional[t.List[str]] = None) -> dict:
    out = {"apiGroups": groups, "resources": resources, "verbs": verbs}
    if names:
        out["resourceNames"] = names
    return out


def snapshot(*objects: dict) -> dict:
    return cp.snapshot_from_documents([{"apiVersion": "v1", "kind": "List", "items": list(objects)}], "test")


def evaluate(rule_id: str, snap: dict, **options: t.Any) -> dict:
    opts = cp.Options(level=2, **options)
    outcomes = cp.evaluate([BY_ID[rule_id]], snap, opts)
    return cp.results(outcomes)[0]


# -- pod-level mutations ---------------------------------------------------------------------------------


def pod_with(change: t.Callable[[dict], None], ns: str = "shop") -> dict:
    pod = good_pod(ns)
    change(pod)
    return pod


def _sc(pod: dict, **values: t.Any) -> None:
    container(pod)["securityContext"].update(values)


POD_CASES = [
    # rule, change to a restricted pod, expected status, text expected in `actual`
    ("pod-privileged", lambda p: None, "pass", None),
    ("pod-privileged", lambda p: _sc(p, privileged=True), "fail", "container ledger privileged"),
    ("pod-privileged", lambda p: _sc(p, privileged=False), "pass", None),
    ("pod-host-pid", lambda p: p["spec"].update(hostPID=True), "fail", "hostPID: true"),
    ("pod-host-pid", lambda p: p["spec"].update(hostPID=False), "pass", None),
    ("pod-host-ipc", lambda p: p["spec"].update(hostIPC=True), "fail", "hostIPC: true"),
    ("pod-host-ipc", lambda p: None, "pass", None),
    ("pod-host-network", lambda p: p["spec"].update(hostNetwork=True), "fail", "hostNetwork: true"),
    ("pod-host-network", lambda p: None, "pass", None),
    ("pod-privilege-escalation", lambda p: _sc(p, allowPrivilegeEscalation=True), "fail", "allowPrivilegeEscalation: true"),
    ("pod-privilege-escalation", lambda p: _sc(p, allowPrivilegeEscalation=False, privileged=True), "fail", "(privileged)"),
    ("pod-privilege-escalation", lambda p: None, "pass", None),
    ("pod-root", lambda p: _sc(p, runAsUser=0, runAsNonRoot=None), "fail", "runAsUser: 0"),
    ("pod-root", lambda p: [container(p)["securityContext"].pop(k) for k in ("runAsUser", "runAsNonRoot")], "fail", "may run as root"),
    ("pod-root", lambda p: ([container(p)["securityContext"].pop(k) for k in ("runAsUser", "runAsNonRoot")],
                            p["spec"]["securityContext"].update(runAsNonRoot=True)), "pass", None),
    ("pod-root", lambda p: None, "pass", None),
    ("pod-net-raw", lambda p: container(p)["securityContext"].pop("capabilities"), "fail", "does not drop NET_RAW"),
    ("pod-net-raw", lambda p: _sc(p, capabilities={"drop": ["NET_RAW"]}), "pass", None),
    ("pod-net-raw", lambda p: _sc(p, capabilities={"add": ["CAP_NET_RAW"], "drop": ["ALL"]}), "fail", "adds NET_RAW"),
    ("pod-net-raw", lambda p: None, "pass", None),
    ("pod-capabilities", lambda p: _sc(p, capabilities={"add": ["SYS_ADMIN"], "drop": ["ALL"]}), "fail", "adds SYS_ADMIN"),
    ("pod-capabilities", lambda p: None, "pass", None),
    ("pod-windows-hostprocess", lambda p: p["spec"]["securityContext"].update(windowsOptions={"hostProcess": True}), "fail", "hostProcess"),
    ("pod-windows-hostprocess", lambda p: _sc(p, windowsOptions={"hostProcess": True}), "fail", "container ledger hostProcess"),
    ("pod-windows-hostprocess", lambda p: None, "pass", None),
    ("pod-host-path", lambda p: p["spec"]["volumes"].append({"hostPath": {"path": "/var/run/containerd/containerd.sock", "type": "Socket"}, "name": "cri"}),
     "fail", "hostPath /var/run/containerd/containerd.sock (volume cri)"),
    ("pod-host-path", lambda p: None, "pass", None),
    ("pod-host-port", lambda p: container(p)["ports"][0].update(hostPort=8443), "fail", "hostPort 8443/TCP"),
    ("pod-host-port", lambda p: None, "pass", None),
    ("pod-seccomp", lambda p: container(p)["securityContext"].pop("seccompProfile"), "fail", "seccomp unset"),
    ("pod-seccomp", lambda p: _sc(p, seccompProfile={"type": "Unconfined"}), "fail", "seccomp Unconfined"),
    ("pod-seccomp", lambda p: (container(p)["securityContext"].pop("seccompProfile"),
                               p["spec"]["securityContext"].update(seccompProfile={"type": "RuntimeDefault"})), "pass", None),
    ("pod-seccomp", lambda p: _sc(p, seccompProfile={"type": "Localhost", "localhostProfile": "profiles/ledger.json"}), "pass", None),
    ("pod-security-context", lambda p: container(p).pop("securityContext"), "fail", "no securityContext"),
    ("pod-security-context", lambda p: None, "pass", None),
    ("secrets-in-env", lambda p: container(p).update(env=[{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"key": "t", "name": "api"}}}]),
     "fail", "env TOKEN from secret api"),
    ("secrets-in-env", lambda p: container(p).update(envFrom=[{"secretRef": {"name": "ledger-env"}}]), "fail", "envFrom secret ledger-env"),
    ("secrets-in-env", lambda p: container(p).update(env=[{"name": "MODE", "valueFrom": {"configMapKeyRef": {"key": "m", "name": "cfg"}}}]), "pass", None),
    ("secrets-in-env", lambda p: None, "pass", None),
]


@pytest.mark.parametrize("rule_id, change, status, text", POD_CASES)
def test_pod_rules(rule_id: str, change: t.Callable[[dict], None], status: str, text: t.Optional[str]) -> None:
    pod = pod_with(change)
    result = evaluate(rule_id, snapshot(namespace("shop"), pod))
    assert result["status"] == status, result
    if text:
        assert text in result["actual"]
        assert "shop/storefront-6b7d9f8c5-zr4tq" in result["actual"]


def test_init_and_ephemeral_containers_count() -> None:
    pod = good_pod()
    pod["spec"]["initContainers"] = [dict(copy.deepcopy(container(pod)), name="init-perms", securityContext={"privileged": True})]
    result = evaluate("pod-privileged", snapshot(pod))
    assert result["status"] == "fail" and "init-perms" in result["actual"]


def test_exempt_namespace_pods_are_reported_not_counted() -> None:
    proxy = find("Pod", "kube-proxy-7xq2m", "kube-system")
    result = evaluate("pod-privileged", snapshot(proxy))
    assert result["status"] == "pass"
    assert "kube-system/kube-proxy-7xq2m" in result["message"]
    assert evaluate("pod-privileged", snapshot(proxy), exempt_namespaces=())["status"] == "fail"


# -- RBAC -----------------------------------------------------------------------------------------------

RBAC_CASES = [
    # (rule, objects, status, text in actual)
    ("cluster-admin-bindings", [find("ClusterRoleBinding", "cluster-admin"), find("ClusterRoleBinding", "kubeadm:cluster-admins")], "pass", None),
    ("cluster-admin-bindings", [binding("ops", "cluster-admin", [user("bob")])], "manual", "User bob: via ClusterRoleBinding ops"),
    ("cluster-admin-bindings", [binding("ops", "cluster-admin", [sa_subject("ci", "tools")], ns="tools")], "manual",
     "ServiceAccount tools/ci: via RoleBinding tools/ops -> ClusterRole cluster-admin (in namespace tools)"),
    ("rbac-secrets-access", [find("ClusterRole", "secret-reader"), binding("r", "secret-reader", [group("dev")])], "manual", "Group dev"),
    ("rbac-secrets-access", [find("ClusterRole", "secret-reader"), binding("r", "secret-reader", [user("system:kube-controller-manager")])], "pass", None),
    ("rbac-secrets-access", [find("ClusterRole", "secret-reader"), binding("r", "secret-reader", [group("system:authenticated")])],
     "manual", "system:authenticated"),
    ("rbac-secrets-access", [cluster_role("cm", [rule([""], ["configmaps"], ["get"])]), binding("r", "cm", [group("dev")])], "pass", None),
    ("rbac-secrets-access", [cluster_role("one", [rule([""], ["secrets"], ["get"], ["tls"])]), binding("r", "one", [group("dev")])], "manual", "(names: tls)"),
    ("rbac-secrets-access", [binding("r", "missing-role", [group("dev")])], "pass", None),
    ("rbac-wildcards", [find("ClusterRole", "ci-deployer")], "manual", "ClusterRole ci-deployer: '*' in apiGroups, resources, verbs"),
    ("rbac-wildcards", [find("ClusterRole", "cluster-admin"), find("ClusterRole", "system:controller:generic-garbage-collector")], "pass", None),
    ("rbac-wildcards", [cluster_role("narrow", [rule(["apps"], ["deployments"], ["get", "list"])])], "pass", None),
    ("rbac-create-pods", [find("ClusterRole", "edit"), binding("e", "edit", [group("devs")], ns="shop")], "manual", "Group devs"),
    ("rbac-create-pods", [find("ClusterRole", "view"), binding("v", "view", [group("devs")])], "pass", None),
    ("rbac-bind-escalate-impersonate", [cluster_role("imp", [rule([""], ["users", "groups"], ["impersonate"])]), binding("i", "imp", [user("eve")])],
     "manual", "impersonate groups, impersonate users"),
    ("rbac-bind-escalate-impersonate", [cluster_role("esc", [rule([RBAC_GROUP], ["clusterroles"], ["escalate", "bind"])]), binding("e", "esc", [user("eve")])],
     "manual", "bind clusterroles, escalate clusterroles"),
    ("rbac-bind-escalate-impersonate", [find("ClusterRole", "view"), binding("v", "view", [user("eve")])], "pass", None),
    ("rbac-create-pv", [cluster_role("pv", [rule([""], ["persistentvolumes"], ["create"])]), binding("p", "pv", [user("eve")])],
     "manual", "create persistentvolumes"),
    ("rbac-create-pv", [find("ClusterRole", "view"), binding("v", "view", [user("eve")])], "pass", None),
    ("rbac-nodes-proxy", [find("ClusterRole", "node-debugger"), binding("n", "node-debugger", [user("eve")])], "manual", "get nodes/proxy"),
    ("rbac-nodes-proxy", [cluster_role("sub", [rule([""], ["*/proxy"], ["get"])]), binding("n", "sub", [user("eve")])], "manual", "get nodes/proxy"),
    ("rbac-nodes-proxy", [cluster_role("nodes", [rule([""], ["nodes"], ["get"])]), binding("n", "nodes", [user("eve")])], "pass", None),
    ("rbac-csr-approval", [cluster_role("csr", [rule(["certificates.k8s.io"], ["certificatesigningrequests/approval"], ["update"])]),
                           binding("c", "csr", [user("eve")])], "manual", "update certificatesigningrequests/approval"),
    ("rbac-csr-approval", [find("ClusterRole", "system:controller:certificate-controller"),
                           find("ClusterRoleBinding", "system:controller:certificate-controller")], "pass", None),
    ("rbac-webhook-config", [cluster_role("wh", [rule(["admissionregistration.k8s.io"], ["mutatingwebhookconfigurations"], ["patch"])]),
                             binding("w", "wh", [user("eve")])], "manual", "patch mutatingwebhookconfigurations"),
    ("rbac-webhook-config", [cluster_role("wh", [rule(["admissionregistration.k8s.io"], ["mutatingwebhookconfigurations"], ["get", "list"])]),
                             binding("w", "wh", [user("eve")])], "pass", None),
    ("rbac-token-create", [cluster_role("tok", [rule([""], ["serviceaccounts/token"], ["create"])]), binding("t", "tok", [sa_subject("ci", "tools")])],
     "manual", "ServiceAccount tools/ci"),
    ("rbac-token-create", [find("ClusterRole", "system:kube-controller-manager"), find("ClusterRoleBinding", "system:kube-controller-manager")], "pass", None),
    ("system-masters-use", [find("ClusterRoleBinding", "cluster-admin")], "manual", "0 findings"),
    ("system-masters-use", [binding("masters-view", "view", [group("system:masters")])], "manual", "named by ClusterRoleBinding masters-view"),
]


@pytest.mark.parametrize("rule_id, objects, status, text", RBAC_CASES)
def test_rbac_rules(rule_id: str, objects: t.List[dict], status: str, text: t.Optional[str]) -> None:
    result = evaluate(rule_id, snapshot(*objects))
    assert result["status"] == status, result
    if text:
        assert text in result["actual"], result["actual"]


ANON_CASES = [
    ("public-info-viewer to unauthenticated is allowed",
     [find("ClusterRole", "system:public-info-viewer"), find("ClusterRoleBinding", "system:public-info-viewer")], "pass"),
    ("discovery to unauthenticated is allowed",
     [find("ClusterRole", "system:discovery"), binding("d", "system:discovery", [group("system:unauthenticated")])], "pass"),
    ("kubeadm cluster-info for join is allowed by default",
     [find("Role", "kubeadm:bootstrap-signer-clusterinfo", "kube-public"), find("RoleBinding", "kubeadm:bootstrap-signer-clusterinfo", "kube-public")], "pass"),
    ("view to anonymous",
     [find("ClusterRole", "view"), binding("anon-view", "view", [user("system:anonymous")])], "fail"),
    ("metrics URL to unauthenticated",
     [cluster_role("m", [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]), binding("m", "m", [group("system:unauthenticated")])], "fail"),
    ("health URL with a write verb",
     [cluster_role("h", [{"nonResourceURLs": ["/healthz"], "verbs": ["get", "post"]}]), binding("h", "h", [user("system:anonymous")])], "fail"),
    ("binding to a role not created yet",
     [binding("later", "not-yet", [user("system:anonymous")])], "fail"),
    ("authenticated users only",
     [find("ClusterRole", "view"), binding("auth-view", "view", [group("system:authenticated")])], "pass"),
]


@pytest.mark.parametrize("title, objects, status", ANON_CASES, ids=[c[0] for c in ANON_CASES])
def test_anonymous_access(title: str, objects: t.List[dict], status: str) -> None:
    assert evaluate("rbac-anonymous-access", snapshot(*objects))["status"] == status


def test_anonymous_allowed_bindings_are_configurable() -> None:
    objs = [find("Role", "kubeadm:bootstrap-signer-clusterinfo", "kube-public"),
            find("RoleBinding", "kubeadm:bootstrap-signer-clusterinfo", "kube-public")]
    result = evaluate("rbac-anonymous-access", snapshot(*objs), anonymous_allowed_bindings=())
    assert result["status"] == "fail"
    assert "RoleBinding kube-public/kubeadm:bootstrap-signer-clusterinfo" in result["actual"]


# -- service accounts, namespaces, network policy ----------------------------------------------------------

SA_CASES = [
    ("default-sa-automount", [service_account("default", "shop")], "fail", "namespace shop: automountServiceAccountToken unset"),
    ("default-sa-automount", [service_account("default", "shop", automount=True)], "fail", "automountServiceAccountToken true"),
    ("default-sa-automount", [service_account("default", "shop", automount=False)], "pass", None),
    ("default-sa-automount", [service_account("builder", "shop")], "pass", None),
    ("sa-token-mounts", [service_account("default", "shop"),
                         pod_with(lambda p: p["spec"].update(serviceAccountName="default", automountServiceAccountToken=None))],
     "manual", "mounts the token of default (no RBAC binding: most likely unused)"),
    ("sa-token-mounts", [service_account("default", "shop", automount=False),
                         pod_with(lambda p: p["spec"].update(serviceAccountName="default", serviceAccount="default"))],
     "pass", None),
    ("sa-token-mounts", [service_account("default", "shop", automount=False),
                         pod_with(lambda p: p["spec"].update(serviceAccountName="default", automountServiceAccountToken=True))],
     "manual", "mounts the token of default"),
    ("sa-token-mounts", [service_account("ledger", "shop"), pod_with(lambda p: p["spec"].update(serviceAccountName="ledger")),
                         binding("l", "view", [sa_subject("ledger", "shop")], ns="shop")], "manual", "mounts the token of ledger"),
    ("psa-enforce", [namespace("shop")], "fail", "namespace shop: no enforce label"),
    ("psa-enforce", [namespace("shop", {"pod-security.kubernetes.io/enforce": "privileged"})], "fail", "enforce=privileged"),
    ("psa-enforce", [namespace("shop", {"pod-security.kubernetes.io/warn": "restricted"})], "fail", "no enforce label"),
    ("psa-enforce", [namespace("shop", {"pod-security.kubernetes.io/enforce": "baseline"})], "pass", None),
    ("psa-enforce", [namespace("shop", {"pod-security.kubernetes.io/enforce": "restricted"})], "pass", None),
    ("psa-enforce", [namespace("kube-system")], "pass", None),
    ("namespace-network-policy", [namespace("shop")], "fail", "namespace shop: no NetworkPolicy"),
    ("namespace-network-policy", [namespace("payments"), find("NetworkPolicy", "default-deny", "payments")], "pass", None),
    ("namespace-network-policy", [namespace("shop"), find("NetworkPolicy", "default-deny", "payments")], "fail", "namespace shop"),
    ("default-namespace-used", [find("Service", "kubernetes", "default")], "pass", None),
    ("default-namespace-used", [find("Service", "kubernetes", "default"), find("Service", "web", "default")], "fail", "Service default/web"),
    ("default-namespace-used", [good_pod("default", "web-1")], "fail", "Pod default/web-1"),
    ("default-namespace-used", [good_pod("shop")], "pass", None),
]


@pytest.mark.parametrize("rule_id, objects, status, text", SA_CASES)
def test_namespace_and_service_account_rules(rule_id: str, objects: t.List[dict], status: str, text: t.Optional[str]) -> None:
    result = evaluate(rule_id, snapshot(*objects))
    assert result["status"] == status, result
    if text:
        assert text in result["actual"], result["actual"]


def test_default_sa_with_bindings_is_noted() -> None:
    objs = [service_account("default", "shop", automount=False), binding("dflt", "view", [sa_subject("default", "shop")], ns="shop")]
    result = evaluate("default-sa-automount", snapshot(*objs))
    assert result["status"] == "pass"
    assert "shop/default" in result["message"]


# -- the catalog and every rule covered ------------------------------------------------------------------


def test_every_rule_has_a_passing_and_a_failing_case() -> None:
    cases = [(c[0], c[2]) for c in POD_CASES + RBAC_CASES + SA_CASES] + [("rbac-anonymous-access", c[2]) for c in ANON_CASES]
    for rule in RULES:
        statuses = {status for rule_id, status in cases if rule_id == rule.id}
        assert "pass" in statuses or rule.check.always_manual, rule.id
        assert statuses - {"pass"}, rule.id


def test_catalog_entries() -> None:
    ids = [rule.id for rule in RULES]
    cis = [rule.cis for rule in RULES if rule.cis]
    assert len(ids) == len(set(ids)) and len(cis) == len(set(cis))
    for rule in RULES:
        assert rule.component == "cluster"
        assert rule.section.split(" ")[0] in ("5.1", "5.2", "5.3", "5.4", "5.6")
        assert rule.cis is None or rule.cis.startswith(rule.section.split(" ")[0] + ".")
        assert rule.check.evaluator in cp.CHECKS
        assert set(rule.check.kinds) <= set(cp.KINDS)
        assert rule.check.on_finding in ("fail", "manual")
        # the rules the collection can fix are exactly those with a fix in _cluster_policy
        assert rule.automated == (rule.id in ("default-sa-automount", "rbac-anonymous-access", "psa-enforce", "namespace-network-policy"))


def test_section_selectors_reach_cluster_rules() -> None:
    assert [r.id for r in select(["5.3"])] == ["namespace-network-policy"]
    assert {r.id for r in select(["5.1"])} >= {"cluster-admin-bindings", "rbac-token-create"}
    assert "rbac-anonymous-access" in [r.id for r in select(["rbac-anonymous-access"])]


def test_whole_fixture_cluster() -> None:
    """The insecure kubeadm fixture: what an auditor must see, rule by rule."""
    snap = cp.snapshot_from_documents([json.load(open(FIXTURE, encoding="utf-8"))], "fixture")
    statuses = {r["id"]: r["status"] for r in cp.results(cp.evaluate(RULES, snap, cp.Options(level=2)))}
    assert statuses["rbac-anonymous-access"] == "fail"
    assert statuses["default-sa-automount"] == "fail"
    assert statuses["cluster-admin-bindings"] == "manual"
    assert statuses["pod-windows-hostprocess"] == "pass"
    assert statuses["system-masters-use"] == "manual"
    assert {statuses[i] for i in ("pod-privileged", "pod-host-pid", "pod-host-path", "namespace-network-policy", "secrets-in-env")} == {"fail"}
