"""Signing and verifying the bundle lock with real ssh-keygen keys made in tmp_path (issue 17 item 10).

Every signature is also checked with the standard tool alone (`ssh-keygen -Y verify` and an
allowed_signers file), as a user on the air-gapped side would, so the format is OpenSSH's.
"""

import json
import shutil
import subprocess

import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle.signature import (
    NAMESPACE,
    BundleSignatureError,
    allowed_signers,
    fingerprint,
    layout_problems,
    parse_public_key,
    public_key_of,
    sign,
    signature_is_current,
    verify,
)
from needs import missing

LOCK = b'{\n  "files": [],\n  "images": [],\n  "version": 1\n}\n'


@pytest.fixture(scope="module")
def keygen():
    found = shutil.which("ssh-keygen")
    if not found:
        missing("ssh-keygen is not installed (Debian package openssh-client)")
    return found


def make_key(directory, name, keygen, passphrase="", key_type="ed25519"):
    path = directory / name
    subprocess.run([keygen, "-q", "-t", key_type, "-N", passphrase, "-C", name, "-f", str(path)], check=True)
    return path, (directory / f"{name}.pub").read_text().strip()


@pytest.fixture
def signed(tmp_path, keygen):
    key, public = make_key(tmp_path, "signer", keygen)
    lock = tmp_path / "bundle.lock.json"
    lock.write_bytes(LOCK)
    (tmp_path / "bundle.lock.json.sig").write_bytes(sign(str(lock), str(key)))
    return {"lock": lock, "sig": tmp_path / "bundle.lock.json.sig", "key": key, "public": public}


def test_a_signed_lock_verifies_here_and_with_ssh_keygen_alone(signed, tmp_path, keygen):
    assert verify(str(signed["lock"]), signed["public"]).startswith(f'Good "{NAMESPACE}" signature for gauntlet-bundle')
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(allowed_signers(signed["public"]))
    with signed["lock"].open("rb") as data:
        standard = subprocess.run(
            [keygen, "-Y", "verify", "-f", str(allowed), "-I", "gauntlet-bundle", "-n", NAMESPACE, "-s", str(signed["sig"])],
            stdin=data, capture_output=True, text=True, check=False,
        )  # fmt: skip
    assert standard.returncode == 0, standard.stderr


def test_a_tampered_lock_is_refused(signed):
    signed["lock"].write_bytes(LOCK.replace(b'"images": []', b'"images": [{"name": "evil"}]'))
    with pytest.raises(BundleSignatureError, match=r"does not match its signature .* changed after it was signed"):
        verify(str(signed["lock"]), signed["public"])


def test_a_single_added_byte_is_refused(signed):
    signed["lock"].write_bytes(LOCK + b"\n")
    with pytest.raises(BundleSignatureError, match="does not match its signature"):
        verify(str(signed["lock"]), signed["public"])


def test_a_missing_signature_says_the_bundle_is_unsigned_and_how_to_sign(signed):
    signed["sig"].unlink()
    with pytest.raises(
        BundleSignatureError, match=r"is missing: the bundle is unsigned; sign it .*gauntlet_bundle_signing_key"
    ):
        verify(str(signed["lock"]), signed["public"])


def test_a_file_that_is_not_a_signature_is_refused(signed):
    signed["sig"].write_text("not a signature\n")
    with pytest.raises(BundleSignatureError, match="is not an SSH signature"):
        verify(str(signed["lock"]), signed["public"])


def test_a_signature_by_another_key_names_the_expected_key(signed, tmp_path, keygen):
    _other, other_public = make_key(tmp_path, "stranger", keygen)
    with pytest.raises(BundleSignatureError, match="was not made with the key in gauntlet_bundle_public_key") as caught:
        verify(str(signed["lock"]), other_public)
    assert fingerprint(other_public) in str(caught.value)


def test_a_signature_for_another_namespace_is_refused(signed, keygen):
    with signed["lock"].open("rb") as data:
        other = subprocess.run(
            [keygen, "-Y", "sign", "-n", "file", "-f", str(signed["key"])], stdin=data, capture_output=True, check=True
        )
    signed["sig"].write_bytes(other.stdout)
    with pytest.raises(BundleSignatureError, match="does not match its signature"):
        verify(str(signed["lock"]), signed["public"])


