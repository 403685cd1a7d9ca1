# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Which roles run on the controller, and the settings of theirs that their plays cannot see.

A controller role (docs/architecture.md, "Controller roles") runs in a play on localhost; its
first task imports the guard, role gauntlet's entry point `controller`. That import is the
mark: validation (validate_inventory) and the tests (tests/unit/test_controller_become.py)
read it here. Such a play sees the inventory's group_vars/all, not a node's host or group
variables: a role option set there for the first server is not what the role runs with.
"""

from __future__ import annotations

import re

GUARD = {"name": "gauntlet.platform.gauntlet", "tasks_from": "controller"}
INCLUDE_KEYS = ("ansible.builtin.import_role", "ansible.builtin.include_role", "import_role", "include_role")


def is_guard(task) -> bool:
    """Whether ``task`` (a parsed task) imports or includes the controller guard."""
    if not isinstance(task, dict):
        return False
    include = next((task[key] for key in INCLUDE_KEYS if key in task), None)
    return isinstance(include, dict) and all(include.get(key) == value for key, value in GUARD.items())


def controller_roles(roles_dir, load) -> list[str]:
    """Names of the roles under ``roles_dir`` (a pathlib.Path) whose tasks/main.yml starts with the
    guard; ``load`` parses a YAML file."""
    found = []
    for main in sorted(roles_dir.glob("*/tasks/main.yml")):
        tasks = load(main) or []
        if isinstance(tasks, list) and tasks and is_guard(tasks[0]):
            found.append(main.parent.parent.name)
    return found


def unseen_setting_warnings(
    server: str, server_vars: dict, controller_vars: dict, owners: dict, origins: dict
) -> list[str]:
    """One warning per controller-role option the first server sees with another value than localhost.

    ``server_vars`` and ``controller_vars`` are the inventory's variables (untemplated) of the
    first server and of localhost; ``owners`` maps an option to its controller role, ``origins``
    a variable to where the server's value is set (or None).
    """
    warnings = []
    for name in sorted(owners):
        if name not in server_vars or (name in controller_vars and controller_vars[name] == server_vars[name]):
            continue
        where = origins.get(name) or f"a host or group variable of {server}"
        warnings.append(
            f"{where}: {name} (role {owners[name]}) is set for {server} but not so in group_vars/all; role {owners[name]} "
            "runs in a play on the controller (localhost), which reads group_vars/all only, so it does not see this value. "
            'Move it to group_vars/all (docs/inventory.md, "What the controller stages read")'
        )
    return warnings


# `inventory_dir` is a variable of the inventory's hosts: the implicit localhost, where the
# controller's plays run, has none. gauntlet_inventory_dir (role gauntlet) is the same folder
# on every host, localhost included.
BARE_INVENTORY_DIR = re.compile(r"(?<![\w.])inventory_dir\b")


def host_only_path_problems(controller_vars: dict, origins: dict) -> list[str]:
    """One problem per variable of ``controller_vars`` whose value (as localhost has it, untemplated) uses
    ``inventory_dir``: on the controller it is undefined, and the platform stage would stop there."""
    problems = []
    for name, value in sorted(controller_vars.items()):
        if isinstance(value, str) and BARE_INVENTORY_DIR.search(value):
            where = origins.get(name) or "the inventory"
            problems.append(
                f"{where}: {name} = {value!r} uses inventory_dir, which the controller's plays (on localhost) do not have: "
                "write {{ gauntlet_inventory_dir }} instead, the inventory's folder on every host "
                '(inventory/sample/group_vars/all/platform.yml; docs/inventory.md, "Upgrading the collection")'
            )
    return problems
