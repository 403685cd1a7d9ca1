#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Read-only module: can kube-vip hold a virtual address from this host (on-link, free)?"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vip_address_info
short_description: Check that a virtual IPv4 address is on-link and free before kube-vip takes it
version_added: 0.1.0
description:
  - Reads the host's addresses and routes (C(ip -j), iproute2) and reports whether O(address) is on-link on the
    interface kube-vip would use (O(interface), or the interface of the default route, as kube-vip picks it),
    whether this host already holds it, and, with O(probe), whether any host answers an ARP probe for it
    (RFC 5227 2.1.1, sender address 0.0.0.0, so no neighbour learns anything from the probe).
  - Changes nothing. The probe needs root (a raw packet socket); run it with become.
  - Used by role k3s before kube-vip is first deployed (docs/k3s.md#kube-vip).
options:
  address:
    description: The virtual IPv4 address.
    type: str
    required: true
  interface:
    description: The interface kube-vip puts the address on; empty for the interface of the default route.
    type: str
    default: ''
  probe:
    description: Send ARP probes for O(address) and report an answer.
    type: bool
    default: false
  timeout:
    description: Seconds to wait for an ARP answer (three probes spread over it).
    type: float
    default: 3
  deployed:
    description:
      - kube-vip is already deployed, so it may hold the address itself; then holding or answering for it is no
        problem.
    type: bool
    default: false
extends_documentation_fragment:
  - gauntlet.platform.attributes
  - gauntlet.platform.attributes.no_diff
author:
  - Cloud Native Gauntlet developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Check the control-plane address before kube-vip takes it
  gauntlet.platform.vip_address_info:
    address: 192.168.56.100
    interface: eth1
    probe: true
  become: true
  register: vip
"""

RETURN = r"""
interfaces:
  description: The host's interfaces.
  returned: always
  type: list
  elements: str
held_by:
  description: The interface of this host that holds the address already, or null.
  returned: always
  type: str
route:
  description: How the host reaches the address (C(ip route get)); C(gateway) set means it is not on-link.
  returned: always
  type: dict
  sample: {"type": "unicast", "dev": "eth1", "gateway": null, "prefsrc": "192.168.56.11"}
default_dev:
  description: The interface of the IPv4 default route, or null.
  returned: always
  type: str
answer:
  description: The hardware address that answered the ARP probe, or null (no answer, or no probe sent).
  returned: always
  type: str
problems:
  description: Why kube-vip cannot hold the address from this host, one message each; empty when it can.
  returned: always
  type: list
  elements: str
"""

import socket

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.gauntlet.platform.plugins.module_utils.k3s.vip_address import (
    ProbeError,
    arp_probe,
    hardware_address,
    problems,
    read_host,
)


def run(params: dict, host: str, ip) -> dict:
    """What this host sees of the address, and the problems for kube-vip; `ip` runs `ip <argv>`."""
    address = params["address"]
    seen = read_host(address, ip)
    route = seen["route"]
    on_link = route.get("type") == "unicast" and not route.get("gateway") and route.get("dev")
    seen["answer"] = None
    if params["probe"] and on_link and not seen["held_by"]:
        own_mac = hardware_address(route["dev"], ip)
        seen["answer"] = arp_probe(route["dev"], own_mac, address, params["timeout"])
    seen["problems"] = problems(address, params["interface"], seen, params["deployed"], host)
    return seen


def main():
    module = AnsibleModule(
        argument_spec={
            "address": {"type": "str", "required": True},
            "interface": {"type": "str", "default": ""},
            "probe": {"type": "bool", "default": False},
            "timeout": {"type": "float", "default": 3},
            "deployed": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    try:
        socket.inet_aton(module.params["address"])
        if module.params["address"].count(".") != 3:
            raise OSError
    except OSError:
        module.fail_json(msg=f"address '{module.params['address']}' is not an IPv4 address; give the virtual address")
    if not 0 < module.params["timeout"] <= 60:
        module.fail_json(msg=f"timeout {module.params['timeout']} must be between 0 and 60 seconds")
    ip_bin = module.get_bin_path("ip")
    if not ip_bin:
        module.fail_json(msg="`ip` (iproute2) is not installed on this host; install iproute2 (role host_prep does)")

    def ip(argv):
        return module.run_command([ip_bin, *argv])

    try:
        result = run(module.params, "this host", ip)
    except ProbeError as error:
        module.fail_json(msg=f"cannot check the address {module.params['address']} on this host: {error}")
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
