# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filter saying why Argo CD Applications are not Synced and Healthy (docs in argocd_app_problems.yml).

The judgement is module_utils/verify/argocd.py's, the one the verify row (verify_argocd_app) makes too.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.gauntlet.platform.plugins.module_utils.verify.argocd import applications_report


def argocd_app_problems(applications, seen, namespace):
    """The lines of the argocd role's report for the Applications that are not Synced and
    Healthy (or not there at all), each line ending with a newline; '' when every one is."""
    if not isinstance(applications, list) or not isinstance(seen, list):
        raise AnsibleFilterError("argocd_app_problems: expected the Applications wanted and the ones seen, as lists")
    if not all(isinstance(app, dict) and app.get("name") for app in applications):
        raise AnsibleFilterError("argocd_app_problems: every Application wanted needs a name")
    return applications_report([app["name"] for app in applications], seen, namespace)


class FilterModule:
    """Argo CD Applications' problems."""

    def filters(self):
        return {"argocd_app_problems": argocd_app_problems}
