# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Action plugin of kubefort.hardening.check_input: every host's kubefort variables, checked up front.

The roles' own argument specs would catch a wrong type too, but only per host and with the whole spec in
the failure (``argument_spec_data``); this checks the same specs once, before any host is touched, and
says in one line per problem which variable is wrong, what type it needs and an example.
"""

from __future__ import annotations

import json
import os
import typing as t

import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _catalog
from ansible_collections.kubefort.hardening.plugins.module_utils._policy import check_waivers
from ansible_collections.kubefort.hardening.plugins.plugin_utils._controller import ControllerAction, plain

ROLES = ("common", "control_plane", "node", "ports", "cluster", "report")
SPEC_KEYS = ("type", "elements", "choices", "options", "required")
TYPE_WORDS = {"int": "an integer", "bool": "a boolean (true or false)", "str": "a string", "path": "a path",
              "list": "a list", "dict": "a mapping", "float": "a number", "raw": "a value"}
SAMPLE_VALUES = {"int": 1, "bool": True, "str": "value", "path": "/etc/kubernetes", "float": 1.0, "dict": {"key": "value"}}


def _collection_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _strip(spec: t.Mapping[str, t.Any]) -> t.Dict[str, t.Any]:
    out = {k: v for k, v in spec.items() if k in SPEC_KEYS}
    if isinstance(out.get("options"), dict):
        out["options"] = {k: _strip(v) for k, v in out["options"].items()}
    return out


def role_options() -> t.Dict[str, t.Dict[str, t.Any]]:
    """Every role variable's spec (type, elements, choices, suboptions) and default, from the roles' meta."""
    options: t.Dict[str, t.Dict[str, t.Any]] = {}
    for role in ROLES:
        path = os.path.join(_collection_root(), "roles", role, "meta", "argument_specs.yml")
        try:
            with open(path, encoding="utf-8") as handle:
                data = yaml.safe_load(handle) or {}
        except OSError:
            continue
        for entry in (data.get("argument_specs") or {}).values():
            for name, spec in ((entry or {}).get("options") or {}).items():
                options.setdefault(name, dict(spec or {}))
    return options


def _example(name: str, spec: t.Mapping[str, t.Any]) -> str:
    value = spec.get("default")
    if value in (None, "", [], {}):
        if spec.get("choices"):
            value = spec["choices"][-1]
        elif spec.get("type") == "list":
            element = spec.get("elements", "str")
            value = [{"id": "kubelet-read-only-port", "reason": "why"} if name == "kubefort_waivers" else
                     SAMPLE_VALUES.get(element, "value") if element != "str" else "kubelet-read-only-port" if "rules" in name else "value"]
        else:
            value = SAMPLE_VALUES.get(spec.get("type", "str"), "value")
    return "%s: %s" % (name, json.dumps(value))


def problem(name: str, spec: t.Mapping[str, t.Any], value: t.Any) -> t.Optional[str]:
    """One line when ``value`` does not fit the variable's spec, else None."""
    result = ArgumentSpecValidator({name: _strip(spec)}).validate({name: value})
    if not result.error_messages:
        return None
    kind = spec.get("type", "str")
    want = TYPE_WORDS.get(kind, kind)
    if kind == "list" and spec.get("elements"):
        want += " of %ss" % spec["elements"] if spec["elements"] != "dict" else " of mappings"
    if spec.get("choices"):
        want += ", one of %s" % ", ".join(str(c) for c in spec["choices"])
    shown = json.dumps(value, default=str)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    detail = result.error_messages[0]
    if name in detail and "Suboptions" in detail or "found in" in detail:
        return "%s: expected %s, got %s (%s); for example %s" % (name, want, shown, detail, _example(name, spec))
    return "%s: expected %s, got %s (%s); for example %s" % (name, want, shown, type(value).__name__, _example(name, spec))


def rule_problems(variables: t.Mapping[str, t.Any]) -> t.List[str]:
    """Unknown IDs in kubefort_rules, kubefort_skip_rules, kubefort_overrides and kubefort_waivers, malformed
    waivers, and override values of the wrong type."""
    found = []
    for name in ("kubefort_rules", "kubefort_skip_rules"):
        value = variables.get(name)
        if isinstance(value, list) and value:
            try:
                _catalog.select(value)
            except _catalog.UnknownRuleError as exc:
                found.append("%s: %s" % (name, exc))
    overrides = variables.get("kubefort_overrides")
    if isinstance(overrides, dict):
        found.extend(_catalog.override_problems(overrides))
    waivers = variables.get("kubefort_waivers")
    if isinstance(waivers, list) and waivers and all(isinstance(w, dict) for w in waivers):
        try:
            check_waivers(waivers)
            _catalog.check_waiver_ids(waivers)
        except ValueError as exc:
            found.append(str(exc) if str(exc).startswith("kubefort_waivers") else "kubefort_waivers: %s" % exc)
    return found


class ActionModule(ControllerAction):
    def run(self, tmp: t.Any = None, task_vars: t.Optional[t.Dict[str, t.Any]] = None) -> t.Dict[str, t.Any]:
        result, task_vars, args = self.start(tmp, task_vars, {"hosts": {"type": "list", "elements": "str", "required": True}})
        hostvars = task_vars.get("hostvars") or {}
        options = role_options()
        problems: t.Dict[str, t.List[str]] = {}
        for host in args["hosts"]:
            if host not in hostvars:
                continue
            variables = hostvars[host]
            given: t.Dict[str, t.Any] = {}
            for name, spec in options.items():
                if name not in variables:
                    continue
                try:
                    value = plain(variables[name])
                except Exception as exc:  # an undefined variable inside a template, a template error
                    problems.setdefault("%s: cannot be evaluated: %s" % (name, str(exc).splitlines()[0]), []).append(host)
                    continue
                given[name] = value
                line = problem(name, spec, value)
                if line:
                    problems.setdefault(line, []).append(host)
            for line in rule_problems(given):
                problems.setdefault(line, []).append(host)
        if problems:
            checked = [h for h in args["hosts"] if h in hostvars]
            lines = [line if len(checked) > 1 and sorted(hosts) == sorted(checked) else
                     "%s (host%s %s)" % (line, "s" if len(hosts) > 1 else "", ", ".join(hosts[:5]) + (" ..." if len(hosts) > 5 else ""))
                     for line, hosts in problems.items()]
            return dict(result, failed=True, msg="kubefort cannot start, fix these variables: " + " | ".join(lines))
        return dict(result, changed=False, msg="kubefort variables of %d host(s) are valid" % len(args["hosts"]))
