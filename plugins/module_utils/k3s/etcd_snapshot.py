# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Which etcd snapshots a prune keeps, decided the way k3s decides it.

Pure functions, no Ansible imports (the k3s_etcd_snapshot_prune filter and the unit tests use them).

k3s v1.36 (k3s-io/k3s pkg/etcd/snapshot.go, snapshotRetention): `k3s etcd-snapshot prune --name
PREFIX --snapshot-retention N` looks at the files of the snapshot folder whose name starts with
PREFIX, dates each by the unix time after the last '-' of its name (without the `.zip` of a
compressed snapshot; the file's mtime when that is not a number), sorts them newest first and
removes all but the first N; N < 1 removes nothing. Snapshots are named
<name>-<node name>-<unix time> (snapshot() there). The controller's copies keep those names, so
the same rule prunes them; the `.sha256` file beside each copy goes with it.
"""

from __future__ import annotations

CHECKSUM_SUFFIX = ".sha256"
COMPRESSED_SUFFIX = ".zip"


class SnapshotError(ValueError):
    """Raised with a message the user can act on."""


def created_at(name: str, mtime) -> int:
    """The unix time k3s dates a snapshot file by."""
    stem = name[: -len(COMPRESSED_SUFFIX)] if name.endswith(COMPRESSED_SUFFIX) else name
    try:
        return int(stem[stem.rfind("-") + 1 :])
    except ValueError:
        return int(float(mtime))


def prune_plan(files, prefix: str, keep) -> dict:
    """files: [{'path' or 'name', 'mtime'}] (ansible.builtin.find's files). Returns {'keep': [...],
    'delete': [...]}: the base names of the snapshots with the prefix, newest first."""
    if not isinstance(prefix, str) or not prefix:
        raise SnapshotError("the snapshot prefix is empty: set k3s_etcd_snapshot_prefix (default gauntlet)")
    try:
        keep = int(keep)
    except (TypeError, ValueError) as exc:
        raise SnapshotError(
            f"the retention {keep!r} is not a number: set k3s_etcd_snapshot_retention to 1 or more"
        ) from exc
    if keep < 1:
        raise SnapshotError(f"the retention is {keep}: keep at least 1 snapshot (k3s_etcd_snapshot_retention)")
    snapshots = []
    for entry in files or []:
        if not isinstance(entry, dict) or not (entry.get("path") or entry.get("name")):
            raise SnapshotError(f"not a file entry of ansible.builtin.find: {entry!r}")
        name = str(entry.get("path") or entry.get("name")).rstrip("/").rsplit("/", 1)[-1]
        if not name.startswith(prefix) or name.endswith(CHECKSUM_SUFFIX):
            continue
        snapshots.append((created_at(name, entry.get("mtime", 0)), name))
    # Newest first; a tie (the same second) keeps the later name first, so the plan is stable.
    snapshots.sort(reverse=True)
    names = [name for _created, name in snapshots]
    return {"keep": names[:keep], "delete": names[keep:]}
