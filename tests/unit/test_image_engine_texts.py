"""What the image engine's role, playbook, docs and bench print or tell people to run."""

import re
from pathlib import Path

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROOT = Path(__file__).resolve().parents[2]


def task_msg(path: str, name: str) -> str:
    data = yaml.safe_load((ROOT / path).read_text())
    tasks = data if "tasks" not in data[0] else [t for play in data for t in play["tasks"]]
    return next(t for t in tasks if t.get("name") == name)["ansible.builtin.debug"]["msg"]


@pytest.mark.parametrize(
    ("path", "task", "variables", "expected"),
    [
        (
            "roles/image_preload/tasks/push.yml",
            "push | Report what moved",
            {"__image_preload_result": {"images": [1], "bytes_pushed": 5 * 1048576 + 524288, "blobs_uploaded": 2}},
            "5.5 MiB pushed",
        ),
        (
            "playbooks/bundle.yml",
            "Report the bundle",
            {
                "gauntlet_bundle_files": [],
                "__bundle_images": [],
                "__bundle_dir": "bundle",
                "__bundle_lock": "bundle/bundle.lock.json",
                "__bundle_pull": {"images": [], "bytes_pulled": 3 * 1048576},
                "__bundle_wheels": {"wheels": [], "target": "cp313-manylinux_2_41_x86_64"},
                "__bundle_signed": {"skipped": True},
                "__bundle_architectures": {"amd64": []},
            },
            "3.0 MiB pulled now",
        ),
    ],
)
def test_summaries_print_the_unit_they_compute(path, task, variables, expected):
    """Sizes are divided by 1024² and must say MiB (ansible.builtin.human_readable says MB for that)."""
    text = Templar(loader=DataLoader(), variables=variables).template(trust_as_template(task_msg(path, task)))
    assert expected in text, text
    assert not re.search(r"\d (KB|MB|GB)\b", text), text


def test_commands_use_the_virtualenv_scripts_setup_creates():
    assert re.search(r"-m venv \.venv\b", (ROOT / "scripts" / "setup").read_text()), (
        "scripts/setup no longer makes .venv"
    )
    files = [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        *sorted((ROOT / "tests" / "bench").glob("*.py")),
    ]
    found = []
    for path in files:
        for match in re.finditer(r"[^\s`\"'(]*/bin/(?:python3?|pytest|pip|ansible-\w+|molecule)\b", path.read_text()):
            if not match.group(0).startswith((".venv/bin/", "/usr/bin/")):
                found.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
    assert found == [], "interpreters nothing creates (use .venv/bin/, made by scripts/setup): " + "; ".join(found)
