"""The objects of gitops/ as Argo CD applies them: every kustomization, built.

`kubectl kustomize` when kubectl is installed, otherwise the test renderer of tests/gitops
(which fails on any kustomize field it does not implement). Helper for the render tests.
"""

import importlib.util
import shutil
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
GITOPS = REPO / "gitops"


def _test_renderer():
    spec = importlib.util.spec_from_file_location("gitops_renderer", REPO / "tests/gitops/test_task_api_manifests.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.render


def kustomize(directory: Path) -> list[dict]:
    if shutil.which("kubectl"):
        result = subprocess.run(
            ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, check=False, timeout=120
        )
        assert result.returncode == 0, f"kubectl kustomize {directory}: {result.stderr}"
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return _test_renderer()(directory)


def apps() -> list[Path]:
    found = sorted(p.parent for p in GITOPS.glob("*/kustomization.yaml"))
    assert found, "no kustomization under gitops/"
    return found


def objects() -> list[tuple[str, dict]]:
    """[(app folder name, object)] of every gitops app."""
    return [(app.name, obj) for app in apps() for obj in kustomize(app)]
