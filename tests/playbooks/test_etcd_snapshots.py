"""etcd snapshots, off-node copies and restore (issue 17 item 2), run for real through ansible-playbook.

playbooks/etcd-snapshot.yml and playbooks/etcd-restore.yml run as written (the Validate play
included, on a copy of inventory/sample's group_vars), and the snapshot play of
playbooks/upgrade.yml on its own, against three servers and an agent that are all this machine: a
LocalCluster of tests/k3s_local.py, where `k3s` and `systemctl` are the k3s TEST DOUBLE
(molecule/k3s/files/k3s-test-double.py) acting on one folder per node. The double keeps
snapshots, the etcd database and the reset the way k3s lays them out (paths, names, flags, log
lines, the sha256 a snapshot ends with; cited there) and logs every node's calls in order.

What this cannot prove: that real k3s and etcd behave as the double does (a real snapshot, a real
restore and rejoin, the API's Ready), a fetch over SSH with become (slurp), or systemd itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from k3s_local import LocalCluster

REPO = Path(__file__).resolve().parents[2]
SNAPSHOT_NAME = re.compile(r"^gauntlet-\d{8}t\d{6}-s1-\d+$")


class Site:
    """A LocalCluster with an inventory (inventory/sample's group_vars, the nodes local)."""

    def __init__(self, tmp_path: Path, ansible_env, sqlite=False):
        self.tmp = tmp_path
        self.cluster = LocalCluster(tmp_path)
        self.cluster.start(sqlite=sqlite)
        self.inventory = tmp_path / "inventory"
        shutil.copytree(REPO / "inventory/sample/group_vars", self.inventory / "group_vars")
        nodes = {host: self.cluster.host_vars(host) for host in self.cluster.servers + self.cluster.agents}
        hosts = {
            "all": {
                "children": {
                    "k3s_cluster": {
                        "children": {
                            "k3s_servers": {"hosts": {h: nodes[h] for h in self.cluster.servers}},
                            "k3s_agents": {"hosts": {h: nodes[h] for h in self.cluster.agents}},
                        }
                    },
                    "registry": {"hosts": {"s1": {}}},
                }
            }
        }
        (self.inventory / "hosts.yml").write_text(yaml.safe_dump(hosts))
        self.local_dir = self.inventory / "credentials/etcd-snapshots"
        self.env = ansible_env(tmp_path)

    def play(self, playbook: str | Path, *args: str) -> subprocess.CompletedProcess:
        playbook = playbook if isinstance(playbook, Path) else REPO / "playbooks" / playbook
        # Small waits: the double's nodes are Ready as soon as their unit starts.
        command = ["ansible-playbook", str(playbook), "-i", str(self.inventory / "hosts.yml"), "-e", "k3s_wait_delay=1"]
        return subprocess.run(
            [*command, *args], capture_output=True, text=True, cwd=REPO, env=self.env, check=False, timeout=300
        )

    def node_snapshots(self, host="s1") -> dict[str, bytes]:
        folder = self.cluster.data(host) / "server/db/snapshots"
        return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.exists() else {}

    def local_files(self) -> dict[str, bytes]:
        if not self.local_dir.exists():
            return {}
        return {p.name: p.read_bytes() for p in sorted(self.local_dir.iterdir())}

    def seed_snapshot(self, name: str, now: int, host="s1") -> str:
        """A snapshot taken by the double itself (not by the playbook), copied to the controller
        with its .sha256 as playbooks/etcd-snapshot.yml leaves it."""
        result = self.cluster.run(host, "etcd-snapshot", "save", "--name", name, now=now)
        assert result.returncode == 0, result.stderr
        (file_name,) = re.findall(r"Snapshot (\S+) saved\.", result.stderr)
        data = (self.cluster.data(host) / "server/db/snapshots" / file_name).read_bytes()
        # Private, as the playbook leaves them (the Validate play refuses readable credentials).
        self.local_dir.mkdir(parents=True, exist_ok=True)
        for folder in (self.local_dir.parent, self.local_dir):
            folder.chmod(0o700)
        (self.local_dir / file_name).write_bytes(data)
        (self.local_dir / f"{file_name}.sha256").write_text(f"{hashlib.sha256(data).hexdigest()}  {file_name}\n")
        for path in (self.local_dir / file_name, self.local_dir / f"{file_name}.sha256"):
            path.chmod(0o600)
        (self.cluster.shared / "calls.jsonl").unlink()
        return file_name

    def tree(self) -> dict[str, str]:
        """Every file under the nodes' folders and the controller's snapshot folder, with its sha256."""
        files = {}
        for base in (self.tmp / "nodes", self.local_dir):
            for path in sorted(base.rglob("*")) if base.exists() else []:
                if path.is_file():
                    files[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        return files


def calls(site: Site) -> list[tuple[str, ...]]:
    """(node, program, args...) of every call of the double, in order."""
    return [(c["node"], os.path.basename(c["argv"][0]), *c["argv"][1:]) for c in site.cluster.calls()]


@pytest.fixture
def site(tmp_path, ansible_env):
    return Site(tmp_path, ansible_env)


def test_save_copies_the_snapshot_to_the_controller_with_its_sha256_and_list_shows_both(site):
    result = site.play("etcd-snapshot.yml")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    (save,) = calls(site)
    assert save[:5] == ("s1", "k3s", "etcd-snapshot", "save", "--name") and save[5].startswith("gauntlet-")
    node = site.node_snapshots()
    (name,) = node
    assert SNAPSHOT_NAME.match(name), name  # k3s's <name>-<node>-<unix time>
    digest = hashlib.sha256(node[name]).hexdigest()
    assert site.local_files() == {name: node[name], f"{name}.sha256": f"{digest}  {name}\n".encode()}
    assert (site.local_dir.stat().st_mode & 0o777) == 0o700
    for path in site.local_dir.iterdir():
        assert (path.stat().st_mode & 0o777) == 0o600, path
    # The copy is what `sha256sum -c` accepts, and etcd's own check (the hash the snapshot ends with) holds.
    checked = subprocess.run(
        ["sha256sum", "-c", f"{name}.sha256"], cwd=site.local_dir, capture_output=True, check=False
    )
    assert checked.returncode == 0, checked.stdout
    assert hashlib.sha256(node[name][:-32]).digest() == node[name][-32:]
    assert f"gauntlet_restore_snapshot={name}" in out

    # An older copy whose bytes changed on the controller: list says so.
    bad = site.seed_snapshot("gauntlet-old", now=1_700_000_000)
    (site.local_dir / bad).write_bytes((site.local_dir / bad).read_bytes()[:-1] + b"!")
    listed = site.play("etcd-snapshot.yml", "-e", "gauntlet_etcd_snapshot_action=list")
    out = listed.stdout + listed.stderr
    assert listed.returncode == 0, out
    assert re.search(rf"{name} file://\S+/server/db/snapshots/{name} ", out), out  # k3s etcd-snapshot ls
    assert f"{name}  {len(node[name])} bytes  sha256 ok" in out
    assert f"{bad}  {len(node[name])} bytes  DIFFERS from its .sha256: do not restore it" in out
    assert [c[2:4] for c in calls(site)] == [("etcd-snapshot", "ls")]


def test_check_mode_saves_nothing(site):
    result = site.play("etcd-snapshot.yml", "--check")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "Check mode, nothing was changed: would run `k3s etcd-snapshot save --name gauntlet-" in out
    assert calls(site) == []
    assert site.node_snapshots() == {}
    assert site.local_files() == {}


def test_prune_keeps_the_newest_of_the_prefix_on_the_node_and_the_controller(site):
    names = [site.seed_snapshot(f"gauntlet-{letter}", now=1_700_000_000 + n) for n, letter in enumerate("dcba")]
    # Named in reverse order of time: k3s prunes by the time in the name, not by name order.
    assert names == [f"gauntlet-{letter}-s1-{1_700_000_000 + n}" for n, letter in enumerate("dcba")]
    other = site.cluster.run("s1", "etcd-snapshot", "save", now=1_600_000_000)  # on-demand-s1-1600000000
    assert other.returncode == 0, other.stderr
    (site.cluster.shared / "calls.jsonl").unlink()
    before = site.tree()

    checked = site.play(
        "etcd-snapshot.yml",
        "-e",
        "gauntlet_etcd_snapshot_action=prune",
        "-e",
        "k3s_etcd_snapshot_retention=2",
        "--check",
    )
    out = checked.stdout + checked.stderr
    assert checked.returncode == 0, out
    assert f"On s1: delete {names[1]}, {names[0]}; keep {names[3]}, {names[2]}" in out
    assert f"On the controller: delete {names[1]}, {names[0]}; keep {names[3]}, {names[2]}" in out
    assert site.tree() == before
    assert calls(site) == []

    result = site.play(
        "etcd-snapshot.yml", "-e", "gauntlet_etcd_snapshot_action=prune", "-e", "k3s_etcd_snapshot_retention=2"
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert calls(site) == [("s1", "k3s", "etcd-snapshot", "prune", "--name", "gauntlet", "--snapshot-retention", "2")]
    assert sorted(site.node_snapshots()) == sorted([names[2], names[3], "on-demand-s1-1600000000"])
    assert sorted(site.local_files()) == sorted([names[2], f"{names[2]}.sha256", names[3], f"{names[3]}.sha256"])


def test_a_cluster_without_embedded_etcd_is_refused(tmp_path, ansible_env):
    site = Site(tmp_path, ansible_env, sqlite=True)
    result = site.play("etcd-snapshot.yml")
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "k3s on s1 does not run embedded etcd: it keeps the cluster in SQLite" in out
    assert "Nothing was changed." in out
    assert calls(site) == []
    assert not site.local_dir.exists()
    # The double answers as k3s does when asked anyway.
    direct = site.cluster.run("s1", "etcd-snapshot", "save")
    assert direct.returncode == 1 and "etcd datastore disabled" in direct.stderr


def test_restore_refuses_without_confirmation_a_missing_or_a_corrupted_snapshot_before_touching_a_host(site):
    """And --check changes nothing."""
    name = site.seed_snapshot("gauntlet-x", now=1_700_000_000)
    copy = site.local_dir / name
    copy.write_bytes(copy.read_bytes().replace(b"cluster created", b"cluster CREATED"))
    before = site.tree()
    for args, says in [
        (["-e", f"gauntlet_restore_snapshot={name}"], "-e gauntlet_restore_confirm=true"),
        (
            ["-e", "gauntlet_restore_confirm=true", "-e", "gauntlet_restore_snapshot=gauntlet-nope-s1-1"],
            f"The snapshot {site.local_dir}/gauntlet-nope-s1-1 does not exist on the controller",
        ),
        (
            ["-e", "gauntlet_restore_confirm=true", "-e", f"gauntlet_restore_snapshot={copy}"],
            f"The snapshot {copy} is corrupt",
        ),
    ]:
        result = site.play("etcd-restore.yml", *args)
        out = result.stdout + result.stderr
        assert result.returncode != 0, out
        assert says in out, out
        assert "No host was touched." in out
        assert calls(site) == []  # no stop, no reset, no start: no node was touched
        assert site.tree() == before

    # --check needs no confirmation: it checks the snapshot, shows the steps and changes nothing.
    good = site.seed_snapshot("gauntlet-y", now=1_700_000_100)
    before = site.tree()
    checked = site.play("etcd-restore.yml", "--check", "-e", f"gauntlet_restore_snapshot={good}")
    out = checked.stdout + checked.stderr
    assert checked.returncode == 0, out
    assert "check mode, nothing is changed" in out
    assert calls(site) == []
    assert site.tree() == before


def test_restore_resets_server_1_then_rejoins_the_others_and_restarts_the_agents(site):
    name = site.seed_snapshot("gauntlet-x", now=1_700_000_000)
    snapshot = (site.local_dir / name).read_bytes()
    restored = snapshot[:-32]
    site.cluster.etcd_db("s1").write_text("the cluster after the snapshot\n")  # what the restore undoes

    result = site.play(
        "etcd-restore.yml", "-e", "gauntlet_restore_confirm=true", "-e", f"gauntlet_restore_snapshot={name}"
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    log = calls(site)
    service = [(c[0], c[2], c[3]) for c in log if c[1] == "systemctl"]
    stops, rest = service[:3], service[3:]
    assert sorted(stops) == [("s1", "stop", "k3s"), ("s2", "stop", "k3s"), ("s3", "stop", "k3s")]
    reset = (
        "s1",
        "k3s",
        "server",
        "--cluster-reset",
        f"--cluster-reset-restore-path={site.cluster.data('s1')}/server/db/snapshots/{name}",
    )
    assert log.index(reset) > max(log.index(c) for c in log if c[1] == "systemctl" and c[2] == "stop")
    assert rest == [
        ("s1", "start", "k3s"),
        ("s2", "start", "k3s"),
        ("s3", "start", "k3s"),
        ("a1", "restart", "k3s-agent"),
    ]
    starts = [
        c for c in site.cluster.calls() if os.path.basename(c["argv"][0]) == "systemctl" and c["argv"][1] == "start"
    ]
    assert log.index(reset) < log.index(("s1", "systemctl", "start", "k3s"))
    # Server 1 started on the restored database (reset-flag present: k3s removes it on that start);
    # the others started with their server/db moved aside, so they joined the restored cluster.
    assert [(c["node"], c["seen"]["db"], c["seen"]["reset_flag"]) for c in starts] == [
        ("s1", True, True),
        ("s2", False, False),
        ("s3", False, False),
    ]
    assert site.cluster.etcd_db("s1").read_bytes() == restored
    for host in ("s2", "s3"):
        assert site.cluster.etcd_db(host).read_bytes() == restored
        (aside,) = (site.cluster.data(host) / "server").glob("db-before-restore-*")
        assert (aside / "etcd/member/snap/db").exists()
    assert list((site.cluster.data("s1") / "server/db").glob("etcd-old-*"))
    assert not (site.cluster.data("s1") / "server/db/reset-flag").exists()
    assert "every node is Ready" in out


UPGRADE = REPO / "playbooks/upgrade.yml"
SNAPSHOT_PLAY = "Take an etcd snapshot before touching any node"


def test_upgrade_takes_a_snapshot_after_the_guard_and_before_any_node_is_upgraded():
    names = [play.get("name") for play in yaml.safe_load(UPGRADE.read_text())]
    assert names[:3] == [
        "Validate",
        "Show every node's k3s version change and refuse a bad one, before touching any node",
        SNAPSHOT_PLAY,
    ]
    assert names[3] == "Upgrade the k3s servers, one at a time"


@pytest.mark.parametrize("skip", [False, True])
def test_the_upgrade_snapshot_play_saves_one_and_can_be_skipped(site, skip):
    (play,) = [p for p in yaml.safe_load(UPGRADE.read_text()) if p.get("name") == SNAPSHOT_PLAY]
    playbook = site.tmp / "upgrade-snapshot.yml"
    playbook.write_text(yaml.safe_dump([play], sort_keys=False))
    result = site.play(
        playbook,
        "-e",
        json.dumps({"gauntlet_versions": {"k3s": "v1.36.4+k3s1"}, "gauntlet_upgrade_snapshot": not skip}),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    if skip:
        assert calls(site) == [] and site.local_files() == {}
        return
    (name,) = [n for n in site.local_files() if not n.endswith(".sha256")]
    assert re.match(r"^gauntlet-before-v1\.36\.4-k3s1-\d{8}t\d{6}-s1-\d+$", name), name
    assert [c[:4] for c in calls(site)] == [("s1", "k3s", "etcd-snapshot", "save")]
