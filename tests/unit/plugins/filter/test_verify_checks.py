"""The verify_* filters expose module_utils/verify/ and turn bad input into AnsibleFilterError."""

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.filter.verify_checks import FilterModule

FILTERS = FilterModule().filters()
FILTER_DIR = Path(__file__).resolve().parents[4] / "plugins" / "filter"


def test_every_filter_has_its_documentation():
    for name in FILTERS:
        doc = yaml.safe_load((FILTER_DIR / f"{name}.yml").read_text())
        assert doc["DOCUMENTATION"]["name"] == name
        assert doc["RETURN"]["_value"]["description"]
        assert name in doc["EXAMPLES"]


def test_rows_and_table_through_the_filters():
    rows = [
        FILTERS["verify_row"]("linkerd", "meshed namespaces", "SKIP", "Linkerd is disabled"),
        FILTERS["verify_http_status"]({"status": 401}, "task-api", "GET without a token", 401),
    ]
    assert FILTERS["verify_table"](rows)[-1] == "| 2 checks: 1 OK, 0 FAIL, 1 SKIP"


def test_hosts_entries_errors_surface_as_filter_errors():
    with pytest.raises(AnsibleFilterError, match=r"^verify_tls_targets: expected the list hosts_entries returns"):
        FILTERS["verify_tls_targets"]({"gitea": "gitea.local"}, "not entries")


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("verify_row", ("dns", "node", "MAYBE")),
        ("verify_table", ("not rows",)),
        ("verify_pod_problems", ({"items": []},)),
        ("verify_dns", ("lookups", [{"address": "10.0.0.1"}], "node x")),
        ("verify_pick_pod", ({"results": [{"verify_item": "gitea", "ansible_loop_var": "verify_item"}]},)),
        ("verify_tls", ({"results": [{"item": "gitea.local", "status": 200}]},)),
    ],
)
def test_bad_input_names_the_filter(name, args):
    with pytest.raises(AnsibleFilterError, match=rf"^{name}: "):
        FILTERS[name](*args)
