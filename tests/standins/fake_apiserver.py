"""A local HTTPS stand-in for the Kubernetes API server, for the cluster policy tests.

What it emulates (only what the cluster_policy and kubeadm_config modules use):
- list calls: ``GET /api/v1/<plural>`` and ``GET /apis/<group>/<version>/<plural>`` answer a ``<Kind>List``
  whose items carry no ``kind``/``apiVersion`` (as the real server answers);
- ``PATCH`` with ``application/merge-patch+json`` (RFC 7386) or ``application/strategic-merge-patch+json``
  (treated as a merge patch, which is what it is for the maps and whole lists we send), with optimistic
  concurrency on ``metadata.resourceVersion`` (409 Conflict), ``POST`` (409 AlreadyExists), ``DELETE``;
- ``ClusterPolicyReport`` (wgpolicyk8s.io/v1alpha2) besides the kinds cluster_policy reads, for the
  report role's opt-in API writes;
- ``dryRun=All`` on writes: the answer is computed, nothing is stored;
- bearer-token authentication: a missing or unknown token gets 401 with a ``Status`` body, like an
  expired token; ``forbid`` entries (verb, plural) get 403 with the real message shape;
- a group/version that is not served (``missing_groups``) answers 404 ``the server could not find the
  requested resource``; ``delay`` seconds before answering simulate a hung server (client timeouts).

Objects are loaded from a ``kubectl get -o json`` List (see tests/fixtures/cluster/). Certificates (a CA and
a server certificate for 127.0.0.1/localhost) are generated at start with ``cryptography``.
"""

from __future__ import annotations

