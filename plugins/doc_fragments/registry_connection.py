# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""How the registry modules reach a registry: plain HTTP or TLS, and the CA that verifies it.

The options come from connection_argument_spec in module_utils/registry/module.py; the
numbers (concurrency, timeout, retries) and the account stay in each module's own
documentation, as their defaults and meaning differ per module.
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  plain_http:
    description: Talk plain HTTP to the registry. Only for registries without TLS; never the default.
    type: bool
    default: false
  ca_file:
    description: CA certificate (PEM) that signed the registry's certificate. Default is the system trust store.
    type: path
  validate_certs:
    description: Verify the registry's TLS certificate. Only switch off for throw-away test registries.
    type: bool
    default: true
"""
