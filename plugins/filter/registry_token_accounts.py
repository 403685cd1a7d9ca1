# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filter: the ``accounts`` of the registry token server's configuration (docs in registry_token_accounts.yml).

Passwords become scrypt hashes in the format the token server checks
(roles/registry/files/registry_token_server.py, ``hash_password``; a unit test holds the two
together). The salt is an input, so the same password and salt give the same line and reruns
change nothing.
"""

from __future__ import annotations

import hashlib

from ansible.errors import AnsibleFilterError

# One name per assignment: ansible-doc's documentation reader warns on a tuple target (sanity ansible-doc).
SCRYPT_N = 1 << 14
SCRYPT_R = 8
SCRYPT_P = 1
TYPES = {"repository": {"pull", "push", "delete", "*"}, "registry": {"*"}}


def _hash(password: str, salt: str) -> str:
    digest = hashlib.scrypt(
        password.encode(), salt=salt.encode(), n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=64 << 20, dklen=32
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt}${digest.hex()}"


def registry_token_accounts(accounts, passwords, salts):
    """``[{name, access}]`` plus passwords and salts by name -> ``{name: {password_hash, access}}``."""
    if not isinstance(accounts, list):
        raise AnsibleFilterError(f"registry_token_accounts: expected a list of accounts, got {type(accounts).__name__}")
    result = {}
    for index, account in enumerate(accounts):
        where = f"registry_accounts[{index}]"
        if not isinstance(account, dict) or not account.get("name"):
            raise AnsibleFilterError(f"registry_token_accounts: {where} needs a name")
        name = account["name"]
        if name in result:
            raise AnsibleFilterError(
                f"registry_token_accounts: account {name!r} is listed twice; merge its access rules"
            )
        password, salt = passwords.get(name), salts.get(name)
        if not password or not salt:
            raise AnsibleFilterError(f"registry_token_accounts: no password or salt for account {name!r}")
        if "$" in salt:
            raise AnsibleFilterError(f"registry_token_accounts: the salt of {name!r} must not contain '$'")
        rules = []
        for rule_index, rule in enumerate(account.get("access") or []):
            rule_where = f"{where} ({name}) access[{rule_index}]"
            kind = rule.get("type", "repository") if isinstance(rule, dict) else None
            if kind not in TYPES or not rule.get("name"):
                raise AnsibleFilterError(
                    f"registry_token_accounts: {rule_where} needs a type (repository or registry) and a name pattern"
                )
            actions = rule.get("actions") or []
            unknown = sorted(set(actions) - TYPES[kind])
            if not actions or unknown:
                raise AnsibleFilterError(
                    f"registry_token_accounts: {rule_where} has no actions or unknown ones {unknown}; "
                    f"allowed for {kind}: {sorted(TYPES[kind])}"
                )
            rules.append({"type": kind, "name": str(rule["name"]), "actions": list(actions)})
        result[name] = {"password_hash": _hash(str(password), str(salt)), "access": rules}
    return result


class FilterModule:
    """Registry token server filters."""

    def filters(self):
        return {"registry_token_accounts": registry_token_accounts}
