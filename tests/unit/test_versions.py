"""Every node's Kubernetes version, offline: each source as the installer writes it, their precedence, unknown."""

from __future__ import annotations

import lzma
import os
import shutil
import sqlite3
import struct
import typing as t

import pytest

from kubefort_testlib import call_module_factory

from ansible_collections.kubefort.hardening.plugins.module_utils import _versions as node_versions
from ansible_collections.kubefort.hardening.plugins.module_utils._nodefs import NodeFS
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _versions
from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options
from ansible_collections.kubefort.hardening.plugins.plugin_utils._harden import discover, run, select_rules

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(REPO, "tests", "fixtures", "nodes")
ALL = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kubelet", "kube-proxy"]

# /var/lib/dpkg/status as dpkg writes it after `apt-get install kubelet kubeadm` from pkgs.k8s.io, with a
# removed package left as config-files (its stanza must not count).
DPKG_STATUS = """\
Package: kubectl
Status: deinstall ok config-files
Priority: optional
Section: misc
Installed-Size: 49000
Maintainer: Kubernetes Authors <dev@kubernetes.io>
Architecture: amd64
Version: 1.30.0-1.1
Description: Command-line utility for interacting with a Kubernetes cluster
 Command-line utility for interacting with a Kubernetes cluster.
Homepage: https://kubernetes.io

Package: kubelet
Status: install ok installed
Priority: optional
Section: misc
Installed-Size: 78000
Maintainer: Kubernetes Authors <dev@kubernetes.io>
Architecture: amd64
Version: 1.34.1-1.1
Depends: iptables (>= 1.4.21), kubernetes-cni (>= 1.1.1), iproute2, socat, util-linux, mount, ebtables, ethtool, conntrack
Description: Node agent for Kubernetes clusters
 The node agent of Kubernetes, the container cluster manager.
Homepage: https://kubernetes.io

Package: kubeadm
Status: install ok installed
Priority: optional
Section: misc
Installed-Size: 70000
Maintainer: Kubernetes Authors <dev@kubernetes.io>
Architecture: amd64
Version: 1.34.1-1.1
Depends: cri-tools (>= 1.25.0)
Description: Command-line utility for administering a Kubernetes cluster
 Command-line utility for administering a Kubernetes cluster.
Homepage: https://kubernetes.io
"""
# /etc/eks/release as amazon-eks-ami's provisioners write it: no Kubernetes version in it.
EKS_RELEASE = 'BASE_AMI_ID="ami-0123456789abcdef0"\nBUILD_TIME="Tue Sep 30 18:21:05 UTC 2025"\nBUILD_KERNEL="5.10.240-238.955.amzn2.x86_64"\nARCH="x86_64"\n'
SNAP_YAML = "name: microk8s\nversion: v1.34.0\nsummary: Kubernetes for workstations and appliances\ngrade: stable\nconfinement: classic\n"


def _write(root: str, path: str, data: t.Union[str, bytes], mode: int = 0o644) -> None:
    host = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(host), exist_ok=True)
    with open(host, "wb") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
    os.chmod(host, mode)


def _go_binary(version: str, pad: int = 0) -> bytes:
    """A stand-in for a Go binary: build info with tab-delimited dependency versions, then the NUL-delimited
    version string the release build sets with -X (as found in the real kubelet, see test_real_kubelet)."""
    modinfo = b"path\tk8s.io/kubernetes/cmd/kubelet\nmod\tk8s.io/kubernetes\t(devel)\t\ndep\tgithub.com/x/y\tv1.56.3\t\n"
    return b"\x7fELF" + b"\x01" * pad + modinfo + b"\x00\x00v" + version.encode() + b"\x00v" + version.encode() + b"\x00go1.24.6\x00"


def _versions_of(root: str) -> t.Dict[str, t.Any]:
    snapshot, _trips, node = discover(call_module_factory(check=True), root)
    return {"snapshot": snapshot, "node": node}


