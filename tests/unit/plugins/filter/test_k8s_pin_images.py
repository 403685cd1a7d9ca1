"""k8s_pin_images: the bundle lock's digests written into image references."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.filter.k8s_pin_images import k8s_pin_images

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
LOCK = {
    "version": 1,
    "images": [
        {"name": "docker.io/drone/placeholder:1", "source": "docker.io/drone/placeholder:1", "digest": D1},
        {"name": "ghcr.io/cloudnative-pg/postgresql:18.4-system-trixie", "digest": D2},
    ],
    "files": [],
}


def deployment(image, env=None):
    container = {"name": "c", "image": image, "env": env or []}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"template": {"spec": {"containers": [container], "initContainers": [dict(container)]}}}}  # fmt: skip


def test_locked_images_get_the_digest_in_pod_specs_env_and_custom_resources():
    objs = [
        deployment(
            "drone/placeholder:1",
            [
                {"name": "DRONE_IMAGE_PLACEHOLDER", "value": "docker.io/drone/placeholder:1"},
                {"name": "OTHER", "value": "not an image ref!"},
            ],
        ),
        {
            "apiVersion": "postgresql.cnpg.io/v1",
            "kind": "Cluster",
            "metadata": {"name": "c"},
            "spec": {"imageName": "ghcr.io/cloudnative-pg/postgresql:18.4-system-trixie"},
        },
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "j"},
            "spec": {
                "jobTemplate": {
                    "spec": {"template": {"spec": {"containers": [{"image": "docker.io/drone/placeholder:1"}]}}}
                }
            },
        },
    ]
    out = k8s_pin_images(objs, LOCK)
    pod = out[0]["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == f"drone/placeholder:1@{D1}"
    assert pod["initContainers"][0]["image"] == f"drone/placeholder:1@{D1}"
    assert pod["containers"][0]["env"] == [{"name": "DRONE_IMAGE_PLACEHOLDER", "value": f"docker.io/drone/placeholder:1@{D1}"},
                                           {"name": "OTHER", "value": "not an image ref!"}]  # fmt: skip
    assert out[1]["spec"]["imageName"] == f"ghcr.io/cloudnative-pg/postgresql:18.4-system-trixie@{D2}"
    assert out[2]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"].endswith(D1)
    # The input is not changed.
    assert objs[0]["spec"]["template"]["spec"]["containers"][0]["image"] == "drone/placeholder:1"


def test_unknown_images_pinned_ones_and_data_are_left_alone():
    pinned = f"docker.io/drone/placeholder:1@sha256:{'3' * 64}"
    objs = [
        deployment("docker.io/library/nginx:1.27"),
        deployment(pinned),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "m"},
            "data": {"image": "docker.io/drone/placeholder:1"},
        },
    ]
    out = k8s_pin_images(objs, LOCK)
    assert out[0]["spec"]["template"]["spec"]["containers"][0]["image"] == "docker.io/library/nginx:1.27"
    assert out[1]["spec"]["template"]["spec"]["containers"][0]["image"] == pinned
    assert out[2] == objs[2]
    assert k8s_pin_images(objs, {}) is objs


def test_bad_input_fails_clearly():
    with pytest.raises(AnsibleFilterError, match="expected a list"):
        k8s_pin_images({"kind": "Deployment"}, LOCK)
    with pytest.raises(AnsibleFilterError, match="no sha256 digest"):
        k8s_pin_images([], {"images": [{"name": "docker.io/x/y:1", "digest": "md5:1"}]})
    with pytest.raises(AnsibleFilterError, match="bundle lock's JSON object"):
        k8s_pin_images([], ["not", "a", "lock"])
