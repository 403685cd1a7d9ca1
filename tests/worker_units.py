"""What must run on one pytest worker (scripts/test runs two: tests/conftest.py's scheduler)."""

# scripts/test spreads the tests over the cores (pytest-xdist, -n auto). A tier whose session
# fixture starts something heavy (Keycloak, the control plane, the render of every role) or whose
# files share one podman image tag runs on one worker; the app's tests share one PostgreSQL; every
# other file is a unit of its own, so its module fixtures and the order of its tests hold.
WHOLE_TIER_UNITS = {"render", "cluster", "identity", "containers", "deployed"}


def worker_unit(nodeid: str) -> str:
    """What must run on one worker with the test ``nodeid``: its tier, the app's tests, or its file."""
    path = nodeid.split("::", 1)[0]
    parts = path.split("/")
    if parts[0] == "tests" and len(parts) > 2 and parts[1] in WHOLE_TIER_UNITS:
        return f"tests/{parts[1]}"
    if path.startswith("apps/task-api/tests/"):
        return "apps/task-api/tests"
    return path
