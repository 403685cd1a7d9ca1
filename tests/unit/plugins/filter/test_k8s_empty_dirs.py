"""Writable folders of a read-only container: one emptyDir each, mounted where it writes."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.filter.k8s_empty_dirs import FilterModule

F = FilterModule().filters()["k8s_empty_dirs"]


def test_volumes_and_mounts_in_the_mappings_order():
    result = F({"quarkus": "/opt/keycloak/lib/quarkus", "tmp": "/tmp"})
    assert result == {
        "volumeMounts": [
            {"name": "quarkus", "mountPath": "/opt/keycloak/lib/quarkus"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
        "volumes": [{"name": "quarkus", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
    }


def test_not_a_mapping():
    with pytest.raises(AnsibleFilterError, match="expected a mapping"):
        F(["/tmp"])
