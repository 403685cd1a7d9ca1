# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""What every module that talks to one registry shares: its connection options, their
checks, and the client built from them (image_preload, registry_inventory_info).

Stdlib only.
"""

from __future__ import annotations

from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_ref import ImageRefError, normalize_registry
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.client import RegistryClient


def connection_argument_spec(concurrency: int, timeout: int, retries: int) -> dict:
    """The registry connection options, with the module's own defaults for the numbers."""
    return dict(
        registry=dict(type="str", required=True),
        plain_http=dict(type="bool", default=False),
        ca_file=dict(type="path"),
        validate_certs=dict(type="bool", default=True),
        username=dict(type="str"),
        password=dict(type="str", no_log=True),
        concurrency=dict(type="int", default=concurrency),
        timeout=dict(type="int", default=timeout),
        retries=dict(type="int", default=retries),
    )


def connection_problem(params: dict, positive=("concurrency", "timeout"), registry_label="registry") -> str | None:
    """The first wrong connection option as a message a user can act on, or None.

    ``positive`` names the numbers that must be at least 1; ``registry_label`` starts the
    message about a bad registry host.
    """
    for key in positive:
        if params[key] < 1:
            return f"{key} must be at least 1, got {params[key]}"
    if params["retries"] < 0:
        return f"retries must be 0 or more, got {params['retries']}"
    try:
        normalize_registry(params["registry"])
    except ImageRefError as exc:
        return f"{registry_label}: {exc}"
    if params["plain_http"] and params["ca_file"]:
        return "ca_file was given with plain_http=true; TLS settings need an HTTPS registry, drop one of them"
    if bool(params["username"]) != bool(params["password"]):
        return "username and password must be given together"
    return None


def client_from_params(params: dict, **extra) -> RegistryClient:
    """A client for ``params['registry']`` (checked with connection_problem first)."""
    return RegistryClient(
        normalize_registry(params["registry"]),
        plain_http=params["plain_http"],
        ca_file=params["ca_file"],
        validate_certs=params["validate_certs"],
        username=params["username"],
        password=params["password"],
        timeout=params["timeout"],
        retries=params["retries"],
        **extra,
    )
