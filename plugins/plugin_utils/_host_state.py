# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""What the kubefort actions keep per host during one ansible-playbook run, without tasks of their own.

- The host facts ``kubefort_results`` and ``kubefort_host``, returned by each action as ``ansible_facts``
  (no ``set_fact`` task per role). ``kubefort_host.run`` names the run, so facts a persistent fact cache
  kept from an earlier run are started over, never appended to or reported as current.
- The discovery of a host (node snapshot, listening sockets, the node's own probes), kept for the
  following roles of the same run in the run's private controller directory (Ansible's local temporary
  directory, mode 0700, removed when ansible-playbook exits): one module round trip per host whatever
  the roles. A write on the node drops it.
- The role options, checked inside the first kubefort action of a play for a host (no
  ``validate_argument_spec`` task per role and host, nothing printed unless an option is wrong).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import typing as t

import yaml

from ansible import constants as C
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

# Roles of this collection whose options the actions check, and the role whose options they all share.
ROLES = ("control_plane", "node", "ports", "cluster", "report")
SHARED_ROLE = "common"
_ROLES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "roles")


class OptionsError(Exception):
    """A role option has a wrong type or value; the message says which and what is allowed."""


def run_id() -> str:
    """This ansible-playbook run: its private local temporary directory (unique per run)."""
    return str(C.DEFAULT_LOCAL_TMP)


