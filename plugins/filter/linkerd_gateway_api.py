# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filter linkerd_gateway_api: who provides the Gateway API CRDs Linkerd needs (docs beside)."""

from __future__ import annotations

from ansible_collections.gauntlet.platform.plugins.module_utils.k8s.gateway_api import (
    GatewayApiError,
    decide,
    render_default,
)
from ansible_collections.gauntlet.platform.plugins.plugin_utils.filter_errors import filter_errors


@filter_errors(GatewayApiError)
def linkerd_gateway_api(crds, release_namespace, render=None):
    if render is not None:
        return render_default(render, release_namespace=release_namespace)
    return decide(crds, release_namespace=release_namespace)


class FilterModule:
    """Gateway API CRD ownership for the linkerd role."""

    def filters(self):
        return {"linkerd_gateway_api": linkerd_gateway_api}
