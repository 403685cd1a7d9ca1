"""The monitoring role's alerting rules, checked and unit-tested by promtool.

The rule groups of the rendered PrometheusRule gauntlet-platform go to a rules file beside
copies of tests/promtool/*.yml; `promtool check rules` and `promtool test rules` run on
them and a failure shows promtool's own output. promtool comes from the Debian package
`prometheus` (scripts/apt-packages.d/monitoring.txt).
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from needs import missing

REPO = Path(__file__).resolve().parents[2]
PROMTOOL_TESTS = REPO / "tests" / "promtool"
RULES_FILE = "gauntlet-platform.rules.yaml"


@pytest.fixture(scope="module")
def promtool():
    found = shutil.which("promtool")
    if not found:
        reason = (
            "promtool is not installed (Debian package prometheus, listed in scripts/apt-packages.d/monitoring.txt)"
        )
        missing(reason)  # skip, or fail with GAUNTLET_REQUIRE_ALL=1
    return found


def rules_of(render, name):
    found = [o for p, o in render.objects.items() if p.parts[0] == "monitoring" and o["kind"] == "PrometheusRule"
             and o["metadata"]["name"] == name]  # fmt: skip
    assert len(found) == 1, f"PrometheusRule {name} is not rendered once"
    return found[0]


def run(promtool, *args, cwd):
    result = subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"promtool {' '.join(args)} failed:\n{result.stdout}{result.stderr}"
    return result


@pytest.fixture(scope="module")
def rules_dir(platform_render, tmp_path_factory):
    """The platform rule groups as a Prometheus rules file, with the promtool test files beside it."""
    work = tmp_path_factory.mktemp("promtool")
    rule = rules_of(platform_render, "gauntlet-platform")
    (work / RULES_FILE).write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False))
    for test in sorted(PROMTOOL_TESTS.glob("*.yml")):
        shutil.copy(test, work / test.name)
    return work


def test_platform_rules_pass_promtool_check_with_every_lint(promtool, rules_dir):
    run(promtool, "check", "rules", "--lint=all", "--lint-fatal", RULES_FILE, cwd=rules_dir)


def test_platform_alerts_pass_their_promtool_unit_tests(promtool, rules_dir):
    tests = sorted(p.name for p in rules_dir.glob("*.yml"))
    assert tests, "no promtool test file in tests/promtool"
    result = run(promtool, "test", "rules", *tests, cwd=rules_dir)
    assert result.stdout.count("SUCCESS") == len(tests), result.stdout


def test_every_alert_fires_in_a_test_and_stays_silent_in_one(rules_dir):
    rules = yaml.safe_load((rules_dir / RULES_FILE).read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"] if "alert" in rule}
    fires, silent = set(), set()
    for path in PROMTOOL_TESTS.glob("*.yml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fires if check.get("exp_alerts") else silent).add(check["alertname"])
    assert alerts, "the PrometheusRule has no alert"
    assert alerts - fires == set(), "alerts no promtool test makes fire"
    assert alerts - silent == set(), "alerts no promtool test checks silent"
    assert (fires | silent) - alerts == set(), "promtool tests name alerts the rule does not have"


def test_rule_metrics_come_from_the_task_api_code(rules_dir):
    """The Task API alerts use the metric names apps/task-api defines, not guesses."""
    code = (REPO / "apps/task-api/task_api/metrics.py").read_text()
    defined = set(re.findall(r'(?:Counter|Histogram)\(\s*"([a-z_]+)"', code))
    assert defined == {"task_api_http_requests_total", "task_api_http_request_duration_seconds"}
    text = (rules_dir / RULES_FILE).read_text()
    used = set(re.findall(r"\btask_api_[a-z_]+", text))
    assert used, "no Task API metric in the rules"
    histogram_series = {f"task_api_http_request_duration_seconds_{s}" for s in ("bucket", "sum", "count")}
    assert used <= defined | histogram_series, f"unknown Task API metrics {sorted(used - defined - histogram_series)}"


def test_every_rendered_prometheus_rule_passes_promtool_check(promtool, platform_render, tmp_path):
    """kube-prometheus's rules too, as trimmed for k3s (its duplicate recording rules are upstream's)."""
    files = []
    for obj in platform_render.objects.values():
        if obj["kind"] == "PrometheusRule":
            target = tmp_path / f"{obj['metadata']['name']}.yaml"
            target.write_text(yaml.safe_dump({"groups": obj["spec"]["groups"]}))
            files.append(target.name)
    assert len(files) >= 9, files
    run(promtool, "check", "rules", "--lint=none", *sorted(files), cwd=tmp_path)
