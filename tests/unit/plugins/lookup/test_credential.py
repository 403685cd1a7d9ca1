import os
import stat

import pytest
from ansible.errors import AnsibleLookupError
from ansible_collections.gauntlet.platform.plugins.lookup.credential import LookupModule


def lookup(*names, **options):
    return LookupModule().run(list(names), variables={}, **options)


def test_generates_once_private_and_reads_back(tmp_path):
    (first,) = lookup("gitea/admin-password", dir=str(tmp_path))
    path = tmp_path / "gitea" / "admin-password"
    assert len(first) == 32 and first.isalnum()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_text() == first + "\n"
    assert lookup("gitea/admin-password", dir=str(tmp_path)) == [first]


def test_two_names_two_different_secrets(tmp_path):
    a, b = lookup("x/a", "x/b", dir=str(tmp_path), length=20, chars="hex")
    assert a != b and len(a) == 20 and set(a) <= set("0123456789abcdef")


def test_an_existing_secret_is_kept_as_is(tmp_path):
    path = tmp_path / "k3s-token"
    path.write_text("restored-from-backup-0123456789\n")
    os.chmod(path, 0o600)
    assert lookup("k3s-token", dir=str(tmp_path)) == ["restored-from-backup-0123456789"]


def test_a_readable_secret_is_refused(tmp_path):
    path = tmp_path / "shared"
    path.write_text("0123456789abcdef0123\n")
    os.chmod(path, 0o644)
    with pytest.raises(AnsibleLookupError, match=r"mode 0644.*chmod 600"):
        lookup("shared", dir=str(tmp_path))


def test_an_empty_secret_is_refused(tmp_path):
    path = tmp_path / "empty"
    path.write_text("")
    os.chmod(path, 0o600)
    with pytest.raises(AnsibleLookupError, match="is empty"):
        lookup("empty", dir=str(tmp_path))


@pytest.mark.parametrize("name", ["/etc/passwd", "../escape", "a/../../b", ""])
def test_names_stay_inside_the_folder(tmp_path, name):
    with pytest.raises(AnsibleLookupError, match="relative name"):
        lookup(name, dir=str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_short_secrets_and_missing_dir_are_refused(tmp_path):
    with pytest.raises(AnsibleLookupError, match="too short"):
        lookup("a", dir=str(tmp_path), length=8)
    with pytest.raises(AnsibleLookupError, match="dir is empty"):
        lookup("a", dir="")


def test_unknown_options_and_alphabets_are_refused(tmp_path):
    with pytest.raises(AnsibleLookupError, match="unknown option"):
        lookup("a", dir=str(tmp_path), lenght=20)
    with pytest.raises(AnsibleLookupError, match="chars must be one of"):
        lookup("a", dir=str(tmp_path), chars="emoji")


def test_every_folder_the_lookup_creates_is_private(tmp_path):
    # Review L12: os.makedirs applies its mode to the last folder only; a missing credentials
    # folder (and its parents) would get the umask's 0755 and show the secrets' names.
    old = os.umask(0o022)
    try:
        lookup("gitea/admin-password", dir=str(tmp_path / "inventory" / "credentials"))
    finally:
        os.umask(old)
    for folder in (
        tmp_path / "inventory",
        tmp_path / "inventory/credentials",
        tmp_path / "inventory/credentials/gitea",
    ):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
