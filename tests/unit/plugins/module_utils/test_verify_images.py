"""The images row: running containers' image digests against the bundle lock.

The lock and the OCI layout are real content written by tests/lock_bundle.py and read by the
real module code (bundle_image_digests_info.run); the Pods are payloads shaped like the API's
(containerStatuses[].imageID as containerd's CRI plugin reports it)."""

from __future__ import annotations

import json

import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle.lock import BundleLockError
from ansible_collections.gauntlet.platform.plugins.module_utils.verify.images import images_row, parse_image_id
from ansible_collections.gauntlet.platform.plugins.module_utils.verify.rows import VerifyInputError
from ansible_collections.gauntlet.platform.plugins.modules.bundle_image_digests_info import run
from lock_bundle import make_bundle, sha

NGINX = "docker.io/library/nginx:1.27"
KEYCLOAK = "quay.io/keycloak/keycloak:26.7.4"
OUTSIDE = "sha256:" + "e" * 64


@pytest.fixture
def bundle(tmp_path):
    info = make_bundle(tmp_path, {NGINX: ["linux/amd64", "linux/arm64"], KEYCLOAK: ["linux/amd64"]})
    digests = run({"lock_file": str(tmp_path / "bundle.lock.json"), "sources": [str(tmp_path / "images")]})
    return info, digests


def container(name, image, image_id, **extra):
    return {"name": name, "image": image, "imageID": image_id, "ready": bool(image_id), **extra}


def pods(*specs):
    """k8s_info's registered result for pods given as (namespace/name, [container statuses], [init statuses])."""
    out = []
    for spec in specs:
        name, statuses = spec[0], spec[1]
        init = spec[2] if len(spec) > 2 else []
        namespace, pod = name.split("/")
        status = {"phase": "Running", "containerStatuses": statuses}
        if init:
            status["initContainerStatuses"] = init
        out.append({"metadata": {"namespace": namespace, "name": pod}, "status": status})
    return {"resources": out, "changed": False}


def by_repo(image, digest):
    return f"{image.rsplit(':', 1)[0]}@{digest}"


def test_the_module_lists_index_platform_and_config_digests(bundle):
    info, digests = bundle
    found = digests["digests"]
    nginx = info[NGINX]
    assert found[nginx["locked"]] == {"image": NGINX, "kind": "index"}
    for platform, child in nginx["platforms"].items():
        assert found[child["manifest"]] == {"image": NGINX, "kind": f"platform {platform}"}
        assert found[child["config"]] == {"image": NGINX, "kind": f"config {platform}"}
    keycloak = info[KEYCLOAK]
    assert found[keycloak["locked"]] == {"image": KEYCLOAK, "kind": "manifest"}
    assert found[keycloak["platforms"]["linux/amd64"]["config"]] == {"image": KEYCLOAK, "kind": "config"}
    assert len(found) == 1 + 2 * 2 + 2
    assert digests["images"] == 2 and digests["notes"] == []


def test_every_container_in_the_lock_passes_by_index_or_platform_digest(bundle):
    info, digests = bundle
    nginx, keycloak = info[NGINX], info[KEYCLOAK]
    result = pods(
        # pulled through the mirror by its index: containerd reports the index digest
        ("web/nginx-1", [container("nginx", NGINX, by_repo(NGINX, nginx["locked"]))]),
        # one platform pulled or imported: the platform manifest's digest
        ("web/nginx-2", [container("nginx", NGINX, by_repo(NGINX, nginx["platforms"]["linux/arm64"]["manifest"]))]),
        # no repo digest: the image ID, i.e. the config digest; docker's old prefix
        (
            "keycloak/keycloak-0",
            [container("keycloak", KEYCLOAK, "docker-pullable://" + by_repo(KEYCLOAK, keycloak["locked"]))],
            [container("init", NGINX, nginx["platforms"]["linux/amd64"]["config"])],
        ),
    )
    row = images_row(result, digests)
    assert row["result"] == "OK", row
    assert row["detail"] == ["all 4 containers run images of the bundle lock (4 by digest)"]


def test_a_digest_not_in_the_lock_fails_naming_pod_container_and_image(bundle):
    info, digests = bundle
    result = pods(
        ("web/nginx-1", [container("nginx", NGINX, by_repo(NGINX, info[NGINX]["locked"]))]),
        ("web/other", [container("app", "docker.io/library/nginx:latest", by_repo(NGINX, OUTSIDE))]),
        ("kube-system/job", [], [container("fetch", "busybox", "docker.io/library/busybox@" + sha(b"x"))]),
    )
    row = images_row(result, digests)
    assert row["result"] == "FAIL"
    assert row["detail"][0].startswith("2 of 3 containers run an image whose digest is not in the bundle lock")
    assert f"web/other app: docker.io/library/nginx:latest runs {OUTSIDE}, not in the bundle lock" in row["detail"]
    assert f"kube-system/job init container fetch: busybox runs {sha(b'x')}, not in the bundle lock" in row["detail"]


