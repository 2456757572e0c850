# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Anonymous HTTP(S) probes of Kubernetes ports (standard library only).

Each probe connects without credentials and reports exactly what it got: the connection was refused,
timed out, failed its TLS handshake, or an HTTP status. ``denied`` says whether the anonymous request
was kept from data: refused, timeout (filtered), TLS failure, reset, 401 and 403 are denials; any other
HTTP status is an answer. The response body is never returned (it may hold pod specs).
"""

from __future__ import annotations

import errno
import http.client
import socket
import ssl
import typing as t

ANONYMOUS_PROBES: t.Tuple[t.Dict[str, t.Any], ...] = (
    {"name": "kubelet-readonly", "port": 10255, "scheme": "http", "path": "/pods", "kind": "anonymous"},
    {"name": "kubelet-api", "port": 10250, "scheme": "https", "path": "/pods", "kind": "anonymous"},
    {"name": "kube-apiserver", "port": 6443, "scheme": "https", "path": "/api", "kind": "anonymous"},
)
# Health endpoints may answer anonymous requests; they are probed for information only.
HEALTH_PROBES: t.Tuple[t.Dict[str, t.Any], ...] = (
    {"name": "kubelet-healthz", "port": 10248, "scheme": "http", "path": "/healthz", "kind": "health"},
    {"name": "kube-proxy-healthz", "port": 10256, "scheme": "http", "path": "/healthz", "kind": "health"},
    {"name": "kube-apiserver-readyz", "port": 6443, "scheme": "https", "path": "/readyz", "kind": "health"},
)
DENYING_STATUSES = (401, 403)
SCHEMES = ("http", "https")
KINDS = ("anonymous", "health")


class ProbeSpecError(ValueError):
    """A probe definition is unusable."""


def normalize_spec(spec: t.Mapping[str, t.Any]) -> t.Dict[str, t.Any]:
    """Check one probe definition and fill its defaults; raises ProbeSpecError saying what to fix."""
    name = spec.get("name")
    port = spec.get("port")
    if not name:
        raise ProbeSpecError("every probe needs a name, e.g. {name: kubelet-api, port: 10250}")
    try:
        port = int(port)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ProbeSpecError("probe %s: port must be a number from 1 to 65535, not %r" % (name, port)) from None
    if not 0 < port < 65536:
        raise ProbeSpecError("probe %s: port must be a number from 1 to 65535, not %r" % (name, port))
    scheme = spec.get("scheme") or "https"
    if scheme not in SCHEMES:
        raise ProbeSpecError("probe %s: scheme must be http or https, not %r" % (name, scheme))
    path = spec.get("path") or "/"
    if not str(path).startswith("/"):
        raise ProbeSpecError("probe %s: path must start with /, not %r" % (name, path))
    kind = spec.get("kind") or "anonymous"
    if kind not in KINDS:
        raise ProbeSpecError("probe %s: kind must be anonymous or health, not %r" % (name, kind))
    return {"name": str(name), "port": port, "scheme": scheme, "path": str(path), "kind": kind}


def url_of(host: str, spec: t.Mapping[str, t.Any]) -> str:
    shown = "[%s]" % host if ":" in host else host
    return "%s://%s:%d%s" % (spec["scheme"], shown, spec["port"], spec["path"])


def _outcome(spec: t.Mapping[str, t.Any], host: str, outcome: str, denied: t.Optional[bool],
             status: t.Optional[int] = None, message: str = "") -> t.Dict[str, t.Any]:
    result = dict(spec)
    result.update(
        {"host": host, "url": url_of(host, spec), "outcome": outcome, "status": status, "denied": denied,
         "message": message}
    )
    return result


def _connect(host: str, port: int, timeout: float) -> socket.socket:
    return socket.create_connection((host, port), timeout=timeout)


def _tls_context() -> ssl.SSLContext:
    # Anonymous probe: the server certificate is not what is tested, so it is not verified.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def probe(host: str, spec: t.Mapping[str, t.Any], timeout: float = 3.0) -> t.Dict[str, t.Any]:
    """One anonymous GET; never raises for network conditions, only reports them."""
    try:
        sock = _connect(host, spec["port"], timeout)
    except ConnectionRefusedError:
        return _outcome(spec, host, "refused", True, message="connection refused")
    except socket.timeout:
        return _outcome(spec, host, "timeout", True, message="no answer within %gs (filtered?)" % timeout)
    except socket.gaierror as exc:
        return _outcome(spec, host, "error", None, message="cannot resolve %s: %s" % (host, exc))
    except OSError as exc:
        if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return _outcome(spec, host, "unreachable", None, message=str(exc))
        return _outcome(spec, host, "error", None, message=str(exc))
    try:
        if spec["scheme"] == "https":
            try:
                sock = _tls_context().wrap_socket(sock, server_hostname=host)
            except (ssl.SSLError, OSError) as exc:
                return _outcome(spec, host, "tls_error", True, message="TLS handshake failed: %s" % exc)
        conn = http.client.HTTPConnection(host, spec["port"], timeout=timeout)
        conn.sock = sock
        try:
            conn.request("GET", spec["path"], headers={"User-Agent": "kubefort-port-probe", "Accept": "*/*"})
            response = conn.getresponse()
            response.read(65536)
        except socket.timeout:
            return _outcome(spec, host, "timeout", True, message="connected, but no HTTP answer within %gs" % timeout)
        except (ConnectionResetError, http.client.RemoteDisconnected, ssl.SSLError) as exc:
            return _outcome(spec, host, "reset", True, message="connection closed without an answer: %s" % exc)
        except (http.client.HTTPException, OSError) as exc:
            return _outcome(spec, host, "error", None, message="no valid HTTP answer: %s" % exc)
        denied = response.status in DENYING_STATUSES
        return _outcome(spec, host, "http", denied, status=response.status,
                        message="HTTP %d %s" % (response.status, response.reason))
    finally:
        sock.close()


def run_probes(host: str, specs: t.Iterable[t.Mapping[str, t.Any]], timeout: float = 3.0) -> t.List[t.Dict[str, t.Any]]:
    """Every probe against one host; all definitions are checked before the first connection."""
    checked = [normalize_spec(spec) for spec in specs]
    return [probe(host, spec, timeout) for spec in checked]


def default_specs(include_health: bool) -> t.List[t.Dict[str, t.Any]]:
    return [dict(s) for s in ANONYMOUS_PROBES + (HEALTH_PROBES if include_health else ())]
