# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""k3s versions: parsing, comparing, and the guards of playbooks/upgrade.yml.

Pure functions, no Ansible imports (the k3s_upgrade_plan filter and the unit tests use them).

k3s's upgrade docs (docs.k3s.io/upgrades/manual, k3s-io/docs docs/upgrades/manual.md): "the
Kubernetes version skew policy applies. Ensure that your plan does not skip intermediate minor
versions when upgrading", servers first, one at a time, then agents. Upgrades only go forward
(kubernetes.io/releases/version-skew-policy describes upgrade order only); a downgrade is not a
documented path. So the guards refuse a downgrade and a skipped minor version unless the
inventory allows it by name.
"""

from __future__ import annotations

import re

# vMAJOR.MINOR.PATCH+k3sN, the tag format of k3s releases (github.com/k3s-io/k3s/releases).
_VERSION = re.compile(r"^v(\d+)\.(\d+)\.(\d+)\+k3s(\d+)$")
# `k3s --version` prints "k3s version v1.36.4+k3s1 (<commit>)" then "go version go1.x".
_INSTALLED = re.compile(r"^k3s version (v\d+\.\d+\.\d+\+k3s\d+)\b", re.MULTILINE)
# A bundle file of the k3s binary: files/k3s/<version>/k3s, or k3s-<arch> for another architecture than amd64
# (module_utils/k3s/arch.py; k3s scripts/package-cli).
_BUNDLE_BINARY = re.compile(r"^k3s/(v[^/]+)/k3s(-[a-z0-9]+)?$")

ALLOW_DOWNGRADE = "k3s_upgrade_allow_downgrade"
ALLOW_MINOR_SKIP = "k3s_upgrade_allow_minor_skip"


class K3sVersionError(ValueError):
    """Raised with a message the user can act on."""


def parse_version(text) -> tuple:
    """(major, minor, patch, k3s revision) of `v1.36.4+k3s1`."""
    match = _VERSION.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise K3sVersionError(f"{text!r} is not a k3s version (want vMAJOR.MINOR.PATCH+k3sN, for example v1.36.4+k3s1)")
    return tuple(int(part) for part in match.groups())


def installed_version(output):
    """The version in `k3s --version` output, or None when nothing is installed (empty output)."""
    if output is None or not str(output).strip():
        return None
    match = _INSTALLED.search(str(output))
    if not match:
        first = str(output).strip().splitlines()[0][:120]
        raise K3sVersionError(f"cannot read a k3s version from `k3s --version`: {first!r}")
    return match.group(1)


def minor_name(version: tuple) -> str:
    return f"v{version[0]}.{version[1]}"


def version_change(installed, target, allow_downgrade=False, allow_minor_skip=False) -> dict:
    """What moving one node from `installed` (None: not installed) to `target` means.

    Returns {from, to, kind, problem}: kind is install, same, patch, minor, downgrade or skip;
    problem is a sentence saying what is refused and how to allow it, or None.
    """
    new = parse_version(target)
    change = {"from": installed, "to": target, "kind": "install", "problem": None}
    if installed is None:
        return change
    old = parse_version(installed)
    if new == old:
        change["kind"] = "same"
    elif new < old:
        change["kind"] = "downgrade"
        if not allow_downgrade:
            change["problem"] = (
                f"{installed} -> {target} is a downgrade; k3s does not support going back (restore an etcd snapshot "
                f"taken before the upgrade instead), or set {ALLOW_DOWNGRADE}=true to force it"
            )
    elif new[:2] == old[:2]:
        change["kind"] = "patch"
    elif new[0] == old[0] and new[1] == old[1] + 1:
        change["kind"] = "minor"
    else:
        change["kind"] = "skip"
        if new[0] == old[0]:
            skipped = [f"v{old[0]}.{minor}" for minor in range(old[1] + 1, new[1])]
            what = f"skips {', '.join(skipped)}"
            step = f"upgrade to the newest {skipped[0]} release first"
        else:
            what = f"changes the major version ({minor_name(old)} to {minor_name(new)})"
            step = "upgrade one minor version at a time"
        if not allow_minor_skip:
            change["problem"] = (
                f"{installed} -> {target} {what}; Kubernetes upgrades one minor version at a time: {step}, "
                f"or set {ALLOW_MINOR_SKIP}=true to force it"
            )
    return change


def bundle_versions(lock) -> list:
    """The k3s versions whose binary (of any architecture) the bundle lock lists (files k3s/<version>/k3s[-<arch>]), sorted."""
    if not lock:
        raise K3sVersionError("there is no bundle lock (k3s_bundle_lock): build the bundle with playbooks/bundle.yml")
    if not isinstance(lock, dict) or not isinstance(lock.get("files"), list):
        raise K3sVersionError("the bundle lock has no 'files' list; rebuild the bundle with playbooks/bundle.yml")
    found = set()
    for entry in lock["files"]:
        match = _BUNDLE_BINARY.match(str((entry or {}).get("name", ""))) if isinstance(entry, dict) else None
        if match:
            found.add(match.group(1))
    return sorted(found)


def upgrade_plan(installed_by_host, target, lock, allow_downgrade=False, allow_minor_skip=False) -> dict:
    """The version change of every node and everything that stops the upgrade.

    installed_by_host: {host: `k3s --version` output ("" when k3s is not installed)}.
    Returns {changes: {host: change}, lines: [one line per host], problems: [...]}.
    """
    if not isinstance(installed_by_host, dict):
        raise K3sVersionError("expected a mapping of host to `k3s --version` output")
    parse_version(target)
    problems = []
    try:
        in_bundle = bundle_versions(lock)
    except K3sVersionError as exc:
        problems.append(str(exc))
        in_bundle = None
    if in_bundle is not None and target not in in_bundle:
        problems.append(
            f"the bundle holds k3s {', '.join(in_bundle) or 'no k3s binary'} but {target} is asked for "
            "(k3s_version / gauntlet_versions.k3s): rebuild the bundle (playbooks/bundle.yml) with that version "
            "pinned, or ask for the bundle's version"
        )
    changes, lines = {}, []
    for host in sorted(installed_by_host):
        try:
            installed = installed_version(installed_by_host[host])
            change = version_change(installed, target, allow_downgrade, allow_minor_skip)
        except K3sVersionError as exc:
            change = {"from": None, "to": target, "kind": "unknown", "problem": str(exc)}
        changes[host] = change
        before = change["from"] or ("version unreadable" if change["kind"] == "unknown" else "not installed")
        lines.append(f"{host}: {before} -> {target} ({change['kind']})")
        if change["problem"]:
            problems.append(f"{host}: {change['problem']}")
    return {"changes": changes, "lines": lines, "problems": problems}
