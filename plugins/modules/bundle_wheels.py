#!/usr/bin/python
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: bundle_wheels
short_description: Download the wheels of exact-pin requirement locks into the bundle, for the build image's interpreter
version_added: "0.1.0"
description:
  - The Python half of the online phase. Downloads a wheel of every C(name==version) of O(requirements)
    (the Task API's C(requirements.lock) and the pipeline's C(requirements-dev.lock)) into O(dest), built
    for the interpreter and platform of the build image O(base_image) (for
    C(python:3.13.7-slim-trixie) CPython 3.13, glibc 2.41, manylinux, O(architecture)), never for the
    controller's own interpreter, and records name, version, file name, sha256 and target of each in the
    C(wheels) section of the bundle lock.
  - "Wheels only (C(pip download --only-binary=:all: --no-deps)); a package with no wheel for the target
    (only an sdist, or wheels for other interpreters or platforms) fails the task with the package's name
    and what to do."
  - Hashes are checked three ways, and a mismatch fails the task naming the file. pip checks the sha256 the
    index page gives for a file, and the C(--hash=sha256:) options of the lock files when they have any;
    the module then compares every file with an earlier lock entry of the same file name, so a file the index
    changed after it was bundled is refused.
  - "Idempotent: pins whose wheel is in O(dest) with the sha256 the lock records for the same target are not
    downloaded again; when nothing is missing pip is not run at all. Wheels of packages no longer pinned are removed."
  - The lock keeps the C(images) and C(files) entries other tasks recorded; its C(wheels) entries are exactly
    the pins of this run.
author:
  - Cloud Native Gauntlet contributors (!UNKNOWN)
