#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Read-only module: re-sign a JWT with a fresh key, to prove a service checks signatures."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: jwt_forge
short_description: Re-sign a JWT's header and claims with a freshly generated RSA key
version_added: 0.1.0
description:
  - Takes a real token (a Keycloak access token), keeps its header (algorithm, C(kid)) and claims byte for byte,
    and signs them with an RSA key generated for this call and then thrown away.
  - The result looks exactly like a valid token to anything that does not verify the signature against the
    issuer's keys. A service that accepts it is broken; the post-install check (C(playbooks/verify.yml)) expects
    HTTP 401 from the Task API for it.
  - Supports the RSA algorithms C(RS256), C(RS384), C(RS512), C(PS256), C(PS384) and C(PS512).
  - Runs on the controller (needs the Python C(cryptography) package, a controller requirement). Changes nothing.
options:
  token:
    description: The token to copy, in compact form (C(header.claims.signature)).
    type: str
    required: true
  key_size:
    description: Size in bits of the throw-away RSA key.
    type: int
    default: 2048
    choices: [2048, 3072, 4096]
notes:
  - Supports check mode. Put C(no_log) on the task, as the input and the output are bearer tokens.
extends_documentation_fragment:
  - gauntlet.platform.attributes
  - gauntlet.platform.attributes.no_diff
requirements:
  - cryptography
author:
  - Cloud Native Gauntlet developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Forge a token with the same claims
  gauntlet.platform.jwt_forge:
    token: "{{ __token.json.access_token }}"
  register: __forged
  delegate_to: localhost
  no_log: true

- name: The API must refuse it
  ansible.builtin.uri:
    url: https://tasks.local/tasks
    headers:
      Authorization: "Bearer {{ __forged.token }}"
    status_code: 401
  no_log: true
"""

RETURN = r"""
token:
  description: The forged token (same header and claims, signature of the fresh key).
  returned: success
  type: str
header:
  description: The header that was kept.
  returned: success
  type: dict
  sample: {"alg": "RS256", "kid": "x3hJ...", "typ": "JWT"}
claims:
  description: The claims that were kept.
  returned: success
  type: dict
public_key_pem:
  description: The public half of the fresh key (the private half is never written anywhere).
  returned: success
  type: str
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.gauntlet.platform.plugins.module_utils.jwt_compact import (
    JwtFormatError,
    b64url_encode,
    decode_part,
    split_compact,
)

try:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_ERROR = None
except ImportError:
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_ERROR = traceback.format_exc()

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")


class ForgeError(ValueError):
    """The token cannot be copied."""


def split_token(token: str) -> tuple[str, str, dict, dict]:
    """(header part, claims part, header, claims) of a compact JWS (module_utils.jwt_compact)."""
    try:
        header_part, claims_part, _signature = split_compact(token)
        return header_part, claims_part, decode_part(header_part, "header"), decode_part(claims_part, "payload")
    except JwtFormatError as exc:
        raise ForgeError(f"the token cannot be read: {exc}") from exc


def _signer(alg: str):
    digest = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}[alg[2:]]()
    if alg.startswith("PS"):
        pad = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
    else:
        pad = padding.PKCS1v15()
    return pad, digest


def forge(token: str, key_size: int = 2048) -> dict:
    """The same header and claims, signed by a fresh RSA key."""
    header_part, claims_part, header, claims = split_token(token)
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise ForgeError(f"the token is signed with {alg!r}; only {', '.join(ALGORITHMS)} can be forged here")
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    pad, digest = _signer(alg)
    signing_input = f"{header_part}.{claims_part}".encode("ascii")
    signature = key.sign(signing_input, pad, digest)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "token": f"{header_part}.{claims_part}.{b64url_encode(signature)}",
        "header": header,
        "claims": claims,
        "public_key_pem": public_pem.decode("ascii"),
    }


def argument_spec() -> dict:
    return dict(
        token=dict(type="str", required=True, no_log=True),
        key_size=dict(type="int", default=2048, choices=[2048, 3072, 4096]),
    )


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_ERROR)
    try:
        result = forge(module.params["token"], module.params["key_size"])
    except ForgeError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
