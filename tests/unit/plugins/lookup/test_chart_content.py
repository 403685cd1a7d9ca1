import base64
import hashlib
import io
import tarfile

import pytest
import yaml
from ansible.errors import AnsibleLookupError
from ansible_collections.gauntlet.platform.plugins.doc_fragments.bundle_lookup import ModuleDocFragment
from ansible_collections.gauntlet.platform.plugins.lookup import chart_content
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import lock as bundle_lock

# The plugin's own options and those of the gauntlet.platform.bundle_lookup fragment it extends.
OPTIONS = {
    **yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"],
    **yaml.safe_load(chart_content.DOCUMENTATION)["options"],
}


def LookupModule():
    """The plugin with its options resolved from DOCUMENTATION (what Ansible's loader does)."""
    lookup = chart_content.LookupModule()
    options = {}

    def set_options(var_options=None, direct=None):
        unknown = set(direct or {}) - set(OPTIONS)
        assert not unknown, f"options not documented: {unknown}"
        options.clear()
        options.update({name: spec.get("default") for name, spec in OPTIONS.items() if name != "_terms"})
        options.update(direct or {})

    lookup.set_options = set_options
    lookup.get_option = options.__getitem__
    return lookup


def test_documentation_declares_the_options_run_reads():
    assert set(OPTIONS) == {"_terms", "bundle_dir", "base_dir", "dependencies", "version", "app_version"}
    assert OPTIONS["bundle_dir"]["required"] is True
    assert (OPTIONS["dependencies"]["default"], OPTIONS["version"]["default"]) == ([], "")


@pytest.fixture
def bundle(tmp_path):
    files = {
        "x/1/charts/web/Chart.yaml": b"apiVersion: v2\nname: web\nversion: 0.0.0-undefined\n",
        "x/1/charts/web/templates/cm.yaml": b"kind: ConfigMap\n",
        "x/1/charts/partials/Chart.yaml": b"apiVersion: v1\nname: partials\nversion: 0.1.0\n",
    }
    lock = bundle_lock.empty_lock()
    for name, data in files.items():
        path = tmp_path / "files" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        bundle_lock.set_file(lock, name, hashlib.sha256(data).hexdigest(), url="https://example.invalid/" + name)
    bundle_lock.write_lock(str(tmp_path / "bundle.lock.json"), lock)
    return tmp_path


def names(encoded):
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(encoded)), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def test_returns_the_base64_archive_of_each_term(bundle):
    result = LookupModule().run(
        ["x/1/charts/web", "x/1/charts/partials"],
        variables={},
        bundle_dir=str(bundle),
        dependencies=[],
        version="2026.8.3",
    )
    assert len(result) == 2
    web = names(result[0])
    assert sorted(web) == ["web/Chart.yaml", "web/templates/cm.yaml"]
    assert b'version: "2026.8.3"' in web["web/Chart.yaml"]
    assert sorted(names(result[1])) == ["partials/Chart.yaml"]


def test_vendors_dependencies_and_is_stable(bundle):
    def run():
        return LookupModule().run(
            ["x/1/charts/web"], variables={}, bundle_dir=str(bundle), dependencies=["x/1/charts/partials"],
            app_version="edge-1.0.0",
        )  # fmt: skip

    first = run()
    assert first == run()
    web = names(first[0])
    assert "web/charts/partials/Chart.yaml" in web
    assert web["web/Chart.yaml"].endswith(b'appVersion: "edge-1.0.0"\n')


def test_errors_name_the_chart_and_the_fix(bundle):
    (bundle / "files/x/1/charts/web/templates/cm.yaml").write_bytes(b"changed\n")
    with pytest.raises(AnsibleLookupError, match=r"chart_content: x/1/charts/web: .*sha256.*rebuild the bundle"):
        LookupModule().run(["x/1/charts/web"], variables={}, bundle_dir=str(bundle))


def test_needs_a_bundle_dir():
    with pytest.raises(AnsibleLookupError, match="bundle_dir is empty"):
        LookupModule().run(["x/1/charts/web"], variables={}, bundle_dir="")
