"""Bad input gives a clear message in the result or a task failure: no traceback, no partial write."""

from __future__ import annotations

import os
import shutil

import pytest

from ansible_collections.kubefort.hardening.plugins.modules import node_facts, node_files
from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options
from ansible_collections.kubefort.hardening.plugins.plugin_utils._harden import HardenError, run, select_rules
from kubefort_testlib import REPO, ROOT_OWNED, call_module_factory, demo_node, run_module, tree_hashes

CONTROL_PLANE = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"]
RULES = ["1.2.6", "1.2.7", "1.2.8", "1.1.1", "4.2.1", "4.2.2", "4.2.4", "4.1.9"]


def audit(root, components, check=True):
    rules = select_rules(components, RULES, [])
    return run(call_module_factory(check=check), root, rules, Options(), check, "/var/lib/kubefort/backups", False)


def results(outcome):
    return {r["id"]: r for r in outcome["results"]}


def write(root, path, text):
    with open(os.path.join(root, path.lstrip("/")), "w") as handle:
        handle.write(text)


@pytest.mark.parametrize("check", [True, False])
def test_malformed_manifest_is_an_error_result_and_nothing_is_written(tmp_path, check):
    root = demo_node(tmp_path, "cp1")
    write(root, "/etc/kubernetes/manifests/kube-apiserver.yaml", "apiVersion: v1\nkind: Pod\nspec:\n  containers: [\n")
    before = tree_hashes(root)
    outcome = audit(root, CONTROL_PLANE, check=check)
    result = results(outcome)["apiserver-authorization-mode-not-alwaysallow"]
    assert result["status"] == "error"
    assert "/etc/kubernetes/manifests/kube-apiserver.yaml is not valid YAML at line" in result["message"]
    assert "Fix the manifest" in result["message"]
    assert tree_hashes(root) == before


def test_manifest_that_is_not_a_pod(tmp_path):
    root = demo_node(tmp_path, "cp2")
    write(root, "/etc/kubernetes/manifests/kube-apiserver.yaml", "apiVersion: apps/v1\nkind: Deployment\n")
    result = results(audit(root, CONTROL_PLANE))["apiserver-authorization-mode-rbac"]
    assert result["status"] == "error" and "is not a Pod manifest (kind: 'Deployment')" in result["message"]


@pytest.mark.parametrize("check", [True, False])
def test_malformed_kubelet_config(tmp_path, check):
    root = demo_node(tmp_path, "cp1")
    write(root, "/var/lib/kubelet/config.yaml", "authentication:\n  anonymous: {enabled: true\n")
    before = tree_hashes(root)
    outcome = audit(root, ["kubelet"], check=check)
    for rule_id in ("kubelet-anonymous-auth", "kubelet-read-only-port", "kubelet-config-permissions"):
        result = results(outcome)[rule_id]
        assert result["status"] == "error", rule_id
        assert "the kubelet's config file /var/lib/kubelet/config.yaml cannot be parsed" in result["message"]
    assert tree_hashes(root) == before


def test_missing_kubelet_config_file(tmp_path):
    root = demo_node(tmp_path, "worker3")
    os.unlink(os.path.join(root, "var/lib/kubelet/config.yaml"))
    result = results(audit(root, ["kubelet"]))["kubelet-read-only-port"]
    assert result["status"] == "error"
    assert "the kubelet's config file /var/lib/kubelet/config.yaml does not exist" in result["message"]


def test_component_absent_is_not_applicable(tmp_path):
    root = demo_node(tmp_path, "worker3")
    outcome = audit(root, CONTROL_PLANE)
    assert {r["status"] for r in outcome["results"]} == {"not_applicable"}
    assert "kube-apiserver does not run on this node" in results(outcome)["apiserver-authorization-mode-rbac"]["message"]


def test_root_that_does_not_exist_fails_the_task_with_advice(tmp_path):
    with pytest.raises(HardenError, match="is not a directory on this host. Set kubefort_root"):
        audit(str(tmp_path / "nowhere"), ["kubelet"])


def test_wrong_module_option_is_a_task_failure():
    out = run_module(node_facts, {"raed": ["/etc/hosts"]})
    assert out["failed"] and "Unsupported parameters" in out["msg"] and "raed" in out["msg"]


