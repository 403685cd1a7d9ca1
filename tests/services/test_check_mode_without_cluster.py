"""--check on fresh hosts: the stages that need the cluster say so and pass (issue 11 item 12).

On fresh hosts the k3s stage does not fetch the kubeconfig in check mode (nothing runs yet),
so every stage after it has no cluster to compare with. The playbooks run here from
inventory/sample with a kubeconfig path that does not exist; no host is contacted: the
runs are in a loopback-only network namespace (tests/loopback_netns.py), where the
sample's 192.168.56.x hosts are unreachable, and the tests assert nothing was tried.
"""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NO_CLUSTER = "no cluster yet"


def check_run(run_playbook, tmp_path, playbook, *args, isolated=True):
    """--check --diff from inventory/sample; in a loopback-only namespace unless the test's
    own doubles on this machine's loopback must be reached (``isolated=False``)."""
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
        # This machine does not resolve the sample's *.local names; that check has its own
        # tests (test_inventory_validation.py) and would stop a real run the same way.
        "-e",
        "local_domains_controller_check=false",
        *args,
        isolated=isolated,
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
        isolated=True,
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


def test_preload_stage_says_the_registry_does_not_run_yet(tmp_path, run_playbook):
    import socket

    with socket.socket() as sock:  # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (tmp_path / "bundle" / "images").mkdir(parents=True)
    result = check_run(
        run_playbook,
        tmp_path,
        "preload.yml",
        "-e",
        f"gauntlet_bundle_dir={tmp_path / 'bundle'}",
        "-e",
        f"image_preload_registry=127.0.0.1:{port}",
    )
    assert_passed_without_hosts(result)
    assert f"Check mode: the registry at 127.0.0.1:{port} does not answer yet" in result.stdout, result.stdout[-4000:]


def recap_changed(stdout, host):
    import re

    found = re.findall(rf"^{re.escape(host)}\s*: ok=\d+\s+changed=(\d+)", stdout, re.MULTILINE)
    assert found, stdout[-3000:]
    return int(found[0])


def test_preload_stage_in_check_mode_against_a_running_registry(registry_factory, test_images, tmp_path, run_playbook):
    """A running registry (real docker-registry, htpasswd): check mode reports the push, then changed=0."""
    registry = registry_factory(auth=True)
    test_images.write_layout(tmp_path / "bundle" / "images")
    # Private, as the credential lookup writes it: validation refuses open secrets.
    (tmp_path / "credentials" / "registry").mkdir(parents=True, mode=0o700)
    (tmp_path / "credentials").chmod(0o700)
    password_file = tmp_path / "credentials" / "registry" / "preload-password"
    password_file.touch(mode=0o600)
    password_file.write_text(registry.password)
    args = [
        "-e",
        f"gauntlet_bundle_dir={tmp_path / 'bundle'}",
        "-e",
        f"image_preload_registry={registry.host}",
        "-e",
        "image_preload_plain_http=true",
        "-e",
        f"image_preload_username={registry.username}",
    ]
    before = check_run(run_playbook, tmp_path, "preload.yml", *args, isolated=False)
    assert_passed_without_hosts(before)
    assert "does not answer yet" not in before.stdout
    assert recap_changed(before.stdout, "registry-1") >= 1  # the images it would push
    assert registry.catalog() == []  # check mode pushed nothing

    real = run_playbook(
        "preload.yml",
        REPO / "inventory/sample",
        "-e",
        f"gauntlet_credentials_dir={tmp_path / 'credentials'}",
        *args,
    )
    assert real.returncode == 0, real.stdout[-4000:]
    assert registry.catalog()

    after = check_run(run_playbook, tmp_path, "preload.yml", *args, isolated=False)
    assert_passed_without_hosts(after)
    assert recap_changed(after.stdout, "registry-1") == 0


LOCAL_DOMAINS_PLAY = """---
- name: The local_domains role on the controller itself, with a hosts file of the test
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - gauntlet.platform.gauntlet
    - role: gauntlet.platform.local_domains
"""


def test_local_domains_in_check_mode_report_names_that_resolve_only_after_the_run(tmp_path, ansible_env):
    """The block is only "written" in check mode, so getent cannot find the names yet: reported, not failed."""
    import subprocess

    hosts_file = tmp_path / "hosts"
    hosts_file.write_text("127.0.0.1 localhost\n")
    playbook = tmp_path / "local_domains.yml"
    playbook.write_text(LOCAL_DOMAINS_PLAY)
    command = ["ansible-playbook", "-i", str(REPO / "inventory/sample"), str(playbook)]
    command += ["-e", f"local_domains_hosts_file={hosts_file}"]
    result = subprocess.run(
        [*command, "--check", "--diff"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=ansible_env(tmp_path),
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    assert "Check mode: localhost does not resolve the local domains yet" in result.stdout
    assert hosts_file.read_text() == "127.0.0.1 localhost\n"  # check mode wrote nothing
    # A real run against this file is not made: getent reads the machine's /etc/hosts, not it.
