# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Each component's Kubernetes version, and where it came from, from one node_facts snapshot.

Sources, in the order they are taken:

- a static pod's image tag (``registry.k8s.io/kube-apiserver:v1.34.1``, RKE2's
  ``rancher/hardened-kubernetes:v1.34.1-rke2r1-build...``) for the control-plane component it runs;
  etcd's tag is etcd's own version and never counts;
- k3s: the version string in the k3s binary the unit runs (``v1.33.4+k3s1``: every component is in it);
- RKE2: the runtime directory the ``/var/lib/rancher/rke2/bin`` link points to,
  ``data/<runtime image tag>-<12 hex>`` (``v1.34.1-rke2r1-0a1b2c3d4e5f``), else the only such directory;
- microk8s: ``version:`` of ``/snap/microk8s/current/meta/snap.yaml`` (``v1.34.0``);
- the kubelet package in dpkg's ``status`` (``Version: 1.34.1-1.1``) or the rpm sqlite database;
- the version string in the kubelet binary (``/usr/bin/kubelet``, ``/usr/local/bin/kubelet``, or the
  unit's program), read on the node in 4 MiB chunks until it is found, only when no package names it;
- kubespray's download cache ``/tmp/releases/kubelet-<kube_version>-<arch>`` (a file that was
  downloaded, not necessarily the one installed: the weakest source).

EKS: ``/etc/eks/release`` as the amazon-eks-ami provisioners write it holds ``BASE_AMI_ID``,
``BUILD_TIME``, ``BUILD_KERNEL`` and ``ARCH`` and no Kubernetes version, and nodeadm's files hold none
either, so the kubelet binary is the source there.
"""

from __future__ import annotations

import re
import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Rule

SNAP_YAML = "/snap/microk8s/current/meta/snap.yaml"
EKS_RELEASE = "/etc/eks/release"
K3S_DATA = "/var/lib/rancher/k3s/data"
RKE2_DATA = "/var/lib/rancher/rke2/data"
RKE2_BIN_LINK = "/var/lib/rancher/rke2/bin"
KUBESPRAY_RELEASES = "/tmp/releases"
KUBELET_BINARIES = ("/usr/bin/kubelet", "/usr/local/bin/kubelet")
PACKAGES = ("kubelet", "kubeadm")

REQUEST: t.Dict[str, t.Any] = {
    "packages": list(PACKAGES),
    "binaries": list(KUBELET_BINARIES),
    "binary_units": ["kubelet.service", "k3s.service", "k3s-agent.service"],
    "links": [RKE2_BIN_LINK],
    "scan": "if_no_package",
}
READ = (SNAP_YAML,)  # /etc/eks/release names no version (see above): not read
LISTDIRS = (RKE2_DATA, K3S_DATA, KUBESPRAY_RELEASES)

VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")
RKE2_DIR = re.compile(r"^(v\d+\.\d+\.\d+-rke2r\d+)-[0-9a-f]{12}$")
KUBESPRAY_FILE = re.compile(r"^kubelet-v?(\d+\.\d+\.\d+)-[a-z0-9]+$")
SNAP_VERSION = re.compile(r"^version:\s*['\"]?(v?\d+\.\d+\.\d+[^'\"\s]*)['\"]?\s*$", re.M)
CONTROL_PLANE = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
# Named checks whose verdict or fix depends on the version (besides min/max versions and versioned defaults).
VERSIONED_CHECKS = ("apiserver_anonymous",)


def plain(version: t.Optional[str]) -> t.Optional[str]:
    """'1.34.1' from 'v1.34.1+k3s1', '1.34.1-1.1', '1:1.34.1-00'; None when it is not a version."""
    if not version:
        return None
    text = str(version).split(":", 1)[-1] if re.match(r"^\d+:", str(version)) else str(version)
    match = VERSION.match(text)
    return "%s.%s.%s" % match.groups() if match else None


def _key(version: str) -> t.Tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def image_version(image: str) -> t.Optional[str]:
    """The version in a control-plane image tag (``...kube-apiserver:v1.34.1``)."""
    tag = image.rsplit("/", 1)[-1].partition("@")[0]
    return plain(tag.split(":", 1)[1]) if ":" in tag else None


def k3s_version(versions: t.Mapping[str, t.Any]) -> t.Tuple[t.Optional[str], str]:
    for path, found in (versions.get("binaries") or {}).items():
        if found.get("version") and "+k3s" in found["version"]:
            return plain(found["version"]), "k3s %s (version string in %s)" % (found["version"], path)
    return None, ""


def rke2_version(listings: t.Mapping[str, t.Any], versions: t.Mapping[str, t.Any]) -> t.Tuple[t.Optional[str], str]:
    link = (versions.get("links") or {}).get(RKE2_BIN_LINK) or ""
    current = link.rstrip("/").split("/")[-2] if link.rstrip("/").endswith("/bin") else ""
    match = RKE2_DIR.match(current)
    if match:
        return plain(match.group(1)), "RKE2 %s (%s -> %s)" % (match.group(1), RKE2_BIN_LINK, link)
    dirs = [m.group(1) for m in (RKE2_DIR.match(d) for d in listings.get(RKE2_DATA) or []) if m]
    if len(set(dirs)) == 1:
        return plain(dirs[0]), "RKE2 %s (the runtime directory in %s)" % (dirs[0], RKE2_DATA)
    return None, ""


def snap_version(files: t.Mapping[str, t.Any]) -> t.Tuple[t.Optional[str], str]:
    match = SNAP_VERSION.search(str(files.get(SNAP_YAML, {}).get("content") or ""))
    if match:
        line = files[SNAP_YAML]["content"][: match.start()].count("\n") + 1
        return plain(match.group(1)), "microk8s %s (%s:%d)" % (match.group(1), SNAP_YAML, line)
    return None, ""


def package_version(versions: t.Mapping[str, t.Any], name: str) -> t.Tuple[t.Optional[str], str]:
    for kind in ("dpkg", "rpm"):
        database = versions.get(kind) or {}
        found = (database.get("packages") or {}).get(name)
        if found and plain(found.get("version")):
            where = "%s:%s" % (database.get("path"), found["line"]) if found.get("line") else str(database.get("path"))
            return plain(found["version"]), "%s package %s %s (%s)" % (kind, name, found["version"], where)
    return None, ""


def binary_version(versions: t.Mapping[str, t.Any]) -> t.Tuple[t.Optional[str], str]:
    for path, found in (versions.get("binaries") or {}).items():
        if found.get("version") and "+k3s" not in found["version"]:
            return plain(found["version"]), "version string %s in %s" % (found["version"], path)
    return None, ""


def kubespray_version(listings: t.Mapping[str, t.Any]) -> t.Tuple[t.Optional[str], str]:
    found = sorted({m.group(1) for m in (KUBESPRAY_FILE.match(n) for n in listings.get(KUBESPRAY_RELEASES) or []) if m}, key=_key)
    if found:
        return found[-1], "kubespray download %s/kubelet-%s-* (downloaded, not necessarily installed)" % (
            KUBESPRAY_RELEASES, found[-1])
    return None, ""


def kubelet_version(layout: str, snapshot: t.Mapping[str, t.Any]) -> t.Tuple[t.Optional[str], str]:
    """The kubelet's version and its source, in the order of the module docstring."""
    versions = snapshot.get("versions") or {}
    listings = snapshot.get("listings") or {}
    files = snapshot.get("files") or {}
    finders: t.List[t.Callable[[], t.Tuple[t.Optional[str], str]]] = []
    if layout == "k3s":
        finders.append(lambda: k3s_version(versions))
    if layout == "rke2":
        finders.append(lambda: rke2_version(listings, versions))
    if layout == "microk8s":
        finders.append(lambda: snap_version(files))
    finders += [
        lambda: package_version(versions, "kubelet"),
        lambda: binary_version(versions),
        lambda: kubespray_version(listings),
    ]
    for finder in finders:
        version, source = finder()
        if version:
            return version, source
    return None, ""