def test_the_fingerprint_is_ssh_keygens(signed, keygen):
    listed = subprocess.run([keygen, "-l", "-f", f"{signed['key']}.pub"], capture_output=True, text=True, check=True)
    assert listed.stdout.split()[1] == fingerprint(signed["public"])


@pytest.mark.parametrize(
    "text",
    [
        "",
        "AAAAC3NzaC1lZDI1NTE5AAAAI",
        "ssh-ed25519",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n",
        "ssh-dss AAAAB3NzaC1kc3M=",
    ],
)
def test_a_bad_public_key_is_refused_with_what_to_paste(text):
    with pytest.raises(BundleSignatureError, match="gauntlet_bundle_public_key"):
        parse_public_key(text)


def test_a_key_whose_data_does_not_match_its_type_is_refused(signed):
    _key_type, blob = parse_public_key(signed["public"])
    with pytest.raises(BundleSignatureError, match="not a ssh-rsa key"):
        parse_public_key(f"ssh-rsa {blob}")


def test_signing_is_idempotent_and_knows_a_stale_signature(signed):
    assert signature_is_current(str(signed["lock"]), str(signed["key"]))
    signed["lock"].write_bytes(LOCK + b" ")
    assert not signature_is_current(str(signed["lock"]), str(signed["key"]))


def test_a_passphrase_key_fails_at_once_with_the_agent_hint(tmp_path, keygen):
    key, _public = make_key(tmp_path, "locked", keygen, passphrase="correct horse")
    lock = tmp_path / "bundle.lock.json"
    lock.write_bytes(LOCK)
    with pytest.raises(
        BundleSignatureError,
        match=r"passphrase-protected .* \(ssh-add .*\) and set gauntlet_bundle_signing_key to its \.pub file",
    ):
        sign(str(lock), str(key))


def test_a_missing_signing_key_says_how_to_make_one(tmp_path):
    lock = tmp_path / "bundle.lock.json"
    lock.write_bytes(LOCK)
    with pytest.raises(BundleSignatureError, match=r"signing key .* is missing: set gauntlet_bundle_signing_key"):
        sign(str(lock), str(tmp_path / "nope"))


def test_the_public_key_of_a_private_key_is_derived(signed):
    assert public_key_of(str(signed["key"])).split()[:2] == signed["public"].split()[:2]
    assert public_key_of(f"{signed['key']}.pub") == signed["public"]


def test_other_key_types_sign_and_verify(tmp_path, keygen):
    key, public = make_key(tmp_path, "ecdsa", keygen, key_type="ecdsa")
    lock = tmp_path / "bundle.lock.json"
    lock.write_bytes(LOCK)
    (tmp_path / "bundle.lock.json.sig").write_bytes(sign(str(lock), str(key)))
    assert "ECDSA" in verify(str(lock), public)


NGINX = "docker.io/library/nginx:1.27"
DIGEST = "sha256:" + "1" * 64


def write_layout(images, entries):
    images.mkdir()
    (images / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    manifests = [
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest,
            "size": 1,
            "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": name},
        }
        for name, digest in entries
    ]
    (images / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": manifests}))


def test_the_image_layout_must_match_the_signed_lock(tmp_path):
    lock = tmp_path / "bundle.lock.json"
    lock.write_text(json.dumps({"version": 1, "files": [], "images": [{"name": "nginx:1.27", "digest": DIGEST}]}))
    write_layout(tmp_path / "images", [(NGINX, DIGEST)])
    assert layout_problems(str(lock), str(tmp_path / "images")) == []


def test_a_swapped_or_added_image_is_named(tmp_path):
    lock = tmp_path / "bundle.lock.json"
    lock.write_text(json.dumps({"version": 1, "files": [], "images": [{"name": NGINX, "digest": DIGEST}]}))
    other = "sha256:" + "2" * 64
    write_layout(tmp_path / "images", [(NGINX, other), ("quay.io/evil/miner:1", DIGEST)])
    assert layout_problems(str(lock), str(tmp_path / "images")) == [
        f"{NGINX} is {other} in images/index.json but {DIGEST} in the signed lock",
        f"images/index.json names quay.io/evil/miner:1 ({DIGEST}), which the signed lock does not list",
    ]


def test_a_bundle_without_images_has_nothing_to_match(tmp_path):
    lock = tmp_path / "bundle.lock.json"
    lock.write_text("{}")
    assert layout_problems(str(lock), str(tmp_path / "images")) == []