def test_pods_still_pulling_are_pending_never_a_pass(bundle):
    info, digests = bundle
    waiting = {"waiting": {"reason": "ContainerCreating"}}
    result = pods(
        ("web/nginx-1", [container("nginx", NGINX, by_repo(NGINX, info[NGINX]["locked"]))]),
        ("web/nginx-2", [container("nginx", NGINX, "", state=waiting)]),
    )
    row = images_row(result, digests)
    assert row["result"] == "FAIL"
    assert row["detail"][0].startswith("1 of 2 containers pending: no image digest yet")
    assert row["detail"][1] == f"web/nginx-2 nginx: {NGINX}: no image digest yet (ContainerCreating)"
    # a wrong digest beside a pending one: the wrong one leads, the pending one is still named
    result["resources"][0]["status"]["containerStatuses"][0]["imageID"] = by_repo(NGINX, OUTSIDE)
    row = images_row(result, digests)
    assert row["detail"][0].startswith("1 of 2 containers run an image whose digest is not in the bundle lock")
    assert "1 more pending, without an image digest yet:" in row["detail"]


def test_unlocked_names_and_ignored_pods(bundle):
    _unused, digests = bundle
    unlocked = [r"^(docker\.io/)?rancher/mirrored-pause(:|@|$)"]
    coredns = "rancher/mirrored-coredns-coredns:1.13.1"
    result = pods(
        (
            "kube-system/pause",
            [container("pause", "rancher/mirrored-pause:3.6", "docker.io/rancher/mirrored-pause@" + OUTSIDE)],
        ),
        (
            "kube-system/coredns",
            [container("coredns", coredns, "docker.io/rancher/mirrored-coredns-coredns@" + OUTSIDE)],
        ),
        ("ci/build-1", [container("step", "docker.io/library/golang:1", "docker.io/library/golang@" + OUTSIDE)]),
    )
    row = images_row(result, digests, unlocked, [r"^ci/"])
    assert row["result"] == "FAIL"
    assert row["detail"][:2] == [
        row["detail"][0],
        f"kube-system/coredns coredns: {coredns} runs {OUTSIDE}, not in the bundle lock",
    ]
    assert "1 accepted by name (verify_images_unlocked): rancher/mirrored-pause:3.6" in row["detail"]
    assert not any("ci/build-1" in line for line in row["detail"])


def test_the_lock_without_the_bundle_images_knows_only_the_locked_digests(tmp_path):
    info = make_bundle(tmp_path, {NGINX: ["linux/amd64", "linux/arm64"]})
    digests = run({"lock_file": str(tmp_path / "bundle.lock.json"), "sources": [str(tmp_path / "gone")]})
    assert set(digests["digests"]) == {info[NGINX]["locked"]}
    assert digests["notes"][0] == f"image folder(s) not found: {tmp_path / 'gone'}"
    assert "known by their locked digest only" in digests["notes"][1]
    platform = info[NGINX]["platforms"]["linux/amd64"]["manifest"]
    row = images_row(pods(("web/n", [container("nginx", NGINX, by_repo(NGINX, platform))])), digests)
    assert row["result"] == "FAIL" and digests["notes"][1] in row["detail"]


def test_errors_become_rows_or_clear_messages(tmp_path, bundle):
    _unused, digests = bundle
    row = images_row({"failed": True, "msg": "Failed to get client due to kubeconfig"}, digests)
    assert row["result"] == "FAIL" and "kubeconfig" in row["detail"][0]
    row = images_row(
        pods(), {"failed": True, "msg": "cannot list the bundle's image digests: lock file x does not exist"}
    )
    assert row["detail"] == [
        "the bundle lock's digests are unknown: cannot list the bundle's image digests: lock file x does not exist"
    ]
    assert images_row(pods(), digests)["detail"] == ["the cluster runs no pod at all"]
    with pytest.raises(VerifyInputError, match="must be regular expressions"):
        images_row(pods(), digests, ["("])
    with pytest.raises(BundleLockError, match="does not exist"):
        run({"lock_file": str(tmp_path / "none.json"), "sources": []})
    (tmp_path / "bad.json").write_text(json.dumps({"version": 1, "images": [{"name": "x"}]}))
    with pytest.raises(BundleLockError, match="needs name and digest"):
        run({"lock_file": str(tmp_path / "bad.json"), "sources": []})


@pytest.mark.parametrize(
    ("image_id", "expected"),
    [
        ("docker.io/library/nginx@sha256:" + "a" * 64, ("docker.io/library/nginx", "sha256:" + "a" * 64)),
        ("docker-pullable://nginx@sha256:" + "b" * 64, ("nginx", "sha256:" + "b" * 64)),
        ("sha256:" + "c" * 64, ("", "sha256:" + "c" * 64)),
        ("docker.io/library/nginx:1.27", ("docker.io/library/nginx:1.27", None)),
        ("", ("", None)),
    ],
)
def test_parse_image_id(image_id, expected):
    assert parse_image_id(image_id) == expected
