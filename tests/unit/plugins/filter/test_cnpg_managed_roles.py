"""One login role per application database, its password in the Secret the role writes."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.filter.cnpg_managed_roles import FilterModule

F = FilterModule().filters()["cnpg_managed_roles"]


def test_one_role_per_database_in_order():
    assert F(["keycloak", "task_api"], "gauntlet-pg-") == [
        {
            "name": "keycloak",
            "ensure": "present",
            "login": True,
            "comment": "Owner of database keycloak (gauntlet.platform.cnpg)",
            "passwordSecret": {"name": "gauntlet-pg-keycloak"},
        },
        {
            "name": "task_api",
            "ensure": "present",
            "login": True,
            "comment": "Owner of database task_api (gauntlet.platform.cnpg)",
            "passwordSecret": {"name": "gauntlet-pg-task-api"},
        },
    ]


def test_only_the_database_part_of_the_secret_name_is_rewritten():
    assert F(["a_b"], "my_cluster-")[0]["passwordSecret"] == {"name": "my_cluster-a-b"}


def test_not_a_list():
    with pytest.raises(AnsibleFilterError, match="expected a list of database names"):
        F("keycloak", "gauntlet-pg-")
