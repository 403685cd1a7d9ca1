import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.filter.k3s_config import FilterModule

F = FilterModule().filters()
SHA = "a" * 64


def test_server_config_sorted_and_empty_values_dropped():
    config = F["k3s_config"](
        {"tls-san": ["10.0.0.11"], "cluster-init": True, "node-label": [], "server": "", "kubelet-arg": ["a=1", 2]},
        "server",
    )
    assert list(config) == ["cluster-init", "kubelet-arg", "tls-san"]
    assert config["kubelet-arg"] == ["a=1", "2"]


def test_agent_refuses_every_server_flag_by_name():
    with pytest.raises(AnsibleFilterError, match="an agent cannot take server flags: cluster-init, secrets-encryption"):
        F["k3s_config"]({"secrets-encryption": True, "cluster-init": True, "node-ip": "10.0.0.21"}, "agent")


def test_agent_config_keeps_agent_flags():
    config = F["k3s_config"](
        {"server": "https://10.0.0.11:6443", "token-file": "/t", "protect-kernel-defaults": True}, "agent"
    )
    assert config == {"protect-kernel-defaults": True, "server": "https://10.0.0.11:6443", "token-file": "/t"}


@pytest.mark.parametrize(
    ("settings", "role", "message"),
    [
        ({"--node-ip": "x"}, "server", "not a k3s flag name"),
        ({"node_ip": "x"}, "server", "not a k3s flag name"),
        ({"no-such-flag": 1}, "server", "unknown k3s server flag"),
        ({"node-label": {"a": "b"}}, "agent", "not a mapping"),
        ({}, "worker", "role must be"),
        (["node-ip"], "server", "expected a mapping"),
    ],
)
def test_bad_config(settings, role, message):
    with pytest.raises(AnsibleFilterError, match=message):
        F["k3s_config"](settings, role)


@pytest.mark.parametrize(
    ("stored", "token", "matches"),
    [
        ("", "abc", True),
        ("abc\n", "abc", True),
        ("K10deadbeef::server:abc\n", "abc", True),
        ("K10deadbeef::server:xyz", "abc", False),
        ("other", "abc", False),
    ],
)
def test_token_matches(stored, token, matches):
    assert F["k3s_token_matches"](stored, token) is matches


def test_token_matches_refuses_non_strings():
    with pytest.raises(AnsibleFilterError):
        F["k3s_token_matches"](None, "abc")


def test_object_filenames():
    objects = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "Argo_CD"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "coredns-custom", "namespace": "kube-system"}},
    ]
    assert F["k8s_object_filenames"](objects) == [
        "00-namespace-cluster-argo-cd.yaml",
        "01-configmap-kube-system-coredns-custom.yaml",
    ]
    assert F["k8s_object_filename"](objects[1], "7") == "07-configmap-kube-system-coredns-custom.yaml"


@pytest.mark.parametrize(
    "bad",
    [
        [{"kind": "ConfigMap", "metadata": {"name": "x"}}],
        [{"apiVersion": "v1", "metadata": {"name": "x"}}],
        [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}],
        [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}] * 2,
        "not a list",
    ],
)
def test_object_filenames_refuse_bad_objects(bad):
    with pytest.raises(AnsibleFilterError, match="k8s_object_filename"):
        F["k8s_object_filenames"](bad)
