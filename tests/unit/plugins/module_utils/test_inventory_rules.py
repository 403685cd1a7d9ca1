import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.rules import (
    domain_problem,
    inventory_problems,
    ipv4_problem,
    server_count_problem,
)


def good_inventory(**changes):
    inventory = {
        "groups": {"k3s_servers": ["s1"], "k3s_agents": ["a1"], "registry": ["r1"]},
        "hosts": {"s1": "10.0.0.11", "a1": "10.0.0.21", "r1": "10.0.0.30"},
        "domains": {"gitea": "gitea.local", "registry": "registry.local"},
        "versions": {"k3s": "v1.36.4+k3s1"},
        "required_groups": ["k3s_servers", "k3s_agents", "registry"],
        "required_versions": ["k3s"],
    }
    inventory.update(changes)
    return inventory


def test_valid_inventory_has_no_problems():
    assert inventory_problems(good_inventory()) == []


@pytest.mark.parametrize("name", ["gitea.local", "a.b-c.d", "x", "registry.local.", "A1.Local"])
def test_valid_domains(name):
    assert domain_problem(name) is None


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("gitea_local", "underscores"),
        ("-bad.local", "starts or ends with a hyphen"),
        ("bad-.local", "starts or ends with a hyphen"),
        ("a..local", "empty label"),
        ("", "empty"),
        (None, "empty"),
        ("x" * 64 + ".local", "letters, digits"),
        ("é.local", "letters, digits"),
        ("a." * 127 + "local", "longer than 253"),
    ],
)
def test_invalid_domains(name, why):
    assert why in domain_problem(name)


@pytest.mark.parametrize("address", ["10.0.0.1", "192.168.56.11", "127.0.0.2"])
def test_valid_ipv4(address):
    assert ipv4_problem(address) is None


@pytest.mark.parametrize(
    "address", ["not-an-ip", "10.0.0", "10.0.0.256", "::1", "0.0.0.0", "224.0.0.1", "255.255.255.255"]
)
def test_invalid_ipv4(address):
    assert ipv4_problem(address) is not None


@pytest.mark.parametrize(("count", "ok"), [(0, False), (1, True), (2, False), (3, True), (4, False), (5, True)])
def test_server_counts(count, ok):
    assert (server_count_problem(count) is None) is ok


def test_duplicate_host_ip_names_both_hosts():
    problems = inventory_problems(good_inventory(hosts={"s1": "10.0.0.11", "a1": "10.0.0.11", "r1": "10.0.0.30"}))
    assert problems == ["hosts 'a1' and 's1' share the address 10.0.0.11: give each host its own node_ip"]


def test_invalid_domain_names_the_variable_and_fix():
    problems = inventory_problems(good_inventory(domains={"gitea": "gitea_local"}))
    assert len(problems) == 1
    assert problems[0].startswith("local_domains_services.gitea = 'gitea_local' is not a valid domain")
    assert "use a name like 'gitea.local'" in problems[0]


def test_two_servers():
    groups = {"k3s_servers": ["s1", "s2"], "k3s_agents": ["a1"], "registry": ["r1"]}
    hosts = {"s1": "10.0.0.11", "s2": "10.0.0.12", "a1": "10.0.0.21", "r1": "10.0.0.30"}
    problems = inventory_problems(good_inventory(groups=groups, hosts=hosts))
    assert problems == [
        "group 'k3s_servers': there are 2 k3s servers; embedded etcd needs 1 or an odd number >= 3; "
        "add or remove servers in hosts.yml"
    ]


def test_missing_registry_group():
    groups = {"k3s_servers": ["s1"], "k3s_agents": ["a1"]}
    problems = inventory_problems(good_inventory(groups=groups, hosts={"s1": "10.0.0.11", "a1": "10.0.0.21"}))
    assert problems == [
        "group 'registry' is missing from the inventory: add it to hosts.yml (see inventory/sample/hosts.yml)"
    ]


def test_two_registry_hosts():
    groups = {"k3s_servers": ["s1"], "k3s_agents": ["a1"], "registry": ["r1", "r2"]}
    hosts = {"s1": "10.0.0.11", "a1": "10.0.0.21", "r1": "10.0.0.30", "r2": "10.0.0.31"}
    assert "must hold exactly one host" in inventory_problems(good_inventory(groups=groups, hosts=hosts))[0]


def test_non_ip_and_missing_address():
    problems = inventory_problems(good_inventory(hosts={"s1": "server-1.example", "a1": "", "r1": "10.0.0.30"}))
    assert problems == [
        "host 'a1': node_ip (or ansible_host) is not set; set node_ip to its IPv4 address",
        "host 's1': node_ip 'server-1.example' is invalid (it is not an IPv4 address); set node_ip to the host's IPv4 address",
    ]


