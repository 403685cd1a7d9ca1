"""Push benchmark: gauntlet.platform.image_preload vs skopeo copy vs crane vs a bare upload.

Run on demand (not collected by pytest; tests/services/test_bench_push.py runs it tiny):

    .venv/bin/python tests/bench/bench_push.py [--size-mb 1100] [--images 8] [--concurrency 6] [--workdir DIR]

It builds one oci-archive per image (>= 8 images sharing a base layer, >= 1 GB of
distinct blob data, incompressible, gzip-framed layers), starts a fresh Debian
docker-registry on loopback per tool and pushes the same archives cold, then
again warm (everything present). It prints wall times, ratios ours/peer, MB/s
of distinct blob data, and two references:

- the bare upload: every distinct blob sent once (POST, then one PUT streamed
  from the archive) into a fresh registry of the same kind, same concurrency,
  with no HEAD, mount, hashing or manifest: what that registry on this machine
  can ingest, the limit for any client;
- the read+hash floor (information only): reading and sha256-hashing the same
  bytes. With the registry on the same machine it writes every byte to disk and
  shares the CPUs, so a client cannot come within 2x of this floor.

crane is used when found on PATH or at $CRANE (build it from Debian's
golang-github-google-go-containerregistry-dev sources); otherwise the reason is printed.
Targets: cold <= 0.8x skopeo, warm <= 0.3x skopeo, cold <= 1.25x the bare upload.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import http.client
import io
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULE = REPO_ROOT / "plugins" / "modules" / "image_preload.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Registry:
    def __init__(self, workdir: Path):
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / "config.yml"
        config.write_text(
            f"version: 0.1\nlog: {{level: error, accesslog: {{disabled: true}}}}\n"
            f"storage: {{filesystem: {{rootdirectory: {workdir / 'storage'}}}}}\n"
            f"http: {{addr: {self.host}, secret: bench}}\n"
        )
        self.proc = subprocess.Popen(
            ["docker-registry", "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not start")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_layer(seed: str, size: int) -> tuple[bytes, str]:
    """(gzip blob, diff_id): a tar with ``size`` random bytes, gzip-framed without compression (fast to build)."""
    payload = random.Random(seed).randbytes(size)  # noqa: S311 - benchmark data
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(f"{seed}.bin")
        info.size = size
        info.mtime = 0
        tar.addfile(info, io.BytesIO(payload))
    raw = buf.getvalue()
    return gzip.compress(raw, compresslevel=0, mtime=0), sha(raw)


def build_archives(workdir: Path, n_images: int, size_mb: int) -> tuple[list[tuple[Path, str]], int]:
    """One oci-archive per image; returns [(archive, name)] and the distinct blob bytes."""
    base_size = (size_mb << 20) // 5
    own_size = ((size_mb << 20) - base_size) // n_images
    print(f"building {n_images} images: shared base {base_size >> 20} MiB + own {own_size >> 20} MiB each", flush=True)
    base = make_layer("base", base_size)
    small = make_layer("small-shared", 4 << 20)
    archives = []
    distinct = {}
    for i in range(n_images):
        own = make_layer(f"own-{i}", own_size)
        layers = [base, small, own]
        config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": [d for _unused, d in layers]},
            }
        ).encode()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": sha(config),
                    "size": len(config),
                },
                "layers": [
                    {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(b), "size": len(b)}
                    for b, _unused in layers
                ],
            }
        ).encode()
        name = f"quay.io/bench/image{i}:v1"
        index = json.dumps(
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": sha(manifest),
                        "size": len(manifest),
                        "annotations": {"org.opencontainers.image.ref.name": name},
                    }
                ],
            }
        ).encode()
        path = workdir / f"image{i}.tar"
        with tarfile.open(path, "w") as tar:

            def add(member: str, data: bytes, tar=tar) -> None:
                info = tarfile.TarInfo(member)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))

            add("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
            add("index.json", index)
            for blob in (config, manifest, *(b for b, _unused in layers)):
                add(f"blobs/sha256/{sha(blob)[7:]}", blob)
                distinct[sha(blob)] = len(blob)
        archives.append((path, name))
    return archives, sum(distinct.values())


def distinct_blobs(archives) -> dict:
    """member name -> (archive, offset, size) of every distinct blob, first archive that has it."""
    members = {}
    for path, _unused in archives:
        with tarfile.open(path) as tar:
            for info in tar:
                if info.name.startswith("blobs/sha256/") and info.name not in members:
                    members[info.name] = (path, info.offset_data, info.size)
    return members


class _Slice:
    """``size`` bytes of a file from ``offset`` (a blob inside an archive), read in 1 MiB pieces."""

    def __init__(self, path: Path, offset: int, size: int):
        self._file = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by the caller
        self._file.seek(offset)
        self._left = size

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        n = self._left if n is None or n < 0 else min(n, self._left)
        data = self._file.read(n)
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._file.close()


def run_bare(archives, registry: Registry, concurrency: int) -> float:
    """Every distinct blob POSTed and PUT once (monolithic), same concurrency: the registry's ingest rate."""
    members = distinct_blobs(archives)
    local = threading.local()

    def upload(item) -> None:
        name, (path, offset, size) = item
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(registry.host, timeout=600, blocksize=1 << 20)
        conn.request("POST", "/v2/bench/bare/blobs/uploads/", headers={"Content-Length": "0"})
        resp = conn.getresponse()
        resp.read()
        location = resp.getheader("Location")
        if resp.status != 202 or not location:
            raise RuntimeError(f"bare upload: POST answered {resp.status}")
        location = location.split(registry.host, 1)[-1]
        sep = "&" if "?" in location else "?"
        body = _Slice(path, offset, size)
        try:
            conn.request(
                "PUT",
                f"{location}{sep}digest=sha256:{name.rsplit('/', 1)[-1]}",
                body=body,
                headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
            )
            resp = conn.getresponse()
            resp.read()
        finally:
            body.close()
        if resp.status != 201:
            raise RuntimeError(f"bare upload: PUT answered {resp.status}")

    start = time.monotonic()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(upload, sorted(members.items(), key=lambda kv: -kv[1][2])))
    return time.monotonic() - start