def _state_dir() -> str:
    path = os.path.join(str(C.DEFAULT_LOCAL_TMP), "kubefort")
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def _key(host: str, root: str, kind: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", "%s@%s" % (host, root))
    return os.path.join(_state_dir(), "%s.%s.json" % (safe, kind))


def load_discovery(host: str, root: str) -> t.Optional[t.Dict[str, t.Any]]:
    """What an earlier kubefort action of this run found on ``host`` (``snapshot``, ``ports``), or None."""
    try:
        with open(_key(host, root, "discovery"), encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def store_discovery(host: str, root: str, data: t.Mapping[str, t.Any]) -> None:
    path = _key(host, root, "discovery")
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def drop_discovery(host: str, root: str) -> None:
    """Forget the discovery after a write on the node: the next role reads the node again."""
    try:
        os.unlink(_key(host, root, "discovery"))
    except OSError:
        pass


def current(task_vars: t.Mapping[str, t.Any]) -> t.Tuple[t.List[t.Any], t.Dict[str, t.Any]]:
    """``kubefort_results`` and ``kubefort_host`` of this run so far (empty when from an earlier run)."""
    facts = task_vars.get("ansible_facts") or {}
    results = facts.get("kubefort_results", task_vars.get("kubefort_results"))
    host = facts.get("kubefort_host", task_vars.get("kubefort_host"))
    if not isinstance(host, dict) or not isinstance(results, list):
        return [], {}
    if host.get("run") not in (None, run_id()):
        return [], {}
    return list(results), dict(host)


def is_stale(host: t.Any) -> bool:
    """Whether a ``kubefort_host`` fact was left by an earlier run (a persistent fact cache)."""
    return isinstance(host, dict) and host.get("run") not in (None, run_id())


def record(task_vars: t.Mapping[str, t.Any], role: str, results: t.Sequence[t.Any], info: t.Mapping[str, t.Any],
           round_trips: int, check_mode: bool) -> t.Dict[str, t.Any]:
    """The ``ansible_facts`` an action returns: its results appended, its host metadata merged.

    A role that already recorded results in this run (its fixes deferred to the rollout, then made there)
    replaces them: the results of the same rules are dropped before the new ones are appended.
    """
    previous, host = current(task_vars)
    if role in (host.get("roles") or []):
        again = {r.get("id") for r in results if isinstance(r, t.Mapping)}
        previous = [r for r in previous if not (isinstance(r, t.Mapping) and r.get("id") in again)]
    dependent = list(host.get("version_dependent_rules") or [])
    host.update(info)
    if dependent or "version_dependent_rules" in info:
        # Rules that depend on an unknown version, from every role of the host, each once.
        merged = dependent + list(info.get("version_dependent_rules") or [])
        host["version_dependent_rules"] = [r for i, r in enumerate(merged) if r not in merged[:i]]
    roles = list(host.get("roles") or [])
    host["roles"] = roles if role in roles else roles + [role]
    host["mode"] = "check" if check_mode else "apply"
    host["round_trips"] = int(host.get("round_trips") or 0) + round_trips
    host["run"] = run_id()
    return {"kubefort_results": previous + list(results), "kubefort_host": host, "kubefort_run": run_id()}


ORDER = ("fail", "would_fix", "error", "fixed", "manual", "waived", "pass", "not_applicable", "skipped")


def progress(task_vars: t.Mapping[str, t.Any], results: t.Sequence[t.Mapping[str, t.Any]], final: bool) -> t.Dict[str, t.Any]:
    """What the kubefort.hardening.progress callback prints for this host: its place in the play and its score."""
    hosts = list(task_vars.get("ansible_play_hosts_all") or [])
    name = task_vars.get("inventory_hostname", "")
    counts: t.Dict[str, int] = {}
    for result in results:
        status = str(result.get("status"))
        counts[status] = counts.get(status, 0) + 1
    scored = sum(counts.get(s, 0) for s in ("pass", "fixed", "fail", "would_fix", "error"))
    passed = counts.get("pass", 0) + counts.get("fixed", 0)
    parts = ["%d %s" % (counts[s], s) for s in ORDER if counts.get(s)]
    return {
        "index": hosts.index(name) + 1 if name in hosts else 0,
        "total": len(hosts),
        "final": final,
        "score": "%s%%" % round(100.0 * passed / scored, 1) if scored else "n/a",
        "counts": ", ".join(parts) if parts else "no results",
    }


def _role_options(role: str) -> t.Dict[str, t.Any]:
    options: t.Dict[str, t.Any] = {}
    for name in (SHARED_ROLE, role):
        path = os.path.join(_ROLES_DIR, name, "meta", "argument_specs.yml")
        try:
            with open(path, encoding="utf-8") as handle:
                specs = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
        except (OSError, yaml.YAMLError):
            continue
        for entry in (specs.get("argument_specs") or {}).values():
            for option, spec in (entry.get("options") or {}).items():
                options[option] = {k: v for k, v in spec.items() if k not in ("description", "version_added")}
    return options


_DEFAULTS: t.Dict[str, t.Dict[str, t.Any]] = {}


def _role_defaults(role: str) -> t.Dict[str, t.Any]:
    """The role's ``defaults/main.yml`` as written (templates not rendered), read once per process."""
    if role not in _DEFAULTS:
        try:
            with open(os.path.join(_ROLES_DIR, role, "defaults", "main.yml"), encoding="utf-8") as handle:
                data = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except (OSError, yaml.YAMLError):
            data = None
        _DEFAULTS[role] = data if isinstance(data, dict) else {}
    return _DEFAULTS[role]


def _is_default(name: str, value: t.Any, roles: t.Iterable[str]) -> bool:
    """Whether ``value`` is the role default of ``name`` as written (then it is the role's own, not checked,
    and not rendered: e.g. kubefort_ports_control_plane_sources reads every control-plane host's variables)."""
    marker = object()
    for role in (SHARED_ROLE,) + tuple(roles):
        default = _role_defaults(role).get(name, marker)
        if default is not marker:
            try:
                # true == 1 in Python: a bool only stands for a bool.
                return isinstance(value, bool) == isinstance(default, bool) and bool(default == value)
            except Exception:  # noqa: BLE001 - a value that cannot be compared is checked
                return False
    return False


def check_options(task_vars: t.Mapping[str, t.Any], roles: t.Iterable[str], templar: t.Any, play_id: str) -> None:
    """Check the options of ``roles`` as this host sees them, once per play and host.

    Raises OptionsError with one line per wrong option. Options the host does not set, or sets to the
    role default as written, are not checked (their defaults are the roles' own) and not rendered.
    """
    host = str(task_vars.get("inventory_hostname", ""))
    marker = _key(host, play_id, "checked")
    if os.path.exists(marker):
        return
    roles = list(roles)
    spec: t.Dict[str, t.Any] = {}
    for role in roles:
        spec.update(_role_options(role))
    given = {name: templar.template(task_vars[name]) for name in spec
             if name in task_vars and not _is_default(name, task_vars[name], roles)}
    for option in spec.values():
        option.pop("default", None)
        option.pop("required", None)
    outcome = ArgumentSpecValidator(spec).validate(given)
    if outcome.error_messages:
        raise OptionsError("; ".join(outcome.error_messages))
    with open(marker, "w", encoding="utf-8"):
        pass


def play_roles(task: t.Any) -> t.List[str]:
    """The collection's roles in the play of ``task`` and the task's own (whose options the first action checks)."""
    names: t.List[str] = []
    try:
        candidates = list(task.get_play().get_roles())
    except AttributeError:
        candidates = []
    own = getattr(task, "_role", None)
    if own is not None:
        candidates.append(own)
    for role in candidates:
        short = role.get_name(include_role_fqcn=False)
        if short in ROLES and short not in names:
            names.append(short)
    return names


def play_id(task: t.Any) -> str:
    try:
        return str(task.get_play()._uuid)
    except AttributeError:
        return "play"


def current_failures(variables: t.Mapping[str, t.Any]) -> t.List[t.Dict[str, str]]:
    """This run's failed stages of a host: ``kubefort_host_failures`` (``[{stage, reason, run}]``, the actions'
    facts; entries a persistent fact cache kept from an earlier run are dropped), then ``kubefort_task_failures``
    (``[{stage, reason}]``, what the roles' rescues and handlers record with set_fact, never cached)."""
    raw: t.Any = []
    for name in ("kubefort_host_failures", "kubefort_task_failures"):
        try:
            value = json.loads(json.dumps(variables.get(name) or [], default=str))
        except (TypeError, ValueError):
            continue
        if isinstance(value, list):
            raw.extend(value)
    return [{"stage": str(item.get("stage") or "run"), "reason": str(item.get("reason") or "failed")}
            for item in raw if isinstance(item, dict) and item.get("run") in (None, run_id())]


def record_failure(task_vars: t.Mapping[str, t.Any], stage: str, reason: str) -> t.Dict[str, t.Any]:
    """The ``ansible_facts`` that add a failed stage to this host's ``kubefort_host_failures``."""
    facts = task_vars.get("ansible_facts") or {}
    previous = current_failures({"kubefort_host_failures": facts.get("kubefort_host_failures",
                                                                     task_vars.get("kubefort_host_failures"))})
    entries = [dict(f, run=run_id()) for f in previous]
    if {"stage": stage, "reason": reason} not in previous:
        entries.append({"stage": stage, "reason": reason, "run": run_id()})
    # kubefort_run: this run's ID, also on a host that failed before any result (playbooks/harden.yml's last
    # play tells this run's failures from those a persistent fact cache kept).
    return {"kubefort_host_failures": entries, "kubefort_run": run_id()}
