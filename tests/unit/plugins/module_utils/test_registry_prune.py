"""Which repositories a prune may touch: mirrors of upstream registries only."""

import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_ref import parse_image
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.prune import is_mirror_repository


@pytest.mark.parametrize(
    "image", ["nginx:1.27", "quay.io/keycloak/keycloak:26.7.4", "git.example:3000/team/app:1", "localhost/a/b:1"]
)
def test_what_preload_pushes_is_a_mirror_repository(image):
    assert is_mirror_repository(parse_image(image).mirror("registry.local:5000").repository)


@pytest.mark.parametrize("repo", ["gauntlet/task-api", "task-api", "team/app", "gauntlet/ci/builder"])
def test_the_platforms_own_repositories_are_not(repo):
    assert not is_mirror_repository(repo)
