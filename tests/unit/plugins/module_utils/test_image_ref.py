import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_ref import (
    ImageRef,
    ImageRefError,
    mirror_image,
    normalize_image,
    normalize_registry,
    parse_image,
)

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("nginx", "docker.io/library/nginx:latest"),
        ("nginx:1.27", "docker.io/library/nginx:1.27"),
        ("library/nginx", "docker.io/library/nginx:latest"),
        ("bitnami/redis:7", "docker.io/bitnami/redis:7"),
        ("index.docker.io/library/nginx:1", "docker.io/library/nginx:1"),
        ("registry-1.docker.io/foo", "docker.io/library/foo:latest"),
        ("quay.io/keycloak/keycloak:26.7.4", "quay.io/keycloak/keycloak:26.7.4"),
        ("localhost/app", "localhost/app:latest"),
        ("localhost:5000/a/b/c:v1", "localhost:5000/a/b/c:v1"),
        ("Registry.Local:5000/app:1", "registry.local:5000/app:1"),
        (f"nginx@{DIGEST}", f"docker.io/library/nginx@{DIGEST}"),
        (f"ghcr.io/cloudnative-pg/postgresql:17.5@{DIGEST}", f"ghcr.io/cloudnative-pg/postgresql:17.5@{DIGEST}"),
        ("cr.l5d.io/linkerd/proxy:edge-26.8.3", "cr.l5d.io/linkerd/proxy:edge-26.8.3"),
        ("registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"),
        ("a__b/c-d.e_f:T_1.x-y", "docker.io/a__b/c-d.e_f:T_1.x-y"),
    ],
)
def test_normalize(raw, expected):
    assert normalize_image(raw) == expected


def test_parts():
    ref = parse_image("quay.io/keycloak/keycloak:26")
    assert ref == ImageRef("quay.io", "keycloak/keycloak", "26", None)
    assert ref.name == "quay.io/keycloak/keycloak"
    assert ref.reference == "26"
    assert ref.api_host == "quay.io"
    assert parse_image("nginx").api_host == "registry-1.docker.io"
    pinned = parse_image(f"nginx:1@{DIGEST}")
    assert pinned.reference == DIGEST
    assert pinned.as_dict()["full"] == f"docker.io/library/nginx:1@{DIGEST}"


def test_no_default_tag():
    assert parse_image("nginx", default_tag=False).tag is None


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "  ",
        "Nginx",
        "nginx:",
        "nginx:bad tag",
        "-x/y",
        "a//b",
        "nginx@sha256:abc",
        f"nginx@sha256:{'A' * 64}",
        "x:-y",
        5,
        None,
    ],
)
def test_invalid(bad):
    with pytest.raises(ImageRefError):
        parse_image(bad)


def test_mirror():
    assert (
        mirror_image("quay.io/keycloak/keycloak:26", "registry.local:5000")
        == "registry.local:5000/quay.io/keycloak/keycloak:26"
    )
    assert mirror_image("nginx", "https://registry.local:5000/") == "registry.local:5000/docker.io/library/nginx:latest"
    # A port cannot be part of a repository path.
    assert (
        mirror_image("registry.example:5000/app:1", "registry.local:5000")
        == "registry.local:5000/registry.example_5000/app:1"
    )
    # Already local: unchanged.
    assert mirror_image("registry.local:5000/task-api:1", "registry.local:5000") == "registry.local:5000/task-api:1"


def test_normalize_registry():
    assert normalize_registry("https://Index.Docker.io") == "docker.io"
    with pytest.raises(ImageRefError, match="host"):
        normalize_registry("registry.local:5000/path")
    with pytest.raises(ImageRefError):
        normalize_registry("")
