"""gitea_pypi_files against the Gitea double's PyPI registry, then pip installing from it over HTTPS.

The double speaks Gitea's package protocol (service_doubles.GiteaDouble._pypi: the twine
multipart upload, PEP 503 project pages with absolute #sha256= links, the files, basic auth
with password or scoped token). The real service runs in
tests/services/test_gitea_real.py (Gitea built from its Go module by scripts/build-gitea);
these tests keep the double for speed. The wheels are real wheels, built here by hand
(zip, METADATA, WHEEL, RECORD), and pip installs them with --only-binary=:all: --require-hashes
from the double over HTTPS on loopback, trusting the test CA through PIP_CERT, the mechanism
the pipeline uses (apps/task-api/.drone.yml).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.services.gitea_pypi import PypiError, parse_simple_page
from ansible_collections.gauntlet.platform.plugins.modules import gitea_pypi_files

REPO = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "unit" / "plugins"))

from service_doubles import GiteaDouble  # noqa: E402
from tls_material import make_ca_and_cert  # noqa: E402
from wheel_files import make_wheel  # noqa: E402

OWNER = "gauntlet-packages"
OWNER_PASSWORD = "packages-password-0123456789"


def params(gitea, folder, wheels, **more):
    return {"url": gitea.url, "username": OWNER, "password": OWNER_PASSWORD, "ca_path": None, "timeout": 10,
            "resolve": {}, "owner": OWNER, "directory": str(folder), "wheels": wheels, **more}  # fmt: skip


@pytest.fixture
def wheels(tmp_path):
    folder = tmp_path / "wheels"
    folder.mkdir()
    entries = [
        make_wheel(folder, "gauntlet-demo-app", "1.2.0", requires=("gauntlet_demo.lib==0.3.1",)),
        make_wheel(folder, "gauntlet_demo.lib", "0.3.1"),
    ]
    return folder, entries


def test_wheels_are_uploaded_once_then_kept(gitea, wheels):
    gitea.add_user(OWNER, OWNER_PASSWORD)
    folder, entries = wheels
    result = gitea_pypi_files.run(params(gitea, folder, entries))
    assert result == {"changed": True, "uploaded": [e["filename"] for e in entries], "kept": []}
    stored = gitea.packages[(OWNER, "gauntlet-demo-lib")]["0.3.1"]["gauntlet_demo_lib-0.3.1-py3-none-any.whl"]
    assert stored["sha256"] == entries[1]["sha256"] and stored["requires_python"] == ">=3.9"
    again = gitea_pypi_files.run(params(gitea, folder, entries))
    assert again == {"changed": False, "uploaded": [], "kept": [e["filename"] for e in entries]}
    assert [m for m, _p in gitea.writes()].count("POST") == 2


def test_check_mode_only_reads(gitea, wheels):
    gitea.add_user(OWNER, OWNER_PASSWORD)
    folder, entries = wheels
    result = gitea_pypi_files.run(params(gitea, folder, entries), check_mode=True)
    assert result["uploaded"] == [e["filename"] for e in entries] and result["changed"] is True
    assert gitea.writes() == [] and gitea.packages == {}


def test_same_filename_with_another_sha256_is_an_error_naming_the_file(gitea, wheels, tmp_path):
    gitea.add_user(OWNER, OWNER_PASSWORD)
    folder, entries = wheels
    gitea_pypi_files.run(params(gitea, folder, entries[1:]))
    # Another build of the same version (same filename, other bytes): Gitea never replaces it.
    other = tmp_path / "other"
    other.mkdir()
    rebuilt = [entries[0], make_wheel(other, "gauntlet_demo.lib", "0.3.1", body="CHANGED = True\n")]
    (other / entries[0]["filename"]).write_bytes((folder / entries[0]["filename"]).read_bytes())
    with pytest.raises(PypiError, match=r"gauntlet_demo_lib-0\.3\.1-py3-none-any\.whl: the index has it with sha256"):
        gitea_pypi_files.run(params(gitea, other, rebuilt))
    # Nothing was uploaded: the conflict is found before any upload.
    assert (OWNER, "gauntlet-demo-app") not in gitea.packages


def test_a_file_that_does_not_match_its_lock_entry_stops_before_any_request(gitea, wheels):
    gitea.add_user(OWNER, OWNER_PASSWORD)
    folder, entries = wheels
    damaged = [dict(entries[0], sha256="0" * 64), entries[1]]
    with pytest.raises(PypiError, match=r"gauntlet_demo_app-1\.2\.0-py3-none-any\.whl: the file in .* has sha256"):
        gitea_pypi_files.run(params(gitea, folder, damaged))
    renamed = [entries[0], dict(entries[1], version="0.3.2")]
    with pytest.raises(PypiError, match=r"METADATA says gauntlet_demo\.lib 0\.3\.1, the lock says"):
        gitea_pypi_files.run(params(gitea, folder, renamed))
    missing = [*entries, dict(entries[1], filename="absent-1.0-py3-none-any.whl")]
    with pytest.raises(PypiError, match=r"absent-1\.0-py3-none-any\.whl: listed in the lock but not in"):
        gitea_pypi_files.run(params(gitea, folder, missing))
    with pytest.raises(PypiError, match=r"lacks sha256"):
        gitea_pypi_files.run(params(gitea, folder, [{"name": "x", "version": "1", "filename": "x-1-py3-none-any.whl"}]))
    assert gitea.requests == []


def test_an_account_that_does_not_own_the_registry_is_refused_with_a_clear_message(gitea, wheels):
    gitea.add_user(OWNER, OWNER_PASSWORD)
    gitea.add_user("someone", "someone-password-012345")
    folder, entries = wheels
    with pytest.raises(Exception, match=r"refused 'someone' \(401\); the account must own the packages"):
        gitea_pypi_files.run(params(gitea, folder, entries, username="someone", password="someone-password-012345"))


def test_simple_page_links_carry_sha256_fragments():
    page = (
        '<a href="https://gitea.local/api/packages/o/pypi/files/a/1.0/a-1.0-py3-none-any.whl#sha256=ABCDEF"'
        ' data-requires-python="&gt;=3.9">a-1.0-py3-none-any.whl</a><br>'
    )
    assert parse_simple_page(page) == {"a-1.0-py3-none-any.whl": "abcdef"}


def pip_install(index_url: str, lock: Path, target: Path, ca: Path | None):
    # As in a build pod (python image): no pip settings, and no CA bundle variables, which
    # requests would prefer over PIP_CERT (requests' merge_environment_settings).
    dropped = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") and k not in dropped}
    env.update(PIP_INDEX_URL=index_url, PIP_CONFIG_FILE=os.devnull, PIP_NO_CACHE_DIR="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_RETRIES="0", PIP_TIMEOUT="10")  # fmt: skip
    if ca is not None:
        env["PIP_CERT"] = str(ca)
    command = [sys.executable, "-m", "pip", "install", "--only-binary=:all:", "--require-hashes", "--no-compile"]
    return subprocess.run(
        [*command, "--target", str(target), "-r", str(lock)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )


def test_pip_installs_the_lock_from_the_index_over_https_with_the_local_ca(wheels, tmp_path):
    ca, cert, key = make_ca_and_cert(tmp_path)
    server = GiteaDouble("gauntlet-admin", "admin-password-0123456789", tls=(str(cert), str(key)))
    try:
        server.add_user(OWNER, OWNER_PASSWORD)
        folder, entries = wheels
        result = gitea_pypi_files.run(params(server, folder, entries, ca_path=str(ca)))
        assert result["changed"] is True
        # The pipeline's reader: a read:package token of the owner account (credential gitea/pip-token).
        server.tokens[OWNER] = [{"id": 1, "name": "pip", "scopes": ["read:package"], "sha1": "f" * 40}]
        lock = tmp_path / "requirements.lock"
        lock.write_text("".join(f"{e['name']}=={e['version']} --hash=sha256:{e['sha256']}\n" for e in entries))
        host = server.url.split("://", 1)[1]
        index = f"https://{OWNER}:{'f' * 40}@{host}/api/packages/{OWNER}/pypi/simple/"
        done = pip_install(index, lock, tmp_path / "site", ca)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert (tmp_path / "site/gauntlet_demo_app/__init__.py").read_text().startswith("VERSION = '1.2.0'")
        assert (tmp_path / "site/gauntlet_demo_lib/__init__.py").exists()
        # Without the CA pip does not trust the index: PIP_CERT is what makes it work.
        refused = pip_install(index, lock, tmp_path / "site2", None)
        assert refused.returncode != 0
        assert "CERTIFICATE_VERIFY_FAILED" in refused.stdout + refused.stderr
        # A token without the package scope reads nothing.
        server.tokens[OWNER] = [{"id": 1, "name": "pip", "scopes": ["read:repository"], "sha1": "f" * 40}]
        denied = pip_install(index, lock, tmp_path / "site3", ca)
        assert denied.returncode != 0
        # A hash the lock does not pin is refused by pip (--require-hashes against the index's files).
        lock.write_text(lock.read_text().replace(entries[1]["sha256"], "0" * 64))
        server.tokens[OWNER][0]["scopes"] = ["read:package"]
        mismatch = pip_install(index, lock, tmp_path / "site4", ca)
        assert mismatch.returncode != 0 and "THESE PACKAGES DO NOT MATCH THE HASHES" in mismatch.stderr
    finally:
        server.close()
