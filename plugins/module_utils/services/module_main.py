# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""The main() of the gitea_*, drone_* and git_publish modules: one place for how a service module runs.

Each module keeps its own ``run(params, check_mode)`` (what the unit tests call) and says
which exceptions are the user's to read and how its failure message names the object; this
builds the module, calls run, and turns those exceptions into fail_json.
"""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule


def run_module(argument_spec: dict, run, failures: tuple, subject, finish=None) -> None:
    """Run ``run(module.params, module.check_mode)`` as an Ansible module and exit.

    ``failures``: the exception types that become fail_json, as "<subject(params)>: <exception>",
    for example "gitea user argocd: ...". ``finish(module, result)``, when given, turns run's
    result into the module's return values (what only the module knows, such as --diff).
    """
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    try:
        result = run(module.params, module.check_mode)
    except failures as exc:
        module.fail_json(msg=f"{subject(module.params)}: {exc}")
    if finish is not None:
        result = finish(module, result)
    module.exit_json(**result)
