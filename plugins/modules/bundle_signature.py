#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Sign the bundle lock, or verify its signature, with ssh-keygen -Y."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: bundle_signature
short_description: Sign the bundle lock, or verify its signature, with OpenSSH signatures (ssh-keygen -Y)
version_added: 0.1.0
description:
  - O(state=signed) writes C(<lock>.sig), the armoured signature C(ssh-keygen -Y sign) makes over the lock's bytes in
    the namespace C(gauntlet-bundle). Idempotent, an existing signature that verifies for this lock and this key is kept.
  - O(state=verified) checks the lock against C(<lock>.sig) and the trusted public key, as
    C(ssh-keygen -Y verify -f allowed_signers -I gauntlet-bundle -n gauntlet-bundle) does with an allowed_signers file
    that trusts that key for this namespace only. It fails, saying what and how to fix, when the lock or the
    signature is missing, the signature is not an SSH signature, it was made with another key, or the lock changed
    after signing.
  - With O(state=verified) and no O(public_key), nothing is verified; when a signature exists, a warning says so.
  - The lock holds the sha256 of every bundle file and the digest of every image, so the signature covers the bundle;
    with O(state=verified), every entry of the image layout beside the lock (C(images/index.json)) must be in the
    signed lock with the same digest (the layout's blobs are content-addressed and checked when read).
  - Runs on the controller. Needs C(ssh-keygen) (OpenSSH's client).
options:
  lock_file:
    description: Path of the bundle lock (C(bundle.lock.json)).
    type: path
    required: true
  state:
    description: V(signed) signs the lock; V(verified) checks it.
    type: str
    choices: [signed, verified]
    default: verified
  signing_key:
    description:
      - Path of the private key to sign with (never kept in git), or of a C(.pub) file whose private key is loaded in
        C(ssh-agent) (for a passphrase-protected key). Required with O(state=signed).
    type: path
  public_key:
    description:
      - The trusted signer's public key, one OpenSSH public key line (C(ssh-ed25519 AAAA... comment)).
        Used with O(state=verified).
    type: str
author:
  - Cloud Native Gauntlet developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Sign the lock on the connected machine
  gauntlet.platform.bundle_signature:
    lock_file: bundle/bundle.lock.json
    state: signed
    signing_key: ~/.ssh/gauntlet-bundle

- name: Verify it on the controller before any file is used
  gauntlet.platform.bundle_signature:
    lock_file: bundle/bundle.lock.json
    public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI... bundle-signer"
"""

RETURN = r"""
signature_file:
  description: Path of the signature.
  returned: always
  type: str
  sample: bundle/bundle.lock.json.sig
verified:
  description: Whether the lock was verified against the public key.
  returned: always
  type: bool
fingerprint:
  description: SHA256 fingerprint of the key that signed (state=signed) or is trusted (state=verified).
  returned: when a key is given
  type: str
  sample: SHA256:tS8pzPutn42vBqtvxdXrtzbEIYOr2DoHQHA8BC+NVwo
message:
  description: ssh-keygen's verdict.
  returned: when verified
  type: str
  sample: Good "gauntlet-bundle" signature for gauntlet-bundle with ED25519 key SHA256:tS8p...
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gauntlet.platform.plugins.module_utils.atomic_file import atomic_write
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle.signature import (
    PUBLIC_KEY_VARIABLE,
    BundleSignatureError,
    fingerprint,
    layout_problems,
    public_key_of,
    sign,
    signature_is_current,
    signature_path,
    verify,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "lock_file": {"type": "path", "required": True},
            "state": {"type": "str", "choices": ["signed", "verified"], "default": "verified"},
            "signing_key": {"type": "path"},
            "public_key": {"type": "str"},
        },
        required_if=[("state", "signed", ["signing_key"])],
        supports_check_mode=True,
    )
    lock_file = module.params["lock_file"]
    sig_file = signature_path(lock_file)
    result = {"changed": False, "signature_file": sig_file, "verified": False}
    try:
        if module.params["state"] == "signed":
            key = module.params["signing_key"]
            if signature_is_current(lock_file, key):
                result["fingerprint"] = fingerprint(public_key_of(key))
                module.exit_json(**result)
            signature = sign(lock_file, key)
            result["fingerprint"] = fingerprint(public_key_of(key))
            result["changed"] = True
            if not module.check_mode:
                atomic_write(sig_file, signature, mode=0o644)
            module.exit_json(**result)
        public_key = (module.params["public_key"] or "").strip()
        if not public_key:
            if os.path.exists(sig_file):
                module.warn(
                    f"{lock_file} is signed but {PUBLIC_KEY_VARIABLE} is not set: the signature was NOT verified. "
                    f"Set {PUBLIC_KEY_VARIABLE} to the signer's public key (docs/security.md#signed-bundles)"
                )
            module.exit_json(**result)
        result["fingerprint"] = fingerprint(public_key)
        result["message"] = verify(lock_file, public_key, sig_file)
        problems = layout_problems(lock_file, os.path.join(os.path.dirname(lock_file), "images"))
        if problems:
            module.fail_json(
                msg=f"bundle signature: the lock is signed, but the images of the bundle do not match it: {'; '.join(problems)}. "
                "The bundle was changed after signing: do not use it; copy it again from the connected machine, "
                "or rebuild and sign it there",
                **result,
            )
        result["verified"] = True
    except BundleSignatureError as exc:
        module.fail_json(msg=f"bundle signature: {exc}", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
