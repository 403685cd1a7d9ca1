"""The controller's requirements.txt is enough for every filter the roles use (review §8).

Python 3.13 removed the `crypt` module, through which passlib 1.7.4 used to find a bcrypt
backend; without the `bcrypt` package, password_hash('bcrypt') then fails in the registry,
Linkerd and Argo CD roles. The test hides `crypt` (as on Python >= 3.13) and hashes through
Ansible exactly as those roles do.
"""

import json
import os
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "a-controller-password-0123456789"
# The three calls of the roles (registry configure.yml, argocd credentials.yml, linkerd dashboard.yml).
CALLS = {
    "registry": "password_hash('bcrypt')",
    "argocd": "password_hash('bcrypt', salt='abcdefghijklmnopqrstuv', rounds=10)",
    "linkerd": "password_hash('bcrypt', salt='abcdefghijklmnopqrstu.', ident='2y')",
}
PLAYBOOK = """---
- name: Hash as the roles do
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Write the hashes
      ansible.builtin.copy:
        content: "{{ __hashes | to_json }}"
        dest: "{{ __dest }}"
        mode: "0600"
      vars:
        __hashes: {%s}
"""


def requirement(name):
    for line in (REPO / "requirements.txt").read_text().splitlines():
        match = re.match(rf"^{re.escape(name)}==(\S+)", line.strip())
        if match:
            return match.group(1)
    return None


def test_bcrypt_is_pinned_to_a_release_passlib_1_7_4_works_with():
    assert requirement("passlib") == "1.7.4"
    pinned = requirement("bcrypt")
    assert pinned, "requirements.txt must pin bcrypt: passlib's only bcrypt backend once `crypt` is gone"
    # 4.1 removed bcrypt.__about__ (passlib logs a trapped error reading the version);
    # 5.0 refuses secrets over 72 bytes, which passlib's wrap-bug detection hashes at load.
    assert tuple(int(p) for p in pinned.split(".")[:2]) < (4, 1), pinned


def test_password_hash_bcrypt_works_without_the_crypt_module(tmp_path):
    hide = tmp_path / "site"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['crypt'] = None  # as on Python >= 3.13\n")
    (tmp_path / "hash.yml").write_text(
        PLAYBOOK % ", ".join(f'{name}: "{{{{ __password | {call} }}}}"' for name, call in CALLS.items())
    )
    dest = tmp_path / "hashes.json"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(hide), os.environ.get("PYTHONPATH")])),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
    }
    result = subprocess.run(
        [
            "ansible-playbook",
            str(tmp_path / "hash.yml"),
            "-e",
            json.dumps({"__password": PASSWORD, "__dest": str(dest)}),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "error reading bcrypt version" not in result.stdout + result.stderr
    import bcrypt

    hashes = json.loads(dest.read_text())
    for name, value in hashes.items():
        assert value.startswith("$2"), f"{name}: {value}"
        assert bcrypt.checkpw(PASSWORD.encode(), value.encode()), name
    assert hashes["argocd"].startswith("$2b$10$abcdefghijklmnopqrstu")
    assert hashes["linkerd"].startswith("$2y$")
