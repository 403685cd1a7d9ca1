# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Build an image into an OCI layout from a build context (the bundle's seed images).

Used by ``image_bundle`` in the online phase for images no upstream registry has: the
Task API's first image, which gitops/task-api deploys before any CI build exists.

1. The build context is copied into a scratch folder, plus any extra ``files`` (a CA
   for a package index, a wheelhouse), so nothing is written into the checkout.
2. The inputs are hashed: every file of the staged context (path, exec bit, content),
   the Containerfile name, the build arguments and the digest of the base image in the
   layout. The hash is stored as the image label ``gauntlet.build-inputs``; an image
   already in the layout with the same label is not built again (idempotent bundle).
3. The base image is copied from the layout into containers-storage with skopeo, so the
   image builds FROM exactly the bundled digest (the base build argument names it
   ``<repository>@<digest>``, the digest the lock records), and the builder runs with
   ``--pull=never``: the build never fetches another base. A ``SOURCE_DATE_EPOCH`` build
   argument also becomes ``--timestamp``, so the same inputs give the same image digest.
4. podman or buildah builds; skopeo copies the result into a scratch OCI layout, from
   which its blobs are copied into the bundle layout, verified, like a pulled image.

Stdlib only; commands run through a ``run(argv) -> (rc, stdout, stderr)`` callable
(``AnsibleModule.run_command`` in the module).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile

from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_ref import ImageRefError, parse_image
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.content import ContentError, platform_string
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.layout import OciLayout

LABEL_INPUTS = "gauntlet.build-inputs"
BUILDERS = ("podman", "buildah")
# Never part of an image's inputs: caches a test run or an editor leaves behind.
IGNORED_NAMES = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".git"})
IGNORED_SUFFIXES = (".pyc", ".pyo")


class BuildError(ValueError):
    """A build that cannot run or failed; the message says what to do."""


def _ignore(_directory, names):
    return [n for n in names if n in IGNORED_NAMES or n.endswith(IGNORED_SUFFIXES)]


def stage_context(context: str, files: dict, dest: str) -> str:
    """Copy ``context`` to ``dest`` and add ``files`` ({path in context: source path})."""
    if not os.path.isdir(context):
        raise BuildError(f"build context {context} is not a directory")
    shutil.copytree(context, dest, symlinks=False, ignore=_ignore)
    for rel, source in sorted(files.items()):
        norm = os.path.normpath(rel)
        if os.path.isabs(norm) or norm.startswith(".."):
            raise BuildError(f"files: {rel!r} must be a relative path inside the build context")
        target = os.path.join(dest, norm)
        if os.path.isdir(source):
            shutil.copytree(source, target, dirs_exist_ok=True, ignore=_ignore)
        elif os.path.isfile(source):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(source, target)
        else:
            raise BuildError(f"files: {rel!r}: source {source} does not exist")
    return dest


def inputs_digest(context: str, containerfile: str, build_args: dict, base_digest: str | None) -> str:
    """sha256 over everything that decides what the build produces."""
    digest = hashlib.sha256()
    header = {"containerfile": containerfile, "build_args": build_args, "base": base_digest}
    digest.update(json.dumps(header, sort_keys=True).encode() + b"\0")
    for root, dirs, names in os.walk(context):
        dirs[:] = sorted(d for d in dirs if d not in IGNORED_NAMES)
        for name in sorted(names):
            if name.endswith(IGNORED_SUFFIXES):
                continue
            path = os.path.join(root, name)
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode):
                continue
            rel = os.path.relpath(path, context)
            digest.update(f"{rel}\0{bool(info.st_mode & 0o111)}\0{info.st_size}\0".encode())
            with open(path, "rb") as handle:
                for chunk in iter(lambda h=handle: h.read(1 << 20), b""):
                    digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def image_config(layout: OciLayout, name: str) -> dict | None:
    """The config of single-manifest image ``name`` in the layout (None when it is not there or unreadable)."""
    entry = {e.name: e for e in layout.entries()}.get(name)
    if entry is None:
        return None
    try:
        manifest = json.loads(layout.read_blob(entry.digest, name))
        config = json.loads(layout.read_blob(manifest["config"]["digest"], name))
    except (ContentError, ValueError, KeyError, TypeError):
        return None
    return config if isinstance(config, dict) else None


def image_labels(layout: OciLayout, name: str) -> dict | None:
    """The config labels of image ``name`` in the layout (None when it is not there or unreadable)."""
    config = image_config(layout, name)
    return None if config is None else (config.get("config") or {}).get("Labels") or {}


def image_platforms(layout: OciLayout, name: str) -> list[str]:
    """``[os/arch]`` of a built image, from its config."""
    config = image_config(layout, name) or {}
    found = platform_string(
        {"os": config.get("os"), "architecture": config.get("architecture"), "variant": config.get("variant")}
    )
    return [found] if found else []


def find_builder(which, preferred: str = "auto") -> str:
    """The path of podman or buildah (``preferred`` or the first found)."""
    names = BUILDERS if preferred == "auto" else (preferred,)
    for name in names:
        path = which(name)
        if path:
            return path
    raise BuildError(
        f"building images for the bundle needs {' or '.join(names)} on this machine (the connected one that "
        "runs playbooks/bundle.yml), and none was found on PATH; install one (Debian: apt-get install podman skopeo)"
    )


