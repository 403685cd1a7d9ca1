"""Controller-side work runs as the invoking user, never through sudo, and on the controller.

A controller task through sudo fails on real VMs: the controller user has no sudo password.

Controller roles (docs/architecture.md, "Controller roles": the platform roles, coredns_custom,
traefik, verify, k8s_objects) are marked by their first task, the guard imported from role
gauntlet (tasks_from: controller). Their tasks carry no delegate_to/run_once/become: every
play that runs one of them must be `hosts: localhost` with `become: false` (checked here, for
roles:, import_role and include_role, in playbooks/, molecule/ and the other roles' tasks).
Their host entry points (HOST_ENTRY_POINTS) are included from plays on the nodes and keep
their delegation.

Every other role cannot know the play that includes it: a task of it that runs on the
controller (delegated to localhost, `connection: local`, or in a play on localhost) inherits
`become: true` from its play (the k3s stage's plays set it for the nodes; its controller
tasks then ran `sudo` on the controller, failing for a user without passwordless sudo or
writing the kubeconfig as root: review finding B1). So every such task must say
`become: false` itself, or inherit it from an enclosing block or play that says so.

This walks every task file of every role, every playbook and every Molecule playbook.
"""

from pathlib import Path

import pytest
import yaml
from ansible_collections.gauntlet.platform.plugins.module_utils.inventory import controller_roles as marks

REPO = Path(__file__).resolve().parents[2]
LOCAL_NAMES = {"localhost", "127.0.0.1", "::1"}
BLOCK_KEYS = ("block", "rescue", "always")

# Entry points of controller roles that plays on the nodes include (tasks_from), and why.
HOST_ENTRY_POINTS = {
    # The check-mode "no cluster yet" stop, first in verify.yml's node plays too.
    ("k8s_objects", "cluster"),
    # Each node's resolver and certificates, read on the node.
    ("verify", "node_dns"),
    ("verify", "certificates_host"),
}
ROLE_PREFIX = "gauntlet.platform."
INCLUDES = marks.INCLUDE_KEYS

# Plays on the controller that must be root, and why. Each entry is (file, play name).
ROOT_ON_PURPOSE = {
    # /etc/hosts on the controller belongs to root; the play is off unless
    # local_domains_manage_controller is set, and then the user asked for it.
    ("playbooks/hosts.yml", "Resolve the local domains on the controller"),
}


def yaml_files():
    roots = [REPO / "playbooks", REPO / "molecule"]
    roots += [p for role in sorted((REPO / "roles").iterdir()) for p in (role / "tasks", role / "handlers")]
    for root in roots:
        if root.is_dir():
            yield from sorted(p for p in root.rglob("*.yml") if p.is_file())


def is_play(item):
    return isinstance(item, dict) and "hosts" in item


def on_controller(task):
    delegate = str(task.get("delegate_to", "")).strip()
    return delegate in LOCAL_NAMES or task.get("connection") == "local"


def walk(tasks, inherited_become, inherited_local, where):
    """Yield (where, task name) for controller tasks whose effective become is not an explicit false."""
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        become = task.get("become", inherited_become)
        local = inherited_local or on_controller(task)
        if any(key in task for key in BLOCK_KEYS):
            for key in BLOCK_KEYS:
                yield from walk(task.get(key), become, local, where)
            continue
        if local and become is not False:
            yield where, task.get("name", "<unnamed>")


def violations():
    found = []
    for path in yaml_files():
        where = str(path.relative_to(REPO))
        data = yaml.safe_load(path.read_text())
        if not isinstance(data, list):
            continue
        if all(is_play(item) or "ansible.builtin.import_playbook" in item for item in data if isinstance(item, dict)):
            for play in filter(is_play, data):
                local = str(play["hosts"]).strip() in LOCAL_NAMES or play.get("connection") == "local"
                if (where, play.get("name")) in ROOT_ON_PURPOSE:
                    continue
                # Undefined at play level means "whatever ansible.cfg/-b says": not explicit.
                become = play.get("become")
                for key in ("pre_tasks", "tasks", "post_tasks", "handlers"):
                    found += walk(play.get(key), become, local, f"{where} play {play.get('name')!r}")
        else:
            # A role's task or handler file: its play is unknown and may well use become.
            found += walk(data, None, False, where)
    return found


def test_the_walker_finds_controller_tasks():
    """The check can fail: it knows the ways a task reaches the controller."""
    tasks = [
        {"name": "a", "ansible.builtin.copy": {}, "delegate_to": "localhost"},
        {"name": "b", "ansible.builtin.copy": {}, "connection": "local"},
        {"name": "c", "block": [{"name": "c1", "ansible.builtin.copy": {}}], "delegate_to": "127.0.0.1"},
        {"name": "d", "ansible.builtin.copy": {}, "delegate_to": "localhost", "become": False},
        {
            "name": "e",
            "block": [{"name": "e1", "ansible.builtin.copy": {}, "delegate_to": "localhost"}],
            "become": False,
        },
        {"name": "f", "ansible.builtin.copy": {}, "delegate_to": "server-1"},
        {"name": "g", "ansible.builtin.copy": {}, "delegate_to": "localhost", "become": True},
    ]
    assert [name for _unused, name in walk(tasks, None, False, "x")] == ["a", "b", "c1", "g"]
    assert [name for _unused, name in walk([{"name": "h", "ansible.builtin.debug": {}}], True, True, "x")] == ["h"]


