import base64
import json

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.filter.jwt_claims import FilterModule

jwt_claims = FilterModule().filters()["jwt_claims"]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(claims) -> str:
    header = b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    return f"{header}.{b64url(json.dumps(claims).encode())}.c2lnbmF0dXJl"


@pytest.mark.parametrize("pad", range(4))
def test_claims_of_every_padding_length(pad):
    # Payload lengths that need 0, 1 or 2 '=' after decoding, and url-safe characters.
    claims = {"iss": "https://keycloak.local/realms/gauntlet", "aud": ["task-api", "account"], "x": "?" * (pad + 3)}
    assert jwt_claims(token(claims)) == claims


def test_urlsafe_alphabet_is_decoded():
    claims = {"name": "ÿÿÿ>>>???"}  # encodes to '-' and '_' in base64url
    encoded = token(claims)
    assert "-" in encoded.split(".")[1] or "_" in encoded.split(".")[1]
    assert jwt_claims(encoded) == claims


def test_surrounding_whitespace_is_ignored():
    assert jwt_claims("  " + token({"a": 1}) + "\n") == {"a": 1}


@pytest.mark.parametrize(
    "bad",
    [None, 42, "", "abc", "a.b", "a.b.c.d", ".payload.sig", "header..sig", "eyJ4IjoxfQ.@@@.sig"],
)
def test_refuses_what_is_not_a_compact_jwt(bad):
    with pytest.raises(AnsibleFilterError, match="jwt_claims"):
        jwt_claims(bad)


def test_refuses_a_payload_that_is_not_an_object():
    with pytest.raises(AnsibleFilterError, match="not a JSON object"):
        jwt_claims(f"h.{b64url(b'[1, 2]')}.s")


def test_refuses_a_payload_that_is_not_json():
    with pytest.raises(AnsibleFilterError, match="not base64url-encoded JSON"):
        jwt_claims(f"h.{b64url(b'not json')}.s")
