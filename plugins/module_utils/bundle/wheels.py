# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""The Python wheels of the bundle: what to download, for which interpreter, and checks.

The Task API's image build and its pipeline's lint/test steps ``pip install`` exact pins
(``apps/task-api/requirements.lock``, ``requirements-dev.lock``). Offline, every one of
them must be a wheel in the bundle, built for the **build image's** interpreter and
platform (CPython 3.13 on glibc x86_64 for ``python:3.13.7-slim-trixie``), never the
controller's. One decision per function:

- :func:`read_pins`: the pins of the lock files (``name==version``, optional
  ``--hash=sha256:``), merged; anything else in a lock is an error with file and line.
- :func:`target_from_image`: the interpreter and glibc of an official ``python:<X.Y>-[slim-]<codename>``
  image, from its tag (Debian's glibc per release, below).
- :class:`Target`: pip's ``--python-version/--implementation/--abi/--platform`` for it.
- :func:`plan`: which pins the bundle already holds (lock entry for the same target, file
  present, sha256 equal): a rerun with nothing missing downloads nothing.
- :func:`pip_download_argv`: the one ``pip download`` command (wheels only, no deps: the
  lock is the closure), isolated from the user's pip configuration.
- :func:`explain_pip_failure`: pip's error turned into one message naming the package.
- :func:`collect`: the downloaded files checked against the pins and the earlier lock.

Stdlib only.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field

# glibc of Debian's releases (https://packages.debian.org/<codename>/libc6): the
# manylinux level of the official python:<version>-[slim-]<codename> images.
DEBIAN_GLIBC = {"bullseye": (2, 31), "bookworm": (2, 36), "trixie": (2, 41)}
# PEP 600 aliases of the older manylinux tags (PEP 513, 571, 599).
_LEGACY_MANYLINUX = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[A-Za-z0-9._,-]+\])?==([A-Za-z0-9._+!-]+)$")
_HASH = re.compile(r"^--hash=sha256:([a-f0-9]{64})$")
_WHEEL = re.compile(
    r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-(?P<py>[^-]+)-(?P<abi>[^-]+)-(?P<plat>[^-]+)\.whl$"
)
_IMAGE_TAG = re.compile(r"^(\d+)\.(\d+)(?:\.\d+)?(?:(?:a|b|rc)\d+)?-(?:slim-)?([a-z]+)$")


class WheelBundleError(ValueError):
    """A lock, a target or a download the bundle cannot use; the message says what to do."""


