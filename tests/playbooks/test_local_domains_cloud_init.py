"""cloud-init's manage_etc_hosts must not drop the local domains block (issue 11 item 14).

With `manage_etc_hosts: true` cloud-init renders /etc/hosts from
/etc/cloud/templates/hosts.<osfamily>.tmpl at every boot (cc_update_etc_hosts, frequency
PER_ALWAYS; osfamily `debian` for Debian and Ubuntu), replacing whatever was there.

The local_domains role runs for real (ansible-playbook, connection local) against a
directory tree standing in for a host's /etc, holding the real template of Debian 12's
cloud-init package; then cloud-init's own renderer (cloudinit.templater.render_to_file,
what cc_update_etc_hosts calls) renders it the way a boot does, and the block must be in
the result, byte for byte as the role writes it into /etc/hosts.

cloud-init comes from its Debian package, unpacked, not installed (it would run at this
machine's next boot): `apt-get download cloud-init && dpkg-deb -x cloud-init_*.deb
.cache/cloud-init`, or GAUNTLET_CLOUD_INIT_ROOT=<unpacked folder>, or the package installed.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = "etc/cloud/templates/hosts.debian.tmpl"
PYLIB = "usr/lib/python3/dist-packages"
BEGIN = "# BEGIN gauntlet local domains (managed by Ansible)"
END = "# END gauntlet local domains (managed by Ansible)"
WANTED = (
    f"{BEGIN}\n"
    "10.77.0.11 alertmanager.local argocd.local drone.local gitea.local grafana.local keycloak-admin.local keycloak.local "
    "linkerd.local prometheus.local tasks.local\n"
    f"10.77.0.30 registry.local\n{END}\n"
)

PLAY = """---
- name: The local_domains role on a directory tree standing in for a host
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - gauntlet.platform.gauntlet
    - gauntlet.platform.local_domains
"""


def cloud_init_root() -> Path:
    candidates = [os.environ.get("GAUNTLET_CLOUD_INIT_ROOT"), "/", str(REPO / ".cache" / "cloud-init")]
    for candidate in filter(None, candidates):
        root = Path(candidate)
        if (root / TEMPLATE).is_file() and (root / PYLIB / "cloudinit" / "templater.py").is_file():
            return root
    reason = (
        "cloud-init's hosts template and renderer are not here: run `apt-get download cloud-init && "
        "dpkg-deb -x cloud-init_*.deb .cache/cloud-init` (or set GAUNTLET_CLOUD_INIT_ROOT)"
    )
    if os.environ.get("GAUNTLET_REQUIRE_ALL") == "1":
        pytest.fail(f"GAUNTLET_REQUIRE_ALL=1 but {reason}")
    pytest.skip(reason)


def cloud_init_render(root: Path, template: Path, out: Path) -> None:
    """Render the template as cc_update_etc_hosts does at boot, with cloud-init's own code."""
    code = (
        "import sys; from cloudinit import templater; "
        "templater.render_to_file(sys.argv[1], sys.argv[2], {'hostname': 'node-1', 'fqdn': 'node-1.example'})"
    )
    env = dict(os.environ, PYTHONPATH=str(root / PYLIB))
    done = subprocess.run(
        [sys.executable, "-c", code, str(template), str(out)], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture
def host_tree(tmp_path):
    """/etc/hosts and cloud-init's template in a folder; the sample inventory's domains."""
    root = cloud_init_root()
    etc = tmp_path / "host" / "etc"
    (etc / "cloud" / "templates").mkdir(parents=True)
    shutil.copy(root / TEMPLATE, etc / "cloud" / "templates" / "hosts.debian.tmpl")
    (etc / "hosts").write_text("127.0.0.1 localhost\n127.0.1.1 node-1.example node-1\n")
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY)
    sample = yaml.safe_load((REPO / "inventory/sample/group_vars/all/domains.yml").read_text())
    extra = {
        "local_domains_services": sample["local_domains_services"],
        "local_domains_direct": {"registry": "10.77.0.30"},
        "gauntlet_ingress_address": "10.77.0.11",
        "local_domains_hosts_file": str(etc / "hosts"),
        "local_domains_cloud_init_templates": [
            str(etc / "cloud/templates/hosts.debian.tmpl"),
            str(etc / "cloud/templates/hosts.absent.tmpl"),
        ],
        "ansible_python_interpreter": sys.executable,
    }
    extra_file = tmp_path / "extra.yml"
    extra_file.write_text(yaml.safe_dump(extra))
    return {"root": root, "etc": etc, "playbook": playbook, "extra": extra_file, "tmp": tmp_path}


