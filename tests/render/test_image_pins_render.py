"""Every image the platform runs is pinned: no floating tag (issue 18 item 11, review M7).

A floating tag (`latest`, a bare major such as `:1`, a bare major.minor such as `:3.13`, or
no tag at all, which means `latest`) names whatever was pushed last: a rebuilt bundle then
ships another image under the same name, unreviewed. A reference with a digest
(`name[:tag]@sha256:...`) is fixed whatever its tag says.

Scanned: the computed image list (gauntlet_bundle_images: every image the bundle pulls,
from the pinned manifests, gauntlet_images and apps/task-api's lists), every image the
rendered platform objects name (pod specs, and image settings in environment variables such
as drone-runner's DRONE_IMAGE_CLONE), the gitops objects as Argo CD applies them, and the
steps and services of apps/task-api/.drone.yml.

Not an image: the OCI artifacts of apps/task-api/oci-artifacts.txt (Trivy's vulnerability
database `trivy-db:2`) are data the pipeline reads, never run as a container. Their `:2` is
the database schema version, republished every few hours on purpose: freshness is the
point of a vulnerability database. The bundle lock records the digest the bundle pulled, and
the preload refuses to re-point the tag in the local registry (docs/security.md, "Registry").
The test checks that no pod or step runs one of them.

Uses the shared `platform_render` fixture.
"""

import re
from pathlib import Path

import gitops_render
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLLING_NAMES = {"latest", "stable", "edge", "main", "master", "nightly", "dev", "develop", "release"}
BARE_VERSION = re.compile(r"^v?\d+(\.\d+)?$")
# Images upstream publishes under a floating tag only, each with the reason it is accepted.
# Remove an entry when it is pinned (the test fails while an entry is no longer needed).
EXEMPT = {
    # drone-runner-kube v1.0.0-rc.5 engine/compiler/step.go: placeholderImage. Its source
    # (docker/placeholder: a sleep loop installed as /bin/sh) is pushed by hand
    # (scripts/placeholder/build_publish.sh: `-t drone/placeholder:latest`); no version tag
    # exists. Its digest is not at hand here: set gauntlet_images.drone_placeholder to
    # docker.io/drone/placeholder:1@sha256:<digest> to pin it (docs/security.md, "Registry").
    "docker.io/drone/placeholder:1": "upstream publishes no version tag",
}


def floating(reference):
    """Why an image reference floats, or None when it is pinned."""
    from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_ref import parse_image

    ref = parse_image(reference, default_tag=False)
    if ref.digest:
        return None
    if not ref.tag:
        return "no tag (means latest)"
    if ref.tag.lower() in ROLLING_NAMES:
        return f"rolling tag {ref.tag!r}"
    if BARE_VERSION.match(ref.tag):
        return f"bare version {ref.tag!r} (moves with every release under it)"
    return None


def oci_artifacts():
    lines = (REPO / "apps/task-api/oci-artifacts.txt").read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")}


def normalized(reference):
    from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_ref import parse_image

    return str(parse_image(reference, default_tag=False))


