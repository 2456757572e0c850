"""What kubefort says is effective for the kubelet, against what the real kubelet v1.28.7 does.

Each case is the cp1 demo node (a kubeadm 1.28.7 control plane, so kubefort knows the kubelet's version)
with its kubelet files changed: flags only, ``--config``, ``--config-dir`` drop-ins with zero values and
with only unrelated keys (their defaults count on 1.28), repeated flags, environment files. kubefort's
``actual`` for the three kubelet access rules is compared with what the real kubelet answers: the
read-only port open or not, 10250 for an anonymous request and for a client certificate (200 only under
AlwaysAllow), and, where it is readable, ``/configz``.
"""

from __future__ import annotations

import json
import os
import textwrap

import pytest
from k8s_harness import ANSWERED, REPO, Node, http_get, joined_kubeconfig, kubelet_command, kubelet_ports, node_ip
from kubefort_testlib import call_module_factory, demo_node

from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options
from ansible_collections.kubefort.hardening.plugins.plugin_utils._harden import run, select_rules

pytestmark = pytest.mark.real_k8s

DONOR = os.path.join(REPO, "demo", "nodes", "cp1")
RULES = {"kubelet-read-only-port": "readOnlyPort", "kubelet-anonymous-auth": "anonymous",
         "kubelet-authorization-mode": "mode"}
DROPIN_DIR = "/etc/kubernetes/kubelet.conf.d"
HEAD = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
SECURE = HEAD + textwrap.dedent("""\
    authentication:
      anonymous:
        enabled: false
      webhook:
        enabled: true
      x509:
        clientCAFile: /etc/kubernetes/pki/ca.crt
    authorization:
      mode: Webhook
    readOnlyPort: 0
    staticPodPath: /etc/kubernetes/manifests
    """)
INSECURE = HEAD + textwrap.dedent("""\
    authentication:
      anonymous:
        enabled: true
      webhook:
        enabled: true
      x509:
        clientCAFile: /etc/kubernetes/pki/ca.crt
    authorization:
      mode: AlwaysAllow
    readOnlyPort: 10255
    staticPodPath: /etc/kubernetes/manifests
    """)
ALPHA = "[Service]\nEnvironment=\"KUBELET_CONFIG_DROPIN_DIR_ALPHA=on\"\n"
UNIT_DROPIN = "etc/systemd/system/kubelet.service.d/20-test.conf"
# A kubelet on flags only (no --config), with the usual environment file for extra flags.
FLAGS_UNIT = ("[Service]\nEnvironmentFile=-/etc/default/kubelet\nExecStart=\nExecStart=/usr/bin/kubelet "
              "--kubeconfig=/etc/kubernetes/kubelet.conf --container-runtime-endpoint=unix:///run/containerd/containerd.sock"
              "%s $KUBELET_EXTRA_ARGS\n")