def unknown_reason(snapshot: t.Mapping[str, t.Any]) -> str:
    """Why no version was found: the places looked at, and what stood in the way."""
    versions = snapshot.get("versions") or {}
    notes = []
    for kind in ("dpkg", "rpm"):
        database = versions.get(kind) or {}
        if database.get("error"):
            notes.append(database["error"])
    for path, found in (versions.get("binaries") or {}).items():
        notes.append(found.get("error") or "no version string in %s" % path)
    looked = ("static pod image tags, the kubelet package (dpkg status, rpm sqlite), the kubelet binary "
              "(%s or the unit's program), k3s/RKE2 data directories and binary, %s, kubespray's %s"
              % (" or ".join(KUBELET_BINARIES), SNAP_YAML, KUBESPRAY_RELEASES))
    return "unknown: nothing found in %s%s" % (looked, ("; " + "; ".join(notes)) if notes else "")


def host_version(components: t.Mapping[str, t.Any]) -> t.Tuple[t.Optional[str], str]:
    """The host's version: the API server's when it runs here, else the kubelet's, else another one's."""
    order = ("kube-apiserver", "kubelet") + tuple(n for n in components if n not in ("kube-apiserver", "kubelet", "etcd"))
    for name in order:
        comp = components.get(name)
        if comp is not None and comp.present and comp.version and comp.version_source and not comp.version_source.startswith("host"):
            return comp.version, "%s: %s" % (name, comp.version_source)
    return None, ""


def version_dependent(rule: Rule) -> bool:
    """Whether the rule's verdict or fix depends on the Kubernetes version."""
    return bool(rule.min_version or rule.max_version or rule.default_from or rule.default_before
                or rule.check.label() in VERSIONED_CHECKS)
