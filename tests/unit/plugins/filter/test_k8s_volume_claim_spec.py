"""The spec of a ReadWriteOnce claim: a storage class only when one is given."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.filter.k8s_volume_claim_spec import FilterModule

F = FilterModule().filters()["k8s_volume_claim_spec"]


def test_the_default_class_leaves_the_field_out():
    assert F("5Gi") == {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}
    assert "storageClassName" not in F("5Gi", storage_class="")


def test_a_class_is_named():
    assert F("10Gi", storage_class="longhorn")["storageClassName"] == "longhorn"


def test_a_null_class_is_refused():
    with pytest.raises(AnsibleFilterError, match="storage_class is null"):
        F("5Gi", storage_class=None)