# name -> files to write (relative to the node root; None removes), /etc/default/kubelet KUBELET_EXTRA_ARGS
CASES = {
    "config-insecure": ({"var/lib/kubelet/config.yaml": INSECURE}, ""),
    "config-secure": ({"var/lib/kubelet/config.yaml": SECURE}, ""),
    "flags-only": ({"usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf": None,
                    "etc/systemd/system/kubelet.service.d/10-flags.conf":
                        FLAGS_UNIT % ""}, ""),
    "env-file-flags-win": ({"var/lib/kubelet/config.yaml": SECURE}, "--anonymous-auth=true --read-only-port=10255"),
    "repeated-flags": ({"var/lib/kubelet/config.yaml": INSECURE},
                       "--read-only-port=10255 --read-only-port=0 --authorization-mode=AlwaysAllow --authorization-mode=Webhook"),
    "dropin-zero-values": ({"var/lib/kubelet/config.yaml": INSECURE, UNIT_DROPIN: ALPHA,
                            DROPIN_DIR[1:] + "/50-harden.conf": HEAD + "readOnlyPort: 0\nauthentication:\n  anonymous:\n    enabled: false\n"},
                           "--config-dir=" + DROPIN_DIR),
    "dropin-unrelated-key": ({"var/lib/kubelet/config.yaml": INSECURE, UNIT_DROPIN: ALPHA,
                              DROPIN_DIR[1:] + "/50-pods.conf": HEAD + "maxPods: 50\n"}, "--config-dir=" + DROPIN_DIR),
    "dropin-non-zero": ({"var/lib/kubelet/config.yaml": SECURE, UNIT_DROPIN: ALPHA,
                         DROPIN_DIR[1:] + "/50-open.conf": HEAD + "readOnlyPort: 10255\nauthentication:\n  anonymous:\n    enabled: true\n"},
                        "--config-dir=" + DROPIN_DIR),
    "dropin-only-no-config": ({"usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf": None, UNIT_DROPIN: ALPHA,
                               "etc/systemd/system/kubelet.service.d/10-flags.conf":
                                   FLAGS_UNIT % (" --config-dir=" + DROPIN_DIR),
                               DROPIN_DIR[1:] + "/50-pods.conf": HEAD + "maxPods: 50\n"}, ""),
    "dropin-order-and-subdir": ({"var/lib/kubelet/config.yaml": SECURE, UNIT_DROPIN: ALPHA,
                                 DROPIN_DIR[1:] + "/10-open.conf": HEAD + "readOnlyPort: 10255\n",
                                 DROPIN_DIR[1:] + "/20-mode.conf": HEAD + "authorization:\n  mode: AlwaysAllow\n",
                                 DROPIN_DIR[1:] + "/sub/30-anon.conf": HEAD + "authentication:\n  anonymous:\n    enabled: true\n",
                                 DROPIN_DIR[1:] + "/.40-hidden.conf": HEAD + "readOnlyPort: 10266\n",
                                 DROPIN_DIR[1:] + "/50-skipped.yaml": HEAD + "readOnlyPort: 10277\n"},
                                "--config-dir=" + DROPIN_DIR),
    # A dot-file is a drop-in too (filepath.Ext), and applied (so /configz is readable: AlwaysAllow).
    "dropin-hidden-file": ({"var/lib/kubelet/config.yaml": SECURE, UNIT_DROPIN: ALPHA,
                            DROPIN_DIR[1:] + "/.hidden.conf": HEAD + "readOnlyPort: 10266\nauthorization:\n  mode: AlwaysAllow\n"},
                           "--config-dir=" + DROPIN_DIR),
    # Two non-zero values: the later drop-in wins on every version.
    "dropin-two-ports": ({"var/lib/kubelet/config.yaml": INSECURE, UNIT_DROPIN: ALPHA,
                          DROPIN_DIR[1:] + "/50-port.conf": HEAD + "readOnlyPort: 10266\n"}, "--config-dir=" + DROPIN_DIR),
}
# The drop-in setups where the place of a fix matters (zero values, two non-zero values, no --config).
DROPIN_CASES = ["dropin-non-zero", "dropin-only-no-config", "dropin-two-ports", "dropin-zero-values"]


def make_tree(tmp_path, files, extra_args):
    root = demo_node(tmp_path, "cp1")
    for rel, text in files.items():
        path = os.path.join(root, rel)
        if text is None:
            os.unlink(path)
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(text)
    if extra_args:
        os.makedirs(os.path.join(root, "etc/default"), exist_ok=True)
        with open(os.path.join(root, "etc/default/kubelet"), "w") as handle:
            handle.write('KUBELET_EXTRA_ARGS="%s"\n' % extra_args)
    return root


def kubefort_view(root):
    rules = select_rules(["kubelet"], list(RULES), [])
    outcome = run(call_module_factory(check=True), root, rules, Options(), True, "/var/lib/kubefort/backups", False)
    results = {r["id"]: r for r in outcome["results"]}
    return {RULES[rule]: results[rule]["actual"] for rule in RULES}, results


def real_view(root, tmp_path, configz_out=None):
    argv, env = kubelet_command(root)
    address = node_ip(root)
    node = Node(root, dict(kubelet_ports(address), **{"10266": "tcp:%s:10266" % address}), address=address)
    node.add_containerd()
    node.add_kubelet(argv, env)
    client = (os.path.join(DONOR, "etc/kubernetes/pki/apiserver-kubelet-client.crt"),
              os.path.join(DONOR, "etc/kubernetes/pki/apiserver-kubelet-client.key"))
    node.start()
    try:
        node.wait_for("kubelet", "10248", "/healthz", tls=False)
        node.wait_for("kubelet", "10250", "/healthz", accept=ANSWERED)
        anonymous = http_get(node.host_ports["10250"], "/pods")[0]
        certificate, body = http_get(node.host_ports["10250"], "/configz", cert=client, timeout=60)
        configz = json.loads(body)["kubeletconfig"] if certificate == 200 else None
        if configz_out is not None and configz is not None:
            configz_out.update(configz)
        read_only = [p for p in ("10255", "10266") if http_get(node.host_ports[p], "/pods", tls=False)[0] == 200]
    finally:
        node.stop()
    view = {"readOnlyPort": read_only[0] if read_only else "0", "anonymous": "false" if anonymous == 401 else "true",
            "mode": "AlwaysAllow" if certificate == 200 else "Webhook"}
    if configz is not None:
        assert str(configz.get("readOnlyPort", 0)) == view["readOnlyPort"]
        view["anonymous"] = str(configz["authentication"]["anonymous"]["enabled"]).lower()
        view["mode"] = configz["authorization"]["mode"]
    return view


