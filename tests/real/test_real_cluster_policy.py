"""cluster_policy against the real kube-apiserver v1.28.7, as tests/integration/test_cluster_api.py does
against tests/standins/fake_apiserver.py: the objects of tests/fixtures/cluster/kubeadm-insecure.json are
created through the API, then audit, dry run (server-side, nothing changes), fix, and a second run that
writes nothing."""

from __future__ import annotations

import base64
import json
import os
import ssl
import typing as t
import urllib.error
import urllib.request

import pytest
import yaml
from k8s_harness import REPO, Node, node_ip
from kubefort_testlib import demo_node

from ansible_collections.kubefort.hardening.plugins.modules.cluster_policy import ARGUMENT_SPEC, run_module

pytestmark = pytest.mark.real_k8s

FIXTURE = os.path.join(REPO, "tests", "fixtures", "cluster", "kubeadm-insecure.json")
REMEDIATE = {"remediate": True, "psa_enforce": True, "default_deny_namespaces": ["shop"]}
ORDER = ["Namespace", "ServiceAccount", "ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding", "Service",
         "NetworkPolicy", "Pod"]
PLURAL = {"NetworkPolicy": "networkpolicies"}


class API:
    """Plain HTTPS calls as the cluster admin (admin.conf), to set the cluster up and look at it."""

    def __init__(self, port: int, tree: str, directory: str) -> None:
        with open(os.path.join(tree, "etc/kubernetes/admin.conf")) as handle:
            admin = yaml.safe_load(handle)
        user = admin["users"][0]["user"]
        self.files = {}
        for key in ("client-certificate-data", "client-key-data"):
            path = os.path.join(directory, key)
            with open(path, "wb") as handle:
                handle.write(base64.b64decode(user[key]))
            self.files[key] = path
        ca = os.path.join(directory, "ca.crt")
        with open(ca, "wb") as handle:
            handle.write(base64.b64decode(admin["clusters"][0]["cluster"]["certificate-authority-data"]))
        self.context = ssl.create_default_context(cafile=ca)
        self.context.check_hostname = False  # the serving certificate names 192.0.2.10, the test dials 127.0.0.1
        self.context.load_cert_chain(self.files["client-certificate-data"], self.files["client-key-data"])
        self.url = "https://127.0.0.1:%d" % port
        self.kubeconfig = os.path.join(directory, "kubeconfig")
        cluster = {"server": self.url, "certificate-authority": ca, "tls-server-name": "kubernetes"}
        user = {"client-certificate": self.files["client-certificate-data"], "client-key": self.files["client-key-data"]}
        config = {"apiVersion": "v1", "kind": "Config", "current-context": "test",
                  "clusters": [{"name": "test", "cluster": cluster}], "users": [{"name": "admin", "user": user}],
                  "contexts": [{"name": "test", "context": {"cluster": "test", "user": "admin"}}]}
        with open(self.kubeconfig, "w") as handle:
            json.dump(config, handle)

    def call(self, method: str, path: str, body: t.Any = None, content_type: str = "application/json") -> t.Tuple[int, t.Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method, headers={"Content-Type": content_type})
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def path(self, obj: t.Mapping[str, t.Any], named: bool = True) -> str:
        group, _sep, version = obj["apiVersion"].rpartition("/")
        base = "/apis/%s/%s" % (group, version) if group else "/api/%s" % version
        namespace = obj["metadata"].get("namespace")
        plural = PLURAL.get(obj["kind"], obj["kind"].lower() + "s")
        out = base + ("/namespaces/%s" % namespace if namespace else "") + "/" + plural
        return out + ("/" + obj["metadata"]["name"] if named else "")

    def get(self, kind: str, namespace: str, name: str) -> t.Optional[t.Dict[str, t.Any]]:
        api = {"ServiceAccount": "v1", "Namespace": "v1", "ClusterRoleBinding": "rbac.authorization.k8s.io/v1",
               "RoleBinding": "rbac.authorization.k8s.io/v1", "NetworkPolicy": "networking.k8s.io/v1"}[kind]
        status, body = self.call("GET", self.path({"apiVersion": api, "kind": kind,
                                                   "metadata": {"name": name, "namespace": namespace or None}}))
        return body if status == 200 else None


