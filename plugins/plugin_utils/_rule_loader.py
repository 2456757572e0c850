# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The rule catalog's data files (``catalog/*.yml`` beside this module) made into typed Rule objects.

Controller only (PyYAML): modules never read the data files. Each file has ``sections`` (a ``section:`` and its
``rules``, or ``include:`` another file of the same area at that place) and may have ``stat_paths``. An entry is
the fields of Rule, or ``builder:`` a builder of _rule_builders and its arguments; ``check`` is a mapping whose
``type`` names a spec class of _check_specs, ``files`` a FileSet. Anything the loader cannot turn into a rule
(an unknown key, builder or type, a missing field, a value of the wrong type, a duplicate ID, a related rule
that does not exist) raises CatalogError naming the file and the entry, when the catalog is imported.
"""

from __future__ import annotations

import dataclasses
import gc
import inspect
import os
import typing as t

import yaml

from ansible_collections.kubefort.hardening.plugins.module_utils import _check_specs
from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Rule
from ansible_collections.kubefort.hardening.plugins.plugin_utils import _rule_builders

CATALOG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "catalog")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

SPEC_TYPES: t.Dict[str, t.Type[_check_specs.CheckSpec]] = {
    cls.__name__: cls for cls in _check_specs.NODE_SPECS + _check_specs.PORTS_SPECS + _check_specs.CLUSTER_SPECS}
BUILDERS: t.Dict[str, t.Callable[..., Rule]] = {
    name: value for name, value in vars(_rule_builders).items()
    if name.endswith("_rule") and inspect.isfunction(value) and value.__module__ == _rule_builders.__name__}
_RULE_FIELDS = {f.name: f for f in dataclasses.fields(Rule)}
# Fields YAML could read as a number or a boolean ("2.1", "1.20") where the rule wants text.
_TEXT = ("id", "title", "component", "section", "severity", "cis", "flag", "config_key", "min_version", "max_version")


class CatalogError(ValueError):
    """A catalog entry that is not a rule; the message names the file and the entry."""


@dataclasses.dataclass(frozen=True)
class Area:
    """One area's rules in catalog order, where each is written (file, section, entry), and the paths they stat
    beyond discovery's first round."""

    rules: t.Tuple[Rule, ...]
    origins: t.Tuple[str, ...] = ()
    stat_paths: t.Tuple[str, ...] = ()


def _value(key: str, value: t.Any, where: str) -> t.Any:
    """A YAML value as the rule takes it: lists become tuples, ``check`` a spec, ``files`` a FileSet."""
    if isinstance(value, list):
        return tuple(_value("", v, where) for v in value)
    if not isinstance(value, dict):
        return value
    if key == "check":
        fields = dict(value)
        name = fields.pop("type", None)
        if name not in SPEC_TYPES:
            raise CatalogError("%s: unknown check type %r (known: %s)" % (where, name, ", ".join(sorted(SPEC_TYPES))))
        return _make(SPEC_TYPES[name], {k: _value(k, v, where) for k, v in fields.items()}, "check " + name, where)
    if key == "files":
        return _make(_check_specs.FileSet, {k: _value(k, v, where) for k, v in value.items()}, "files", where)
    return {k: _value(k, v, where) for k, v in value.items()}


_PARAMETERS: t.Dict[t.Any, t.Mapping[str, inspect.Parameter]] = {}


def _make(cls: t.Callable[..., t.Any], kwargs: t.Mapping[str, t.Any], what: str, where: str) -> t.Any:
    """``cls(**kwargs)``, refusing keys it does not take and missing ones by name."""
    params = _PARAMETERS.get(cls)
    if params is None:
        params = _PARAMETERS[cls] = inspect.signature(cls).parameters
    if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(kwargs) - set(params))
        if unknown:
            raise CatalogError("%s: unknown key(s) %s for %s (it takes: %s)" % (
                where, ", ".join(unknown), what, ", ".join(p for p in params if p != "section")))
    else:  # a builder passing the rest on to Rule
        unknown = sorted(k for k in kwargs if k not in params and k not in _RULE_FIELDS)
        if unknown:
            raise CatalogError("%s: unknown key(s) %s for %s (it takes: %s, and any field of Rule)" % (
                where, ", ".join(unknown), what, ", ".join(p for p, v in params.items() if v.kind != v.VAR_KEYWORD)))
    missing = [name for name, p in params.items()
               if p.default is p.empty and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and name not in kwargs]
    if missing:
        raise CatalogError("%s: %s needs %s" % (where, what, ", ".join(missing)))
    try:
        return cls(**kwargs)
    except (TypeError, ValueError, KeyError) as exc:
        raise CatalogError("%s: %s" % (where, exc)) from None


