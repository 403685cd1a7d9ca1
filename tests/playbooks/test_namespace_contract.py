"""A site that moves a namespace moves it everywhere (issue 16 item 3, "one place per decision").

Each component's namespace is decided once, by gauntlet_namespaces (the collection's contracts,
roles/gauntlet/defaults/main/contracts.yml): the role's own variable defaults to the entry, and
every other role's NetworkPolicies, URLs, RBAC subjects and checks read it. A site overrides
gauntlet_namespaces in its inventory; here every entry moves at once, and every variable of the
platform roles, templated by Ansible at its own precedence, must name the new namespaces and
none of the old ones. The policies are then built as the roles build them (filter
namespace_network_policies) from those values. Runs in a loopback-only network namespace and
contacts no host.
"""

import json
import os
import re
import subprocess
from pathlib import Path

import loopback_netns
import yaml
from ansible_collections.gauntlet.platform.plugins.filter.mesh_policy import namespace_network_policies
from collection_defaults import DEFAULTS, collection_defaults
from resolved_vars import vars_playbook

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "inventory" / "sample"
PLATFORM_ROLES = ["traefik", "linkerd", "monitoring", "cnpg", "keycloak", "gitea", "drone", "argocd", "verify"]
OLD = collection_defaults()["gauntlet_namespaces"]
MOVED = {component: f"site-{name}" for component, name in OLD.items()}
OLD_NAMES = set(OLD.values())
# Each role's NetworkPolicies: (its namespace variable, its allows variable).
POLICIES = [
    ("argocd_namespace", "__argocd_allows"),
    ("__cnpg_operator_namespace", "__cnpg_operator_allows"),
    ("gauntlet_postgres_namespace", "__cnpg_database_allows"),
    ("drone_namespace", "__drone_allows"),
    ("drone_builds_namespace", "__drone_builds_allows"),
    ("gitea_namespace", "__gitea_allows"),
    ("__keycloak_namespace", "__keycloak_allows"),
    ("linkerd_namespace", "__linkerd_allows"),
    ("linkerd_viz_namespace", "__linkerd_viz_allows"),
    ("__monitoring_namespace", "__monitoring_allows"),
    ("__monitoring_node_exporter_namespace", "__monitoring_node_exporter_allows"),
]


# Variables holding a fact the role sets at run time (the database password it reads).
RUN_TIME = {"__gitea_settings_base"}


def role_variables() -> list[str]:
    """Every variable of the platform roles' defaults and vars, and of the contracts, but those
    that read files or credentials (a lookup would write a credential) or need the run's facts."""
    files = [REPO / "roles" / role / folder / "main.yml" for role in PLATFORM_ROLES for folder in ("defaults", "vars")]
    names = []
    for path in [*files, DEFAULTS / "contracts.yml"]:
        if not path.exists():
            continue
        for name, value in (yaml.safe_load(path.read_text()) or {}).items():
            if name not in RUN_TIME and not re.search(r"\b(lookup|query)\(", yaml.safe_dump(value)):
                names.append(name)
    return sorted(set(names))


