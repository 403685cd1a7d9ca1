"""vip_address_info on a real network: two network namespaces this test creates, joined by veth pairs.

The "server" namespace runs the module (as its root, through an unprivileged user namespace) and
has two links: v0 (10.99.0.1/24, default route via 10.99.0.254) and w0 (10.55.0.1/24). The peer
namespace holds 10.99.0.50 on v0's other end, so that address answers ARP; 10.99.0.60 answers
nothing. No packet leaves the namespaces (network rule, DESIGN.md section 4).
"""

import json
import subprocess
import sys
from pathlib import Path

import loopback_netns
import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.k3s.vip_address import arp_answer, arp_frame, problems

REPO = Path(__file__).resolve().parents[4]
MODULE = REPO / "plugins/modules/vip_address_info.py"

# Runs inside `unshare --map-root-user --net`: the peer is a child network namespace.
SETUP = r"""
set -e
ip link set lo up
unshare --net sleep 60 &
PEER=$!
trap 'kill $PEER' EXIT
sleep 0.2
ip link add v0 type veth peer name v1 netns $PEER
ip link add w0 type veth peer name w1 netns $PEER
ip addr add 10.99.0.1/24 dev v0
ip addr add 10.55.0.1/24 dev w0
ip link set v0 up
ip link set w0 up
nsenter --net=/proc/$PEER/ns/net sh -c 'ip link set v1 up; ip link set w1 up; ip addr add 10.99.0.50/24 dev v1'
ip route add default via 10.99.0.254 dev v0
ip addr add 10.99.0.70/32 dev v0
for case in "$@"; do
  printf '%s' "$case" | PYTHONPATH="$COLLECTIONS" "$PYTHON" "$MODULE" || true
  echo
done
"""

CASES = {
    "free": {"address": "10.99.0.60", "probe": True, "timeout": 1.5},
    "taken": {"address": "10.99.0.50", "probe": True, "timeout": 1.5},
    "taken-but-deployed": {"address": "10.99.0.50", "probe": True, "timeout": 1.5, "deployed": True},
    "routed": {"address": "10.98.0.5", "probe": True},
    "other-link": {"address": "10.55.0.9"},
    "other-link-named": {"address": "10.55.0.9", "interface": "w0", "probe": True, "timeout": 1},
    "held-here": {"address": "10.99.0.70", "probe": True},
    "held-here-deployed": {"address": "10.99.0.70", "deployed": True},
    "no-such-interface": {"address": "10.99.0.60", "interface": "eth9"},
}


@pytest.fixture(scope="module")
def results():
    loopback_netns.require()
    names = list(CASES)
    args = [json.dumps({"ANSIBLE_MODULE_ARGS": CASES[name]}) for name in names]
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "PYTHON": sys.executable,
        "MODULE": str(MODULE),
        "COLLECTIONS": str(REPO / "collections"),
    }
    run = subprocess.run(
        ["unshare", "--map-root-user", "--net", "sh", "-c", SETUP, "vip-netns", *args],
        capture_output=True, text=True, env=env, check=False, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    assert len(lines) == len(names), run.stdout + run.stderr
    return {name: json.loads(line) for name, line in zip(names, lines, strict=True)}


def test_a_free_on_link_address_passes(results):
    free = results["free"]
    assert free["route"]["dev"] == "v0" and free["route"]["gateway"] is None
    assert free["default_dev"] == "v0" and free["answer"] is None and free["held_by"] is None
    assert free["problems"] == [] and free["changed"] is False


def test_an_address_another_host_answers_for_is_in_use(results):
    taken = results["taken"]
    assert taken["answer"] and len(taken["answer"]) == 17
    (problem,) = taken["problems"]
    assert problem.startswith(
        f"the control-plane address 10.99.0.50 is in use: {taken['answer']} answered an ARP probe"
    )
    assert "k3s_kube_vip_address_check: false" in problem
    # Once kube-vip is deployed it answers for the address itself: no problem then.
    assert results["taken-but-deployed"]["problems"] == []


def test_an_address_behind_a_gateway_is_not_in_the_servers_subnet(results):
    (problem,) = results["routed"]["problems"]
    assert "10.98.0.5 is not in a subnet of the interfaces of this host" in problem
    assert "through the gateway 10.99.0.254 on v0" in problem
    assert results["routed"]["answer"] is None  # no probe off the link


def test_the_interface_kube_vip_would_use_must_be_the_one_of_the_subnet(results):
    (problem,) = results["other-link"]["problems"]
    assert (
        "in the subnet of w0 on this host, but kube-vip would put it on v0 (the default route's interface v0)"
        in problem
    )
    assert problem.endswith("set k3s_kube_vip_interface: w0")
    assert results["other-link-named"]["problems"] == []


def test_an_address_already_on_this_host(results):
    (problem,) = results["held-here"]["problems"]
    assert "10.99.0.70 is already configured on interface v0 of this host, before kube-vip was deployed" in problem
    assert results["held-here-deployed"]["problems"] == []


def test_an_interface_that_does_not_exist(results):
    (problem,) = results["no-such-interface"]["problems"]
    assert problem.startswith("k3s_kube_vip_interface 'eth9' does not exist on this host (it has: lo, v0, w0)")


# --- the pure parts --------------------------------------------------------------------
MAC = bytes.fromhex("020000000001")


def test_the_probe_frame_is_an_rfc5227_probe():
    frame = arp_frame(MAC, "10.99.0.60")
    assert len(frame) == 60 and frame[:6] == b"\xff" * 6 and frame[12:14] == b"\x08\x06"
    assert frame[20:22] == b"\x00\x01"  # request
    assert frame[28:32] == b"\0\0\0\0" and frame[38:42] == bytes([10, 99, 0, 60])


def test_answers_count_only_from_another_host_claiming_the_address():
    other = bytes.fromhex("02aabbccddee")
    reply = b"\xff" * 6 + other + b"\x08\x06" + bytes.fromhex("0001080006040002") + other + bytes([10, 99, 0, 60])
    reply += MAC + b"\0\0\0\0"
    assert arp_answer(reply, "10.99.0.60", MAC) == "02:aa:bb:cc:dd:ee"
    assert arp_answer(reply, "10.99.0.61", MAC) is None
    assert arp_answer(arp_frame(MAC, "10.99.0.60"), "10.99.0.60", MAC) is None  # our own probe
    assert arp_answer(b"\0" * 20, "10.99.0.60", MAC) is None


def test_no_default_route_and_no_interface_asks_for_one():
    seen = {"interfaces": ["eth1"], "route": {"type": "unicast", "dev": "eth1"}, "default_dev": None}
    (problem,) = problems("10.0.0.9", "", seen, False, "s1")
    assert problem == (
        "s1 has no IPv4 default route, so kube-vip cannot pick an interface for 10.0.0.9 by itself; set "
        "k3s_kube_vip_interface: eth1 (the interface whose subnet holds the address)"
    )


def test_an_unreachable_address_is_explained():
    seen = {"interfaces": ["eth1"], "route": {"type": "unreachable", "error": "Network is unreachable"}}
    (problem,) = problems("10.9.0.9", "", seen, False, "s2")
    assert (
        "10.9.0.9 is not in a subnet of the interfaces of s2 (it has no route there (Network is unreachable))"
        in problem
    )
