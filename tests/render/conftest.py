"""Helpers for render tests: run a playbook in render mode and validate what it wrote.

Built-in kinds are checked with kubernetes-validate (strict, the Kubernetes minor of the pinned
k3s); custom resources against the openAPIV3Schema of their upstream CRD, read from
../shared/upstream (never copied into the repository).
"""

import json
import os
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
UPSTREAM = REPO.parent / "shared" / "upstream"
VERSIONS = yaml.safe_load((REPO / "inventory/sample/group_vars/all/versions.yml").read_text())["gauntlet_versions"]
# v1.36.4+k3s1 -> 1.36.0: kubernetes-validate ships one schema set per minor.
K8S_VERSION = ".".join(VERSIONS["k3s"].lstrip("v").split(".")[:2]) + ".0"
CRD_FILES = {
    ("helm.cattle.io", "HelmChartConfig"): UPSTREAM / "helm-controller/crds/helm.cattle.io_helmchartconfigs.yaml",
    ("helm.cattle.io", "HelmChart"): UPSTREAM / "helm-controller/crds/helm.cattle.io_helmcharts.yaml",
}


def run_playbook(playbook: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1", **(env or {})}
    return subprocess.run(
        ["ansible-playbook", "-i", str(REPO / "inventory/sample"), str(playbook), *args],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def _strict(schema):
    """Reject unknown fields the way the API server prunes them: closed objects unless preserved."""
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        if (
            schema.get("type") == "object"
            and "properties" in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
            and "additionalProperties" not in schema
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


def crd_validate(obj: dict) -> None:
    group, version = obj["apiVersion"].split("/")
    path = CRD_FILES.get((group, obj["kind"]))
    if path is None or not path.exists():
        pytest.skip(f"no upstream CRD for {obj['kind']} at {path}")
    crd = yaml.safe_load(path.read_text())
    served = {v["name"]: v for v in crd["spec"]["versions"]}
    assert version in served, f"{obj['kind']} {version} is not served by the CRD ({sorted(served)})"
    schema = _strict(served[version]["schema"]["openAPIV3Schema"])
    # metadata is the API server's, not the CRD's to describe.
    schema["properties"].pop("metadata", None)
    jsonschema.validate({k: v for k, v in obj.items() if k != "metadata"}, schema)


def validate_object(obj: dict) -> None:
    """Validate one object, strictly, for the pinned Kubernetes minor."""
    assert obj["metadata"]["name"]
    if "." in obj["apiVersion"].split("/")[0]:
        crd_validate(obj)
    else:
        kubernetes_validate.validate(json.loads(json.dumps(obj)), K8S_VERSION, strict=True)


@pytest.fixture(scope="session")
def render_tools():
    """The helpers above, for test modules (importlib mode does not import conftest by name)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        k8s_version=K8S_VERSION,
        repo=REPO,
        upstream=UPSTREAM,
        run_playbook=run_playbook,
        validate_object=validate_object,
    )
