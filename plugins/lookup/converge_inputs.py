# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Lookup: the fingerprint of what a converge of some roles depends on, for their stamp."""

from __future__ import annotations

DOCUMENTATION = r"""
name: converge_inputs
short_description: Fingerprint of a role's inputs (its variables, its code, the collection, controller files)
description:
  - Returns one sha256 (hex) over everything that decides what the named roles do on a host, so that a stamp
    recorded with it (module P(gauntlet.platform.converge_stamp#module)) no longer holds once any of it changes.
  - The value of every variable the roles' C(meta/argument_specs.yml) name (any entry point), as resolved for this
    host, plus the variables in O(more_vars).
  - The code that acts on them, the files of the named roles and the collection's plugins, and the collection's
    version.
  - The content of the controller files in O(files) (a missing one counts as missing; a folder counts as all the
    files in it), such as the certificates, keys and passwords the roles copy to the host.
options:
  _terms:
    description: Names of the collection's roles, e.g. V(registry).
    required: true
  more_vars:
    description: Further variables the roles read besides their own (host addresses, shared settings).
    type: list
    elements: str
    default: []
  files:
    description: Controller files or folders the roles copy or derive content from.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Compare this host with the stamp of its last converge
  gauntlet.platform.converge_stamp:
    name: registry_trust
    fingerprint: "{{ lookup('gauntlet.platform.converge_inputs', 'registry', more_vars=['node_ip'], files=[gauntlet_ca_cert]) }}"
"""

RETURN = r"""
_raw:
  description: The fingerprint, one sha256 in hex.
  type: list
  elements: str
"""

import hashlib
import json
from pathlib import Path

import yaml
from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

COLLECTION = Path(__file__).resolve().parents[2]

# The code under the collection does not change during a run: digested once per process.
_CODE_DIGESTS: dict[Path, str] = {}


def tree_digest(path: Path) -> str:
    """sha256 over the relative names and contents of every file under `path` ("missing" when absent)."""
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    if not path.is_dir():
        return "missing"
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(file.relative_to(path)).encode() + b"\0" + hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def code_digest(path: Path) -> str:
    if path not in _CODE_DIGESTS:
        _CODE_DIGESTS[path] = tree_digest(path)
    return _CODE_DIGESTS[path]


def collection_version() -> str:
    for name, key in (("MANIFEST.json", None), ("galaxy.yml", "version")):
        meta = COLLECTION / name
        if meta.is_file():
            data = json.loads(meta.read_text()) if key is None else yaml.safe_load(meta.read_text())
            return str(data["collection_info"]["version"] if key is None else data[key])
    return "unknown"


def argument_names(role: Path) -> list[str]:
    """Every option of every entry point of the role's argument specs: the role's inputs."""
    spec_file = role / "meta" / "argument_specs.yml"
    if not spec_file.is_file():
        return []
    specs = (yaml.safe_load(spec_file.read_text()) or {}).get("argument_specs") or {}
    return sorted({name for entry in specs.values() for name in (entry or {}).get("options") or {}})


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        # Options are read directly (not through set_options), like credential's, so the plugin
        # also works imported outside Ansible's plugin loader (the unit tests).
        unknown = set(kwargs) - {"more_vars", "files"}
        if unknown:
            raise AnsibleLookupError(f"converge_inputs: unknown option(s) {', '.join(sorted(unknown))}")
        variables = variables or {}
        inputs = {
            "collection": collection_version(),
            "plugins": code_digest(COLLECTION / "plugins"),
            "roles": {},
            "vars": {},
            "files": {},
        }
        names = list(kwargs.get("more_vars", []))
        for role_name in terms:
            role = COLLECTION / "roles" / role_name
            if not role.is_dir():
                raise AnsibleLookupError(f"converge_inputs: the collection has no role {role_name!r}")
            inputs["roles"][role_name] = code_digest(role)
            names += argument_names(role)
        for name in sorted(set(names)):
            if name not in variables:
                continue
            try:  # resolved in full here, so that a lazy error surfaces now
                inputs["vars"][name] = json.loads(
                    json.dumps(self._templar._engine.template(variables[name]), sort_keys=True, default=str)
                )
            except Exception as error:  # pylint: disable=broad-exception-caught  # unresolvable here: an input too
                inputs["vars"][name] = f"<unresolved: {type(error).__name__}>"
        for file in kwargs.get("files", []):
            inputs["files"][file] = tree_digest(Path(file))
        text = json.dumps(inputs, sort_keys=True, default=str)
        return [hashlib.sha256(text.encode()).hexdigest()]