def create_fixture_objects(api: API) -> None:
    with open(FIXTURE) as handle:
        items = json.load(handle)["items"]
    for kind in ORDER:
        for obj in (i for i in items if i["kind"] == kind):
            obj = json.loads(json.dumps(obj))
            for key in ("resourceVersion", "uid", "creationTimestamp", "managedFields", "selfLink", "generation"):
                obj["metadata"].pop(key, None)
            obj.pop("status", None)
            if kind == "Pod":
                obj["spec"].pop("priority", None)  # the Priority admission plugin computes it from the class
            if kind == "Service":
                obj.get("spec", {}).pop("clusterIP", None)
                obj.get("spec", {}).pop("clusterIPs", None)
            status, body = api.call("POST", api.path(obj, named=False), obj)
            if status == 409:  # made by the API server itself (namespaces, bootstrap RBAC): take the fixture's
                current = api.call("GET", api.path(obj))[1]
                obj["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                status, body = api.call("PUT", api.path(obj), obj)
            assert status in (200, 201), (kind, obj["metadata"].get("name"), body.get("message"))


def params(**values: t.Any) -> t.Dict[str, t.Any]:
    out = {key: spec.get("default") for key, spec in ARGUMENT_SPEC.items()}
    out["level"] = 2
    out.update(values)
    return out


def statuses(result: t.Mapping[str, t.Any]) -> t.Dict[str, str]:
    return {r["id"]: r["status"] for r in result["results"]}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: t.Any) -> t.Iterator[API]:
    directory = tmp_path_factory.mktemp("cluster")
    root = demo_node(directory, "cp2")  # kubeadm 1.28: Node,RBAC
    node = Node(root, {"6443": "tcp:%s:6443" % node_ip(root)})
    node.add_etcd()
    node.add_apiserver()
    with node:
        api = API(node.host_ports["6443"], root, str(directory))
        node.wait_for("kube-apiserver", "6443", "/readyz", cert=(api.files["client-certificate-data"], api.files["client-key-data"]))
        create_fixture_objects(api)
        yield api


def test_audit_dry_run_fix_and_nothing_left_on_the_real_api_server(cluster: API) -> None:
    offline = statuses(run_module(params(snapshot_files=[FIXTURE]), check_mode=False))
    audit = run_module(params(kubeconfig=cluster.kubeconfig), check_mode=False)
    assert not audit.get("failed"), audit.get("msg")
    got = statuses(audit)
    assert got["rbac-anonymous-access"] == "fail" and got["default-sa-automount"] == "fail"
    # The real API server adds its bootstrap RBAC objects; the verdicts are those of the saved fixture.
    assert got == offline

    dry = run_module(params(kubeconfig=cluster.kubeconfig, **REMEDIATE), check_mode=True)
    assert not dry.get("failed") and dry["changed"] is True
    assert statuses(dry)["default-sa-automount"] == "would_fix" and statuses(dry)["rbac-anonymous-access"] == "would_fix"
    assert cluster.get("ClusterRoleBinding", "", "anonymous-status") is not None  # dryRun=All changed nothing
    assert statuses(run_module(params(kubeconfig=cluster.kubeconfig), check_mode=False)) == got

    fixed = run_module(params(kubeconfig=cluster.kubeconfig, **REMEDIATE), check_mode=False)
    assert not fixed.get("failed") and fixed["changed"] is True
    assert statuses(fixed)["default-sa-automount"] == "fixed" and statuses(fixed)["rbac-anonymous-access"] == "fixed"
    assert {r["status"] for r in fixed["results"]} - {"pass", "fixed", "fail", "manual", "not_applicable", "skipped"} == set()
    assert cluster.get("ServiceAccount", "shop", "default")["automountServiceAccountToken"] is False
    assert cluster.get("ClusterRoleBinding", "", "anonymous-status") is None
    labels = cluster.get("Namespace", "", "default")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert cluster.get("NetworkPolicy", "shop", "kubefort-default-deny")["spec"]["policyTypes"] == ["Ingress"]

    again = run_module(params(kubeconfig=cluster.kubeconfig, **REMEDIATE), check_mode=False)
    assert again["changed"] is False
    assert statuses(again)["default-sa-automount"] == "pass" and statuses(again)["rbac-anonymous-access"] == "pass"