def test_shared_domain_and_missing_version():
    problems = inventory_problems(
        good_inventory(domains={"gitea": "git.local", "drone": "GIT.local"}, versions={"k3s": ""})
    )
    assert problems == [
        "local_domains_services.gitea and .drone both use 'git.local': give each service its own name",
        "gauntlet_versions.k3s is not set: the collection pins it (roles/gauntlet/defaults/main/versions.yml); "
        "an inventory changes one version with gauntlet_version_overrides",
    ]


def test_every_problem_is_reported_at_once():
    problems = inventory_problems(
        good_inventory(
            groups={"k3s_servers": ["s1", "s2"], "k3s_agents": []},
            hosts={"s1": "10.0.0.1", "s2": "10.0.0.1"},
            domains={"gitea": "-bad.local"},
        )
    )
    assert len(problems) == 4


# --- What the controller resolves the local domains to --------------------------------------
ENTRIES = [
    {"address": "10.0.0.11", "names": ["gitea.local", "keycloak.local"]},
    {"address": "10.0.0.30", "names": ["registry.local"]},
]


def test_controller_resolving_every_name_has_no_problem():
    resolved = {
        "gitea.local": ["10.0.0.11"],
        "keycloak.local": ["10.0.0.99", "10.0.0.11"],
        "registry.local": ["10.0.0.30"],
    }
    assert inventory_problems(good_inventory(controller={"entries": ENTRIES, "resolved": resolved})) == []


def test_controller_resolution_names_each_wrong_name_and_both_fixes():
    resolved = {"gitea.local": [], "keycloak.local": ["10.0.0.99"], "registry.local": ["10.0.0.30"]}
    (problem,) = inventory_problems(good_inventory(controller={"entries": ENTRIES, "resolved": resolved}))
    assert "gitea.local -> nothing (wanted 10.0.0.11); keycloak.local -> 10.0.0.99 (wanted 10.0.0.11)." in problem
    assert "registry.local ->" not in problem
    assert "\n      10.0.0.11 gitea.local keycloak.local\n      10.0.0.30 registry.local\n" in problem
    assert "local_domains_manage_controller: true" in problem and "sudo on the controller" in problem


# --- Virtual addresses for HA: gauntlet_control_plane_address, gauntlet_ingress_address ------
def ha_inventory(**changes):
    inventory = good_inventory(
        groups={"k3s_servers": ["s1", "s2", "s3"], "k3s_agents": ["a1"], "registry": ["r1"]},
        hosts={"s1": "10.0.0.11", "s2": "10.0.0.12", "s3": "10.0.0.13", "a1": "10.0.0.21", "r1": "10.0.0.30"},
        ingress_address="10.0.0.11",
        control_plane_address="",
        node_network="",
    )
    inventory.update(changes)
    return inventory


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"control_plane_address": "10.0.0.100", "ingress_address": "10.0.0.101"},
        {"control_plane_address": "10.0.0.100", "node_network": "10.0.0.0/24"},
        {"control_plane_address": "172.16.5.5"},  # a load balancer in another network, no node_network given
        {"ingress_address": "10.0.0.21"},  # any k3s node answers 80/443 (ServiceLB); no HA, but valid
    ],
    ids=["defaults", "two-vips", "vip-in-network", "lb-elsewhere", "ingress-on-an-agent"],
)
def test_valid_addresses(changes):
    assert inventory_problems(ha_inventory(**changes)) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"control_plane_address": "10.0.0.12"},
            "gauntlet_control_plane_address '10.0.0.12' is the address of host 's2'",
        ),
        ({"control_plane_address": "127.0.0.1"}, "gauntlet_control_plane_address '127.0.0.1' is a loopback address"),
        (
            {"control_plane_address": "api.example"},
            "gauntlet_control_plane_address 'api.example' is invalid (it is not an IPv4 address)",
        ),
        ({"ingress_address": "169.254.0.5"}, "gauntlet_ingress_address '169.254.0.5' is a link-local address"),
        (
            {"ingress_address": "10.0.0.30"},
            "gauntlet_ingress_address '10.0.0.30' is the address of host 'r1', which is not a k3s node",
        ),
        ({"ingress_address": ""}, "gauntlet_ingress_address is empty"),
        (
            {"control_plane_address": "10.0.1.100", "node_network": "10.0.0.0/24"},
            "gauntlet_control_plane_address '10.0.1.100' is outside gauntlet_node_network 10.0.0.0/24",
        ),
        (
            {"ingress_address": "10.0.0.255", "node_network": "10.0.0.0/24"},
            "gauntlet_ingress_address '10.0.0.255' is the broadcast address of gauntlet_node_network 10.0.0.0/24",
        ),
        (
            {"control_plane_address": "10.0.0.0", "node_network": "10.0.0.0/24"},
            "gauntlet_control_plane_address '10.0.0.0' is the network address of gauntlet_node_network 10.0.0.0/24",
        ),
        ({"node_network": "10.0.0.1/24"}, "gauntlet_node_network '10.0.0.1/24' is not a network in CIDR form"),
        ({"node_network": "10.0.1.0/24"}, "host 'a1': node_ip 10.0.0.21 is outside gauntlet_node_network 10.0.1.0/24"),
    ],
    ids=[
        "vip-is-a-node",
        "loopback",
        "not-an-ip",
        "link-local",
        "registry-host",
        "empty-ingress",
        "outside",
        "broadcast",
        "network",
        "bad-cidr",
        "node-outside",
    ],
)
def test_bad_addresses_are_explained(changes, message):
    problems = inventory_problems(ha_inventory(**changes))
    assert any(message in problem for problem in problems), problems


