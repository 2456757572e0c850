"""The kubelet's command line is expanded the way systemd expands it."""

from __future__ import annotations

import os

from ansible_collections.kubefort.hardening.plugins.module_utils._nodefs import NodeFS
from ansible_collections.kubefort.hardening.plugins.module_utils._systemd import parse_env_file, unit_command
from kubefort_testlib import DEMO_NODES


def write(root, path, text):
    full = os.path.join(str(root), path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as handle:
        handle.write(text)


def test_kubeadm_unit_words_and_their_sources():
    info = unit_command(NodeFS(os.path.join(DEMO_NODES, "worker1")), "kubelet.service")
    assert info["unit"] == "/usr/lib/systemd/system/kubelet.service"
    assert info["argv"][0] == "/usr/bin/kubelet"
    assert "--config=/var/lib/kubelet/config.yaml" in info["argv"]
    index = info["argv"].index("--read-only-port=10255")
    assert info["argv_sources"][index] == {"path": "/etc/default/kubelet", "line": 1, "var": "KUBELET_EXTRA_ARGS"}
    assert info["exec_start"]["path"].endswith("10-kubeadm.conf")


def test_precedence_dropins_and_environment(tmp_path):
    write(tmp_path, "/usr/lib/systemd/system/kubelet.service", "[Service]\nExecStart=/usr/bin/kubelet --from-vendor\n")
    # /etc wins over /usr/lib for the unit itself.
    write(tmp_path, "/etc/systemd/system/kubelet.service", "[Service]\nExecStart=/usr/bin/kubelet --from-etc\n")
    # A drop-in resets ExecStart and sets a new one using both variable forms.
    write(tmp_path, "/usr/lib/systemd/system/kubelet.service.d/10-a.conf",
          '[Service]\nEnvironment="ARGS=--a=1 --b=2" "ONE=x y"\nEnvironmentFile=/etc/kubelet.env\n'
          "ExecStart=\nExecStart=/usr/bin/kubelet $ARGS ${ONE} \\\n  --last\n")
    # Same-named drop-in under /etc hides the vendor one; here it only adds a second file.
    write(tmp_path, "/etc/systemd/system/kubelet.service.d/20-b.conf", "[Service]\nEnvironment=ARGS=--ignored\n")
    write(tmp_path, "/etc/kubelet.env", "# comment\nARGS='--a=3 --c=4'\n")
    info = unit_command(NodeFS(str(tmp_path)), "kubelet.service")
    assert info["unit"] == "/etc/systemd/system/kubelet.service"
    # EnvironmentFile= beats Environment= whatever the order; $ARGS splits, ${ONE} stays one word.
    assert info["argv"] == ["/usr/bin/kubelet", "--a=3", "--c=4", "x y", "--last"]
    assert info["argv_sources"][1]["path"] == "/etc/kubelet.env"
    assert info["errors"] == []


def test_hidden_dropin_and_missing_required_env_file(tmp_path):
    write(tmp_path, "/usr/lib/systemd/system/kubelet.service", "[Service]\nEnvironmentFile=/etc/missing\nExecStart=/k --x\n")
    write(tmp_path, "/usr/lib/systemd/system/kubelet.service.d/50.conf", "[Service]\nExecStart=\nExecStart=/k --vendor\n")
    write(tmp_path, "/etc/systemd/system/kubelet.service.d/50.conf", "[Service]\n# masks the vendor drop-in\n")
    info = unit_command(NodeFS(str(tmp_path)), "kubelet.service")
    assert info["argv"] == ["/k", "--x"]
    assert info["errors"] == ["required EnvironmentFile /etc/missing is missing"]


def test_absolute_symlinks_resolve_inside_an_offline_root(tmp_path):
    write(tmp_path, "/lib/systemd/system/kubelet.service", "[Service]\nExecStart=/k --inside\n")
    os.makedirs(os.path.join(str(tmp_path), "etc/systemd/system"))
    # On a booted node this link points at the node's own /lib, not the controller's.
    os.symlink("/lib/systemd/system/kubelet.service", os.path.join(str(tmp_path), "etc/systemd/system/kubelet.service"))
    info = unit_command(NodeFS(str(tmp_path)), "kubelet.service")
    assert info["argv"] == ["/k", "--inside"]


def test_env_file_quoting():
    parsed = parse_env_file('A="x y"\nexport B=z\nC=\'q\' # note\n')
    assert {k: v[0] for k, v in parsed.items()} == {"A": "x y", "B": "z", "C": "q"}
