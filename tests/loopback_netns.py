"""Run a command in a network namespace of its own, with only loopback up.

The network rule of this project: a test sends traffic only to loopback or to test hosts
in namespaces the tests created. A playbook run against ``inventory/sample`` names real
private addresses (192.168.56.x); if a regression let it past validation it would dial
them. Wrapped here, such a run can reach nothing but its own loopback: any other address
fails at once with "network unreachable".

``unshare --map-root-user --net`` needs no privilege (an unprivileged user namespace owns
the new network namespace), so the same wrapper works as root in CI and as a user.
"""

from __future__ import annotations

import subprocess

import needs

# `ip link set lo up` runs as the namespace's root (it owns the namespace), then the
# command replaces the shell. "$0" is a placeholder name for the shell itself.
_PREFIX = ["unshare", "--map-root-user", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "loopback-netns"]


def unavailable_reason() -> str | None:
    """Why no loopback-only namespace can be made here, or None when it can."""
    try:
        probe = subprocess.run([*_PREFIX, "true"], capture_output=True, text=True, check=False, timeout=30)
    except FileNotFoundError as error:
        return f"cannot create a loopback-only network namespace: {error.filename} is not installed"
    if probe.returncode != 0:
        return f"cannot create a loopback-only network namespace (unshare -rn): {probe.stderr.strip()}"
    return None


def require() -> None:
    """Skip the calling test (fail it in CI) when no loopback-only namespace can be made."""
    reason = unavailable_reason()
    if reason:
        needs.missing(reason)


def isolated(command: list[str]) -> list[str]:
    """``command`` run inside a new network namespace where only loopback is up."""
    return [*_PREFIX, *command]
