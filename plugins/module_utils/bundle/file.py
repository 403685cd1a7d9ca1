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


def _checked_path(lock: dict, bundle_dir: str, name: str, base_dir: str | None) -> tuple[str | None, str | None]:
    """(path, None) for a good file; (None, problem) otherwise, or (None, None) for a file the
    delta leaves in a base that cannot serve it (the caller names the base once)."""
    if not name or name.startswith("/") or ".." in name.split("/"):
        return None, f"bundle file name {name!r} must be a relative path inside the bundle"
    entry = get_file(lock, name)
    if entry is None:
        return None, (
            f"files/{name} is not in the bundle lock {os.path.join(bundle_dir, LOCK_NAME)}; "
            f"the bundle predates this version: {_REBUILD}"
        )
    folder = bundle_dir
    if not is_carried(entry):
        if base_lock_problem(lock, base_dir):
            return None, None
        folder = base_dir
    path = os.path.join(folder, "files", name)
    if not os.path.isfile(path):
        return None, f"bundle file {path} is missing; copy the whole bundle folder again or {_REBUILD}"
    actual = _sha256(path)
    if actual != entry["sha256"]:
        return None, (
            f"bundle file {path} has sha256 {actual} but the lock says {entry['sha256']}: "
            f"the file is corrupt or was replaced; {_REBUILD}"
        )
    return path, None


def check_bundle_files(bundle_dir: str, names, base_dir: str | None = None) -> tuple[dict, list]:
    """Check every named bundle file against the lock: ({name: path} of the good ones, [problem]).

    The one place that decides whether a bundle file may be used: the lookups and the k3s
    stage's check call it. Every problem is reported (not only the first), each once, so one
    run names everything a bundle lacks. In a differential bundle a file the delta does not
    carry is read from the base bundle ``base_dir``, whose lock must be the one the delta
    names (its sha256).
    """
    try:
        lock = load_lock(os.path.join(bundle_dir, LOCK_NAME), missing_ok=False)
    except BundleLockError as exc:
        return {}, [f"{exc}; {_REBUILD}"]
    paths, problems, in_base = {}, [], []
    for name in names:
        path, problem = _checked_path(lock, bundle_dir, name, base_dir)
        if path:
            paths[name] = path
        elif problem:
            problems.append(problem)
        else:
            in_base.append(name)
    if in_base:
        verb = "is" if len(in_base) == 1 else "are"
        problems.append(f"{', '.join(in_base)} {verb} not in {bundle_dir}: {base_lock_problem(lock, base_dir)}")
    return paths, problems


def bundle_file_path(bundle_dir: str, name: str, base_dir: str | None = None) -> str:
    """Return the checked path of bundle file ``name`` (check_bundle_files for one name)."""
    paths, problems = check_bundle_files(bundle_dir, [name], base_dir)
    if problems:
        raise BundleFileError(problems[0])
    return paths[name]


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
