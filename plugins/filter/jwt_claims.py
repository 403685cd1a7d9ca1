# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filter: the claims of a JSON Web Token, for checks (docs in jwt_claims.yml).

The signature is NOT verified: use it on a token the caller has just received from
the issuer over verified TLS (e.g. a smoke test of Keycloak), never to authenticate.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.module_utils.jwt_compact import JwtFormatError, decode_part
from ansible_collections.gauntlet.platform.plugins.plugin_utils.filter_errors import filter_errors


@filter_errors(JwtFormatError)
def jwt_claims(token):
    """Return the payload of a compact JWS (header.payload.signature) as a dict."""
    if not isinstance(token, str):
        raise AnsibleFilterError(f"jwt_claims: expected a token string, got {type(token).__name__}")
    parts = token.strip().split(".")
    if len(parts) != 3 or not all(parts[:2]):
        raise AnsibleFilterError(f"jwt_claims: not a compact JWT (header.payload.signature): {len(parts)} part(s)")
    return decode_part(parts[1], "payload")


class FilterModule:
    """JSON Web Token filters."""

    def filters(self):
        return {"jwt_claims": jwt_claims}
