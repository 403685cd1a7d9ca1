"""The post-install check's decisions (module_utils/verify/), fed with payloads shaped like the real APIs'
and Ansible's results."""

import base64
import datetime
import json

import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.verify.dns import (
    dns_row,
    expected_addresses,
    expected_from_services,
    parse_getent,
    pick_pod,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.verify.observability import (
    grafana_datasource_rows,
    linkerd_edges_row,
    prometheus_rules_row,
    prometheus_targets_row,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.verify.rows import (
    MAX_DETAIL_LINES,
    VerifyInputError,
    failed_rows,
    make_row,
    render_table,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.verify.services import (
    drone_repo_row,
    http_status_row,
    jwt_parts,
    keycloak_token_row,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.verify.task_results import task_error
from ansible_collections.gauntlet.platform.plugins.module_utils.verify.tls import tls_rows, tls_targets
from ansible_collections.gauntlet.platform.plugins.module_utils.verify.workloads import (
    deployed_image_row,
    pod_problems,
    pods_row,
    registry_row,
)

ENTRIES = [
    {"address": "192.168.56.11", "names": ["argocd.local", "gitea.local", "keycloak.local"]},
    {"address": "192.168.56.30", "names": ["registry.local"]},
]


# -- helpers: what Ansible registers ------------------------------------------------------


def uri(status, body=None, url="https://example.local/"):
    """A uri result registered with failed_when: false."""
    result = {"changed": False, "failed": False, "status": status, "url": url, "redirected": False}
    if body is not None:
        result["json"] = body
    return result


def uri_error(reason="[Errno -2] Name or service not known", url="https://gitea.local/"):
    return {
        "changed": False,
        "elapsed": 0,
        "failed": False,
        "failed_when_result": False,
        "msg": f"Status code was -1 and not [200]: Request failed: <urlopen error {reason}>",
        "redirected": False,
        "status": -1,
        "url": url,
    }


def loop(results, loop_var="verify_item"):
    """A registered loop; each result carries its item under the loop variable."""
    out = []
    for item, result in results:
        entry = dict(result)
        entry[loop_var] = item
        entry["ansible_loop_var"] = loop_var
        out.append(entry)
    return {"changed": False, "msg": "All items completed", "results": out, "skipped": False}


def getent(address, name):
    return {"rc": 0, "stdout": f"{address}  STREAM {name}\n{address}  DGRAM  \n{address}  RAW    ", "stderr": ""}


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def jwt(claims, header=None):
    header = header or {"alg": "RS256", "typ": "JWT", "kid": "k1"}
    return f"{b64(header)}.{b64(claims)}.c2lnbmF0dXJl"


# -- rows and task errors -------------------------------------------------------------------


def test_make_row_splits_and_drops_empty_lines():
    row = make_row("pods", "all", "FAIL", ["a\nb", "", "  "])
    assert row == {"check": "pods", "target": "all", "result": "FAIL", "detail": ["a", "b"]}
    assert make_row("x", "y", "OK")["detail"] == []


@pytest.mark.parametrize(("result", "detail"), [("BAD", None), ("OK", 42)])
def test_make_row_refuses_bad_input(result, detail):
    with pytest.raises(VerifyInputError):
        make_row("x", "y", result, detail)


def test_task_error_of_uri_transport_failure_has_a_hint():
    error = task_error(uri_error(), expect="status")
    assert error.startswith("[Errno -2] Name or service not known (the controller cannot resolve this name")
    assert "local_domains_manage_controller" in error


def test_task_error_of_tls_failure():
    reason = "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch (_ssl.c:1010)"
    error = task_error(uri_error(reason), expect="status")
    assert "Hostname mismatch" in error and "not signed by the local CA" in error


def test_task_error_of_missing_kubeconfig_is_one_line():
    result = {
        "failed": False,
        "failed_when_result": False,
        "msg": "Could not find or access '/c/kubeconfig.yaml' on the Ansible Controller.\n"
        "If you are using a module and expect the file to exist on the remote, see the remote_src option",
    }
    error = task_error(result, expect="resources")
    assert error.startswith("Could not find or access '/c/kubeconfig.yaml' on the Ansible Controller.")
    assert "remote_src" not in error and "\n" not in error and "run the k3s stage" in error


def test_task_error_success_unreachable_skipped():
    assert task_error(uri(200), expect="status") is None
    assert task_error({"resources": []}, expect="resources") is None
    unreachable = {"unreachable": True, "msg": "Task failed: Failed to connect to the host via ssh: timeout\r\nmore"}
    assert task_error(unreachable) == "host unreachable: Failed to connect to the host via ssh: timeout; more"
    assert task_error({"skipped": True, "false_condition": "x | length > 0"}) == "skipped: x | length > 0"
    assert task_error(None) == "the check did not run"
    assert task_error({"changed": False}, expect="images") == "failed without a message"


def test_task_error_after_waiting_in_vain_is_the_answer_not_an_error():
    # An `until` that never held: Ansible sets failed and attempts on the last answer.
    waited = dict(uri(200, {"status": "success"}), failed=True, attempts=12, msg="OK (402 bytes)")
    assert task_error(waited, expect="status") is None
    assert task_error({"failed": True, "attempts": 12, "resources": []}, expect="resources") is None
    assert task_error({"failed": True, "msg": "boom"}) == "boom"


# -- 1. DNS ------------------------------------------------------------------------------------


def test_parse_getent_keeps_order_and_dedupes():
    assert parse_getent("10.0.0.1 STREAM a\n10.0.0.1 DGRAM\n10.0.0.2 STREAM a\n") == ["10.0.0.1", "10.0.0.2"]
    assert parse_getent("") == []


def test_expected_from_services_follows_hosts_entries():
    expected = expected_from_services(
        {"gitea": "gitea.local", "registry": "registry.local"}, "10.0.0.1", {"registry": "10.0.0.2"}
    )
    assert expected == {"gitea.local": "10.0.0.1", "registry.local": "10.0.0.2"}


def all_lookups(overrides=None):
    overrides = overrides or {}
    expected = expected_addresses(ENTRIES)
    return loop([(name, overrides.get(name, getent(address, name))) for name, address in sorted(expected.items())])


def test_dns_all_good():
    row = dns_row(all_lookups(), ENTRIES, "node server-1", reach={"ping": "pong", "changed": False})
    assert row == {
        "check": "dns",
        "target": "node server-1",
        "result": "OK",
        "detail": ["4 names resolve to the expected addresses"],
    }


def test_dns_wrong_missing_and_ambiguous_answers():
    lookups = all_lookups(
        {
            "gitea.local": getent("10.9.9.9", "gitea.local"),
            "keycloak.local": {"rc": 2, "stdout": "", "stderr": ""},
            "registry.local": {
                "rc": 0,
                "stdout": "192.168.56.11 STREAM registry.local\n192.168.56.30 STREAM registry.local\n",
            },
        }
    )
    row = dns_row(lookups, ENTRIES, "node agent-1")
    assert row["result"] == "FAIL"
    assert row["detail"] == [
        "3 of 4 names wrong",
        "gitea.local: resolves to 10.9.9.9, expected 192.168.56.11",
        "keycloak.local: does not resolve, expected 192.168.56.11",
        "registry.local: resolves to 192.168.56.11, 192.168.56.30; expected only 192.168.56.30 (clients may pick the wrong one)",
    ]


def test_dns_in_a_pod_without_getent():
    # k8s_exec fails when the binary is missing; registered with failed_when: false.
    failure = {
        "failed": False,
        "failed_when_result": False,
        "msg": 'Failed to execute on pod x due to : (0)\nReason: OCI runtime exec failed: exec: "getent": executable file not found in $PATH',
    }
    lookups = all_lookups(dict.fromkeys(expected_addresses(ENTRIES), failure))
    row = dns_row(lookups, ENTRIES, "pod argocd/argocd-server-0")
    assert row["result"] == "FAIL"
    assert "the container has no getent" in row["detail"][1] and "verify_dns_pod_candidates" in row["detail"][1]


def test_dns_unreachable_node_and_node_not_run():
    unreachable = {"unreachable": True, "changed": False, "msg": "Failed to connect to the host via ssh"}
    skipped_loop = {"changed": False, "skipped": True, "skip_reason": "Conditional result was False"}
    row = dns_row(skipped_loop, ENTRIES, "node agent-2", reach=unreachable)
    assert row["result"] == "FAIL"
    assert row["detail"] == ["not checked: host unreachable: Failed to connect to the host via ssh"]
    assert dns_row({}, ENTRIES, "node x", reach={})["detail"] == ["not checked: the check did not run"]


def test_dns_item_may_be_a_mapping_and_missing_domains_are_reported():
    lookups = loop([({"domain": "gitea.local"}, getent("192.168.56.11", "gitea.local"))])
    row = dns_row(lookups, ENTRIES, "pod x")
    assert row["result"] == "FAIL"
    assert "argocd.local: not looked up" in row["detail"]


def pod(name, namespace, phase="Running", ready=True, containers=None, **extra):
    containers = (
        containers
        if containers is not None
        else [{"name": name.split("-")[0], "ready": ready, "restartCount": 0, "state": {"running": {"startedAt": "x"}}}]
    )
    obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {}},
        "spec": {"containers": [{"name": c["name"]} for c in containers]},
        "status": {
            "phase": phase,
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Ready", "status": "True" if ready else "False"},
            ],
            "containerStatuses": containers,
        },
    }
    for key, value in extra.items():
        obj["metadata" if key in ("ownerReferences", "deletionTimestamp") else "status"][key] = value
    return obj


def argocd_server(name):
    return pod(name, "argocd", containers=[{"name": "argocd-server", "ready": True, "state": {"running": {}}}])


def test_pick_pod_takes_the_first_candidate_with_a_ready_container():
    proxy_ready_app_not = pod(
        "task-api-6d9f-abc",
        "task-api",
        containers=[
            {"name": "linkerd-proxy", "ready": True, "state": {"running": {}}},
            {"name": "task-api", "ready": False, "state": {"running": {}}},
        ],
        ready=False,
    )
    candidates = loop(
        [
            (
                {"namespace": "task-api", "label_selector": "app.kubernetes.io/name=task-api", "container": "task-api"},
                {"resources": [proxy_ready_app_not], "api_found": True},
            ),
            (
                {
                    "namespace": "argocd",
                    "label_selector": "app.kubernetes.io/name=argocd-server",
                    "container": "argocd-server",
                },
                {"resources": [argocd_server("argocd-server-7c-b"), argocd_server("argocd-server-7c-a")]},
            ),
        ]
    )
    picked = pick_pod(candidates)
    assert picked == {
        "namespace": "argocd",
        "pod": "argocd-server-7c-a",
        "container": "argocd-server",
        "target": "pod argocd/argocd-server-7c-a",
    }


def test_pick_pod_reasons():
    item = {"namespace": "gitea", "label_selector": "app=gitea", "container": "gitea"}
    none_running = pick_pod(loop([(item, {"resources": []})]))
    assert none_running == {
        "reason": "no running pod to resolve from: gitea (app=gitea): no running pod",
        "failed": False,
    }
    broken = {"failed": False, "msg": "Could not find or access '/k' on the Ansible Controller."}
    cannot = pick_pod(loop([(item, broken), (dict(item, namespace="keycloak"), broken)]))
    assert cannot["failed"] is True
    assert cannot["reason"].startswith("cannot list pods: Could not find or access '/k'")
    assert pick_pod({"results": []})["reason"].startswith("no pod candidates configured")


# -- 2. TLS ------------------------------------------------------------------------------------


def test_tls_targets():
    services = {"gitea": "gitea.local", "registry": "registry.local", "keycloak": "keycloak.local"}
    targets = tls_targets(services, ENTRIES, {"registry": "5000"}, {"registry": "/v2/", "keycloak": "realms"})
    assert targets == [
        {
            "service": "gitea",
            "domain": "gitea.local",
            "address": "192.168.56.11",
            "port": 443,
            "url": "https://gitea.local/",
        },
        {
            "service": "keycloak",
            "domain": "keycloak.local",
            "address": "192.168.56.11",
            "port": 443,
            "url": "https://keycloak.local/realms",
        },
        {
            "service": "registry",
            "domain": "registry.local",
            "address": "192.168.56.30",
            "port": 5000,
            "url": "https://registry.local:5000/v2/",
        },
    ]


def cert(not_after):
    return {"changed": False, "expired": False, "not_after": not_after, "not_before": "20260101000000Z"}


def test_tls_rows():
    now = datetime.datetime(2026, 9, 1, tzinfo=datetime.UTC)
    items = tls_targets(
        {"gitea": "gitea.local", "argocd": "argocd.local", "registry": "registry.local", "keycloak": "keycloak.local"},
        ENTRIES,
        {"registry": 5000},
    )
    by = {t["service"]: t for t in items}
    requests = loop(
        [
            (by["argocd"], uri(302)),
            (by["gitea"], uri(502)),
            (by["keycloak"], uri_error("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")),
            (by["registry"], uri(401)),
        ]
    )
    certs = loop(
        [
            (by["argocd"], cert("20281205120000Z")),
            (by["gitea"], cert("20281205120000Z")),
            (by["registry"], cert("20260910000000Z")),
            (by["keycloak"], {"failed": False, "msg": "Failed to get cert from keycloak.local:443, error: timed out"}),
        ]
    )
    rows = {r["target"]: r for r in tls_rows(requests, certs, 14, now=now)}
    assert rows["https://argocd.local/"] == {
        "check": "tls",
        "target": "https://argocd.local/",
        "result": "OK",
        "detail": ["HTTP 302; certificate valid until 2028-12-05 (826 days left)"],
    }
    assert rows["https://gitea.local/"]["result"] == "FAIL"
    assert "server error behind the ingress" in rows["https://gitea.local/"]["detail"][0]
    assert rows["https://keycloak.local/"]["result"] == "FAIL"
    assert rows["https://registry.local:5000/"]["result"] == "FAIL"
    assert rows["https://registry.local:5000/"]["detail"] == [
        "HTTP 401; certificate valid until 2026-09-10 (9 days left); renew it: less than 14 days left"
    ]


def test_tls_rows_without_certificates_and_without_requests():
    item = {"url": "https://gitea.local/"}
    assert tls_rows(loop([(item, uri(200))]))[0]["detail"] == ["HTTP 200"]
    assert tls_rows({"results": []})[0]["result"] == "FAIL"
    with pytest.raises(VerifyInputError):
        tls_rows(loop([("gitea.local", uri(200))]))


# -- 3. registry -------------------------------------------------------------------------------

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


def test_registry_row_ok_and_problems():
    ok = {
        "changed": False,
        "images": [{"name": "quay.io/x/y:1", "digest": DIGEST_A, "status": "present", "tag_digest": DIGEST_A}],
        "counts": {"present": 1, "missing": 0, "tag_mismatch": 0},
    }
    assert registry_row(ok, "registry.local:5000")["detail"] == ["all 1 images of the bundle lock present"]
    bad = {
        "images": [
            {"name": "quay.io/x/y:1", "digest": DIGEST_A, "status": "present"},
            {"name": "docker.io/library/python:3.13", "digest": DIGEST_A, "status": "missing"},
            {"name": "ghcr.io/a/b:2", "digest": DIGEST_A, "status": "tag_mismatch", "tag_digest": DIGEST_B},
        ]
    }
    row = registry_row(bad, "registry.local:5000")
    assert row["result"] == "FAIL"
    assert row["detail"] == [
        "2 of 3 images wrong: rerun playbooks/preload.yml",
        f"docker.io/library/python:3.13: digest {DIGEST_A} not in the registry",
        f"ghcr.io/a/b:2: the tag points to {DIGEST_B}, the bundle has {DIGEST_A}",
    ]


def test_registry_row_module_failure_and_empty_lock():
    failed = {
        "failed": False,
        "failed_when_result": False,
        "msg": "authentication to registry registry.local:5000 failed for user 'gauntlet': wrong username or password",
    }
    assert registry_row(failed, "r")["detail"] == [failed["msg"]]
    assert "lists no image" in registry_row({"images": []}, "r")["detail"][0]


# -- 4. pods -----------------------------------------------------------------------------------


def test_pods_all_ready_with_completed_job():
    pods = [
        pod("gitea-0", "gitea"),
        pod("keycloak-0", "keycloak"),
        pod(
            "helm-install-traefik-x",
            "kube-system",
            phase="Succeeded",
            ready=False,
            ownerReferences=[{"kind": "Job", "name": "helm-install-traefik"}],
        ),
    ]
    row = pods_row({"resources": pods}, {"resources": []})
    assert row["result"] == "OK"
    assert row["detail"] == ["3 pods Ready or completed (1 completed)"]


def test_pod_problems_realistic_states():
    crash = pod(
        "drone-5c-x",
        "drone",
        ready=False,
        containers=[
            {
                "name": "drone",
                "ready": False,
                "restartCount": 7,
                "state": {
                    "waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}
                },
            }
        ],
    )
    pull = pod(
        "gitea-0",
        "gitea",
        phase="Pending",
        ready=False,
        containers=[
            {
                "name": "gitea",
                "ready": False,
                "restartCount": 0,
                "state": {
                    "waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "gitea/gitea:1.27.3"'}
                },
            }
        ],
    )
    unschedulable = pod("platform-db-1", "database", phase="Pending", ready=False, containers=[])
    unschedulable["status"]["conditions"] = [
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "0/3 nodes are available: 3 Insufficient memory.",
        }
    ]
    evicted = pod("argocd-repo-server-1", "argocd", phase="Failed", ready=False, containers=[])
    evicted["status"].update(reason="Evicted", message="The node was low on resource: ephemeral-storage.")
    failed_retry = pod(
        "db-init-abc",
        "database",
        phase="Failed",
        ready=False,
        containers=[{"name": "init", "ready": False, "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}],
        ownerReferences=[{"kind": "Job", "name": "db-init"}],
    )
    failed_job = pod(
        "migrate-xyz",
        "task-api",
        phase="Failed",
        ready=False,
        containers=[{"name": "migrate", "ready": False, "state": {"terminated": {"exitCode": 2, "reason": "Error"}}}],
        ownerReferences=[{"kind": "Job", "name": "migrate"}],
    )
    terminating = pod("old-1", "gitea", ready=False, deletionTimestamp="2026-09-01T00:00:00Z")
    unknown = pod("keycloak-0", "keycloak", phase="Unknown", ready=False)
    running_not_ready = pod(
        "task-api-1",
        "task-api",
        ready=False,
        containers=[{"name": "task-api", "ready": False, "state": {"running": {}}}],
    )
    jobs = [
        {"metadata": {"namespace": "database", "name": "db-init"}, "status": {"succeeded": 1, "failed": 1}},
        {
            "metadata": {"namespace": "task-api", "name": "migrate"},
            "status": {"failed": 6, "conditions": [{"type": "Failed", "status": "True"}]},
        },
    ]
    problems = pod_problems(
        [crash, pull, unschedulable, evicted, failed_retry, failed_job, terminating, unknown, running_not_ready], jobs
    )
    assert problems == [
        "argocd/argocd-repo-server-1: Evicted: The node was low on resource: ephemeral-storage.",
        "database/platform-db-1: Pending: Unschedulable: 0/3 nodes are available: 3 Insufficient memory.",
        "drone/drone-5c-x: Running: drone: CrashLoopBackOff: back-off 5m0s restarting failed container, 7 restarts",
        'gitea/gitea-0: Pending: gitea: ImagePullBackOff: Back-off pulling image "gitea/gitea:1.27.3"',
        "keycloak/keycloak-0: Unknown: its node does not report (node down?); keycloak: running, not ready",
        "task-api/migrate-xyz: Failed (Job migrate has not succeeded); migrate: terminated (Error)",
        "task-api/task-api-1: Running: task-api: running, not ready",
    ]
    assert pod_problems([crash, pull], [], ignore=["^drone/", "gitea-0$"]) == []


def test_pods_row_failure_and_errors():
    row = pods_row({"resources": [pod("a-1", "x"), pod("b-1", "y", ready=False)]})
    assert row["result"] == "FAIL"
    assert row["detail"][0] == "1 of 2 pods not Ready"
    assert pods_row({"resources": []})["detail"] == ["the cluster runs no pod at all"]
    assert pods_row({"failed": False, "msg": "Invalid kube-config file"})["result"] == "FAIL"
    with pytest.raises(VerifyInputError):
        pod_problems({"items": []})


def test_long_problem_lists_are_cut():
    pods = [pod(f"p-{i:02d}", "x", ready=False) for i in range(25)]
    row = pods_row({"resources": pods})
    assert len(row["detail"]) == 1 + MAX_DETAIL_LINES + 1
    assert row["detail"][-1] == "... and 5 more"


# -- 5. Argo CD: test_verify_argocd.py ---------------------------------------------------


# -- 6. Drone ----------------------------------------------------------------------------------

DRONE_REPO = {
    "id": 1,
    "uid": "3",
    "user_id": 1,
    "namespace": "gauntlet",
    "name": "task-api",
    "slug": "gauntlet/task-api",
    "scm": "",
    "git_http_url": "http://gitea-http.gitea.svc:3000/gauntlet/task-api.git",
    "default_branch": "main",
    "private": True,
    "visibility": "private",
    "active": True,
    "config_path": "apps/task-api/.drone.yml",
    "trusted": False,
    "protected": False,
    "timeout": 60,
    "counter": 4,
}


def test_drone_repo_active():
    row = drone_repo_row(uri(200, DRONE_REPO), "gauntlet/task-api", "apps/task-api/.drone.yml")
    assert row["result"] == "OK"
    assert row["detail"] == ["active, pipeline apps/task-api/.drone.yml"]


def test_drone_repo_inactive_wrong_path_and_http_errors():
    inactive = dict(DRONE_REPO, active=False, config_path=".drone.yml")
    row = drone_repo_row(uri(200, inactive), "gauntlet/task-api", "apps/task-api/.drone.yml")
    assert row["detail"] == [
        "the repository is not active: pushes do not build",
        "pipeline path is '.drone.yml', expected 'apps/task-api/.drone.yml'",
    ]
    assert "admin token" in drone_repo_row(uri(401, {"message": "Unauthorized"}), "s")["detail"][0]
    assert "does not know the repository" in drone_repo_row(uri(404, {"message": "Not Found"}), "s")["detail"][0]
    assert drone_repo_row(uri(200), "s")["detail"] == ["HTTP 200 but the answer is not a JSON repository"]
    assert drone_repo_row(uri(200, {"active": True, "config_path": ".drone.yml"}), "s")["result"] == "OK"
    content = dict(uri(200), content=json.dumps(DRONE_REPO))
    assert drone_repo_row(content, "s")["result"] == "OK"


# -- 7. Keycloak and the Task API -----------------------------------------------------------

ISSUER = "https://keycloak.local/realms/gauntlet"
CLAIMS = {
    "exp": 1788000300,
    "iat": 1788000000,
    "jti": "onrtac:2c4c",
    "iss": ISSUER,
    "aud": ["task-api", "account"],
    "sub": "6f0c3c8e-8d1e-4a57-9d8e-3b2f1a0c9d11",
    "typ": "Bearer",
    "azp": "task-api-cli",
    "preferred_username": "tester",
}


def token_response(claims=None):
    return {
        "access_token": jwt(claims or CLAIMS),
        "expires_in": 300,
        "refresh_expires_in": 1800,
        "refresh_token": "eyJhbGciOiJIUzUxMiJ9.e30.x",
        "token_type": "Bearer",
        "not-before-policy": 0,
        "session_state": "c2f3",
        "scope": "openid profile email",
    }


def test_jwt_parts():
    header, claims = jwt_parts(jwt(CLAIMS))
    assert header["alg"] == "RS256" and claims["sub"] == CLAIMS["sub"]
    for bad in ("abc", "a.b", "!!!.e30.x", f"{b64({'a': 1})}.{base64.urlsafe_b64encode(b'[1]').decode()}.x"):
        with pytest.raises(VerifyInputError):
            jwt_parts(bad)


def test_keycloak_token_ok():
    row = keycloak_token_row(uri(200, token_response()), ISSUER, "task-api", "tester")
    assert row["result"] == "OK"
    assert row["detail"] == ["access token for tester, aud task-api"]


def test_keycloak_token_problems():
    wrong = dict(CLAIMS, iss="https://keycloak.local/realms/master", aud="account")
    row = keycloak_token_row(uri(200, token_response(wrong)), ISSUER, "task-api", "tester")
    assert row["result"] == "FAIL"
    assert row["detail"] == [
        f"issuer is 'https://keycloak.local/realms/master', the Task API expects '{ISSUER}'",
        "audience is 'account', the Task API expects 'task-api' (add an audience mapper)",
    ]
    refused = uri(401, {"error": "invalid_grant", "error_description": "Invalid user credentials"})
    detail = keycloak_token_row(refused, ISSUER, "task-api", "tester")["detail"][0]
    assert detail.startswith("HTTP 401, no access token: invalid_grant (Invalid user credentials)")
    assert "direct access grants" in detail
    assert keycloak_token_row(uri_error(), ISSUER, "task-api", "t")["result"] == "FAIL"
    garbled = dict(token_response(), access_token="not-a-jwt")
    assert "unreadable" in keycloak_token_row(uri(200, garbled), ISSUER, "task-api", "t")["detail"][0]


def test_keycloak_token_realm_roles():
    """The keycloak role's own check asks for the test user's realm roles too (the same judgement)."""
    claims = dict(CLAIMS, realm_access={"roles": ["default-roles-gauntlet", "task-admin"]})
    assert (
        keycloak_token_row(uri(200, token_response(claims)), ISSUER, "task-api", "t", ["task-admin"])["result"] == "OK"
    )
    row = keycloak_token_row(uri(200, token_response(CLAIMS)), ISSUER, "task-api", "t", realm_roles=["task-admin"])
    assert row["result"] == "FAIL"
    assert row["detail"] == ["realm roles [] lack ['task-admin']"]


def test_http_status_row():
    ok = http_status_row(uri(401), "task-api", "forged", 401, "refused")
    assert ok == {"check": "task-api", "target": "forged", "result": "OK", "detail": ["HTTP 401 unauthorized: refused"]}
    accepted = http_status_row(uri(200), "task-api", "forged", 401, "a forged token is refused")
    assert accepted["result"] == "FAIL"
    assert accepted["detail"] == ["HTTP 200 OK, expected 401: a forged token is refused"]
    assert http_status_row(uri(204), "c", "t", [200, 204])["result"] == "OK"
    assert http_status_row(uri_error(), "c", "t", 200)["result"] == "FAIL"


# -- 8. Linkerd --------------------------------------------------------------------------------


def series(ns, deploy, dst_ns, dst_deploy, tls, value):
    return {
        "metric": {
            "namespace": ns,
            "deployment": deploy,
            "dst_namespace": dst_ns,
            "dst_deployment": dst_deploy,
            "tls": tls,
        },
        "value": [1788000000.123, str(value)],
    }


def vector(*result):
    return uri(200, {"status": "success", "data": {"resultType": "vector", "result": list(result)}})


MESHED = ["argocd", "gitea", "drone", "keycloak", "task-api"]


def test_linkerd_all_mtls_ignoring_outside_and_idle_edges():
    result = vector(
        series("argocd", "argocd-repo-server", "gitea", "gitea", "true", 0.2),
        series("task-api", "task-api", "keycloak", "keycloak", "true", 0.003),
        series("task-api", "task-api", "database", "", "false", 4.0),  # database is not meshed
        series("drone", "drone", "gitea", "gitea", "false", 0),  # idle in the window
    )
    row = linkerd_edges_row(result, MESHED)
    assert row["result"] == "OK"
    assert row["detail"] == ["2 edges, all mTLS"]


def test_linkerd_plaintext_edge_fails():
    result = vector(
        series("argocd", "argocd-repo-server", "gitea", "gitea", "true", 0.2),
        series("drone", "drone", "gitea", "gitea", "true", 0.1),
        series("drone", "drone", "gitea", "gitea", "no_identity", 0.05),
        series("gitea", "gitea", "drone", "drone", "false", 0.01),
    )
    row = linkerd_edges_row(result, MESHED)
    assert row["result"] == "FAIL"
    assert row["detail"] == [
        "2 of 3 edges not mTLS",
        "drone/drone -> gitea/gitea: 0.05/s without mTLS (tls=no_identity)",
        "gitea/gitea -> drone/drone: 0.01/s without mTLS (tls=false)",
    ]


def test_linkerd_no_data_and_errors():
    row = linkerd_edges_row(vector(), MESHED)
    assert row["result"] == "FAIL" and "no traffic between meshed namespaces" in row["detail"][0]
    bad_query = uri(400, {"status": "error", "errorType": "bad_data", "error": "1:5: parse error"})
    assert linkerd_edges_row(bad_query, MESHED)["detail"] == ["HTTP 400: bad_data: 1:5: parse error"]
    matrix = uri(200, {"status": "success", "data": {"resultType": "matrix", "result": []}})
    assert "instant vector" in linkerd_edges_row(matrix, MESHED)["detail"][0]
    assert "verify_prometheus_username" in linkerd_edges_row(uri(401), MESHED)["detail"][0]
    assert linkerd_edges_row(dict(uri(200), content="<html>"), MESHED)["result"] == "FAIL"


# -- 9. Prometheus -----------------------------------------------------------------------------


def target(pool, url, health="up", last_error=""):
    return {
        "discoveredLabels": {"__address__": url.split("/")[2]},
        "labels": {"instance": url.split("/")[2], "job": pool.split("/")[2]},
        "scrapePool": pool,
        "scrapeUrl": url,
        "globalUrl": url,
        "lastError": last_error,
        "lastScrape": "2026-09-01T10:00:00.000Z",
        "lastScrapeDuration": 0.012,
        "health": health,
        "scrapeInterval": "30s",
        "scrapeTimeout": "10s",
    }


def targets_answer(*active):
    return uri(200, {"status": "success", "data": {"activeTargets": list(active), "droppedTargets": []}})


def test_prometheus_targets():
    up = target("serviceMonitor/monitoring/prometheus-k8s/0", "http://10.42.0.12:9090/metrics")
    ok = prometheus_targets_row(targets_answer(up, up))
    assert ok["result"] == "OK" and ok["detail"] == ["2 active targets up"]
    down = target(
        "serviceMonitor/task-api/task-api/0",
        "http://10.42.1.7:8000/metrics",
        "down",
        'Get "http://10.42.1.7:8000/metrics": context deadline exceeded',
    )
    pending = target("serviceMonitor/gitea/gitea/0", "http://10.42.2.3:3000/metrics", "unknown")
    row = prometheus_targets_row(targets_answer(up, down, pending))
    assert row["result"] == "FAIL"
    assert row["detail"] == [
        "2 of 3 targets not up",
        "serviceMonitor/gitea/gitea/0 http://10.42.2.3:3000/metrics: unknown: not scraped yet",
        'serviceMonitor/task-api/task-api/0 http://10.42.1.7:8000/metrics: down: Get "http://10.42.1.7:8000/metrics": context deadline exceeded',
    ]
    assert "no active target" in prometheus_targets_row(targets_answer())["detail"][0]
    assert prometheus_targets_row(uri_error())["result"] == "FAIL"


def rules_answer(*groups):
    return uri(200, {"status": "success", "data": {"groups": list(groups)}})


def group(name, *rules):
    return {
        "name": name,
        "file": f"/etc/prometheus/rules/prometheus-k8s-rulefiles-0/monitoring-{name}.yaml",
        "rules": list(rules),
        "interval": 30,
        "limit": 0,
        "evaluationTime": 0.0005,
        "lastEvaluation": "2026-09-01T10:00:00Z",
    }


def rule(name, health="ok", error=""):
    return {
        "state": "inactive",
        "name": name,
        "query": 'up{job="task-api"} == 0',
        "duration": 300,
        "labels": {"severity": "critical"},
        "annotations": {},
        "alerts": [],
        "health": health,
        "lastError": error,
        "evaluationTime": 0.0003,
        "lastEvaluation": "2026-09-01T10:00:00Z",
        "type": "alerting",
    }


def test_prometheus_rules():
    answer = rules_answer(
        group("gauntlet.task-api", rule("TaskAPIDown"), rule("TaskAPIHighErrorRate")),
        group("kubernetes-apps", rule("KubePodCrashLooping")),
    )
    row = prometheus_rules_row(answer)
    assert row["result"] == "OK"
    assert row["detail"] == ["1 gauntlet groups (2 groups, 3 rules), none in error"]
    broken = rules_answer(
        group("kubernetes-apps", rule("KubePodCrashLooping", "err", "many-to-many matching not allowed")),
    )
    row = prometheus_rules_row(broken)
    assert row["result"] == "FAIL"
    assert row["detail"] == [
        "no rule group matches '^gauntlet' among 1 groups: are the PrometheusRules applied?",
        "kubernetes-apps/KubePodCrashLooping: many-to-many matching not allowed",
    ]
    assert prometheus_rules_row(broken, "^kubernetes")["detail"] == [
        "kubernetes-apps/KubePodCrashLooping: many-to-many matching not allowed"
    ]


# -- 10. Grafana -------------------------------------------------------------------------------

SOURCES = [
    {
        "id": 1,
        "uid": "prometheus",
        "orgId": 1,
        "name": "prometheus",
        "type": "prometheus",
        "typeName": "Prometheus",
        "access": "proxy",
        "url": "http://prometheus-k8s.monitoring.svc:9090",
        "isDefault": True,
        "readOnly": True,
    },
    {"id": 2, "uid": "alertmanager", "name": "Alertmanager", "type": "alertmanager", "url": "http://x"},
]


def test_grafana_datasources():
    health = loop(
        [
            (SOURCES[0], uri(200, {"message": "Successfully queried the Prometheus API.", "status": "OK"})),
            (
                SOURCES[1],
                uri(
                    400,
                    {"message": 'Get "http://x/api/v2/status": dial tcp: lookup x: no such host', "status": "ERROR"},
                ),
            ),
        ]
    )
    rows = grafana_datasource_rows(uri(200, SOURCES), health)
    assert rows == [
        {
            "check": "grafana",
            "target": "grafana datasource Alertmanager (alertmanager)",
            "result": "FAIL",
            "detail": ['HTTP 400: Get "http://x/api/v2/status": dial tcp: lookup x: no such host'],
        },
        {
            "check": "grafana",
            "target": "grafana datasource prometheus (prometheus)",
            "result": "OK",
            "detail": ["HTTP 200: Successfully queried the Prometheus API."],
        },
    ]


# Grafana's Alertmanager datasource is a frontend-only plugin (its plugin.json has no
# "backend": true; DataSource.ts testDatasource() asks <url>/api/v2/status through the
# datasource proxy), so /api/datasources/uid/<uid>/health answers 404 "Plugin not found"
# (pkg/api/plugins.go translatePluginRequestErrorToAPIError). The check asks such types
# through /api/datasources/proxy/uid/<uid>/<path> instead.
ALERTMANAGER_STATUS = {
    "cluster": {"name": "01J", "peers": [], "status": "ready"},
    "config": {"original": "global: {}"},
    "uptime": "2026-09-01T10:00:00.000Z",
    "versionInfo": {"version": "0.33.0"},
}


def test_grafana_frontend_only_datasource_is_asked_through_the_proxy():
    health = loop(
        [
            (SOURCES[0], uri(200, {"message": "Successfully queried the Prometheus API.", "status": "OK"})),
            (SOURCES[1], uri(200, ALERTMANAGER_STATUS)),
        ]
    )
    rows = grafana_datasource_rows(uri(200, SOURCES), health, {"alertmanager": "/api/v2/status"})
    assert [row["result"] for row in rows] == ["OK", "OK"]
    assert rows[0]["detail"] == ["HTTP 200 from /api/v2/status through Grafana's datasource proxy"]


def test_grafana_frontend_only_datasource_down_or_not_alertmanager():
    down = loop([(SOURCES[1], uri(502, {"message": "Bad Gateway"}))])
    row = grafana_datasource_rows(uri(200, SOURCES[1:]), down, {"alertmanager": "/api/v2/status"})[0]
    assert row["result"] == "FAIL"
    assert row["detail"] == ["HTTP 502 from /api/v2/status through Grafana's datasource proxy: Bad Gateway"]
    html = loop([(SOURCES[1], uri(200))])
    row = grafana_datasource_rows(uri(200, SOURCES[1:]), html, {"alertmanager": "/api/v2/status"})[0]
    assert row["result"] == "FAIL"


def test_grafana_health_404_says_the_type_has_no_backend_check():
    # What real Grafana answers for /health of a frontend-only datasource type.
    missing = loop([(SOURCES[1], uri(404, {"message": "Plugin not found"}))])
    row = grafana_datasource_rows(uri(200, SOURCES[1:]), missing)[0]
    assert row["result"] == "FAIL"
    assert "verify_grafana_proxy_health" in row["detail"][-1]


def test_grafana_errors():
    assert (
        "admin password"
        in grafana_datasource_rows(uri(401, {"message": "Invalid username or password"}), [])[0]["detail"][0]
    )
    assert grafana_datasource_rows(uri(200, []), [])[0]["detail"] == ["Grafana has no datasource"]
    unchecked = grafana_datasource_rows(uri(200, SOURCES[:1]), {"results": []})
    assert unchecked[0]["detail"] == ["health not checked"]
    assert grafana_datasource_rows(uri_error(), [])[0]["result"] == "FAIL"


# -- the table ---------------------------------------------------------------------------------


def test_render_table_aligns_and_counts():
    rows = [
        make_row("dns", "node server-1", "OK", "10 names resolve to the expected addresses"),
        make_row("pods", "all namespaces", "FAIL", ["1 of 40 pods not Ready", "gitea/gitea-0: Pending"]),
        make_row("linkerd", "meshed namespaces", "SKIP", "Linkerd is disabled"),
    ]
    assert render_table(rows) == [
        "| CHECK   | TARGET            | RESULT | DETAIL",
        "|---------|-------------------|--------|-------",
        "| dns     | node server-1     | OK     | 10 names resolve to the expected addresses",
        "| pods    | all namespaces    | FAIL   | 1 of 40 pods not Ready",
        "|         |                   |        | gitea/gitea-0: Pending",
        "| linkerd | meshed namespaces | SKIP   | Linkerd is disabled",
        "| 3 checks: 1 OK, 1 FAIL, 1 SKIP",
    ]


def test_render_table_empty_and_bad_rows():
    assert render_table([])[-1] == "| 0 checks: 0 OK, 0 FAIL, 0 SKIP"
    assert all(line == line.rstrip() for line in render_table([make_row("a", "b", "OK")]))
    with pytest.raises(VerifyInputError):
        render_table([{"check": "a", "result": "MAYBE"}])
    with pytest.raises(VerifyInputError):
        render_table("rows")


def test_failed_rows():
    rows = [make_row("a", "b", "OK"), make_row("c", "d", "FAIL")]
    assert failed_rows(rows) == [rows[1]]


# -- the image the Task API runs ---------------------------------------------------------------
IMG_REPO = "registry.local:5000/gauntlet/task-api"
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


def k8s(*objects):
    return {"changed": False, "resources": list(objects)}


def deployment(image):
    return {"spec": {"template": {"spec": {"containers": [{"name": "task-api", "image": image}]}}}}


def image_pod(name, image, image_id, phase="Running"):
    return {
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "task-api", "image": image}]},
        "status": {"phase": phase, "containerStatuses": [{"name": "task-api", "image": image, "imageID": image_id}]},
    }


