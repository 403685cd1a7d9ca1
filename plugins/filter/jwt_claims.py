# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filter: the claims of a JSON Web Token, for checks (docs in jwt_claims.yml).

The signature is NOT verified: use it on a token the caller has just received from
the issuer over verified TLS (e.g. a smoke test of Keycloak), never to authenticate.
"""

from __future__ import annotations

import base64
import binascii
import json

from ansible.errors import AnsibleFilterError


def jwt_claims(token):
    """Return the payload of a compact JWS (header.payload.signature) as a dict."""
    if not isinstance(token, str):
        raise AnsibleFilterError(f"jwt_claims: expected a token string, got {type(token).__name__}")
    parts = token.strip().split(".")
    if len(parts) != 3 or not all(parts[:2]):
        raise AnsibleFilterError(f"jwt_claims: not a compact JWT (header.payload.signature): {len(parts)} part(s)")
    payload = parts[1]
    try:
        raw = base64.b64decode(payload + "=" * (-len(payload) % 4), altchars=b"-_", validate=True)
        claims = json.loads(raw.decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise AnsibleFilterError(f"jwt_claims: the payload is not base64url-encoded JSON ({exc})") from exc
    if not isinstance(claims, dict):
        raise AnsibleFilterError("jwt_claims: the payload is not a JSON object")
    return claims


class FilterModule:
    """JSON Web Token filters."""

    def filters(self):
        return {"jwt_claims": jwt_claims}
