"""Node files in the shapes people and tools leave them: CRLF line endings, YAML anchors and aliases, symbolic
links, a kubelet config written as JSON. A fix keeps the file's shape, changes only what the rule is about,
check mode predicts it exactly and a second run changes nothing.
"""

from __future__ import annotations

import os

from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options
from ansible_collections.kubefort.hardening.plugins.plugin_utils._harden import run, select_rules
from kubefort_testlib import call_module_factory, demo_node, tree_hashes

MANIFEST = "etc/kubernetes/manifests/kube-apiserver.yaml"
KUBELET = "var/lib/kubelet/config.yaml"


def harden(root, components, check):
    rules = select_rules(components, [], [])
    return run(call_module_factory(check=check), root, rules, Options(), check, "/var/lib/kubefort/backups", False)


def by_id(outcome):
    return {r["id"]: r for r in outcome["results"]}


def read(root, rel):
    with open(os.path.join(root, rel), "rb") as handle:
        return handle.read()


def rewrite(root, rel, change):
    path = os.path.join(root, rel)
    with open(path, "rb") as handle:
        data = handle.read()
    with open(path, "wb") as handle:
        handle.write(change(data))


def node_files(root):
    return {p: v for p, v in tree_hashes(root).items() if not p.startswith("var/lib/kubefort/")}


def test_crlf_files_keep_crlf_on_every_line(tmp_path):
    """A manifest and a kubelet config saved on Windows: the lines kubefort adds end in CRLF like the others."""
    root = demo_node(tmp_path, "cp1")
    for rel in (MANIFEST, KUBELET):
        rewrite(root, rel, lambda data: data.replace(b"\n", b"\r\n"))
    before = node_files(root)
    predicted = harden(root, ["kube-apiserver", "kubelet"], check=True)
    assert node_files(root) == before
    applied = harden(root, ["kube-apiserver", "kubelet"], check=False)
    assert not applied["failed"], applied["msg"]
    would = sorted(r for r, v in by_id(predicted).items() if v["status"] == "would_fix")
    fixed = sorted(r for r, v in by_id(applied).items() if v["status"] == "fixed")
    assert would and would == fixed
    for rel in (MANIFEST, KUBELET):
        text = read(root, rel)
        assert text != before[rel]
        assert text.count(b"\n") == text.count(b"\r\n"), [line for line in text.split(b"\n") if not line.endswith(b"\r")][:5]
    after = node_files(root)
    again = harden(root, ["kube-apiserver", "kubelet"], check=False)
    assert not again["changed"] and node_files(root) == after


def test_a_value_shared_through_a_yaml_alias_is_not_changed_behind_the_users_back(tmp_path):
    """``webhook: *on`` shares ``anonymous``'s mapping: setting ``enabled: false`` there would turn webhook
    authentication off as well. The fix is refused with the reason; nothing is written."""
    root = demo_node(tmp_path, "worker3")
    rewrite(root, KUBELET, lambda data: data.replace(
        b"authentication:\n  anonymous:\n    enabled: false\n  webhook:\n    cacheTTL: 0s\n    enabled: true\n",
        b"authentication:\n  anonymous: &on\n    enabled: true\n  webhook: *on\n"))
    assert b"&on" in read(root, KUBELET)
    for check in (True, False):
        result = by_id(harden(root, ["kubelet"], check=check))["kubelet-anonymous-auth"]
        assert result["status"] == "error", result
        assert "authentication.anonymous is shared through a YAML anchor and alias" in result["message"], result["message"]
        assert "left as it is" in result["message"], result["message"]
        # (the file's other fixes, e.g. tlsCipherSuites, are still made)
        assert b"authentication:\n  anonymous: &on\n    enabled: true\n  webhook: *on\n" in read(root, KUBELET)


def test_an_unshared_anchor_is_edited_in_place(tmp_path):
    """An anchor nothing refers to (left by a template) is only a label: the fix goes in as usual."""
    root = demo_node(tmp_path, "cp1")
    rewrite(root, KUBELET, lambda data: data.replace(b"authentication:\n  anonymous:\n", b"authentication:\n  anonymous: &anon\n"))
    outcome = by_id(harden(root, ["kubelet"], check=False))
    assert outcome["kubelet-anonymous-auth"]["status"] == "fixed", outcome["kubelet-anonymous-auth"]
    assert b"  anonymous: &anon\n    enabled: false\n" in read(root, KUBELET)


def test_a_symlinked_file_is_written_through_its_link(tmp_path):
    """Config management often links the kubelet config: the link stays, its target gets the fix."""
    root = demo_node(tmp_path, "cp1")
    directory = os.path.join(root, "var/lib/kubelet")
    os.rename(os.path.join(directory, "config.yaml"), os.path.join(directory, "config-managed.yaml"))
    os.symlink("config-managed.yaml", os.path.join(directory, "config.yaml"))
    outcome = by_id(harden(root, ["kubelet"], check=False))
    assert outcome["kubelet-anonymous-auth"]["status"] == "fixed"
    assert os.readlink(os.path.join(directory, "config.yaml")) == "config-managed.yaml"
    assert b"enabled: false" in read(root, "var/lib/kubelet/config-managed.yaml")


def test_a_kubelet_config_in_json_stays_json(tmp_path):
    import json

    import yaml

    root = demo_node(tmp_path, "cp1")
    rewrite(root, KUBELET, lambda data: (json.dumps(yaml.safe_load(data), indent=2) + "\n").encode())
    outcome = by_id(harden(root, ["kubelet"], check=False))
    assert outcome["kubelet-read-only-port"]["status"] == "fixed"
    data = json.loads(read(root, KUBELET))
    assert data["readOnlyPort"] == 0 and data["authentication"]["anonymous"]["enabled"] is False
