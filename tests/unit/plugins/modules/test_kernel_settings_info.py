"""kernel_settings_info reads this machine's real kernel: nothing is faked."""

import json
import os
import subprocess
from pathlib import Path

from ansible_collections.gauntlet.platform.plugins.modules.kernel_settings_info import run

REPO = Path(__file__).resolve().parents[4]


def params(**changes):
    base = {"modules": [], "module_probes": {}, "sysctl": {}}
    base.update(changes)
    return base


def test_matching_and_differing_sysctl():
    result = run(params(sysctl={"kernel.ostype": "Linux", "kernel.osrelease": "0.0.0-nope"}))
    assert result["sysctl"]["kernel.ostype"] == {"wanted": "Linux", "actual": "Linux", "ok": True}
    release = Path("/proc/sys/kernel/osrelease").read_text().strip()
    assert result["sysctl"]["kernel.osrelease"] == {"wanted": "0.0.0-nope", "actual": release, "ok": False}
    assert result["mismatches"] == [f"sysctl kernel.osrelease is {release}, wanted 0.0.0-nope"]
    assert result["ok"] is False


def test_missing_sysctl_key_is_reported_as_missing():
    result = run(params(sysctl={"kernel.gauntlet_no_such_key": 1}))
    assert result["sysctl"]["kernel.gauntlet_no_such_key"]["actual"] is None
    assert result["mismatches"] == ["sysctl kernel.gauntlet_no_such_key is missing, wanted 1"]


def test_whitespace_of_multi_value_keys_is_normalised():
    live = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
    wanted = "   ".join(live.split())
    assert run(params(sysctl={"net.ipv4.ip_local_port_range": wanted}))["ok"]


def test_overlay_is_found_and_an_unknown_module_is_not():
    result = run(params(modules=["overlay", "gauntlet_no_such_module"]))
    assert result["modules"]["overlay"]["available"] is True
    assert result["modules"]["gauntlet_no_such_module"] == {"available": False, "seen_in": None}
    assert result["mismatches"] == ["kernel module gauntlet_no_such_module is not loaded or built in"]


def test_probe_path_proves_a_builtin_module(tmp_path):
    result = run(params(modules=["gauntlet_builtin"], module_probes={"gauntlet_builtin": [str(tmp_path)]}))
    assert result["modules"]["gauntlet_builtin"] == {"available": True, "seen_in": str(tmp_path)}


def test_through_ansible_it_never_changes_and_rejects_bad_probes():
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))

    def adhoc(args):
        return subprocess.run(
            ["ansible", "localhost", "-m", "gauntlet.platform.kernel_settings_info", "-a", args, "-o"],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=env,
            check=False,
        )

    good = adhoc(json.dumps({"modules": ["overlay"], "sysctl": {"kernel.ostype": "Linux"}}))
    assert good.returncode == 0, good.stdout + good.stderr
    assert '"changed": false' in good.stdout and '"ok": true' in good.stdout
    bad = adhoc(json.dumps({"module_probes": {"br_netfilter": "/proc/sys/net/bridge"}}))
    assert bad.returncode != 0
    assert "module_probes.br_netfilter must be a list of paths" in bad.stdout
