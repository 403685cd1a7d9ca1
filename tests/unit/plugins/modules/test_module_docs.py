"""Every module's DOCUMENTATION, EXAMPLES and RETURN parse as YAML and name the module.

ansible-test's validate-modules checks much more, but only in scripts/sanity; this is the quick
check that a description with a stray ': ' (a YAML mapping inside a sentence) fails in the unit
tier, before `ansible-doc` and the sanity run do.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

MODULES = sorted(
    p.stem for p in (Path(__file__).resolve().parents[4] / "plugins/modules").glob("*.py") if p.stem != "__init__"
)


@pytest.mark.parametrize("name", MODULES)
def test_module_docs_parse_and_name_the_module(name):
    module = importlib.import_module(f"ansible_collections.gauntlet.platform.plugins.modules.{name}")
    doc = yaml.safe_load(module.DOCUMENTATION)
    assert isinstance(doc, dict) and doc.get("module") == name, f"plugins/modules/{name}.py: DOCUMENTATION"
    for option, spec in (doc.get("options") or {}).items():
        assert isinstance(spec, dict) and spec.get("description"), f"{name}: option {option} has no description"
    assert yaml.safe_load(module.EXAMPLES), f"plugins/modules/{name}.py: EXAMPLES is empty"
    yaml.safe_load(module.RETURN)
