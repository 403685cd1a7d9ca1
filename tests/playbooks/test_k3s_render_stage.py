"""The k3s stage's cluster objects render from the real playbook without contacting any host."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_k3s_playbook_renders_objects_without_hosts(tmp_path, run_playbook):
    result = run_playbook(
        "k3s.yml",
        REPO / "inventory/sample",
        "--tags",
        "coredns_custom,traefik",
        "-e",
        f"gauntlet_render_dir={tmp_path / 'render'}",
        "-e",
        f"gauntlet_credentials_dir={tmp_path / 'credentials'}",
        # Any SSH attempt to the sample's 192.168.56.x hosts fails fast instead of hanging.
        "-e",
        "ansible_ssh_common_args='-o ConnectTimeout=1'",
        isolated=True,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "unreachable=0" in result.stdout and "UNREACHABLE" not in result.stdout
    assert sorted(p.relative_to(tmp_path / "render").as_posix() for p in (tmp_path / "render").rglob("*.yaml")) == [
        "coredns-custom/00-configmap-kube-system-coredns-custom.yaml",
        "traefik/00-secret-kube-system-gauntlet-default-tls.yaml",
        "traefik/01-helmchartconfig-kube-system-traefik.yaml",
        "traefik/02-validatingadmissionpolicy-cluster-gauntlet-ingress-hosts.yaml",
        "traefik/03-validatingadmissionpolicybinding-cluster-gauntlet-ingress-hosts.yaml",
    ]
