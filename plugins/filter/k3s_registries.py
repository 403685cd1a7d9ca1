# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filter building k3s registries.yaml content.

``images | gauntlet.platform.k3s_registries('registry.local:5000', username=..., password=..., ca_file=...)``
returns the mapping to write with ``to_nice_yaml`` to /etc/rancher/k3s/registries.yaml:
a mirror for docker.io, quay.io, ghcr.io, registry.k8s.io, cr.l5d.io and every
other registry of ``images``, all with the local registry as endpoint and a
rewrite ``^(.*)$ -> <upstream registry>/$1`` (images keep their upstream path
under the local registry), plus ``configs`` with auth and TLS for the local registry.

Keyword options: registries (list, replaces the default five), plain_http (bool),
username, password, ca_file, cert_file, key_file, insecure_skip_verify (bool),
mirror_local (bool, default true: an entry for the local registry itself).
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.gauntlet.platform.plugins.module_utils.k3s.registries_config import (
    DEFAULT_MIRRORED_REGISTRIES,
    RegistriesConfigError,
    build_registries,
)
from ansible_collections.gauntlet.platform.plugins.plugin_utils.filter_errors import filter_errors


@filter_errors(RegistriesConfigError)
def k3s_registries(
    images,
    local_registry,
    registries=None,
    plain_http=False,
    username=None,
    password=None,
    ca_file=None,
    cert_file=None,
    key_file=None,
    insecure_skip_verify=False,
    mirror_local=True,
):
    if images is not None and (isinstance(images, str) or not isinstance(images, list | tuple)):
        raise AnsibleFilterError(
            f"k3s_registries: expected a list of image references as input, got {type(images).__name__}"
        )
    return build_registries(
        images or [],
        local_registry,
        registries=DEFAULT_MIRRORED_REGISTRIES if registries is None else registries,
        plain_http=bool(plain_http),
        username=username or None,
        password=password or None,
        ca_file=ca_file or None,
        cert_file=cert_file or None,
        key_file=key_file or None,
        insecure_skip_verify=bool(insecure_skip_verify),
        mirror_local=bool(mirror_local),
    )


class FilterModule:
    """k3s registries.yaml filter."""

    def filters(self):
        return {"k3s_registries": k3s_registries}
