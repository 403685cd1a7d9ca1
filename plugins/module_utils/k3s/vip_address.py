# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Where an IPv4 virtual address sits on this host's network, and whether anything holds it.

Used on the k3s servers before kube-vip is deployed (module vip_address_info, docs/k3s.md#kube-vip).
kube-vip in ARP mode puts the address on one interface of the server that leads its election
and answers ARP for it (kube-vip v1.2.3 cmd/kube-vip.go: without vip_interface it takes the
interface of the default route, vip.GetDefaultGatewayInterface). So the address must be on-link
on that interface of every server (ARP reaches only the link), and nothing may answer for it yet.

The host side reads iproute2's JSON (`ip -j`; iproute2 is on every stock Debian image) and sends
an ARP probe (RFC 5227 section 2.1.1: sender IP 0.0.0.0, so no neighbour learns anything from it)
on a raw packet socket, which needs CAP_NET_RAW (root). `problems` is a pure function of what was
seen, so the rules are tested without a network.
"""

from __future__ import annotations

import json
import select
import socket
import struct
import time

ETH_P_ARP = 0x0806
_BROADCAST = b"\xff" * 6


class ProbeError(Exception):
    """The host could not be examined (no `ip`, no permission for the raw socket)."""


def _ip_json(run, *args: str):
    """`ip -j <args>` through `run` (argv -> (rc, stdout, stderr), AnsibleModule.run_command): (data, error)."""
    rc, out, err = run(["-j", *args])
    if rc != 0:
        return None, (err or "").strip()
    try:
        return json.loads(out or "[]"), ""
    except ValueError as error:
        raise ProbeError(f"`ip -j {' '.join(args)}` gave no JSON: {error}") from error


def read_host(address: str, run) -> dict:
    """What this host knows about `address`: interfaces, who holds it, its route, the default route."""
    links, error = _ip_json(run, "-4", "addr", "show")
    if links is None:
        raise ProbeError(f"`ip -j -4 addr show` failed: {error}")
    interfaces = sorted({link.get("ifname") for link in links if link.get("ifname")})
    all_links, _error = _ip_json(run, "link", "show")
    if all_links:
        interfaces = sorted({link.get("ifname") for link in all_links if link.get("ifname")})
    held_by = None
    for link in links:
        for info in link.get("addr_info") or []:
            if info.get("family") == "inet" and info.get("local") == address:
                held_by = link.get("ifname")
    routes, error = _ip_json(run, "-4", "route", "get", address)
    if routes is None:
        route = {"type": "unreachable", "error": error}
    else:
        first = routes[0] if routes else {}
        route = {
            "type": first.get("type") or "unicast",
            "dev": first.get("dev"),
            "gateway": first.get("gateway"),
            "prefsrc": first.get("prefsrc"),
        }
    defaults, _error = _ip_json(run, "-4", "route", "show", "default")
    default_dev = next((entry.get("dev") for entry in defaults or [] if entry.get("dev")), None)
    return {"interfaces": interfaces, "held_by": held_by, "route": route, "default_dev": default_dev}


def hardware_address(interface: str, run) -> bytes:
    """The MAC address of `interface`."""
    links, error = _ip_json(run, "link", "show", "dev", interface)
    text = (links or [{}])[0].get("address") if links is not None else None
    if not text:
        raise ProbeError(f"cannot read the hardware address of {interface}: {error or 'none reported'}")
    return bytes.fromhex(text.replace(":", ""))


def arp_frame(mac: bytes, address: str) -> bytes:
    """An ARP probe (RFC 5227 2.1.1): who has `address`, from sender IP 0.0.0.0, padded to 60 bytes."""
    header = _BROADCAST + mac + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + b"\0" * 4 + b"\0" * 6 + socket.inet_aton(address)
    return (header + arp).ljust(60, b"\0")


def arp_answer(frame: bytes, address: str, own_mac: bytes) -> str | None:
    """The hardware address of a host that claims `address` in this ARP frame, or None.

    A reply from `address`, or a request or announcement sent from `address` (RFC 5227 2.1.1:
    a probe that sees another host's request for or from the address has found a conflict).
    """
    if len(frame) < 42 or frame[12:14] != struct.pack("!H", ETH_P_ARP):
        return None
    sender_mac, sender_ip = frame[22:28], frame[28:32]
    if sender_ip != socket.inet_aton(address) or sender_mac == own_mac:
        return None
    return ":".join(f"{byte:02x}" for byte in sender_mac)


def arp_probe(interface: str, own_mac: bytes, address: str, timeout: float, attempts: int = 3) -> str | None:
    """Send ARP probes for `address` on `interface` (MAC `own_mac`) for `timeout` seconds; the answerer's MAC, or None."""
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    except PermissionError as error:
        raise ProbeError("sending an ARP probe needs root (CAP_NET_RAW); run the task with become") from error
    with sock:
        sock.bind((interface, ETH_P_ARP))
        frame = arp_frame(own_mac, address)
        deadline = time.monotonic() + timeout
        interval = timeout / max(attempts, 1)
        next_send = 0.0
        while True:
            now = time.monotonic()
            if now >= deadline:
                return None
            if now >= next_send:
                sock.send(frame)
                next_send = now + interval
            ready, _w, _x = select.select([sock], [], [], max(0.0, min(deadline, next_send) - now))
            if ready:
                answer = arp_answer(sock.recv(2048), address, own_mac)
                if answer:
                    return answer


def problems(address: str, interface: str, seen: dict, deployed: bool, host: str) -> list[str]:
    """Why kube-vip cannot hold `address` from this host, one message each (empty: it can).

    seen: read_host's result, plus `answer` (the MAC that answered the ARP probe, or None).
    deployed: kube-vip's manifest is already on the first server, so kube-vip itself may hold
    the address (here or on another server) and answer for it.
    """
    found = []
    interfaces = seen.get("interfaces") or []
    if interface and interface not in interfaces:
        found.append(
            f"k3s_kube_vip_interface '{interface}' does not exist on {host} (it has: {', '.join(interfaces) or 'none'}); "
            "set k3s_kube_vip_interface to the interface in the servers' subnet, the same name on every server, or "
            "leave it empty for the interface of the default route"
        )
        return found
    held_by = seen.get("held_by")
    if held_by:
        if not deployed:
            found.append(
                f"the control-plane address {address} is already configured on interface {held_by} of {host}, before "
                f"kube-vip was deployed: kube-vip must be the only one to hold it; remove it there (`ip addr del "
                f"{address}/32 dev {held_by}`, and from the host's network configuration) or pick a free address for "
                "gauntlet_control_plane_address"
            )
        return found
    route = seen.get("route") or {}
    expected = interface or seen.get("default_dev")
    if route.get("type") == "unreachable" or route.get("gateway") or route.get("type") not in (None, "unicast"):
        how = (
            f"it is reached through the gateway {route['gateway']} on {route.get('dev')}"
            if route.get("gateway")
            else f"it has no route there ({route.get('error') or route.get('type')})"
        )
        found.append(
            f"the control-plane address {address} is not in a subnet of the interfaces of {host} ({how}): kube-vip "
            "announces it with ARP, which reaches only the servers' own subnet; pick a free address in the subnet of "
            "the servers' node_ip for gauntlet_control_plane_address"
        )
        return found
    if not expected:
        found.append(
            f"{host} has no IPv4 default route, so kube-vip cannot pick an interface for {address} by itself; set "
            f"k3s_kube_vip_interface: {route.get('dev')} (the interface whose subnet holds the address)"
        )
    elif route.get("dev") != expected:
        source = f"k3s_kube_vip_interface '{interface}'" if interface else f"the default route's interface {expected}"
        found.append(
            f"the control-plane address {address} is in the subnet of {route.get('dev')} on {host}, but kube-vip would "
            f"put it on {expected} ({source}), where ARP does not reach that subnet; set "
            f"k3s_kube_vip_interface: {route.get('dev')}"
        )
    answer = seen.get("answer")
    if answer and not deployed:
        found.append(
            f"the control-plane address {address} is in use: {answer} answered an ARP probe for it from {host} on "
            f"{route.get('dev')}; kube-vip would fight that host for it. Pick a free address for "
            "gauntlet_control_plane_address, or, when it is held on purpose, set k3s_kube_vip_address_check: false"
        )
    return found
