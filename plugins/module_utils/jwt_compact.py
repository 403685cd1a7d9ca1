# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Read a compact JSON Web Token (JWS compact serialization), without verifying anything.

The one place the collection takes a token apart: the ``jwt_claims`` filter, the
``jwt_forge`` module and the verify checks (``verify/services.py`` ``jwt_parts``) use it, and so do
the tests that look into tokens. A compact JWS is three base64url parts separated by dots,
``header.payload.signature``; base64url is base64 with ``-`` and ``_`` for ``+`` and ``/``,
without ``=`` padding (RFC 7515, sections 2 and 7.1).

Nothing here checks a signature: read tokens the caller has just received from the issuer
over verified TLS, never to authenticate anyone. What stays outside on purpose runs where
``module_utils`` cannot be imported: the registry's token server
(``roles/registry/files/registry_token_server.py``, on the registry host) writes tokens
with its own base64url encoder; the Molecule registry check decodes one in a script run
inside the client container; the Task API verifies tokens with PyJWT in its image.
"""

from __future__ import annotations

import base64
import binascii
import json


class JwtFormatError(ValueError):
    """The text is not a compact JWT whose header and claims are base64url JSON objects."""


def b64url_decode(part: str) -> bytes:
    """The bytes of one base64url part (padding optional); JwtFormatError on any other character."""
    try:
        return base64.b64decode(part + "=" * (-len(part) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise JwtFormatError(f"not base64url ({exc})") from exc


def b64url_encode(data: bytes) -> str:
    """base64url without padding, as a JWT part is written."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def split_compact(token) -> tuple[str, str, str]:
    """(header part, payload part, signature part) of a compact JWT, still encoded."""
    if not isinstance(token, str) or token.count(".") != 2:
        raise JwtFormatError("not a compact JWT (three base64url parts separated by dots)")
    header_part, payload_part, signature_part = token.split(".")
    return header_part, payload_part, signature_part


def decode_part(part: str, name: str = "payload") -> dict:
    """The JSON object one part encodes; ``name`` (header, payload) goes into the error."""
    try:
        value = json.loads(b64url_decode(part).decode("utf-8"))
    except (JwtFormatError, UnicodeDecodeError, ValueError) as exc:
        raise JwtFormatError(f"the {name} is not base64url-encoded JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise JwtFormatError(f"the {name} is not a JSON object (a JWT's header and payload must be JSON objects)")
    return value


def decode_compact(token) -> tuple[dict, dict]:
    """(header, claims) of a compact JWT, both JSON objects; the signature is not checked."""
    header_part, payload_part, _signature = split_compact(token)
    return decode_part(header_part, "header"), decode_part(payload_part, "payload")
