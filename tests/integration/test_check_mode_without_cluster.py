"""--check on fresh hosts: the stages that need the cluster say so and pass (issue 11 item 12).

On fresh hosts the k3s stage does not fetch the kubeconfig in check mode (nothing runs yet),
so every stage after it has no cluster to compare with. The playbooks run here from
inventory/sample with a kubeconfig path that does not exist; no host is contacted (the
sample's 192.168.56.x hosts would be unreachable: the tests assert nothing tried).
"""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NO_CLUSTER = "no cluster yet"


def check_run(run_playbook, tmp_path, playbook, *args):
    return run_playbook(
        playbook,
        REPO / "inventory/sample",
        "--check",
        "--diff",
        "-e",
        f"gauntlet_credentials_dir={tmp_path / 'credentials'}",
        "-e",
        f"gauntlet_kubeconfig={tmp_path / 'absent' / 'kubeconfig.yaml'}",
        # Any SSH attempt to the sample's hosts fails fast instead of hanging.
        "-e",
        "ansible_ssh_common_args='-o ConnectTimeout=1'",
        *args,
    )


def assert_passed_without_hosts(result):
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "UNREACHABLE" not in result.stdout and "failed=1" not in result.stdout


def test_k3s_stage_objects_report_instead_of_failing(tmp_path, run_playbook):
    result = check_run(run_playbook, tmp_path, "k3s.yml", "--tags", "coredns_custom,traefik")
    assert_passed_without_hosts(result)
    out = result.stdout
    # Each component says what it would apply, and why it did not ask a cluster.
    for component, obj in (
        ("coredns-custom", "ConfigMap/kube-system/coredns-custom"),
        ("traefik", "HelmChartConfig/kube-system/traefik"),
    ):
        assert f"Check mode, {NO_CLUSTER}: {component} would apply" in out, out[-4000:]
        assert obj in out
    assert str(tmp_path / "absent" / "kubeconfig.yaml") in out
    assert "does not exist" in out


def test_k3s_stage_objects_without_kubeconfig_fail_clearly_in_a_real_run(tmp_path, run_playbook):
    result = run_playbook(
        "k3s.yml",
        REPO / "inventory/sample",
        "--tags",
        "coredns_custom",
        "-e",
        f"gauntlet_credentials_dir={tmp_path / 'credentials'}",
        "-e",
        f"gauntlet_kubeconfig={tmp_path / 'absent' / 'kubeconfig.yaml'}",
        "-e",
        "ansible_ssh_common_args='-o ConnectTimeout=1'",
    )
    assert result.returncode != 0
    assert f"the kubeconfig {tmp_path / 'absent' / 'kubeconfig.yaml'} does not exist" in result.stdout
    assert "Run the k3s stage first (playbooks/k3s.yml fetches it there)" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_platform_stage_says_there_is_no_cluster(tmp_path, run_playbook):
    result = check_run(run_playbook, tmp_path, "platform.yml")
    assert_passed_without_hosts(result)
    assert f"Check mode, {NO_CLUSTER}: the platform stage" in result.stdout, result.stdout[-4000:]
    assert "gauntlet_render_dir" in result.stdout  # how to see what it would apply


def test_verify_stage_says_there_is_no_cluster(tmp_path, run_playbook):
    result = check_run(run_playbook, tmp_path, "verify.yml")
    assert_passed_without_hosts(result)
    assert f"Check mode, {NO_CLUSTER}: the verify stage" in result.stdout, result.stdout[-4000:]
