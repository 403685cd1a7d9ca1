"""jwt_forge: the copy keeps header and claims and verifies only with the fresh key (checked with PyJWT)."""

from __future__ import annotations

import json

import jwt
import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.gauntlet.platform.plugins.modules import jwt_forge
from cryptography.hazmat.primitives.asymmetric import rsa

CLAIMS = {
    "exp": 4102444800,
    "iat": 1788000000,
    "iss": "https://keycloak.local/realms/gauntlet",
    "aud": "task-api",
    "sub": "6f0c3c8e-8d1e-4a57-9d8e-3b2f1a0c9d11",
    "typ": "Bearer",
    "preferred_username": "tester",
}


@pytest.fixture(scope="module")
def issuer_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def real_token(key, algorithm="RS256"):
    return jwt.encode(CLAIMS, key, algorithm=algorithm, headers={"kid": "keycloak-kid-1"})


@pytest.mark.parametrize("algorithm", ["RS256", "RS512", "PS256"])
def test_forged_token_copies_everything_but_the_signature(issuer_key, algorithm):
    token = real_token(issuer_key, algorithm)
    forged = jwt_forge.forge(token)
    head, claims_part, signature = forged["token"].split(".")
    assert [head, claims_part] == token.split(".")[:2]
    assert signature != token.split(".")[2]
    assert forged["header"] == {"alg": algorithm, "kid": "keycloak-kid-1", "typ": "JWT"}
    assert forged["claims"] == CLAIMS
    options = {"algorithms": [algorithm], "audience": "task-api", "issuer": CLAIMS["iss"]}
    # The issuer's real key refuses it: exactly what a correct service must do.
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged["token"], issuer_key.public_key(), **options)
    # The fresh key accepts it, so the signature is a well-formed one, not garbage.
    assert jwt.decode(forged["token"], forged["public_key_pem"], **options) == CLAIMS
    assert "PRIVATE" not in json.dumps(forged)


def test_every_call_uses_a_new_key(issuer_key):
    token = real_token(issuer_key)
    assert jwt_forge.forge(token)["public_key_pem"] != jwt_forge.forge(token)["public_key_pem"]


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("abc", "compact JWT"),
        ("a.b.c.d", "compact JWT"),
        ("!!.e30.x", "not base64url"),
        ("e30.W10.x", "must be JSON objects"),
        (jwt.encode({"a": 1}, "secret-of-32-bytes-at-least-0123", algorithm="HS256"), "only RS256"),
        ("eyJhbGciOiJub25lIn0.e30.", "'none'"),
    ],
)
def test_unusable_tokens(token, message):
    with pytest.raises(jwt_forge.ForgeError, match=message):
        jwt_forge.forge(token)


def run_module(args, capsys):
    with patch_module_args(args), pytest.raises(SystemExit):
        jwt_forge.main()
    return json.loads(capsys.readouterr().out)


def test_module_result_and_failure(issuer_key, capsys):
    token = real_token(issuer_key)
    out = run_module({"token": token, "_ansible_check_mode": True}, capsys)
    assert out["changed"] is False
    assert out["token"].rsplit(".", 1)[0] == token.rsplit(".", 1)[0]
    bad = run_module({"token": "nope"}, capsys)
    assert bad["failed"] is True and "compact JWT" in bad["msg"]
    small = run_module({"token": token, "key_size": 1024}, capsys)
    assert small["failed"] is True and "key_size" in small["msg"]


def test_docs_match_the_argument_spec():
    yaml = pytest.importorskip("yaml")
    doc = yaml.safe_load(jwt_forge.DOCUMENTATION)
    assert doc["module"] == "jwt_forge"
    assert set(doc["options"]) == set(jwt_forge.argument_spec())
    assert jwt_forge.argument_spec()["token"]["no_log"] is True
    # Plain strings only: "a: b" in a list item would be a mapping, and ansible-doc fails on it.
    assert all(isinstance(line, str) for key in ("description", "notes") for line in doc.get(key, []))
    yaml.safe_load(jwt_forge.EXAMPLES)
    yaml.safe_load(jwt_forge.RETURN)
