"""The judgement of a k3s helm-controller install (module_utils/k8s/helm_install, filters helm_install_*).

Inputs are shaped like what kubernetes.core.k8s_info and k8s_log return for the objects
helm-controller v0.17.7 makes (k3s-io/helm-controller pkg/controllers/chart/chart.go): the
Secret chart-values-traefik, the Job helm-install-traefik and its pods. They are hand-made
test data, not read from a cluster.
"""

import base64

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.filter.helm_install import FilterModule
from ansible_collections.gauntlet.platform.plugins.module_utils.k8s import helm_install as hi

FILTERS = FilterModule().filters()
VALUES = "global:\n  checkNewVersion: false\nports:\n  web:\n    http: {}\n"
REFUSED_LOG = [
    "+ helm_v3 upgrade --install traefik https://10.43.0.1:443/static/charts/traefik-40.1.4+up40.1.0.tgz",
    "Error: UPGRADE FAILED: values don't meet the specifications of the schema(s) in the following chart(s):",
    "traefik:",
    "- ports.web: Additional property redirections is not allowed",
]


def values_secret(content=VALUES, updated="2026-09-01T10:00:05Z"):
    return {
        "metadata": {
            "name": "chart-values-traefik",
            "namespace": "kube-system",
            "creationTimestamp": "2026-09-01T09:00:00Z",
            "managedFields": [
                {"manager": "k3s", "operation": "Update", "time": "2026-09-01T09:00:00Z"},
                {"manager": "helm-controller", "operation": "Update", "time": updated},
            ],
        },
        "data": {"HelmChartConfigValuesContent": base64.b64encode(content.encode()).decode()},
    }


def job(started="2026-09-01T10:00:07Z", suspend=False, conditions=(), failed=0, active=0):
    return {
        "metadata": {"name": "helm-install-traefik", "namespace": "kube-system"},
        "spec": {"suspend": suspend, "backoffLimit": 1000},
        "status": {
            **({"startTime": started} if started else {}),
            "conditions": list(conditions),
            **({"failed": failed} if failed else {}),
            **({"active": active} if active else {}),
        },
    }


COMPLETE = {"type": "Complete", "status": "True"}


def pod(name, created, phase="Failed"):
    return {"metadata": {"name": name, "creationTimestamp": created}, "status": {"phase": phase}}


def log_result(name, lines=None, msg=None):
    result = {"ansible_loop_var": "traefik_item", "traefik_item": pod(name, "")}
    if lines is not None:
        result |= {"log": "\n".join(lines) + "\n", "log_lines": lines}
    if msg:
        result["msg"] = msg
    return result


# -- values ------------------------------------------------------------------------------------


def test_values_applied_only_when_the_secret_holds_exactly_them():
    assert hi.values_applied([values_secret()], VALUES)
    assert not hi.values_applied([values_secret("ports: {}\n")], VALUES)
    assert not hi.values_applied([], VALUES)
    assert not hi.values_applied([{"metadata": {}, "data": {}}], VALUES)
    assert not hi.values_applied([{"data": {"HelmChartConfigValuesContent": "not base64!"}}], VALUES)


def test_values_updated_at_is_the_newest_managed_field_time():
    assert hi.values_updated_at([values_secret()]) == "2026-09-01T10:00:05+00:00"
    created_only = {"metadata": {"creationTimestamp": "2026-09-01T09:00:00Z"}}
    assert hi.values_updated_at([created_only]) == "2026-09-01T09:00:00+00:00"
    assert hi.values_updated_at([]) is None


# -- job ---------------------------------------------------------------------------------------

SINCE = "2026-09-01T10:00:05+00:00"


@pytest.mark.parametrize(
    ("jobs", "state", "detail"),
    [
        ([], "pending", "not created"),
        ([job(suspend=True, started=None)], "pending", "not started"),
        ([job(started=None)], "pending", "not started"),
        # The Job of the previous values, done before helm-controller changed the Secret.
        ([job(started="2026-09-01T09:58:00Z", conditions=[COMPLETE])], "pending", "older than the values"),
        ([job(active=1, failed=1)], "pending", "1 active, 1 failed"),
        ([job(conditions=[COMPLETE])], "succeeded", "completed"),
        # Started in the same second the values changed: it is the new Job.
        ([job(started="2026-09-01T10:00:05Z", conditions=[COMPLETE])], "succeeded", "completed"),
        ([job(active=1, failed=3)], "failed", "3 attempts of the Job failed"),
        (
            [job(conditions=[{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                              "message": "Job has reached the specified backoff limit"}])],
            "failed",
            "BackoffLimitExceeded Job has reached the specified backoff limit",
        ),
    ],
)  # fmt: skip
def test_job_state(jobs, state, detail):
    result = hi.job_state(jobs, since=SINCE, max_failures=3)
    assert result["state"] == state
    assert detail in result["detail"]


