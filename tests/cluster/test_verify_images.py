"""The images row of playbooks/verify.yml against the real control plane.

Pods are created on kwok's simulated nodes; kwok makes them Running and Ready but leaves every
containerStatuses[].imageID empty (its pod-ready stage writes image, name, ready and state only:
kwok-stages.yaml, built by scripts/build-controlplane), as a kubelet does while the image is
still being pulled. The first run sees exactly that and must report the containers as pending.
The test then writes the imageID a node would report into each Pod's status through the API
(the pods/status subresource, as a kubelet does: a stand-in for containerd, named so here),
once with the digests of a real bundle lock and OCI layout (tests/lock_bundle.py: an index
digest, a platform manifest digest, a config digest), once with a digest outside the lock.
What this cannot prove: that containerd reports these forms for images pulled through the
k3s registry mirror (no container runs here).
"""

from __future__ import annotations

import json
import re
import time

import pytest
from lock_bundle import make_bundle

pytestmark = pytest.mark.controlplane

NGINX = "docker.io/library/nginx:1.27"
KEYCLOAK = "quay.io/keycloak/keycloak:26.7.4"
OUTSIDE = "sha256:" + "e" * 64
NAMESPACE = "images-row"
_ROW = re.compile(r'^\s*"?\| (\S+)\s+\| (.+?)\s+\| (OK|FAIL|SKIP)\s+\| ?(.*?)"?,?$')
STATE: dict = {}


def rows(stdout: str) -> list[tuple[str, str, str, str]]:
    return [(m[1], m[2], m[3], m[4]) for line in stdout.splitlines() if (m := _ROW.match(line))]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images-bundle")
    return folder, make_bundle(folder, {NGINX: ["linux/amd64", "linux/arm64"], KEYCLOAK: ["linux/amd64"]})


def verify(k3s_cluster, folder):
    return k3s_cluster.run(
        "verify.yml",
        "--tags",
        "verify_images",
        "-e",
        json.dumps(
            {
                "verify_api_only": True,
                "verify_bundle_lock": str(folder / "bundle.lock.json"),
                "verify_images_sources": [str(folder / "images")],
            }
        ),
    )


def pod(name, containers, init=()):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "nodeName": STATE["node"],
            "containers": [{"name": n, "image": i} for n, i in containers],
            "initContainers": [{"name": n, "image": i} for n, i in init],
        },
    }


def set_image_ids(k3s_cluster, ids: dict[tuple[str, str], str]) -> None:
    """Write imageID into the named containers' statuses ((pod, container) -> imageID) through
    pods/status: the test's stand-in for the kubelet's report."""
    plane = k3s_cluster.plane
    pods = plane.resource("v1", "Pod")
    for pod_name in sorted({p for p, _unused in ids}):
        obj = pods.get(name=pod_name, namespace=NAMESPACE).to_dict()
        for key in ("containerStatuses", "initContainerStatuses"):
            for cs in obj["status"].get(key) or []:
                if (pod_name, cs["name"]) in ids:
                    cs["imageID"] = ids[(pod_name, cs["name"])]
        plane.netns.call(plane.dynamic().replace, pods.resource.status, body=obj, namespace=NAMESPACE)


def test_pods_kwok_runs_have_no_image_digest_and_are_pending(k3s_cluster, bundle):
    plane = k3s_cluster.plane
    STATE["node"] = next(n["name"] for n in k3s_cluster.nodes if not n["taints"])
    plane.resource("v1", "Namespace").create(
        body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    )
    # Bare pods are refused until the controller manager has made the namespace's default
    # ServiceAccount (admission plugin ServiceAccount); on a busy machine that takes a while.
    accounts = plane.resource("v1", "ServiceAccount")
    deadline = time.monotonic() + 60
    while NAMESPACE not in {a["metadata"]["namespace"] for a in accounts.get(namespace=NAMESPACE).to_dict()["items"]}:
        assert time.monotonic() < deadline, f"no default ServiceAccount in {NAMESPACE} after 60 s"
        time.sleep(0.5)
    pods = plane.resource("v1", "Pod")
    for body in (
        pod("nginx-index", [("nginx", NGINX)]),
        pod("nginx-arm", [("nginx", NGINX)]),
        pod("keycloak", [("keycloak", KEYCLOAK)], init=[("prepare", NGINX)]),
    ):
        pods.create(body=body, namespace=NAMESPACE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        listed = pods.get(namespace=NAMESPACE).to_dict()["items"]
        if len(listed) == 3 and all((p.get("status") or {}).get("phase") == "Running" for p in listed):
            break
        time.sleep(1)
    else:
        pytest.fail(f"kwok did not run the pods: {[(p['metadata']['name'], p.get('status')) for p in listed]}")
    statuses = [
        cs for p in listed for cs in p["status"]["containerStatuses"] + p["status"].get("initContainerStatuses", [])
    ]
    assert len(statuses) == 4 and not [cs.get("imageID") for cs in statuses if cs.get("imageID")]

    folder, _unused = bundle
    run = verify(k3s_cluster, folder)
    STATE["pending"] = run
    assert run.returncode != 0, run.explain()
    assert [r[:3] for r in rows(run.stdout)] == [("images", "running containers", "FAIL")], run.explain()
    assert "4 of 4 containers pending: no image digest yet" in rows(run.stdout)[0][3]
    assert f"{NAMESPACE}/keycloak init container prepare: {NGINX}: no image digest yet" in run.stdout


def test_index_platform_and_config_digests_of_the_lock_pass(k3s_cluster, bundle):
    folder, info = bundle
    nginx, keycloak = info[NGINX], info[KEYCLOAK]
    set_image_ids(
        k3s_cluster,
        {
            ("nginx-index", "nginx"): f"docker.io/library/nginx@{nginx['locked']}",
            ("nginx-arm", "nginx"): f"docker.io/library/nginx@{nginx['platforms']['linux/arm64']['manifest']}",
            ("keycloak", "keycloak"): f"quay.io/keycloak/keycloak@{keycloak['locked']}",
            ("keycloak", "prepare"): nginx["platforms"]["linux/amd64"]["config"],
        },
    )
    run = verify(k3s_cluster, folder)
    STATE["pass"] = run
    assert run.returncode == 0, run.explain()
    assert rows(run.stdout) == [
        ("images", "running containers", "OK", "all 4 containers run images of the bundle lock (4 by digest)")
    ], run.explain()


def test_a_digest_outside_the_lock_fails_naming_it(k3s_cluster, bundle):
    folder, _unused = bundle
    set_image_ids(k3s_cluster, {("nginx-arm", "nginx"): f"docker.io/library/nginx@{OUTSIDE}"})
    run = verify(k3s_cluster, folder)
    STATE["fail"] = run
    assert run.returncode != 0, run.explain()
    found = rows(run.stdout)
    assert [r[:3] for r in found] == [("images", "running containers", "FAIL")], run.explain()
    assert found[0][3].startswith("1 of 4 containers run an image whose digest is not in the bundle lock")
    assert f"{NAMESPACE}/nginx-arm nginx: {NGINX} runs {OUTSIDE}, not in the bundle lock" in run.stdout
    assert "1 check(s) failed: images running containers" in run.stdout


def test_report_timings(record_property):
    for name, run in STATE.items():
        if hasattr(run, "seconds"):
            print(f"{name}: {run.seconds:.1f} s, rc={run.returncode}")
            record_property(f"{name}_seconds", round(run.seconds, 1))
