"""Helpers for render tests: run a playbook in render mode and validate what it wrote.

Built-in kinds are checked with kubernetes-validate (strict, the Kubernetes minor of the pinned
k3s); custom resources against the openAPIV3Schema of their upstream CRD, read from the
upstream folder that tests/upstream.py resolves (GAUNTLET_UPSTREAM_DIR, default
../shared/upstream; never copied into the repository). Without it, the tests that need it skip.
"""

import functools
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import loopback_netns
import pytest
import session_cache
import upstream
import yaml
from collection_defaults import pinned_versions
from resolved_vars import VARS_PLAYBOOK

# Helper modules beside this file (pod_security) import by name under importlib mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))

REPO = Path(__file__).resolve().parents[2]
# Where upstream copies are read (may not exist: read files through upstream.path/glob).
UPSTREAM = upstream.root()
VERSIONS = pinned_versions()
# v1.36.4+k3s1 -> 1.36.0: kubernetes-validate ships one schema set per minor.
K8S_VERSION = ".".join(VERSIONS["k3s"].lstrip("v").split(".")[:2]) + ".0"
# Upstream files holding CustomResourceDefinitions (whole install manifests included:
# only their CRD documents are used).
CRD_SOURCES = [
    "helm-controller/crds/helm.cattle.io_helmchartconfigs.yaml",
    "helm-controller/crds/helm.cattle.io_helmcharts.yaml",
    "cloudnative-pg/1.30.0/cnpg-1.30.0.yaml",
    "argo-cd/v3.5.1/install.yaml",
    "keycloak/26.0.0/kubernetes/keycloaks.k8s.keycloak.org-v1.yml",
    "keycloak/26.0.0/kubernetes/keycloakrealmimports.k8s.keycloak.org-v1.yml",
    "kube-prometheus/v0.18.0/manifests/setup/*.yaml",
    # Middleware, TLSStore, TLSOption, IngressRoute...: the chart k3s v1.36.4 installs them
    # from (its traefik-crd release, VERSIONS.md §12).
    "traefik-helm-chart/v40.1.0/traefik/crds/traefik.io_*.yaml",
    # Linkerd's policy CRDs (Server, AuthorizationPolicy, MeshTLSAuthentication, ...): Helm
    # templates whose only template lines are metadata (dropped when read).
    "linkerd/edge-26.8.3/charts/linkerd-crds/templates/policy/*.yaml",
]


