"""The one place a compact JWT is taken apart (plugins/module_utils/jwt_compact.py)."""

import base64
import json

import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils import jwt_compact


def b64url(data: bytes) -> str:
    # Written out here, not with jwt_compact.b64url_encode, so the round trip checks both.
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(header: dict, claims: dict) -> str:
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}.c2ln"


@pytest.mark.parametrize("length", range(1, 9))
def test_every_padding_length_and_the_urlsafe_alphabet(length):
    data = bytes([0xFB, 0xFF, 0xBF]) * length  # '+' and '/' in base64, '-' and '_' in base64url
    encoded = jwt_compact.b64url_encode(data[:length])
    assert "=" not in encoded and "+" not in encoded and "/" not in encoded
    assert encoded == b64url(data[:length])
    assert jwt_compact.b64url_decode(encoded) == data[:length]


def test_header_and_claims():
    header, claims = jwt_compact.decode_compact(token({"alg": "RS256", "kid": "k"}, {"sub": "ÿ>?", "aud": ["a"]}))
    assert header == {"alg": "RS256", "kid": "k"}
    assert claims == {"sub": "ÿ>?", "aud": ["a"]}


def test_the_parts_stay_encoded_when_split():
    text = token({"alg": "RS256"}, {"a": 1})
    assert jwt_compact.split_compact(text) == tuple(text.split("."))


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (None, "not a compact JWT"),
        (42, "not a compact JWT"),
        ("abc", "not a compact JWT"),
        ("a.b", "not a compact JWT"),
        ("a.b.c.d", "not a compact JWT"),
        ("!!!.e30.x", "the header is not base64url-encoded JSON"),
        ("e30.@@@.x", "the payload is not base64url-encoded JSON"),
        (f"e30.{b64url(b'not json')}.x", "the payload is not base64url-encoded JSON"),
        (f"e30.{b64url(bytes([0xFF, 0xFE]))}.x", "the payload is not base64url-encoded JSON"),
        (f"{b64url(b'[1]')}.e30.x", "the header is not a JSON object"),
        (f"e30.{b64url(b'1')}.x", "the payload is not a JSON object"),
    ],
)
def test_what_is_not_a_compact_jwt_is_refused_with_the_reason(bad, message):
    with pytest.raises(jwt_compact.JwtFormatError, match=message):
        jwt_compact.decode_compact(bad)
