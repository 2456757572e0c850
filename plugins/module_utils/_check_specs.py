# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""How each rule is judged, as typed data: every ``Rule.check`` is one of the specs below.

A spec holds what its kind of check needs and nothing else; the engines map each spec type to its
evaluator (node rules: ``plugin_utils/_check_engines.py``, which also says which paths the check needs
discovered and which value a fix writes; ports rules: ``_ports_evaluate.JUDGES``; cluster rules:
``_cluster_policy.CHECKS`` by ``ClusterObjects.evaluator``). A spec type without an evaluator fails at
import, so does a catalog entry whose check is not a spec.

Standard library only: cluster rules are judged in a module (cluster_policy), where these classes travel.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass


@dataclass(frozen=True)
class CheckSpec:
    """The base of every spec; ``label`` names the kind in docs (docs/rules.md "check: "), given in the class
    statement: ``class Loopback(CheckSpec, label="loopback")``."""

    LABEL: t.ClassVar[t.Optional[str]] = None

    def __init_subclass__(cls, label: t.Optional[str] = None, **kwargs: t.Any) -> None:
        super().__init_subclass__(**kwargs)
        if label is not None:
            cls.LABEL = label

    def label(self) -> t.Optional[str]:
        return self.LABEL


# What a file rule can check: the names _check_files.FILE_SETS resolves to node paths.
FILE_SETS = ("manifest", "config", "kubeconfig", "admin", "unit", "client_ca", "data_dir", "pki", "cni")


@dataclass(frozen=True)
class FileSet:
    """The files a file rule checks: ``which`` of FILE_SETS, narrowed to names matching ``pattern``;
    ``optional``: a missing file is not an error; ``default_path``: when no flag names the kubeconfig."""

    which: str
    pattern: t.Optional[str] = None
    optional: bool = False
    default_path: t.Optional[str] = None

    def __post_init__(self) -> None:
        if self.which not in FILE_SETS:
            raise ValueError("unknown file set %r (known: %s)" % (self.which, ", ".join(FILE_SETS)))


# --- fields that several spec types share (mixins, not spec types) -------------------------------------


@dataclass(frozen=True)
class _ByEvaluator:
    """Judged by the evaluator of this name, which is also its label."""

    evaluator: str

    def label(self) -> str:
        return self.evaluator


@dataclass(frozen=True)
class _Supplied:
    """A file only the operator can write: the role variable of ``input`` supplies its content, written to
    ``/etc/kubernetes/kubefort/<file_name>``."""

    input: str
    file_name: str


@dataclass(frozen=True)
class _OnFiles:
    files: FileSet


@dataclass(frozen=True)
class _OnPorts:
    ports: t.Tuple[int, ...]


# --- node rules: settings -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Compare(CheckSpec):
    """The effective setting (flag, else config key, else the documented default) against ``Rule.operator``
    and the expected value. ``insert_first``: a missing list item goes first (``contains``)."""

    insert_first: bool = False


@dataclass(frozen=True)
class AuthorizationMode(CheckSpec):
    """An ``--authorization-mode`` comparison (``Rule.operator``), judged from the AuthorizationConfiguration
    instead when ``--authorization-config`` is set (CIS 1.2.6-1.2.8); ``insert_first`` as for Compare."""

    insert_first: bool = False


@dataclass(frozen=True)
class FilesNamed(CheckSpec, label="flags_set"):
    """Each flag (or the config key beside it, ``keys``) is set and names a file that exists (stat only)."""

    flags: t.Tuple[str, ...]
    keys: t.Tuple[t.Optional[str], ...] = ()

    def __post_init__(self) -> None:
        if self.keys and len(self.keys) != len(self.flags):
            raise ValueError("FilesNamed: one key (or None) per flag")

    def pairs(self) -> t.List[t.Tuple[str, t.Optional[str]]]:
        return list(zip(self.flags, self.keys or (None,) * len(self.flags)))


@dataclass(frozen=True)
class DurationNonZero(CheckSpec, label="duration_nonzero"):
    """A Go duration that must not be 0; ``config_zero_is_default``: a 0 in the config file means the default."""

    config_zero_is_default: bool = False


