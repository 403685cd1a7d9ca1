"""Rerun benchmark: what a converged rerun of the lab's stages costs against their first
converge (issue 16 item 6: users rerun stages with --tags all day).

Run on demand (not collected by pytest), as root (podman), from the checkout:

    .venv/bin/python tests/bench/bench_lab_rerun.py [--keep]

It takes the lab down, brings it up fresh (`scripts/lab up`: hosts, registry and preload on
podman hosts over SSH, the lab's own bundle) and reads the time of that first converge as
`scripts/lab up` prints it, then reruns the same stages as the printed rerun command does
(as the controller user) and times it. Printed: both times, the ratio rerun/first, each
run's recap `changed` total (the rerun must be 0), and the ten slowest tasks of the rerun
(ansible.posix.profile_tasks). Target: rerun <= 0.3x the first converge. `--keep` leaves the
lab up afterwards.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STAGES = "hosts,registry,preload"


def controller_user() -> str:
    """The unprivileged user Ansible runs as (scripts/lib.sh gauntlet_controller_user)."""
    result = subprocess.run(
        ["bash", "-c", ". scripts/lib.sh && gauntlet_controller_user"],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0 or not result.stdout.strip():
        sys.exit(f"cannot tell the controller user (scripts/lib.sh): {result.stderr.strip()}")
    return result.stdout.strip()


def changed_total(output: str) -> int:
    return sum(int(n) for n in re.findall(r"^\S+\s+: ok=\d+\s+changed=(\d+)", output, re.M))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--keep", action="store_true", help="leave the lab up afterwards")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (podman): sudo .venv/bin/python tests/bench/bench_lab_rerun.py")
    subprocess.run(["scripts/lab", "down"], cwd=REPO, check=True, capture_output=True)
    try:
        up = subprocess.run(["scripts/lab", "up"], cwd=REPO, capture_output=True, text=True, check=False, timeout=1800)
        if up.returncode != 0:
            sys.exit(f"scripts/lab up failed (rc {up.returncode}):\n{up.stdout[-3000:]}{up.stderr[-2000:]}")
        first = float(re.search(r"site\.yml took (\d+)s", up.stdout).group(1))
        env = dict(os.environ, ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks")
        command = ["runuser", "-u", controller_user(), "--", "env", f"ANSIBLE_CALLBACKS_ENABLED={env['ANSIBLE_CALLBACKS_ENABLED']}",
                   str(REPO / ".venv/bin/ansible-playbook"), "playbooks/site.yml", "-i", "inventory/lab", "--tags", STAGES]  # fmt: skip
        began = time.monotonic()
        rerun = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False, timeout=1800)
        seconds = time.monotonic() - began
        if rerun.returncode != 0:
            sys.exit(f"the rerun failed (rc {rerun.returncode}):\n{rerun.stdout[-3000:]}{rerun.stderr[-2000:]}")
        print(f"stages {STAGES} on the lab (scripts/lab: 1 server, 1 agent, 1 registry host)")
        print(f"first converge {first:.0f} s (changed {changed_total(up.stdout)}), "
              f"converged rerun {seconds:.0f} s (changed {changed_total(rerun.stdout)})")  # fmt: skip
        ratio = seconds / first
        print(f"rerun/first: {ratio:.2f}x; target <= 0.3x: {'met' if ratio <= 0.3 else 'NOT met'}")
        recap = rerun.stdout.split("TASKS RECAP", 1)[-1].splitlines()
        print("slowest tasks of the rerun:")
        for line in [line for line in recap if re.search(r"-+ \d+\.\d+s$", line)][:10]:
            print(f"  {line}")
    finally:
        if not args.keep:
            subprocess.run(["scripts/lab", "down"], cwd=REPO, check=False, capture_output=True)


if __name__ == "__main__":
    main()
