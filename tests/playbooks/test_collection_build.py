"""The collection builds into a tarball that installs and resolves by FQCN on its own."""

import os
import subprocess
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_tarball_installs_and_plugins_resolve(tmp_path):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1")
    env.pop("ANSIBLE_CONFIG", None)
    build = subprocess.run(
        ["ansible-galaxy", "collection", "build", "--output-path", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    tarball = tmp_path / "gauntlet-platform-0.1.0.tar.gz"
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    assert "plugins/filter/local_domains.py" in names
    assert "roles/host_prep/tasks/main.yml" in names
    assert not [n for n in names if n.startswith((".venv", "collections/", "inventory/lab/hosts.yml", ".git/"))]

    installed = tmp_path / "installed"
    install = subprocess.run(
        ["ansible-galaxy", "collection", "install", str(tarball), "-p", str(installed)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert install.returncode == 0, install.stdout + install.stderr

    # Run from outside the checkout, with only the installed copy on the path.
    env_installed = dict(env, ANSIBLE_COLLECTIONS_PATH=str(installed))
    filtered = subprocess.run(
        [
            "ansible",
            "localhost",
            "-m",
            "ansible.builtin.debug",
            "-a",
            "msg={{ {'gitea': 'gitea.local'} | gauntlet.platform.hosts_entries('10.0.0.1') | gauntlet.platform.hosts_lines }}",
        ],
        capture_output=True,
        text=True,
        env=env_installed,
        cwd=tmp_path,
        check=False,
    )
    assert filtered.returncode == 0, filtered.stdout + filtered.stderr
    assert "10.0.0.1 gitea.local" in filtered.stdout
    module = subprocess.run(
        ["ansible-doc", "-t", "module", "gauntlet.platform.kernel_settings_info", "--json"],
        capture_output=True,
        text=True,
        env=env_installed,
        cwd=tmp_path,
        check=False,
    )
    assert module.returncode == 0, module.stderr
    assert str(installed) in module.stdout
