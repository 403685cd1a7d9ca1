# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Build k3s ``/etc/rancher/k3s/registries.yaml`` content.

Every upstream registry is mirrored to the local registry with a rewrite that
keeps the upstream registry name in the path, so ``quay.io/keycloak/keycloak:26``
is pulled from ``<local>/quay.io/keycloak/keycloak:26`` while manifests keep
their upstream image references. k3s applies a mirror's ``rewrite`` regexes to
the repository path (``library/nginx`` for ``docker.io/library/nginx``).

Output format (k3s)::

    mirrors:
      docker.io:
        endpoint: ["https://registry.local:5000"]
        rewrite: {"^(.*)$": "docker.io/$1"}
    configs:
      registry.local:5000:
        auth: {username: ..., password: ...}
        tls: {ca_file: ..., cert_file: ..., key_file: ..., insecure_skip_verify: false}

Stdlib only.
"""

from __future__ import annotations

from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_ref import (
    ImageRefError,
    normalize_registry,
    parse_image,
    registry_path,
)

DEFAULT_MIRRORED_REGISTRIES = ("docker.io", "quay.io", "ghcr.io", "registry.k8s.io", "cr.l5d.io")


class RegistriesConfigError(ValueError):
    """Inputs that cannot produce a valid registries.yaml."""


def _endpoint(local_registry: str, plain_http: bool) -> tuple[str, str]:
    if not isinstance(local_registry, str) or not local_registry.strip():
        raise RegistriesConfigError("local_registry must be a non-empty host[:port], e.g. registry.local:5000")
    text = local_registry.strip()
    scheme = "http" if plain_http else "https"
    if text.startswith("http://"):
        scheme = "http"
    elif text.startswith("https://"):
        scheme = "https"
    try:
        host = normalize_registry(text)
    except ImageRefError as exc:
        raise RegistriesConfigError(str(exc)) from exc
    return host, f"{scheme}://{host}"


def build_registries(
    images=(),
    local_registry: str = "",
    *,
    registries=DEFAULT_MIRRORED_REGISTRIES,
    plain_http: bool = False,
    username: str | None = None,
    password: str | None = None,
    ca_file: str | None = None,
    cert_file: str | None = None,
    key_file: str | None = None,
    insecure_skip_verify: bool = False,
    mirror_local: bool = True,
) -> dict:
    """Return the registries.yaml mapping.

    ``images``: image references (any form); their registries are mirrored
    in addition to ``registries``. Images already under the local registry
    are not mirrored. ``mirror_local`` adds an entry for the local registry
    itself so its TLS/auth settings apply to direct pulls too.
    """
    host, url = _endpoint(local_registry, plain_http)
    if images is None:
        images = ()
    if isinstance(images, str):
        raise RegistriesConfigError("images must be a list of image references, got a string")
    wanted = set()
    for reg in registries or ():
        try:
            wanted.add(normalize_registry(reg))
        except ImageRefError as exc:
            raise RegistriesConfigError(f"registries: {exc}") from exc
    for image in images:
        try:
            wanted.add(parse_image(image).registry)
        except ImageRefError as exc:
            raise RegistriesConfigError(f"images: {exc}") from exc
    wanted.discard(host)
    mirrors: dict = {}
    for reg in sorted(wanted):
        mirrors[reg] = {"endpoint": [url], "rewrite": {"^(.*)$": f"{registry_path(reg)}/$1"}}
    if mirror_local:
        mirrors[host] = {"endpoint": [url]}
    config: dict = {}
    if username is not None or password is not None:
        if not username or not password:
            raise RegistriesConfigError("registry auth needs both username and password (one of them is empty)")
        config["auth"] = {"username": username, "password": password}
    tls: dict = {}
    if url.startswith("https://"):
        if ca_file:
            tls["ca_file"] = ca_file
        if bool(cert_file) != bool(key_file):
            raise RegistriesConfigError("client TLS needs both cert_file and key_file")
        if cert_file:
            tls["cert_file"] = cert_file
            tls["key_file"] = key_file
        if insecure_skip_verify:
            tls["insecure_skip_verify"] = True
    elif ca_file or cert_file or insecure_skip_verify:
        raise RegistriesConfigError(f"TLS settings were given but the local registry endpoint {url} is plain HTTP")
    if tls:
        config["tls"] = tls
    result: dict = {"mirrors": mirrors}
    if config:
        result["configs"] = {host: config}
    return result