def run_role(tree, ansible_env, *args):
    result = subprocess.run(
        ["ansible-playbook", str(tree["playbook"]), "-i", "localhost,", "-e", f"@{tree['extra']}",
         "--tags", "local_domains_configure", *args],
        capture_output=True, text=True, cwd=REPO, env=ansible_env(tree["tmp"]), check=False, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def block_of(text: str) -> str:
    match = re.search(rf"^{re.escape(BEGIN)}\n.*?^{re.escape(END)}\n", text, re.MULTILINE | re.DOTALL)
    return match.group(0) if match else ""


def test_block_survives_cloud_init_rendering_hosts_at_boot(host_tree, ansible_env):
    run_role(host_tree, ansible_env)
    etc = host_tree["etc"]
    assert block_of((etc / "hosts").read_text()) == WANTED
    # Boot: cloud-init renders /etc/hosts from its template and replaces the file.
    cloud_init_render(host_tree["root"], etc / "cloud/templates/hosts.debian.tmpl", etc / "hosts")
    rendered = (etc / "hosts").read_text()
    assert "127.0.1.1 node-1.example node-1" in rendered  # cloud-init's own lines still come from it
    assert block_of(rendered) == WANTED
    assert not (etc / "cloud/templates/hosts.absent.tmpl").exists()


def test_second_run_and_rerun_after_a_boot_change_nothing(host_tree, ansible_env):
    run_role(host_tree, ansible_env)
    etc = host_tree["etc"]
    cloud_init_render(host_tree["root"], etc / "cloud/templates/hosts.debian.tmpl", etc / "hosts")
    before = {p: p.read_bytes() for p in etc.rglob("*") if p.is_file()}
    out = run_role(host_tree, ansible_env)
    assert re.search(r"localhost\s*: ok=\d+\s+changed=0", out), out
    assert {p: p.read_bytes() for p in etc.rglob("*") if p.is_file()} == before


def test_check_mode_reports_the_template_change_without_writing(host_tree, ansible_env):
    template = host_tree["etc"] / "cloud/templates/hosts.debian.tmpl"
    original = template.read_bytes()
    out = run_role(host_tree, ansible_env, "--check", "--diff")
    assert "hosts.debian.tmpl" in out and "+10.77.0.30 registry.local" in out
    assert template.read_bytes() == original


def test_hosts_block_follows_an_ingress_vip_without_cloud_init(tmp_path, ansible_env):
    # HA (docs/k3s.md#high-availability): the nodes' /etc/hosts names the ingress VIP. A host
    # without cloud-init gets no template written.
    etc = tmp_path / "host" / "etc"
    etc.mkdir(parents=True)
    (etc / "hosts").write_text("127.0.0.1 localhost\n")
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY)
    extra = {
        "local_domains_services": {"gitea": "gitea.local", "registry": "registry.local"},
        "local_domains_direct": {"registry": "10.77.0.30"},
        "gauntlet_ingress_address": "10.77.0.100",
        "local_domains_hosts_file": str(etc / "hosts"),
        "local_domains_cloud_init_templates": [str(etc / "cloud/templates/hosts.debian.tmpl")],
        "ansible_python_interpreter": sys.executable,
    }
    (tmp_path / "extra.yml").write_text(yaml.safe_dump(extra))
    run_role({"playbook": playbook, "extra": tmp_path / "extra.yml", "tmp": tmp_path}, ansible_env)
    assert (
        block_of((etc / "hosts").read_text()) == f"{BEGIN}\n10.77.0.30 registry.local\n10.77.0.100 gitea.local\n{END}\n"
    )
    assert not (etc / "cloud").exists()
