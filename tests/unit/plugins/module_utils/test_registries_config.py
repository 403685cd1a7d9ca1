import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.k3s.registries_config import (
    RegistriesConfigError,
    build_registries,
)


def test_default_mirrors_and_extra_registries():
    out = build_registries(
        ["gitea/gitea:1.27.3-rootless", "docker.elastic.co/x/y:1", "registry.local:5000/task-api:1"],
        "registry.local:5000",
    )
    assert sorted(out["mirrors"]) == [
        "cr.l5d.io",
        "docker.elastic.co",
        "docker.io",
        "ghcr.io",
        "quay.io",
        "registry.k8s.io",
        "registry.local:5000",
    ]
    assert out["mirrors"]["docker.io"] == {
        "endpoint": ["https://registry.local:5000"],
        "rewrite": {"^(.*)$": "docker.io/$1"},
    }
    assert out["mirrors"]["docker.elastic.co"]["rewrite"] == {"^(.*)$": "docker.elastic.co/$1"}
    assert out["mirrors"]["registry.local:5000"] == {"endpoint": ["https://registry.local:5000"]}
    assert "configs" not in out


def test_registry_with_port_rewrites_to_path_component():
    out = build_registries(["git.example:3000/team/app:1"], "registry.local:5000", registries=[])
    assert out["mirrors"]["git.example:3000"]["rewrite"] == {"^(.*)$": "git.example_3000/$1"}


def test_auth_and_tls():
    out = build_registries(
        [], "registry.local:5000", username="u", password="p", ca_file="/etc/ssl/ca.crt", mirror_local=False
    )
    assert "registry.local:5000" not in out["mirrors"]
    assert out["configs"] == {
        "registry.local:5000": {"auth": {"username": "u", "password": "p"}, "tls": {"ca_file": "/etc/ssl/ca.crt"}}
    }


def test_plain_http():
    out = build_registries(["nginx"], "http://127.0.0.1:5000", registries=[])
    assert out["mirrors"]["docker.io"]["endpoint"] == ["http://127.0.0.1:5000"]
    assert sorted(out["mirrors"]) == ["127.0.0.1:5000", "docker.io"]
    with pytest.raises(RegistriesConfigError, match="plain HTTP"):
        build_registries([], "r:5000", plain_http=True, ca_file="/ca")


@pytest.mark.parametrize(
    ("kwargs", "msg"),
    [
        ({"username": "u"}, "both username and password"),
        ({"cert_file": "/c"}, "cert_file and key_file"),
        ({"images": ["Bad"]}, "images"),
        ({"images": "nginx"}, "list"),
        ({"registries": ["a/b"]}, "registries"),
    ],
)
def test_errors(kwargs, msg):
    images = kwargs.pop("images", [])
    with pytest.raises(RegistriesConfigError, match=msg):
        build_registries(images, "registry.local:5000", **kwargs)
    with pytest.raises(RegistriesConfigError):
        build_registries([], "")