def test_file_changed_since_read_writes_nothing(tmp_path):
    root = demo_node(tmp_path, "worker3")
    path = os.path.join(root, "var/lib/kubelet/config.yaml")
    other = os.path.join(root, "var/lib/kubelet/kubeadm-flags.env")
    before = tree_hashes(root)
    out = run_module(node_files, {"root": root, "files": [
        {"path": "/var/lib/kubelet/kubeadm-flags.env", "content": "X=1\n", "expected_sha256": "absent"},
        {"path": "/var/lib/kubelet/config.yaml", "content": "x: 1\n", "expected_sha256": "0" * 64},
    ]})
    assert out["failed"]
    assert "changed since it was read" in out["msg"] and "nothing was written" in out["msg"]
    assert tree_hashes(root) == before
    assert os.path.exists(path) and os.path.exists(other)


def test_failed_write_restores_files_already_written(tmp_path):
    from ansible_collections.kubefort.hardening.plugins.module_utils._nodefs import sha256_text

    root = demo_node(tmp_path, "worker3")
    with open(os.path.join(root, "var/lib/kubelet/kubeadm-flags.env")) as handle:
        flags_text = handle.read()
    before = tree_hashes(root)
    # The first file is written, the second cannot be (a directory stands where the file goes):
    # the first must be put back.
    out = run_module(node_files, {"root": root, "backup_dir": "/backups", "files": [
        {"path": "/var/lib/kubelet/kubeadm-flags.env", "content": "X=1\n", "expected_sha256": sha256_text(flags_text)},
        {"path": "/etc/kubernetes/manifests", "content": "x: 1\n", "expected_sha256": "absent"},
    ]})
    assert out["failed"] and "every file written before was restored" in out["msg"]
    assert "/etc/kubernetes/manifests is a directory" in out["msg"]
    now = tree_hashes(root)
    assert {k: v for k, v in now.items() if not k.startswith("backups")} == before
    assert not [n for n in os.listdir(os.path.join(root, "etc/kubernetes")) if n.startswith(".kubefort-")]


def test_restore_puts_files_back_byte_for_byte(tmp_path):
    root = demo_node(tmp_path, "cp1")
    before = tree_hashes(root)
    outcome = audit(root, CONTROL_PLANE + ["kubelet"], check=False)
    assert outcome["changed"]
    out = run_module(node_files, {"root": root, "state": "restore", "backups": outcome["backups"]})
    assert out["changed"] and sorted(out["restored"]) == sorted(b["path"] for b in outcome["backups"])
    after = tree_hashes(root)
    assert {k: v for k, v in after.items() if not k.startswith("var/lib/kubefort")} == before


# --- the bad-input table: every broken file makes its component's rules error, nothing is written ----

APISERVER = "/etc/kubernetes/manifests/kube-apiserver.yaml"
KUBELET_CONFIG = "/var/lib/kubelet/config.yaml"
GARBAGE = bytes(range(256)) * 4  # not UTF-8, as a binary file or a truncated download is


def host(root, path):
    return os.path.join(root, path.lstrip("/"))


def write_bytes(root, path, data):
    with open(host(root, path), "wb") as handle:
        handle.write(data)


def make_dir(root, path):
    os.unlink(host(root, path))
    os.mkdir(host(root, path))


def symlink(root, path, target):
    os.unlink(host(root, path))
    os.symlink(target, host(root, path))


def edit(root, path, old, new):
    with open(host(root, path)) as handle:
        text = handle.read()
    assert old in text, (path, old)
    with open(host(root, path), "w") as handle:
        handle.write(text.replace(old, new))


def truncate_before(root, path, marker):
    with open(host(root, path)) as handle:
        text = handle.read()
    with open(host(root, path), "w") as handle:
        handle.write(text[: text.index(marker)])


def manifests_a_file(root):
    shutil.rmtree(host(root, "/etc/kubernetes/manifests"))
    with open(host(root, "/etc/kubernetes/manifests"), "w") as handle:
        handle.write("not a directory\n")


def fixture_node(tmp_path, name):
    """A copy of one installer-written node of tests/fixtures/nodes (EKS, k3s, RKE2, microk8s ...)."""
    root = os.path.join(str(tmp_path), "nodes", name)
    shutil.copytree(os.path.join(REPO, "tests", "fixtures", "nodes", name), root, symlinks=True)
    return root


