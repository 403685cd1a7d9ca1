import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.filter.image_ref import FilterModule as RefFilters
from ansible_collections.gauntlet.platform.plugins.filter.images_from_manifests import FilterModule as ListFilters
from ansible_collections.gauntlet.platform.plugins.filter.k3s_registries import FilterModule as RegFilters

F = {**RefFilters().filters(), **ListFilters().filters(), **RegFilters().filters()}
D = "sha256:" + "e" * 64


def test_ref_filters():
    assert F["normalize_image"]("nginx") == "docker.io/library/nginx:latest"
    assert F["image_registry"]("nginx") == "docker.io"
    assert F["image_repository"]("quay.io/k/k:1") == "k/k"
    assert F["image_tag"](f"quay.io/k/k@{D}") is None
    assert F["image_digest"](f"quay.io/k/k@{D}") == D
    assert F["image_parse"]("quay.io/k/k:1")["name"] == "quay.io/k/k"
    assert (
        F["image_mirror"]("quay.io/keycloak/keycloak:26", "registry.local:5000")
        == "registry.local:5000/quay.io/keycloak/keycloak:26"
    )
    assert F["image_registries"](["nginx", "quay.io/a:1", "docker.io/b"]) == ["docker.io", "quay.io"]


@pytest.mark.parametrize("name", ["normalize_image", "image_registry", "image_parse", "image_tag"])
def test_ref_filter_errors(name):
    with pytest.raises(AnsibleFilterError, match=name):
        F[name]("UPPER/case")


def test_mirror_bad_registry():
    with pytest.raises(AnsibleFilterError, match="image_mirror"):
        F["image_mirror"]("nginx", "a/b")
    with pytest.raises(AnsibleFilterError):
        F["image_registries"]("nginx")


def test_images_from_yaml_text_and_objects():
    text = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers: [{name: web, image: nginx:1.27}]
---
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: c}
spec:
  jobTemplate: {spec: {template: {spec: {containers: [{name: c, image: "quay.io/a/b:1"}]}}}}
"""
    assert F["images_from_manifests"](text) == ["docker.io/library/nginx:1.27", "quay.io/a/b:1"]
    assert F["images_from_manifests"]([text], normalize=False) == ["nginx:1.27", "quay.io/a/b:1"]
    with pytest.raises(AnsibleFilterError, match="not valid YAML"):
        F["images_from_manifests"]("a: [")
    with pytest.raises(AnsibleFilterError):
        F["images_from_manifests"](42)


def test_k3s_registries_filter():
    out = F["k3s_registries"](
        ["ghcr.io/x/y:1", "gitea.local/z:1"], "registry.local:5000", username="u", password="p", ca_file="/ca.crt"
    )
    assert out["mirrors"]["gitea.local"]["rewrite"] == {"^(.*)$": "gitea.local/$1"}
    assert out["configs"]["registry.local:5000"]["tls"] == {"ca_file": "/ca.crt"}
    with pytest.raises(AnsibleFilterError, match="k3s_registries"):
        F["k3s_registries"]("nginx", "registry.local:5000")
    with pytest.raises(AnsibleFilterError, match="username and password"):
        F["k3s_registries"]([], "registry.local:5000", username="u")


def test_image_locked_takes_the_lock_digest_by_normalised_name():
    lock = {"images": [{"name": "docker.io/library/python:3.13.7-slim-trixie", "digest": D}]}
    assert F["image_locked"]("python:3.13.7-slim-trixie", lock) == f"docker.io/library/python@{D}"
    # Mirrored into the local registry the way the pipeline pulls it.
    assert (
        F["image_mirror"](F["image_locked"]("python:3.13.7-slim-trixie", lock), "registry.local:5000")
        == f"registry.local:5000/docker.io/library/python@{D}"
    )
    # Another tag, no lock, an empty lock: nothing pinned (the caller refuses).
    assert F["image_locked"]("python:3.14-slim", lock) == ""
    assert F["image_locked"]("python:3.13.7-slim-trixie", {}) == ""
    assert F["image_locked"]("python:3.13.7-slim-trixie", {"images": []}) == ""


@pytest.mark.parametrize(
    "lock, message",
    [
        ({"images": [{"name": "python:3.13.7-slim-trixie", "digest": "md5:x"}]}, "has no sha256 digest"),
        ({"images": "python"}, "the bundle lock's JSON object"),
        ([1], "the bundle lock's JSON object"),
    ],
)
def test_image_locked_errors_name_the_filter(lock, message):
    with pytest.raises(AnsibleFilterError, match=f"image_locked: .*{message}"):
        F["image_locked"]("python:3.13.7-slim-trixie", lock)
