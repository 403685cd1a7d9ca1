"""Verify the registry from the other host: TLS through registry.local, token auth (the
nodes' pull-only account through the token server), and the preloaded image at its full
upstream path with the bundle's digest."""

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
import testinfra

EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
PASSWORD_FILE = EPHEMERAL / "inventory" / "credentials" / "registry" / "node-password"
NODE = "gauntlet-node"
ARCHIVE = EPHEMERAL / "bundle" / "base.oci.tar"
MANIFEST_URL = "https://registry.local:5000/v2/localhost/gauntlet-debian/manifests/bookworm"
ACCEPT = ",".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)

testinfra_hosts = ["podman://mr-server-1"]

# Runs inside the client host with its system trust store (the local CA installed by
# the registry stage), as containerd does: the registry's 401 names the token realm, the
# client gets a token there with basic auth (asking for pull and push), then retries.
# Prints the HTTP status, the digest header and the actions granted, never the password.
CLIENT = r"""
import base64, json, re, sys, urllib.parse, urllib.request, urllib.error
url, accept, user, password = sys.argv[1:5]
def get(headers):
    request = urllib.request.Request(url, method="GET", headers={"Accept": accept, **headers})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, response.headers.get("Docker-Content-Digest"), response.headers
    except urllib.error.HTTPError as error:
        return error.code, "-", error.headers
status, digest, headers = get({})
granted = "-"
if status == 401 and user:
    challenge = dict(re.findall(r'(\w+)="([^"]*)"', headers.get("WWW-Authenticate", "")))
    query = urllib.parse.urlencode({"service": challenge["service"], "scope": "repository:localhost/gauntlet-debian:pull,push"})
    token_request = urllib.request.Request(challenge["realm"] + "?" + query)
    token_request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(token_request, timeout=20) as response:
            token = json.load(response)["token"]
    except urllib.error.HTTPError as error:
        print(error.code, "-", "-")
        sys.exit(0)
    claims = token.split(".")[1]
    access = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["access"]
    granted = ",".join(a for entry in access for a in entry["actions"]) or "none"
    status, digest, headers = get({"Authorization": "Bearer " + token})
print(status, digest, granted)
"""


def fetch(host, user="", password=""):
    quoted = CLIENT.replace("'", "'\"'\"'")
    empty = "''"
    result = host.run(f"python3 -c '{quoted}' {MANIFEST_URL} {ACCEPT} {user or empty} {password or empty}")
    assert result.rc == 0, result.stderr
    status, digest, granted = result.stdout.split()
    return int(status), digest, granted


@pytest.fixture(scope="module")
def bundle_digest():
    raw = subprocess.run(
        ["skopeo", "inspect", "--raw", f"oci-archive:{ARCHIVE}"], capture_output=True, check=True
    ).stdout
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def test_the_node_account_pulls_over_tls_the_bundle_digest_and_gets_no_push(host, bundle_digest):
    status, digest, granted = fetch(host, NODE, PASSWORD_FILE.read_text().strip())
    assert status == 200
    assert digest == bundle_digest
    assert granted == "pull"


def test_anonymous_and_wrong_password_are_refused(host):
    assert fetch(host)[0] == 401
    assert fetch(host, NODE, "wrong-password")[0] == 401


def test_registry_service_runs_hardened(host):
    registry = testinfra.get_host("podman://mr-registry-1")
    service = registry.service("gauntlet-registry")
    assert service.is_running and service.is_enabled
    assert not registry.service("docker-registry").is_running
    assert registry.file("/etc/gauntlet-registry/tls.key").mode == 0o640
    config = registry.file("/etc/gauntlet-registry/config.yml").content_string
    assert "htpasswd" not in config and "token:" in config and "tls.crt" in config
    assert not registry.file("/etc/gauntlet-registry/htpasswd").exists
    token = registry.service("gauntlet-registry-token")
    assert token.is_running and token.is_enabled
    for name in ("signer.key", "tls.key", "config.json"):
        key = registry.file(f"/etc/gauntlet-registry-token/{name}")
        assert key.mode == 0o640 and key.user == "root" and key.group == "gauntlet-registry-token"
    assert "gauntlet-node" in registry.run("cat /etc/gauntlet-registry-token/config.json").stdout


def test_registry_runs_the_bundle_release_unpacked_on_the_host():
    registry = testinfra.get_host("podman://mr-registry-1")
    link = registry.file("/usr/local/bin/gauntlet-registry")
    assert link.is_symlink and link.linked_to == "/usr/local/lib/gauntlet-registry/3.1.1/registry"
    assert registry.file("/usr/local/lib/gauntlet-registry/3.1.1/registry").mode == 0o755
    unit = registry.file("/etc/systemd/system/gauntlet-registry.service").content_string
    assert "ExecStart=/usr/local/bin/gauntlet-registry serve" in unit


def test_password_file_is_private():
    assert PASSWORD_FILE.stat().st_mode & 0o777 == 0o600


def test_skopeo_from_the_controller_agrees(bundle_digest, tmp_path):
    # skopeo trusts the CA files of a --cert-dir: the local CA, as generated on the controller.
    (tmp_path / "ca.crt").write_bytes((EPHEMERAL / "inventory" / "credentials" / "ca" / "ca.crt").read_bytes())
    inventory = json.loads(
        subprocess.run(["podman", "inspect", "mr-registry-1"], capture_output=True, check=True).stdout
    )
    address = next(iter(inventory[0]["NetworkSettings"]["Networks"].values()))["IPAddress"]
    raw = subprocess.run(
        [
            "skopeo",
            "inspect",
            "--raw",
            "--cert-dir",
            str(tmp_path),
            "--creds",
            f"{NODE}:{PASSWORD_FILE.read_text().strip()}",
            f"docker://{address}:5000/localhost/gauntlet-debian:bookworm",
        ],
        capture_output=True,
        check=False,
    )
    assert raw.returncode == 0, raw.stderr
    assert "sha256:" + hashlib.sha256(raw.stdout).hexdigest() == bundle_digest
