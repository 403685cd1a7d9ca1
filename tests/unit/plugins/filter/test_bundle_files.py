import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.filter.bundle_files import FilterModule

ENTRIES = FilterModule().filters()["bundle_file_entries"]
SHA_A = "a" * 64
SHA_B = "b" * 64


def test_one_entry_per_path_sorted():
    out = ENTRIES({"z/b.yaml": SHA_B, "a.yaml": SHA_A}, "proj/v1/", "https://example.invalid/proj/v1/")
    assert out == [
        {"name": "proj/v1/a.yaml", "url": "https://example.invalid/proj/v1/a.yaml", "sha256": SHA_A},
        {"name": "proj/v1/z/b.yaml", "url": "https://example.invalid/proj/v1/z/b.yaml", "sha256": SHA_B},
    ]


def test_manifest_flag():
    (entry,) = ENTRIES({"a.yaml": SHA_A}, "p/", "https://x.invalid/", manifest=True)
    assert entry["manifest"] is True


@pytest.mark.parametrize(
    ("files", "name_prefix", "url_prefix", "message"),
    [
        ({}, "p/", "u/", "non-empty mapping"),
        (["a"], "p/", "u/", "non-empty mapping"),
        ({"a": SHA_A}, "p", "u/", "name_prefix"),
        ({"a": SHA_A}, "p/", None, "url_prefix"),
        ({"/a": SHA_A}, "p/", "u/", "relative path"),
        ({"a/../b": SHA_A}, "p/", "u/", "relative path"),
        ({"a": "A" * 64}, "p/", "u/", "64 lower-case hex"),
        ({"a": "a" * 63}, "p/", "u/", "64 lower-case hex"),
    ],
)
def test_errors(files, name_prefix, url_prefix, message):
    with pytest.raises(AnsibleFilterError, match=message):
        ENTRIES(files, name_prefix, url_prefix)


CHECK = FilterModule().filters()["bundle_files_check"]


def test_check_names_every_problem_at_once(tmp_path):
    """The filter the k3s stage stops on: every missing, unlisted or changed file in one answer,
    the good ones with their path (the same decision as the bundle_file lookup)."""
    import hashlib
    import json

    (tmp_path / "files/k3s").mkdir(parents=True)
    (tmp_path / "files/k3s/good").write_bytes(b"good")
    (tmp_path / "files/k3s/changed").write_bytes(b"changed later")
    listed = {name: hashlib.sha256(name.encode()).hexdigest() for name in ("gone", "changed")}
    lock = {
        "version": 1,
        "files": [{"name": "k3s/good", "sha256": hashlib.sha256(b"good").hexdigest()}]
        + [{"name": f"k3s/{name}", "sha256": sha} for name, sha in listed.items()],
        "images": [],
    }
    (tmp_path / "bundle.lock.json").write_text(json.dumps(lock))
    out = CHECK(["k3s/good", "k3s/gone", "k3s/changed", "k3s/unlisted"], str(tmp_path))
    assert out["paths"] == {"k3s/good": str(tmp_path / "files/k3s/good")}
    assert [problem.split(";", maxsplit=1)[0].split(":", maxsplit=1)[0] for problem in out["problems"]] == [
        f"bundle file {tmp_path}/files/k3s/gone is missing",
        f"bundle file {tmp_path}/files/k3s/changed has sha256 {hashlib.sha256(b'changed later').hexdigest()} but the lock says {listed['changed']}",
        f"files/k3s/unlisted is not in the bundle lock {tmp_path}/bundle.lock.json",
    ]


def test_check_without_a_lock_says_so(tmp_path):
    out = CHECK(["k3s/k3s"], str(tmp_path))
    assert out["paths"] == {} and len(out["problems"]) == 1
    assert str(tmp_path / "bundle.lock.json") in out["problems"][0] and "playbooks/bundle.yml" in out["problems"][0]


@pytest.mark.parametrize(("names", "bundle_dir", "message"), [("k3s/k3s", "/b", "list"), (["a"], "", "bundle_dir")])
def test_check_refuses_bad_arguments(names, bundle_dir, message):
    with pytest.raises(AnsibleFilterError, match=message):
        CHECK(names, bundle_dir)
