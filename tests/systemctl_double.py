"""systemctl TEST DOUBLE: not systemd. Stands in for `systemctl` in connection-local tests that run the
k3s role's service tasks (ansible.builtin.systemd_service) against the k3s test double.

Installed as `systemctl` first on PATH. SYSTEMCTL_TEST_DOUBLE_UNITS (JSON) maps a unit name to the
command it runs ({"k3s": ["<root>/usr/local/bin/k3s", "server"]}); SYSTEMCTL_TEST_DOUBLE_STATE is a
folder for its state and its call log (calls.jsonl). It answers what the systemd_service module asks:
`show UNIT` (LoadState, ActiveState, UnitFileState), `is-active`, `is-enabled`, `start` (runs the
command in the background and, like a Type=notify unit, returns once it sends READY=1 on
$NOTIFY_SOCKET), `stop` (SIGTERM, then waits for the end), `enable`, `disable`, `daemon-reload`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

STATE = os.environ["SYSTEMCTL_TEST_DOUBLE_STATE"]
UNITS = json.loads(os.environ.get("SYSTEMCTL_TEST_DOUBLE_UNITS", "{}"))


def _unit(name: str) -> str:
    return name.removesuffix(".service")


def _load(unit: str) -> dict:
    try:
        with open(os.path.join(STATE, f"{unit}.json"), encoding="utf-8") as handle:
            return json.load(handle)
    except OSError:
        return {"pid": None, "enabled": True}


def _save(unit: str, state: dict) -> None:
    with open(os.path.join(STATE, f"{unit}.json"), "w", encoding="utf-8") as handle:
        json.dump(state, handle)


def _alive(pid) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a child that ended but was never reaped is a zombie: not running
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def start(unit: str) -> int:
    state = _load(unit)
    if _alive(state["pid"]):
        return 0
    with tempfile.TemporaryDirectory() as folder:
        address = os.path.join(folder, "notify")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(address)
            sock.settimeout(1)
            log = open(os.path.join(STATE, f"{unit}.log"), "a", encoding="utf-8")  # noqa: SIM115 - the unit's journal
            process = subprocess.Popen(
                UNITS[unit],
                env={**os.environ, "NOTIFY_SOCKET": address},
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
            state["pid"] = process.pid
            _save(unit, state)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if b"READY=1" in sock.recv(4096):
                        return 0
                except TimeoutError:
                    pass
                if process.poll() is not None:
                    print(f"systemctl test double: {unit} exited with {process.returncode}", file=sys.stderr)
                    return 1
    print(f"systemctl test double: {unit} did not send READY=1 within 60 s", file=sys.stderr)
    return 1


def stop(unit: str) -> int:
    state = _load(unit)
    pid = state["pid"]
    if _alive(pid):
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    state["pid"] = None
    _save(unit, state)
    return 0


def main(argv: list[str]) -> int:
    os.makedirs(STATE, exist_ok=True)
    with open(os.path.join(STATE, "calls.jsonl"), "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"time": time.time(), "argv": argv}) + "\n")
    args = [a for a in argv if not a.startswith("-")]
    if not args or args[0] in ("daemon-reload", "daemon-reexec"):
        return 0
    verb, units = args[0], [_unit(a) for a in args[1:]]
    unit = units[0] if units else ""
    if unit and unit not in UNITS:
        if verb == "show":
            print(f"Id={unit}.service\nLoadState=not-found\nActiveState=inactive\nSubState=dead\nUnitFileState=")
            return 0
        print(f"Unit {unit}.service could not be found.", file=sys.stderr)
        return 4
    state = _load(unit) if unit else {}
    active = "active" if _alive(state.get("pid")) else "inactive"
    if verb == "show":
        enabled = "enabled" if state["enabled"] else "disabled"
        print(
            f"Id={unit}.service\nNames={unit}.service\nDescription={unit} (systemctl test double)\nLoadState=loaded\n"
            f"ActiveState={active}\nSubState={'running' if active == 'active' else 'dead'}\nUnitFileState={enabled}"
        )
        return 0
    if verb == "is-active":
        print(active)
        return 0 if active == "active" else 3
    if verb == "is-enabled":
        print("enabled" if state["enabled"] else "disabled")
        return 0 if state["enabled"] else 1
    if verb in ("enable", "disable"):
        state["enabled"] = verb == "enable"
        _save(unit, state)
        return 0
    if verb == "start":
        return start(unit)
    if verb == "stop":
        return stop(unit)
    if verb == "restart":
        stop(unit)
        return start(unit)
    print(f"systemctl test double: `systemctl {' '.join(argv)}` is not implemented", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
