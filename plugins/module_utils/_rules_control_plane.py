# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""Catalog entries for the control plane (API server, controller manager, scheduler, etcd) area (see _rule.Rule)."""

from __future__ import annotations

import typing as t

from ansible_collections.kubefort.hardening.plugins.module_utils._rule import Rule

RULES: t.Tuple[Rule, ...] = ()