def _rule(entry: t.Any, section: str, where: str) -> Rule:
    if not isinstance(entry, dict):
        raise CatalogError("%s: an entry is a mapping of a rule's fields, not %r" % (where, entry))
    for key in _TEXT:
        value = entry.get(key)
        if value is not None and not isinstance(value, str):
            raise CatalogError("%s: %s must be text, not %r (quote it)" % (where, key, value))
    if "section" in entry:
        raise CatalogError("%s: unknown key(s) section (an entry takes the section of its group)" % where)
    kwargs = {k: _value(k, v, where) for k, v in entry.items() if k != "builder"}
    kwargs["section"] = section
    if "builder" not in entry:
        return _make(Rule, kwargs, "a rule", where)
    builder = BUILDERS.get(entry["builder"])
    if builder is None:
        raise CatalogError("%s: unknown builder %r (known: %s)" % (where, entry["builder"], ", ".join(sorted(BUILDERS))))
    return _make(builder, kwargs, "builder " + entry["builder"], where)


def _plain(node: yaml.Node, loader: t.Any) -> t.Any:
    """The data of a composed node. Text, lists and mappings directly (a third of the parse's time); other scalars
    (numbers, booleans, null) by the safe loader's own constructor."""
    if isinstance(node, yaml.MappingNode):
        return {_plain(key, loader): _plain(value, loader) for key, value in node.value}
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item, loader) for item in node.value]
    if node.tag == "tag:yaml.org,2002:str":
        return node.value
    return loader.construct_object(node, deep=True)


def _read(name: str, directory: str) -> t.Dict[str, t.Any]:
    path = os.path.join(directory, name)
    try:
        with open(path, "rb") as handle:
            loader = _Loader(handle)
            try:
                doc = _plain(loader.get_single_node(), loader)
            finally:
                loader.dispose()
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogError("rule catalog %s: %s" % (name, exc)) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("sections"), list):
        raise CatalogError("rule catalog %s: a mapping with a list of sections is expected" % name)
    unknown = sorted(set(doc) - {"sections", "stat_paths"})
    if unknown:
        raise CatalogError("rule catalog %s: unknown key(s) %s (it takes: sections, stat_paths)" % (name, ", ".join(unknown)))
    return doc


def load_area(name: str, directory: t.Optional[str] = None) -> Area:
    """The rules of one catalog file of ``directory`` (CATALOG_DIR) and of the files it includes, in order."""
    directory = directory or CATALOG_DIR
    doc = _read(name, directory)
    rules: t.List[Rule] = []
    origins: t.List[str] = []
    for index, group in enumerate(doc["sections"], 1):
        if isinstance(group, dict) and set(group) == {"include"}:
            included = load_area(str(group["include"]), directory)
            rules.extend(included.rules)
            origins.extend(included.origins)
            continue
        if not isinstance(group, dict) or set(group) != {"section", "rules"} or not isinstance(group["rules"], list):
            raise CatalogError("rule catalog %s, section %d: a section is {section: ..., rules: [...]} or "
                               "{include: FILE}, not %r" % (name, index, group))
        for number, entry in enumerate(group["rules"], 1):
            rule_id = entry.get("id") if isinstance(entry, dict) else None
            where = "rule catalog %s, section %r, entry %d%s" % (
                name, group["section"], number, " (%s)" % rule_id if rule_id else "")
            rules.append(_rule(entry, str(group["section"]), where))
            origins.append(where)
    return Area(tuple(rules), tuple(origins), tuple(str(p) for p in doc.get("stat_paths") or ()))


def link(areas: t.Mapping[str, Area], others: t.Sequence[Rule] = ()) -> t.Dict[str, Area]:
    """The areas with duplicate IDs refused (``others``: rules of the Python catalogs, cluster) and each rule's
    ``related_cis`` filled from its ``related_rules``."""
    seen: t.Dict[str, str] = {rule.id: "module_utils/_rules_cluster.py" for rule in others}
    for area in areas.values():
        for rule, where in zip(area.rules, area.origins):
            if rule.id in seen:
                raise CatalogError("%s: duplicate rule ID %s (also %s)" % (where, rule.id, seen[rule.id]))
            seen[rule.id] = where
    by_id = {rule.id: rule for area in areas.values() for rule in area.rules}
    by_id.update((rule.id, rule) for rule in others)
    linked = {}
    for name, area in areas.items():
        rules = []
        for rule, where in zip(area.rules, area.origins):
            unknown = [r for r in rule.related_rules if r not in by_id]
            if unknown:
                raise CatalogError("%s: related_rules names no rule: %s" % (where, ", ".join(unknown)))
            if rule.related_rules and not rule.related_cis:
                rule = dataclasses.replace(rule, related_cis=tuple(
                    by_id[r].cis for r in rule.related_rules if by_id[r].cis))
            rules.append(rule)
        linked[name] = dataclasses.replace(area, rules=tuple(rules))
    return linked


def load_catalog(names: t.Sequence[str], others: t.Sequence[Rule] = ()) -> t.Dict[str, Area]:
    """The areas of the catalog files ``names`` (``NAME.yml``), linked (``link``).

    The cyclic garbage collector is paused while the files are read: the controller's heap is large (Ansible is
    loaded), and the thousands of small objects of a parse would start collections that cost twice the parse.
    Nothing made here is cyclic garbage."""
    paused = gc.isenabled()
    gc.disable()
    try:
        return link({name: load_area(name + ".yml") for name in names}, others)
    finally:
        if paused:
            gc.enable()
