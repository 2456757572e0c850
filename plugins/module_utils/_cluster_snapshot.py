# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Read and write cluster policy objects through the Kubernetes API with the ``kubernetes`` client.

One list call per kind (through the client's REST layer, with its configuration and authentication)
builds the snapshot ``_cluster_policy`` evaluates. A kind whose API group is not
served (404) or that the user may not list (403) is recorded in ``snapshot["missing"]`` and the rules
reading it report an error; an expired token (401) or an unreachable server stops the run with a
``ClusterAPIError`` whose message says what to do. Tokens never appear in messages.
"""

from __future__ import annotations

import json
import traceback
import typing as t
from urllib.parse import quote, urlencode

from ansible_collections.kubefort.hardening.plugins.module_utils import _errors
from ansible_collections.kubefort.hardening.plugins.module_utils._cluster_policy import (
    KINDS,
    Action,
    empty_snapshot,
)

try:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException
    from urllib3.exceptions import HTTPError as Urllib3HTTPError
except ImportError:
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR: t.Optional[str] = traceback.format_exc()

    class ApiException(Exception):  # type: ignore[no-redef]
        status = 0

    class ConfigException(Exception):  # type: ignore[no-redef]
        pass

    class Urllib3HTTPError(Exception):  # type: ignore[no-redef]
        pass
else:
    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None

MERGE_PATCH = "application/merge-patch+json"

# How a module reaches the API server (kubefort.hardening.cluster_policy; the report's ClusterPolicyReports
# written through the API): the argument specs of the connection options, the same in both.
CONNECTION_OPTIONS: t.Dict[str, t.Dict[str, t.Any]] = {
    "kubeconfig": {"type": "path"},
    "context": {"type": "str"},
    "in_cluster": {"type": "bool", "default": False},
    "host": {"type": "str"},
    "api_key": {"type": "str", "no_log": True},
    "ca_cert": {"type": "path"},
    "validate_certs": {"type": "bool", "default": True},
    "request_timeout": {"type": "float", "default": 20},
}


def connection_options(**more: t.Dict[str, t.Any]) -> t.Dict[str, t.Dict[str, t.Any]]:
    """A fresh copy of the connection options' argument specs, with ``more`` options."""
    options = {name: dict(spec) for name, spec in CONNECTION_OPTIONS.items()}
    options.update(more)
    return options


def api_path(kind: str, namespace: t.Optional[str] = None, name: t.Optional[str] = None) -> str:
    """The REST path of a kind (all namespaces when no namespace), or of one object."""
    group_version, plural, namespaced = KINDS[kind]
    path = "/api/v1" if group_version == "v1" else "/apis/" + group_version
    if namespaced and namespace:
        path += "/namespaces/" + quote(namespace, safe="")
    path += "/" + plural
    return path + "/" + quote(name, safe="") if name else path


class HTTPStatusError(Exception):
    """A non-2xx answer of the API server."""

    def __init__(self, status: int, reason: str, body: t.Any) -> None:
        super().__init__("%s %s" % (status, reason))
        self.status, self.reason, self.body = status, reason, body


class ClusterAPIError(_errors.APIError):
    """The cluster cannot be audited at all (configuration, authentication, connection)."""


class ClusterConfigError(ClusterAPIError):
    pass


class ClusterAuthError(ClusterAPIError):
    pass


class ClusterUnreachableError(ClusterAPIError):
    pass


class Redactor:
    """Removes every secret it was told about from text (tokens, passwords)."""

    def __init__(self) -> None:
        self.secrets: t.Set[str] = set()

    def add(self, value: t.Any) -> None:
        if isinstance(value, str) and len(value) >= 4:
            self.secrets.add(value)
            if value.lower().startswith("bearer "):
                self.secrets.add(value[len("bearer "):])

    def __call__(self, text: t.Any) -> str:
        text = str(text)
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "********")
        return text


