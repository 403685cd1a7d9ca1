"""The Secret drone-secret-extension: its data keys and the files its volume projects agree."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.filter.drone_secret_extension import FilterModule

FILTERS = FilterModule().filters()
DATA = FILTERS["drone_secret_extension_data"]
ITEMS = FILTERS["drone_secret_extension_items"]
VALUES = {"registry_password": "pw", "local_ca": "PEM", "unused": "never read"}


def test_the_token_and_each_named_secret_only():
    assert DATA(["registry_password", "local_ca"], VALUES, token="tok") == {
        "token": "tok",
        "secret.local_ca": "PEM",
        "secret.registry_password": "pw",
    }


def test_items_project_every_data_key_token_first_then_by_name():
    names = ["registry_password", "Local_ca"]
    items = ITEMS(names)
    assert items == [
        {"key": "token", "path": "token"},
        {"key": "secret.Local_ca", "path": "secrets/Local_ca"},
        {"key": "secret.registry_password", "path": "secrets/registry_password"},
    ]
    assert [item["key"] for item in items] == list(DATA(names, {**VALUES, "Local_ca": "x"}, token="t"))


def test_no_main_only_secrets_is_the_token_alone():
    assert DATA([], VALUES, token="tok") == {"token": "tok"}
    assert ITEMS([]) == [{"key": "token", "path": "token"}]


def test_a_name_without_a_value_is_refused():
    with pytest.raises(AnsibleFilterError, match=r"no value for the secret\(s\) missing"):
        DATA(["missing"], VALUES, token="tok")


@pytest.mark.parametrize("name", ["drone_secret_extension_data", "drone_secret_extension_items"])
def test_names_must_be_a_list(name):
    args = ({}, "t") if name.endswith("data") else ()
    with pytest.raises(AnsibleFilterError, match=f"{name}: expected a list"):
        FILTERS[name]("local_ca", *args)
