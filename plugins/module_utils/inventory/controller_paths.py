# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""What the controller's disk holds where the inventory points: the credentials folder (a
private folder of private files, published certificates aside) and the render folder."""

from __future__ import annotations

from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.gathered import (
    as_mapping,
)

# Certificates the roles publish beside their keys (the local CA's, Linkerd's trust anchor
# and issuer) are handed to nodes and pods and written 0644; only secrets must be private.
PUBLIC_SUFFIXES = (".crt",)


def is_published_certificate(name: str, head: bytes) -> bool:
    """True for a certificate file holding no private key (``head``: its first bytes)."""
    return str(name).endswith(PUBLIC_SUFFIXES) and b"PRIVATE KEY" not in head


def path_problems(paths: dict) -> list[str]:
    """What the controller's disk holds at gauntlet_credentials_dir and gauntlet_render_dir."""
    problems = []
    credentials = as_mapping(paths.get("gauntlet_credentials_dir"))
    path = credentials.get("path")
    where = f" (gauntlet_credentials_dir, {credentials['origin']})" if credentials.get("origin") else ""
    if isinstance(path, str):
        if credentials.get("kind") not in (None, "missing", "dir"):
            problems.append(
                f"gauntlet_credentials_dir '{path}' is not a folder{where}: move that file away or point "
                "gauntlet_credentials_dir at a folder"
            )
        mode = credentials.get("mode")
        if credentials.get("kind") == "dir" and isinstance(mode, int) and not isinstance(mode, bool) and mode & 0o007:
            problems.append(
                f"the credentials folder '{path}' has mode {mode:04o}: every user of the controller can open "
                f"it{where}; run `chmod 700 '{path}'`"
            )
        for name, mode in sorted(as_mapping(credentials.get("files")).items(), key=lambda item: str(item[0])):
            if isinstance(mode, int) and not isinstance(mode, bool) and mode & 0o077:
                problems.append(
                    f"the credential file '{path}/{name}' has mode {mode:04o}: secrets must be private; run "
                    f"`chmod 600 '{path}/{name}'`"
                )
    render = as_mapping(paths.get("gauntlet_render_dir"))
    if isinstance(render.get("path"), str) and render.get("kind") not in (None, "missing", "dir"):
        where = f" ({render['origin']})" if render.get("origin") else ""
        problems.append(
            f"gauntlet_render_dir '{render['path']}' is a file, not a folder{where}: the objects are written into "
            "a folder; give a new or existing folder"
        )
    return problems