def floor_seconds(archives, concurrency: int) -> float:
    """Read and sha256 every distinct blob once from the archives, same concurrency."""
    members = distinct_blobs(archives)

    def digest(item):
        path, offset, size = item
        h = hashlib.sha256()
        with open(path, "rb", buffering=0) as f:
            f.seek(offset)
            left = size
            while left:
                chunk = f.read(min(1 << 20, left))
                h.update(chunk)
                left -= len(chunk)
        return h.hexdigest()

    start = time.monotonic()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(digest, members.values()))
    return time.monotonic() - start


def run_ours(archives, registry: Registry, concurrency: int) -> float:
    args = {
        "ANSIBLE_MODULE_ARGS": {
            "src": [str(p) for p, _unused in archives],
            "registry": registry.host,
            "plain_http": True,
            "concurrency": concurrency,
        }
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(args, handle)
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT / "collections"))
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(MODULE), handle.name], capture_output=True, text=True, env=env, check=False
    )
    elapsed = time.monotonic() - start
    os.unlink(handle.name)
    result = json.loads(proc.stdout)
    if result.get("failed"):
        raise RuntimeError(f"image_preload failed: {result['msg']}")
    return elapsed


def run_skopeo(archives, registry: Registry) -> float:
    start = time.monotonic()
    for path, name in archives:
        subprocess.run(
            [
                "skopeo",
                "copy",
                "--quiet",
                "--preserve-digests",
                "--dest-tls-verify=false",
                f"oci-archive:{path}:{name}",
                f"docker://{registry.host}/{name}",
            ],
            check=True,
        )
    return time.monotonic() - start


def run_crane(crane: str, archives, registry: Registry, workdir: Path) -> float:
    start = time.monotonic()
    for path, name in archives:
        subprocess.run(
            [crane, "push", "--insecure", str(path), f"{registry.host}/{name}"], check=True, capture_output=True
        )
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--size-mb", type=int, default=1100, help="distinct blob data in MiB")
    parser.add_argument(
        "--concurrency", type=int, default=6, help="blob transfers in flight (skopeo's built-in default is 6)"
    )
    parser.add_argument("--workdir", type=Path)
    opts = parser.parse_args()
    for tool in ("docker-registry", "skopeo"):
        if not shutil.which(tool):
            sys.exit(
                f"{tool} is not installed (apt-get install {'docker-registry' if tool == 'docker-registry' else 'skopeo'})"
            )
    crane = os.environ.get("CRANE") or shutil.which("crane")
    workdir = opts.workdir or Path(tempfile.mkdtemp(prefix="gauntlet-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    archives, distinct = build_archives(workdir, opts.images, opts.size_mb)
    mb = distinct / 1e6
    print(
        f"{len(archives)} archives, {sum(p.stat().st_size for p, _unused in archives) / 1e6:.0f} MB on disk, {mb:.0f} MB of distinct blobs",
        flush=True,
    )
    os.sync()  # flush the freshly written archives so writeback does not slow the first tool
    floor = floor_seconds(archives, opts.concurrency)
    times = {}
    tools = [
        ("ours", lambda reg: run_ours(archives, reg, opts.concurrency)),
        ("skopeo", lambda reg: run_skopeo(archives, reg)),
    ]
    if crane:
        tools.append(("crane", lambda reg: run_crane(crane, archives, reg, workdir)))
    else:
        print(
            "crane: not found on PATH or $CRANE; Debian bookworm has no golang-github-google-go-containerregistry-dev package "
            "(it exists from trixie on), so it cannot be built from Debian sources here; comparing with skopeo only",
            flush=True,
        )

    def run_bare_once(when: str) -> float:
        reg = Registry(workdir / f"registry-bare-{when}")
        try:
            os.sync()
            return run_bare(archives, reg, opts.concurrency)
        finally:
            reg.stop()

    # The bare upload runs first and last, so neither order nor a busy moment favours the tools.
    bare_first = run_bare_once("first")
    for label, run in tools:
        reg = Registry(workdir / f"registry-{label}")
        try:
            os.sync()
            cold = run(reg)
            os.sync()
            warm = run(reg)
        finally:
            reg.stop()
        times[label] = (cold, warm)
        print(f"{label:7s} cold {cold:7.2f} s ({mb / cold:7.1f} MB/s)   warm {warm:6.2f} s", flush=True)
    bare = min(bare_first, run_bare_once("last"))
    print(
        f"bare    cold {bare:7.2f} s ({mb / bare:7.1f} MB/s)   (each distinct blob POST+PUT once, nothing else; "
        "the faster of a run before and after the tools)"
    )
    print(f"floor   read+sha256 {floor:7.2f} s ({mb / floor:7.1f} MB/s), concurrency {opts.concurrency} (information)")
    ours_cold, ours_warm = times["ours"]
    for label, (cold, warm) in times.items():
        if label != "ours":
            print(
                f"ratio ours/{label}: cold {ours_cold / cold:.2f}x (target <= 0.8)   warm {ours_warm / warm:.2f}x (target <= 0.3)"
            )
    print(f"ratio ours/bare: cold {ours_cold / bare:.2f}x (target <= 1.25)")
    print(f"ratio ours/floor: cold {ours_cold / floor:.2f}x (no target: the registry on this machine is the limit)")
    if not opts.workdir:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