def _kubeadm_worker(tmp_path: t.Any) -> str:
    """A kubeadm worker (copied from the kubespray fixture's kubelet files is not needed: the unit is enough)."""
    root = str(tmp_path / "node")
    _write(root, "/var/lib/kubelet/kubeadm-flags.env", 'KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///run/containerd/containerd.sock"\n')
    _write(root, "/var/lib/kubelet/config.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n")
    _write(root, "/usr/lib/systemd/system/kubelet.service", "[Service]\nExecStart=/usr/bin/kubelet\n")
    return root


# --- each source ----------------------------------------------------------------------------------------


def test_dpkg_status_as_dpkg_writes_it(tmp_path: t.Any) -> None:
    root = _kubeadm_worker(tmp_path)
    _write(root, "/var/lib/dpkg/status", DPKG_STATUS)
    _write(root, "/usr/bin/kubelet", _go_binary("1.99.0"), 0o755)
    found = _versions_of(root)
    node = found["node"]
    assert node.components["kubelet"].version == "1.34.1"
    assert node.components["kubelet"].version_source == "dpkg package kubelet 1.34.1-1.1 (/var/lib/dpkg/status:13)"
    packages = found["snapshot"]["versions"]["dpkg"]["packages"]
    assert set(packages) == {"kubelet", "kubeadm"}  # kubectl is deinstalled
    # The package answered: the ~100 MB binary is not read.
    assert found["snapshot"]["versions"]["binaries"] == {}
    assert node.kubernetes_version == "1.34.1"


def test_binary_version_string_when_no_package(tmp_path: t.Any) -> None:
    root = _kubeadm_worker(tmp_path)
    _write(root, "/usr/bin/kubelet", _go_binary("1.35.0"), 0o755)
    node = _versions_of(root)["node"]
    assert node.components["kubelet"].version == "1.35.0"
    assert node.components["kubelet"].version_source == "version string v1.35.0 in /usr/bin/kubelet"


def test_binary_scan_finds_a_version_across_a_chunk_boundary(tmp_path: t.Any) -> None:
    offset = _go_binary("1.33.2").index(b"v1.33.2")
    data = _go_binary("1.33.2", pad=node_versions.CHUNK - offset - 3)
    start = data.index(b"v1.33.2")
    assert start < node_versions.CHUNK < start + 7  # the string straddles the first chunk's end
    _write(str(tmp_path), "/bin/kubelet", data)
    found = node_versions.binary_version(NodeFS(str(tmp_path)), "/bin/kubelet")
    assert found["version"] == "v1.33.2" and found["offset"] == start


def test_binary_without_version_string_and_dependency_versions_only(tmp_path: t.Any) -> None:
    _write(str(tmp_path), "/bin/kubelet", b"\x7fELF dep\tgithub.com/a/b\tv1.31.0\t\n\x00v1.x\x00")
    found = node_versions.binary_version(NodeFS(str(tmp_path)), "/bin/kubelet")
    assert "version" not in found and found["scanned"] > 0


def _real_kubelet_xz() -> t.Optional[str]:
    for base in (os.environ.get("KUBEFORT_K8S_BINARIES", ""), os.path.join(REPO, "..", "shared", "k8s"),
                 os.path.join(REPO, "..", "..", "shared", "k8s")):
        path = os.path.join(base, "v1.28.7", "kubelet.xz")
        if base and os.path.isfile(path):
            return path
    return None


@pytest.mark.skipif(_real_kubelet_xz() is None, reason="the real kubelet v1.28.7 (shared/k8s) is not on this machine")
def test_real_kubelet_v1_28_7_binary(tmp_path: t.Any) -> None:
    target = tmp_path / "usr" / "bin" / "kubelet"
    target.parent.mkdir(parents=True)
    with lzma.open(t.cast(str, _real_kubelet_xz())) as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    found = node_versions.binary_version(NodeFS(str(tmp_path)), "/usr/bin/kubelet")
    assert found["version"] == "v1.28.7"
    # Stopped at the chunk holding it (about half way into the 70 MB file), not at the end.
    assert found["scanned"] < found["size"]


