"""The CloudNativePG cluster on a running platform: ready, with every database created
and the Secrets wired to the controller's credentials.

Needs the platform applied (playbooks/platform.yml), KUBECONFIG set and the inventory's
credentials folder in GAUNTLET_CREDENTIALS_DIR (default inventory/lab/credentials).
"""

import base64
import os
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(
        not os.environ.get("KUBECONFIG"), reason="needs a cluster: set KUBECONFIG to the platform's kubeconfig"
    ),
]

REPO = Path(__file__).resolve().parents[2]
CREDENTIALS = Path(os.environ.get("GAUNTLET_CREDENTIALS_DIR", REPO / "inventory/lab/credentials"))
NAMESPACE, CLUSTER = "database", "platform-db"
APPS = ["keycloak", "gitea", "task_api"]


@pytest.fixture(scope="module")
def api():
    kubernetes = pytest.importorskip("kubernetes")
    kubernetes.config.load_kube_config()
    client = kubernetes.client.ApiClient()
    return kubernetes.client.CustomObjectsApi(client), kubernetes.client.CoreV1Api(client)


def password(app: str) -> str:
    return (CREDENTIALS / f"postgres/{app}").read_text().strip()


def test_cluster_is_ready_and_roles_reconciled(api):
    custom, _unused = api
    cluster = custom.get_namespaced_custom_object("postgresql.cnpg.io", "v1", NAMESPACE, "clusters", CLUSTER)
    conditions = {c["type"]: c["status"] for c in cluster["status"].get("conditions", [])}
    assert conditions.get("Ready") == "True", cluster["status"]
    reconciled = cluster["status"].get("managedRolesStatus", {}).get("byStatus", {}).get("reconciled", [])
    assert set(APPS) <= set(reconciled), cluster["status"].get("managedRolesStatus")


@pytest.mark.parametrize("app", APPS)
def test_database_is_applied(api, app):
    custom, _unused = api
    database = custom.get_namespaced_custom_object(
        "postgresql.cnpg.io", "v1", NAMESPACE, "databases", f"{CLUSTER}-{app.replace('_', '-')}"
    )
    assert database["status"].get("applied") is True, database["status"]


def test_task_api_secret_matches_the_credential(api):
    _unused, core = api
    secret = core.read_namespaced_secret("task-api-database", "task-api")
    uri = base64.b64decode(secret.data["uri"]).decode()
    assert uri == f"postgresql://task_api:{password('task_api')}@platform-db-rw.database.svc:5432/task_api"