options:
  requirements:
    description: Requirement locks, every line an exact pin C(name==version), optionally with C(--hash=sha256:<hex>).
    type: list
    elements: path
    required: true
  dest:
    description: Folder of the bundle's wheels; created when missing.
    type: path
    required: true
  lock_file:
    description: The bundle lock file (JSON). Default is C(bundle.lock.json) beside O(dest).
    type: path
  base_image:
    description:
      - The image the wheels are installed in, an official C(python:<X.Y[.Z]>-[slim-]<Debian codename>) reference
        (the Dockerfile's C(ARG PYTHON_IMAGE)); its tag gives the Python version and its Debian release the glibc.
    type: str
    required: true
  architecture:
    description: CPU architecture of the wheels (the platform's nodes).
    type: str
    default: x86_64
  index_url:
    description: The PEP 503 package index to download from.
    type: str
    default: https://pypi.org/simple
  ca_file:
    description: CA bundle (PEM) that verifies O(index_url) (pip's C(--cert)). Default is pip's own bundle.
    type: path
notes:
  - Needs pip for the Python that runs the module (the controller's); pip only downloads, it installs nothing.
attributes:
  check_mode:
    description: Reports the wheels that would be downloaded; downloads and writes nothing.
    support: full
  diff_mode:
    description: The lock before and after.
    support: full
seealso:
  - module: gauntlet.platform.image_bundle
"""

EXAMPLES = r"""
- name: Download the wheels the Task API image and pipeline need
  gauntlet.platform.bundle_wheels:
    requirements:
      - apps/task-api/requirements.lock
      - apps/task-api/requirements-dev.lock
    dest: bundle/wheels
    lock_file: bundle/bundle.lock.json
    base_image: docker.io/library/python:3.13.7-slim-trixie
"""

RETURN = r"""
wheels:
  description: One lock entry per pin, with C(status) C(present), C(downloaded) or C(would_download).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "fastapi", "version": "0.165.0", "filename": "fastapi-0.165.0-py3-none-any.whl",
            "sha256": "0f3c...", "target": "cp313-manylinux_2_41_x86_64", "status": "present"}]
target:
  description: The target the wheels are for.
  returned: always
  type: str
  sample: cp313-manylinux_2_41_x86_64
removed:
  description: Wheel files removed from O(dest) because no pin names them any more.
  returned: always
  type: list
  elements: str
lock_file:
  description: Path of the lock file.
  returned: always
  type: str
"""

import copy
import os
import shutil
import sys
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import lock as bundle_lock
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle.wheels import (
    WheelBundleError,
    collect,
    explain_pip_failure,
    pip_download_argv,
    pip_environment,
    plan,
    read_pins,
    requirements_text,
    target_from_image,
)


def argument_spec() -> dict:
    return dict(
        requirements=dict(type="list", elements="path", required=True),
        dest=dict(type="path", required=True),
        lock_file=dict(type="path"),
        base_image=dict(type="str", required=True),
        architecture=dict(type="str", default="x86_64"),
        index_url=dict(type="str", default="https://pypi.org/simple"),
        ca_file=dict(type="path"),
    )


def run(module: AnsibleModule) -> dict:
    params = module.params
    dest = params["dest"]
    lock_file = params["lock_file"] or os.path.join(os.path.dirname(os.path.abspath(dest)), "bundle.lock.json")
    pins = read_pins(params["requirements"])
    if not pins:  # nothing to download: the base need not be a python image
        return finish(module, lock_file, [], [], "")
    target = target_from_image(params["base_image"], params["architecture"])
    lock = bundle_lock.load_lock(lock_file)
    present, missing = plan(pins, lock["wheels"], dest, target)
    results = [dict(e, status="present") for e in present]
    if missing and module.check_mode:
        results += [{"name": p.name, "version": p.version, "status": "would_download"} for p in missing]
    elif missing:
        os.makedirs(dest, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".download-", dir=dest)
        try:
            requirements = os.path.join(staging, "requirements.txt")
            with open(requirements, "w", encoding="utf-8") as handle:
                handle.write(requirements_text(missing))
            wheels_dir = os.path.join(staging, "wheels")
            argv = pip_download_argv(
                sys.executable, requirements, target, wheels_dir, params["index_url"], params["ca_file"]
            )
            rc, out, err = module.run_command(argv, environ_update=pip_environment(params["ca_file"]))
            if rc != 0:
                raise WheelBundleError(explain_pip_failure(f"{out}\n{err}", target, params["index_url"]))
            downloaded = collect(wheels_dir, missing, target, lock["wheels"])
            for entry in downloaded:
                os.replace(os.path.join(wheels_dir, entry["filename"]), os.path.join(dest, entry["filename"]))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        results += [dict(e, status="downloaded") for e in downloaded]
    return finish(module, lock_file, results, missing, target.key)


def finish(module: AnsibleModule, lock_file: str, results: list, missing: list, target: str) -> dict:
    """Remove wheels no pin names, write the lock, build the result."""
    dest = module.params["dest"]
    existed = os.path.exists(lock_file)
    lock = bundle_lock.load_lock(lock_file)
    before = copy.deepcopy(lock)
    results.sort(key=lambda e: e["name"])
    kept = {e.get("filename") for e in results if e.get("filename")}
    stale = sorted(f for f in (os.listdir(dest) if os.path.isdir(dest) else []) if f.endswith(".whl") and f not in kept)
    # Check mode: the lock diff shows the entries of the wheels that are there; the others are to come.
    recorded = [{k: v for k, v in e.items() if k != "status"} for e in results if e["status"] != "would_download"]
    bundle_lock.set_wheels(lock, recorded)
    lock_changed = not existed or bundle_lock.dump_lock(lock) != bundle_lock.dump_lock(before)
    if not module.check_mode:
        for name in stale:
            os.remove(os.path.join(dest, name))
        if lock_changed:
            bundle_lock.write_lock(lock_file, lock)
    out = {
        "changed": bool(lock_changed or missing or stale),
        "wheels": results,
        "target": target,
        "removed": stale,
        "lock_file": lock_file,
    }
    if module._diff:
        out["diff"] = {
            "before": bundle_lock.dump_lock(before) if existed else "",
            "after": bundle_lock.dump_lock(lock),
            "before_header": lock_file,
            "after_header": lock_file,
        }
    return out


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        result = run(module)
    except (WheelBundleError, bundle_lock.BundleLockError) as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg=f"cannot write the bundle's wheels: {exc}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
