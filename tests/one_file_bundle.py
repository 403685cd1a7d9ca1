"""A bundle of one file for the tests of playbooks/bundle.yml's own steps (signing, splitting):
the file served over HTTP on loopback, and the variables that make bundle.yml fetch only it
(no images, no builds, no wheels: nothing from outside)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import json
import threading
from pathlib import Path

NAME = "k3s/v1.36.4+k3s1/k3s"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def one_file_bundle(tmp_path: Path, data: bytes):
    """Yields bundle.yml's variables for a bundle in tmp_path/bundle holding ``data`` as NAME,
    served while the context lasts."""
    root = tmp_path / "upstream-files"
    root.mkdir()
    (root / "k3s").write_bytes(data)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield {
            "gauntlet_bundle_dir": str(tmp_path / "bundle"),
            "gauntlet_bundle_files": [
                {
                    "name": NAME,
                    "url": f"http://127.0.0.1:{server.server_address[1]}/k3s",
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
            ],
            "gauntlet_bundle_extra_images": [],
            "gauntlet_bundle_image_lists": [],
            "gauntlet_bundle_builds": [],
            # The bundle's wheels are tested against a local index (test_bundle_wheels.py); none
            # here, and nothing may be fetched from outside.
            "gauntlet_bundle_wheel_requirements": [],
        }
    finally:
        server.shutdown()
        server.server_close()


def varfile(tmp_path: Path, name: str, variables: dict) -> str:
    """The variables as an -e @file argument."""
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(variables))
    return f"@{path}"
