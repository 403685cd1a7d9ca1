import hashlib

import pytest
from ansible.errors import AnsibleLookupError
from ansible_collections.gauntlet.platform.plugins.lookup.bundle_images import LookupModule as ImagesLookup
from ansible_collections.gauntlet.platform.plugins.lookup.bundle_manifest import LookupModule as ManifestLookup
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import lock as bundle_lock

MANIFEST = """---
apiVersion: v1
kind: Namespace
metadata: {name: demo}
---
# an empty document is skipped
---
apiVersion: v1
kind: List
items:
  - apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web, namespace: demo}
    spec:
      template:
        spec:
          containers: [{name: web, image: nginx:1.27}]
          initContainers: [{name: init, image: "quay.io/org/init:2"}]
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: things.example.com}
spec:
  enum: [=, "!="]
"""


def make_bundle(tmp_path, files):
    lock = bundle_lock.empty_lock()
    for name, text in files.items():
        path = tmp_path / "files" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        bundle_lock.set_file(lock, name, hashlib.sha256(text.encode()).hexdigest())
    bundle_lock.write_lock(str(tmp_path / "bundle.lock.json"), lock)
    return str(tmp_path)


def manifest(bundle, *names):
    return ManifestLookup().run(list(names), variables={}, bundle_dir=bundle)


def test_objects_in_order_lists_expanded_and_bare_equals_read_as_strings(tmp_path):
    bundle = make_bundle(tmp_path, {"demo/1.0/all.yaml": MANIFEST})
    objects = manifest(bundle, "demo/1.0/all.yaml")
    assert [o["kind"] for o in objects] == ["Namespace", "Deployment", "CustomResourceDefinition"]
    assert objects[2]["spec"]["enum"] == ["=", "!="]


def test_a_changed_file_is_refused_with_both_digests(tmp_path):
    bundle = make_bundle(tmp_path, {"demo/all.yaml": MANIFEST})
    (tmp_path / "files/demo/all.yaml").write_text(MANIFEST + "# edited\n")
    with pytest.raises(
        AnsibleLookupError, match=r"has sha256 [0-9a-f]{64} but the lock says [0-9a-f]{64}.*bundle\.yml"
    ):
        manifest(bundle, "demo/all.yaml")


def test_missing_file_lock_or_entry(tmp_path):
    bundle = make_bundle(tmp_path, {"demo/all.yaml": MANIFEST})
    with pytest.raises(AnsibleLookupError, match="not in the bundle lock"):
        manifest(bundle, "demo/other.yaml")
    (tmp_path / "files/demo/all.yaml").unlink()
    with pytest.raises(AnsibleLookupError, match="is missing; copy the whole bundle folder"):
        manifest(bundle, "demo/all.yaml")
    with pytest.raises(AnsibleLookupError, match="does not exist; build the bundle"):
        manifest(str(tmp_path / "nowhere"), "demo/all.yaml")


def test_names_must_stay_inside_the_bundle(tmp_path):
    bundle = make_bundle(tmp_path, {"demo/all.yaml": MANIFEST})
    with pytest.raises(AnsibleLookupError, match="relative path inside the bundle"):
        manifest(bundle, "../bundle.lock.json")


def test_invalid_yaml_and_non_objects_are_refused(tmp_path):
    bundle = make_bundle(tmp_path, {"bad.yaml": "a: [b\n", "scalar.yaml": "--- just text\n"})
    with pytest.raises(AnsibleLookupError, match="not valid YAML"):
        manifest(bundle, "bad.yaml")
    with pytest.raises(AnsibleLookupError, match="not a Kubernetes object"):
        manifest(bundle, "scalar.yaml")


def test_image_list_joins_manifests_extra_images_and_lists(tmp_path):
    bundle = make_bundle(tmp_path, {"demo/all.yaml": MANIFEST})
    listed = tmp_path / "images.txt"
    listed.write_text("# build images\nquay.io/org/init:2\n\npython:3.12-slim  # base\n")
    images = ImagesLookup().run(
        [], variables={}, bundle_dir=bundle, manifests=["demo/all.yaml"], images=["ghcr.io/a/b:1"], lists=[str(listed)]
    )
    assert images == [
        "docker.io/library/nginx:1.27",
        "docker.io/library/python:3.12-slim",
        "ghcr.io/a/b:1",
        "quay.io/org/init:2",
    ]


def test_image_list_errors_name_their_source(tmp_path):
    bundle = make_bundle(tmp_path, {"demo/all.yaml": MANIFEST})
    with pytest.raises(AnsibleLookupError, match=r"images: .*UPPER"):
        ImagesLookup().run([], variables={}, bundle_dir=bundle, images=["UPPER/case:1"])
    with pytest.raises(AnsibleLookupError, match="cannot read the image list"):
        ImagesLookup().run([], variables={}, bundle_dir=bundle, lists=[str(tmp_path / "none.txt")])
