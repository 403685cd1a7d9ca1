#!/usr/bin/python
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: image_bundle
short_description: Pull container images into an OCI image layout and lock their digests
version_added: "0.1.0"
description:
  - The online phase of the offline image engine. Pulls every image of O(images) from its
    upstream registry into one OCI image layout directory (the bundle), all platforms of a
    multi-arch index included (or only O(platforms)), and writes the bundle lock file with every digest.
  - Manifests are stored byte for byte, so digests are preserved exactly; every blob is verified
    against its sha256 while it is streamed to disk and only then moved into place.
  - Idempotent. An image already in the layout whose digest matches the registry (or the digest
    the reference is pinned to) is skipped without downloading anything; blobs shared between
    images are downloaded once.
  - The lock keeps the C(files) entries other tasks recorded (see the bundle_lock helpers); its
    C(images) entries are exactly the images of this run, each with every manifest and blob (digest and
    size), which differential bundles (C(playbooks/bundle.yml -e gauntlet_bundle_since=...)) compare.
  - The layout holds exactly the images of this run too. An image no longer in O(images) or O(builds)
    (after an upgrade, the old version) is removed from the lock and from C(index.json), and every blob no
    remaining image uses is deleted (a blob shared with a remaining image, an index's child manifest
    included, is kept); see RV(removed). So preload no longer pushes it, and the registry prune
    (C(playbooks/prune.yml)) removes it from the registry. Give one call the whole list (the module owns O(dest)).
author:
  - Cloud Native Gauntlet contributors (!UNKNOWN)
