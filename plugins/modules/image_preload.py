#!/usr/bin/python
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: image_preload
short_description: Push the images of an offline bundle into a registry
version_added: "0.1.0"
description:
  - Pushes every image of an image bundle (an OCI image layout directory, an C(oci-archive)
    or a C(docker-archive) tarball) into a registry at its full upstream path under it,
    for example C(quay.io/keycloak/keycloak:26.7.4) becomes
    C(registry.local:5000/quay.io/keycloak/keycloak:26.7.4).
  - Manifests and indexes (multi-arch) are pushed byte for byte, so the digest in the
    registry equals the digest in the bundle and in the bundle lock.
  - Idempotent. An image whose tag already names the same digest is left alone without reading
    any of its layers. Blobs already in the registry are never uploaded again (C(HEAD) before every
    upload), and blobs shared between repositories are mounted across repositories.
  - Every blob is verified against its sha256 while it is streamed. Tags are pushed only after all
    blobs are in place, so a failure never leaves a tag pointing at a broken manifest; rerun to complete.
  - Runs with no internet access; stdlib only, so it also runs on the VMs.
author:
  - Cloud Native Gauntlet contributors (!UNKNOWN)
options:
  src:
    description:
      - Bundle sources. Each is an OCI image layout directory, an uncompressed C(oci-archive)
        or an uncompressed C(docker-archive) tarball; the format is detected.
      - Images of an OCI layout are named by their C(io.containerd.image.name) or a full
        C(org.opencontainers.image.ref.name) annotation; those of a docker-archive by their C(RepoTags).
    type: list
    elements: path
    required: true
  registry:
    description: The target registry, C(host[:port]), for example C(registry.local:5000).
    type: str
    required: true
  images:
    description:
      - Push only these images (references in any form, normalised, for example C(nginx:1.27)).
        Each must be in the bundle. Default is every image of the bundle.
    type: list
    elements: str
  username:
    description: Registry user (HTTP basic or bearer-token flow).
    type: str
  password:
    description: Password of O(username).
    type: str
  concurrency:
    description: Blob transfers in flight at once.
    type: int
    default: 4
  retries:
    description: Retries, with exponential backoff, of a request after a connection error, HTTP 429 or 5xx.
    type: int
    default: 4
  timeout:
    description: Socket timeout in seconds.
    type: int
    default: 120
  registry_name:
    description:
      - The name image references give the target registry when O(registry) reaches it under another
        address, for example C(registry.local:5000) while O(registry) is C(192.168.56.30:5000).
      - An image named under it (such as C(registry.local:5000/gauntlet/task-api:0.1.0), built into the
        bundle by C(playbooks/bundle.yml)) is pushed at its own path (C(gauntlet/task-api)), where pods
        pull it from; without it, it would be mirrored like an upstream image (C(registry.local_5000/gauntlet/task-api)).
      - Default is O(registry) itself.
    type: str
  replace_tags:
    description:
      - Re-point a tag the registry already has under another digest to the bundle's digest.
      - By default such a tag stops the run before anything is pushed, and every such tag is named. Upstream
        tags in the local registry are what nodes pull, so one that changes is either tampering or a rebuilt
        bundle, and a person decides which.
    type: bool
    default: false
  monolithic_max_mb:
    description: Blobs up to this size (MiB) are uploaded in one C(PUT); larger ones in C(PATCH) chunks.
    type: int
    default: 1024
  chunk_size_mb:
    description: Size (MiB) of each C(PATCH) chunk of a chunked upload.
    type: int
    default: 64
  lock_file:
    description:
      - The bundle lock that goes with O(src) (C(<bundle>/bundle.lock.json)). When it is the lock of a
        differential bundle (C(playbooks/bundle.yml -e gauntlet_bundle_since=...)), which names its base,
        the registry is checked before anything is pushed (C(HEAD) requests only). Every image the delta
        does not carry must be there with the lock's digest, and every blob a carried image shares with
        the base must be there; otherwise the run stops, naming each missing image or blob and the base
        lock to preload first, with nothing pushed. Shared blobs are then mounted, never uploaded.
      - A complete bundle's lock changes nothing; a missing file is ignored (sources without a lock).
    type: path
notes:
  - Supports check mode (reports the images that would be pushed and the bytes that would be uploaded)
    and diff mode (the images that would change).
  - Compressed tarballs (C(.tar.gz)) cannot be read in place; decompress them first.
seealso:
  - module: gauntlet.platform.image_bundle
extends_documentation_fragment:
  - gauntlet.platform.attributes
  - gauntlet.platform.attributes.with_diff
  - gauntlet.platform.registry_connection
"""

EXAMPLES = r"""
- name: Preload every bundle image into the local registry
  gauntlet.platform.image_preload:
    src: /opt/gauntlet/bundle/images
    registry: registry.local:5000
    ca_file: /etc/gauntlet/registry-ca.crt
    username: "{{ registry_username }}"
    password: "{{ registry_password }}"
  register: __image_preload_result

