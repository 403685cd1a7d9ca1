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
