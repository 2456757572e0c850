# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.
"""What the next ``kubeadm upgrade`` writes over a kubeadm node's files: the ClusterConfiguration read, and
the static pod manifests and kubelet configuration rendered from it.

``kubeadm upgrade apply`` (first control-plane node) and ``kubeadm upgrade node`` (the others) render the
static pod manifests of the API server, controller manager, scheduler and local etcd again from the
``ClusterConfiguration`` in ``kube-system/kubeadm-config`` (cmd/kubeadm/app/phases/controlplane/manifests.go,
phases/etcd/local.go): kubeadm's own arguments (paths under ``certificatesDir``, ``Node,RBAC``,
``NodeRestriction``, ``bind-address=127.0.0.1``, ``client-cert-auth=true`` ...) with ``extraArgs``
replacing every argument of the same name (util/arguments.go ``ArgumentsToCommand``), kubeadm's own
host-path volumes plus ``extraVolumes``. ``kubeadm upgrade node`` on every node writes
``/var/lib/kubelet/config.yaml`` from the ``KubeletConfiguration`` in ``kube-system/kubelet-config``
(key ``kubelet``; phases/upgrade/postupgrade.go ``WriteKubeletConfigFiles``); it keeps the file's mode
(``os.WriteFile`` on an existing file) and keeps ``kubeadm-flags.env`` (1.34+ only drops
``--container-runtime-endpoint`` from it), drop-ins and ``/etc/default/kubelet``. New manifests are
written 0600, so file-mode fixes are never undone.

``_kubeadm_upgrade`` judges the node so rendered; ``_kubeadm_config`` reads and patches the two ConfigMaps.

API versions: kubeadm 1.28-1.30 read and write ``kubeadm.k8s.io/v1beta3`` (``extraArgs`` a map); 1.31-1.35
read v1beta3 and v1beta4 and store v1beta4 (``extraArgs`` a list of ``name``/``value``,
kubernetes/kubernetes#125029); 1.36 drops v1beta3 (#136016). A patch keeps the version the ConfigMap holds.
"""

from __future__ import annotations

import copy
import os
import typing as t

import yaml

from ansible_collections.kubefort.hardening.plugins.module_utils._flags import parse_args
from ansible_collections.kubefort.hardening.plugins.plugin_utils._components import Node

NAMESPACE = "kube-system"
KUBEADM_CONFIGMAP = "kubeadm-config"
KUBEADM_KEY = "ClusterConfiguration"
KUBELET_CONFIGMAP = "kubelet-config"
KUBELET_KEY = "kubelet"
KUBELET_CONFIG_FILE = "/var/lib/kubelet/config.yaml"
MANIFEST_DIR = "/etc/kubernetes/manifests"
V1BETA3 = "kubeadm.k8s.io/v1beta3"
V1BETA4 = "kubeadm.k8s.io/v1beta4"
API_VERSIONS = (V1BETA3, V1BETA4)

# Where each control-plane component's settings live in a ClusterConfiguration.
SECTIONS: t.Dict[str, t.Tuple[str, ...]] = {
    "kube-apiserver": ("apiServer",),
    "kube-controller-manager": ("controllerManager",),
    "kube-scheduler": ("scheduler",),
    "etcd": ("etcd", "local"),
}
# Host-path volumes kubeadm adds itself (phases/controlplane/volumes.go, phases/etcd/local.go): kept as
# they are on the node. Every other volume of a manifest exists after an upgrade only through extraVolumes.
KUBEADM_VOLUMES = {"k8s-certs", "ca-certs", "etc-ca-certificates", "etc-pki", "usr-share-ca-certificates",
                   "usr-local-share-ca-certificates", "kubeconfig", "flexvolume-dir", "etcd-data", "etcd-certs"}
# Arguments kubeadm computes from the node itself (its advertise address, its etcd member, whether the CA
# key is on the node) or that changed between releases without a bearing on security: their value after
# an upgrade is the node's own.
NODE_LOCAL: t.Dict[str, t.FrozenSet[str]] = {
    "kube-apiserver": frozenset({"advertise-address", "secure-port", "etcd-servers"}),
    "kube-controller-manager": frozenset({"cluster-signing-cert-file", "cluster-signing-key-file"}),
    "kube-scheduler": frozenset(),
    "etcd": frozenset({"name", "listen-client-urls", "advertise-client-urls", "listen-peer-urls",
                       "initial-advertise-peer-urls", "listen-metrics-urls", "initial-cluster",
                       "initial-cluster-state", "feature-gates", "watch-progress-notify-interval"}),
}


class KubeadmConfigError(ValueError):
    """A ConfigMap's content cannot be used; the message says which and why."""


# --- the ClusterConfiguration ------------------------------------------------------------------------


