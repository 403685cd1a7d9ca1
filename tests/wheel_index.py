"""Real wheels for the bundle's wheel tests, and a local PEP 503 index that serves them.

``python tests/wheel_index.py fetch`` (run by scripts/setup, the one step that uses PyPI)
downloads a wheel of every pin of apps/task-api/requirements.lock and requirements-dev.lock
for the build image's interpreter (the Dockerfile's ARG PYTHON_IMAGE: CPython 3.13,
manylinux x86_64) with the same ``pip download`` command the bundle module runs, into
``.cache/wheels/task-api-bundle/<key>`` (key: the locks and the target). Never committed.

:class:`WheelIndex` serves a folder of wheels as a PEP 503 "simple" index
(``/simple/<project>/`` pages whose links carry ``#sha256=``) over HTTPS with a CA made
for the test, on 127.0.0.1 only: a stand-in for PyPI and for the platform's own index.
"""

from __future__ import annotations

import functools
import hashlib
import html
import http.server
import os
import re
import shutil
import ssl
import subprocess
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import wheels as wheel_bundle  # noqa: E402

LOCKS = [REPO / "apps/task-api/requirements.lock", REPO / "apps/task-api/requirements-dev.lock"]
CACHE = REPO / ".cache" / "wheels" / "task-api-bundle"


def dockerfile_base() -> str:
    """The Dockerfile's pinned ARG PYTHON_IMAGE (the same line group_vars/all/offline.yml reads)."""
    text = (REPO / "apps/task-api/Dockerfile").read_text()
    return re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M).group(1)


def target() -> wheel_bundle.Target:
    return wheel_bundle.target_from_image(dockerfile_base())


def cache_dir() -> Path:
    digest = hashlib.sha256(target().key.encode())
    for lock in LOCKS:
        digest.update(lock.read_bytes())
    return CACHE / f"{digest.hexdigest()[:16]}-{target().key}"


def fetch() -> Path:
    """Download the wheels from PyPI into cache_dir() (skipped when complete)."""
    dest = cache_dir()
    if (dest / ".complete").is_file():
        print(f"bundle wheels cached ({dest})")
        return dest
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    pins = wheel_bundle.read_pins([str(lock) for lock in LOCKS])
    requirements = partial / "requirements.txt"
    requirements.write_text(wheel_bundle.requirements_text(pins))
    argv = wheel_bundle.pip_download_argv(sys.executable, str(requirements), target(), str(partial), "PYPI")
    # The machine's own pip configuration applies here (a CI mirror, its CA): not --isolated,
    # and the index pip is configured with (PyPI by default).
    at = argv.index("--index-url")
    argv = [a for a in argv[:at] + argv[at + 2 :] if a != "--isolated"]
    subprocess.run([*argv, "--quiet"], check=True)
    requirements.unlink()
    (partial / ".complete").touch()
    shutil.rmtree(dest, ignore_errors=True)
    partial.rename(dest)
    print(f"downloaded the bundle's wheels into {dest}")
    return dest


class WheelIndex:
    """A PEP 503 index of ``wheels`` (paths) served over HTTPS on 127.0.0.1.

    ``fragments`` overrides the ``#sha256=`` a page gives for a file name (a tampered page).
    """

    def __init__(self, root: Path, wheels: list[Path], ca: tuple[Path, Path, Path], fragments=None):
        self.root = root
        self.ca_file, cert, key = ca
        files = root / "files"
        files.mkdir(parents=True, exist_ok=True)
        projects: dict[str, list[str]] = {}
        for wheel in wheels:
            shutil.copyfile(wheel, files / wheel.name)
            if wheel.name.endswith(".whl"):
                name = wheel_bundle.parse_wheel_filename(wheel.name)[0]
            else:  # an sdist: <name>-<version>.tar.gz
                name = wheel_bundle.canonical_name(wheel.name.rsplit("-", 1)[0])
            projects.setdefault(name, []).append(wheel.name)
        simple = root / "simple"
        for name, names in projects.items():
            (simple / name).mkdir(parents=True, exist_ok=True)
            links = []
            for filename in sorted(names):
                sha = (fragments or {}).get(filename) or hashlib.sha256((files / filename).read_bytes()).hexdigest()
                links.append(
                    f'<a href="../../files/{html.escape(filename)}#sha256={sha}">{html.escape(filename)}</a><br>'
                )
            (simple / name / "index.html").write_text(
                "<!DOCTYPE html><html><body>\n" + "\n".join(links) + "\n</body></html>\n"
            )
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.requests: list[str] = []
        self.server.requests = self.requests

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server.server_address[1]}/simple"

    def file(self, filename: str) -> Path:
        return self.root / "files" / filename

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):
        self.server.requests.append(self.path)


def serve_forever(root: str, port_file: str, ca: str, cert: str, key: str, wheels: str) -> None:
    """Serve the wheels of folder ``wheels`` until killed; write the port into ``port_file``.

    For a server that must live inside a network namespace of its own (the offline image
    build test starts it under tests/loopback_netns.py)."""
    index = WheelIndex(Path(root), sorted(Path(wheels).glob("*.whl")), (Path(ca), Path(cert), Path(key)))
    Path(port_file + ".tmp").write_text(str(index.server.server_address[1]))
    os.replace(port_file + ".tmp", port_file)
    index.thread.join()


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"] and len(sys.argv) == 8:
        serve_forever(*sys.argv[2:])
    elif sys.argv[1:] == ["fetch"]:
        os.chdir(REPO)
        fetch()
    else:
        sys.exit(f"usage: {sys.argv[0]} fetch | serve ROOT PORT_FILE CA CERT KEY WHEELS")