def eks_node(tmp_path):
    return fixture_node(tmp_path, "eks-al2")


FIXTURE_NODES = ("eks-al2", "k3s", "rke2", "microk8s")
K3S_CONFIG = "/etc/rancher/k3s/config.yaml"
RKE2_CONFIG = "/etc/rancher/rke2/config.yaml"
MICROK8S_KUBELET = "/var/snap/microk8s/current/args/kubelet"


def append(root, path, text):
    with open(host(root, path), "a") as handle:
        handle.write(text)


# (case, node, components, break it, rule that must be error, message words)
TABLE = [
    ("binary kube-apiserver.yaml", "cp1", ["kube-apiserver"], lambda r: write_bytes(r, APISERVER, GARBAGE),
     "apiserver-authorization-mode-not-alwaysallow", [APISERVER + " is not UTF-8 text", "Fix the manifest"]),
    ("binary kube-controller-manager.yaml", "cp1", ["kube-controller-manager"],
     lambda r: write_bytes(r, "/etc/kubernetes/manifests/kube-controller-manager.yaml", GARBAGE),
     "controller-manager-profiling", ["kube-controller-manager.yaml is not UTF-8 text"]),
    ("kube-apiserver.yaml is a directory", "cp2", ["kube-apiserver"], lambda r: make_dir(r, APISERVER),
     "apiserver-authorization-mode-rbac", [APISERVER + " is a directory where a file belongs"]),
    ("manifest symlink leaving the node root", "cp1", ["kube-apiserver"],
     lambda r: symlink(r, APISERVER, "/srv/elsewhere/kube-apiserver.yaml"),
     "apiserver-authorization-mode-rbac", ["is a symbolic link to /srv/elsewhere/kube-apiserver.yaml", "kubefort_root"]),
    ("manifests/ is a file", "cp1", ["kube-apiserver", "etcd"], manifests_a_file,
     "etcd-client-cert-auth", ["static pod path /etc/kubernetes/manifests is a file, not a directory"]),
    ("truncated manifest, still YAML (no image, no volumes)", "cp1", ["kube-apiserver"],
     lambda r: truncate_before(r, APISERVER, "    image:"),
     "apiserver-authorization-mode-rbac", ["is not a complete Pod manifest", "has no image", "kubefort does not edit it"]),
    ("manifest mounting a volume it does not define", "cp1", ["kube-apiserver"],
     lambda r: truncate_before(r, APISERVER, "  volumes:"),
     "apiserver-authorization-mode-rbac", ["mounts volume", "which the pod does not define"]),
    ("manifest without a command", "cp3", ["kube-apiserver"], lambda r: edit(r, APISERVER, "  - command:\n    - kube-apiserver\n", "  - args:\n"),
     "apiserver-authorization-mode-rbac", ["runs no known control-plane program"]),
    ("empty kubelet config.yaml", "cp1", ["kubelet"], lambda r: write_bytes(r, KUBELET_CONFIG, b""),
     "kubelet-read-only-port", [KUBELET_CONFIG + " is empty; kubelet refuses it"]),
    ("kind-less kubelet config.yaml", "worker3", ["kubelet"],
     lambda r: write_bytes(r, KUBELET_CONFIG, b"readOnlyPort: 0\nauthentication:\n  anonymous:\n    enabled: false\n"),
     "kubelet-anonymous-auth", ["has no kind (kind: KubeletConfiguration); kubelet refuses it"]),
    ("kubelet config.yaml is a directory", "cp1", ["kubelet"], lambda r: make_dir(r, KUBELET_CONFIG),
     "kubelet-authorization-mode", ["cannot be read: " + KUBELET_CONFIG + " is a directory where a file belongs"]),
    ("dangling --config target", "worker3", ["kubelet"], lambda r: symlink(r, KUBELET_CONFIG, "/var/lib/kubelet/config-v2.yaml"),
     "kubelet-anonymous-auth", ["is a symbolic link to /var/lib/kubelet/config-v2.yaml, which does not exist"]),
    ("non-UTF-8 kubelet unit drop-in", "cp1", ["kubelet"],
     lambda r: write_bytes(r, "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf", b"[Service]\nEnvironment=\"X=\xff\xfe\"\n"),
     "kubelet-anonymous-auth", ["10-kubeadm.conf is not UTF-8 text"]),
    ("unreadable kubelet environment file", "worker1", ["kubelet"],
     lambda r: write_bytes(r, "/var/lib/kubelet/kubeadm-flags.env", GARBAGE),
     "kubelet-read-only-port", ["/var/lib/kubelet/kubeadm-flags.env is not UTF-8 text"]),
    ("environment file that is a directory", "worker1", ["kubelet"], lambda r: make_dir(r, "/etc/default/kubelet"),
     "kubelet-anonymous-auth", ["/etc/default/kubelet"]),
    ("JSON kubelet config with a syntax error", "eks-al2", ["kubelet"],
     lambda r: edit(r, "/etc/kubernetes/kubelet/kubelet-config.json", '"kind": "KubeletConfiguration",', '"kind": "KubeletConfiguration"'),
     "kubelet-read-only-port", ["/etc/kubernetes/kubelet/kubelet-config.json cannot be parsed"]),
    # k3s/RKE2: config.yaml sets every component's arguments; read as empty, the defaults would pass.
    ("k3s config.yaml that is not UTF-8", "k3s", ["kubelet", "kube-apiserver"], lambda r: write_bytes(r, K3S_CONFIG, GARBAGE),
     "kubelet-read-only-port", [K3S_CONFIG + " is not UTF-8 text"]),
    ("RKE2 config.yaml with a YAML syntax error", "rke2", CONTROL_PLANE + ["kubelet", "kube-proxy"],
     lambda r: append(r, RKE2_CONFIG, "kubelet-arg: [\n"),
     "apiserver-authorization-mode-rbac", [RKE2_CONFIG + " is not valid YAML at line"]),
    ("unreadable RKE2 config.yaml.d drop-in", "rke2", ["kubelet"],
     lambda r: (os.makedirs(host(r, RKE2_CONFIG + ".d")), write_bytes(r, RKE2_CONFIG + ".d/50-extra.yaml", GARBAGE)),
     "kubelet-anonymous-auth", [RKE2_CONFIG + ".d/50-extra.yaml is not UTF-8 text"]),
    # microk8s: an args file that is there but unreadable is a configured component, not "does not run".
    ("microk8s kubelet args file that is not UTF-8", "microk8s", ["kubelet"], lambda r: write_bytes(r, MICROK8S_KUBELET, GARBAGE),
     "kubelet-anonymous-auth", [MICROK8S_KUBELET + " is not UTF-8 text"]),
]