class ClusterConfiguration:
    """A parsed ClusterConfiguration (v1beta3 or v1beta4) with kubeadm's defaults for what is unset."""

    def __init__(self, text: str, where: str = "kube-system/kubeadm-config") -> None:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise KubeadmConfigError("%s: ClusterConfiguration is not valid YAML: %s" % (where, exc)) from None
        if not isinstance(data, dict) or data.get("kind") != "ClusterConfiguration":
            raise KubeadmConfigError("%s: the %s key holds no ClusterConfiguration" % (where, KUBEADM_KEY))
        if data.get("apiVersion") not in API_VERSIONS:
            raise KubeadmConfigError("%s: ClusterConfiguration apiVersion %r is not one kubeadm 1.28-1.35 reads (%s)"
                                     % (where, data.get("apiVersion"), ", ".join(API_VERSIONS)))
        self.text = text
        self.data: t.Dict[str, t.Any] = data
        self.where = where

    @property
    def api_version(self) -> str:
        return str(self.data["apiVersion"])

    def section(self, component: str, create: bool = False) -> t.Dict[str, t.Any]:
        node = self.data
        for key in SECTIONS[component]:
            if not isinstance(node.get(key), dict):
                if not create:
                    return {}
                node[key] = {}
            node = node[key]
        return node

    def field(self, component: str) -> str:
        """The section's path in words: ``apiServer`` or ``etcd.local``."""
        return ".".join(SECTIONS[component])

    def extra_args(self, component: str) -> t.List[t.Tuple[str, str]]:
        raw = self.section(component).get("extraArgs")
        if isinstance(raw, dict):
            return [(str(k), _arg_text(v)) for k, v in sorted(raw.items())]
        if isinstance(raw, list):
            return [(str(a.get("name")), _arg_text(a.get("value"))) for a in raw if isinstance(a, dict) and a.get("name")]
        return []

    def extra_volumes(self, component: str) -> t.List[t.Dict[str, t.Any]]:
        return [v for v in self.section(component).get("extraVolumes") or [] if isinstance(v, dict)]

    @property
    def certificates_dir(self) -> str:
        return str(self.data.get("certificatesDir") or "/etc/kubernetes/pki")

    @property
    def external_etcd(self) -> t.Optional[t.Dict[str, t.Any]]:
        etcd = self.data.get("etcd") or {}
        return etcd.get("external") if isinstance(etcd.get("external"), dict) else None

    def set_args(self, component: str, values: t.Mapping[str, t.Optional[str]]) -> None:
        """Set (or, with None, drop) extraArgs in this version's shape: a map (v1beta3), a name/value list (v1beta4)."""
        section = self.section(component, create=True)
        raw = section.get("extraArgs")
        if self.api_version == V1BETA3:
            args = dict(raw) if isinstance(raw, dict) else {}
            for name, value in values.items():
                if value is None:
                    args.pop(name, None)
                else:
                    args[name] = value
        else:
            args = [a for a in (raw if isinstance(raw, list) else []) if not (isinstance(a, dict) and a.get("name") in values)]
            args.extend({"name": name, "value": value} for name, value in values.items() if value is not None)
        if args:
            section["extraArgs"] = args
        else:
            section.pop("extraArgs", None)

    def add_volumes(self, component: str, volumes: t.Sequence[t.Mapping[str, t.Any]]) -> None:
        section = self.section(component, create=True)
        existing = [v for v in section.get("extraVolumes") or [] if isinstance(v, dict)]
        for volume in volumes:
            if not any(v.get("mountPath") == volume["mountPath"] for v in existing):
                existing.append(dict(volume))
        section["extraVolumes"] = existing

    def dump(self) -> str:
        # kubeadm marshals through JSON into YAML: keys sorted, block style.
        return yaml.safe_dump(self.data, default_flow_style=False, sort_keys=True)


