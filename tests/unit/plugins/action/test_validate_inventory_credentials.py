"""Which credential files validation asks to be private: secrets yes, published certificates no.

The roles write the CA's, Linkerd's trust anchor's and issuer's certificates 0644 beside their
keys (they are handed to nodes and pods); a second run must not be refused for them.
"""

from ansible_collections.gauntlet.platform.plugins.action.validate_inventory import describe_path
from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.controller_paths import path_problems

CERTIFICATE = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----\n"


def problems_for(folder):
    return path_problems({"gauntlet_credentials_dir": describe_path(str(folder), "test")})


def write(path, text, mode):
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(text)
    path.chmod(mode)


def test_published_certificates_may_be_readable(tmp_path):
    folder = tmp_path / "credentials"
    folder.mkdir(mode=0o700)
    write(folder / "ca" / "ca.crt", CERTIFICATE, 0o644)
    write(folder / "linkerd" / "trust-anchor.crt", CERTIFICATE, 0o644)
    write(folder / "ca" / "ca.key", KEY, 0o600)
    assert problems_for(folder) == []


def test_a_readable_secret_is_refused_whatever_its_name(tmp_path):
    folder = tmp_path / "credentials"
    folder.mkdir(mode=0o700)
    write(folder / "k3s-token", "K10secret", 0o644)
    write(folder / "ca" / "bundle.crt", CERTIFICATE + KEY, 0o644)  # a key inside a .crt
    found = problems_for(folder)
    assert len(found) == 2, found
    assert any("k3s-token' has mode 0644" in p for p in found)
    assert any("bundle.crt' has mode 0644" in p for p in found)
