"""module_utils/inventory/controller_roles: the guard marks controller roles; options only a node sees warn."""

from pathlib import Path

import yaml
from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.controller_roles import (
    controller_roles,
    is_guard,
    unseen_setting_warnings,
)

REPO = Path(__file__).resolve().parents[4]


def load(path):
    return yaml.safe_load(path.read_text())


def test_the_guard_is_recognised_by_import_or_include():
    guard = {"name": "gauntlet.platform.gauntlet", "tasks_from": "controller"}
    assert is_guard({"ansible.builtin.import_role": guard})
    assert is_guard({"ansible.builtin.include_role": guard})
    assert not is_guard({"ansible.builtin.import_role": {**guard, "tasks_from": "main"}})
    assert not is_guard({"ansible.builtin.assert": {"that": []}})
    assert not is_guard("text")


def test_the_collections_controller_roles():
    assert set(controller_roles(REPO / "roles", load)) == {
        "argocd", "cnpg", "coredns_custom", "drone", "gitea", "k8s_objects", "keycloak", "linkerd", "monitoring",
        "traefik", "verify",
    }  # fmt: skip


def test_a_value_only_the_server_sees_warns_once():
    owners = {"traefik_tls_secret_name": "traefik", "linkerd_namespace": "linkerd", "argocd_project": "argocd"}
    server = {"traefik_tls_secret_name": "elsewhere", "linkerd_namespace": "mesh", "argocd_project": "same"}
    controller = {"linkerd_namespace": "linkerd", "argocd_project": "same"}
    warnings = unseen_setting_warnings(
        "s1", server, controller, owners, {"linkerd_namespace": "group_vars/k3s_servers.yml:1"}
    )
    assert len(warnings) == 2
    assert warnings[0].startswith("group_vars/k3s_servers.yml:1: linkerd_namespace (role linkerd) is set for s1")
    assert warnings[1].startswith("a host or group variable of s1: traefik_tls_secret_name (role traefik)")


def test_equal_values_and_unowned_names_do_not_warn():
    assert unseen_setting_warnings("s1", {"a": 1, "node_ip": "x"}, {"a": 1}, {"a": "traefik"}, {}) == []
