"""Role verify: argument specs equal the defaults, and every check file is imported with its tag."""

import re
from pathlib import Path

import yaml

ROLE = Path(__file__).resolve().parents[3] / "roles" / "verify"
CHECKS = ["dns", "tls", "registry", "pods", "argocd", "drone", "auth", "linkerd", "prometheus", "grafana"]


def load(path):
    return yaml.safe_load((ROLE / path).read_text())


def test_argument_specs_equal_the_defaults():
    defaults = load("defaults/main.yml")
    specs = load("meta/argument_specs.yml")["argument_specs"]
    options = specs["main"]["options"]
    assert set(options) == set(defaults)
    for name, spec in options.items():
        assert spec["default"] == defaults[name], name
        assert spec.get("description"), name
    for name, spec in specs["node_dns"]["options"].items():
        assert spec["default"] == defaults[name], name


def test_every_check_is_imported_with_its_own_tag_and_the_report_always_runs():
    tasks = load("tasks/main.yml")
    imports = {t["ansible.builtin.import_tasks"]: t["tags"] for t in tasks if "ansible.builtin.import_tasks" in t}
    for check in CHECKS:
        assert imports[f"{check}.yml"] == ["verify", f"verify_{check}"]
        assert (ROLE / "tasks" / f"{check}.yml").is_file()
    assert imports["report.yml"] == ["always"]


SECRET = re.compile(
    r"__verify_\w*password|__verify_drone_token|__verify_access_token|__verify_forged\.token|lookup\('ansible\.builtin\.file'"
)


def test_secrets_are_never_logged():
    """Every task that reads a credential or sends one has no_log (Prometheus's only when it has a password)."""
    checked = 0
    for path in sorted((ROLE / "tasks").glob("*.yml")):
        for task in yaml.safe_load(path.read_text()):
            if SECRET.search(yaml.safe_dump(task)):
                checked += 1
                assert task.get("no_log") in (True, "{{ verify_prometheus_username | length > 0 }}"), (
                    f"{path.name}: {task['name']}"
                )
    assert checked >= 12


def test_the_images_row_runs_with_the_api_only_under_its_own_tag():
    """The images row needs only the API and the bundle on the controller: no verify_api_only SKIP twin."""
    tasks = load("tasks/main.yml")
    imports = [t for t in tasks if t.get("ansible.builtin.import_tasks") == "images.yml"]
    assert len(imports) == 1 and imports[0]["tags"] == ["verify", "verify_images"]
    assert "when" not in imports[0]
    assert not [t for t in tasks if "verify_images" in t.get("tags", []) and t is not imports[0]]


def test_the_default_unlocked_names_cover_k3s_airgap_image_list():
    """Every image of k3s's airgap image list is accepted by name by the default patterns,
    and no image of the platform's own list is (those must match the lock by digest)."""
    import upstream

    listing = upstream.path("k3s/commit-7a8e519/scripts/airgap/image-list.txt")
    defaults = load("defaults/main.yml")
    k3s_pattern = re.compile(defaults["verify_images_unlocked"][0])
    names = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    assert len(names) >= 8
    for name in names:
        assert k3s_pattern.search(name), name
        assert k3s_pattern.search(name.removeprefix("docker.io/")), name
    versions = yaml.safe_load((ROLE.parent / "gauntlet/defaults/main/versions.yml").read_text())
    for image in versions["gauntlet_images"].values():
        assert not k3s_pattern.search(str(image)), image