@dataclass(frozen=True)
class CipherSuites(CheckSpec, label="ciphers"):
    """Every TLS cipher suite set is in the allowed list (``Rule.fix``, or the override)."""


@dataclass(frozen=True)
class FeatureGate(CheckSpec, label="feature_gate"):
    """One gate of ``--feature-gates`` / ``featureGates`` is not turned off; ``default``: when unset."""

    gate: str
    default: bool = True


@dataclass(frozen=True)
class Loopback(CheckSpec, label="loopback"):
    """An address setting binds loopback only (``allow_specific``: or one specific address)."""

    allow_specific: bool = False


@dataclass(frozen=True)
class Manual(CheckSpec, label="manual"):
    """Evidence for a human decision (``guidance``); an override makes it an enforced ``eq`` setting.
    ``default_value``: what the component uses when the setting is absent (shown as the actual value)."""

    guidance: str
    default_value: t.Optional[str] = None


@dataclass(frozen=True)
class SuppliedFile(_Supplied, CheckSpec, label="supplied_file"):
    """The flag names a file whose content only the operator can write (``input``, ``file_name``)."""


@dataclass(frozen=True)
class AdmissionPluginConfig(_Supplied, CheckSpec, label="admission_config"):
    """An admission plugin is enabled (``Rule.flag``) and configured in the file ``config_flag`` names
    (content supplied through ``input``, ``file_name``, when there is none)."""

    plugin: str
    config_flag: str


@dataclass(frozen=True)
class Custom(_ByEvaluator, CheckSpec):
    """A check of its own, by the name of its evaluator (``_check_engines.CUSTOM``)."""


# --- node rules: files --------------------------------------------------------------------------------

@dataclass(frozen=True)
class FileMode(_OnFiles, CheckSpec):
    """Each of ``files`` (and its parent directory) is at most the mode ``Rule.expected`` allows."""


@dataclass(frozen=True)
class FileOwner(_OnFiles, CheckSpec):
    """Each of ``files`` is owned by ``Rule.expected``; ``run_as_of``: or by the account that component runs as."""

    run_as_of: t.Optional[str] = None


# --- ports rules ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListenerClosed(_OnPorts, CheckSpec, label="closed"):
    """Nothing listens on ``ports``."""


@dataclass(frozen=True)
class ListenerScope(_OnPorts, CheckSpec, label="scope"):
    """Everything on ``ports`` is bound within ``scopes`` (loopback, node, any); ``option``: the ports_audit
    option that replaces them."""

    scopes: t.Tuple[str, ...]
    option: t.Optional[str] = None


@dataclass(frozen=True)
class AnonymousProbe(CheckSpec, label="probe"):
    """Every anonymous probe named ``probe`` (port_probe) was denied."""

    probe: str


@dataclass(frozen=True)
class NoAnyAddress(CheckSpec, label="no_any"):
    """No other Kubernetes listener is bound to every address unless allowed."""


# --- cluster rules ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterObjects(_ByEvaluator, CheckSpec):
    """API objects of ``kinds`` judged by ``evaluator`` (``_cluster_policy.CHECKS``); ``on_finding``:
    ``fail`` when the API answers the question, ``manual`` when a person must decide; ``always_manual``:
    ``manual`` even without findings; ``grants``: (apiGroup, resource, verb) triples of a permission check."""

    kinds: t.Tuple[str, ...]
    on_finding: str = "fail"
    always_manual: bool = False
    grants: t.Tuple[t.Tuple[str, str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.on_finding not in ("fail", "manual"):
            raise ValueError("on_finding must be fail or manual, not %r" % self.on_finding)


NODE_SPECS: t.Tuple[t.Type[CheckSpec], ...] = (
    Compare, AuthorizationMode, FilesNamed, DurationNonZero, CipherSuites, FeatureGate, Loopback, Manual,
    SuppliedFile, AdmissionPluginConfig, Custom, FileMode, FileOwner,
)
PORTS_SPECS: t.Tuple[t.Type[CheckSpec], ...] = (ListenerClosed, ListenerScope, AnonymousProbe, NoAnyAddress)
CLUSTER_SPECS: t.Tuple[t.Type[CheckSpec], ...] = (ClusterObjects,)
