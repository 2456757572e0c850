# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """How a module reaches the Kubernetes API server: the options of module_utils/_cluster_snapshot.CONNECTION_OPTIONS."""

    DOCUMENTATION = r"""
options:
  kubeconfig:
    description: Path to a kubeconfig file.
    type: path
  context:
    description: The kubeconfig context to use; its current context when not set.
    type: str
  in_cluster:
    description: Use the service account of the pod this runs in (the in-cluster configuration).
    type: bool
    default: false
  host:
    description: The API server URL, for example C(https://10.0.0.11:6443); overrides the kubeconfig's.
    type: str
  api_key:
    description: A bearer token. It is never logged and never appears in messages.
    type: str
  ca_cert:
    description: CA certificate file that signed the API server's certificate.
    type: path
  validate_certs:
    description: Whether to verify the API server's certificate.
    type: bool
    default: true
  request_timeout:
    description: Seconds to wait for each API call; a call not answered in time is an error.
    type: float
    default: 20
"""
