#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Documentation of the validate_inventory action (plugins/action/validate_inventory.py); it runs on the controller."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: validate_inventory
short_description: Check the whole inventory on the controller before any host is touched
version_added: 0.1.0
description:
  - Runs on the controller only (an action plugin); contacts no host.
  - Reads every host's variables with where each one is set, templates them one by one (a variable that refers to
    an undefined one gives a message naming the host and the variable), and checks them against every role's
    C(meta/argument_specs.yml) and the collection's C(meta/inventory_variables.yml) (types, choices, nested
    options; ranges follow the option's name).
  - Reports variables that nothing reads but look like a known one (a role's prefix, or a close spelling), with
    the name that was likely meant.
  - Checks the rules between variables (groups, addresses, domains, versions, bundle entries) and the controller's
    disk (credentials folder and files private, C(gauntlet_render_dir) not a file).
  - Fails with one message per problem; each names where the value is set, the value, the rule and the fix.
  - The rules are pure functions in C(module_utils/inventory/); see docs/inventory.md.
options:
  required_versions:
    description: Components that must have a version in C(gauntlet_versions).
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - gauntlet.platform.attributes
  - gauntlet.platform.attributes.no_diff
author:
  - Cloud Native Gauntlet developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Validate the inventory
  gauntlet.platform.validate_inventory:
    required_versions: [k3s, registry]
"""

RETURN = r"""
problems:
  description: One message per problem; empty when the inventory is valid.
  returned: always
  type: list
  elements: str
  sample: ["host 'a1' is in both 'k3s_servers' and 'k3s_agents': ..."]
"""
