"""The argument specs of the roles this file names equal their defaults (house style)."""

from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[3] / "roles"


@pytest.mark.parametrize("role", ["k3s", "local_ca", "k8s_objects"])
def test_argument_specs_equal_the_defaults(role):
    defaults = yaml.safe_load((ROLES / role / "defaults/main.yml").read_text())
    specs = yaml.safe_load((ROLES / role / "meta/argument_specs.yml").read_text())["argument_specs"]
    documented = {}
    for entry in specs.values():
        for name, spec in entry["options"].items():
            assert spec.get("description"), f"{role}: {name} has no description"
            if "default" in spec:
                assert spec["default"] == defaults.get(name), f"{role}: {name}"
            documented[name] = spec
    missing = sorted(set(defaults) - set(documented))
    assert not missing, f"{role}: defaults without an argument spec: {missing}"
