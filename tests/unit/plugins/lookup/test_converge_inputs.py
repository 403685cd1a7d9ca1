"""converge_inputs: one digest over a role's resolved variables, its code and controller files."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleLookupError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from ansible_collections.gauntlet.platform.plugins.lookup.converge_inputs import LookupModule

VARIABLES = {
    "host_prep_sysctl_file": "/etc/sysctl.d/90-gauntlet-k3s.conf",
    "host_prep_kernel_modules": ["br_netfilter", "overlay"],
    "host_prep_report_file": trust_as_template("{{ report_dir }}/host_prep.json"),  # as from a vars file
    "report_dir": "/var/lib/gauntlet",
    "node_ip": "10.0.0.1",
    "unrelated": "x",
}


def fingerprint(variables=None, *roles, **options):
    variables = dict(VARIABLES if variables is None else variables)
    lookup = LookupModule(templar=Templar(loader=DataLoader(), variables=variables))
    (digest,) = lookup.run(list(roles or ["host_prep"]), variables=variables, **options)
    return digest


def test_the_same_inputs_give_the_same_fingerprint():
    assert fingerprint() == fingerprint()
    assert len(fingerprint()) == 64


def test_a_role_variable_changes_it_once_resolved():
    assert fingerprint({**VARIABLES, "host_prep_kernel_modules": ["overlay"]}) != fingerprint()
    assert fingerprint({**VARIABLES, "report_dir": "/srv"}) != fingerprint()  # through the template


def test_other_variables_count_only_when_named():
    assert fingerprint({**VARIABLES, "unrelated": "y"}) == fingerprint()
    assert fingerprint({**VARIABLES, "node_ip": "10.0.0.2"}, more_vars=["node_ip"]) != fingerprint(
        more_vars=["node_ip"]
    )


def test_controller_files_count_by_content_and_absence(tmp_path):
    key = tmp_path / "ca" / "registry.key"
    missing = fingerprint(files=[str(key)])
    key.parent.mkdir()
    key.write_text("one")
    first = fingerprint(files=[str(key)])
    key.write_text("two")
    assert len({missing, first, fingerprint(files=[str(key)])}) == 3
    assert fingerprint(files=[str(key.parent)]) != fingerprint(files=[str(tmp_path / "empty")])


def test_each_role_counts():
    assert fingerprint(None, "host_prep") != fingerprint(None, "host_prep", "local_domains")


def test_an_unknown_role_is_refused():
    with pytest.raises(AnsibleLookupError, match="no role 'nope'"):
        fingerprint(None, "nope")
