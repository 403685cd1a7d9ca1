# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Options shared by the modules that call the Gitea and Drone APIs."""

from __future__ import annotations


class ModuleDocFragment:
    GITEA = r"""
options:
  url:
    description:
      - Base URL of Gitea, for example V(https://gitea.local).
      - The controller must resolve its name (see C(local_domains_manage_controller)), unless O(resolve) lists it.
    type: str
    required: true
  username:
    description: Account the module acts as (HTTP basic auth).
    type: str
    required: true
  password:
    description: Password of O(username).
    type: str
    required: true
  ca_path:
    description: CA file to verify the TLS certificate with (the platform's local CA); the system store when omitted.
    type: path
  timeout:
    description: Seconds per HTTP request.
    type: int
    default: 30
notes:
  - Certificates are always verified. Credentials are sent in headers or bodies, never in URLs or the output.
"""

    DRONE = r"""
options:
  url:
    description: Base URL of the Drone server, for example V(https://drone.local).
    type: str
    required: true
  token:
    description: API token of a Drone administrator (the C(token) of C(DRONE_USER_CREATE)).
    type: str
    required: true
  ca_path:
    description: CA file to verify the TLS certificate with (the platform's local CA); the system store when omitted.
    type: path
  timeout:
    description: Seconds per HTTP request (a synchronous repository sync can take a while).
    type: int
    default: 60
  repo:
    description: The repository, V(owner/name).
    type: str
    required: true
notes:
  - Certificates are always verified. The token is sent in a header only.
"""

    # Both services: modules add it as gauntlet.platform.service_api.resolve.
    RESOLVE = r"""
options:
  resolve:
    description:
      - Host name to IP address, like C(curl --resolve). Requests to a listed name connect to its address
        instead of asking the controller's resolver; TLS SNI, the certificate check and the C(Host) header
        still use the name, so the platform's certificate verifies as usual.
      - The platform's roles pass every local domain with its address (the same table as the hosts block),
        so these calls work from a controller that does not resolve the local domains.
    type: dict
    default: {}
"""