@pytest.mark.parametrize("check", [True, False], ids=["check", "apply"])
@pytest.mark.parametrize("case, node, components, breaker, rule_id, words", TABLE, ids=[row[0] for row in TABLE])
def test_bad_input_table(tmp_path, case, node, components, breaker, rule_id, words, check):
    root = fixture_node(tmp_path, node) if node in FIXTURE_NODES else demo_node(tmp_path, node)
    breaker(root)
    before = tree_hashes(root)
    rules = select_rules(components, [], [])
    outcome = run(call_module_factory(check=check), root, rules, Options(), check, "/var/lib/kubefort/backups", False)
    by_id = results(outcome)
    result = by_id[rule_id]
    assert result["status"] == "error", (case, result)
    for word in words:
        assert word in result["message"], (case, word, result["message"])
    assert "Fix the file, then run again" in result["message"]
    # Fail closed: no rule of a broken component passes, is fixed or is "not applicable" because of it.
    broken = {r["component"] for r in outcome["results"] if r["status"] == "error"}
    for r in outcome["results"]:
        if r["component"] in broken:
            assert r["status"] in ("error", "not_applicable") and "does not run" not in r["message"], (case, r)
            assert r["status"] == "error" or "level" in r["message"] or "applies" in r["message"], (case, r)
    # The read error is in the host metadata (every report lists it), and nothing was written.
    assert any(words[0] in e for e in outcome["host"]["read_errors"]), outcome["host"]["read_errors"]
    assert not outcome["changed"] and not outcome["backups"]
    assert tree_hashes(root) == before, case