def pushes(*records, status=200):
    return {"status": status, "json": {"repository": "gauntlet/task-api", "tag": "abc", "pushes": list(records)}}


def test_deployed_image_ok_when_pods_gitops_and_push_record_agree():
    wanted = f"{IMG_REPO}:abc@{DIGEST_A}"
    row = deployed_image_row(
        k8s(
            image_pod("task-api-1", wanted, f"{IMG_REPO}@{DIGEST_A}"),
            image_pod("task-api-2", wanted, f"{IMG_REPO}@{DIGEST_A}"),
        ),
        k8s(deployment(wanted)),
        pushes({"digest": DIGEST_A, "account": "gauntlet-ci", "time": "t"}),
        push_account="gauntlet-ci",
    )
    assert row["result"] == "OK", row
    assert row["detail"][0] == f"2 pod(s) run {IMG_REPO}:abc@{DIGEST_A}"
    assert any("task-api-1 runs" in line and DIGEST_A in line for line in row["detail"])


@pytest.mark.parametrize(
    ("pods_", "push_records", "account", "expected"),
    [
        # The kubelet runs other bytes than gitops names.
        ([image_pod("p", f"{IMG_REPO}:abc@{DIGEST_A}", f"{IMG_REPO}@{DIGEST_B}")], [{"digest": DIGEST_A, "account": "ci"}],
         "ci", f"p runs digest {DIGEST_B}, gitops names {DIGEST_A}"),
        # An old ReplicaSet's pod still runs the previous tag.
        ([image_pod("old", f"{IMG_REPO}:prev@{DIGEST_B}", f"{IMG_REPO}@{DIGEST_B}")], [{"digest": DIGEST_A, "account": "ci"}],
         "ci", "rollout not finished"),
        # The last build pushed other content under the tag gitops names.
        ([image_pod("p", f"{IMG_REPO}:abc@{DIGEST_A}", f"{IMG_REPO}@{DIGEST_A}")], [{"digest": DIGEST_B, "account": "ci"}],
         "ci", f"the last build pushed {DIGEST_B} as :abc"),
        # Pushed twice (a branch build after main's).
        ([image_pod("p", f"{IMG_REPO}:abc@{DIGEST_A}", f"{IMG_REPO}@{DIGEST_A}")],
         [{"digest": DIGEST_A, "account": "ci"}, {"digest": DIGEST_B, "account": "ci"}], "ci", "2 pushes"),
        # Pushed by another account.
        ([image_pod("p", f"{IMG_REPO}:abc@{DIGEST_A}", f"{IMG_REPO}@{DIGEST_A}")], [{"digest": DIGEST_A, "account": "x"}],
         "ci", "not the CI account ci"),
        # No imageID yet.
        ([image_pod("p", f"{IMG_REPO}:abc@{DIGEST_A}", "")], [{"digest": DIGEST_A, "account": "ci"}], "ci", "no image digest"),
        # Nothing running.
        ([image_pod("p", f"{IMG_REPO}:abc@{DIGEST_A}", "", phase="Pending")], [{"digest": DIGEST_A, "account": "ci"}], "ci",
         "no Running pod"),
    ],
)  # fmt: skip
def test_deployed_image_fails_with_the_reason(pods_, push_records, account, expected):
    row = deployed_image_row(k8s(*pods_), k8s(deployment(f"{IMG_REPO}:abc@{DIGEST_A}")), pushes(*push_records),
                             push_account=account)  # fmt: skip
    assert row["result"] == "FAIL", row
    assert any(expected in line for line in row["detail"]), row["detail"]


def test_deployed_image_without_a_promoted_digest_fails_and_says_why():
    row = deployed_image_row(k8s(image_pod("p", f"{IMG_REPO}:0.1.0", f"{IMG_REPO}@{DIGEST_A}")),
                             k8s(deployment(f"{IMG_REPO}:0.1.0")))  # fmt: skip
    assert row["result"] == "FAIL"
    assert "without a digest" in row["detail"][0]
    assert any("push record not checked" in line for line in row["detail"])


def test_deployed_image_push_record_errors_are_named():
    wanted = f"{IMG_REPO}:abc@{DIGEST_A}"
    running = k8s(image_pod("p", wanted, f"{IMG_REPO}@{DIGEST_A}"))
    row = deployed_image_row(running, k8s(deployment(wanted)), {"status": 404, "json": {"message": "no push record"}})
    assert row["result"] == "FAIL" and "answered 404" in row["detail"][0]
    row = deployed_image_row(running, k8s(), None)
    assert row["result"] == "FAIL" and "does not exist" in row["detail"][0]
    row = deployed_image_row(running, k8s(deployment(wanted)), None)
    assert row["result"] == "OK" and "push record not checked" in row["detail"][-1]
