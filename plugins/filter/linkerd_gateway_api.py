# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filter linkerd_gateway_api: who provides the Gateway API CRDs Linkerd needs (docs beside)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.gauntlet.platform.plugins.module_utils.k8s.gateway_api import (
    GatewayApiError,
    decide,
    render_default,
)


def linkerd_gateway_api(crds, release_namespace, render=None):
    try:
        if render is not None:
            return render_default(render, release_namespace=release_namespace)
        return decide(crds, release_namespace=release_namespace)
    except GatewayApiError as exc:
        raise AnsibleFilterError(f"linkerd_gateway_api: {exc}") from exc


class FilterModule:
    """Gateway API CRD ownership for the linkerd role."""

    def filters(self):
        return {"linkerd_gateway_api": linkerd_gateway_api}
