# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Lookup: a secret generated once on the controller and read on every later run."""

from __future__ import annotations

DOCUMENTATION = r"""
name: credential
short_description: A generated secret kept in the credentials folder (mode 0600)
description:
  - Returns the content of C(<dir>/<name>). When the file does not exist it is created first with a random
    value from the system's CSPRNG, atomically, mode 0600, in folders of mode 0700.
  - The file is written in check mode too, like every generated secret of the platform, so C(--check) can
    compute the objects that carry it; it is never changed afterwards (delete it to rotate).
  - A file that exists but is empty or not private (group or other can read it) is an error, as the secret may
    have been truncated or exposed.
options:
  _terms:
    description: Names of the secrets, relative to O(dir), e.g. C(gitea/admin-password).
    required: true
  dir:
    description: The credentials folder (C(gauntlet_credentials_dir)).
    type: str
    required: true
  length:
    description: Number of characters of a new secret.
    type: int
    default: 32
  chars:
    description: Alphabet of a new secret; C(alnum) (letters and digits) or C(hex).
    type: str
    default: alnum
    choices: [alnum, hex]
"""

EXAMPLES = r"""
- name: Read or create the Gitea admin password
  ansible.builtin.set_fact:
    __gitea_admin_password: "{{ lookup('gauntlet.platform.credential', 'gitea/admin-password', dir=gauntlet_credentials_dir) }}"
  no_log: true
"""

RETURN = r"""
_list:
  description: The secret of each name, without a trailing newline.
  type: list
  elements: str
"""

import os
import secrets
import stat
import string

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.gauntlet.platform.plugins.module_utils.atomic_file import atomic_write

ALPHABETS = {"alnum": string.ascii_letters + string.digits, "hex": "0123456789abcdef"}


def _make_private_folders(folder: str) -> None:
    """Create ``folder`` and every missing parent with mode 0700 (os.makedirs gives the mode to the
    last one only); folders that exist are left as they are."""
    missing = []
    while folder and not os.path.isdir(folder):
        missing.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    for item in reversed(missing):
        try:
            os.mkdir(item, 0o700)
        except FileExistsError:
            continue
        os.chmod(item, 0o700)  # mkdir's mode is masked by the umask


def read_or_create(path: str, length: int, alphabet: str) -> str:
    if os.path.exists(path):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            raise AnsibleLookupError(
                f"credential: {path} has mode {mode:04o}; secrets must be private: run `chmod 600 {path}` "
                "(and rotate the secret if others could read it)"
            )
        with open(path, encoding="utf-8") as handle:
            value = handle.read().rstrip("\n")
        if not value:
            raise AnsibleLookupError(
                f"credential: {path} is empty; restore it from your backup of the credentials folder, "
                "or delete it to generate a new secret (services using the old one must then be reconfigured)"
            )
        return value
    _make_private_folders(os.path.dirname(path))
    value = "".join(secrets.choice(alphabet) for _unused in range(length))
    atomic_write(path, (value + "\n").encode("utf-8"), mode=0o600)
    return value


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        # Options are read directly (not through set_options) so the plugin also works
        # when imported outside Ansible's plugin loader, as the unit tests do.
        unknown = set(kwargs) - {"dir", "length", "chars"}
        if unknown:
            raise AnsibleLookupError(f"credential: unknown option(s) {', '.join(sorted(unknown))}")
        base = kwargs.get("dir")
        length = int(kwargs.get("length", 32))
        chars = kwargs.get("chars", "alnum")
        if chars not in ALPHABETS:
            raise AnsibleLookupError(f"credential: chars must be one of {', '.join(ALPHABETS)}, got {chars!r}")
        if not base:
            raise AnsibleLookupError("credential: dir is empty; pass dir=gauntlet_credentials_dir")
        if length < 16:
            raise AnsibleLookupError(f"credential: length {length} is too short for a secret (16 at least)")
        values = []
        for name in terms:
            if not name or name.startswith("/") or ".." in name.split("/"):
                raise AnsibleLookupError(f"credential: {name!r} must be a relative name inside the credentials folder")
            values.append(read_or_create(os.path.join(base, name), length, ALPHABETS[chars]))
        return values
