"""The controller paths the platform's roles read through contract variables.

`gauntlet_ca_cert` (the local CA certificate) and `gauntlet_kubeconfig` are decided once,
in the collection's contracts (roles/gauntlet/defaults/main/contracts.yml), relative to
`gauntlet_credentials_dir`. A test that runs a role with its own variables instead of the
collection's defaults passes them as the collection spells them, unrendered: Ansible templates them against the test's own
`gauntlet_credentials_dir`, so no test spells the layout again.
"""

from pathlib import Path

import yaml

_CONTRACTS = Path(__file__).resolve().parents[1] / "roles/gauntlet/defaults/main/contracts.yml"
_DEFAULTS = yaml.safe_load(_CONTRACTS.read_text())

CONTRACT_PATHS = {name: _DEFAULTS[name] for name in ("gauntlet_ca_cert", "gauntlet_kubeconfig")}