@pytest.mark.parametrize("case", sorted(CASES))
def test_effective_kubelet_settings_match_the_real_kubelet(tmp_path, case):
    files, extra = CASES[case]
    root = make_tree(tmp_path, files, extra)
    joined_kubeconfig(root, kubelet_command(root)[0], DONOR)
    predicted, _results = kubefort_view(root)
    assert predicted == real_view(root, tmp_path)


def test_config_dir_without_the_alpha_variable_does_not_start(tmp_path):
    """1.28 refuses --config-dir unless KUBELET_CONFIG_DROPIN_DIR_ALPHA is set; kubefort says so."""
    root = make_tree(tmp_path, {DROPIN_DIR[1:] + "/50-pods.conf": HEAD + "maxPods: 50\n"}, "--config-dir=" + DROPIN_DIR)
    argv, env = kubelet_command(root)
    assert "KUBELET_CONFIG_DROPIN_DIR_ALPHA" not in env
    node = Node(root, kubelet_ports(node_ip(root)), address=node_ip(root))
    node.add_containerd()
    node.add_kubelet(argv, env)
    with node:
        assert node.wait_exit("kubelet") != 0
        log = node.tail("kubelet", 40)
    assert "KUBELET_CONFIG_DROPIN_DIR_ALPHA" in log
    _view, results = kubefort_view(root)
    for rule in RULES:
        assert results[rule]["status"] == "error" and "KUBELET_CONFIG_DROPIN_DIR_ALPHA" in results[rule]["message"]


@pytest.mark.parametrize("case", DROPIN_CASES)
def test_fixes_on_drop_in_setups_take_effect(tmp_path, case):
    """kubefort's fix, written where it takes effect on 1.28, is what the real kubelet then runs."""
    files, extra = CASES[case]
    root = make_tree(tmp_path, files, extra)
    joined_kubeconfig(root, kubelet_command(root)[0], DONOR)
    rules = select_rules(["kubelet"], list(RULES), [])
    first = run(call_module_factory(check=False), root, rules, Options(), False, "/var/lib/kubefort/backups", False)
    assert not first["failed"]
    assert all(r["status"] in ("fixed", "pass") for r in first["results"]), [(r["id"], r["status"], r["message"]) for r in first["results"]]
    assert {"readOnlyPort": "0", "anonymous": "false", "mode": "Webhook"} == kubefort_view(root)[0] == real_view(root, tmp_path)
    again = run(call_module_factory(check=False), root, rules, Options(), False, "/var/lib/kubefort/backups", False)
    assert not again["changed"]


def test_kubelet_configuration_defaults_match_configz(tmp_path):
    """The defaults kubefort gives every 1.28 drop-in are the real kubelet's (keys the file leaves unset)."""
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._kubelet_merge import KUBELET_CONFIG_DEFAULTS

    files, extra = CASES["config-insecure"]
    root = make_tree(tmp_path, files, extra)
    configz = {}
    real_view(root, tmp_path, configz)
    set_in_file = yaml_keys(files["var/lib/kubelet/config.yaml"])
    for keypath, value in leaves(KUBELET_CONFIG_DEFAULTS):
        if keypath in set_in_file:
            continue
        node = configz
        for part in keypath:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        assert node == ({} if value == "" else value), keypath


def leaves(data, prefix=()):
    for key, value in data.items():
        if isinstance(value, dict):
            yield from leaves(value, prefix + (key,))
        else:
            yield prefix + (key,), value


def yaml_keys(text):
    import yaml

    return {k for k, _v in leaves(yaml.safe_load(text))}
