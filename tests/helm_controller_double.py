"""A test double of k3s's helm-controller for the control-plane tier, with the real helm binary.

On k3s, helm-controller (VERSIONS.md §11, helm-controller/pkg/controllers/chart/chart.go)
watches HelmChart objects and runs a Job that installs each chart with helm. The platform
stage's Linkerd role hands Linkerd to it (HelmCharts linkerd-crds, linkerd-control-plane,
linkerd-cni, linkerd-viz, each with its archive in ``spec.chartContent``) and then waits for
what the charts create (the policy CRDs, the control plane's Deployments).

What this double does, on a thread beside the playbook run: every few seconds it lists the
HelmCharts; for each one that carries ``chartContent`` and whose spec or values Secrets changed
since it last rendered, it runs ``helm template`` with the values in helm-controller's order
(``valuesContent``, ``values``, each ``valuesSecrets`` key, then ``set``: the HelmChart CRD's
field descriptions in helm-controller/crds/) into ``targetNamespace`` (created when
``createNamespace`` is set), and server-side applies the result: CRDs first, then the rest.
kwok then makes the Deployments' pods Ready.

What it does not do, so what the tier does not prove with it: no Helm release Secret and no
hooks (``helm template`` renders hook objects as plain objects; none of the Linkerd charts'
objects the roles wait for are hooks), no ``helm-install-*`` Job, no pruning of objects a
new chart version drops, no uninstall on delete, and charts fetched by URL (k3s's own
``traefik`` HelmChart names ``%{KUBERNETES_API}%/static/charts/...``) are left alone: it says
which it skipped in ``skipped``.
"""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile
import threading
import traceback
from pathlib import Path

import yaml

FIELD_MANAGER = "helm-controller-double"


def unpack_chart(chart_content: str, folder: Path) -> Path:
    """The chart folder inside a HelmChart's ``chartContent`` (a base64 .tgz), unpacked;
    regular files only, no absolute or parent paths."""
    data = base64.b64decode(chart_content)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            if not member.isreg() or member.name.startswith("/") or ".." in member.name.split("/"):
                raise ValueError(f"chart archive member {member.name!r} is not a plain relative file")
            target = folder / member.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(tar.extractfile(member).read())
    (chart_dir,) = [p for p in folder.iterdir() if p.is_dir()]
    return chart_dir


def set_args(spec: dict) -> list[str]:
    """helm's --set arguments of a HelmChart's ``spec.set`` (which wins over every values file)."""
    return [arg for key, value in (spec.get("set") or {}).items() for arg in ("--set", f"{key}={value}")]


def chart_values(chart: dict, read_secret) -> list[str]:
    """The values documents helm-controller hands helm, in its order (later ones win):
    valuesContent, values, then each valuesSecrets key (helm-controller
    crds/helm.cattle.io_helmcharts.yaml; ``set`` goes over all of them, set_args).
    ``read_secret(namespace, name)`` returns the Secret object, from a cluster or a render."""
    spec = chart["spec"]
    docs = [spec.get("valuesContent") or "{}"]
    if spec.get("values"):
        docs.append(yaml.safe_dump(spec["values"]))
    for ref in spec.get("valuesSecrets") or []:
        secret = read_secret(chart["metadata"]["namespace"], ref["name"])
        docs += [base64.b64decode(secret["data"][key]).decode() for key in ref.get("keys") or []]
    return docs


def rendered_secret(objects, namespace: str, name: str) -> dict:
    """The one Secret ``namespace/name`` among rendered objects (chart_values' read_secret for a
    render instead of a cluster)."""
    (secret,) = [
        o
        for o in objects
        if o["kind"] == "Secret" and o["metadata"]["name"] == name and o["metadata"]["namespace"] == namespace
    ]
    return secret


class HelmControllerDouble:
    """Start with start(), stop with stop(); ``installed`` maps namespace/name to the number of
    objects applied, ``errors`` holds what failed (the thread never raises)."""

    def __init__(self, plane, work: Path, interval: float = 3.0):
        self.plane = plane
        self.work = work
        self.interval = interval
        self.env = {
            "HELM_CACHE_HOME": str(work / "helm-cache"),
            "HELM_CONFIG_HOME": str(work / "helm-config"),
            "HELM_DATA_HOME": str(work / "helm-data"),
        }
        self.installed: dict[str, int] = {}
        self.skipped: set[str] = set()
        self.errors: list[str] = []
        self._seen: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="helm-controller-double", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=120)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sync()
            except Exception:  # a failing round is recorded; the next round tries again
                self.errors.append(traceback.format_exc(limit=3))
            self._stop.wait(self.interval)

    # one round

    def sync(self) -> None:
        charts = self.plane.resource("helm.cattle.io/v1", "HelmChart").get().to_dict()["items"]
        for chart in charts:
            key = f"{chart['metadata']['namespace']}/{chart['metadata']['name']}"
            spec = chart["spec"]
            if not spec.get("chartContent"):
                self.skipped.add(key)
                continue
            values = self.values(chart)
            fingerprint = json.dumps([spec, values], sort_keys=True)
            if self._seen.get(key) == fingerprint:
                continue
            objects = self.template(chart, values)
            self.apply(objects, spec.get("targetNamespace") or chart["metadata"]["namespace"], spec)
            self._seen[key] = fingerprint
            self.installed[key] = len(objects)

    def values(self, chart: dict) -> list[str]:
        secrets = self.plane.resource("v1", "Secret")
        return chart_values(chart, lambda namespace, name: secrets.get(name=name, namespace=namespace).to_dict())

    def template(self, chart: dict, values: list[str]) -> list[dict]:
        name = chart["metadata"]["name"]
        folder = self.work / f"{chart['metadata']['namespace']}-{name}"
        folder.mkdir(parents=True, exist_ok=True)
        chart_dir = unpack_chart(chart["spec"]["chartContent"], folder / "chart")
        args = []
        for index, text in enumerate(values):
            path = folder / f"values-{index:02d}.yaml"
            path.write_text(text)
            args += ["--values", str(path)]
        namespace = chart["spec"].get("targetNamespace") or chart["metadata"]["namespace"]
        version = json.loads(self.plane.get("/version"))["gitVersion"]
        result = self.plane.run(
            str(self.plane.bin / "helm"), "template", name, str(chart_dir), "--namespace", namespace,
            "--include-crds", "--kube-version", version, *args, *set_args(chart["spec"]),
            env={**os.environ, **self.env}, timeout=300,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"helm template {name}: {result.stderr.strip()}")
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]

    def apply(self, objects: list[dict], namespace: str, spec: dict) -> None:
        if spec.get("createNamespace"):
            self.plane.resource("v1", "Namespace").server_side_apply(
                body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
                field_manager=FIELD_MANAGER,
            )
        crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
        for crd in crds:
            self.plane.resource("apiextensions.k8s.io/v1", "CustomResourceDefinition").server_side_apply(
                body=crd, field_manager=FIELD_MANAGER, force_conflicts=True
            )
        self.plane.wait_established([c["metadata"]["name"] for c in crds])
        for obj in objects:
            if obj["kind"] == "CustomResourceDefinition":
                continue
            resource = self.plane.resource(obj["apiVersion"], obj["kind"])
            ns = (obj["metadata"].get("namespace") or namespace) if resource.resource.namespaced else None
            resource.server_side_apply(body=obj, namespace=ns, field_manager=FIELD_MANAGER, force_conflicts=True)