@ROOT_OWNED
def test_eks_al2_apply_succeeds_and_a_second_apply_changes_nothing(tmp_path):
    """--kubeconfig /var/lib/kubelet/kubeconfig as separate words: the writer no longer expects it absent."""
    root = eks_node(tmp_path)
    rules = select_rules(["kubelet"], [], [])
    first = run(call_module_factory(), root, rules, Options(), False, "/var/lib/kubefort/backups", False)
    assert not first["failed"], first["msg"]
    assert results(first)["kubelet-kubeconfig-permissions"]["status"] == "fixed"
    assert oct(os.stat(host(root, "/var/lib/kubelet/kubeconfig")).st_mode & 0o777) == "0o600"
    after = tree_hashes(root)
    second = run(call_module_factory(), root, rules, Options(), False, "/var/lib/kubefort/backups", False)
    assert not second["changed"] and not second["failed"] and tree_hashes(root) == after


def test_a_real_concurrent_change_names_the_file_and_running_again_succeeds(tmp_path):
    root = demo_node(tmp_path, "cp1")  # readOnlyPort: 10255 in config.yaml
    rules = select_rules(["kubelet"], ["4.2.4"], [])
    call = call_module_factory()

    def racing(name, args):
        if name.endswith("node_files"):  # someone edits the file between discovery and the write
            with open(host(root, KUBELET_CONFIG), "a") as handle:
                handle.write("# touched by another tool\n")
        return call(name, args)

    first = run(racing, root, rules, Options(), False, "/var/lib/kubefort/backups", False)
    assert first["failed"]
    message = results(first)["kubelet-read-only-port"]["message"]
    assert KUBELET_CONFIG + " changed since it was read" in message
    assert "now it is a file modified" in message and "Run the play again" in message
    with open(host(root, KUBELET_CONFIG)) as handle:
        assert handle.read().endswith("# touched by another tool\n")  # nothing was written over it
    again = run(call, root, rules, Options(), False, "/var/lib/kubefort/backups", False)
    assert not again["failed"] and results(again)["kubelet-read-only-port"]["status"] == "fixed"
    with open(host(root, KUBELET_CONFIG)) as handle:
        assert handle.read().endswith("# touched by another tool\n")


def test_a_file_only_stated_is_never_overwritten(tmp_path):
    root = demo_node(tmp_path, "worker3")
    before = tree_hashes(root)
    out = run_module(node_files, {"root": root, "files": [
        {"path": "/etc/kubernetes/pki/ca.crt", "content": "x\n", "expected_sha256": "present"}]})
    assert out["failed"] and "was not read, so kubefort does not replace its content" in out["msg"]
    out = run_module(node_files, {"root": root, "files": [
        {"path": "/etc/kubernetes/gone.conf", "mode": "0600", "expected_sha256": "present"}]})
    assert out["failed"] and "was a file when the node was read and is absent now" in out["msg"]
    assert tree_hashes(root) == before


def test_waiver_for_an_unknown_rule_fails_up_front():
    from ansible_collections.kubefort.hardening.plugins.plugin_utils import _catalog

    with pytest.raises(_catalog.UnknownRuleError, match="kubefort_waivers name unknown rule ID.s.: 4.2.99, no-such-rule"):
        _catalog.check_waiver_ids([{"id": "no-such-rule", "reason": "x"}, {"id": "4.2.99", "reason": "y"},
                                   {"id": "4.2.4", "reason": "ok"}, {"id": "kubelet-read-only-port", "reason": "ok"}])


@pytest.mark.parametrize("name, value, words", [
    ("kubefort_level", "high", ["kubefort_level: expected an integer, one of 1, 2, got \"high\" (str); for example kubefort_level: 1"]),
    ("kubefort_remediate", "maybe", ["kubefort_remediate: expected a boolean (true or false), got \"maybe\"", "for example kubefort_remediate: true"]),
    ("kubefort_skip_rules", "4.2.4", []),  # a string is split into a list, as Ansible does
    ("kubefort_waivers", "all", ["kubefort_waivers: expected a list of mappings", "for example kubefort_waivers: [{\"id\": \"kubelet-read-only-port\""]),
    ("kubefort_level", 2, []),
])
def test_wrong_variable_type_is_one_line(name, value, words):
    from ansible_collections.kubefort.hardening.plugins.action.check_input import problem, role_options

    line = problem(name, role_options()[name], value)
    if not words:
        assert line is None
        return
    assert line is not None and "\n" not in line and "argument_spec" not in line and len(line) < 300, line
    for word in words:
        assert word in line, line
