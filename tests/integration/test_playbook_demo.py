"""harden.yml against the bundled demo nodes: check -> apply -> check -> apply, as a user runs it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "unit"))
from kubefort_testlib import REPO, ROOT_OWNED, demo_node, tree_hashes  # noqa: E402

pytestmark = pytest.mark.integration
NODES = ["cp1", "cp2", "cp3", "worker1", "worker2", "worker3"]
HEADLINE = {
    "cp1": ["1.2.6", "1.2.7", "1.2.8", "1.1.1", "4.2.1", "4.2.2", "4.2.4", "4.1.9"],
    "cp3": ["1.2.1", "1.2.6"],
    "worker1": ["4.2.1", "4.2.4"],
    "worker2": ["4.2.1", "4.2.2", "4.2.4"],
}


def playbook(tmp_path, report_dir, *args):
    env = dict(os.environ, KUBEFORT_DEMO_DIR=str(tmp_path / "nodes"), ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               PATH=os.path.join(REPO, ".venv", "bin") + os.pathsep + os.environ["PATH"])
    command = [os.path.join(REPO, ".venv", "bin", "ansible-playbook"), os.path.join(REPO, "playbooks", "harden.yml"),
               "-i", os.path.join(REPO, "demo", "inventory.yml"), "-e", "kubefort_report_dir=%s" % report_dir, *args]
    proc = subprocess.run(command, env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    return proc.stdout


def recap(stdout):
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", stdout, re.M)}


def report(report_dir):
    with open(os.path.join(report_dir, "report.json")) as handle:
        data = json.load(handle)
    return {h["name"]: {r["cis"] or r["id"]: r for r in h["results"]} for h in data["hosts"]}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("demo")
    for name in NODES:
        demo_node(tmp_path, name)
    return tmp_path


@ROOT_OWNED
def test_check_apply_check_apply(demo):
    nodes = str(demo / "nodes")
    pristine = tree_hashes(nodes)

    # 1. check: findings, diffs, and not one byte or mode changed.
    out = playbook(demo, demo / "r1", "--check", "--diff")
    assert tree_hashes(nodes) == pristine
    first = report(demo / "r1")
    for host, ids in HEADLINE.items():
        for cis in ids:
            assert first[host][cis]["status"] == "would_fix", (host, cis, first[host][cis])
    assert first["cp3"]["1.2.6"]["actual"] == "AlwaysAllow,Node,RBAC"
    assert first["cp2"]["1.2.1"]["status"] == "manual"
    assert "-    - --authorization-mode=AlwaysAllow" in out and "+    - --authorization-mode=Node,RBAC" in out
    assert '+KUBELET_EXTRA_ARGS="--read-only-port=0 --anonymous-auth=false"' in out
    for name in ("report.json", "report.xml", "report.md", "report.html"):
        assert os.path.getsize(demo / "r1" / name) > 0
    # Each host's version, its source and benchmark; unknown versions name the rules that need them.
    with open(demo / "r1" / "report.json") as handle:
        hosts = {h["name"]: h for h in json.load(handle)["hosts"]}
    assert (hosts["cp3"]["kubernetes_version"], hosts["cp3"]["benchmark"]) == ("1.33.4", "cis-1.12")
    assert hosts["cp3"]["version_source"].startswith("kube-apiserver: image registry.k8s.io/kube-apiserver:v1.33.4")
    assert hosts["cp3"]["version_dependent_rules"] == []
    assert hosts["worker1"]["kubernetes_version"] is None and "kubelet-seccomp-default" in hosts["worker1"]["version_dependent_rules"]
    assert hosts["worker1"]["benchmark_reason"].startswith("Kubernetes version unknown")
    assert "| cp3 | 1.33.4 |" in (demo / "r1" / "report.md").read_text()
    # An audit: every node in one play at once, one progress line per host in host order, no per-role
    # argument check task.
    assert re.findall(r"^kubefort \[(\d)/6\] (\S+):", out, re.M) == [(str(i + 1), n) for i, n in enumerate(NODES)]
    assert "Validating arguments" not in out
    # (after the one-task play that checks every host's kubefort variables up front, and the one that reads
    # kubeadm's cluster configuration from the demo's saved dump)
    plays = re.findall(r"^PLAY \[(.*?)\]", out, re.M)
    assert plays[0].startswith("Check the kubefort variables") and plays[1].startswith("Read kubeadm's cluster configuration")
    assert plays[2].startswith("Audit the control plane, etcd") and plays[3].startswith("Audit every node at once")
    assert len(re.findall(r"^PLAY \[Audit every node at once", out, re.M)) == 1

    # 2. apply: on offline trees the run restarts nothing, so every node is hardened in the first plays at
    # once, control plane included: neither the control plane's one-at-a-time play (for hosts whose
    # components restart) nor the workers' rollout play (restarts in batches) has hosts.
    out = playbook(demo, demo / "r2", "--diff")
    assert len(re.findall(r"^PLAY \[Audit every node at once", out, re.M)) == 1
    assert re.search(r"^PLAY \[Harden the control plane, etcd and ungrouped hosts one at a time.*\n+skipping: no hosts matched",
                     out, re.M), out[-3000:]
    assert re.search(r"^PLAY \[Roll out the workers' .*\n+skipping: no hosts matched", out, re.M), out[-3000:]
    assert all(recap(out)[h] > 0 for h in HEADLINE)
    second = report(demo / "r2")
    for host, ids in HEADLINE.items():
        for cis in ids:
            assert second[host][cis]["status"] == "fixed", (host, cis)
    with open(demo / "nodes" / "cp1" / "var/lib/kubelet/config.yaml") as handle:
        assert "# Left open for the legacy metrics scraper (ticket OPS-1432).\nreadOnlyPort: 0\n" in handle.read()
    assert not [n for n in os.listdir(demo / "nodes" / "cp1" / "etc/kubernetes/manifests") if n not in
                (".kubelet-keep", "etcd.yaml", "kube-apiserver.yaml", "kube-controller-manager.yaml", "kube-scheduler.yaml")]
    fixed = tree_hashes(nodes)

    # 3. check again: nothing left to fix for these rules, nothing written.
    playbook(demo, demo / "r3", "--check")
    assert tree_hashes(nodes) == fixed
    third = report(demo / "r3")
    for host, ids in HEADLINE.items():
        for cis in ids:
            assert third[host][cis]["status"] == "pass", (host, cis, third[host][cis])
    assert not [(h, i) for h, rs in third.items() for i, r in rs.items() if r["status"] == "would_fix"]

    # 4. apply again: no change at all, and no rollout (nothing to change on any host: no one-at-a-time play).
    out = playbook(demo, demo / "r4")
    assert set(recap(out).values()) == {0}, recap(out)
    assert re.search(r"^PLAY \[Harden the control plane, etcd and ungrouped hosts one at a time.*\n+skipping: no hosts matched",
                     out, re.M), out[-3000:]
    assert report(demo / "r4") == third
    assert tree_hashes(nodes) == fixed


def test_unknown_rule_id_fails_the_play_with_advice(demo):
    env = dict(os.environ, KUBEFORT_DEMO_DIR=str(demo / "nodes"), ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(
        [os.path.join(REPO, ".venv", "bin", "ansible-playbook"), os.path.join(REPO, "playbooks", "harden.yml"), "--check",
         "-i", os.path.join(REPO, "demo", "inventory.yml"), "--limit", "worker3", "-e", '{"kubefort_skip_rules": ["4.2.99"]}'],
        env=env, cwd=str(demo), capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode != 0
    assert "unknown rule ID(s): 4.2.99" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