class ImageBuilder:
    """Build one image into a layout."""

    def __init__(self, run, which, *, builder: str = "auto", network: str | None = None):
        self.run = run
        self.which = which
        self.builder_choice = builder
        self.network = network

    def _cmd(self, argv: list[str], what: str) -> str:
        rc, out, err = self.run(argv)
        if rc != 0:
            tail = "\n".join((err or out or "").strip().splitlines()[-25:])
            raise BuildError(f"{what} failed (exit {rc}): {' '.join(argv[:2])} ...\n{tail}")
        return out

    def build(
        self,
        layout: OciLayout,
        *,
        image: str,
        context: str,
        containerfile: str = "Dockerfile",
        base: str | None = None,
        base_arg: str | None = None,
        build_args: dict | None = None,
        files: dict | None = None,
        check_mode: bool = False,
    ) -> dict:
        """Build ``image`` into ``layout`` unless an image with the same inputs is there.

        Returns ``name``, ``source``, ``digest``, ``media_type``, ``status``
        (``built``/``present``/``would_build``) and ``inputs``.
        """
        try:
            name = str(parse_image(image))
            base_name = str(parse_image(base)) if base else None
        except ImageRefError as exc:
            raise BuildError(f"builds: {exc}") from exc
        args = {str(k): str(v) for k, v in (build_args or {}).items()}
        epoch = args.get("SOURCE_DATE_EPOCH")
        if epoch is not None and not epoch.isdigit():
            raise BuildError(f"builds: {name}: SOURCE_DATE_EPOCH must be seconds since 1970 (digits), got {epoch!r}")
        if base_arg and not base_name:
            raise BuildError(f"builds: {name}: base_arg {base_arg!r} needs base (an image of the bundle)")
        entries = {e.name: e for e in layout.entries()} if layout is not None else {}
        base_digest = None
        if base_name:
            if base_name not in entries and not check_mode:
                raise BuildError(
                    f"builds: {name}: base image {base_name} is not in the bundle; list it among the images "
                    "(for the Task API: apps/task-api/images.txt)"
                )
            base_digest = entries[base_name].digest if base_name in entries else None
        if base_arg:
            # Pinned by the digest the bundle holds and locks, never by the tag alone.
            args[base_arg] = f"{parse_image(base_name).name}@{base_digest}" if base_digest else base_name
        source_label = f"build {os.path.basename(os.path.normpath(context))}/{containerfile}"
        scratch = tempfile.mkdtemp(prefix="gauntlet-build-")
        try:
            staged = stage_context(context, files or {}, os.path.join(scratch, "context"))
            if not os.path.isfile(os.path.join(staged, containerfile)):
                raise BuildError(f"builds: {name}: {containerfile} is not in the build context {context}")
            inputs = inputs_digest(staged, containerfile, args, base_digest)
            result = {"name": name, "source": source_label, "inputs": inputs, "platforms": []}
            if layout is not None and (image_labels(layout, name) or {}).get(LABEL_INPUTS) == inputs:
                entry = {e.name: e for e in layout.entries()}[name]
                result.update(
                    status="present",
                    digest=entry.digest,
                    media_type=entry.media_type,
                    platforms=image_platforms(layout, name),
                )
                return result
            if check_mode:
                result.update(status="would_build", digest=None, media_type=None)
                return result
            builder = find_builder(self.which, self.builder_choice)
            skopeo = self.which("skopeo")
            if not skopeo:
                raise BuildError(
                    "building images for the bundle needs skopeo (it moves images between the bundle and the "
                    "builder's storage); install it (Debian: apt-get install skopeo)"
                )
            if ":" in layout.path:
                raise BuildError(
                    f"the bundle path {layout.path} contains ':', which skopeo's oci: transport cannot name"
                )
            if base_name:
                self._cmd(
                    [skopeo, "copy", "--quiet", f"oci:{layout.path}:{base_name}", f"containers-storage:{base_name}"],
                    f"loading base image {base_name} from the bundle into the builder's storage",
                )
            tag = f"localhost/gauntlet-bundle-build:{inputs[7:19]}"
            argv = [builder, "build", "--pull=never", "--file", os.path.join(staged, containerfile), "--tag", tag]
            argv += ["--label", f"{LABEL_INPUTS}={inputs}"]
            if self.network:
                argv += ["--network", self.network]
            if epoch is not None:
                # Every timestamp of the image (config, history, files in the layers): reproducible.
                argv += ["--timestamp", epoch]
            for key in sorted(args):
                argv += ["--build-arg", f"{key}={args[key]}"]
            argv.append(staged)
            self._cmd(argv, f"building {name} with {os.path.basename(builder)}")
            out_dir = os.path.join(scratch, "out")
            try:
                self._cmd(
                    [skopeo, "copy", "--quiet", f"containers-storage:{tag}", f"oci:{out_dir}:{name}"],
                    f"exporting {name} from the builder's storage",
                )
            finally:
                self.run([builder, "rmi", tag])
            built = OciLayout(out_dir)
            entry = {e.name: e for e in built.entries()}.get(name)
            if entry is None:
                raise BuildError(f"exporting {name}: skopeo wrote no image of that name into {out_dir}")
            copy_image(built, layout, name, entry.descriptor)
            result.update(
                status="built",
                digest=entry.digest,
                media_type=entry.media_type,
                platforms=image_platforms(layout, name),
            )
            return result
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def copy_image(source: OciLayout, dest: OciLayout, name: str, descriptor: dict) -> None:
    """Copy one image (its manifest tree and blobs) between layouts, verifying every blob."""
    from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_transfer import tree_from_source

    tree = tree_from_source(source, name, descriptor["digest"], descriptor.get("mediaType"))
    for blob, size in tree.blobs.items():
        if dest.blob_size(blob) != size:
            with source.open_blob(blob) as raw:
                dest.write_blob(blob, raw, size, f"image {name} built into {source.location}")
    for digest, _media_type, body in tree.manifests:
        dest.write_bytes(digest, body, f"manifest of {name}")
    dest.set_image(name, {"mediaType": tree.media_type, "digest": descriptor["digest"], "size": descriptor["size"]})