def test_k3s_version_from_its_binary(tmp_path: t.Any) -> None:
    root = str(tmp_path / "k3s")
    shutil.copytree(os.path.join(FIXTURES, "k3s"), root, symlinks=True)
    _write(root, "/usr/local/bin/k3s", _go_binary("1.33.4+k3s1"), 0o755)
    node = _versions_of(root)["node"]
    assert node.layout == "k3s"
    assert node.kubernetes_version == "1.33.4"
    for name in ("kube-apiserver", "kubelet"):
        assert node.components[name].version_source == "k3s v1.33.4+k3s1 (version string in /usr/local/bin/k3s)"


def test_k3s_data_dir_names_carry_no_version(tmp_path: t.Any) -> None:
    # k3s names its data directories by content hash (cmd/k3s/main.go): no version from the listing.
    listings = {_versions.K3S_DATA: ["0c1e9a4d9c2b0e2f8f3b1b8e7d6c5a4b3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c", "current"]}
    assert _versions.kubelet_version("k3s", {"listings": listings, "versions": {}}) == (None, "")


@pytest.mark.parametrize("entries,link,expected", [
    (["v1.34.1-rke2r1-0a1b2c3d4e5f", "v1.33.5-rke2r1-112233445566"], "/var/lib/rancher/rke2/data/v1.34.1-rke2r1-0a1b2c3d4e5f/bin",
     ("1.34.1", "RKE2 v1.34.1-rke2r1 (/var/lib/rancher/rke2/bin -> /var/lib/rancher/rke2/data/v1.34.1-rke2r1-0a1b2c3d4e5f/bin)")),
    (["v1.35.0-rke2r1-abcdefabcdef"], None, ("1.35.0", "RKE2 v1.35.0-rke2r1 (the runtime directory in /var/lib/rancher/rke2/data)")),
    # Two runtimes and no link: which one runs is not known.
    (["v1.34.1-rke2r1-0a1b2c3d4e5f", "v1.33.5-rke2r1-112233445566"], None, (None, "")),
])
def test_rke2_data_dir_names(entries: t.List[str], link: t.Optional[str], expected: t.Tuple[t.Optional[str], str]) -> None:
    snapshot = {"listings": {_versions.RKE2_DATA: entries}, "versions": {"links": {_versions.RKE2_BIN_LINK: link}}}
    assert _versions.kubelet_version("rke2", snapshot) == expected


def test_rke2_runtime_link_on_an_offline_tree(tmp_path: t.Any) -> None:
    root = str(tmp_path / "rke2")
    shutil.copytree(os.path.join(FIXTURES, "rke2"), root, symlinks=True)
    runtime = "/var/lib/rancher/rke2/data/v1.34.1-rke2r1-0a1b2c3d4e5f"
    _write(root, runtime + "/bin/kubelet", b"x")
    os.symlink(runtime + "/bin", os.path.join(root, "var/lib/rancher/rke2/bin"))
    node = _versions_of(root)["node"]
    assert node.components["kubelet"].version == "1.34.1"
    assert node.components["kubelet"].version_source.startswith("RKE2 v1.34.1-rke2r1 (/var/lib/rancher/rke2/bin -> ")
    # The control plane keeps its own image tags (the fixture's manifests are 1.31.4).
    assert node.components["kube-apiserver"].version == "1.31.4"
    assert node.kubernetes_version == "1.31.4"


def test_microk8s_snap_yaml(tmp_path: t.Any) -> None:
    root = str(tmp_path / "microk8s")
    shutil.copytree(os.path.join(FIXTURES, "microk8s"), root, symlinks=True)
    _write(root, _versions.SNAP_YAML, SNAP_YAML)
    node = _versions_of(root)["node"]
    assert node.kubernetes_version == "1.34.0"
    assert node.components["kube-apiserver"].version_source == "microk8s v1.34.0 (/snap/microk8s/current/meta/snap.yaml:2)"


def test_eks_release_has_no_version_and_the_kubelet_binary_answers(tmp_path: t.Any) -> None:
    root = str(tmp_path / "eks")
    shutil.copytree(os.path.join(FIXTURES, "eks-al2023"), root, symlinks=True)
    _write(root, _versions.EKS_RELEASE, EKS_RELEASE)
    assert _versions_of(root)["node"].kubernetes_version is None
    _write(root, "/usr/bin/kubelet", _go_binary("1.34.2-eks-b9e8e3e"), 0o755)
    node = _versions_of(root)["node"]
    assert node.kubernetes_version == "1.34.2"
    assert node.version_source == "kubelet: version string v1.34.2-eks-b9e8e3e in /usr/bin/kubelet"


