"""The Traefik values the platform hands k3s, checked against the chart k3s really runs.

k3s v1.36.4 packages the Traefik chart v40.1.0 (../shared/upstream/VERSIONS.md §12). helm-controller
merges the HelmChartConfig's valuesContent over the chart's values.yaml and helm validates the
result against the chart's values.schema.json: a value the schema refuses makes the
helm-install-traefik job fail (and retry) while every value of the HelmChartConfig is ignored.
These tests do the same merge and validation, and build the TLSStore/TLSOption objects the way
the chart's templates do, validating them against the chart's own CRDs.

(k3s's own HelmChart adds its valuesContent between the two; there is no copy of the v1.36.4
manifest at hand, so it is left out here.)
"""

import copy
import json

import jsonschema
import playbook_runs
import pytest
import yaml

CHART = "traefik-helm-chart/v40.1.0/traefik"
CONFIG = "traefik/01-helmchartconfig-kube-system-traefik.yaml"

PLAYBOOK = playbook_runs.role_play("traefik")


def helm_merge(base, override):
    """Helm's value coalescing (helm pkg/chartutil/coalesce.go): maps merge key by key, any other
    value replaces, and a null in the override deletes the key."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = helm_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


@pytest.fixture(scope="module")
def chart(render_tools):
    folder = render_tools.upstream / CHART
    if not folder.is_dir():
        pytest.skip(f"the Traefik chart copy {folder} is absent (../shared/upstream, VERSIONS.md §12)")
    return {
        "values": yaml.safe_load((folder / "values.yaml").read_text()),
        "schema": json.loads((folder / "values.schema.json").read_text()),
    }


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, render_tools):
    out = render_tools.render_play(tmp_path_factory.mktemp("traefik"), PLAYBOOK)
    return out


def values_of(rendered):
    return yaml.safe_load(yaml.safe_load((rendered / CONFIG).read_text())["spec"]["valuesContent"])


def schema_errors(values, schema):
    validator = jsonschema.Draft202012Validator(schema)
    return sorted(
        f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(values)
    )


def test_the_chart_accepts_its_own_defaults(chart):
    assert schema_errors(chart["values"], chart["schema"]) == []


def test_the_schema_refuses_the_old_redirect_key(chart):
    """Control: the pre-v38 key the platform wrote must fail, so the check below can fail."""
    old = {"ports": {"web": {"redirections": {"entryPoint": {"to": "websecure", "scheme": "https"}}}}}
    errors = schema_errors(helm_merge(chart["values"], old), chart["schema"])
    assert any(e.startswith("ports.web:") and "redirections" in e for e in errors), errors


def test_values_merged_over_the_chart_defaults_pass_its_schema(rendered, chart):
    merged = helm_merge(chart["values"], values_of(rendered))
    assert schema_errors(merged, chart["schema"]) == []


def test_https_redirect_uses_the_entrypoint_http_key(rendered, chart):
    merged = helm_merge(chart["values"], values_of(rendered))
    redirect = merged["ports"]["web"]["http"]["redirections"]["entryPoint"]
    assert redirect == {"to": "websecure", "scheme": "https", "permanent": True}
    # templates/_podtemplate.tpl fails the install unless `to` names a port of the chart.
    assert redirect["to"] in merged["ports"]


def test_ingress_prefix_paths_match_whole_path_elements(rendered, chart):
    """Kubernetes' pathType Prefix is element-wise; Traefik's kubernetesIngress provider matches
    character-wise unless strictPrefixMatching (chart values.yaml providers.kubernetesIngress,
    templates/_podtemplate.tpl passes --providers.kubernetesingress.strictPrefixMatching=true).
    The real Traefik shows the difference: tests/cluster/test_traefik_real.py."""
    merged = helm_merge(chart["values"], values_of(rendered))
    assert merged["providers"]["kubernetesIngress"]["strictPrefixMatching"] is True


def test_redirect_can_be_turned_off(render_tools, rendered, chart, tmp_path):
    result = render_tools.run_playbook(
        rendered.parent / "render.yml",
        "-e",
        json.dumps(
            {
                "gauntlet_render_dir": str(tmp_path / "out"),
                "gauntlet_credentials_dir": str(rendered.parent / "credentials"),
                "traefik_redirect_to_https": False,
            }
        ),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    merged = helm_merge(chart["values"], values_of(tmp_path / "out"))
    assert schema_errors(merged, chart["schema"]) == []
    assert not merged["ports"]["web"]["http"]["redirections"]["entryPoint"]


def test_tls_objects_the_chart_builds_validate_against_its_crds(rendered, chart, render_tools):
    merged = helm_merge(chart["values"], values_of(rendered))
    # templates/tlsstore.yaml: one TLSStore per tlsStore key, its value as the spec.
    stores = [
        {"apiVersion": "traefik.io/v1alpha1", "kind": "TLSStore", "metadata": {"name": name}, "spec": spec}
        for name, spec in merged["tlsStore"].items()
    ]
    # templates/tlsoption.yaml: one TLSOption per tlsOptions key, the listed fields as the spec.
    fields = ("alpnProtocols", "cipherSuites", "clientAuth", "curvePreferences", "disableSessionTickets",
              "maxVersion", "minVersion", "sniStrict")  # fmt: skip
    options = [
        {"apiVersion": "traefik.io/v1alpha1", "kind": "TLSOption", "metadata": {"name": name},
         "spec": {k: v for k, v in spec.items() if k in fields and v}}
        for name, spec in merged["tlsOptions"].items()
    ]  # fmt: skip
    assert [s["metadata"]["name"] for s in stores] == ["default"]
    assert stores[0]["spec"] == {"defaultCertificate": {"secretName": "gauntlet-default-tls"}}
    assert [o["metadata"]["name"] for o in options] == ["default"]
    for obj in stores + options:
        render_tools.validate_object(obj)


WAIT_PLAYBOOK = """---
- name: Run the apply-mode wait against an API server that is not there
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - gauntlet.platform.gauntlet
  tasks:
    - name: Wait
      ansible.builtin.include_role:
        name: gauntlet.platform.traefik
        tasks_from: wait
      vars:
        __traefik_values_content: "global: {}\\n"
        traefik_install_timeout: 10
"""

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:%d", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
"""


def test_apply_mode_wait_fails_with_a_clear_message_when_the_cluster_cannot_be_read(render_tools, tmp_path):
    """The wait's wiring, against a loopback port nothing listens on (no cluster runs here)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (tmp_path / "kubeconfig").write_text(KUBECONFIG % port)
    (tmp_path / "wait.yml").write_text(WAIT_PLAYBOOK)
    result = render_tools.run_playbook(
        tmp_path / "wait.yml",
        "-e",
        json.dumps({"gauntlet_kubeconfig": str(tmp_path / "kubeconfig"), "gauntlet_credentials_dir": str(tmp_path)}),
    )
    assert result.returncode != 0
    assert "helm-controller did not copy the HelmChartConfig kube-system/traefik into Secret" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