import copy
import datetime
import json
import os
import ssl
import threading
import time
import typing as t
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# kind -> (group/version, plural, namespaced)
RESOURCES = {
    "Namespace": ("v1", "namespaces", False),
    "ServiceAccount": ("v1", "serviceaccounts", True),
    "Pod": ("v1", "pods", True),
    "Service": ("v1", "services", True),
    "ClusterRole": ("rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "Role": ("rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("rbac.authorization.k8s.io/v1", "rolebindings", True),
    "NetworkPolicy": ("networking.k8s.io/v1", "networkpolicies", True),
    # kubeadm's cluster configuration (kube-system/kubeadm-config, kubelet-config), read and patched by kubeadm_config
    "ConfigMap": ("v1", "configmaps", True),
    # the Policy WG's report CRD, as policy-reporter/Kyverno install it (the report role writes these)
    "ClusterPolicyReport": ("wgpolicyk8s.io/v1alpha2", "clusterpolicyreports", False),
}
BY_PLURAL = {(spec[0], spec[1]): kind for kind, spec in RESOURCES.items()}


def make_certificates(directory: str) -> tuple[str, str, str]:
    """A CA and a server certificate for 127.0.0.1 and localhost; returns (ca, cert, key) paths."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubefort-test-ca")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = tuple(os.path.join(directory, n) for n in ("ca.crt", "apiserver.crt", "apiserver.key"))
    with open(paths[0], "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths[1], "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(paths[2], "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return paths  # type: ignore[return-value]


def merge_patch(target: t.Any, patch: t.Any) -> t.Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def status(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}
    if details:
        body["details"] = details
    return body


class FakeAPIServer:
    """Start with ``with FakeAPIServer(objects_file, tmpdir) as api:``; ``api.url``, ``api.ca``, ``api.token``."""

    def __init__(self, objects_file: str, directory: str, token: str = "kubefort-test-token") -> None:
        self.directory = directory
        self.token = token
        self.expired_tokens: set[str] = set()
        self.forbid: set[tuple[str, str]] = set()  # (verb, plural): list/patch/create/delete
        self.missing_groups: set[str] = set()  # e.g. "networking.k8s.io/v1"
        self.delay = 0.0
        self.requests: list[dict[str, t.Any]] = []
        self.store: dict[tuple[str, str, str], dict] = {}
        self._rv = 90000
        self._lock = threading.Lock()
        with open(objects_file, encoding="utf-8") as f:
            for obj in json.load(f)["items"]:
                kind = obj["kind"]
                self.store[(kind, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])] = obj
        self.ca, cert, key = make_certificates(directory)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._server.daemon_threads = True
        self.url = "https://127.0.0.1:%d" % self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeAPIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def kubeconfig(self, token: str | None = None, name: str = "kubeconfig") -> str:
        """A kubeconfig file for this server (context ``kubefort-test``), like kubeadm's admin.conf."""
        path = os.path.join(self.directory, name)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kubefort-test", "cluster": {"server": self.url, "certificate-authority": self.ca}}],
            "users": [{"name": "auditor", "user": {"token": token or self.token}}],
            "contexts": [{"name": "kubefort-test", "context": {"cluster": "kubefort-test", "user": "auditor"}}],
            "current-context": "kubefort-test",
        }
        with open(path, "w", encoding="utf-8") as f:
            json.dump(config, f)  # JSON is YAML
        return path

    def objects(self, kind: str) -> list[dict]:
        return [obj for key, obj in sorted(self.store.items()) if key[0] == kind]

    def get(self, kind: str, namespace: str, name: str) -> dict | None:
        return self.store.get((kind, namespace or "", name))

    def writes(self, dry_run: bool | None = None) -> list[dict[str, t.Any]]:
        return [r for r in self.requests if r["method"] != "GET" and (dry_run is None or r["dry_run"] == dry_run)]

    # -- request handling ------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 1 << 16  # headers and body leave in one segment (no Nagle/delayed-ACK stall)

            def log_message(self, *args: t.Any) -> None:  # keep test output clean
                pass

            def _send(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    pass  # the client gave up (timeout tests)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                code, body = api._respond(self.command, self.path, dict(self.headers), raw)
                if api.delay:
                    time.sleep(api.delay)
                self._send(code, body)

            do_GET = do_PATCH = do_POST = do_DELETE = _handle

        return Handler

    def _respond(self, method: str, path: str, headers: t.Mapping[str, str], raw: bytes) -> tuple[int, dict]:
        url = urlsplit(path)
        query = parse_qs(url.query)
        dry_run = query.get("dryRun") == ["All"]
        auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        record = {"method": method, "path": url.path, "query": query, "dry_run": dry_run,
                  "content_type": {k.lower(): v for k, v in headers.items()}.get("content-type"),
                  "body": json.loads(raw) if raw else None}
        self.requests.append(record)
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        if token is None or token != self.token or token in self.expired_tokens:
            return 401, status(401, "Unauthorized", "Unauthorized")
        parsed = self._parse(url.path)
        if parsed is None:
            return 404, status(404, "NotFound", "the server could not find the requested resource")
        gv, plural, namespace, name = parsed
        if gv in self.missing_groups or (gv, plural) not in BY_PLURAL:
            return 404, status(404, "NotFound", "the server could not find the requested resource")
        kind = BY_PLURAL[(gv, plural)]
        group = gv.split("/")[0] if "/" in gv else ""
        verb = {"GET": "list" if name is None else "get", "PATCH": "patch", "POST": "create", "DELETE": "delete"}[method]
        if (verb, plural) in self.forbid:
            what = "%s.%s" % (plural, group) if group else plural
            scope = 'in the namespace "%s"' % namespace if namespace else "at the cluster scope"
            return 403, status(403, "Forbidden", '%s is forbidden: User "auditor" cannot %s resource "%s" in API group "%s" %s'
                               % (what, verb, plural, group, scope), {"kind": plural})
        with self._lock:
            return self._do(method, kind, gv, plural, namespace, name, record["body"], dry_run)

    @staticmethod
    def _parse(path: str) -> tuple[str, str, str, str | None] | None:
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["api", "v1"]:
            gv, rest = "v1", parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            gv, rest = "%s/%s" % (parts[1], parts[2]), parts[3:]
        else:
            return None
        if not rest:
            return None
        if rest[0] == "namespaces" and len(rest) >= 3:
            return gv, rest[2], rest[1], rest[3] if len(rest) > 3 else None
        return gv, rest[0], "", rest[1] if len(rest) > 1 else None

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _do(self, method, kind, gv, plural, namespace, name, body, dry_run) -> tuple[int, dict]:
        key = (kind, namespace, name or "")
        if method == "GET" and name is None:
            items = [dict((k, v) for k, v in o.items() if k not in ("kind", "apiVersion"))
                     for key, o in sorted(self.store.items()) if key[0] == kind and (not namespace or key[1] == namespace)]
            return 200, {"kind": kind + "List", "apiVersion": gv, "metadata": {"resourceVersion": str(self._rv)},
                         "items": items}
        if method == "POST":
            name = (body.get("metadata") or {}).get("name")
            key = (kind, namespace, name)
            if key in self.store:
                return 409, status(409, "AlreadyExists", '%s "%s" already exists' % (plural, name))
            obj = copy.deepcopy(body)
            obj["metadata"] = dict(obj["metadata"], uid="5e0d7a1c-0000-4000-8000-%012d" % self._rv,
                                   resourceVersion=self._next_rv(), creationTimestamp="2026-11-30T00:00:00Z")
            if not dry_run:
                self.store[key] = obj
            return 201, obj
        obj = self.store.get(key)
        if obj is None:
            return 404, status(404, "NotFound", '%s "%s" not found' % (plural, name))
        if method == "GET":
            return 200, obj
        if method == "DELETE":
            if not dry_run:
                del self.store[key]
            return 200, status(200, "", "") | {"status": "Success", "details": {"name": name, "kind": plural}}
        wanted_rv = ((body or {}).get("metadata") or {}).get("resourceVersion")
        if wanted_rv and wanted_rv != obj["metadata"]["resourceVersion"]:
            return 409, status(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the object has been modified; '
                               "please apply your changes to the latest version and try again" % (plural, name))
        new = merge_patch(obj, body)
        new["metadata"]["resourceVersion"] = obj["metadata"]["resourceVersion"] if dry_run else self._next_rv()
        if not dry_run:
            self.store[key] = new
        return 200, new