def test_kubespray_download_cache(tmp_path: t.Any) -> None:
    root = _kubeadm_worker(tmp_path)
    # roles/download: dest "{{ local_release_dir }}/kubelet-{{ kube_version }}-{{ image_arch }}"
    for name in ("kubelet-v1.32.5-amd64", "kubelet-1.33.3-amd64", "kubeadm-1.33.3-amd64"):
        _write(root, "/tmp/releases/" + name, b"x")
    node = _versions_of(root)["node"]
    assert node.components["kubelet"].version == "1.33.3"
    assert "downloaded, not necessarily installed" in node.components["kubelet"].version_source


def _rpm_header(tags: t.Mapping[int, str]) -> bytes:
    """An rpm header blob as rpmdb.sqlite stores it: index count, data size, 16-byte entries, data."""
    index, data = b"", b""
    for tag, value in sorted(tags.items()):
        index += struct.pack(">iiii", tag, 6, len(data), 1)
        data += value.encode() + b"\x00"
    return struct.pack(">II", len(tags), len(data)) + index + data


def test_rpm_sqlite_database(tmp_path: t.Any) -> None:
    root = _kubeadm_worker(tmp_path)
    path = os.path.join(root, "var/lib/rpm/rpmdb.sqlite")
    os.makedirs(os.path.dirname(path))
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
        db.execute("INSERT INTO Packages (blob) VALUES (?)", (_rpm_header({1000: "bash", 1001: "5.1.8", 1002: "9.el9"}),))
        db.execute("INSERT INTO Packages (blob) VALUES (?)", (_rpm_header({1000: "kubelet", 1001: "1.33.4", 1002: "150500.1.1"}),))
    db.close()
    node = _versions_of(root)["node"]
    assert node.components["kubelet"].version == "1.33.4"
    assert node.components["kubelet"].version_source == "rpm package kubelet 1.33.4-150500.1.1 (/var/lib/rpm/rpmdb.sqlite)"


def test_rpm_berkeley_db_is_named_as_unreadable(tmp_path: t.Any) -> None:
    root = _kubeadm_worker(tmp_path)
    _write(root, "/var/lib/rpm/Packages", b"\x00\x06\x15\x61" + b"\x00" * 64)
    found = _versions_of(root)
    assert "Berkeley DB or ndb" in found["snapshot"]["versions"]["rpm"]["error"]
    assert "Berkeley DB or ndb" in found["node"].version_source


# --- precedence and unknown -------------------------------------------------------------------------------


def test_control_plane_image_tags_and_the_kubelet_package_each_count_for_their_component(tmp_path: t.Any) -> None:
    root = str(tmp_path / "kubespray")
    shutil.copytree(os.path.join(FIXTURES, "kubespray"), root, symlinks=True)
    _write(root, "/var/lib/dpkg/status", DPKG_STATUS)
    node = _versions_of(root)["node"]
    assert node.components["kube-apiserver"].version == "1.33.4"
    assert node.components["kubelet"].version == "1.34.1"
    assert node.kubernetes_version == "1.33.4"  # the API server's
    assert node.version_source.startswith("kube-apiserver: image registry.k8s.io/kube-apiserver:v1.33.4 in ")
    # etcd's image tag is etcd's version: etcd takes the host's Kubernetes version.
    assert node.components["etcd"].version == "1.33.4" and node.components["etcd"].version_source.startswith("host version")


