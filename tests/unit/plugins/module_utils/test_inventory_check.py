"""The validation's rules (module_utils/inventory/) and what the action reads at run time.

The property tests give every input random shapes and assert the result is a list of
messages: the validation never raises, whatever a user writes.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from ansible_collections.gauntlet.platform.plugins.action.validate_inventory import (
    load_options,
    required_services,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.check import inventory_check
from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.pins import pinned_override_warnings
from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.variables import (
    spec_problems,
    unknown_variable_problem,
)
from collection_defaults import collection_defaults, sample_variables
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[4]
SAMPLE = REPO / "inventory" / "sample"
OPTIONS, PREFIXES, LOAD_PROBLEMS = load_options(REPO)
SERVICES = required_services(REPO)


def entry(value, origin="group_vars/all/platform.yml:1"):
    return {"value": value, "origin": origin}


def good_data(**changes) -> dict:
    """A small valid inventory, already templated, as the action gathers it."""
    common = {
        "local_domains_services": entry(
            {s: f"{s.replace('_', '-')}.local" for s in SERVICES}, "group_vars/all/domains.yml:7"
        ),
        "local_domains_direct": entry({"registry": "10.0.0.30"}, "group_vars/all/domains.yml:20"),
        "gauntlet_versions": entry(
            {
                "k3s": "v1.36.4+k3s1",
                "registry": "3.1.1",
                "argocd": "v3.5.1",
                "linkerd": "edge-26.8.3",
                "drone_runner_kube": "1.0.0-rc.5",
            },
            "group_vars/all/versions.yml:6",
        ),
        "gauntlet_ingress_address": entry("10.0.0.11"),
        "gauntlet_control_plane_address": entry(""),
        "gauntlet_node_network": entry(""),
        "gauntlet_registry_port": entry(5000),
        "gauntlet_bundle_files": entry(
            [{"name": "k3s/v1/k3s", "url": "https://example.invalid/k3s", "sha256": "a" * 64}],
            "group_vars/all/versions.yml:30",
        ),
        "gauntlet_k3s_arch_assets": entry(
            collection_defaults()["gauntlet_k3s_arch_assets"], "roles/gauntlet/defaults/main/versions.yml:64"
        ),
    }
    addresses = {"s1": "10.0.0.11", "a1": "10.0.0.21", "r1": "10.0.0.30"}
    hosts = {
        host: {**copy.deepcopy(common), "node_ip": entry(address, "hosts.yml:5")} for host, address in addresses.items()
    }
    data = {
        "groups": {
            "all": ["s1", "a1", "r1"],
            "k3s_cluster": ["s1", "a1"],
            "k3s_servers": ["s1"],
            "k3s_agents": ["a1"],
            "registry": ["r1"],
        },
        "hosts": hosts,
        "options": OPTIONS,
        "prefixes": PREFIXES,
        "required_services": SERVICES,
        "required_versions": ["k3s", "registry"],
        "paths": {},
    }
    data.update(changes)
    return data


def with_variable(name, value, origin="group_vars/all/platform.yml:9", hosts=None):
    data = good_data()
    for host in hosts or data["hosts"]:
        data["hosts"][host][name] = entry(value, origin)
    return data


# --- What the action reads at run time ---------------------------------------------------
def test_every_role_spec_and_the_inventory_spec_load():
    assert LOAD_PROBLEMS == []
    roles = sorted(p.name for p in (REPO / "roles").iterdir() if (p / "meta" / "argument_specs.yml").exists())
    assert sorted(set(PREFIXES) - {"gauntlet"}) == roles
    assert OPTIONS["k3s_api_port"]["spec"]["type"] == "int"
    assert OPTIONS["k3s_api_port"]["owner"].startswith("role k3s")
    assert OPTIONS["gauntlet_versions"]["owner"] == "meta/inventory_variables.yml"


def test_required_services_are_read_from_the_roles():
    # Every service of the sample's domain map is used by some role, and nothing else is.
    assert (
        sorted(yaml.safe_load((SAMPLE / "group_vars/all/domains.yml").read_text())["local_domains_services"])
        == SERVICES
    )


@pytest.mark.parametrize("variables", [sample_variables, collection_defaults])
def test_every_variable_of_the_sample_and_of_the_collection_defaults_is_known(variables):
    unknown = [name for name in variables() if unknown_variable_problem(name, set(OPTIONS), PREFIXES)]
    assert unknown == []
    assert not set(variables()) - set(OPTIONS)


def test_the_inventory_spec_describes_no_role_option():
    # One place per rule: a role's option is described in its own argument specs only.
    topics = yaml.safe_load((REPO / "meta" / "inventory_variables.yml").read_text())["options"]
    role_options = {name for name, option in OPTIONS.items() if option["owner"].startswith("role ")}
    assert not set(topics) & role_options


# --- Rules ----------------------------------------------------------------------------------
def test_good_data_has_no_problems():
    assert inventory_check(good_data()) == []


@pytest.mark.parametrize(
    ("value", "spec", "expected"),
    [
        ("5000", {"type": "int"}, "it is the text '5000', the option takes a number: write it without quotes"),
        (True, {"type": "int"}, "it is a boolean"),
        (70000, {"type": "int"}, "a port is between 1 and 65535"),
        (["a"], {"type": "dict"}, "it is a list, the option takes a mapping"),
        ("a", {"type": "dict"}, "it is a string, the option takes a mapping"),
        ("a", {"type": "list"}, "it is a string, the option takes a list"),
        ("maybe", {"type": "bool"}, "the option takes true or false"),
        (None, {"type": "str"}, "it is empty (null)"),
        ({"a": 1}, {"type": "str"}, "it is a mapping, the option takes a single string"),
        ("tls11", {"type": "str", "choices": ["tls12", "tls13"]}, "it must be one of: tls12, tls13 (did you mean"),
        ([1], {"type": "list", "elements": "str", "choices": ["a"]}, "[0] = 1: it must be one of: a"),
        ([{"x": 1}], {"type": "list", "elements": "dict", "options": {"name": {"required": True}}}, "has no 'name'"),
        ([{"nmae": "a"}], {"type": "list", "elements": "dict", "options": {"name": {}}}, "did you mean 'name'?"),
        ("secret", {"type": "int", "no_log": True}, "'********'"),
    ],
)
def test_spec_problems(value, spec, expected):
    problems = spec_problems("x_port", value, spec)
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("value", "spec"),
    [
        (5000, {"type": "int"}),
        ("yes", {"type": "bool"}),
        ("a", {"type": "raw"}),
        (1, {"type": "str"}),
        ([], {"type": "list"}),
    ],
)
def test_spec_accepts(value, spec):
    assert spec_problems("x_port", value, spec) == []


def test_secret_values_are_never_shown():
    problems = spec_problems("k3s_registry_password", ["hunter2"], {"type": "str", "no_log": True})
    assert problems and all("hunter2" not in problem for problem in problems)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("k3s_server_extra_confg", "did you mean 'k3s_server_extra_config'?"),
        ("k3s_server_args", "is not an option of role k3s"),
        ("gauntlet_version", "did you mean 'gauntlet_versions'?"),
        ("local_domain_services", "did you mean 'local_domains_services'?"),
    ],
)
def test_unknown_variables(name, expected):
    assert expected in unknown_variable_problem(name, set(OPTIONS), PREFIXES)


@pytest.mark.parametrize(
    "name", ["my_own_variable", "gauntlet_my_helper", "ansible_host", "__k3s_internal", "k3s_api_port"]
)
def test_unrelated_and_known_variables_pass(name):
    assert unknown_variable_problem(name, set(OPTIONS), PREFIXES) is None


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (with_variable("local_domains_services", ["gitea.local"]), 'local_domains_services = ["gitea.local"]'),
        (with_variable("gauntlet_versions", "v1"), "gauntlet_versions = 'v1': it is a string"),
        (with_variable("gauntlet_versions", {"k3s": "1.36.4"}), "gauntlet_versions.registry is not set"),
        (with_variable("gauntlet_versions", {"k3s": "1.36", "registry": "3.1.1"}), "is not a k3s version"),
        (
            with_variable(
                "local_domains_services",
                {s: f"{s.replace('_', '-')}.local" for s in SERVICES} | {"gitea": "Argocd.local."},
            ),
            "both use 'argocd.local'",
        ),
        (
            with_variable(
                "local_domains_services", {s: f"{s.replace('_', '-')}.local" for s in SERVICES} | {"gitea": "a1"}
            ),
            "is the name of host 'a1'",
        ),
        (with_variable("node_ip", "127.0.0.2", hosts=["a1"]), "is a loopback address"),
        (with_variable("k3s_node_name", "Bad_Name", hosts=["a1"]), "k3s_node_name 'Bad_Name' of host 'a1'"),
        (
            with_variable("gauntlet_bundle_files", [{"name": "a", "url": "https://x.invalid/a", "sha256": "AB"}]),
            "sha256 'AB'",
        ),
        (with_variable("gauntlet_bundle_files", [{"name": "a"}]), "has no 'url'"),
        (with_variable("local_domains_direct", {"registry": "10.0.0.99"}), "is no host's node_ip"),
        (
            good_data(groups={"all": ["s1"], "k3s_servers": ["s1"], "k3s_agents": ["s1"], "registry": ["s1"]}),
            "group 'k3s_cluster' is missing",
        ),
        (
            good_data(
                paths={"gauntlet_credentials_dir": {"path": "/c", "kind": "dir", "mode": 0o755, "files": {"t": 0o644}}}
            ),
            "chmod 700",
        ),
        (
            good_data(
                paths={"gauntlet_credentials_dir": {"path": "/c", "kind": "dir", "mode": 0o700, "files": {"t": 0o644}}}
            ),
            "chmod 600 '/c/t'",
        ),
        (good_data(paths={"gauntlet_render_dir": {"path": "/r", "kind": "file"}}), "is a file, not a folder"),
    ],
)
def test_rules(data, expected):
    problems = inventory_check(data)
    assert any(expected in problem for problem in problems), problems


def test_template_errors_name_host_and_variable_once():
    data = good_data()
    for host in data["hosts"]:
        data["hosts"][host]["gauntlet_cluster_name"] = {"origin": "platform.yml:3", "error": "'nmae' is undefined"}
    problems = inventory_check(data)
    assert problems == [
        "hosts a1, r1, s1: variable gauntlet_cluster_name (set in platform.yml:3) cannot be computed: "
        "'nmae' is undefined; define the missing variable or fix the expression"
    ]


def test_messages_name_the_file():
    problems = inventory_check(
        with_variable("gauntlet_registry_port", "80", origin="inv/group_vars/all/platform.yml:41")
    )
    assert problems == [
        "inv/group_vars/all/platform.yml:41: gauntlet_registry_port = '80': it is the text '80', the option takes a "
        "number: write it without quotes (meta/inventory_variables.yml)"
    ]


# --- The collection's pins and the site's own (issue 16 item 2) ------------------------------
PINS = "roles/gauntlet/defaults/main/versions.yml"


def with_site_pins(overrides, origin="inv/group_vars/all/versions.yml:2"):
    """The collection's pins (role defaults) with the site's gauntlet_version_overrides, as the
    action gathers them: gauntlet_versions is their combination."""
    pinned = {"k3s": "v1.36.4+k3s1", "registry": "3.1.1"}
    data = good_data()
    for variables in data["hosts"].values():
        variables["gauntlet_collection_versions"] = entry(pinned, f"{PINS}:9")
        variables["gauntlet_version_overrides"] = {**entry(overrides, origin), "inventory": True}
        variables["gauntlet_versions"] = entry(pinned | overrides, f"{PINS}:35")
    return data


def test_a_site_pin_is_checked_and_reported_where_the_site_wrote_it():
    assert inventory_check(with_site_pins({"k3s": "v1.36.5+k3s1"})) == []
    assert inventory_check(with_site_pins({"k3s": "1.36.5"})) == [
        "gauntlet_versions.k3s = '1.36.5' is not a k3s version: write it like v1.36.4+k3s1 "
        "(inv/group_vars/all/versions.yml:2)"
    ]


def test_a_site_pin_of_a_component_the_collection_does_not_pin_is_named():
    assert inventory_check(with_site_pins({"k3": "v1.36.5+k3s1"})) == [
        "gauntlet_version_overrides.k3: the collection pins no component 'k3'; name one of k3s, registry "
        "(inv/group_vars/all/versions.yml:2)"
    ]


def test_pinned_data_the_inventory_sets_is_a_warning_per_file():
    data = with_site_pins({})
    assert pinned_override_warnings(data) == []  # the overrides are the site's to set
    for variables in data["hosts"].values():
        for line, (name, value) in enumerate({"gauntlet_versions": variables["gauntlet_versions"]["value"],
                                              "gauntlet_images": {}}.items()):  # fmt: skip
            variables[name] = {**entry(value, f"inv/group_vars/all/versions.yml:{line + 1}"), "inventory": True}
    (warning,) = pinned_override_warnings(data)
    assert warning.startswith(
        "inv/group_vars/all/versions.yml: the inventory sets gauntlet_images, gauntlet_versions, which the "
        f"collection pins ({PINS}); this copy replaces the collection's and misses every upgrade of it."
    )
    assert inventory_check(data) == [], "a warning, never a problem"


# --- Namespaces: gauntlet_namespaces decides, the roles' variables follow it -----------------
CONTRACTS = "roles/gauntlet/defaults/main/contracts.yml"
NAMESPACES = collection_defaults()["gauntlet_namespaces"]


def with_namespaces(namespaces=None, **site):
    """gauntlet_namespaces as the action gathers it (the collection's, or the site's), and role
    variables the site sets."""
    data = good_data()
    for variables in data["hosts"].values():
        if namespaces is None:
            variables["gauntlet_namespaces"] = entry(NAMESPACES, f"{CONTRACTS}:30")
        else:
            variables["gauntlet_namespaces"] = {
                **entry(namespaces, "inv/group_vars/all/platform.yml:40"),
                "inventory": True,
            }
        for name, value in site.items():
            variables[name] = {**entry(value, "inv/group_vars/all/platform.yml:50"), "inventory": True}
    return data


def test_a_role_namespace_moved_apart_from_the_contract_is_refused():
    """argocd_namespace alone would move Argo CD but not the other roles' NetworkPolicies, URLs and
    checks, which read gauntlet_namespaces: the contract is where a site moves it."""
    assert inventory_check(with_namespaces(argocd_namespace="argocd")) == []
    assert inventory_check(with_namespaces({**NAMESPACES, "argocd": "cd"}, argocd_namespace="cd")) == []
    assert inventory_check(with_namespaces(argocd_namespace="cd", linkerd_viz_namespace="viz")) == [
        "inv/group_vars/all/platform.yml:50: argocd_namespace = 'cd' differs from gauntlet_namespaces.argocd = "
        "'argocd', the namespace the other roles' NetworkPolicies, URLs and checks name: move it there (the whole "
        "gauntlet_namespaces mapping) and remove argocd_namespace, which follows it (role argocd, meta/argument_specs.yml)",
        "inv/group_vars/all/platform.yml:50: linkerd_viz_namespace = 'viz' differs from gauntlet_namespaces.linkerd_viz = "
        "'linkerd-viz', the namespace the other roles' NetworkPolicies, URLs and checks name: move it there (the whole "
        "gauntlet_namespaces mapping) and remove linkerd_viz_namespace, which follows it (role linkerd, "
        "meta/argument_specs.yml)",
    ]


def test_a_site_namespaces_mapping_names_every_component():
    partial = {key: value for key, value in NAMESPACES.items() if key != "drone_builds"}
    assert inventory_check(with_namespaces(partial)) == [
        "inv/group_vars/all/platform.yml:40: gauntlet_namespaces has no 'drone_builds': every entry needs one "
        "(meta/inventory_variables.yml)"
    ]
    assert inventory_check(with_namespaces({**NAMESPACES, "argo": "x"})) == [
        "inv/group_vars/all/platform.yml:40: gauntlet_namespaces has an unknown key 'argo' (did you mean 'argocd'?) "
        "(meta/inventory_variables.yml)"
    ]


# --- Never raises: random shapes for every input --------------------------------------------
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20), st.binary(max_size=8)
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=10), st.integers()), inner, max_size=4),
        st.tuples(inner, inner),
        st.frozensets(st.integers(), max_size=3),
    ),
    max_leaves=12,
)
IMPORTANT = sorted(
    set(OPTIONS)
    & {
        "node_ip",
        "k3s_node_name",
        "local_domains_services",
        "local_domains_direct",
        "gauntlet_versions",
        "gauntlet_ingress_address",
        "gauntlet_control_plane_address",
        "gauntlet_node_network",
        "gauntlet_bundle_files",
        "gauntlet_kube_prometheus_files",
        "gauntlet_linkerd_chart_files",
        "gauntlet_registry_port",
    }
)
names = st.one_of(st.sampled_from(IMPORTANT), st.sampled_from(sorted(OPTIONS)), st.text(max_size=12))
host_names = st.one_of(st.sampled_from(["s1", "a1", "r1"]), st.text(max_size=6))
entries = st.one_of(
    st.fixed_dictionaries({"value": values}, optional={"origin": values, "error": values}),
    values,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    groups=st.one_of(
        values,
        st.dictionaries(
            st.sampled_from(["all", "k3s_cluster", "k3s_servers", "k3s_agents", "registry", "other"]),
            st.one_of(st.lists(host_names, max_size=4), values),
        ),
    ),
    hosts=st.one_of(
        values, st.dictionaries(host_names, st.one_of(values, st.dictionaries(names, entries, max_size=6)))
    ),
    paths=st.one_of(
        values,
        st.dictionaries(
            st.sampled_from(["gauntlet_credentials_dir", "gauntlet_render_dir"]),
            st.one_of(
                values,
                st.fixed_dictionaries(
                    {"path": values, "kind": st.sampled_from(["dir", "file", "missing", "other"])},
                    optional={"mode": values, "files": values, "origin": values},
                ),
            ),
        ),
    ),
    extra=st.dictionaries(st.sampled_from(["required_services", "required_versions", "prefixes"]), values),
)
def test_random_shapes_give_messages_never_exceptions(groups, hosts, paths, extra):
    data = {**good_data(), "groups": groups, "hosts": hosts, "paths": paths, **extra}
    problems = inventory_check(data)
    assert isinstance(problems, list)
    assert all(isinstance(problem, str) and problem for problem in problems)
    assert not any("the validation itself failed" in problem for problem in problems), problems


@settings(max_examples=300, deadline=None)
@given(name=names, value=values)
def test_random_values_of_known_variables(name, value):
    data = with_variable(name, value)
    problems = inventory_check(data)
    assert isinstance(problems, list) and all(isinstance(problem, str) for problem in problems)
    assert not any("the validation itself failed" in problem for problem in problems), problems


@settings(max_examples=300, deadline=None)
@given(
    value=values,
    spec=st.one_of(
        values,
        st.dictionaries(st.sampled_from(["type", "elements", "choices", "options", "no_log", "required"]), values),
    ),
)
def test_random_specs(value, spec):
    problems = spec_problems("x", value, spec)
    assert isinstance(problems, list) and all(isinstance(problem, str) for problem in problems)


def test_not_a_mapping_at_all():
    assert inventory_check(None) and inventory_check([1, 2]) and inventory_check("x")


def test_command_line_values_are_text_and_converted_like_ansible_does():
    """`-e k3s_start_timeout=20` gives the text '20'; the role's argument spec converts it, so may validation.

    In an inventory file, quoting a number is still reported (the issue's class "counts given as strings").
    """
    from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.variables import variable_problems

    options = {
        "k3s_start_timeout": {"spec": {"type": "int"}, "owner": "role k3s"},
        "traefik_ingress_host_policy": {"spec": {"type": "bool"}, "owner": "role traefik"},
    }

    def problems(value, origin, name="k3s_start_timeout"):
        hosts = {"server-1": {name: {"value": value, "origin": origin}}}
        return variable_problems({"hosts": hosts, "options": options, "prefixes": ["k3s", "traefik"]})

    assert problems("20", "<CLI option '-e'>") == []
    assert problems("false", "<CLI option '-e'>", "traefik_ingress_host_policy") == []
    assert problems("twenty", "<CLI option '-e'>") != []
    assert problems("-5", "<CLI option '-e'>") != []  # converted, then the range rule applies
    assert problems("20", "group_vars/all/k3s.yml:3") != []


# --- kube-vip (issue 17 item 1): the k3s role's switch, read from the inventory --------------
def with_kube_vip(**variables):
    data = good_data()
    for host in data["hosts"]:
        data["hosts"][host]["k3s_kube_vip"] = entry(True, "group_vars/all/platform.yml:30")
        for name, value in variables.items():
            data["hosts"][host][name] = entry(value)
    return data


def test_kube_vip_with_a_free_address_in_the_network_is_valid():
    data = with_kube_vip(gauntlet_control_plane_address="10.0.0.100", gauntlet_node_network="10.0.0.0/24")
    assert inventory_check(data) == []
    # "yes" is a boolean to Ansible too.
    data = with_kube_vip(gauntlet_control_plane_address="10.0.0.100", k3s_kube_vip_interface="ens18")
    data["hosts"]["s1"]["k3s_kube_vip"] = entry("yes")
    assert inventory_check(data) == []


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({}, "k3s_kube_vip is true but gauntlet_control_plane_address is empty"),
        ({"gauntlet_control_plane_address": "10.0.0.21"}, "gauntlet_control_plane_address '10.0.0.21' is the address"),
        (
            {"gauntlet_control_plane_address": "10.0.0.11", "gauntlet_ingress_address": "10.0.0.11"},
            "is the address of host 's1'",
        ),
        (
            {"gauntlet_control_plane_address": "10.0.0.100", "gauntlet_ingress_address": "10.0.0.100"},
            "gauntlet_control_plane_address '10.0.0.100' is also gauntlet_ingress_address",
        ),
        (
            {"gauntlet_control_plane_address": "10.1.0.100", "gauntlet_node_network": "10.0.0.0/24"},
            "where kube-vip announces it with ARP (k3s_kube_vip); pick a free address in 10.0.0.0/24",
        ),
        (
            {"gauntlet_control_plane_address": "10.0.0.100", "k3s_kube_vip_interface": "eth0:vip"},
            "k3s_kube_vip_interface 'eth0:vip' is not a network interface name",
        ),
    ],
    ids=["no-address", "an-agent", "a-server", "the-ingress-vip", "outside-network", "interface-alias"],
)
def test_kube_vip_rules_read_from_the_inventory(variables, expected):
    problems = inventory_check(with_kube_vip(**variables))
    assert any(expected in problem for problem in problems), problems


def test_kube_vip_off_keeps_the_old_rules():
    data = with_kube_vip(gauntlet_control_plane_address="10.0.0.100", gauntlet_ingress_address="10.0.0.100")
    for host in data["hosts"]:
        data["hosts"][host]["k3s_kube_vip"] = entry(False)
    assert inventory_check(data) == []


@pytest.mark.parametrize("value", [[None], {"on": True}, (None, [])])
def test_a_kube_vip_switch_of_the_wrong_type_is_a_message(value):
    """Hypothesis found `k3s_kube_vip: [..]` crashing the address check (Ansible's boolean()
    hashes its argument): the type check names the variable, nothing else fails."""
    problems = inventory_check(with_variable("k3s_kube_vip", value))
    assert not any("the validation itself failed" in problem for problem in problems), problems
    assert any("k3s_kube_vip" in problem for problem in problems), problems
