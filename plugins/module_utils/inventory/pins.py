# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""What the inventory pins for the bundle step: component versions (gauntlet_versions), the
bundle files with their URLs and sha256 (gauntlet_bundle_files and the checksum tables), and
the k3s files of every node architecture."""

from __future__ import annotations

import re

from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.gathered import (
    AGENT_GROUP,
    SERVER_GROUP,
    as_mapping,
    as_str_list,
    cluster_reference,
    host_list,
    host_variable,
    kind,
    origin_or_host,
    show,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.k3s.arch import (
    ASSETS_VARIABLE,
    DEFAULT_ARCH,
    arch_problem,
    asset_problems,
)

# Where the collection pins every component (defaults of role gauntlet); messages name it.
PINS_FILE = "roles/gauntlet/defaults/main/versions.yml"
# Version formats, by component, as the bundle URLs and image tags of
# roles/gauntlet/defaults/main/versions.yml use them (a `v` where the URL or tag has
# one). The k3s form is the one roles/k3s/tasks/validate.yml requires on the hosts.
_SEMVER = r"\d+\.\d+\.\d+"
VERSION_FORMATS = {
    "k3s": (rf"^v{_SEMVER}\+k3s\d+$", "v1.36.4+k3s1"),
    "linkerd": (rf"^(edge|stable)-{_SEMVER}$", "edge-26.8.3"),
    "argocd": (rf"^v{_SEMVER}$", "v3.5.1"),
    "kube_prometheus": (rf"^v{_SEMVER}$", "v0.18.0"),
    # kube-vip's release tags and image tags carry the v (ghcr.io/kube-vip/kube-vip:v1.2.3).
    "kube_vip": (rf"^v{_SEMVER}$", "v1.2.3"),
}
_DEFAULT_VERSION_FORMAT = (rf"^{_SEMVER}(-[0-9A-Za-z.]+)?$", "1.27.3 (no leading v)")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_URL = re.compile(r"^https?://[^\s/]+\S*$")


def version_problems(data: dict, reference) -> list[str]:
    """gauntlet_versions (the collection's pins with the site's overrides): every required component, its format."""
    hosts = as_mapping(data.get("hosts"))
    versions, origin, error, is_set = host_variable(hosts, reference, "gauntlet_versions")
    if error:
        return []
    if not is_set:
        return [
            "gauntlet_versions is not set: the collection's pins come with role gauntlet.platform.gauntlet "
            f"({PINS_FILE}); list it first under the play's roles, as every playbook of the collection does"
        ]
    if not isinstance(versions, dict):
        return []  # the spec reports the shape
    overrides, overrides_origin, overrides_error = host_variable(hosts, reference, "gauntlet_version_overrides")[:3]
    overrides = overrides if isinstance(overrides, dict) and not overrides_error else {}
    pinned = host_variable(hosts, reference, "gauntlet_collection_versions")[0]
    site_mapping = as_mapping(as_mapping(hosts.get(reference)).get("gauntlet_versions")).get("inventory")
    problems = []
    unknown = set(overrides) - set(pinned) if isinstance(pinned, dict) else set()
    for component in sorted(unknown, key=str):
        problems.append(
            f"gauntlet_version_overrides.{component}: the collection pins no component '{component}'; name one of "
            f"{', '.join(sorted(map(str, pinned)))} ({origin_or_host(overrides_origin, reference)})"
        )
    for component in as_str_list(data.get("required_versions")):
        if versions.get(component) in (None, ""):
            problems.append(
                f"gauntlet_versions.{component} is not set ({origin_or_host(origin, reference)}): the collection pins "
                f"every component ({PINS_FILE}); an inventory that sets gauntlet_versions replaces that whole mapping, "
                "so name only the versions it changes in gauntlet_version_overrides instead"
            )
    for component in sorted(versions, key=str):
        version = versions[component]
        if version in (None, "") or component in unknown:
            continue
        # A site's own pin is reported where the site wrote it (its overrides count only when
        # gauntlet_versions is the collection's combination, not a mapping the inventory sets).
        own = component in overrides and not site_mapping
        where = origin_or_host(overrides_origin if own else origin, reference)
        pattern, example = VERSION_FORMATS.get(component, _DEFAULT_VERSION_FORMAT)
        if not isinstance(version, str):
            problems.append(
                f"gauntlet_versions.{component} = {show(version)} is {kind(version)}: quote it, like '{example.split()[0]}' "
                f"(YAML reads 3.10 as the number 3.1) ({where})"
            )
        elif not re.match(pattern, version):
            problems.append(
                f"gauntlet_versions.{component} = '{version}' is not a {component} version: write it like {example} "
                f"({where})"
            )
    return problems


def bundle_problems(data: dict, reference) -> list[str]:
    """Entries of gauntlet_bundle_files (name, URL, sha256) and the checksum tables they come from."""
    hosts = as_mapping(data.get("hosts"))
    problems = []
    files, origin, error, is_set = host_variable(hosts, reference, "gauntlet_bundle_files")
    if is_set and not error and isinstance(files, (list, tuple)):
        where = origin_or_host(origin, reference)
        names: dict[str, int] = {}
        for index, entry in enumerate(files):
            if not isinstance(entry, dict):
                continue  # the spec reports it
            label = f"gauntlet_bundle_files[{index}]" + (
                f" ({entry.get('name')})" if isinstance(entry.get("name"), str) else ""
            )
            url = entry.get("url")
            if isinstance(url, str) and url and not _URL.match(url):
                problems.append(
                    f"{label}: url {show(url)} is not an http(s) URL; give the address the bundle step downloads "
                    f"it from ({where})"
                )
            elif "url" in entry and not url:
                problems.append(f"{label} has an empty url: give the address it is downloaded from ({where})")
            checksum_url = entry.get("checksum_url")
            if isinstance(checksum_url, str) and not _URL.match(checksum_url):
                problems.append(f"{label}: checksum_url {show(checksum_url)} is not an http(s) URL ({where})")
            sha256 = entry.get("sha256")
            if "sha256" in entry and not (isinstance(sha256, str) and _HEX64.match(sha256)):
                problems.append(
                    f"{label}: sha256 {show(sha256)} is not 64 lower-case hex digits: copy the published sha256 "
                    f"(sha256sum prints it), or remove the line to record it on first download ({where})"
                )
            name = entry.get("name")
            if isinstance(name, str):
                if name.startswith("/") or ".." in name.split("/"):
                    problems.append(
                        f"{label}: name '{name}' must be a relative path inside the bundle's files/ ({where})"
                    )
                elif name in names:
                    problems.append(
                        f"gauntlet_bundle_files[{names[name]}] and [{index}] have the same name '{name}': "
                        f"each file once ({where})"
                    )
                else:
                    names[name] = index
    for table, inner in (("gauntlet_linkerd_chart_files", False), ("gauntlet_kube_prometheus_files", True)):
        value, origin, error, is_set = host_variable(hosts, reference, table)
        if not is_set or error or not isinstance(value, dict):
            continue
        where = origin_or_host(origin, reference)
        for path in sorted(value, key=str):
            sha256 = value[path]
            if inner:
                sha256 = sha256.get("sha256") if isinstance(sha256, dict) else sha256
            if not (isinstance(sha256, str) and _HEX64.match(sha256)):
                problems.append(
                    f"{table}['{path}']: sha256 {show(sha256)} is not 64 lower-case hex digits: copy the published "
                    f"sha256 ({where})"
                )
    return problems


def architecture_problems(data: dict, reference) -> list[str]:
    """Each k3s node's gauntlet_arch, and the k3s files (gauntlet_k3s_arch_assets) of every architecture declared.

    Validation sees no facts: a node without gauntlet_arch counts as amd64 here (the k3s role reads its real
    architecture and checks the bundle has its files)."""
    groups = as_mapping(data.get("groups"))
    hosts = as_mapping(data.get("hosts"))
    problems = []
    needed: dict[str, list[str]] = {}
    for host in sorted(set(host_list(groups.get(SERVER_GROUP))) | set(host_list(groups.get(AGENT_GROUP)))):
        value, origin, error, is_set = host_variable(hosts, host, "gauntlet_arch")
        if error:
            continue  # reported with the other template errors
        if not is_set or value in (None, ""):
            needed.setdefault(DEFAULT_ARCH, []).append(host)
            continue
        why = arch_problem(value)
        if why:
            problems.append(f"{origin_or_host(origin, host)}: host '{host}': {why}")
            continue
        needed.setdefault(value, []).append(host)
    assets, origin, error, is_set = host_variable(hosts, reference, ASSETS_VARIABLE)
    if error or not needed:
        return problems
    where = f" ({origin_or_host(origin, reference)})" if is_set else ""
    if not is_set:
        assets = {}
    problems.extend(f"{problem}{where}" for problem in asset_problems(assets, dict(sorted(needed.items()))))
    return problems


def pinned_override_warnings(data: dict) -> list[str]:
    """Pinned collection data (spec `pinned: true`) the inventory sets itself, one warning per file.

    Such a copy replaces the collection's value whole, so every later upgrade of the collection
    passes the site by, silently: an inventory copied from an older inventory/sample still
    holds its versions.yml. A warning, not a problem: pinning on purpose stays possible.
    """
    reference, hosts = cluster_reference(data)
    options = as_mapping(data.get("options"))
    variables = as_mapping(hosts.get(reference))
    by_file: dict[str, list[str]] = {}
    for name in sorted(variables, key=str):
        entry = variables[name]
        spec = as_mapping(as_mapping(options.get(name)).get("spec"))
        if spec.get("pinned") and isinstance(entry, dict) and entry.get("inventory"):
            where = origin_or_host(entry.get("origin"), reference)
            by_file.setdefault(re.sub(r":\d+$", "", where), []).append(str(name))
    return [
        f"{where}: the inventory sets {', '.join(names)}, which the collection pins ({PINS_FILE}); this copy "
        "replaces the collection's and misses every upgrade of it. Delete it (a versions.yml copied from an older "
        "inventory/sample), or, for a version of the site's own, set only gauntlet_version_overrides"
        for where, names in by_file.items()
    ]
