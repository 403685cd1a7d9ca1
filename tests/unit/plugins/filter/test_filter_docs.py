"""Every filter a plugin exports is documented beside it, and ansible-doc renders that documentation.

ansible-test sanity (validate-modules, ansible-doc) and Galaxy read plugins/filter/<name>.yml for a
filter that shares a file with others; a filter without one shows no documentation at all.
"""

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[4]
FILTER_DIR = REPO / "plugins" / "filter"


def exported_filters():
    names = {}
    for path in sorted(FILTER_DIR.glob("*.py")):
        if path.name == "__init__.py":
            continue
        module = importlib.import_module(f"ansible_collections.gauntlet.platform.plugins.filter.{path.stem}")
        for name in module.FilterModule().filters():
            names[name] = path.name
    return names


FILTERS = exported_filters()


def test_the_plugins_export_filters():
    assert len(FILTERS) > 40


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_each_filter_has_a_doc_file_naming_it(name):
    doc_file = FILTER_DIR / f"{name}.yml"
    assert doc_file.is_file(), f"{FILTERS[name]} exports {name} but {doc_file.relative_to(REPO)} is missing"
    doc = yaml.safe_load(doc_file.read_text())
    assert doc["DOCUMENTATION"]["name"] == name
    for line in doc["DOCUMENTATION"].get("description") or []:
        assert isinstance(line, str), f"{doc_file.name}: a description line parses as {type(line).__name__}: {line}"
    assert doc["DOCUMENTATION"]["short_description"]
    assert "_input" in doc["DOCUMENTATION"]["options"]
    assert doc["EXAMPLES"].strip()
    assert "_value" in doc["RETURN"]


def test_ansible_doc_renders_every_filter():
    names = [f"gauntlet.platform.{name}" for name in sorted(FILTERS)]
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    run = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-doc")), "-t", "filter", "--json", *names],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    # ansible-doc reports a document it cannot read on stderr and carries on (sanity's ansible-doc test fails on it).
    assert "[ERROR]" not in run.stderr, run.stderr
    rendered = json.loads(run.stdout)
    missing = [n for n in names if not (rendered.get(n) or {}).get("doc", {}).get("short_description")]
    assert not missing, f"ansible-doc renders no documentation for {missing}: {run.stderr}"
