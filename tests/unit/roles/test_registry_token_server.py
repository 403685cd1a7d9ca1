"""The registry token server's pieces: signatures, grants, passwords, the HTTP answers (GET and POST, over TLS).

Signatures are checked with `cryptography` (an independent RSA implementation); the HTTP
tests run the server on loopback.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.filter.registry_token_accounts import registry_token_accounts
from ansible_collections.gauntlet.platform.plugins.module_utils.jwt_compact import b64url_decode, decode_part
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

REPO = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location(
    "registry_token_server", REPO / "roles/registry/files/registry_token_server.py"
)
server = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(server)

ACCOUNTS = [
    {"name": "node", "access": [{"type": "repository", "name": "*", "actions": ["pull"]}]},
    {
        "name": "ci",
        "access": [
            {"type": "repository", "name": "*", "actions": ["pull"]},
            {"type": "repository", "name": "gauntlet/*", "actions": ["pull", "push"]},
        ],
    },
]


def b64url_json(part: str) -> dict:
    return decode_part(part)


@pytest.fixture(scope="module")
def key_files(tmp_path_factory):
    from tls_material import make_ca_and_cert

    folder = tmp_path_factory.mktemp("signer")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for fmt, name in (
        (serialization.PrivateFormat.TraditionalOpenSSL, "pkcs1.key"),
        (serialization.PrivateFormat.PKCS8, "pkcs8.key"),
    ):
        (folder / name).write_bytes(key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()))
    ca, cert, tls_key = make_ca_and_cert(folder)
    return key, folder, ca, cert, tls_key


def config_for(folder: Path, cert: Path, tls=None) -> dict:
    accounts = registry_token_accounts(ACCOUNTS, {"node": "node-pw", "ci": "ci-pw"}, {"node": "s1", "ci": "s2"})
    config = {
        "service": "gauntlet-registry",
        "issuer": "gauntlet-registry-token",
        "listen": "127.0.0.1:0",
        "lifetime": 300,
        "signing_key": str(folder / "pkcs1.key"),
        "signing_certificate": str(cert),
        "tls": tls,
        "accounts": accounts,
    }
    path = folder / "config.json"
    path.write_text(json.dumps(config))
    return server.load_config(str(path))


@pytest.mark.parametrize("name", ["pkcs1.key", "pkcs8.key"])
def test_rs256_signatures_verify_with_an_independent_implementation(key_files, name):
    key, folder, *_unused = key_files
    signer = server.RsaKey((folder / name).read_text())
    message = b"header.claims"
    signature = signer.sign_rs256(message)
    key.public_key().verify(signature, message, padding.PKCS1v15(), hashes.SHA256())  # raises when wrong


def test_a_non_rsa_or_short_key_is_refused_with_the_reason():
    with pytest.raises(server.ConfigError, match="not an unencrypted RSA key"):
        server.RsaKey("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")
    short = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the short key under test
    pem = short.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    with pytest.raises(server.ConfigError, match="shorter than 2048"):
        server.RsaKey(pem.decode())


def test_grants_intersect_requested_and_allowed_actions():
    rules = registry_token_accounts(ACCOUNTS, {"node": "a", "ci": "b"}, {"node": "x", "ci": "y"})
    ci = rules["ci"]["access"]
    assert server.grant(ci, "repository", "gauntlet/task-api", ["pull", "push"]) == ["pull", "push"]
    assert server.grant(ci, "repository", "gauntlet/a/b", ["push"]) == ["push"]
    assert server.grant(ci, "repository", "docker.io/library/traefik", ["pull", "push"]) == ["pull"]
    assert server.grant(ci, "repository", "gauntlet-evil/x", ["push"]) == []
    assert server.grant(ci, "repository", "docker.io/gauntlet/x", ["push"]) == []
    assert server.grant(ci, "repository", "gauntlet/x", ["delete", "*"]) == []
    assert server.grant(ci, "registry", "catalog", ["*"]) == []
    assert server.parse_scope("repository:registry.local:5000/gauntlet/x:pull") == (
        "repository", "registry.local:5000/gauntlet/x", ["pull"])  # fmt: skip
    assert server.parse_scope("repository(plugin):a/b:pull") == ("repository", "a/b", ["pull"])
    assert server.parse_scope("garbage") is None


def test_the_filter_hashes_what_the_server_checks():
    accounts = registry_token_accounts(ACCOUNTS, {"node": "node-pw", "ci": "ci-pw"}, {"node": "s1", "ci": "s2"})
    assert server.check_password("node-pw", accounts["node"]["password_hash"])
    assert not server.check_password("ci-pw", accounts["node"]["password_hash"])
    assert accounts["node"]["password_hash"] == server.hash_password("node-pw", "s1")
    assert "node-pw" not in json.dumps(accounts)


@pytest.mark.parametrize(
    ("accounts", "message"),
    [
        ([{"access": []}], r"registry_accounts\[0\] needs a name"),
        ([{"name": "node"}, {"name": "node"}], "listed twice"),
        ([{"name": "node", "access": [{"type": "repo", "name": "*", "actions": ["pull"]}]}], "needs a type"),
        ([{"name": "node", "access": [{"name": "*", "actions": ["pull", "write"]}]}], r"unknown ones \['write'\]"),
        ([{"name": "other"}], "no password or salt for account 'other'"),
    ],
)
def test_the_filter_names_bad_accounts(accounts, message):
    with pytest.raises(AnsibleFilterError, match=message):
        registry_token_accounts(accounts, {"node": "a"}, {"node": "b"})


@pytest.fixture
def tls_server(key_files):
    _key, folder, ca, cert, tls_key = key_files
    config = config_for(folder, cert, tls={"certificate": str(cert), "key": str(tls_key)})
    httpd = server.serve(config)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}/token", ssl.create_default_context(cafile=str(ca)), config
    httpd.shutdown()
    httpd.server_close()


def test_get_with_basic_auth_over_tls_returns_a_signed_token_with_the_grant(tls_server, key_files):
    url, context, config = tls_server
    query = urllib.parse.urlencode(
        [
            ("service", "gauntlet-registry"),
            ("scope", "repository:gauntlet/x:pull,push"),
            ("scope", "repository:docker.io/library/traefik:pull,push"),
        ]
    )
    req = urllib.request.Request(f"{url}?{query}")  # noqa: S310 - https to the loopback test server
    req.add_header("Authorization", "Basic " + base64.b64encode(b"ci:ci-pw").decode())
    with urllib.request.urlopen(req, context=context, timeout=10) as resp:  # noqa: S310 - https to the loopback test server
        body = json.load(resp)
    header, claims, signature = body["token"].split(".")
    assert b64url_json(header)["alg"] == "RS256" and b64url_json(header)["x5c"] == config["_x5c"]
    decoded = b64url_json(claims)
    assert (
        decoded["iss"] == "gauntlet-registry-token" and decoded["aud"] == "gauntlet-registry" and decoded["sub"] == "ci"
    )
    assert decoded["exp"] - decoded["iat"] == 300 == body["expires_in"]
    assert decoded["access"] == [
        {"type": "repository", "name": "gauntlet/x", "actions": ["pull", "push"]},
        {"type": "repository", "name": "docker.io/library/traefik", "actions": ["pull"]},
    ]
    key_files[0].public_key().verify(
        b64url_decode(signature),
        f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256(),
    )  # fmt: skip


def test_post_password_grant_as_containerd_sends_it(tls_server):
    url, context, _config = tls_server
    form = urllib.parse.urlencode(
        {
            "grant_type": "password",
            "username": "node",
            "password": "node-pw",
            "service": "gauntlet-registry",
            "scope": "repository:a/b:pull repository:c/d:push",
            "client_id": "containerd-client",
        }
    ).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=form), context=context, timeout=10) as resp:  # noqa: S310 - https to the loopback test server
        body = json.load(resp)
    assert b64url_json(body["access_token"].split(".")[1])["access"] == [
        {"type": "repository", "name": "a/b", "actions": ["pull"]},
        {"type": "repository", "name": "c/d", "actions": []},
    ]
    refresh = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": "x"}).encode()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(url, data=refresh), context=context, timeout=10)  # noqa: S310 - https to the loopback test server
    assert refused.value.code == 400  # containerd then falls back to GET with basic auth


@pytest.mark.parametrize("credentials", [None, b"node:wrong", b"nobody:node-pw", b"node"])
def test_bad_or_missing_credentials_get_401(tls_server, credentials):
    url, context, _config = tls_server
    req = urllib.request.Request(f"{url}?service=gauntlet-registry&scope=repository:a:pull")  # noqa: S310 - https to the loopback test server
    if credentials is not None:
        req.add_header("Authorization", "Basic " + base64.b64encode(credentials).decode())
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, context=context, timeout=10)  # noqa: S310 - https to the loopback test server
    assert refused.value.code == 401


def test_a_broken_configuration_is_one_clear_line(tmp_path, capsys):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"service": "s"}))
    assert server.main(["token", str(path)]) == 1
    assert "missing key 'issuer'" in capsys.readouterr().err