class ClusterConnection:
    """An API client built from a kubeconfig (and context), the in-cluster config, or host and token."""

    def __init__(self, auth: t.Mapping[str, t.Any], timeout: float = 20.0) -> None:
        if not HAS_KUBERNETES:
            raise ClusterConfigError(
                "the Python 'kubernetes' package is needed on the controller to read a live cluster: "
                "pip install kubernetes (or audit a saved dump with snapshot_files)"
            )
        self.timeout = timeout
        self.redact = Redactor()
        self.redact.add(auth.get("api_key"))
        self.client = self._build(auth)

    def _build(self, auth: t.Mapping[str, t.Any]) -> t.Any:
        configuration = k8s_client.Configuration()
        try:
            if auth.get("in_cluster"):
                k8s_config.load_incluster_config(client_configuration=configuration)
            elif auth.get("kubeconfig") or not auth.get("host"):
                k8s_config.load_kube_config(
                    config_file=auth.get("kubeconfig"),
                    context=auth.get("context") or None,
                    client_configuration=configuration,
                    persist_config=False,
                )
        except (ConfigException, OSError, ValueError, TypeError, KeyError) as exc:
            where = "the in-cluster service account" if auth.get("in_cluster") else "kubeconfig %s" % (
                auth.get("kubeconfig") or "(default location)")
            raise ClusterConfigError(
                "could not load %s: %s. Check the file and the context name, or pass host and api_key."
                % (where, self.redact(exc))
            ) from None
        if auth.get("host"):
            configuration.host = auth["host"]
        if auth.get("api_key"):
            configuration.api_key = {"authorization": "Bearer " + auth["api_key"]}
        for key in ("ca_cert", "client_cert", "client_key"):
            if auth.get(key):
                setattr(configuration, {"ca_cert": "ssl_ca_cert", "client_cert": "cert_file", "client_key": "key_file"}[key],
                        auth[key])
        if auth.get("validate_certs") is False:
            configuration.verify_ssl = False
        configuration.retries = False  # one attempt per call: a timeout is reported after `timeout` seconds
        for value in (configuration.api_key or {}).values():
            self.redact.add(value)
        return k8s_client.ApiClient(configuration=configuration)

    def _request(self, method: str, path: str, query: t.Optional[t.Dict[str, str]] = None,
                 body: t.Any = None, content_type: str = "application/json") -> t.Any:
        """One call through the client's REST layer (its TLS, proxy and auth settings, token refresh hooks).

        The generated typed API would validate every call's arguments with pydantic first, which costs
        about two seconds of CPU per run for the handful of calls made here.
        """
        configuration = self.client.configuration
        headers = dict(self.client.default_headers, Accept="application/json")
        if body is not None:
            headers["Content-Type"] = content_type
        for setting in configuration.auth_settings().values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[setting["key"]] = setting["value"]
        url = configuration.host.rstrip("/") + path + ("?" + urlencode(query) if query else "")
        response = self.client.rest_client.request(method, url, headers=headers, body=body,
                                                   _request_timeout=self.timeout)
        data = getattr(response, "data", None)
        if data is None and callable(getattr(response, "read", None)):
            data = response.read()
        if not 200 <= response.status <= 299:
            raise HTTPStatusError(response.status, response.reason or "", data)
        return json.loads(data) if data else {}

    def _describe(self, exc: t.Any) -> str:
        reason = "%s %s" % (exc.status, exc.reason or "")
        try:
            message = json.loads(exc.body).get("message")
        except (TypeError, ValueError, AttributeError):
            message = None
        return self.redact("%s: %s" % (reason.strip(), message) if message else reason.strip())

    def _fatal(self, exc: BaseException) -> t.Optional[ClusterAPIError]:
        """The error that stops the run, or None when only this call failed."""
        if isinstance(exc, (ApiException, HTTPStatusError)) and exc.status == 401:
            return ClusterAuthError(
                "the API server at %s refused the credentials (401 Unauthorized): the token has expired or is "
                "invalid. Renew it (log in again, or refresh the kubeconfig) and run again."
                % self.client.configuration.host
            )
        if isinstance(exc, ApiException) and exc.status == 0:
            exc = Urllib3HTTPError(exc.reason)
        if isinstance(exc, (Urllib3HTTPError, OSError)) and ("SSL" in str(exc) or "certificate" in str(exc)):
            return ClusterUnreachableError(
                "TLS with the API server at %s failed (%s). Check the CA (ca_cert, or certificate-authority in the "
                "kubeconfig) and the server name." % (self.client.configuration.host, self.redact(exc))
            )
        if isinstance(exc, (Urllib3HTTPError, OSError)):
            return ClusterUnreachableError(
                "the API server at %s did not answer within %s s (%s). Check that it is reachable from this host, "
                "or raise the request timeout." % (self.client.configuration.host, self.timeout, self.redact(
                    type(exc).__name__ + ": " + str(exc)))
            )
        return None

    def snapshot(self) -> t.Dict[str, t.Any]:
        """One list call per kind; kinds that cannot be read are recorded with the reason."""
        snap = empty_snapshot("API %s" % self.client.configuration.host)
        for kind in KINDS:
            try:
                body = self._request("GET", api_path(kind))
            except (HTTPStatusError, ApiException, Urllib3HTTPError, OSError) as exc:
                fatal = self._fatal(exc)
                if fatal is not None:
                    raise fatal from None
                gv = KINDS[kind][0]
                if exc.status == 404:
                    snap["missing"][kind] = "API group/version %s is not served by this cluster (404)" % gv
                elif exc.status == 403:
                    snap["missing"][kind] = "forbidden: %s. Grant this user list on %s" % (
                        self._describe(exc), KINDS[kind][1])
                else:
                    snap["missing"][kind] = self._describe(exc)
                continue
            snap["kinds"][kind] = [dict(item, kind=kind) for item in body.get("items") or []]
        return snap

    def create_or_update(self, collection: str, name: str, body: t.Mapping[str, t.Any]) -> str:
        """Create the object under its collection path (e.g. /apis/G/V/plural), or merge-patch it when it
        exists (lists in it are replaced). Returns 'created' or 'updated'; raises ClusterAPIError."""
        try:
            try:
                self._request("POST", collection, None, body)
                return "created"
            except HTTPStatusError as exc:
                if exc.status != 409:
                    raise
            self._request("PATCH", collection + "/" + quote(name, safe=""), None, body, MERGE_PATCH)
            return "updated"
        except (HTTPStatusError, ApiException, Urllib3HTTPError, OSError) as exc:
            fatal = self._fatal(exc)
            if fatal is not None:
                raise fatal from None
            raise ClusterAPIError("%s %s: %s" % (collection, name, self._describe(exc))) from None

    def apply(self, action: Action, dry_run: bool) -> t.Optional[str]:
        """Send one write (server-side dry run in check mode). None when it worked, else the error.

        Raises ClusterAPIError when the server is gone or the token expired: later writes would fail too.
        """
        query = {"dryRun": "All"} if dry_run else None
        try:
            if action.method == "POST":
                self._request("POST", api_path(action.kind, action.namespace), query, action.body)
            else:
                body = action.body if action.method == "PATCH" else None
                self._request(action.method, api_path(action.kind, action.namespace, action.name), query, body,
                              MERGE_PATCH)
        except (HTTPStatusError, ApiException, Urllib3HTTPError, OSError) as exc:
            fatal = self._fatal(exc)
            if fatal is not None:
                raise fatal from None
            if exc.status == 409:
                return "%s; the object changed since it was read: run again" % self._describe(exc)
            return self._describe(exc)
        return None
