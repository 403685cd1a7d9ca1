"""Verify the registry from the other host: TLS through registry.local, htpasswd auth,
and the preloaded image at its full upstream path with the bundle's digest."""

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
import testinfra

EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
PASSWORD_FILE = EPHEMERAL / "inventory" / "credentials" / "registry" / "password"
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
# the registry stage): prints the HTTP status and the digest header, never the password.
CLIENT = r"""
import base64, sys, urllib.request, urllib.error
url, accept, user, password = sys.argv[1:5]
request = urllib.request.Request(url, method="GET", headers={"Accept": accept})
if user:
    request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
try:
    with urllib.request.urlopen(request, timeout=20) as response:
        print(response.status, response.headers.get("Docker-Content-Digest"))
except urllib.error.HTTPError as error:
    print(error.code, "-")
"""


def fetch(host, user="", password=""):
    quoted = CLIENT.replace("'", "'\"'\"'")
    empty = "''"
    result = host.run(f"python3 -c '{quoted}' {MANIFEST_URL} {ACCEPT} {user or empty} {password or empty}")
    assert result.rc == 0, result.stderr
    status, digest = result.stdout.split()
    return int(status), digest


@pytest.fixture(scope="module")
def bundle_digest():
    raw = subprocess.run(
        ["skopeo", "inspect", "--raw", f"oci-archive:{ARCHIVE}"], capture_output=True, check=True
    ).stdout
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def test_pull_with_auth_over_tls_returns_the_bundle_digest(host, bundle_digest):
    status, digest = fetch(host, "gauntlet", PASSWORD_FILE.read_text().strip())
    assert status == 200
    assert digest == bundle_digest


def test_anonymous_and_wrong_password_are_refused(host):
    assert fetch(host)[0] == 401
    assert fetch(host, "gauntlet", "wrong-password")[0] == 401


def test_registry_service_runs_hardened(host):
    registry = testinfra.get_host("podman://mr-registry-1")
    service = registry.service("gauntlet-registry")
    assert service.is_running and service.is_enabled
    assert not registry.service("docker-registry").is_running
    assert registry.file("/etc/gauntlet-registry/tls.key").mode == 0o640
    config = registry.file("/etc/gauntlet-registry/config.yml").content_string
    assert "htpasswd" in config and "tls.crt" in config


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
            f"gauntlet:{PASSWORD_FILE.read_text().strip()}",
            f"docker://{address}:5000/localhost/gauntlet-debian:bookworm",
        ],
        capture_output=True,
        check=False,
    )
    assert raw.returncode == 0, raw.stderr
    assert "sha256:" + hashlib.sha256(raw.stdout).hexdigest() == bundle_digest
