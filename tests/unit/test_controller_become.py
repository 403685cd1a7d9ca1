"""Controller-side work runs as the invoking user, never through sudo.

A controller task through sudo fails on real VMs: the controller user has no sudo password.

A task that runs on the controller (delegated to localhost, `connection: local`, or in a
play on localhost) inherits `become: true` from its play: the k3s stage's plays set it for
the nodes, and the role's controller tasks then ran `sudo` on the controller, failing for
a user without passwordless sudo or writing the kubeconfig as root (review finding B1).
Roles cannot know the play that includes them, so every controller task must say
`become: false` itself, or inherit it from an enclosing block or play that says so.

This walks every task file of every role, every playbook and every Molecule playbook.
"""

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
LOCAL_NAMES = {"localhost", "127.0.0.1", "::1"}
BLOCK_KEYS = ("block", "rescue", "always")

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
