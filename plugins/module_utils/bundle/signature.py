# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Sign and verify the bundle lock with OpenSSH signatures (`ssh-keygen -Y`).

The lock (bundle.lock.json) holds the sha256 of every bundle file and the digest of every
image, and every consumer checks what it uses against it; so one signature over the lock
covers the whole bundle. The signature is `bundle.lock.json.sig` beside it, the armoured
SSHSIG format of `ssh-keygen -Y sign` (OpenSSH PROTOCOL.sshsig), in the namespace
``gauntlet-bundle``, so anyone can check it offline with the standard tool::

    ssh-keygen -Y verify -f allowed_signers -I gauntlet-bundle -n gauntlet-bundle \\
        -s bundle.lock.json.sig < bundle.lock.json

with an allowed_signers line (ssh-keygen(1), ALLOWED SIGNERS)::

    gauntlet-bundle namespaces="gauntlet-bundle" ssh-ed25519 AAAA...

ssh-keygen runs with the data on stdin (signature to stdout: it never asks to overwrite) and
in a new session (no controlling terminal: a passphrase-protected key fails at once instead of
waiting for a prompt).

Files are checked against the lock by every consumer (the bundle_file lookup, the k3s role).
Images are pushed from the layout's index.json, whose blobs are content-addressed and checked
on read: `layout_problems` ties that index to the signed lock (every entry named there with
the lock's digest), so the signature covers the images too.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tempfile

from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_ref import ImageRefError, parse_image
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.content import ContentError
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.layout import OciLayout

NAMESPACE = "gauntlet-bundle"
PRINCIPAL = "gauntlet-bundle"
SIGNATURE_SUFFIX = ".sig"
_ARMOUR = b"-----BEGIN SSH SIGNATURE-----"
# Public key algorithms ssh-keygen -Y accepts (ssh-keygen(1), sshsig.c), as an OpenSSH public key line names them.
KEY_TYPES = frozenset(
    [
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    ]
)
_TIMEOUT = 60
PUBLIC_KEY_VARIABLE = "gauntlet_bundle_public_key"
SIGNING_KEY_VARIABLE = "gauntlet_bundle_signing_key"


class BundleSignatureError(ValueError):
    """What is wrong and how to fix it."""


def parse_public_key(text) -> tuple:
    """(type, base64 blob) of one OpenSSH public key line (`ssh-ed25519 AAAA... comment`)."""
    if not isinstance(text, str) or not text.strip():
        raise BundleSignatureError(
            f"{PUBLIC_KEY_VARIABLE} is empty: give the signer's public key line (the .pub file's content)"
        )
    lines = [line for line in text.strip().splitlines() if line.strip()]
    parts = lines[0].split()
    if len(lines) != 1 or len(parts) < 2 or parts[0] not in KEY_TYPES:
        raise BundleSignatureError(
            f"{PUBLIC_KEY_VARIABLE} is not one OpenSSH public key line ('<type> <base64> [comment]', type one of "
            f"{', '.join(sorted(KEY_TYPES))}): paste the content of the signing key's .pub file, never the private key"
        )
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except ValueError:
        blob = b""
    # The blob starts with the key type as an SSH string (RFC 4253 §6.6).
    name = parts[0].encode()
    if blob[:4] != len(name).to_bytes(4, "big") or blob[4 : 4 + len(name)] != name:
        raise BundleSignatureError(
            f"{PUBLIC_KEY_VARIABLE}: the key data is not a {parts[0]} key (damaged when copied?)"
        )
    return parts[0], parts[1]


def allowed_signers(public_key_text) -> str:
    """The allowed_signers line trusting this key for bundle signatures only."""
    key_type, blob = parse_public_key(public_key_text)
    return f'{PRINCIPAL} namespaces="{NAMESPACE}" {key_type} {blob}\n'


def signature_path(lock_path: str) -> str:
    return lock_path + SIGNATURE_SUFFIX


def ssh_keygen() -> str:
    found = shutil.which("ssh-keygen")
    if not found:
        raise BundleSignatureError(
            "ssh-keygen is not installed on the controller: install OpenSSH's client (Debian: openssh-client)"
        )
    return found


def _run(argv, data: bytes):
    try:
        proc = subprocess.run(  # noqa: S603 - ssh-keygen with a fixed argv, no shell
            [ssh_keygen(), *argv],
            input=data,
            capture_output=True,
            timeout=_TIMEOUT,
            start_new_session=True,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BundleSignatureError(f"ssh-keygen {argv[0]} {argv[1]} did not finish within {_TIMEOUT} s") from exc
    return proc.returncode, proc.stdout, proc.stderr.decode(errors="replace").strip()


def _read(path: str, what: str, fix: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError as exc:
        raise BundleSignatureError(f"{what} {path} is missing: {fix}") from exc
    except OSError as exc:
        raise BundleSignatureError(f"{what} {path} cannot be read ({exc.strerror}): {fix}") from exc


def public_key_of(key_path: str) -> str:
    """The public key line of a signing key: the .pub file itself, or derived from the private key."""
    if key_path.endswith(".pub"):
        return _read(key_path, "signing key", f"set {SIGNING_KEY_VARIABLE} to an existing key file").decode().strip()
    _read(key_path, "signing key", f"set {SIGNING_KEY_VARIABLE} to the path of the private key (never kept in git)")
    rc, out, err = _run(["-y", "-f", key_path], b"")
    if rc != 0:
        raise BundleSignatureError(_key_problem(key_path, err))
    return out.decode().strip()


def _key_problem(key_path: str, err: str) -> str:
    if "passphrase" in err:
        return (
            f"signing key {key_path} is passphrase-protected and there is no terminal to ask: load it into ssh-agent "
            f"(ssh-add {key_path}) and set {SIGNING_KEY_VARIABLE} to its .pub file"
        )
    return f"signing key {key_path} cannot be used by ssh-keygen: {err or 'no reason given'}"


def sign(lock_path: str, key_path: str) -> bytes:
    """The armoured signature of the lock's bytes, made with the key (a .pub file: its ssh-agent key)."""
    data = _read(lock_path, "bundle lock", "build the bundle first (playbooks/bundle.yml)")
    if not os.path.exists(key_path):
        raise BundleSignatureError(
            f"signing key {key_path} is missing: set {SIGNING_KEY_VARIABLE} to the path of the private key "
            "(ssh-keygen -t ed25519 -f <path>; keep it out of git), or to a .pub file whose key is in ssh-agent"
        )
    rc, out, err = _run(["-Y", "sign", "-n", NAMESPACE, "-f", key_path], data)
    if rc != 0 or not out.startswith(_ARMOUR):
        raise BundleSignatureError(_key_problem(key_path, err))
    return out


def verify(lock_path: str, public_key_text: str, sig_path: str | None = None) -> str:
    """Check the lock against its signature and the trusted key; return ssh-keygen's 'Good ...' line.

    Raises BundleSignatureError saying which check failed: missing lock, missing or malformed
    signature, a signature by another key, or a lock changed after signing.
    """
    line = allowed_signers(public_key_text)
    sig_path = sig_path or signature_path(lock_path)
    data = _read(lock_path, "bundle lock", "copy the whole bundle folder from the connected machine")
    sign_hint = (
        f"sign it where it was built (playbooks/bundle.yml -e {SIGNING_KEY_VARIABLE}=<private key>) and copy "
        f"{os.path.basename(sig_path)} with the bundle"
    )
    signature = _read(sig_path, "the bundle's signature", f"the bundle is unsigned; {sign_hint}")
    if not signature.lstrip().startswith(_ARMOUR):
        raise BundleSignatureError(
            f"{sig_path} is not an SSH signature (no '-----BEGIN SSH SIGNATURE-----'): the bundle is unsigned; {sign_hint}"
        )
    with tempfile.TemporaryDirectory(prefix="gauntlet-sig-") as tmp:
        allowed = os.path.join(tmp, "allowed_signers")
        with open(allowed, "w", encoding="utf-8") as handle:
            handle.write(line)
        rc, out, err = _run(["-Y", "find-principals", "-f", allowed, "-s", sig_path], b"")
        if rc != 0:
            raise BundleSignatureError(
                f"{sig_path} was not made with the key in {PUBLIC_KEY_VARIABLE} ({fingerprint(public_key_text)}): "
                "the bundle comes from another signer. Sign it with the matching private key, or, if you trust "
                f"that signer, set {PUBLIC_KEY_VARIABLE} to their public key"
            )
        rc, out, err = _run(
            ["-Y", "verify", "-f", allowed, "-I", PRINCIPAL, "-n", NAMESPACE, "-s", sig_path],
            data,
        )
        if rc != 0:
            raise BundleSignatureError(
                f"{lock_path} does not match its signature {sig_path} (ssh-keygen: {err or out.decode().strip()}): "
                f"the lock was changed after it was signed (or signed for another namespace than {NAMESPACE}). "
                "Do not use this bundle: copy it again from the connected machine, or rebuild and sign it there"
            )
    return out.decode().strip() or err


def fingerprint(public_key_text: str) -> str:
    """The key's SHA256 fingerprint as `ssh-keygen -l` prints it."""
    _key_type, blob = parse_public_key(public_key_text)
    digest = hashlib.sha256(base64.b64decode(blob)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def signature_is_current(lock_path: str, key_path: str) -> bool:
    """Does the existing signature already verify for this lock and this key? (idempotent signing)"""
    sig_path = signature_path(lock_path)
    if not os.path.exists(sig_path):
        return False
    try:
        verify(lock_path, public_key_of(key_path), sig_path)
    except BundleSignatureError:
        return False
    return True


def _normal(name: str) -> str:
    try:
        return str(parse_image(name))
    except ImageRefError:
        return name


def layout_problems(lock_path: str, images_dir: str) -> list:
    """Entries of the bundle's image layout (images/index.json) that the signed lock does not vouch for.

    Call after verify(). No layout (a bundle without images): nothing to check.
    """
    if not os.path.isfile(os.path.join(images_dir, "index.json")):
        return []
    try:
        with open(lock_path, encoding="utf-8") as handle:
            lock = json.load(handle)
        locked = {_normal(entry["name"]): entry["digest"] for entry in lock.get("images", [])}
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        return [f"{lock_path} has no readable 'images' list ({exc})"]
    try:
        entries = OciLayout(images_dir).entries()
    except ContentError as exc:
        return [str(exc)]
    problems = []
    for entry in entries:
        digest = locked.get(entry.name)
        if digest is None:
            problems.append(
                f"images/index.json names {entry.name} ({entry.digest}), which the signed lock does not list"
            )
        elif digest != entry.digest:
            problems.append(f"{entry.name} is {entry.digest} in images/index.json but {digest} in the signed lock")
    return problems
