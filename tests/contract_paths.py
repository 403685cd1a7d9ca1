"""The controller paths the platform's roles read through contract variables.

`gauntlet_ca_cert` (the local CA certificate) and `gauntlet_kubeconfig` are decided once,
in inventory/sample/group_vars/all/platform.yml, relative to `gauntlet_credentials_dir`.
A test that runs a role with its own variables instead of the sample inventory passes
them as the sample spells them, unrendered: Ansible templates them against the test's own
`gauntlet_credentials_dir`, so no test spells the layout again.
"""

from pathlib import Path

import yaml

_PLATFORM = Path(__file__).resolve().parents[1] / "inventory/sample/group_vars/all/platform.yml"
_SAMPLE = yaml.safe_load(_PLATFORM.read_text())

CONTRACT_PATHS = {name: _SAMPLE[name] for name in ("gauntlet_ca_cert", "gauntlet_kubeconfig")}