def canonical_name(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _canonical_version(version: str) -> str:
    return version.lower().removeprefix("v")


@dataclass
class Pin:
    name: str  # canonical
    version: str
    where: str  # file:line
    hashes: list[str] = field(default_factory=list)

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"


def read_pins(paths: list[str]) -> list[Pin]:
    """Every ``name==version`` of the lock files, merged; sorted by name."""
    pins: dict[str, Pin] = {}
    for path in paths:
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise WheelBundleError(f"cannot read the requirements lock {path} ({exc.strerror})") from None
        logical: list[tuple[int, str]] = []
        pending = None
        for number, raw in enumerate(text.splitlines(), start=1):
            content = raw.split("#", 1)[0].strip()
            if pending is not None:  # a continuation (pip-compile --generate-hashes style)
                pending = (pending[0], pending[1] + " " + content.removesuffix("\\").strip())
            else:
                pending = (number, content.removesuffix("\\").strip())
            if not content.endswith("\\"):
                logical.append(pending)
                pending = None
        if pending is not None:
            logical.append(pending)
        for number, content in logical:
            words = content.split()
            if not words:
                continue
            where = f"{path}:{number}"
            match = _PIN.match(words[0])
            if not match:
                raise WheelBundleError(
                    f"{where}: {content!r} is not an exact pin; a lock lists every package as name==version "
                    "(optionally with --hash=sha256:...), without markers, ranges or includes"
                )
            hashes = []
            for word in words[1:]:
                found = _HASH.match(word)
                if not found:
                    raise WheelBundleError(
                        f"{where}: unsupported option {word!r}; only --hash=sha256:<64 hex> is allowed"
                    )
                hashes.append(found.group(1))
            pin = Pin(canonical_name(match.group(1)), match.group(3), where, hashes)
            known = pins.get(pin.name)
            if known and _canonical_version(known.version) != _canonical_version(pin.version):
                raise WheelBundleError(
                    f"{pin.name} is pinned twice with different versions: {known.version} ({known.where}) and "
                    f"{pin.version} ({where}); the image and the pipeline must use one version, fix one of the locks"
                )
            if known:
                known.hashes = sorted(set(known.hashes) | set(hashes))
            else:
                pins[pin.name] = pin
    return [pins[name] for name in sorted(pins)]


@dataclass(frozen=True)
class Target:
    """The interpreter and platform the wheels are for."""

    python_version: str  # "3.13"
    glibc: tuple[int, int]
    arch: str = "x86_64"

    @property
    def abi(self) -> str:
        return "cp" + self.python_version.replace(".", "")

    @property
    def key(self) -> str:
        """How the lock names the target, e.g. ``cp313-manylinux_2_41_x86_64``."""
        return f"{self.abi}-manylinux_{self.glibc[0]}_{self.glibc[1]}_{self.arch}"

    def platforms(self) -> list[str]:
        """Every manylinux tag a wheel for this glibc may carry, newest first (as packaging's tags)."""
        major, minor = self.glibc
        tags = []
        for level in range(minor, 4, -1):
            tags.append(f"manylinux_{major}_{level}_{self.arch}")
            legacy = _LEGACY_MANYLINUX.get((major, level))
            if legacy:
                tags.append(f"{legacy}_{self.arch}")
        return tags


def target_from_image(image: str, arch: str = "x86_64") -> Target:
    """The target of an official python image, e.g. ``docker.io/library/python:3.13.7-slim-trixie``."""
    reference = image.split("@", 1)[0]
    tag = reference.rsplit("/", 1)[-1].partition(":")[2]
    match = _IMAGE_TAG.match(tag)
    if not match or match.group(3) not in DEBIAN_GLIBC:
        raise WheelBundleError(
            f"cannot tell the Python version and glibc of the build image {image!r} from its tag: expected an official "
            f"python image tagged <X.Y[.Z]>-[slim-]<Debian codename> ({', '.join(sorted(DEBIAN_GLIBC))}); "
            "pin the Dockerfile's ARG PYTHON_IMAGE to such a tag"
        )
    return Target(f"{match.group(1)}.{match.group(2)}", DEBIAN_GLIBC[match.group(3)], arch)


def parse_wheel_filename(filename: str) -> tuple[str, str, str]:
    """(canonical name, version, ``py-abi-platform`` tags) of a wheel file name."""
    match = _WHEEL.match(filename)
    if not match:
        raise WheelBundleError(f"{filename} is not a wheel file name (name-version-python-abi-platform.whl)")
    tags = f"{match.group('py')}-{match.group('abi')}-{match.group('plat')}"
    return canonical_name(match.group("name")), match.group("version"), tags


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def plan(pins: list[Pin], entries: list[dict], dest: str, target: Target, sha256_of=file_sha256):
    """Split the pins into ``(present lock entries, pins to download)``.

    A pin is present when the lock has an entry for it (same version and target), its
    file is in ``dest`` with the recorded sha256, and that sha256 is one of the pin's own
    hashes when the lock file gives any.
    """
    by_name = {e.get("name"): e for e in entries}
    present, missing = [], []
    for pin in pins:
        entry = by_name.get(pin.name)
        ok = (
            entry is not None
            and _canonical_version(str(entry.get("version"))) == _canonical_version(pin.version)
            and entry.get("target") == target.key
            and (not pin.hashes or entry.get("sha256") in pin.hashes)
        )
        if ok:
            path = os.path.join(dest, str(entry["filename"]))
            ok = os.path.isfile(path) and sha256_of(path) == entry["sha256"]
        (present if ok else missing).append(entry if ok else pin)
    return present, missing


def requirements_text(pins: list[Pin]) -> str:
    """The requirements file pip downloads from (hashes kept: pip then checks them itself)."""
    return "".join(f"{p.requirement}{''.join(' --hash=sha256:' + h for h in p.hashes)}\n" for p in pins)


def pip_download_argv(
    python: str, requirements: str, target: Target, dest: str, index_url: str, cert: str | None = None
) -> list[str]:
    """``pip download``: wheels only, for ``target``, no dependency resolution (the lock is the
    closure), no user configuration (``--isolated``) and no cache."""
    argv = [python, "-m", "pip", "download", "--isolated", "--no-cache-dir", "--disable-pip-version-check"]
    argv += ["--no-deps", "--only-binary=:all:", "--progress-bar", "off", "--timeout", "60"]
    argv += ["--python-version", target.python_version, "--implementation", "cp", "--abi", target.abi]
    for platform in target.platforms():
        argv += ["--platform", platform]
    argv += ["--index-url", index_url, "--dest", dest, "--requirement", requirements]
    if cert:
        argv += ["--cert", cert]
    return argv


def pip_environment(cert: str | None) -> dict:
    """Environment changes for ``pip download``: with ``cert``, empty ``REQUESTS_CA_BUNDLE`` and
    ``CURL_CA_BUNDLE``, which requests would otherwise prefer to pip's ``--cert`` for every request
    (requests ``Session.merge_environment_settings``), so the index's CA would never be used."""
    return {"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": ""} if cert else {}


_NO_MATCH = re.compile(r"No matching distribution found for ([A-Za-z0-9._\[\]-]+)==([^\s;]+)")
_HASH_LINE = re.compile(r"^\s*(\S+)==(\S+) from (\S+).*?:\s*$\s*Expected sha256 (\w+)\s*$\s*Got\s+(\w+)", re.M)


def explain_pip_failure(output: str, target: Target, index_url: str) -> str:
    """One message for a failed ``pip download``: the package and what to do."""
    if "No module named pip" in output:
        return (
            "downloading the bundle's wheels needs pip for the Python that runs Ansible's modules on this machine "
            "(ansible_python_interpreter); install it (Debian: apt-get install python3-pip, or pip in the venv)"
        )
    if "CERTIFICATE_VERIFY_FAILED" in output:
        return (
            f"TLS verification of the package index {index_url} failed: pass its CA with "
            "gauntlet_bundle_wheel_ca_file (pip's --cert)"
        )
    found = _NO_MATCH.search(output)
    if found:
        return (
            f"package {canonical_name(found.group(1))}=={found.group(2)} has no wheel for {target.key} "
            f"(CPython {target.python_version}, glibc {target.glibc[0]}.{target.glibc[1]}, {target.arch}) on {index_url}: "
            "only an sdist, or wheels for other interpreters or platforms. The offline build installs wheels only: "
            "pin a version that publishes such a wheel, or build the wheel for that target and serve it from your "
            "own index (gauntlet_bundle_wheel_index_url), or drop the package from the lock"
        )
    hashes = _HASH_LINE.findall(output)
    if hashes or "DO NOT MATCH THE HASHES" in output:
        detail = "; ".join(
            f"{canonical_name(n)}=={v} ({url.rsplit('/', 1)[-1].split('#')[0]}): expected sha256 {e}, got {g}"
            for n, v, url, e, g in hashes
        )
        return (
            f"hash mismatch downloading from {index_url}: {detail or output.strip().splitlines()[-1]}; the index "
            "serves a file that is not the one the lock or the index page names: do not use it, find out why "
            "(a changed upload, a proxy) and fix the index or the lock's hash"
        )
    tail = "\n".join(output.strip().splitlines()[-15:])
    return f"pip download from {index_url} failed:\n{tail}"


def collect(staging: str, pins: list[Pin], target: Target, previous: list[dict], sha256_of=file_sha256) -> list[dict]:
    """Lock entries of the wheels pip put into ``staging``, checked: one wheel per pin, of
    its version, matching the pin's hashes, and unchanged from an earlier lock entry of
    the same file name."""
    wanted = {p.name: p for p in pins}
    earlier = {(e.get("name"), e.get("filename")): e.get("sha256") for e in previous}
    entries = {}
    for filename in sorted(os.listdir(staging)):
        if not filename.endswith(".whl"):
            raise WheelBundleError(f"pip downloaded {filename}, which is not a wheel; the bundle takes wheels only")
        name, version, _tags = parse_wheel_filename(filename)
        pin = wanted.get(name)
        if pin is None or _canonical_version(version) != _canonical_version(pin.version):
            raise WheelBundleError(f"pip downloaded {filename}, which no pin asked for ({name}=={version})")
        if name in entries:
            raise WheelBundleError(
                f"pip downloaded two wheels for {pin.requirement}: {entries[name]['filename']}, {filename}"
            )
        sha256 = sha256_of(os.path.join(staging, filename))
        if pin.hashes and sha256 not in pin.hashes:
            raise WheelBundleError(
                f"hash mismatch: {filename} of {pin.requirement} has sha256 {sha256}, {pin.where} allows "
                f"{', '.join(pin.hashes)}; do not use it: fix the index or the lock's hash"
            )
        recorded = earlier.get((name, filename))
        if recorded and recorded != sha256:
            raise WheelBundleError(
                f"hash mismatch: {filename} of {pin.requirement} has sha256 {sha256} now, the bundle lock recorded "
                f"{recorded}; the index changed a published file: find out why before trusting it, then delete the "
                "lock entry to accept the new file"
            )
        entries[name] = {
            "name": name,
            "version": pin.version,
            "filename": filename,
            "sha256": sha256,
            "target": target.key,
        }
    absent = [p.requirement for p in pins if p.name not in entries]
    if absent:
        raise WheelBundleError(f"pip reported success but downloaded no wheel for {', '.join(absent)}")
    return [entries[name] for name in sorted(entries)]
