# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filter laying out Grafana's dashboard volumes (docs in grafana_dashboard_volumes.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def _names(names, what):
    if isinstance(names, (str, bytes)) or not isinstance(names, (list, tuple)):
        raise AnsibleFilterError(
            f"grafana_dashboard_volumes: {what} must be a list of names, got {type(names).__name__}"
        )
    return list(names)


def grafana_dashboard_volumes(upstream, gauntlet, upstream_path, gauntlet_path):
    """The volumes and volume mounts of Grafana's dashboard ConfigMaps.

    kube-prometheus ships one ConfigMap per dashboard, ``grafana-dashboard-<name>``, mounted
    at ``<upstream_path>/<name>``; the platform's own are ``grafana-dashboard-gauntlet-<name>``
    at ``<gauntlet_path>/<name>``. Each ConfigMap is a volume of the same name. The upstream
    dashboards come sorted (ignoring case, as Jinja's sort), the platform's in their order.
    """
    upstream = sorted(_names(upstream, "upstream"), key=lambda name: name.lower() if isinstance(name, str) else name)
    gauntlet = _names(gauntlet, "gauntlet")
    dashboards = [(f"grafana-dashboard-{name}", f"{upstream_path}/{name}") for name in upstream]
    dashboards += [(f"grafana-dashboard-gauntlet-{name}", f"{gauntlet_path}/{name}") for name in gauntlet]
    return {
        "volumeMounts": [{"name": volume, "mountPath": path, "readOnly": True} for volume, path in dashboards],
        "volumes": [{"name": volume, "configMap": {"name": volume}} for volume, _path in dashboards],
    }


class FilterModule:
    """Grafana's dashboard volumes."""

    def filters(self):
        return {"grafana_dashboard_volumes": grafana_dashboard_volumes}