options:
  images:
    description:
      - Image references in any form (C(nginx) means C(docker.io/library/nginx:latest)); a reference
        pinned by digest (C(@sha256:...)) is verified against it.
      - Typically the output of the P(gauntlet.platform.images_from_manifests#filter) filter.
    type: list
    elements: str
    required: true
  dest:
    description: The OCI image layout directory; created when missing.
    type: path
    required: true
  lock_file:
    description: The bundle lock file (JSON). Default is C(bundle.lock.json) beside O(dest).
    type: path
  registry_auth:
    description: Credentials per upstream registry (basic auth or the bearer-token flow). Default is anonymous.
    type: list
    elements: dict
    default: []
    suboptions:
      registry:
        description: Registry host as in image references, for example C(ghcr.io) or C(docker.io).
        type: str
        required: true
      username:
        description: User name.
        type: str
        required: true
      password:
        description: Password or access token.
        type: str
        required: true
  plain_http_registries:
    description: Registries to talk plain HTTP to (only for registries without TLS, for example a lab mirror).
    type: list
    elements: str
    default: []
  platforms:
    description:
      - Platforms to carry (C(os/architecture[/variant]), for example C(linux/amd64), C(linux/arm64)). Empty (the
        default) carries every platform of each image index, byte for byte.
      - With platforms, an index keeps only those platforms' manifests (and their attestation manifests) and is
        stored as a reduced index with its own digest, recorded in the lock beside the upstream one
        (C(upstream_digest)); a reference pinned by digest keeps its whole index. An image that lacks one of the
        platforms stops the run, naming it. See C(docs/images.md), "Platform filter".
    type: list
    elements: str
    default: []
  builds:
    description:
      - Images no upstream registry has, built on this machine into the bundle instead of pulled (the
        Task API's seed image, which C(gitops/task-api) deploys before any CI build exists). Each is
        built after the pulls, from the bundle's own copy of its O(builds[].base), with podman or
        buildah, exported with skopeo and stored in the layout and the lock like a pulled image.
      - An image already in the layout whose label C(gauntlet.build-inputs) equals the hash of this
        build's inputs (context files, build arguments, base digest) is not built again.
    type: list
    elements: dict
    default: []
    suboptions:
      image:
        description: The reference to store the image under (and to skip when pulling O(images)).
        type: str
        required: true
      context:
        description: The build context folder (copied to a scratch folder; never written to).
        type: path
        required: true
      containerfile:
        description: The Containerfile or Dockerfile, relative to O(builds[].context).
        type: str
        default: Dockerfile
      base:
        description: An image of O(images) the build starts from; loaded from the bundle, never pulled.
        type: str
      base_arg:
        description:
          - The build argument (C(ARG)) that takes O(builds[].base), pinned by the digest of the bundle's copy
            (C(<repository>@sha256:...)), the digest the lock records.
        type: str
      build_args:
        description:
          - More build arguments, name to value. C(SOURCE_DATE_EPOCH) also becomes the builder's C(--timestamp)
            (every timestamp of the image), so the same inputs give the same image digest.
        type: dict
        default: {}
      files:
        description:
          - Files or folders to add to the staged build context, path in the context to source path,
            for example C(pip/wheels) to a wheelhouse or C(pip/ca.pem) to the CA of a package index.
        type: dict
        default: {}
  builder:
    description: The image builder for O(builds); C(auto) takes podman, else buildah.
    type: str
    choices: [auto, podman, buildah]
    default: auto
  build_network:
    description: Network mode of the builds (C(none) for a build from a wheelhouse); default is the builder's.
    type: str
  ca_file:
    description: Extra CA certificate (PEM) to verify registries' TLS certificates. Default is the system trust store.
    type: path
  validate_certs:
    description: Verify TLS certificates.
    type: bool
    default: true
  concurrency:
    description: Blob downloads in flight at once.
    type: int
    default: 4
  retries:
    description: Retries, with exponential backoff, after a connection error, HTTP 429 or 5xx.
    type: int
    default: 4
  timeout:
    description: Socket timeout in seconds.
    type: int
    default: 120
notes:
  - Supports check mode (reports what would be pulled and the bytes missing, and what would be removed; writes and
    deletes nothing) and diff mode (the lock entries, removed ones included).
  - Needs network access to the upstream registries; run it from the online machine (playbooks/bundle.yml).
seealso:
  - module: gauntlet.platform.image_preload
extends_documentation_fragment:
  - gauntlet.platform.attributes
  - gauntlet.platform.attributes.with_diff
"""

EXAMPLES = r"""
- name: Pull every platform image into the bundle
  gauntlet.platform.image_bundle:
    images: "{{ __bundle_objects | gauntlet.platform.images_from_manifests }}"
    dest: "{{ playbook_dir }}/../bundle/images"
    lock_file: "{{ playbook_dir }}/../bundle/bundle.lock.json"
    registry_auth:
      - registry: docker.io
        username: "{{ dockerhub_username }}"
        password: "{{ dockerhub_token }}"

- name: Pull the images and build the seed image from the bundled base
  gauntlet.platform.image_bundle:
    images:
      - docker.io/library/python:3.13.7-slim-trixie
      - registry.local:5000/gauntlet/task-api:0.1.0
    dest: /srv/bundle/images
    builds:
      - image: registry.local:5000/gauntlet/task-api:0.1.0
        context: /srv/gauntlet/apps/task-api
        base: docker.io/library/python:3.13.7-slim-trixie
        base_arg: PYTHON_IMAGE
"""

RETURN = r"""
images:
  description: One entry per requested image.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Normalised reference (the name in the layout and in the lock).
      type: str
      sample: docker.io/library/nginx:1.27
    source:
      description: The reference as requested.
      type: str
    digest:
      description: Digest of the manifest or index.
      type: str
    media_type:
      description: Media type of the manifest or index.
      type: str
    platforms:
      description: Platforms of the image.
      type: list
      elements: str
    upstream_digest:
      description: With O(platforms), the registry's digest of an index the bundle holds reduced.
      type: str
      returned: when the index was reduced
    status:
      description:
        - C(pulled), C(present) (skipped, nothing downloaded or built) or C(would_pull) (check mode);
          for O(builds), C(built) or C(would_build).
      type: str
    bytes:
      description: Bytes of blobs downloaded (or missing, in check mode).
      type: int
    inputs:
      description: For O(builds), the hash of the build's inputs (the image's C(gauntlet.build-inputs) label).
      type: str
bytes_pulled:
  description: Bytes downloaded in total.
  returned: always
  type: int
removed:
  description:
    - Images removed (in check mode, to be removed) from the lock and the layout because neither O(images) nor
      O(builds) names them any more (after an upgrade, the old version).
  returned: always
  type: list
  elements: str
  sample: [docker.io/library/nginx:1.26]
bytes_removed:
  description:
    - Bytes of the blobs deleted (in check mode, to be deleted) from the layout because no image of this run
      uses them; a blob another image shares is kept.
  returned: always
  type: int
lock_file:
  description: Path of the lock file.
  returned: always
  type: str
"""

import copy
import os
import shutil

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import lock as bundle_lock
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_build import (
    BuildError,
    ImageBuilder,
    find_builder,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_ref import (
    ImageRefError,
    normalize_registry,
    parse_image,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_platforms import parse_platforms
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_pull import pull_image
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_transfer import tree_from_source
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.content import ContentError
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.layout import OciLayout
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.client import RegistryClient
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.errors import RegistryError


def argument_spec() -> dict:
    return dict(
        images=dict(type="list", elements="str", required=True),
        dest=dict(type="path", required=True),
        lock_file=dict(type="path"),
        registry_auth=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                registry=dict(type="str", required=True),
                username=dict(type="str", required=True),
                password=dict(type="str", required=True, no_log=True),
            ),
        ),
        plain_http_registries=dict(type="list", elements="str", default=[]),
        platforms=dict(type="list", elements="str", default=[]),
        builds=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                image=dict(type="str", required=True),
                context=dict(type="path", required=True),
                containerfile=dict(type="str", default="Dockerfile"),
                base=dict(type="str"),
                base_arg=dict(type="str"),
                build_args=dict(type="dict", default={}),
                files=dict(type="dict", default={}),
            ),
        ),
        builder=dict(type="str", default="auto", choices=["auto", "podman", "buildah"]),
        build_network=dict(type="str"),
        ca_file=dict(type="path"),
        validate_certs=dict(type="bool", default=True),
        concurrency=dict(type="int", default=4),
        retries=dict(type="int", default=4),
        timeout=dict(type="int", default=120),
    )


class ImageBundle:
    """Pull images into a layout and record them in the lock."""

    def __init__(self, module: AnsibleModule):
        self.module = module
        params = module.params
        for key in ("concurrency", "timeout"):
            if params[key] < 1:
                module.fail_json(msg=f"{key} must be at least 1, got {params[key]}")
        self.lock_file = params["lock_file"] or os.path.join(
            os.path.dirname(os.path.abspath(params["dest"])), "bundle.lock.json"
        )
        try:
            self.refs = [(image, parse_image(image)) for image in params["images"]]
            self.auth = {normalize_registry(a["registry"]): a for a in params["registry_auth"]}
            self.plain = {normalize_registry(r) for r in params["plain_http_registries"]}
            self.built = {str(parse_image(b["image"])) for b in params["builds"]}
            # What the bundle holds after this run, and nothing else.
            self.wanted = {str(ref) for _image, ref in self.refs} | self.built
            self.platforms = parse_platforms(params["platforms"])
        except (ImageRefError, ContentError) as exc:
            module.fail_json(msg=f"invalid input: {exc}")
        self.clients: dict[str, RegistryClient] = {}
        if params["builds"] and not module.check_mode:
            # Before any download: a missing builder must not surface after an hour of pulls.
            try:
                find_builder(shutil.which, params["builder"])
                if not shutil.which("skopeo"):
                    raise BuildError(
                        "building images for the bundle needs skopeo on this machine; install it (Debian: apt-get install skopeo)"
                    )
            except BuildError as exc:
                module.fail_json(msg=f"builds: {exc}")

    def client(self, registry: str) -> RegistryClient:
        if registry not in self.clients:
            params = self.module.params
            auth = self.auth.get(registry) or {}
            api_host = parse_image(f"{registry}/x").api_host
            self.clients[registry] = RegistryClient(
                registry,
                api_host=api_host,
                plain_http=registry in self.plain,
                ca_file=params["ca_file"],
                validate_certs=params["validate_certs"],
                username=auth.get("username"),
                password=auth.get("password"),
                timeout=params["timeout"],
                retries=params["retries"],
            )
        return self.clients[registry]

    def run(self) -> dict:
        check = self.module.check_mode
        dest = self.module.params["dest"]
        layout = None if check and not os.path.isdir(dest) else OciLayout(dest, create=True)
        existed = os.path.exists(self.lock_file)
        lock = bundle_lock.load_lock(self.lock_file)
        before = copy.deepcopy(lock)
        results = []
        seen = set()
        for image, ref in self.refs:
            if str(ref) in seen or str(ref) in self.built:
                continue
            seen.add(str(ref))
            client = self.client(ref.registry)
            if layout is None:
                _data, media_type, digest = client.get_manifest(ref.repository, ref.reference)
                results.append(
                    {
                        "name": str(ref),
                        "source": image,
                        "digest": digest,
                        "media_type": media_type,
                        "platforms": [],
                        "status": "would_pull",
                        "bytes": 0,
                    }
                )
                continue
            results.append(
                pull_image(
                    image,
                    layout,
                    client,
                    check_mode=check,
                    concurrency=self.module.params["concurrency"],
                    platforms=self.platforms,
                )
            )
        builder = ImageBuilder(
            self.module.run_command,
            shutil.which,
            builder=self.module.params["builder"],
            network=self.module.params["build_network"],
        )
        for build in self.module.params["builds"]:
            item = builder.build(
                layout,
                image=build["image"],
                context=build["context"],
                containerfile=build["containerfile"],
                base=build["base"],
                base_arg=build["base_arg"],
                build_args=build["build_args"],
                files=build["files"],
                check_mode=check,
            )
            item["bytes"] = 0
            results.append(item)
        # The lock and the layout hold exactly the images of this run: the ones no longer listed go.
        dropped = bundle_lock.retain(lock, "images", self.wanted)
        for item in results:
            if item["digest"] is None:  # would_build: nothing to record yet
                continue
            manifests = blobs = None
            if layout is not None and item["status"] not in ("would_pull", "would_build"):
                # Every manifest and blob by digest: what a differential bundle compares.
                tree = tree_from_source(layout, item["name"], item["digest"], item.get("media_type"))
                manifests = [(digest, len(data), media_type) for digest, media_type, data in tree.manifests]
                blobs = tree.blobs
            bundle_lock.set_image(
                lock,
                item["name"],
                item["digest"],
                source=item["source"],
                media_type=item.get("media_type"),
                platforms=item.get("platforms"),
                manifests=manifests,
                blobs=blobs,
                upstream_digest=item.get("upstream_digest"),
            )
        lock_changed = not existed or bundle_lock.dump_lock(lock) != bundle_lock.dump_lock(before)
        if lock_changed and not check:
            bundle_lock.write_lock(self.lock_file, lock)
        # After the lock: an interrupted run leaves blobs no entry uses, which the next run removes.
        removed = layout.retain(self.wanted, check_mode=check) if layout is not None else {"images": [], "blobs": {}}
        removed_names = sorted({e["name"] for e in dropped} | {i["name"] for i in removed["images"]})
        changed = (
            lock_changed
            or bool(removed_names or removed["blobs"])
            or any(r["status"] in ("pulled", "would_pull", "built", "would_build") for r in results)
        )
        out = {
            "changed": changed,
            "images": results,
            "bytes_pulled": sum(r["bytes"] for r in results if r["status"] == "pulled"),
            "removed": removed_names,
            "bytes_removed": sum(removed["blobs"].values()),
            "lock_file": self.lock_file,
        }
        if self.module._diff:
            out["diff"] = {
                "before": bundle_lock.dump_lock(before) if existed else "",
                "after": bundle_lock.dump_lock(lock),
                "before_header": self.lock_file,
                "after_header": self.lock_file,
            }
        return out


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        result = ImageBundle(module).run()
    except (ContentError, RegistryError, bundle_lock.BundleLockError, BuildError) as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg=f"cannot write the bundle: {exc}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
