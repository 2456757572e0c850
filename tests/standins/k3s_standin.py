#!/usr/bin/env python
"""TEST STAND-IN for a k3s agent (NOT k3s): installed as /usr/local/bin/k3s in test images.

No k3s binary can be run on the test machines, so the podman test nodes run this program under a
``k3s-agent.service`` unit as the k3s install script writes it (``ExecStart=/usr/local/bin/k3s agent``).
Like k3s, it runs the kubelet inside its own process, configured the way k3s configures it:

* ``/etc/rancher/k3s/config.yaml``, then ``config.yaml.d/*.yaml`` and ``*.yml`` in name order: a key
  replaces the value of an earlier file, ``key+`` appends to it; ``kubelet-arg`` (a list or a string)
  holds ``name=value`` kubelet flags; ``--kubelet-arg`` on the command line comes last.
* k3s writes its defaults drop-in ``00-k3s-defaults.conf`` (anonymous auth off, Webhook) into
  ``/var/lib/rancher/k3s/agent/etc/kubelet.conf.d`` at every start and starts the kubelet with
  ``--config-dir`` on that directory and ``--read-only-port=0``, then the user's kubelet-arg entries
  (last occurrence wins).
* The kubelet part is the kubelet stand-in's (``kubelet_standin.py``): the same validation (an out-of-range
  port, an unknown authorization mode ... make k3s exit 1 with one log line, as the real k3s does when its
  kubelet fails to start), ``/healthz`` on 10248, the authenticated API on 10250, the read-only port.

Only ``k3s agent`` is emulated; containers, the tunnel to the server and the embedded containerd are not.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

import kubelet_standin as kubelet
import standin_common as common
import yaml
from standin_common import StartupError

NAME = "k3s"
CONFIG = os.environ.get("KUBEFORT_STANDIN_K3S_CONFIG", "/etc/rancher/k3s/config.yaml")
KUBELET_CONFIG_DIR = "/var/lib/rancher/k3s/agent/etc/kubelet.conf.d"
DEFAULTS_DROPIN = ("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                   "authentication:\n  anonymous:\n    enabled: false\n  webhook:\n    enabled: true\n"
                   "authorization:\n  mode: Webhook\n")


def config_files(config: str) -> list[str]:
    directory = config + ".d"
    dropins = sorted(os.path.join(directory, n) for n in os.listdir(directory)
                     if n.endswith((".yaml", ".yml"))) if os.path.isdir(directory) else []
    return ([config] if os.path.exists(config) else []) + dropins


def kubelet_args(config: str, command_line: list[str]) -> list[str]:
    """The kubelet-arg entries k3s applies, in order."""
    return arg_entries(config, "kubelet-arg", command_line)


def arg_entries(config: str, key: str, command_line: list[str]) -> list[str]:
    """The entries of one ``<component>-arg`` key k3s and RKE2 apply, in order: config.yaml, its drop-ins
    (a key replaces, ``key+`` appends), then ``--<key>`` words on the command line."""
    args: list[str] = []
    for path in config_files(config):
        try:
            with open(path, encoding="utf-8") as handle:
                data = yaml.safe_load(handle) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise StartupError(f"failed to load config file {path}: {exc}")
        if not isinstance(data, dict):
            raise StartupError(f"failed to load config file {path}: not a mapping")
        for name in (key, key + "+"):
            if name not in data:
                continue
            value = data[name]
            items = [str(v) for v in value] if isinstance(value, list) else [str(value)]
            args = args + items if name.endswith("+") else items
    index = 0
    while index < len(command_line):
        word = command_line[index]
        if word.startswith("--%s=" % key):
            args.append(word.split("=", 1)[1])
        elif word == "--" + key and index + 1 < len(command_line):
            index += 1
            args.append(command_line[index])
        index += 1
    return args


def main() -> int:
    common.present_as(__file__)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        if sys.argv[1:2] != ["agent"]:
            raise StartupError("the k3s stand-in runs only as 'k3s agent'")
        os.makedirs(KUBELET_CONFIG_DIR, exist_ok=True)
        with open(os.path.join(KUBELET_CONFIG_DIR, "00-k3s-defaults.conf"), "w", encoding="utf-8") as handle:
            handle.write(DEFAULTS_DROPIN)
        words = ["--config-dir=" + KUBELET_CONFIG_DIR, "--read-only-port=0"]
        words += ["--" + a.lstrip("-") for a in kubelet_args(CONFIG, sys.argv[2:])]
        flags = common.parse_flags(words, kubelet.BOOL_FLAGS, kubelet.VALUE_FLAGS | kubelet.BOOL_FLAGS)
        settings = kubelet.validate(kubelet.effective_config(flags))
        cert_dir = "/var/lib/rancher/k3s/agent"
        cert, key = os.path.join(cert_dir, "serving-kubelet.crt"), os.path.join(cert_dir, "serving-kubelet.key")
        if not (os.path.exists(cert) and os.path.exists(key)):
            common.self_signed(cert, key, socket.gethostname())
        node = kubelet.Kubelet(settings, socket.gethostname())
        context = common.server_context(cert, key, settings["client_ca"] or None)
        if settings["healthz_port"]:
            common.serve(NAME, settings["healthz_address"], settings["healthz_port"], common.Handler, None,
                         kubelet.HealthzApp())
        common.serve(NAME, settings["address"], settings["port"], common.Handler, context, kubelet.SecureApp(node))
        if settings["read_only_port"]:
            common.serve(NAME, settings["address"], settings["read_only_port"], common.Handler, None,
                         kubelet.ReadOnlyApp(node))
    except StartupError as exc:
        common.die(NAME, "kubelet exited: %s" % exc)
    common.log(NAME, f"I started the kubelet: anonymous={settings['anonymous']} authorization={settings['mode']} "
                     f"readOnlyPort={settings['read_only_port']}")
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