def resolved(tmp_path: Path, inventories: list[Path], names: list[str]) -> dict:
    """`names` as the controller's plays (on localhost) see them, the platform roles listed."""
    loopback_netns.require()
    playbook = tmp_path / "vars.yml"
    playbook.write_text(vars_playbook(PLATFORM_ROLES))
    dest = tmp_path / "vars.json"
    extra = {"__names": names, "__dest": str(dest), "__host": "localhost",
             "gauntlet_credentials_dir": str(tmp_path / "credentials")}  # fmt: skip
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_CACHE_PLUGIN="memory")
    sources = [arg for inventory in inventories for arg in ("-i", str(inventory))]
    command = ["ansible-playbook", *sources, str(playbook), "-e", json.dumps(extra)]
    result = subprocess.run(
        loopback_netns.isolated(command), cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return json.loads(dest.read_text())


def old_namespaces_named(name: str, value, path: str = "") -> list[str]:
    """Where ``value`` (variable ``name``) still names a namespace of OLD: a namespace key or
    variable, a list or mapping of namespaces, a service's cluster DNS name, an argument."""
    where = f"{name}{path}"
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "namespace" and item in OLD_NAMES:
                found.append(f"{where}.namespace = {item}")
            else:
                found += old_namespaces_named(name, item, f"{path}.{key}")
        if name.endswith("_namespaces") and not path:
            found += [f"{where}.{k} = {v}" for k, v in value.items() if v in OLD_NAMES]
    elif isinstance(value, list):
        if name.endswith("_namespaces") and not path:
            found += [f"{where} holds {item}" for item in value if item in OLD_NAMES]
        for index, item in enumerate(value):
            found += old_namespaces_named(name, item, f"{path}[{index}]")
    elif isinstance(value, str):
        if name.endswith("_namespace") and not path and value in OLD_NAMES:
            found.append(f"{where} = {value}")
        for old in OLD_NAMES:
            if re.search(rf"\.{re.escape(old)}\.svc\b|namespaces={re.escape(old)}\b", value):
                found.append(f"{where} names {old}: {value}")
    return found


def selector_namespaces(policies) -> set[str]:
    """The namespaces the NetworkPolicies' peers select by name."""
    names = set()

    def walk(node):
        if isinstance(node, dict):
            labels = (node.get("namespaceSelector") or {}).get("matchLabels") or {}
            if "kubernetes.io/metadata.name" in labels:
                names.add(labels["kubernetes.io/metadata.name"])
            for item in node.values():
                walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(policies)
    return names


def test_a_site_moving_the_namespaces_moves_them_everywhere(tmp_path):
    # The site's override, an inventory source of its own over the sample's (whose workload
    # paths are relative to the checkout).
    site = tmp_path / "site"
    (site / "group_vars" / "all").mkdir(parents=True)
    (site / "hosts.yml").write_text("all: {}\n")
    (site / "group_vars" / "all" / "namespaces.yml").write_text(yaml.safe_dump({"gauntlet_namespaces": MOVED}))
    names = role_variables()
    values = resolved(tmp_path, [SAMPLE, site], names)

    # Each role's own namespace is the contract's.
    assert values["gauntlet_namespaces"] == MOVED
    assert values["argocd_namespace"] == MOVED["argocd"]
    assert values["gitea_namespace"] == MOVED["gitea"]
    assert values["drone_namespace"] == MOVED["drone"]
    assert values["drone_builds_namespace"] == MOVED["drone_builds"]
    assert values["__keycloak_namespace"] == MOVED["keycloak"]
    assert values["__monitoring_namespace"] == MOVED["monitoring"]
    assert values["linkerd_namespace"] == MOVED["linkerd"]
    assert values["linkerd_viz_namespace"] == MOVED["linkerd_viz"]
    # What other roles name: webhooks, clone URLs, the Applications' destination, the checks.
    assert values["gitea_argocd_webhook_url"] == f"http://argocd-server.{MOVED['argocd']}.svc/api/webhook"
    assert f".{MOVED['gitea']}.svc:" in values["gauntlet_gitea_internal_url"]
    assert values["verify_argocd_namespace"] == MOVED["argocd"]
    assert {app["namespace"] for app in values["argocd_applications"]} == {MOVED["task_api"]}
    assert MOVED["argocd"] in values["gauntlet_linkerd_inject_namespaces"]
    # Nothing anywhere still names an old namespace.
    stale = [problem for name in names for problem in old_namespaces_named(name, values[name])]
    assert not stale, "still the old namespace (read gauntlet_namespaces):\n" + "\n".join(stale)

    # The NetworkPolicies every role builds name the moved namespaces only: Gitea admits Argo
    # CD's repo-server and Prometheus where they moved, Drone reaches Gitea there.
    selected = {}
    for namespace_var, allows_var in POLICIES:
        policies = namespace_network_policies(
            values[namespace_var], values[allows_var], egress=True, namespaces=values["gauntlet_namespaces"]
        )
        assert all(p["metadata"]["namespace"] == values[namespace_var] for p in policies)
        selected[allows_var] = selector_namespaces(policies)
    assert not set().union(*selected.values()) & OLD_NAMES, selected
    assert MOVED["argocd"] in selected["__gitea_allows"]
    assert MOVED["monitoring"] in selected["__gitea_allows"]
    assert MOVED["gitea"] in selected["__drone_allows"]
