"""Every Namespace the platform creates gets a default ServiceAccount that mounts no token (CIS 5.1.5)."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.filter.k8s_default_service_accounts import FilterModule

F = FilterModule().filters()["k8s_default_service_accounts"]


def namespace(name):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def test_each_namespace_gets_one_default_account_after_every_other_object():
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a", "namespace": "gitea"}}
    objects = [namespace("gitea"), deployment, namespace("drone-builds"), namespace("gitea")]
    result = F(objects)
    assert result[: len(objects)] == objects
    added = result[len(objects) :]
    assert [(a["metadata"]["namespace"], a["metadata"]["name"]) for a in added] == [
        ("gitea", "default"),
        ("drone-builds", "default"),
    ]
    assert all(a["kind"] == "ServiceAccount" and a["automountServiceAccountToken"] is False for a in added)


def test_a_default_account_in_the_list_is_kept():
    own = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "x"}}
    assert F([namespace("x"), own]) == [namespace("x"), own]


def test_no_namespace_adds_nothing():
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "kube-system"}}
    assert F([config_map]) == [config_map]


@pytest.mark.parametrize(("bad", "message"), [("x", "expected a list"), ([{"kind": "Namespace"}], "object #0")])
def test_bad_input(bad, message):
    with pytest.raises(AnsibleFilterError, match=message):
        F(bad)
