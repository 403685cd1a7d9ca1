# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Everything the validation play checks, as pure functions that return messages.

The validate_inventory action gathers the inventory (each host's variables with where
they were set, the groups, the roles' argument specs, what the controller's disk holds)
into plain data and hands it to ``inventory_check``. Whatever shape a value has, the
result is a list of messages: nothing here raises on user data (tests fuzz it).

Every message names where the value is set (file:line when Ansible knows it, else the
host), the value, the rule and the fix.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re

from ansible.module_utils.parsing.convert_bool import boolean
from ansible_collections.gauntlet.platform.plugins.module_utils.k3s.arch import (
    ASSETS_VARIABLE,
    DEFAULT_ARCH,
    arch_problem,
    asset_problems,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.rules import (
    address_problems,
    domain_problem,
    ipv4_problem,
    server_count_problem,
)

SERVER_GROUP = "k3s_servers"
AGENT_GROUP = "k3s_agents"
CLUSTER_GROUP = "k3s_cluster"
REGISTRY_GROUP = "registry"
REQUIRED_GROUPS = (CLUSTER_GROUP, SERVER_GROUP, AGENT_GROUP, REGISTRY_GROUP)

# Version formats, by component, as the bundle URLs and image tags of
# inventory/sample/group_vars/all/versions.yml use them (a `v` where the URL or tag has
# one). The k3s form is the one roles/k3s/tasks/validate.yml requires on the hosts.
_SEMVER = r"\d+\.\d+\.\d+"
VERSION_FORMATS = {
    "k3s": (rf"^v{_SEMVER}\+k3s\d+$", "v1.36.4+k3s1"),
    "linkerd": (rf"^(edge|stable)-{_SEMVER}$", "edge-26.8.3"),
    "argocd": (rf"^v{_SEMVER}$", "v3.5.1"),
    "kube_prometheus": (rf"^v{_SEMVER}$", "v0.18.0"),
    # kube-vip's release tags and image tags carry the v (ghcr.io/kube-vip/kube-vip:v1.2.3).
    "kube_vip": (rf"^v{_SEMVER}$", "v1.2.3"),
}
_DEFAULT_VERSION_FORMAT = (rf"^{_SEMVER}(-[0-9A-Za-z.]+)?$", "1.27.3 (no leading v)")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_URL = re.compile(r"^https?://[^\s/]+\S*$")
# Kubernetes node names: an RFC 1123 subdomain, lower case (k3s_node_name defaults to the
# inventory host name).
_NODE_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")

# Ranges: argument specs have types and choices but no ranges, so the range follows the
# option's name (the roles name them consistently): ports 1-65535, ratios 0-1, counts,
# timeouts and durations at least 1, every other number at least 0.
_PORT = re.compile(r"_port$")
_RATIO = re.compile(r"_ratio$")
# Retries may be 0 (try once), so they only must not be negative.
_AT_LEAST_ONE = re.compile(r"_(replicas|instances|capacity|concurrency|timeout|days|lifespan|seconds|size)$")

_BOOL_STRINGS = {"yes", "no", "true", "false", "on", "off", "y", "n", "1", "0", "t", "f"}


# --- Showing values ---------------------------------------------------------------------
def show(value, secret: bool = False) -> str:
    """A short, readable form of any value for a message (never raises)."""
    if secret:
        return "'********'"
    try:
        if isinstance(value, str):
            text = "'" + value + "'"
        elif value is None:
            text = "null (empty)"
        else:
            text = json.dumps(value, default=repr, sort_keys=True)
    except Exception:  # any value at all must give a message
        text = "<" + type(value).__name__ + ">"
    return text if len(text) <= 80 else text[:77] + "..."


def kind(value) -> str:
    """The YAML word for a value's shape."""
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return "a " + type(value).__name__


def _str_list(value) -> list[str]:
    """The strings of a list-like value; anything else gives []."""
    if isinstance(value, (list, tuple)):
        return [item for item in value if isinstance(item, str)]
    return []


def _mapping(value) -> dict:
    return value if isinstance(value, dict) else {}


# --- One value against an argument spec option ------------------------------------------
def _type_problem(value, type_name) -> str | None:
    """Why `value` is not of the argument spec type `type_name`, or None."""
    if type_name in (None, "raw"):
        return None
    if value is None:
        return "it is empty (null); give a value or remove the line to keep the default"
    what = kind(value)
    if type_name in ("str", "path"):
        if isinstance(value, bool):
            return "it is a boolean (YAML reads yes/no/true/false/on/off so); quote it if you mean the text"
        if isinstance(value, (dict, list, tuple)):
            return f"it is {what}, the option takes a single string"
        if not isinstance(value, (str, int, float)):
            return f"it is {what}, the option takes a string"
        return None
    if type_name == "int":
        if isinstance(value, bool):
            return "it is a boolean, the option takes a whole number"
        if isinstance(value, int):
            return None
        if isinstance(value, float) and value.is_integer():
            return None
        if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
            return "it is the text " + show(value) + ", the option takes a number: write it without quotes"
        return f"it is {what}, the option takes a whole number"
    if type_name == "float":
        if isinstance(value, bool):
            return "it is a boolean, the option takes a number"
        if isinstance(value, (int, float)):
            return None
        if isinstance(value, str):
            try:
                float(value)
            except ValueError:
                return f"it is {what}, the option takes a number"
            return "it is the text " + show(value) + ", the option takes a number: write it without quotes"
        return f"it is {what}, the option takes a number"
    if type_name == "bool":
        if isinstance(value, bool):
            return None
        if isinstance(value, str) and value.strip().lower() in _BOOL_STRINGS:
            return None
        if isinstance(value, int) and value in (0, 1):
            return None
        return f"it is {what}, the option takes true or false"
    if type_name == "list":
        if isinstance(value, (list, tuple)):
            return None
        if isinstance(value, str):
            return "it is a string, the option takes a list: write one '- item' per line (or [a, b])"
        return f"it is {what}, the option takes a list"
    if type_name == "dict":
        if isinstance(value, dict):
            return None
        if isinstance(value, (list, tuple)):
            return "it is a list, the option takes a mapping: write 'key: value' lines without the leading '- '"
        return f"it is {what}, the option takes a mapping of key: value lines"
    return None  # a type this checker does not know: the role checks it when it runs


def _range_problem(name: str, value) -> str | None:
    """Range of a number, from the option's name (see the table at the top)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if _PORT.search(name) and not 1 <= value <= 65535:
        return "a port is between 1 and 65535"
    if _RATIO.search(name) and not 0 <= value <= 1:
        return "a ratio is between 0 and 1"
    # A threshold (verify_tls_min_days) may be 0; a lifetime or a count may not.
    if _AT_LEAST_ONE.search(name) and "_min_" not in name and value < 1:
        return "it must be at least 1"
    if value < 0:
        return "it must not be negative"
    return None


def _choice_problem(value, choices) -> str | None:
    if not isinstance(choices, (list, tuple)) or not choices:
        return None
    try:
        if value in choices:
            return None
    except TypeError:
        pass
    text = ", ".join(str(choice) for choice in choices)
    close = difflib.get_close_matches(str(value), [str(choice) for choice in choices], n=1) if value is not None else []
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"it must be one of: {text}{hint}"


def spec_problems(path: str, value, spec) -> list[str]:
    """Problems of `value` against one argument spec option; `path` names it in messages.

    Reads type, elements, choices, options (nested, with required) and no_log; the
    range follows the name (_range_problem).
    """
    if not isinstance(spec, dict):
        return []
    secret = bool(spec.get("no_log"))
    problems = []
    why = _type_problem(value, spec.get("type"))
    if why:
        return [f"{path} = {show(value, secret)}: {why}"]
    why = _range_problem(path.rsplit(".", 1)[-1].split("[")[0], value)
    if why:
        problems.append(f"{path} = {show(value, secret)}: {why}")
    if spec.get("type") != "list" and spec.get("choices"):
        why = _choice_problem(value, spec.get("choices"))
        if why:
            problems.append(f"{path} = {show(value, secret)}: {why}")
    if spec.get("type") == "list" and isinstance(value, (list, tuple)):
        element_spec = {"type": spec.get("elements"), "options": spec.get("options"), "no_log": secret}
        if spec.get("choices"):
            element_spec["choices"] = spec.get("choices")
        for index, item in enumerate(value):
            problems.extend(spec_problems(f"{path}[{index}]", item, element_spec))
    elif spec.get("type") in ("dict", None) and isinstance(value, dict) and isinstance(spec.get("options"), dict):
        problems.extend(_suboption_problems(path, value, spec["options"]))
    return problems


def _suboption_problems(path: str, value: dict, options: dict) -> list[str]:
    problems = []
    for key in sorted(options, key=str):
        sub = options[key] if isinstance(options[key], dict) else {}
        if key not in value:
            if sub.get("required"):
                problems.append(f"{path} has no '{key}': every entry needs one")
            continue
        problems.extend(spec_problems(f"{path}.{key}", value[key], sub))
    for key in sorted((k for k in value if k not in options), key=str):
        close = difflib.get_close_matches(str(key), [str(k) for k in options], n=1, cutoff=0.75)
        hint = f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(sorted(map(str, options)))}"
        problems.append(f"{path} has an unknown key '{key}' ({hint})")
    return problems


# --- Names of variables ------------------------------------------------------------------
def prefix_of(name: str, prefixes) -> str | None:
    """The longest role prefix (or 'gauntlet') that `name` starts with, as '<prefix>_'."""
    best = None
    for prefix in prefixes:
        if isinstance(prefix, str) and name.startswith(prefix + "_") and (best is None or len(prefix) > len(best)):
            best = prefix
    return best


def unknown_variable_problem(name: str, known, prefixes) -> str | None:
    """A variable nobody reads that looks like one somebody does, or None.

    - a role's prefix (k3s_, registry_, ...) that is none of that role's options: reported,
      with the closest option when there is one (house style: a role reads only variables
      with its prefix, so nothing reads this one);
    - gauntlet_ or no known prefix: reported only when it is close to a known name.
    """
    if not isinstance(name, str) or name in known or name.startswith(("ansible_", "_")):
        return None
    prefix = prefix_of(name, prefixes)
    if prefix is not None:
        candidates = [k for k in known if isinstance(k, str) and k.startswith(prefix + "_")]
        close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.8)
        if close:
            return f"'{name}' is not a variable anything reads; did you mean '{close[0]}'? Rename it"
        if prefix != "gauntlet":
            nearest = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
            hint = f"the closest are {', '.join(nearest)}; " if nearest else ""
            return (
                f"'{name}' is not an option of role {prefix}, so nothing reads it ({hint}the role's "
                "meta/argument_specs.yml lists them all): fix the name or remove it"
            )
        return None
    close = difflib.get_close_matches(name, [k for k in known if isinstance(k, str)], n=1, cutoff=0.85)
    if close:
        return f"'{name}' is not a variable anything reads; did you mean '{close[0]}'? Rename it"
    return None


# --- The whole inventory ------------------------------------------------------------------
def _entry(hosts: dict, host, name):
    """(value, origin, error, is_set) of a variable of a host in the gathered data."""
    variables = hosts.get(host)
    if not isinstance(variables, dict) or name not in variables:
        return None, None, None, False
    entry = variables[name]
    if not isinstance(entry, dict):
        return entry, None, None, True
    origin = entry.get("origin")
    return entry.get("value"), origin if isinstance(origin, str) and origin else None, entry.get("error"), True


def _where(origin, host) -> str:
    return origin if origin else f"host '{host}'"


def _host_list(value) -> list[str]:
    return [str(host) for host in value] if isinstance(value, (list, tuple)) else []


def group_problems(groups: dict) -> list[str]:
    """Groups: the required ones, the server count, one registry host, servers and agents."""
    problems = []
    for group in REQUIRED_GROUPS:
        if group not in groups:
            problems.append(
                f"group '{group}' is missing from the inventory: add it to hosts.yml (see inventory/sample/hosts.yml)"
            )
    servers = _host_list(groups.get(SERVER_GROUP))
    agents = _host_list(groups.get(AGENT_GROUP))
    if SERVER_GROUP in groups:
        why = server_count_problem(len(servers))
        if why:
            problems.append(f"group '{SERVER_GROUP}': {why}; add or remove servers in hosts.yml")
    registry = _host_list(groups.get(REGISTRY_GROUP))
    if REGISTRY_GROUP in groups and len(registry) != 1:
        problems.append(
            f"group '{REGISTRY_GROUP}' must hold exactly one host (the registry host), "
            f"it holds {len(registry)}: put one host under '{REGISTRY_GROUP}' in hosts.yml"
        )
    for host in sorted(set(servers) & set(agents)):
        problems.append(
            f"host '{host}' is in both '{SERVER_GROUP}' and '{AGENT_GROUP}': a node is a server or an agent; "
            "remove it from one of the groups in hosts.yml"
        )
    if CLUSTER_GROUP in groups:
        cluster = set(_host_list(groups.get(CLUSTER_GROUP)))
        for group, members in ((SERVER_GROUP, servers), (AGENT_GROUP, agents)):
            outside = sorted(set(members) - cluster)
            if outside:
                problems.append(
                    f"group '{group}' has hosts outside '{CLUSTER_GROUP}' ({', '.join(outside)}): the hosts stage "
                    f"prepares only '{CLUSTER_GROUP}', so they would never be prepared; make '{group}' a child of "
                    f"'{CLUSTER_GROUP}' in hosts.yml (see inventory/sample/hosts.yml)"
                )
    return problems


def node_problems(groups: dict, hosts: dict, node_network) -> tuple[list[str], dict]:
    """Every host's node_ip and every k3s node's name; returns (problems, {host: address})."""
    problems = []
    addresses = {}
    network = None
    if isinstance(node_network, str) and node_network:
        try:
            network = ipaddress.IPv4Network(node_network, strict=True)
        except ValueError:
            network = None  # reported by address_problems
    seen: dict[str, str] = {}
    for host in sorted(hosts, key=str):
        value, origin, error, is_set = _entry(hosts, host, "node_ip")
        if error:
            continue  # reported with the other template errors
        if not is_set or value in (None, ""):
            problems.append(
                f"host '{host}': node_ip (or ansible_host) is not set; set ansible_host or node_ip to its IPv4 address"
            )
            continue
        where = _where(origin, host)
        if not isinstance(value, str):
            problems.append(
                f"{where}: node_ip of host '{host}' = {show(value)} is {kind(value)}; set it to the host's IPv4 address"
            )
            continue
        why = ipv4_problem(value)
        if why:
            problems.append(
                f"host '{host}': node_ip '{value}' is invalid ({why}); set node_ip to the host's IPv4 address"
                + (f" ({where})" if origin else "")
            )
            continue
        ip = ipaddress.IPv4Address(value)
        reason = None
        if ip.is_loopback:
            reason = "a loopback address: other hosts cannot reach it"
        elif ip.is_link_local:
            reason = "a link-local address: it changes with the interface and is not routed"
        elif ip.is_reserved:
            reason = "a reserved address"
        elif (
            network is not None
            and network.prefixlen < 31
            and ip in (network.network_address, network.broadcast_address)
        ):
            reason = f"the {'network' if ip == network.network_address else 'broadcast'} address of gauntlet_node_network {network}"
        if reason:
            problems.append(
                f"host '{host}': node_ip '{value}' is {reason}; set node_ip to the host's own address in the nodes' "
                f"network ({where})"
            )
            continue
        addresses[str(host)] = value
        if value in seen:
            problems.append(
                f"hosts '{seen[value]}' and '{host}' share the address {value}: give each host its own node_ip"
            )
        else:
            seen[value] = str(host)

    nodes = sorted(set(_host_list(groups.get(SERVER_GROUP))) | set(_host_list(groups.get(AGENT_GROUP))))
    for host in nodes:
        value, origin, error, is_set = _entry(hosts, host, "k3s_node_name")
        name = value if is_set and not error else host
        if not isinstance(name, str):
            continue  # a type problem of k3s_node_name, reported by its spec
        if len(name) > 253 or not all(_NODE_LABEL.match(label) for label in name.split(".")):
            source = (
                f"k3s_node_name '{name}' of host '{host}' ({_where(origin, host)})" if is_set else f"host name '{host}'"
            )
            problems.append(
                f"{source} is not a valid Kubernetes node name (RFC 1123: lower-case letters, digits, '-' and '.', "
                "starting and ending with a letter or digit); rename the host in hosts.yml "
                "(e.g. " + (re.sub(r"[^a-z0-9.-]+", "-", name.lower()).strip("-.") or "node-1") + ")"
            )
    return problems, addresses


def _cluster(data: dict) -> tuple[str | None, dict]:
    """The host whose variables stand for the cluster-wide ones: the first server, else the first host."""
    groups = _mapping(data.get("groups"))
    hosts = _mapping(data.get("hosts"))
    for host in _host_list(groups.get(SERVER_GROUP)) + sorted(map(str, hosts)):
        if host in hosts:
            return host, hosts
    return None, hosts


def domain_problems(data: dict, reference, addresses: dict) -> list[str]:
    """local_domains_services and local_domains_direct, checked on the controller."""
    hosts = _mapping(data.get("hosts"))
    problems = []
    services, origin, error, is_set = _entry(hosts, reference, "local_domains_services")
    if error:
        return []
    if not is_set:
        return [
            "local_domains_services is not set: every service needs its domain; copy "
            "inventory/sample/group_vars/all/domains.yml into the inventory's group_vars/all/"
        ]
    where = _where(origin, reference)
    if not isinstance(services, dict):
        return []  # its spec (role local_domains) reports the shape
    host_names = {str(host).lower(): str(host) for host in hosts}
    owner: dict[str, str] = {}
    for service in sorted(services, key=str):
        domain = services[service]
        why = domain_problem(domain)
        if why:
            problems.append(
                f"local_domains_services.{service} = {show(domain)} is not a valid domain ({why}); "
                f"use a name like '{service}.local' ({where})"
            )
            continue
        normal = domain.lower().rstrip(".")
        if normal in owner:
            problems.append(
                f"local_domains_services.{service} and .{owner[normal]} both use '{normal}' (case and a trailing dot "
                f"do not make names different): give each service its own name ({where})"
            )
            continue
        owner[normal] = str(service)
        if normal == "localhost" or normal.endswith(".localhost"):
            problems.append(
                f"local_domains_services.{service} = '{domain}' is localhost, which always resolves to the machine "
                f"itself: use a name like '{service}.local' ({where})"
            )
        elif ipv4_problem(normal) is None or re.fullmatch(r"[\d.]+", normal):
            problems.append(
                f"local_domains_services.{service} = '{domain}' is an IP address, not a name: use a name like "
                f"'{service}.local'; the address comes from gauntlet_ingress_address ({where})"
            )
        elif normal in host_names:
            problems.append(
                f"local_domains_services.{service} = '{domain}' is the name of host '{host_names[normal]}': the "
                f"managed hosts block would send that host's name to the ingress; use a name like '{service}.local' "
                f"({where})"
            )
    for service in _str_list(data.get("required_services")):
        if service not in services:
            problems.append(
                f"local_domains_services has no '{service}': the roles need a domain for it; add "
                f"'{service}: {service}.local' ({where})"
            )

    direct, direct_origin, error, is_set = _entry(hosts, reference, "local_domains_direct")
    if is_set and not error and isinstance(direct, dict):
        direct_where = _where(direct_origin, reference)
        for service in sorted(direct, key=str):
            if service not in services:
                problems.append(
                    f"local_domains_direct.{service} names a service without a domain: add it to "
                    f"local_domains_services or drop it ({direct_where})"
                )
            address = direct[service]
            why = ipv4_problem(address) if isinstance(address, str) else f"it is {kind(address)}"
            if why:
                problems.append(
                    f"local_domains_direct.{service} = {show(address)} is invalid ({why}); set it to the IPv4 "
                    f"address that serves the service, e.g. the registry host's node_ip ({direct_where})"
                )
            elif ipaddress.IPv4Address(address).is_loopback:
                problems.append(
                    f"local_domains_direct.{service} = '{address}' is a loopback address: the other hosts cannot "
                    f"reach it; use the node_ip of the host that serves it ({direct_where})"
                )
            elif addresses and address not in addresses.values():
                problems.append(
                    f"local_domains_direct.{service} = '{address}' is no host's node_ip: the service is served by a "
                    f"host of the inventory; use that host's node_ip ({direct_where})"
                )
    return problems


def version_problems(data: dict, reference) -> list[str]:
    hosts = _mapping(data.get("hosts"))
    versions, origin, error, is_set = _entry(hosts, reference, "gauntlet_versions")
    if error:
        return []
    if not is_set:
        return [
            "gauntlet_versions is not set: pin every component in group_vars/all/versions.yml "
            "(see inventory/sample/group_vars/all/versions.yml)"
        ]
    if not isinstance(versions, dict):
        return []  # the spec reports the shape
    where = _where(origin, reference)
    problems = []
    for component in _str_list(data.get("required_versions")):
        if versions.get(component) in (None, ""):
            problems.append(
                f"gauntlet_versions.{component} is not set: pin it in group_vars/all/versions.yml "
                f"(see inventory/sample/group_vars/all/versions.yml) ({where})"
            )
    for component in sorted(versions, key=str):
        version = versions[component]
        if version in (None, ""):
            continue
        pattern, example = VERSION_FORMATS.get(component, _DEFAULT_VERSION_FORMAT)
        if not isinstance(version, str):
            problems.append(
                f"gauntlet_versions.{component} = {show(version)} is {kind(version)}: quote it, like '{example.split()[0]}' "
                f"(YAML reads 3.10 as the number 3.1) ({where})"
            )
        elif not re.match(pattern, version):
            problems.append(
                f"gauntlet_versions.{component} = '{version}' is not a {component} version: write it like {example} "
                f"({where})"
            )
    return problems


def bundle_problems(data: dict, reference) -> list[str]:
    """Entries of gauntlet_bundle_files (name, URL, sha256) and the checksum tables they come from."""
    hosts = _mapping(data.get("hosts"))
    problems = []
    files, origin, error, is_set = _entry(hosts, reference, "gauntlet_bundle_files")
    if is_set and not error and isinstance(files, (list, tuple)):
        where = _where(origin, reference)
        names: dict[str, int] = {}
        for index, entry in enumerate(files):
            if not isinstance(entry, dict):
                continue  # the spec reports it
            label = f"gauntlet_bundle_files[{index}]" + (
                f" ({entry.get('name')})" if isinstance(entry.get("name"), str) else ""
            )
            url = entry.get("url")
            if isinstance(url, str) and url and not _URL.match(url):
                problems.append(
                    f"{label}: url {show(url)} is not an http(s) URL; give the address the bundle step downloads "
                    f"it from ({where})"
                )
            elif "url" in entry and not url:
                problems.append(f"{label} has an empty url: give the address it is downloaded from ({where})")
            checksum_url = entry.get("checksum_url")
            if isinstance(checksum_url, str) and not _URL.match(checksum_url):
                problems.append(f"{label}: checksum_url {show(checksum_url)} is not an http(s) URL ({where})")
            sha256 = entry.get("sha256")
            if "sha256" in entry and not (isinstance(sha256, str) and _HEX64.match(sha256)):
                problems.append(
                    f"{label}: sha256 {show(sha256)} is not 64 lower-case hex digits: copy the published sha256 "
                    f"(sha256sum prints it), or remove the line to record it on first download ({where})"
                )
            name = entry.get("name")
            if isinstance(name, str):
                if name.startswith("/") or ".." in name.split("/"):
                    problems.append(
                        f"{label}: name '{name}' must be a relative path inside the bundle's files/ ({where})"
                    )
                elif name in names:
                    problems.append(
                        f"gauntlet_bundle_files[{names[name]}] and [{index}] have the same name '{name}': "
                        f"each file once ({where})"
                    )
                else:
                    names[name] = index
    for table, inner in (("gauntlet_linkerd_chart_files", False), ("gauntlet_kube_prometheus_files", True)):
        value, origin, error, is_set = _entry(hosts, reference, table)
        if not is_set or error or not isinstance(value, dict):
            continue
        where = _where(origin, reference)
        for path in sorted(value, key=str):
            sha256 = value[path]
            if inner:
                sha256 = sha256.get("sha256") if isinstance(sha256, dict) else sha256
            if not (isinstance(sha256, str) and _HEX64.match(sha256)):
                problems.append(
                    f"{table}['{path}']: sha256 {show(sha256)} is not 64 lower-case hex digits: copy the published "
                    f"sha256 ({where})"
                )
    return problems


def architecture_problems(data: dict, reference) -> list[str]:
    """Each k3s node's gauntlet_arch, and the k3s files (gauntlet_k3s_arch_assets) of every architecture declared.

    Validation sees no facts: a node without gauntlet_arch counts as amd64 here (the k3s role reads its real
    architecture and checks the bundle has its files)."""
    groups = _mapping(data.get("groups"))
    hosts = _mapping(data.get("hosts"))
    problems = []
    needed: dict[str, list[str]] = {}
    for host in sorted(set(_host_list(groups.get(SERVER_GROUP))) | set(_host_list(groups.get(AGENT_GROUP)))):
        value, origin, error, is_set = _entry(hosts, host, "gauntlet_arch")
        if error:
            continue  # reported with the other template errors
        if not is_set or value in (None, ""):
            needed.setdefault(DEFAULT_ARCH, []).append(host)
            continue
        why = arch_problem(value)
        if why:
            problems.append(f"{_where(origin, host)}: host '{host}': {why}")
            continue
        needed.setdefault(value, []).append(host)
    assets, origin, error, is_set = _entry(hosts, reference, ASSETS_VARIABLE)
    if error or not needed:
        return problems
    where = f" ({_where(origin, reference)})" if is_set else ""
    if not is_set:
        assets = {}
    problems.extend(f"{problem}{where}" for problem in asset_problems(assets, dict(sorted(needed.items()))))
    return problems


# Certificates the roles publish beside their keys (the local CA's, Linkerd's trust anchor
# and issuer) are handed to nodes and pods and written 0644; only secrets must be private.
PUBLIC_SUFFIXES = (".crt",)


def is_published_certificate(name: str, head: bytes) -> bool:
    """True for a certificate file holding no private key (``head``: its first bytes)."""
    return str(name).endswith(PUBLIC_SUFFIXES) and b"PRIVATE KEY" not in head


def path_problems(paths: dict) -> list[str]:
    """What the controller's disk holds at gauntlet_credentials_dir and gauntlet_render_dir."""
    problems = []
    credentials = _mapping(paths.get("gauntlet_credentials_dir"))
    path = credentials.get("path")
    where = f" (gauntlet_credentials_dir, {credentials['origin']})" if credentials.get("origin") else ""
    if isinstance(path, str):
        if credentials.get("kind") not in (None, "missing", "dir"):
            problems.append(
                f"gauntlet_credentials_dir '{path}' is not a folder{where}: move that file away or point "
                "gauntlet_credentials_dir at a folder"
            )
        mode = credentials.get("mode")
        if credentials.get("kind") == "dir" and isinstance(mode, int) and not isinstance(mode, bool) and mode & 0o007:
            problems.append(
                f"the credentials folder '{path}' has mode {mode:04o}: every user of the controller can open "
                f"it{where}; run `chmod 700 '{path}'`"
            )
        for name, mode in sorted(_mapping(credentials.get("files")).items(), key=lambda item: str(item[0])):
            if isinstance(mode, int) and not isinstance(mode, bool) and mode & 0o077:
                problems.append(
                    f"the credential file '{path}/{name}' has mode {mode:04o}: secrets must be private; run "
                    f"`chmod 600 '{path}/{name}'`"
                )
    render = _mapping(paths.get("gauntlet_render_dir"))
    if isinstance(render.get("path"), str) and render.get("kind") not in (None, "missing", "dir"):
        where = f" ({render['origin']})" if render.get("origin") else ""
        problems.append(
            f"gauntlet_render_dir '{render['path']}' is a file, not a folder{where}: the objects are written into "
            "a folder; give a new or existing folder"
        )
    return problems


_TRUE_TEXT = ("yes", "true", "on", "1", "y", "t")
_FALSE_TEXT = ("no", "false", "off", "0", "n", "f")


def _command_line_value(value, origin, spec):
    """`-e name=value` always gives text; convert it as Ansible's argument spec will.

    Ansible's type checks turn the text of a number or a boolean into one (module_utils
    common/validation.py check_type_int/float/bool), so the roles accept `-e timeout=20`.
    In inventory files a quoted number stays a problem: there the quotes are a choice.
    """
    if not (isinstance(value, str) and isinstance(origin, str) and "CLI option" in origin):
        return value
    kind_name = spec.get("type")
    text = value.strip()
    if kind_name == "int" and re.fullmatch(r"[-+]?\d+", text):
        return int(text)
    if kind_name == "float":
        try:
            return float(text)
        except ValueError:
            return value
    if kind_name == "bool" and text.lower() in _TRUE_TEXT + _FALSE_TEXT:
        return text.lower() in _TRUE_TEXT
    return value


def variable_problems(data: dict) -> list[str]:
    """Every variable set for a host: template errors, unknown names, values against their spec."""
    hosts = _mapping(data.get("hosts"))
    options = _mapping(data.get("options"))
    prefixes = _str_list(data.get("prefixes"))
    known = set(options)
    problems = []
    failed: dict[tuple, list[str]] = {}
    for host in sorted(hosts, key=str):
        variables = hosts[host]
        if not isinstance(variables, dict):
            continue
        for name in sorted(variables, key=str):
            value, origin, error, _unused = _entry(hosts, host, name)
            where = _where(origin, host)
            if not isinstance(name, str):
                continue
            why = unknown_variable_problem(name, known, prefixes)
            if why:
                problems.append(f"{where}: {why}")
                continue
            if error:
                failed.setdefault((name, origin, str(error)), []).append(str(host))
                continue
            option = _mapping(options.get(name))
            spec = _mapping(option.get("spec"))
            if not spec or spec.get("computed"):
                continue
            owner = option.get("owner")
            suffix = f" ({owner})" if isinstance(owner, str) and owner else ""
            for problem in spec_problems(name, _command_line_value(value, origin, spec), spec):
                problems.append(f"{where}: {problem}{suffix}")
    for (name, origin, error), names in failed.items():
        which = f"host '{names[0]}'" if len(names) == 1 else f"hosts {', '.join(names)}"
        problems.append(
            f"{which}: variable {name} (set in {origin or 'the inventory'}) cannot be computed: {error}; "
            "define the missing variable or fix the expression"
        )
    return problems


def inventory_check(data) -> list[str]:
    """Check the gathered inventory; an empty list means valid. Never raises on the data.

    data:
      groups: {group: [host, ...]} as Ansible's `groups`
      hosts: {host: {variable: {value, origin, error}}} — the variables the validation looked
        at, templated (error: why templating failed), origin: where it is set ("file:line")
      options: {variable: {spec: <argument spec option>, owner: "role k3s" | ...}}
      prefixes: role names (and "gauntlet"): variables starting with one are checked by name
      required_services, required_versions: names that must be present
      paths: {gauntlet_credentials_dir|gauntlet_render_dir: {path, origin, kind, mode, files}}
    """
    if not isinstance(data, dict):
        return ["the validation received no inventory data (a bug in the validate_inventory action)"]
    problems: list[str] = []
    checks = (
        lambda: group_problems(_mapping(data.get("groups"))),
        lambda: variable_problems(data),
        lambda: _addresses_and_names(data),
        lambda: version_problems(data, _cluster(data)[0]),
        lambda: bundle_problems(data, _cluster(data)[0]),
        lambda: architecture_problems(data, _cluster(data)[0]),
        lambda: path_problems(_mapping(data.get("paths"))),
        lambda: node_removal_problems(data),
    )
    for check in checks:
        try:
            problems.extend(check())
        except Exception as error:  # a bug here must still give a message
            problems.append(f"the validation itself failed on this inventory ({type(error).__name__}: {error})")
    unique = []
    for problem in problems:
        if problem not in unique:
            unique.append(problem)
    return unique


def _addresses_and_names(data: dict) -> list[str]:
    groups = _mapping(data.get("groups"))
    reference, hosts = _cluster(data)
    problems = []
    network, _origin, network_error, _unused = _entry(hosts, reference, "gauntlet_node_network")
    node_list, addresses = node_problems(groups, hosts, network if not network_error else None)
    problems.extend(node_list)
    problems.extend(domain_problems(data, reference, addresses))

    if reference is None:
        return problems

    def cluster_value(name):
        value, _origin, error, _set = _entry(hosts, reference, name)
        return None if error else value

    ingress, _unused, ingress_error, ingress_set = _entry(hosts, reference, "gauntlet_ingress_address")
    summary = {
        "groups": {g: _host_list(m) for g, m in groups.items() if isinstance(g, str)},
        "hosts": addresses,
        "server_group": SERVER_GROUP,
        "agent_group": AGENT_GROUP,
        "control_plane_address": cluster_value("gauntlet_control_plane_address") or "",
        "node_network": network if isinstance(network, str) and not network_error else "",
        # kube-vip on the servers (role k3s): set in the inventory, else the role's default (off).
        "kube_vip": boolean(cluster_value("k3s_kube_vip") or False, strict=False),
        "kube_vip_interface": cluster_value("k3s_kube_vip_interface") or "",
    }
    if not ingress_error and _host_list(groups.get(SERVER_GROUP)):
        summary["ingress_address"] = ingress if ingress_set else ""
    for key in ("control_plane_address", "ingress_address"):
        if key in summary and not isinstance(summary[key], str):
            problems.append(f"gauntlet_{key} = {show(summary[key])} is {kind(summary[key])}; set it to an IPv4 address")
            summary[key] = None if key == "ingress_address" else ""
    problems.extend(address_problems(summary))
    return problems


# --- playbooks/remove-node.yml ----------------------------------------------------------------
def node_removal_problems(data: dict) -> list[str]:
    """gauntlet_remove_node (set with -e for playbooks/remove-node.yml): a k3s node of the
    inventory, and not the first server while other nodes joined through its address.

    Every other node's config.yaml names the join target, ``server: https://<k3s_api_address>:6443``
    (roles/k3s/vars/main.yml __k3s_join_url); k3s_api_address is gauntlet_control_plane_address when
    set, else the first server's node_ip (roles/k3s/defaults/main.yml). Removing the host behind it
    leaves every other node pointing at an address that no longer answers. Whether the cluster
    keeps its etcd quorum depends on the cluster's Nodes, checked by the playbook
    (filter k3s_node_removal).
    """
    groups = _mapping(data.get("groups"))
    hosts = _mapping(data.get("hosts"))
    reference, _unused = _cluster(data)
    if reference is None:
        return []
    value, origin, error, is_set = _entry(hosts, reference, "gauntlet_remove_node")
    if not is_set or error or value in (None, ""):
        return []
    where = f" ({origin})" if origin else ""
    servers = _host_list(groups.get(SERVER_GROUP))
    nodes = servers + _host_list(groups.get(AGENT_GROUP))
    if not isinstance(value, str) or value not in nodes:
        return [
            f"gauntlet_remove_node = {show(value)}{where} is not a k3s node of the inventory (the hosts of "
            f"'{SERVER_GROUP}' and '{AGENT_GROUP}': {', '.join(nodes) or 'none'}); give the inventory name of the "
            "node to remove. Nothing was changed"
        ]
    if not servers or value != servers[0] or len(nodes) == 1:
        return []
    address, _origin, address_error, _set = _entry(hosts, reference, "gauntlet_control_plane_address")
    if not address_error and isinstance(address, str) and address:
        return []
    others = [host for host in nodes if host != value]
    return [
        f"gauntlet_remove_node = '{value}'{where} is the first server of '{SERVER_GROUP}': {', '.join(others)} "
        f"joined the cluster through its address (config.yaml `server:`; k3s_api_address is the first server "
        "when gauntlet_control_plane_address is empty), so they would point at a node that is gone. Nothing was "
        "changed. Put a VIP or load balancer in front of the other servers, set gauntlet_control_plane_address to "
        "it and run playbooks/k3s.yml first (docs/k3s.md#high-availability), or remove the other nodes first"
    ]