def test_the_repository_has_controller_tasks_to_check():
    names = [p for p in yaml_files() if "delegate_to: localhost" in p.read_text()]
    assert len(names) > 10


@pytest.mark.parametrize("allowed", sorted(ROOT_ON_PURPOSE))
def test_root_plays_on_the_controller_still_exist(allowed):
    path, name = allowed
    plays = yaml.safe_load((REPO / path).read_text())
    assert name in [p.get("name") for p in plays if is_play(p)], f"stale ROOT_ON_PURPOSE entry {allowed}"


def test_every_controller_task_sets_become_false():
    found = violations()
    assert not found, "controller tasks without an explicit `become: false`:\n" + "\n".join(
        f"  {where}: {name}" for where, name in found
    )


def controller_roles():
    """Roles whose first task is the controller guard: the mark validation reads too (module_utils)."""
    return set(marks.controller_roles(REPO / "roles", lambda path: yaml.safe_load(path.read_text())))


def role_uses(tasks):
    """(role, entry point) of every import_role/include_role in ``tasks``, blocks included."""
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        for key in BLOCK_KEYS:
            yield from role_uses(task.get(key))
        include = next((task[key] for key in INCLUDES if key in task), None)
        if isinstance(include, dict) and str(include.get("name", "")).startswith(ROLE_PREFIX):
            yield include["name"][len(ROLE_PREFIX) :], str(include.get("tasks_from", "main")).removesuffix(".yml")


def play_role_uses(play):
    for entry in play.get("roles") or []:
        name = entry if isinstance(entry, str) else entry.get("role", entry.get("name", ""))
        if name.startswith(ROLE_PREFIX):
            yield name[len(ROLE_PREFIX) :], "main"
    for key in ("pre_tasks", "tasks", "post_tasks", "handlers"):
        yield from role_uses(play.get(key))


def misplaced_controller_roles():
    """Where a controller role's controller entry point runs outside a play on localhost without become."""
    roles = controller_roles()
    found = []
    for path in yaml_files():
        where = str(path.relative_to(REPO))
        data = yaml.safe_load(path.read_text())
        if not isinstance(data, list):
            continue
        plays = [item for item in data if is_play(item)]
        if plays:
            for play in plays:
                uses = [u for u in play_role_uses(play) if u[0] in roles and u not in HOST_ENTRY_POINTS]
                on_controller = str(play["hosts"]).strip() in LOCAL_NAMES and play.get("become") is False
                if uses and not on_controller:
                    found.append(
                        f"{where} play {play.get('name')!r} (hosts {play['hosts']}, become {play.get('become')}): {uses}"
                    )
        elif path.parts[-3] not in roles:
            # A task file of a role that runs on the nodes cannot run a controller role.
            found += [f"{where}: {use}" for use in role_uses(data) if use[0] in roles and use not in HOST_ENTRY_POINTS]
    return found


def test_the_controller_roles_are_marked():
    assert controller_roles() >= {
        "linkerd", "monitoring", "cnpg", "keycloak", "gitea", "drone", "argocd", "coredns_custom", "traefik", "verify",
        "k8s_objects",
    }  # fmt: skip
    assert not controller_roles() & {"k3s", "registry", "local_ca", "host_prep", "image_preload", "local_domains"}


@pytest.mark.parametrize("entry", sorted(HOST_ENTRY_POINTS))
def test_host_entry_points_exist(entry):
    role, tasks_from = entry
    assert role in controller_roles() and (REPO / "roles" / role / "tasks" / f"{tasks_from}.yml").is_file(), entry


def test_the_play_check_can_fail():
    """play_role_uses sees roles: entries, imports and includes, in blocks too."""
    play = {
        "hosts": "k3s_servers[0]",
        "roles": [ROLE_PREFIX + "traefik", {"role": ROLE_PREFIX + "gauntlet"}],
        "tasks": [
            {"block": [{"ansible.builtin.include_role": {"name": ROLE_PREFIX + "verify", "tasks_from": "node_dns"}}]}
        ],
    }
    assert list(play_role_uses(play)) == [("traefik", "main"), ("gauntlet", "main"), ("verify", "node_dns")]


def test_controller_roles_run_in_plays_on_localhost_without_become():
    found = misplaced_controller_roles()
    assert not found, "controller roles outside a play with `hosts: localhost` and `become: false`:\n" + "\n".join(
        f"  {where}" for where in found
    )


def test_controller_roles_carry_no_delegation():
    """Their tasks run where their play runs: a leftover delegate_to or run_once hides a misplaced play."""
    found = []
    for role in sorted(controller_roles()):
        for path in sorted((REPO / "roles" / role).glob("*/*.yml")):
            if path.parent.name not in ("tasks", "handlers") or (role, path.stem) in HOST_ENTRY_POINTS:
                continue
            text = path.read_text()
            found += [f"{path.relative_to(REPO)}: {key}" for key in ("delegate_to:", "run_once:") if key in text]
    assert not found, "\n".join(found)