def env_images(obj):
    """Image references in environment variables named like one (DRONE_IMAGE_CLONE, ...)."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            name, value = node.get("name"), node.get("value")
            if isinstance(name, str) and isinstance(value, str) and value and re.search(r"(^|_)IMAGE(_|$)", name):
                found.append(value)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(obj)
    return found


def pipeline_images():
    images = []
    for doc in yaml.safe_load_all((REPO / "apps/task-api/.drone.yml").read_text()):
        for section in ("steps", "services"):
            images += [step["image"] for step in (doc or {}).get(section) or [] if "image" in step]
    return images


@pytest.fixture(scope="module")
def references(platform_render):
    """{normalized reference: [where it was found]} of everything the platform runs."""
    from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_list import images_from_manifests

    found = {}

    def add(reference, where):
        found.setdefault(normalized(reference), []).append(where)

    artifacts = {normalized(a) for a in oci_artifacts()}
    for image in platform_render.images:
        if normalized(image) not in artifacts:
            add(image, "gauntlet_bundle_images")
    for path, obj in sorted(platform_render.objects.items()):
        for image in images_from_manifests([obj], normalize=False) + env_images(obj):
            add(image, f"render {path}")
    for app, obj in gitops_render.objects():
        for image in images_from_manifests([obj], normalize=False):
            add(image, f"gitops/{app} {obj['kind']} {obj['metadata']['name']}")
    for image in pipeline_images():
        add(image, "apps/task-api/.drone.yml")
    return found


def test_floating_tags_are_recognised():
    assert floating("docker.io/drone/git:latest")
    assert floating("drone/placeholder:1")
    assert floating("docker.io/library/python:3.13")
    assert floating("ghcr.io/aquasecurity/trivy-db:2")
    assert floating("alpine")
    assert floating("registry.local:5000/x/y")
    assert floating("quay.io/x/y:v2")
    assert floating("docker.io/drone/git:1.2.1") is None
    assert floating("docker.io/library/python:3.13.7-slim-trixie") is None
    assert floating("cr.l5d.io/linkerd/proxy:edge-26.8.3") is None
    assert floating("docker.io/drone/placeholder:1@sha256:" + "a" * 64) is None
    assert floating("registry.local:5000/gauntlet/task-api:0.1.0") is None


def test_every_image_the_platform_runs_is_pinned(references):
    assert len(references) > 20, f"the scan found too few images to be the platform's: {sorted(references)}"
    unpinned = {
        ref: (why, where)
        for ref, where in references.items()
        if (why := floating(ref)) and ref not in {normalized(e) for e in EXEMPT}
    }
    assert not unpinned, "floating image references (pin a version or a digest in gauntlet_images): " + "; ".join(
        f"{ref}: {why}, in {', '.join(sorted(set(where)))}" for ref, (why, where) in sorted(unpinned.items())
    )


def test_every_exemption_is_still_needed(references):
    for reference, reason in EXEMPT.items():
        assert reason
        assert normalized(reference) in references, f"{reference} is no longer used: remove it from EXEMPT"
        assert floating(reference), f"{reference} is pinned now: remove it from EXEMPT"


def test_oci_artifacts_are_data_never_run(references):
    artifacts = {normalized(a) for a in oci_artifacts()}
    assert artifacts, "apps/task-api/oci-artifacts.txt lists nothing"
    assert not artifacts & set(references), (
        f"an OCI artifact runs as a container: {sorted(artifacts & set(references))}"
    )


# --- Digests from the bundle lock (issue 18 H1 fix 3) ------------------------------------------
# The platform render's test bundle records files only. Here the same bundle's lock also records
# a digest for every image of the computed list, as `image_bundle` does after pulling: test data,
# a sha256 of the reference itself (no registry is at hand), so each digest is distinct and
# traceable. The drone and cnpg components are rendered again with that lock (k8s_objects reads
# it): every image reference of their workloads must then carry the digest the lock gives.
DIGEST_COMPONENTS = ("drone", "cnpg")


def _test_digest(reference):
    import hashlib

    return "sha256:" + hashlib.sha256(normalized(reference).encode()).hexdigest()


@pytest.fixture(scope="module")
def digest_render(platform_render, render_tools, tmp_path_factory):
    import json
    import shutil

    from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import lock as bundle_lock

    work = tmp_path_factory.mktemp("digests")
    bundle = work / "bundle"
    shutil.copytree(platform_render.bundle, bundle, symlinks=True)
    lock = bundle_lock.load_lock(str(bundle / "bundle.lock.json"))
    for image in platform_render.images:
        bundle_lock.set_image(lock, normalized(image), _test_digest(image))
    (bundle / "bundle.lock.json").unlink()
    bundle_lock.write_lock(str(bundle / "bundle.lock.json"), lock)
    credentials = work / "credentials"
    shutil.copytree(platform_render.credentials, credentials)
    out = work / "render"
    extra = json.loads(platform_render.args[1])
    extra.update(
        gauntlet_render_dir=str(out), gauntlet_credentials_dir=str(credentials), gauntlet_bundle_dir=str(bundle)
    )
    result = render_tools.run_playbook(
        REPO / "playbooks/platform.yml", "--tags", ",".join(DIGEST_COMPONENTS), "-e", json.dumps(extra)
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    objects = {p.relative_to(out): yaml.safe_load(p.read_text()) for p in sorted(out.rglob("*.yaml"))}
    assert {p.parts[0] for p in objects} >= set(DIGEST_COMPONENTS)
    return objects, {entry["name"]: entry["digest"] for entry in lock["images"]}


def test_rendered_workloads_pull_the_digest_the_bundle_lock_gives(digest_render):
    from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_list import images_from_manifests
    from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_ref import parse_image

    objects, digests = digest_render
    seen, wrong = [], []
    for path, obj in objects.items():
        if obj["kind"] in ("ConfigMap", "Secret", "CustomResourceDefinition"):
            continue
        for reference in images_from_manifests([obj], normalize=False) + env_images(obj):
            ref = parse_image(reference)
            seen.append(reference)
            name = str(parse_image(reference.split("@", 1)[0]))
            if name not in digests:
                wrong.append(f"{path}: {reference} is not in the bundle lock")
            elif ref.digest != digests[name]:
                wrong.append(f"{path}: {reference} does not carry the lock's digest {digests[name]}")
    # The drone runner's placeholder (an environment setting) and the CronJob are among them.
    assert any("drone/placeholder" in r for r in seen) and len(seen) >= 5, seen
    assert not wrong, "\n".join(wrong)
