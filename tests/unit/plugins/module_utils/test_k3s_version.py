"""The version comparison behind playbooks/upgrade.yml's guards (issue 17 item 3)."""

import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.k3s.version import (
    K3sVersionError,
    bundle_versions,
    installed_version,
    parse_version,
    upgrade_plan,
    version_change,
)

SHA = "b" * 64


def lock(*versions):
    files = []
    for version in versions:
        files.append({"name": f"k3s/{version}/k3s", "sha256": SHA})
        files.append({"name": f"k3s/{version}/k3s-airgap-images-amd64.tar.zst", "sha256": SHA})
    files.append({"name": "registry/registry", "sha256": SHA})
    return {"version": 1, "images": [], "files": files}


def test_versions_compare_numerically_not_as_text():
    assert parse_version("v1.36.4+k3s1") == (1, 36, 4, 1)
    assert parse_version("v1.36.10+k3s1") > parse_version("v1.36.9+k3s2")
    assert parse_version("v1.36.4+k3s2") > parse_version("v1.36.4+k3s1")


@pytest.mark.parametrize("text", ["1.36.4+k3s1", "v1.36.4", "v1.36+k3s1", "v1.36.4-k3s1", "", None, 136])
def test_a_malformed_version_names_the_format(text):
    with pytest.raises(K3sVersionError, match=r"want vMAJOR\.MINOR\.PATCH\+k3sN"):
        parse_version(text)


def test_the_installed_version_is_read_from_k3s_version_output():
    output = "k3s version v1.35.2+k3s1 (8a1b2c3d)\ngo version go1.24.4\n"
    assert installed_version(output) == "v1.35.2+k3s1"
    assert installed_version("") is None
    assert installed_version(None) is None
    # The k3s test double prints the same first line.
    assert installed_version("k3s version v1.36.4+k3s1 (k3s test double)") == "v1.36.4+k3s1"
    with pytest.raises(K3sVersionError, match="cannot read a k3s version from `k3s --version`: 'Segmentation fault'"):
        installed_version("Segmentation fault\n")


@pytest.mark.parametrize(
    ("installed", "target", "kind"),
    [
        (None, "v1.36.4+k3s1", "install"),
        ("v1.36.4+k3s1", "v1.36.4+k3s1", "same"),
        ("v1.36.1+k3s1", "v1.36.4+k3s1", "patch"),
        ("v1.36.4+k3s1", "v1.36.4+k3s2", "patch"),
        ("v1.35.9+k3s1", "v1.36.4+k3s1", "minor"),
    ],
)
def test_allowed_changes_have_no_problem(installed, target, kind):
    assert version_change(installed, target) == {"from": installed, "to": target, "kind": kind, "problem": None}


@pytest.mark.parametrize(
    ("installed", "target"),
    [("v1.36.4+k3s1", "v1.35.9+k3s1"), ("v1.36.4+k3s1", "v1.36.3+k3s1"), ("v1.36.4+k3s2", "v1.36.4+k3s1")],
)
def test_a_downgrade_is_refused_with_the_variable_that_allows_it(installed, target):
    change = version_change(installed, target)
    assert change["kind"] == "downgrade"
    assert change["problem"].startswith(f"{installed} -> {target} is a downgrade")
    assert "k3s_upgrade_allow_downgrade=true" in change["problem"]
    allowed = version_change(installed, target, allow_downgrade=True)
    assert allowed["kind"] == "downgrade" and allowed["problem"] is None
    # The other switch does not allow it.
    assert version_change(installed, target, allow_minor_skip=True)["problem"]


def test_a_skipped_minor_version_is_refused_naming_what_is_skipped():
    change = version_change("v1.33.5+k3s1", "v1.36.4+k3s1")
    assert change["kind"] == "skip"
    assert change["problem"] == (
        "v1.33.5+k3s1 -> v1.36.4+k3s1 skips v1.34, v1.35; Kubernetes upgrades one minor version at a time: "
        "upgrade to the newest v1.34 release first, or set k3s_upgrade_allow_minor_skip=true to force it"
    )
    assert version_change("v1.33.5+k3s1", "v1.36.4+k3s1", allow_minor_skip=True)["problem"] is None
    assert version_change("v1.33.5+k3s1", "v1.36.4+k3s1", allow_downgrade=True)["problem"]


def test_a_major_version_change_is_a_skip():
    change = version_change("v1.36.4+k3s1", "v2.0.0+k3s1")
    assert change["kind"] == "skip"
    assert "changes the major version (v1.36 to v2.0)" in change["problem"]


def test_the_bundle_versions_come_from_the_binary_entries():
    assert bundle_versions(lock("v1.36.4+k3s1", "v1.35.9+k3s1")) == ["v1.35.9+k3s1", "v1.36.4+k3s1"]
    assert bundle_versions(lock()) == []
    with pytest.raises(K3sVersionError, match="no 'files' list"):
        bundle_versions({"images": []})
    with pytest.raises(K3sVersionError, match="there is no bundle lock"):
        bundle_versions({})


def test_the_plan_shows_every_node_and_collects_every_problem():
    plan = upgrade_plan(
        {
            "s1": "k3s version v1.35.9+k3s1 (abc)\n",
            "s2": "k3s version v1.37.0+k3s1 (abc)\n",
            "a1": "",
            "a2": "k3s version v1.34.1+k3s1 (abc)\n",
        },
        "v1.36.4+k3s1",
        lock("v1.36.4+k3s1"),
    )
    assert plan["lines"] == [
        "a1: not installed -> v1.36.4+k3s1 (install)",
        "a2: v1.34.1+k3s1 -> v1.36.4+k3s1 (skip)",
        "s1: v1.35.9+k3s1 -> v1.36.4+k3s1 (minor)",
        "s2: v1.37.0+k3s1 -> v1.36.4+k3s1 (downgrade)",
    ]
    assert [problem.split(":")[0] for problem in plan["problems"]] == ["a2", "s2"]
    assert plan["changes"]["s1"]["kind"] == "minor"


def test_the_plan_stops_when_the_bundle_holds_another_version():
    plan = upgrade_plan({"s1": "k3s version v1.36.1+k3s1 (abc)"}, "v1.36.4+k3s1", lock("v1.36.3+k3s1"))
    assert plan["problems"] == [
        "the bundle holds k3s v1.36.3+k3s1 but v1.36.4+k3s1 is asked for (k3s_version / gauntlet_versions.k3s): "
        "rebuild the bundle (playbooks/bundle.yml) with that version pinned, or ask for the bundle's version"
    ]
    missing = upgrade_plan({"s1": ""}, "v1.36.4+k3s1", {})
    assert missing["problems"] == [
        "there is no bundle lock (k3s_bundle_lock): build the bundle with playbooks/bundle.yml"
    ]


def test_unreadable_output_is_a_problem_of_that_node():
    plan = upgrade_plan({"s1": "garbage"}, "v1.36.4+k3s1", lock("v1.36.4+k3s1"))
    assert plan["lines"] == ["s1: version unreadable -> v1.36.4+k3s1 (unknown)"]
    assert plan["problems"] == ["s1: cannot read a k3s version from `k3s --version`: 'garbage'"]


def test_a_bad_target_or_input_raises():
    with pytest.raises(K3sVersionError, match="not a k3s version"):
        upgrade_plan({}, "1.36", lock())
    with pytest.raises(K3sVersionError, match="mapping of host"):
        upgrade_plan(["s1"], "v1.36.4+k3s1", lock())