# --- kube-vip holds the control-plane address (issue 17 item 1) -------------------------------
def kube_vip_inventory(**changes):
    return ha_inventory(
        **{"kube_vip": True, "control_plane_address": "10.0.0.100", "node_network": "10.0.0.0/24", **changes}
    )


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"kube_vip_interface": "ens18"},
        {"kube_vip_interface": "bond0.100"},
        {"node_network": ""},  # the servers' subnet is then checked on the servers (vip_address_info)
        {"ingress_address": "10.0.0.101"},
    ],
    ids=["defaults", "interface", "vlan-interface", "no-network", "ingress-vip"],
)
def test_valid_kube_vip_addresses(changes):
    assert inventory_problems(kube_vip_inventory(**changes)) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"control_plane_address": ""},
            "k3s_kube_vip is true but gauntlet_control_plane_address is empty: kube-vip needs the virtual address",
        ),
        (
            {"control_plane_address": "10.0.0.11"},
            "gauntlet_control_plane_address '10.0.0.11' is the address of host 's1'",
        ),
        (
            {"control_plane_address": "10.0.0.30"},
            "gauntlet_control_plane_address '10.0.0.30' is the address of host 'r1'",
        ),
        (
            {"control_plane_address": "10.0.1.100"},
            "gauntlet_control_plane_address '10.0.1.100' is outside gauntlet_node_network 10.0.0.0/24: a VIP must be "
            "in the servers' subnet, where kube-vip announces it with ARP",
        ),
        (
            {"control_plane_address": "10.0.0.255"},
            "gauntlet_control_plane_address '10.0.0.255' is the broadcast address of gauntlet_node_network",
        ),
        (
            {"control_plane_address": "10.0.0.300"},
            "gauntlet_control_plane_address '10.0.0.300' is invalid (it is not an IPv4 address)",
        ),
        ({"control_plane_address": "127.0.0.5"}, "gauntlet_control_plane_address '127.0.0.5' is a loopback address"),
        (
            {"control_plane_address": "10.0.0.101", "ingress_address": "10.0.0.101"},
            "gauntlet_control_plane_address '10.0.0.101' is also gauntlet_ingress_address",
        ),
        ({"kube_vip_interface": "eth0:1"}, "k3s_kube_vip_interface 'eth0:1' is not a network interface name"),
        ({"kube_vip_interface": "a" * 16}, f"k3s_kube_vip_interface '{'a' * 16}' is not a network interface name"),
        ({"kube_vip_interface": "eth 0"}, "k3s_kube_vip_interface 'eth 0' is not a network interface name"),
        ({"kube_vip_interface": "../x"}, "k3s_kube_vip_interface '../x' is not a network interface name"),
        ({"kube_vip_interface": ".."}, "k3s_kube_vip_interface '..' is not a network interface name"),
    ],
    ids=[
        "no-address",
        "a-server",
        "the-registry",
        "outside-subnet",
        "broadcast",
        "not-ipv4",
        "loopback",
        "same-as-ingress",
        "interface-alias",
        "interface-too-long",
        "interface-space",
        "interface-slash",
        "interface-dotdot",
    ],
)
def test_bad_kube_vip_inputs_are_explained(changes, message):
    problems = inventory_problems(kube_vip_inventory(**changes))
    assert any(message in problem for problem in problems), problems


def test_without_kube_vip_the_same_address_pair_is_not_its_business():
    # An outside VIP may serve both 6443 and 80/443 (one load balancer): only kube-vip forbids it.
    inventory = ha_inventory(control_plane_address="10.0.0.101", ingress_address="10.0.0.101")
    assert inventory_problems(inventory) == []
    # And an interface name only matters when kube-vip runs.
    assert inventory_problems(ha_inventory(kube_vip=False, kube_vip_interface="eth 0")) == []
