# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""CPU architectures of the nodes, and the k3s release files of each.

A node's architecture is its ``gauntlet_arch`` (``amd64`` or ``arm64``), else its gathered
``ansible_architecture`` (``x86_64`` -> ``amd64``, ``aarch64`` -> ``arm64``, as k3s's
``install.sh`` ``setup_verify_arch`` maps ``uname -m``), else ``amd64``: the bundle is built on a
connected machine that may not reach the hosts, so without either the architecture of most
servers is assumed (docs/bundle.md, "Architectures").

k3s publishes, per release and architecture, a binary, an airgap image tarball and a checksum
file: ``k3s`` / ``k3s-arm64`` (``scripts/package-cli``: no suffix for amd64, ``-<arch>``
otherwise), ``k3s-airgap-images-<arch>.tar.zst`` and ``sha256sum-<arch>.txt``
(``scripts/validate-artifacts``, the list of every release asset; ``install.sh`` downloads
``sha256sum-${ARCH}.txt``). Their names are kept per architecture in
``gauntlet_k3s_arch_assets`` (roles/gauntlet/defaults/main/versions.yml), with either the
published checksum file or pinned sha256s.

Stdlib only.
"""

from __future__ import annotations

import re
from urllib.parse import quote

ARCHITECTURES = ("amd64", "arm64")
DEFAULT_ARCH = "amd64"
ASSETS_VARIABLE = "gauntlet_k3s_arch_assets"
# ansible_architecture (Python's platform.machine(), uname -m) -> the architecture k3s names its files by.
_FROM_FACT = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
RELEASES = "https://github.com/k3s-io/k3s/releases/download"


class ArchError(ValueError):
    """A value that is no supported architecture; the message says what to set."""


def arch_problem(value) -> str | None:
    """Why ``value`` is not a gauntlet_arch, with the fix; None when it is one."""
    if value in ARCHITECTURES:
        return None
    hint = ""
    if isinstance(value, str) and _FROM_FACT.get(value.strip().lower()) in ARCHITECTURES:
        hint = f" ('{value}' is what uname -m prints; k3s calls it {_FROM_FACT[value.strip().lower()]})"
    return (
        f"gauntlet_arch is {value!r}, not one of {', '.join(ARCHITECTURES)}{hint}: "
        f"set it to {' or '.join(ARCHITECTURES)}, or remove it to use the host's facts"
    )


def arch_from_fact(fact, host: str = "this host") -> str:
    """The k3s architecture of an ``ansible_architecture`` value."""
    arch = _FROM_FACT.get(str(fact).strip().lower()) if fact else None
    if arch is None:
        raise ArchError(
            f"host {host} is {fact!r} (ansible_architecture): k3s is installed here for "
            f"{', '.join(ARCHITECTURES)} only (x86_64, aarch64); take the host out of the cluster"
        )
    return arch


def node_arch(declared=None, fact=None, host: str = "this host") -> str:
    """A node's architecture: ``declared`` (gauntlet_arch), else from ``fact``, else amd64.

    With both, they must agree: a host declared arm64 that is x86_64 would get a binary it
    cannot run.
    """
    if declared not in (None, ""):
        problem = arch_problem(declared)
        if problem:
            raise ArchError(f"host {host}: {problem}")
        if fact not in (None, ""):
            actual = arch_from_fact(fact, host)
            if actual != declared:
                raise ArchError(
                    f"host {host}: gauntlet_arch is {declared} but the host is {fact} ({actual}); "
                    f"set gauntlet_arch: {actual} for it (or remove it to use the host's facts)"
                )
        return declared
    if fact not in (None, ""):
        return arch_from_fact(fact, host)
    return DEFAULT_ARCH


def architectures_by_host(hosts: dict, strict: bool = True) -> dict:
    """{arch: [hosts]} from {host: (declared, fact)}, sorted; not ``strict``, a host whose architecture is
    wrong is left out (for values validation reports on its own, without the same message thrice)."""
    out: dict[str, list[str]] = {}
    for host in sorted(hosts, key=str):
        declared, fact = hosts[host]
        try:
            arch = node_arch(declared, fact, str(host))
        except ArchError:
            if strict:
                raise
            continue
        out.setdefault(arch, []).append(str(host))
    return dict(sorted(out.items()))


def _by_host(architectures) -> dict:
    if isinstance(architectures, dict):
        return {str(arch): list(hosts or []) for arch, hosts in architectures.items()}
    return {str(arch): [] for arch in architectures or []}


def asset_problems(assets, architectures) -> list[str]:
    """What ``gauntlet_k3s_arch_assets`` lacks for ``architectures`` (a list, or {arch: [hosts]})."""
    problems = []
    if not isinstance(assets, dict):
        return [
            f"{ASSETS_VARIABLE} is {type(assets).__name__}, not a mapping of architecture to k3s release files: "
            "remove it from the inventory to use the collection's (roles/gauntlet/defaults/main/versions.yml)"
        ]
    for arch, hosts in _by_host(architectures).items():
        who = f" (host{'s' if len(hosts) > 1 else ''} {', '.join(hosts)})" if hosts else ""
        entry = assets.get(arch)
        label = f"{ASSETS_VARIABLE}.{arch}"
        if not isinstance(entry, dict):
            problems.append(
                f"{label} is not set, but the cluster runs {arch}{who}: add the k3s release files of {arch} "
                f"(binary, airgap_images, and checksums or binary_sha256 + airgap_images_sha256) to "
                "gauntlet_k3s_arch_assets, as the collection's roles/gauntlet/defaults/main/versions.yml does"
            )
            continue
        for key in ("binary", "airgap_images"):
            if not (isinstance(entry.get(key), str) and _FILE_NAME.match(entry[key])):
                problems.append(
                    f"{label}.{key} is {entry.get(key)!r}: set the k3s release file name (for example "
                    f"{'k3s-arm64' if key == 'binary' else 'k3s-airgap-images-arm64.tar.zst'})"
                )
        pins = [entry.get("binary_sha256"), entry.get("airgap_images_sha256")]
        for key, value in zip(("binary_sha256", "airgap_images_sha256"), pins, strict=True):
            if value not in (None, "") and not (isinstance(value, str) and _HEX64.match(value)):
                problems.append(f"{label}.{key} is {value!r}, not 64 lower-case hex digits: copy the published sha256")
        checksums = entry.get("checksums")
        if checksums not in (None, "") and not (isinstance(checksums, str) and _FILE_NAME.match(checksums)):
            problems.append(
                f"{label}.checksums is {checksums!r}: set the release's checksum file (sha256sum-{arch}.txt)"
            )
        if checksums in (None, "") and not all(pins):
            problems.append(
                f"{label} has no checksum pin{who}: set {label}.checksums to the release's published checksum file "
                f"(sha256sum-{arch}.txt), or {label}.binary_sha256 and {label}.airgap_images_sha256 to the published "
                "sha256 of each file; the bundle never downloads k3s unchecked"
            )
    return problems


def bundle_files(assets, version: str, architectures) -> list[dict]:
    """``gauntlet_bundle_files`` entries of the k3s files of every architecture (one with problems is left out:
    ``asset_problems`` reports it)."""
    entries = []
    if not isinstance(assets, dict):
        return entries
    base = f"{RELEASES}/{quote(str(version), safe='')}"
    for arch in _by_host(architectures):
        if asset_problems({arch: assets.get(arch)}, [arch]):
            continue
        entry = assets[arch]
        for key in ("binary", "airgap_images"):
            item = {"name": f"k3s/{version}/{entry[key]}", "url": f"{base}/{entry[key]}"}
            if entry.get(f"{key}_sha256"):
                item["sha256"] = entry[f"{key}_sha256"]
            else:
                item["checksum_url"] = f"{base}/{entry['checksums']}"
            entries.append(item)
    return entries
