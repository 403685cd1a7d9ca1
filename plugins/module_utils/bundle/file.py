# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Read a file of the offline bundle, checked against the bundle lock.

The bundle keeps downloaded files under ``<bundle>/files/<name>`` and their sha256 in
``<bundle>/bundle.lock.json``. Roles read upstream manifests and chart sources only
through here, so a missing, truncated or swapped file stops the run with a message
that says which file and how to fix it.

Stdlib only (plus PyYAML for the manifest loader, which Ansible always has).
"""

from __future__ import annotations

import hashlib
import os

from ansible_collections.gauntlet.platform.plugins.module_utils.bundle.delta import base_lock_problem
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle.lock import (
    BundleLockError,
    get_file,
    is_carried,
    load_lock,
)

LOCK_NAME = "bundle.lock.json"
_REBUILD = "rebuild the bundle with playbooks/bundle.yml on a connected machine and copy it to the controller"


class BundleFileError(ValueError):
    """A bundle file that is missing, unlocked or does not match its lock entry."""


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def bundle_file_path(bundle_dir: str, name: str, base_dir: str | None = None) -> str:
    """Return the checked path of bundle file ``name``.

    In a differential bundle a file the delta does not carry is read from the base bundle
    ``base_dir``, whose lock must be the one the delta names (its sha256).
    """
    if not name or name.startswith("/") or ".." in name.split("/"):
        raise BundleFileError(f"bundle file name {name!r} must be a relative path inside the bundle")
    lock_path = os.path.join(bundle_dir, LOCK_NAME)
    try:
        lock = load_lock(lock_path, missing_ok=False)
    except BundleLockError as exc:
        raise BundleFileError(f"{exc}; {_REBUILD}") from None
    entry = get_file(lock, name)
    if entry is None:
        raise BundleFileError(
            f"{name} is not in the bundle lock {lock_path}; the bundle predates this version: {_REBUILD}"
        )
    folder = bundle_dir
    if not is_carried(entry):
        problem = base_lock_problem(lock, base_dir)
        if problem:
            raise BundleFileError(f"{name} is not in {bundle_dir}: {problem}")
        folder = base_dir
    path = os.path.join(folder, "files", name)
    if not os.path.isfile(path):
        raise BundleFileError(f"bundle file {path} is missing; copy the whole bundle folder again or {_REBUILD}")
    actual = _sha256(path)
    if actual != entry["sha256"]:
        raise BundleFileError(
            f"bundle file {path} has sha256 {actual} but the lock says {entry['sha256']}: "
            f"the file is corrupt or was replaced; {_REBUILD}"
        )
    return path


def manifest_loader():
    """A safe YAML loader (the C one when present) that reads a bare ``=`` as a string.

    PyYAML resolves a plain ``=`` scalar to the YAML 1.1 "value" tag and then has no
    constructor for it; Kubernetes (YAML 1.2) reads it as the string "=", and upstream
    CRDs use it in enums (Alertmanager matchers, CloudNativePG).
    """
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class ManifestLoader(base):  # pylint: disable=too-many-ancestors
        pass

    ManifestLoader.add_constructor("tag:yaml.org,2002:value", yaml.SafeLoader.construct_yaml_str)
    return ManifestLoader


def load_manifest(path: str) -> list:
    """Every non-empty YAML document of a (multi-document) manifest file, in order."""
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            docs = list(yaml.load_all(handle, Loader=manifest_loader()))
    except yaml.YAMLError as exc:
        raise BundleFileError(f"bundle file {path} is not valid YAML ({exc}); {_REBUILD}") from exc
    objects = []
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict) or "kind" not in doc:
            raise BundleFileError(
                f"bundle file {path} holds a document that is not a Kubernetes object: {str(doc)[:80]}"
            )
        objects.extend(doc.get("items", []) if doc["kind"] == "List" else [doc])
    return objects