@pytest.mark.parametrize("layout,snapshot,expected", [
    # distribution first, then the package database, then the binary, then kubespray's downloads
    ("rke2", {"listings": {_versions.RKE2_DATA: ["v1.34.1-rke2r1-0a1b2c3d4e5f"], _versions.KUBESPRAY_RELEASES: ["kubelet-1.30.0-amd64"]},
              "versions": {"dpkg": {"path": "/var/lib/dpkg/status", "packages": {"kubelet": {"version": "1.33.0-1.1", "line": 1}}}}},
     "1.34.1"),
    ("kubeadm", {"listings": {_versions.KUBESPRAY_RELEASES: ["kubelet-1.30.0-amd64"]},
                 "versions": {"dpkg": {"path": "/var/lib/dpkg/status", "packages": {"kubelet": {"version": "1:1.33.0-00", "line": 1}}},
                              "binaries": {"/usr/bin/kubelet": {"version": "v1.32.0"}}}},
     "1.33.0"),
    ("kubeadm", {"listings": {_versions.KUBESPRAY_RELEASES: ["kubelet-1.30.0-amd64"]},
                 "versions": {"binaries": {"/usr/local/bin/kubelet": {"version": "v1.32.0"}}}},
     "1.32.0"),
    ("kubespray", {"listings": {_versions.KUBESPRAY_RELEASES: ["kubelet-1.30.0-amd64"]}, "versions": {}}, "1.30.0"),
    ("kubeadm", {"listings": {}, "versions": {}}, None),
])
def test_precedence_between_sources(layout: str, snapshot: t.Mapping[str, t.Any], expected: t.Optional[str]) -> None:
    assert _versions.kubelet_version(layout, snapshot)[0] == expected


def test_unknown_version_names_the_rules_that_depend_on_it(tmp_path: t.Any) -> None:
    root = str(tmp_path / "k3s")
    shutil.copytree(os.path.join(FIXTURES, "k3s"), root, symlinks=True)
    rules = select_rules(ALL, [], [])
    out = run(call_module_factory(check=True), root, rules, Options(), True, "/var/lib/kubefort/backups", False)
    host = out["host"]
    assert host["kubernetes_version"] is None
    assert host["version_source"].startswith("unknown: nothing found in static pod image tags")
    dependent = host["version_dependent_rules"]
    assert "apiserver-anonymous-auth" in dependent and "kubelet-seccomp-default" in dependent
    assert "kubelet-read-only-port" not in dependent
    by_id = {r["id"]: r for r in out["results"]}
    assert "Kubernetes version unknown" in by_id["apiserver-anonymous-auth"]["message"]
    assert "Kubernetes version unknown" not in by_id["kubelet-authorization-mode"]["message"]
    assert host["benchmark"] == "cis-1.12" and host["benchmark_reason"].startswith("Kubernetes version unknown")


def test_known_version_lists_no_dependent_rules_and_one_round_trip(tmp_path: t.Any) -> None:
    root = str(tmp_path / "kubespray")
    shutil.copytree(os.path.join(FIXTURES, "kubespray"), root, symlinks=True)
    calls: t.List[str] = []
    out = run(call_module_factory(check=True, calls=calls), root, select_rules(ALL, [], []), Options(), True, "/b", False)
    assert out["host"]["version_dependent_rules"] == []
    assert out["host"]["component_versions"]["kube-apiserver"]["version"] == "1.33.4"
    assert calls.count("kubefort.hardening.node_facts") == out["round_trips"] == 1


@pytest.mark.parametrize("text,expected", [
    ("v1.34.1+k3s1", "1.34.1"), ("1.34.1-1.1", "1.34.1"), ("1:1.28.2-00", "1.28.2"), ("v1.35.0-rke2r1", "1.35.0"),
    ("(devel)", None), ("", None), ("1.34", None),
])
def test_plain_version(text: str, expected: t.Optional[str]) -> None:
    assert _versions.plain(text) == expected


def test_only_the_kubelet_package_spares_the_binary_scan(tmp_path: t.Any) -> None:
    root = _kubeadm_worker(tmp_path)
    kubectl, rest = DPKG_STATUS.split("\n\nPackage: kubelet", 1)
    _write(root, "/var/lib/dpkg/status", kubectl + "\n\nPackage: kubeadm" + rest.split("Package: kubeadm", 1)[1])
    _write(root, "/usr/bin/kubelet", _go_binary("1.33.1"), 0o755)
    found = _versions_of(root)
    assert set(found["snapshot"]["versions"]["dpkg"]["packages"]) == {"kubeadm"}
    # kubeadm is installed but the kubelet is not from a package: its binary is read.
    assert found["node"].components["kubelet"].version_source == "version string v1.33.1 in /usr/bin/kubelet"
