#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Read-only module: the validity period of every certificate file matching some patterns."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: certificate_expiry_info
short_description: Read the validity period of certificate files on a host
version_added: 0.1.0
description:
  - Reads every PEM file matching O(paths) (shell patterns) in one pass and returns, for the first certificate of each
    (a file may hold a chain; the leaf comes first), its subject common name and validity period.
  - Needs neither C(openssl) nor Python's C(cryptography) on the host; the dates are read from the DER encoding.
  - Used by the C(certificates) row of C(playbooks/verify.yml). Never changes anything; a file that cannot be read or
    parsed is listed in RV(errors), not a failure of the module.
options:
  paths:
    description: Files or shell patterns (C(/var/lib/rancher/k3s/server/tls/*.crt)). A pattern matching nothing is
      listed in RV(unmatched).
    type: list
    elements: str
    required: true
notes:
  - Supports check mode (it only reads).
  - Usually needs C(become), as k3s's and the registry's certificate folders are not world-readable.
extends_documentation_fragment:
  - gauntlet.platform.attributes
  - gauntlet.platform.attributes.no_diff
author:
  - Cloud Native Gauntlet developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Read k3s's certificates
  gauntlet.platform.certificate_expiry_info:
    paths:
      - /var/lib/rancher/k3s/server/tls/*.crt
      - /var/lib/rancher/k3s/agent/*.crt
  become: true
  register: __certificates
"""

RETURN = r"""
certificates:
  description: One entry per file read, sorted by path.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The file.
      type: str
    subject:
      description: The subject's common name (empty when it has none).
      type: str
    not_before:
      description: Start of validity, UTC, C(YYYY-MM-DDTHH:MM:SSZ).
      type: str
    not_after:
      description: End of validity, UTC, C(YYYY-MM-DDTHH:MM:SSZ).
      type: str
errors:
  description: Files that matched but could not be read or parsed, with why.
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/etc/gauntlet-registry/tls.crt", "msg": "Permission denied"}]
unmatched:
  description: Entries of O(paths) that matched no file.
  returned: always
  type: list
  elements: str
"""

import glob

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gauntlet.platform.plugins.module_utils.verify.x509_validity import (
    CertificateError,
    first_pem_certificate,
)

# A certificate file is small; anything larger is not one.
MAX_SIZE = 1 << 20
_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def read_certificates(patterns: list) -> dict:
    """The module's answer for ``patterns`` (no exception for unreadable files)."""
    certificates, errors, unmatched = [], [], []
    seen = set()
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            unmatched.append(pattern)
        for path in matches:
            if path in seen:
                continue
            seen.add(path)
            try:
                with open(path, "rb") as handle:
                    data = handle.read(MAX_SIZE + 1)
            except FileNotFoundError:
                unmatched.append(path)
                continue
            except OSError as exc:
                errors.append({"path": path, "msg": exc.strerror or str(exc)})
                continue
            if len(data) > MAX_SIZE:
                errors.append({"path": path, "msg": f"larger than {MAX_SIZE} bytes: not a certificate file"})
                continue
            try:
                cert = first_pem_certificate(data)
            except CertificateError as exc:
                errors.append({"path": path, "msg": str(exc)})
                continue
            certificates.append(
                {
                    "path": path,
                    "subject": cert["subject"],
                    "not_before": cert["not_before"].strftime(_FORMAT),
                    "not_after": cert["not_after"].strftime(_FORMAT),
                }
            )
    certificates.sort(key=lambda c: c["path"])
    return {"certificates": certificates, "errors": errors, "unmatched": unmatched}


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(paths=dict(type="list", elements="str", required=True)),
        supports_check_mode=True,
    )
    if not module.params["paths"]:
        module.fail_json(msg="paths is empty: name at least one certificate file or pattern")
    module.exit_json(changed=False, **read_certificates(module.params["paths"]))


if __name__ == "__main__":
    main()
