"""A mapping becomes a Secret's data: every value a string, base64 of its UTF-8 bytes."""

import base64

import pytest
from ansible.errors import AnsibleFilterError
from ansible.plugins.filter.core import b64encode
from ansible_collections.gauntlet.platform.plugins.filter.k8s_secret_data import FilterModule

F = FilterModule().filters()["k8s_secret_data"]


def test_values_are_encoded_as_value_string_b64encode_writes_them():
    values = {"password": "s3cret", "port": 5432, "flag": False, "text": "grüße\nzwei"}
    data = F(values)
    assert data == {key: b64encode(str(value)) for key, value in values.items()}
    assert base64.b64decode(data["text"]).decode() == "grüße\nzwei"
    assert data["port"] == base64.b64encode(b"5432").decode()


def test_not_a_mapping():
    with pytest.raises(AnsibleFilterError, match="k8s_secret_data: expected a mapping"):
        F(["a"])
