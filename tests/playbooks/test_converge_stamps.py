"""Converge stamps (docs/reruns.md) with the real local_domains role and ansible-playbook: a
full run stamps the host, a rerun with nothing changed skips the role, a drifted file or a
changed input runs it in full again (and repairs the file), and a run of a part of the role
(--tags local_domains_verify) neither skips nor stamps.

The role runs on this machine (connection local) against files in a temporary folder. A role on
the controller itself keeps no stamp, so the test turns stamps on as for a remote host and points
the stamps at the temporary folder; every name resolves through this machine's own `localhost`.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PLAY = """---
- name: The local_domains role with stamps
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - gauntlet.platform.gauntlet
    - role: gauntlet.platform.local_domains
"""
WRITE = "hosts_file | Write the block"
ENDED = "converged | End the role on a converged host"


@pytest.fixture
def host(tmp_path):
    (tmp_path / "hosts").write_text("127.0.0.1 localhost\n")
    (tmp_path / "play.yml").write_text(PLAY)
    extra = {
        "local_domains_services": {"demo": "localhost"},
        "local_domains_direct": {},
        "gauntlet_ingress_address": "127.0.0.1",
        "local_domains_hosts_file": str(tmp_path / "hosts"),
        "local_domains_cloud_init_templates": [str(tmp_path / "hosts.debian.tmpl")],
        "gauntlet_converge_stamp_dir": str(tmp_path / "stamps"),
        "__gauntlet_converge_stamps": True,  # as on a host reached over SSH
        "ansible_python_interpreter": sys.executable,
    }
    (tmp_path / "extra.yml").write_text(yaml.safe_dump(extra))
    return tmp_path


def run(host, ansible_env, *args):
    result = subprocess.run(
        ["ansible-playbook", str(host / "play.yml"), "-i", "localhost,", "-e", f"@{host / 'extra.yml'}", *args],
        capture_output=True, text=True, cwd=REPO, env=ansible_env(host), check=False, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    changed = int(re.search(r"localhost\s*: ok=\d+\s+changed=(\d+)", result.stdout).group(1))
    return result.stdout, changed


def ran(out: str, task: str) -> bool:
    """Whether the task ran (ok or changed), not skipped nor left out by end_role."""
    match = re.search(rf"TASK \[[^\]]*{re.escape(task)}\][^\n]*\n(ok|changed|skipping)", out)
    return bool(match) and match.group(1) != "skipping"


def test_a_stamp_skips_a_converged_host_and_not_a_changed_one(host, ansible_env):
    out, changed = run(host, ansible_env)
    assert ran(out, WRITE) and changed == 2  # the block and the stamp
    stamp = json.loads((host / "stamps" / "local_domains.json").read_text())
    assert set(stamp["paths"]) == {str(host / "hosts"), "/etc/nsswitch.conf", str(host / "hosts.debian.tmpl")}

    out, changed = run(host, ansible_env)
    assert ENDED in out and WRITE not in out and changed == 0  # the role ended after one module run

    (host / "hosts").write_text("127.0.0.1 localhost\n")  # the block removed by hand
    out, changed = run(host, ansible_env)
    assert ran(out, WRITE) and changed == 1  # the block; the stamp is the same again
    assert "# BEGIN gauntlet local domains" in (host / "hosts").read_text()

    out, changed = run(host, ansible_env, "-e", '{"local_domains_cloud_init_templates": []}')  # another input
    assert ran(out, WRITE) and changed == 1  # the stamp only: the block is as it was


def test_a_part_of_the_role_neither_skips_nor_stamps(host, ansible_env):
    out, changed = run(host, ansible_env, "--tags", "local_domains_verify")
    assert ran(out, "verify | Resolve every domain through the system resolver") and changed == 0
    assert not (host / "stamps").exists()