def _arg_text(value: t.Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def kubeadm_minor(node: Node) -> t.Optional[t.Tuple[int, int]]:
    comp = node.components.get("kube-apiserver") or node.components.get("kubelet")
    try:
        parts = str(comp.version if comp else node.kubernetes_version).lstrip("v").split(".")
        return int(parts[0]), int(parts[1])
    except (ValueError, IndexError, AttributeError):
        return None


def default_args(component: str, cc: ClusterConfiguration, version: t.Optional[t.Tuple[int, int]]) -> t.List[t.Tuple[str, str]]:
    """The arguments kubeadm gives a component before extraArgs (without the node-local ones)."""
    pki = cc.certificates_dir
    join = os.path.join
    networking = cc.data.get("networking") or {}
    if component == "kube-apiserver":
        args = [
            ("enable-admission-plugins", "NodeRestriction"),
            ("service-cluster-ip-range", str(networking.get("serviceSubnet") or "10.96.0.0/12")),
            ("service-account-key-file", join(pki, "sa.pub")),
            ("service-account-signing-key-file", join(pki, "sa.key")),
            ("service-account-issuer", "https://kubernetes.default.svc.%s" % (networking.get("dnsDomain") or "cluster.local")),
            ("client-ca-file", join(pki, "ca.crt")),
            ("tls-cert-file", join(pki, "apiserver.crt")),
            ("tls-private-key-file", join(pki, "apiserver.key")),
            ("kubelet-client-certificate", join(pki, "apiserver-kubelet-client.crt")),
            ("kubelet-client-key", join(pki, "apiserver-kubelet-client.key")),
            ("enable-bootstrap-token-auth", "true"),
            ("allow-privileged", "true"),
            ("kubelet-preferred-address-types", "InternalIP,ExternalIP,Hostname"),
            ("requestheader-username-headers", "X-Remote-User"),
            ("requestheader-group-headers", "X-Remote-Group"),
            ("requestheader-extra-headers-prefix", "X-Remote-Extra-"),
            ("requestheader-client-ca-file", join(pki, "front-proxy-ca.crt")),
            ("requestheader-allowed-names", "front-proxy-client"),
            ("proxy-client-cert-file", join(pki, "front-proxy-client.crt")),
            ("proxy-client-key-file", join(pki, "front-proxy-client.key")),
        ]
        external = cc.external_etcd
        if external is not None:
            args.append(("etcd-servers", ",".join(str(e) for e in external.get("endpoints") or [])))
            if external.get("caFile"):
                args.append(("etcd-cafile", str(external["caFile"])))
            if external.get("certFile") and external.get("keyFile"):
                args += [("etcd-certfile", str(external["certFile"])), ("etcd-keyfile", str(external["keyFile"]))]
        else:
            args += [("etcd-cafile", join(pki, "etcd", "ca.crt")),
                     ("etcd-certfile", join(pki, "apiserver-etcd-client.crt")),
                     ("etcd-keyfile", join(pki, "apiserver-etcd-client.key"))]
        names = {n for n, _v in cc.extra_args(component)}
        # kubeadm 1.30+ leaves --authorization-mode out when extraArgs give --authorization-config
        # (kubernetes/kubernetes#123654); before, it always wrote Node,RBAC (the API server then refuses both).
        if not ("authorization-config" in names and version is not None and version >= (1, 30)):
            args.append(("authorization-mode", "Node,RBAC"))
        return args
    if component == "kube-controller-manager":
        kubeconfig = "/etc/kubernetes/controller-manager.conf"
        args = [
            ("bind-address", "127.0.0.1"), ("leader-elect", "true"), ("kubeconfig", kubeconfig),
            ("authentication-kubeconfig", kubeconfig), ("authorization-kubeconfig", kubeconfig),
            ("client-ca-file", join(pki, "ca.crt")), ("requestheader-client-ca-file", join(pki, "front-proxy-ca.crt")),
            ("root-ca-file", join(pki, "ca.crt")), ("service-account-private-key-file", join(pki, "sa.key")),
            ("use-service-account-credentials", "true"), ("controllers", "*,bootstrapsigner,tokencleaner"),
        ]
        if networking.get("podSubnet"):
            args += [("allocate-node-cidrs", "true"), ("cluster-cidr", str(networking["podSubnet"]))]
            if networking.get("serviceSubnet"):
                args.append(("service-cluster-ip-range", str(networking["serviceSubnet"])))
        if cc.data.get("clusterName"):
            args.append(("cluster-name", str(cc.data["clusterName"])))
        return args
    if component == "kube-scheduler":
        kubeconfig = "/etc/kubernetes/scheduler.conf"
        return [("bind-address", "127.0.0.1"), ("leader-elect", "true"), ("kubeconfig", kubeconfig),
                ("authentication-kubeconfig", kubeconfig), ("authorization-kubeconfig", kubeconfig)]
    etcd = (cc.data.get("etcd") or {}).get("local") or {}
    return [
        ("data-dir", str(etcd.get("dataDir") or "/var/lib/etcd")),
        ("cert-file", join(pki, "etcd", "server.crt")), ("key-file", join(pki, "etcd", "server.key")),
        ("trusted-ca-file", join(pki, "etcd", "ca.crt")), ("client-cert-auth", "true"),
        ("peer-cert-file", join(pki, "etcd", "peer.crt")), ("peer-key-file", join(pki, "etcd", "peer.key")),
        ("peer-trusted-ca-file", join(pki, "etcd", "ca.crt")), ("peer-client-cert-auth", "true"),
        ("snapshot-count", "10000"),
    ]


def render_command(component: str, cc: ClusterConfiguration, current: t.Sequence[str],
                   version: t.Optional[t.Tuple[int, int]]) -> t.List[str]:
    """The command kubeadm writes into the component's manifest at the next upgrade.

    ``current`` is the manifest's command now: node-local arguments keep their value from it.
    """
    flags = parse_args(component, list(current[1:]))
    base = list(default_args(component, cc, version))
    for name in sorted(NODE_LOCAL[component]):
        if flags.has(name):
            base.append((name, str(flags.value(name))))
    overrides = cc.extra_args(component)
    if component == "kube-apiserver" and (version is None or version < (1, 31)):
        # kubeadm before 1.31 (extraArgs a map internally) wrote back only the mode names it knows.
        overrides = [(n, _known_modes(v) if n == "authorization-mode" else v) for n, v in overrides]
    names = {n for n, _v in overrides}
    args = list(overrides) + [(n, v) for n, v in base if n not in names]
    args.sort()
    return [current[0] if current else component] + ["--%s=%s" % (n, v) for n, v in args]


AUTHZ_MODES = ("Node", "RBAC", "Webhook", "ABAC", "AlwaysAllow", "AlwaysDeny")


def _known_modes(value: str) -> str:
    known = [m for m in value.split(",") if m in AUTHZ_MODES]
    return ",".join(known) if known else "Node,RBAC"


# --- the manifests and kubelet configuration an upgrade writes ---------------------------------------


def _rendered_manifest(node: Node, component: str, cc: ClusterConfiguration, version: t.Optional[t.Tuple[int, int]]) -> t.Optional[str]:
    comp = node.components.get(component)
    if comp is None or not comp.present or comp.manifest is None or comp.manifest.key != "command":
        return None
    data = copy.deepcopy(comp.manifest.data)
    spec = data["spec"]
    container = spec["containers"][comp.manifest.container]
    container["command"] = render_command(component, cc, comp.manifest.words, version)
    kept = [v for v in spec.get("volumes") or [] if isinstance(v, dict) and v.get("name") in KUBEADM_VOLUMES]
    mounts = [m for m in container.get("volumeMounts") or [] if isinstance(m, dict) and m.get("name") in KUBEADM_VOLUMES]
    for extra in cc.extra_volumes(component) if component != "etcd" else []:
        host = {"path": extra.get("hostPath")}
        if extra.get("pathType"):
            host["type"] = extra["pathType"]
        kept.append({"name": extra.get("name"), "hostPath": host})
        mounts.append({"name": extra.get("name"), "mountPath": extra.get("mountPath"), "readOnly": bool(extra.get("readOnly"))})
    spec["volumes"] = kept
    container["volumeMounts"] = mounts
    if component == "kube-apiserver":
        _apiserver_probes(container)
    return yaml.safe_dump(data, default_flow_style=False, sort_keys=True)


def _apiserver_probes(container: t.Dict[str, t.Any]) -> None:
    """kubeadm's own probes (manifests.go): HTTPS httpGet on /livez (liveness, startup) and /readyz
    (readiness) at the advertise address and secure port, without credentials. A probe changed by hand (or by
    kubefort_apiserver_probes_tcp) comes back as such; its timings are kept."""
    flags = parse_args("kube-apiserver", list(container.get("command") or [])[1:])
    host = str(flags.value("advertise-address") or "127.0.0.1") if flags.has("advertise-address") else "127.0.0.1"
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    port = int(str(flags.value("secure-port") or "6443")) if flags.has("secure-port") else 6443
    for key, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz"), ("startupProbe", "/livez")):
        probe = {k: v for k, v in (container.get(key) or {}).items() if k not in ("httpGet", "tcpSocket", "exec", "grpc")}
        probe["httpGet"] = {"host": host, "path": path, "port": port, "scheme": "HTTPS"}
        container[key] = probe


def upgraded_files(node: Node, files: t.Dict[str, t.Dict[str, t.Any]], cc: t.Optional[ClusterConfiguration],
                   kubelet_text: t.Optional[str]) -> t.Dict[str, t.Dict[str, t.Any]]:
    """``files`` (the node after this run's fixes) with what the next kubeadm upgrade writes."""
    out = dict(files)
    version = kubeadm_minor(node)
    if cc is not None:
        for component in SECTIONS:
            comp = node.components.get(component)
            if comp is None or comp.manifest is None or os.path.dirname(comp.manifest.path) != MANIFEST_DIR:
                continue
            if component == "etcd" and cc.external_etcd is not None:
                continue
            text = _rendered_manifest(node, component, cc, version)
            if text is not None:
                out[comp.manifest.path] = dict(files.get(comp.manifest.path) or {}, type="file", content=text, mode="0600")
    kubelet = node.components.get("kubelet")
    if kubelet_text is not None and kubelet is not None and kubelet.config_path == KUBELET_CONFIG_FILE and not kubelet.flag_defaults:
        out[KUBELET_CONFIG_FILE] = dict(files.get(KUBELET_CONFIG_FILE) or {"type": "file", "mode": "0644"}, type="file", content=kubelet_text)
    return out
