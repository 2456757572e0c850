# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""The hosts of per-slice report.json files, for one fleet report (AWX job slicing, several controllers).

Each slice of a sliced job audits some of the hosts and writes its own report.json; the report action's
``merge`` option reads them back into (results, host metadata) per host so that one report covers the
whole fleet. A node host may be in one slice only (the same host in two slices is an error: slices of
one job are disjoint, and two results for one host cannot both be true); the cluster pseudo-host, which
every slice audits from its controller, is taken from the newest slice.
"""

from __future__ import annotations

import json
import os
import typing as t

from ansible_collections.kubefort.hardening.plugins.plugin_utils._report_model import (
    CLUSTER_HOST,
    HOST_DATA_KEYS,
    HOST_KEYS,
    ReportInputError,
)

Slice = t.Tuple[t.List[t.Dict[str, t.Any]], t.Dict[str, t.Any], str]


def load_slices(paths: t.Sequence[str]) -> t.Tuple[t.Dict[str, Slice], t.List[str]]:
    """Hosts of the slice reports (name -> (results, host metadata, kind)) in file order, and the hosts
    those slices name as having no results."""
    hosts: t.Dict[str, Slice] = {}
    origin: t.Dict[str, str] = {}
    cluster: t.Optional[t.Tuple[str, Slice]] = None
    without: t.List[str] = []
    for path in paths:
        report = _read(path)
        generated = str((report.get("run") or {}).get("generated") or "")
        for entry in report["hosts"]:
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not isinstance(entry.get("results"), list):
                raise ReportInputError("merge: %s has a host entry without name or results; merge only report.json files kubefort wrote." % path)
            name, kind = entry["name"], str(entry.get("kind") or "node")
            info = {k: entry[k] for k in HOST_KEYS + HOST_DATA_KEYS if k in entry}
            # A host the slice had no results for (not its host, or unreachable): its stand-in entry.
            placeholder = any(isinstance(f, dict) and f.get("stage") == "run" for f in entry.get("failures") or [])
            if placeholder:
                if name not in without:
                    without.append(name)
                continue
            item: Slice = (entry["results"], info, kind)
            if kind == "cluster" or name == CLUSTER_HOST:
                if cluster is None or generated >= cluster[0]:
                    cluster = (generated, item)
                continue
            if name in hosts and not hosts[name][0]:
                pass  # the other slice had no results for it (not its host): this one's are taken
            elif name in hosts and not item[0]:
                continue
            elif name in hosts:
                raise ReportInputError(
                    "merge: host %s is in both %s and %s; merge the reports of disjoint slices (one per slice of one job)."
                    % (name, origin[name], path))
            hosts[name] = item
            origin[name] = path
        for name in (report.get("run") or {}).get("hosts_without_results") or []:
            if name not in without:
                without.append(str(name))
    if cluster is not None:
        hosts[CLUSTER_HOST] = cluster[1]
    return hosts, [n for n in without if n not in hosts]


def _read(path: str) -> t.Dict[str, t.Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            report = json.load(handle)
    except OSError as exc:
        raise ReportInputError("merge: cannot read %s (%s); list the report.json of every slice." % (path, exc.strerror or exc))
    except ValueError as exc:
        raise ReportInputError("merge: %s is not JSON (%s); list the report.json files kubefort wrote." % (path, exc))
    if not isinstance(report, dict) or not isinstance(report.get("hosts"), list) or "schema_version" not in report:
        raise ReportInputError("merge: %s is not a kubefort report.json (no schema_version and hosts)." % os.path.basename(path))
    return report
