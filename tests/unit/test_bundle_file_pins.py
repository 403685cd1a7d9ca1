"""Every file the bundle downloads is verified on its first download (review M7).

A file without ``sha256`` or ``checksum_url`` is trusted on first use: whatever the first
download returns is written into the lock. The entries listed one by one in the collection's versions.yml
(the generated Linux and kube-prometheus tables always carry a sha256) must name one.
"""

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
VERSIONS = REPO / "roles/gauntlet/defaults/main/versions.yml"


def test_every_listed_bundle_file_has_a_published_checksum():
    data = yaml.safe_load(VERSIONS.read_text())
    unpinned = [
        entry["name"] for entry in data["gauntlet_bundle_files_listed"] if not ({"sha256", "checksum_url"} & set(entry))
    ]
    assert unpinned == [], f"bundle files trusted on first download: {unpinned}"


def test_generated_tables_pin_every_file():
    data = yaml.safe_load(VERSIONS.read_text())
    assert all(len(v) == 64 for v in data["gauntlet_linkerd_chart_files"].values())
    assert all(len(v["sha256"]) == 64 for v in data["gauntlet_kube_prometheus_files"].values())