def run_playbook(playbook: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``playbook`` against inventory/sample, in a loopback-only network namespace.

    Render mode contacts no host; the namespace makes sure a regression cannot dial the
    sample's real private addresses either.
    """
    loopback_netns.require()
    environment = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1", **(env or {})}
    return subprocess.run(
        loopback_netns.isolated(["ansible-playbook", "-i", str(REPO / "inventory/sample"), str(playbook), *args]),
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def _strict(schema):
    """Reject unknown fields the way the API server prunes them: closed objects unless preserved.

    Also rewrites Go's ``^(?i)…`` (flags after the anchor) to Python's ``(?i)^…``.
    """
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and pattern.startswith("^(?i)"):
            schema["pattern"] = "(?i)^" + pattern[len("^(?i)") :]
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


@functools.cache
def upstream_crds() -> dict:
    """(group, kind) -> CRD object, from every upstream file of CRD_SOURCES."""
    from ansible_collections.gauntlet.platform.plugins.module_utils.bundle.file import manifest_loader

    loader = manifest_loader()
    crds = {}
    sources = []
    for pattern in CRD_SOURCES:
        sources += upstream.glob(pattern)  # skips (fails in CI) when absent
    for path in sources:
        text = path.read_text()
        if "/templates/" in str(path):
            text = "\n".join(line for line in text.splitlines() if "{{" not in line)
        for doc in yaml.load_all(text, Loader=loader):
            if doc and doc.get("kind") == "CustomResourceDefinition":
                crds[(doc["spec"]["group"], doc["spec"]["names"]["kind"])] = doc
    return crds


def crd_validate(obj: dict) -> None:
    group, version = obj["apiVersion"].split("/")
    crd = upstream_crds().get((group, obj["kind"]))
    assert crd is not None, f"no upstream CRD for {obj['apiVersion']} {obj['kind']}: add its file to CRD_SOURCES"
    served = {v["name"]: v for v in crd["spec"]["versions"]}
    assert version in served, f"{obj['kind']} {version} is not served by the CRD ({sorted(served)})"
    schema = _strict(served[version]["schema"]["openAPIV3Schema"])
    # metadata is the API server's, not the CRD's to describe.
    schema["properties"].pop("metadata", None)
    # apiVersion and kind are always the API server's too, whether the schema lists them
    # or not (Linkerd's policy CRDs list only spec).
    for key in ("apiVersion", "kind"):
        schema["properties"].setdefault(key, {"type": "string"})
    schema["required"] = [r for r in schema.get("required", []) if r != "metadata"]
    jsonschema.validate({k: v for k, v in obj.items() if k != "metadata"}, schema)


def validate_object(obj: dict) -> None:
    """Validate one object, strictly, for the pinned Kubernetes minor."""
    assert obj["metadata"]["name"]
    group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
    # Built-in API groups are *.k8s.io (or have no dot); anything else is a custom resource.
    if (group, obj["kind"]) in upstream_crds() or ("." in group and not group.endswith("k8s.io")):
        crd_validate(obj)
    else:
        kubernetes_validate.validate(json.loads(json.dumps(obj)), K8S_VERSION, strict=True)


def inventory_vars(work: Path, names: list[str], *extra: str) -> dict:
    """Variables of inventory/sample as the controller's plays (on localhost) see them, templated by Ansible itself."""
    playbook = work / "vars.yml"
    playbook.write_text(VARS_PLAYBOOK)
    dest = work / "vars.json"
    result = run_playbook(
        playbook, "-e", json.dumps({"__names": names, "__dest": str(dest), "__host": "localhost"}), *extra
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(dest.read_text())


def render_play(work: Path, playbook: str) -> Path:
    """Render mode of a small ``playbook`` (its text) into ``work``/out; returns that folder."""
    (work / "render.yml").write_text(playbook)
    out = work / "out"
    result = run_playbook(
        work / "render.yml",
        "-e",
        json.dumps({"gauntlet_render_dir": str(out), "gauntlet_credentials_dir": str(work / "credentials")}),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_gap_double(folder: Path, name: str) -> Path:
    """A TEST DOUBLE for an upstream file the shared folder lacks (upstream.NOT_IN_SHARED).

    Render mode only packs chart files into a HelmChart's chartContent, so a file that says
    what it is (and a Chart.yaml helm can read) lets the rest of the platform render; the
    tests that read the chart itself skip naming the gap (upstream.path).
    """
    target = folder / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.name == "Chart.yaml":
        chart = target.parent.name
        text = f"apiVersion: v2\nname: {chart}\nversion: 0.0.0\ndescription: TEST DOUBLE for {upstream.gap(name)}\n"
    else:
        text = f"# TEST DOUBLE for {upstream.gap(name)}: not in the shared upstream folder\n"
    target.write_text(text)
    return target


def make_upstream_bundle(work: Path) -> tuple[Path, dict]:
    """A bundle folder made of the upstream copies (tests/upstream.py), with its lock.

    Every gauntlet_bundle_files entry whose name exists in the upstream folder is
    linked in (names follow the upstream folders); binaries that are not there (k3s, the
    registry tarball) are left out, which render mode never reads. Returns the folder
    and the resolved gauntlet_bundle_files entries.
    """
    from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import lock as bundle_lock

    source_root = upstream.require()
    entries = inventory_vars(work, ["gauntlet_bundle_files"])["gauntlet_bundle_files"]
    bundle = work / "bundle"
    lock = bundle_lock.empty_lock()
    for entry in entries:
        source = source_root / entry["name"]
        if not source.is_file():
            if upstream.gap(entry["name"]):
                source = write_gap_double(work / "gap-doubles", entry["name"])
            else:
                continue
        target = bundle / "files" / entry["name"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(source)
        bundle_lock.set_file(lock, entry["name"], sha256_of(source), url=entry["url"])
    bundle_lock.write_lock(str(bundle / "bundle.lock.json"), lock)
    return bundle, {entry["name"]: entry for entry in entries}


@pytest.fixture(scope="session")
def platform_render(tmp_path_factory):
    """playbooks/platform.yml rendered twice from inventory/sample with an upstream bundle.

    Returns the render folder, the first render's bytes, the second run's output, the
    credentials folder, the bundle entries, the computed image list and the domains.
    Skips every test using it, before any work, when there are no upstream inputs.
    """
    return render_platform(tmp_path_factory)


def render_platform(tmp_path_factory, *, rerun: bool = True):
    """What the platform_render fixture returns, made once per session: the control-plane
    tier's chart tests (tests/cluster/test_charts.py) load this module and call it too, with
    ``rerun=False`` (the first render only; the second run is made when a test needs it)."""
    upstream.require()
    base = str(tmp_path_factory.getbasetemp())
    first = session_cache.once(("platform_first", base), lambda: _first_render(tmp_path_factory))
    if not rerun:
        return first
    return session_cache.once(("platform_render", base), lambda: _second_render(first))


def _first_render(tmp_path_factory):
    from types import SimpleNamespace

    work = tmp_path_factory.mktemp("platform")
    bundle, entries = make_upstream_bundle(work)
    out = work / "render"
    args = [
        "-e",
        json.dumps(
            {
                "gauntlet_render_dir": str(out),
                "gauntlet_credentials_dir": str(work / "credentials"),
                "gauntlet_bundle_dir": str(bundle),
            }
        ),
    ]
    first = run_playbook(REPO / "playbooks/platform.yml", *args)
    assert first.returncode == 0, first.stdout + first.stderr
    snapshot = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*.yaml"))}
    return SimpleNamespace(
        dir=out,
        work=work,
        args=args,
        first=snapshot,
        credentials=work / "credentials",
        bundle=bundle,
        bundle_entries=entries,
        objects={p: yaml.safe_load(b) for p, b in snapshot.items()},
    )


def _second_render(first):
    """The first render, a second run over it, and the resolved image list, domains and the
    contracts that name a namespace (templated from gauntlet_namespaces)."""
    from types import SimpleNamespace

    second = run_playbook(REPO / "playbooks/platform.yml", *first.args)
    assert second.returncode == 0, second.stdout + second.stderr
    contracts = ["gauntlet_namespaces", "gauntlet_gitea_internal_url", "gauntlet_linkerd_inject_namespaces"]
    resolved = inventory_vars(first.work, ["gauntlet_bundle_images", "local_domains_services", *contracts], *first.args)
    return SimpleNamespace(
        **vars(first),
        second_stdout=second.stdout,
        images=resolved["gauntlet_bundle_images"],
        domains=resolved["local_domains_services"],
        contracts={name: resolved[name] for name in contracts},
    )


@pytest.fixture(scope="session")
def render_tools():
    """The helpers above, for test modules (importlib mode does not import conftest by name)."""
    from types import SimpleNamespace

    class RenderTools(SimpleNamespace):
        @property
        def upstream(self) -> Path:
            """The upstream folder; reading it skips the test (fails in CI) when it is absent."""
            return upstream.require()

    return RenderTools(
        k8s_version=K8S_VERSION,
        repo=REPO,
        # Upstream files for tests: paths, or a skip (a failure in CI) when absent.
        upstream_path=upstream.path,
        upstream_glob=upstream.glob,
        run_playbook=run_playbook,
        render_play=render_play,
        validate_object=validate_object,
        inventory_vars=inventory_vars,
        make_upstream_bundle=make_upstream_bundle,
    )