- name: Preload a differential bundle (its base must be in the registry already)
  gauntlet.platform.image_preload:
    src: /opt/gauntlet/bundle-delta/images
    lock_file: /opt/gauntlet/bundle-delta/bundle.lock.json
    registry: registry.local:5000
    ca_file: /etc/gauntlet/registry-ca.crt

- name: Push one docker save archive over plain HTTP (lab registry without TLS)
  gauntlet.platform.image_preload:
    src: /tmp/task-api.tar
    registry: 127.0.0.1:5000
    plain_http: true
    registry_name: registry.local:5000
    images:
      - registry.local:5000/gauntlet/task-api:1.0.0
"""

RETURN = r"""
images:
  description: One entry per image of the bundle (or of O(images)).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The image's full upstream reference.
      type: str
      sample: quay.io/keycloak/keycloak:26.7.4
    target:
      description: Where it is in the registry.
      type: str
      sample: registry.local:5000/quay.io/keycloak/keycloak:26.7.4
    digest:
      description: Digest of the manifest or index (equal in bundle and registry).
      type: str
      sample: sha256:4f0ad9c1...
    media_type:
      description: Media type of the manifest or index.
      type: str
    platforms:
      description: Platforms of an index (empty for a single manifest).
      type: list
      elements: str
      sample: [linux/amd64, linux/arm64]
    status:
      description: C(pushed), C(present) (already there, nothing read) or C(would_push) (check mode).
      type: str
    bytes:
      description: Bytes of blobs uploaded for this image.
      type: int
bytes_pushed:
  description: Bytes of blobs uploaded (0 when everything was present).
  returned: always
  type: int
blobs_uploaded:
  description: Blobs uploaded.
  returned: always
  type: int
blobs_mounted:
  description: Blobs mounted from another repository of the registry instead of uploaded.
  returned: always
  type: int
blobs_present:
  description: Blobs that were already in place.
  returned: always
  type: int
manifests_pushed:
  description: Manifests and indexes pushed.
  returned: always
  type: int
seconds:
  description: Wall time of the transfer.
  returned: always
  type: float
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import delta as bundle_delta
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import lock as bundle_lock
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_archive import open_source
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_ref import ImageRefError, normalize_registry
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_push import push_bundle
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.content import ContentError
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.errors import RegistryError
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.module import (
    client_from_params,
    connection_argument_spec,
    connection_problem,
)


def argument_spec() -> dict:
    return dict(
        src=dict(type="list", elements="path", required=True),
        images=dict(type="list", elements="str"),
        monolithic_max_mb=dict(type="int", default=1024),
        chunk_size_mb=dict(type="int", default=64),
        registry_name=dict(type="str"),
        replace_tags=dict(type="bool", default=False),
        lock_file=dict(type="path"),
        **connection_argument_spec(concurrency=4, timeout=120, retries=4),
    )


class ImagePreload:
    """Push bundle sources one after the other into one registry."""

    def __init__(self, module: AnsibleModule):
        self.module = module
        params = module.params
        problem = connection_problem(params, positive=("concurrency", "monolithic_max_mb", "chunk_size_mb", "timeout"))
        if problem:
            module.fail_json(msg=problem)
        self.client = client_from_params(
            params, monolithic_max=params["monolithic_max_mb"] << 20, chunk_size=params["chunk_size_mb"] << 20
        )
        self.registry = self.client.registry
        self.registry_name = params["registry_name"]
        if self.registry_name:
            try:
                normalize_registry(self.registry_name)
            except ImageRefError as exc:
                module.fail_json(msg=f"registry_name: {exc}")

    def delta_blobs(self) -> dict | None:
        """For a differential bundle: check its base is in the registry (before any push) and
        return the blobs it leaves there; None for a complete bundle."""
        path = self.module.params["lock_file"]
        if not path or not os.path.isfile(path):
            return None
        delta = bundle_lock.load_lock(path, missing_ok=False)
        if not bundle_lock.base_of(delta):
            return None
        problems = bundle_delta.base_problems(
            delta, self.client, self.registry_name, concurrency=self.module.params["concurrency"]
        )
        if problems:
            raise ContentError(bundle_delta.refusal(delta, problems))
        return bundle_delta.external_blobs(delta, self.registry, self.registry_name)

    def run(self) -> dict:
        external = self.delta_blobs()
        sources = [open_source(path) for path in self.module.params["src"]]
        try:
            result = push_bundle(
                sources,
                self.client,
                images=self.module.params["images"],
                check_mode=self.module.check_mode,
                concurrency=self.module.params["concurrency"],
                registry_name=self.registry_name,
                replace_tags=self.module.params["replace_tags"],
                external_blobs=external,
            )
        finally:
            for source in sources:
                source.close()
        if self.module._diff:
            result["diff"] = {
                "before": "".join(
                    f"{i['target']} @ {i['digest']}\n" for i in result["images"] if i["status"] == "present"
                ),
                "after": "".join(f"{i['target']} @ {i['digest']}\n" for i in result["images"]),
            }
        return result


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        result = ImagePreload(module).run()
    except (ContentError, RegistryError, bundle_lock.BundleLockError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
