"""Admission webhooks whose backend is not real, on the control-plane tier: what they block and
how the role behaves.

The cnpg stage applies CloudNativePG's release manifest (cloudnative-pg/1.30.0/cnpg-1.30.0.yaml),
which holds a MutatingWebhookConfiguration and a ValidatingWebhookConfiguration calling the
Service cnpg-webhook-service (cnpg-system), every webhook with failurePolicy: Fail. kwok makes
the operator's pod Running and Ready and the Service gets a ready endpoint, so the role's own
waits pass; but no container listens, and the API server's call to the pod's address cannot
even leave the control plane's network namespace (only loopback is up): "network is
unreachable". So every object those webhooks match is refused, and the role's apply of the
Cluster fails at once, naming the webhook, instead of hanging.

The other webhooks the platform brings (Linkerd's proxy injector, its ServiceProfile and
policy validators, linkerd-viz's tap injector and tap APIService) come from HelmCharts that
no helm-controller installs here; docs/testing.md lists them with their failure policies.
The tests share one control plane (module scope) and run in file order.
"""

from __future__ import annotations

import json
import re

import pytest
from controlplane import error_message

pytestmark = pytest.mark.controlplane

UPSTREAM_BUNDLE = True
# cnpg's PodMonitors need the monitoring stage's CRDs: this module applies the cnpg stage alone.
INVENTORY_VARS = {"gauntlet_linkerd_enabled": False, "cnpg_monitoring": False}
STATE: dict[str, object] = {}
# The least each CRD's schema requires (cnpg-1.30.0.yaml, openAPIV3Schema `required`), so that
# a validating webhook is reached too: schema validation runs before validating admission.
MINIMAL_SPECS = {
    "backups": {"cluster": {"name": "pg"}},
    "clusters": {"instances": 1},
    "databases": {"cluster": {"name": "pg"}, "name": "app", "owner": "app"},
    "poolers": {"cluster": {"name": "pg"}, "pgbouncer": {}},
    "scheduledbackups": {"cluster": {"name": "pg"}, "schedule": "0 0 0 * * *"},
}


def test_the_cnpg_stage_stops_at_the_webhook_with_a_clear_error(k3s_cluster):
    run = k3s_cluster.run("platform.yml", "--tags", "cnpg", timeout=1200)
    STATE["cnpg"] = run
    assert run.returncode != 0, run.explain()
    # the operator and its webhook Service were applied and waited for
    assert "operator | Wait for the webhook Service to have a ready endpoint" in run.stdout
    # The Cluster is refused by the operator's mutating webhook at once. The component's
    # objects are hidden (no_log: they hold Secrets): ansible's error line carries the API
    # server's answer, and the role's own failure names the refused objects.
    output = run.stdout + run.stderr
    assert (
        'failed calling webhook \\"mcluster.cnpg.io\\"' in output
        or 'failed calling webhook "mcluster.cnpg.io"' in output
    )
    assert "network is unreachable" in output, run.explain()
    assert any(t.endswith("apply | Name the objects the cluster refused") for t in run.failed_tasks), run.explain()
    assert re.search(r"cnpg-cluster: the cluster refused \d+ object\(s\)", output), run.explain()
    assert re.search(r"Cluster/[a-z0-9-]+/[a-z0-9-]+: Failed to apply object: .*mcluster\.cnpg\.io", output), (
        run.explain()
    )
    assert "An admission webhook refused it" in output, run.explain()
    for line in output.splitlines():
        if "the cluster refused" in line:
            print(line[:1500])
    print(f"cnpg stage: {run.seconds:.1f} s until the refusal; failed tasks: {run.failed_tasks}")


def _webhook_configurations(plane) -> dict[str, list[dict]]:
    found = {}
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        for item in plane.resource("admissionregistration.k8s.io/v1", kind).get().to_dict()["items"]:
            found[f"{kind}/{item['metadata']['name']}"] = item["webhooks"]
    return found


def test_the_stage_brings_two_configurations_whose_webhooks_all_fail_closed(k3s_cluster):
    configurations = _webhook_configurations(k3s_cluster.plane)
    assert set(configurations) == {
        "MutatingWebhookConfiguration/cnpg-mutating-webhook-configuration",
        "ValidatingWebhookConfiguration/cnpg-validating-webhook-configuration",
    }
    for webhooks in configurations.values():
        for webhook in webhooks:
            assert webhook["failurePolicy"] == "Fail", webhook["name"]
            assert webhook["clientConfig"]["service"]["name"] == "cnpg-webhook-service"
    services = [
        s["spec"]["service"]
        for s in k3s_cluster.plane.resource("apiregistration.k8s.io/v1", "APIService").get().to_dict()["items"]
        if s["spec"].get("service")
    ]
    assert services == []  # no aggregated API served by a platform pod


def test_every_object_the_webhooks_match_is_refused_and_nothing_else(k3s_cluster):
    """A server-side dry run (admission webhooks are called: their sideEffects is None) of the
    least valid object of each resource the rules name: refused by the first webhook that
    matches it, mutating before validating (the API server's order). A ConfigMap passes."""
    plane = k3s_cluster.plane
    configurations = _webhook_configurations(plane)
    expected: dict[tuple[str, str, str], str] = {}
    for key in sorted(configurations, key=lambda k: not k.startswith("Mutating")):
        for webhook in configurations[key]:
            for rule in webhook["rules"]:
                for group in rule["apiGroups"]:
                    for version in rule["apiVersions"]:
                        for resource in rule["resources"]:
                            expected.setdefault((group, version, resource), webhook["name"])
    blocked = {}
    for (group, version, resource), _name in sorted(expected.items()):
        kind = next(
            r["kind"] for r in json.loads(plane.get(f"/apis/{group}/{version}"))["resources"] if r["name"] == resource
        )
        body = {
            "apiVersion": f"{group}/{version}",
            "kind": kind,
            "metadata": {"name": "blocked", "namespace": "default"},
            "spec": MINIMAL_SPECS.get(resource, {}),
        }
        try:
            plane.resource(f"{group}/{version}", kind).create(body=body, namespace="default", dry_run="All")
            blocked[resource] = "admitted"
        except Exception as error:  # kubernetes ApiException
            message = error_message(error)
            names = [n for n in set(expected.values()) if f'failed calling webhook "{n}"' in message]
            blocked[resource] = names[0] if names else message
    print("\n".join(f"{r}: blocked by {w}" for r, w in sorted(blocked.items())))
    assert blocked == {resource: name for (_group, _version, resource), name in expected.items()}
    assert {"clusters", "backups", "scheduledbackups", "poolers", "databases"} <= blocked.keys()
    plane.resource("v1", "ConfigMap").create(
        body={"metadata": {"name": "not-matched", "namespace": "default"}}, namespace="default", dry_run="All"
    )