def test_job_state_without_since_takes_any_completed_job():
    assert hi.job_state([job(started="2020-01-01T00:00:00Z", conditions=[COMPLETE])])["state"] == "succeeded"


# -- TLSStore ----------------------------------------------------------------------------------


def test_tls_store_problem():
    store = {"metadata": {"name": "default"}, "spec": {"defaultCertificate": {"secretName": "gauntlet-default-tls"}}}
    assert hi.tls_store_problem([store], "gauntlet-default-tls") == ""
    assert "does not exist" in hi.tls_store_problem([], "gauntlet-default-tls")
    other = hi.tls_store_problem([{"spec": {"defaultCertificate": {"secretName": "x"}}}], "gauntlet-default-tls")
    assert "'x'" in other and "'gauntlet-default-tls'" in other
    assert "None" in hi.tls_store_problem([{"spec": {}}], "gauntlet-default-tls")


# -- failure message ---------------------------------------------------------------------------


def test_failure_message_names_the_state_the_problem_and_the_newest_log_first():
    state = hi.job_state([job(failed=3)], since=SINCE)
    pods = [
        pod("helm-install-traefik-aaaaa", "2026-09-01T10:00:07Z"),
        pod("helm-install-traefik-bbbbb", "2026-09-01T10:01:00Z"),
    ]
    logs = {
        "results": [
            log_result("helm-install-traefik-aaaaa", ["first attempt"]),
            log_result("helm-install-traefik-bbbbb", REFUSED_LOG),
        ]
    }
    problem = hi.tls_store_problem([], "gauntlet-default-tls")
    message = FILTERS["helm_install_failure"]("kube-system/helm-install-traefik", state, problem, pods, logs, "Fix it.")
    lines = message.splitlines()
    assert lines[0] == "Job kube-system/helm-install-traefik: 3 attempts of the Job failed (it keeps retrying)."
    assert lines[1].startswith("TLSStore kube-system/default does not exist")
    assert "- ports.web: Additional property redirections is not allowed" in lines
    newest = lines.index("--- log of pod helm-install-traefik-bbbbb (Failed), last 40 lines ---")
    oldest = lines.index("--- log of pod helm-install-traefik-aaaaa (Failed), last 40 lines ---")
    assert newest < oldest
    assert lines[-1] == "Fix it."


def test_failure_message_keeps_the_last_lines_and_says_when_a_log_is_missing():
    long_log = [f"line {i}" for i in range(100)]
    pods = [pod("p1", "2026-09-01T10:00:07Z"), pod("p2", "2026-09-01T10:00:08Z", phase="Pending")]
    logs = {"results": [log_result("p1", long_log), log_result("p2", msg="container is waiting to start")]}
    message = hi.failure_message(
        "kube-system/helm-install-traefik", {"state": "pending", "detail": "d"}, "", pods, logs
    )
    assert "line 59" not in message.splitlines() and "line 60" in message and "line 99" in message
    assert "(no log: container is waiting to start)" in message
    assert "TLSStore" not in message
    assert message.splitlines()[-1].startswith("helm-controller keeps the previous values")


def test_failure_message_without_pods():
    message = hi.failure_message("kube-system/helm-install-traefik", {"state": "pending", "detail": "d"}, "", [], {})
    assert "No pod of the Job exists" in message


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("helm_install_job_state", ({"resources": "x"},)),
        ("helm_install_job_state", ([job(), job()],)),
        ("helm_install_job_state", ([job()], None, 0)),
        ("helm_install_job_state", ([job(started="yesterday")],)),
        ("helm_install_values_applied", ([values_secret()], None)),
        ("helm_install_failure", ("j", "not a state", "", [], {})),
        ("helm_install_failure", ("j", {"state": "failed"}, "", "pods", {})),
    ],
)
def test_bad_input_is_a_filter_error(name, args):
    with pytest.raises(AnsibleFilterError, match=name):
        FILTERS[name](*args)
