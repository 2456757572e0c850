"""Run the rule engines offline on every bundled node tree and dump what they say, as normalized JSON.

The safety net of the engine restructuring (issue #15): the output must stay byte-identical, or differ only
where a change means it to. It runs, through the top-level entries and nothing below them:

- node rules: ``plugin_utils._harden.run`` on every demo node (``demo/nodes``, laid out as
  ``scripts/demo_nodes.py`` does) and every node tree under ``tests/fixtures/nodes``, with node_facts and
  node_files called in-process (as ``tests/unit/kubefort_testlib.py`` does), for the control-plane and the
  node role, in check mode, then apply, check again and apply again; under three sets of options (the
  defaults; level 2 with overrides, waivers, supplied files and a selection; a waiver for every rule);
- ports rules: ``plugin_utils._ports_evaluate.evaluate`` on the captured listings under
  ``tests/fixtures/proc``, with and without probe outcomes, selections and waivers;
- cluster rules: the ``cluster_policy`` module's ``run_module`` on the saved cluster dumps, at both levels,
  with waivers and a selection (resolved first as its action plugin does, ``with_selection``).

Results, diffs, the file specs sent to node_files, restart plans, host metadata, module round trips and a
hash of every file after the run are kept; the node tree's temporary path and backup run IDs are replaced.

Usage (from the checkout, with the project's venv):
  .venv/bin/python tests/tools/engine_snapshot.py OUT.json            # write a snapshot
  .venv/bin/python tests/tools/engine_snapshot.py OUT.json --compare BASE.json   # and list what differs
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import shutil
import sys
import tempfile
import typing as t

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [os.path.join(REPO, ".build"), os.path.join(REPO, "tests", "unit")]

TODAY = datetime.date(2026, 6, 1)
BACKUP_DIR = "/var/lib/kubefort/backups"
ROLES = {
    "control_plane": ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"],
    "node": ["kubelet", "kube-proxy"],
}
AUDIT_POLICY = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Metadata\n"
ENCRYPTION_CONFIG = (
    "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: [secrets]\n"
    "    providers:\n      - aescbc:\n          keys:\n            - name: key1\n"
    "              secret: c2VjcmV0IGlzIHNlY3VyZSwgb3IgaXMgaXQ/Cg==\n      - identity: {}\n"
)
ADMISSION_CONFIG = (
    "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n  - name: EventRateLimit\n"
    "    configuration:\n      apiVersion: eventratelimit.admission.k8s.io/v1alpha1\n      kind: Configuration\n"
    "      limits:\n        - type: Server\n          qps: 50\n          burst: 100\n"
)


def node_option_sets() -> t.Dict[str, t.Dict[str, t.Any]]:
    """name -> (rules, skip, Options keyword arguments)."""
    from ansible_collections.kubefort.hardening.plugins.plugin_utils import _catalog

    every_rule = [{"id": rule.id, "reason": "snapshot: waive everything"} for rule in _catalog.ALL_RULES]
    return {
        "default": {"rules": [], "skip": [], "options": {}},
        "policy": {
            "rules": [],
            "skip": ["1.2.1", "kubelet-hostname-override"],
            "options": {
                "level": 2,
                "overrides": {
                    "kubelet-pod-pids-limit": 2048,
                    "kubelet-event-qps": 50,
                    "kubelet-read-only-port": 0,
                    "kubelet-tls-cipher-suites": ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                                                  "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"],
                    "apiserver-request-timeout": "300s",
                    "kube-proxy-metrics-bind-address": "127.0.0.1:10249",
                },
                "waivers": [
                    {"id": "kubelet-anonymous-auth", "reason": "snapshot: waived", "expires": "2027-01-01"},
                    {"id": "4.2.2", "reason": "snapshot: waived by CIS ID"},
                    {"id": "kubelet-read-only-port", "reason": "snapshot: expired", "expires": "2026-01-01"},
                    {"id": "1.2.16", "reason": "snapshot: audit log waived"},
                    {"id": "etcd-data-dir-permissions", "reason": "snapshot: waived"},
                ],
                "supplied": {"audit_policy": AUDIT_POLICY, "encryption_config": ENCRYPTION_CONFIG,
                             "admission_config": ADMISSION_CONFIG},
                "apiserver_probes_tcp": True,
                "benchmark": "cis-2.0",
            },
        },
        "waive-all": {"rules": ["1", "4", "kubelet-cadvisor-port"], "skip": [],
                      "options": {"level": 2, "waivers": every_rule}},
    }


def node_trees() -> t.List[t.Tuple[str, str]]:
    trees = [("demo/" + name, os.path.join(REPO, "demo", "nodes", name))
             for name in sorted(os.listdir(os.path.join(REPO, "demo", "nodes")))]
    fixtures = os.path.join(REPO, "tests", "fixtures", "nodes")
    trees += [("fixtures/" + name, os.path.join(fixtures, name)) for name in sorted(os.listdir(fixtures))]
    return trees


def lay_out(source: str, dest: str) -> str:
    from kubefort_testlib import _demo_nodes_script

    shutil.copytree(source, dest, symlinks=True)
    _demo_nodes_script().apply_modes(dest)
    return dest


def file_hashes(root: str) -> t.Dict[str, t.Any]:
    from kubefort_testlib import tree_hashes

    # Backups sit under a directory named for the run's second (two runs may share one): each run's
    # result counts its backups instead.
    return {path: [digest, "%o" % mode] for path, (digest, mode) in sorted(tree_hashes(root).items())
            if not path.startswith(BACKUP_DIR.lstrip("/") + "/")}


def one_run(root: str, components: t.List[str], selection: t.Mapping[str, t.Any], check: bool) -> t.Dict[str, t.Any]:
    from kubefort_testlib import call_module_factory

    from ansible_collections.kubefort.hardening.plugins.plugin_utils import _harden
    from ansible_collections.kubefort.hardening.plugins.plugin_utils._evaluate import Options

    calls: t.List[str] = []
    written: t.List[t.Any] = []
    inner = call_module_factory(check=check, calls=calls)

    def call(name: str, args: t.Dict[str, t.Any]) -> t.Dict[str, t.Any]:
        if name.endswith("node_files"):
            written.append(copy.deepcopy(args.get("files")))
        return inner(name, args)

    try:
        if hasattr(_harden, "selection"):  # the policy layer: skipped rules are reported
            chosen = _harden.selection(components, selection["rules"], selection["skip"])
            rules, skipped = {"rules": chosen.rules}, {"skipped": chosen.skipped}
        else:
            rules, skipped = {"rules": _harden.select_rules(components, selection["rules"], selection["skip"])}, {}
        options = Options(today=TODAY, **selection["options"])
        outcome = _harden.run(call, root, rules["rules"], options, check, BACKUP_DIR, True, **skipped)
    except Exception as exc:  # noqa: BLE001 - the snapshot records what the entry raised
        return {"raised": "%s: %s" % (type(exc).__name__, exc)}
    outcome.pop("_snapshot", None)
    outcome["backups"] = len(outcome.get("backups") or [])
    outcome["module_calls"] = calls
    outcome["node_files"] = written
    return outcome


def node_snapshot() -> t.Dict[str, t.Any]:
    out: t.Dict[str, t.Any] = {}
    for selection_name, selection in node_option_sets().items():
        for label, source in node_trees():
            with tempfile.TemporaryDirectory(prefix="kubefort-engine-snapshot-") as tmp:
                root = lay_out(source, os.path.join(tmp, "node"))
                runs: t.Dict[str, t.Any] = {}
                for step, check in (("check", True), ("apply", False), ("check-after-apply", True), ("apply-again", False)):
                    for role, components in ROLES.items():
                        runs["%s/%s" % (step, role)] = one_run(root, components, selection, check)
                runs["files-after"] = file_hashes(root)
                text = json.dumps(runs, sort_keys=True, default=str).replace(root, "<ROOT>").replace(tmp, "<TMP>")
                out["%s %s" % (selection_name, label)] = json.loads(text)
    return out


def ports_snapshot() -> t.Dict[str, t.Any]:
    from ansible_collections.kubefort.hardening.plugins.module_utils import _sockets
    from ansible_collections.kubefort.hardening.plugins.plugin_utils import _ports_evaluate

    probes = [{"prober": "node", "probes": [
        {"name": "kubelet-readonly", "url": "http://n:10255/pods", "outcome": "http", "status": 200, "denied": False,
         "message": "HTTP 200"},
        {"name": "kubelet-api", "url": "https://n:10250/pods", "outcome": "http", "status": 401, "denied": True,
         "message": "HTTP 401"},
        {"name": "apiserver", "url": "https://n:6443/api", "outcome": "error", "status": None, "denied": None,
         "message": "TLS handshake failed"},
    ]}]
    variants: t.Dict[str, t.Dict[str, t.Any]] = {
        "default": {},
        "selection": {"rules": ["ports-kubelet-readonly-closed", "ports-apiserver-anonymous", "kubelet-read-only-port"],
                      "skip": ["ports-cadvisor-closed"]},
        "waivers": {"waivers": [
            {"id": "ports-kubelet-readonly-closed", "reason": "waived"},
            {"id": "ports-apiserver-anonymous", "reason": "waived error"},
            {"id": "ports-kubelet-readonly-anonymous", "reason": "expired", "expires": "2026-01-01"},
            {"id": "ports-scheduler-loopback", "reason": "waived pass", "expires": "2027-01-01"},
        ]},
        "scopes": {"kube_proxy_healthz_scopes": ["loopback", "node", "any"], "allow_any_address": [6443]},
        "level": {"level": 2},
        "bad-selection": {"rules": ["ports-no-such-rule"]},
    }
    out: t.Dict[str, t.Any] = {}
    fixtures = os.path.join(REPO, "tests", "fixtures", "proc")
    for layout in sorted(d for d in os.listdir(fixtures) if os.path.isdir(os.path.join(fixtures, d))):
        listing = _sockets.listening_sockets(os.path.join(fixtures, layout))
        for name, options in variants.items():
            for probed in (None, probes):
                key = "%s %s %s" % (layout, name, "probed" if probed else "no-probes")
                try:
                    out[key] = _ports_evaluate.evaluate(listing, probed, options, today=TODAY)
                except Exception as exc:  # noqa: BLE001
                    out[key] = {"raised": "%s: %s" % (type(exc).__name__, exc)}
    out["offline"] = _ports_evaluate.evaluate(None, None, {}, offline_reason="offline node", today=TODAY)
    return out


def cluster_snapshot() -> t.Dict[str, t.Any]:
    from ansible_collections.kubefort.hardening.plugins.action.cluster_policy import with_selection
    from ansible_collections.kubefort.hardening.plugins.module_utils._cluster_policy import selection_failed
    from ansible_collections.kubefort.hardening.plugins.module_utils._policy import PolicyError
    from ansible_collections.kubefort.hardening.plugins.modules import cluster_policy

    defaults = {name: spec.get("default") for name, spec in cluster_policy.ARGUMENT_SPEC.items()}
    from ansible_collections.kubefort.hardening.plugins.module_utils._rules_cluster import RULES

    every = [{"id": rule.id, "reason": "waive everything"} for rule in RULES]
    variants: t.Dict[str, t.Dict[str, t.Any]] = {
        "level1": {},
        "level2": {"level": 2},
        "waivers": {"level": 2, "waivers": [
            {"id": "5.1.1", "reason": "waived"}, {"id": "default-sa-automount", "reason": "expired", "expires": "2026-01-01"},
        ] + every[3:9]},
        "selection": {"rules": ["5.1", "pod-seccomp"], "skip_rules": ["5.1.3"], "level": 2},
        "bad-selection": {"rules": ["5.9.9"]},
    }
    out: t.Dict[str, t.Any] = {}
    dumps = {"demo": os.path.join(REPO, "demo", "cluster", "snapshot.json"),
             "fixture": os.path.join(REPO, "tests", "fixtures", "cluster", "kubeadm-insecure.json")}
    for dump_name, path in dumps.items():
        for name, params in variants.items():
            args = dict(defaults, snapshot_files=[path], **params)
            try:
                args = with_selection(args)
            except PolicyError as exc:
                out["%s %s" % (dump_name, name)] = selection_failed(exc)
                continue
            out["%s %s" % (dump_name, name)] = cluster_policy.run_module(args, check_mode=True)
    out = json.loads(json.dumps(out, sort_keys=True, default=str).replace(REPO, "<REPO>"))
    # (The module judges waiver expiry against today's date: the dates above are far from it either way.)
    return out


def snapshot() -> t.Dict[str, t.Any]:
    return {"node": node_snapshot(), "ports": ports_snapshot(), "cluster": cluster_snapshot()}


def differences(base: t.Any, new: t.Any, path: str = "") -> t.List[str]:
    """Every leaf that differs, as 'path: base -> new'."""
    if isinstance(base, dict) and isinstance(new, dict):
        found = []
        for key in sorted(set(base) | set(new)):
            if key not in new:
                found.append("%s/%s: removed" % (path, key))
            elif key not in base:
                found.append("%s/%s: added %s" % (path, key, json.dumps(new[key], sort_keys=True)[:300]))
            else:
                found.extend(differences(base[key], new[key], "%s/%s" % (path, key)))
        return found
    if isinstance(base, list) and isinstance(new, list) and len(base) == len(new):
        found = []
        for index, (a, b) in enumerate(zip(base, new)):
            found.extend(differences(a, b, "%s[%d]" % (path, index)))
        return found
    if base != new:
        return ["%s: %s -> %s" % (path, json.dumps(base, sort_keys=True)[:300], json.dumps(new, sort_keys=True)[:300])]
    return []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--compare", metavar="BASE")
    args = parser.parse_args()
    data = snapshot()
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
        handle.write("\n")
    if not args.compare:
        return 0
    with open(args.compare, encoding="utf-8") as handle:
        base = json.load(handle)
    found = differences(base, data)
    for line in found:
        print(line)
    print("%d difference(s)" % len(found), file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
