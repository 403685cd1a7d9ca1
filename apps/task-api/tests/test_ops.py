"""Health, readiness, metrics, migrations, configuration, logs and graceful shutdown."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi.testclient import TestClient
from task_api.app import create_app
from task_api.config import ConfigError, Settings
from task_api.logs import JsonFormatter, request_id_var
from task_api.migrations import load_migrations, migrate

APP_DIR = Path(__file__).resolve().parent.parent


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_the_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "jwks_loaded": True}


def test_readyz_is_503_without_the_database(make_settings):
    # min pool 0 and no migration: the app starts, but the database does not exist.
    settings = make_settings(
        database_url="postgresql://nobody@127.0.0.1:9/none", db_pool_min=0, migrate_on_startup=False
    )
    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json() == {"status": "database unavailable"}
        assert client.get("/healthz").status_code == 200


def test_database_outage_is_503_not_500(make_settings, tokens, user):
    settings = make_settings(
        database_url="postgresql://nobody@127.0.0.1:9/none", db_pool_min=0, migrate_on_startup=False
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        response = client.get("/tasks", headers=tokens.headers(user))
        assert response.status_code == 503
        assert response.json() == {"detail": "database unavailable"}


def test_request_id_is_echoed_or_generated(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    generated = client.get("/healthz", headers={"X-Request-ID": "bad id; rm -rf"}).headers["x-request-id"]
    assert len(generated) == 32


def test_metrics_count_requests_and_latency_by_route_and_status(client, tokens, user):
    headers = tokens.headers(user)
    task = client.post("/tasks", json={"title": "metrics"}, headers=headers).json()
    client.get(f"/tasks/{task['id']}", headers=headers)
    client.get("/no/such/path")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'task_api_http_requests_total{method="POST",route="/tasks",status="201"}' in text
    assert 'task_api_http_requests_total{method="GET",route="/tasks/{task_id}",status="200"}' in text
    assert 'route="unmatched",status="404"' in text
    assert task["id"] not in text  # raw paths never become labels
    assert 'task_api_http_request_duration_seconds_bucket{le="0.005",method="POST",route="/tasks",status="201"}' in text
    for gauge in ("task_api_db_pool_size", "task_api_db_pool_idle", "task_api_db_pool_in_use", "task_api_db_pool_max"):
        assert f"\n{gauge} " in text
    assert "\ntask_api_db_pool_max 5.0" in text


def test_migrations_are_ordered_and_idempotent(database_url):
    migrations = load_migrations()
    assert migrations, "no migrations found in task_api/schema/"
    assert [m.version for m in migrations] == sorted(m.version for m in migrations)

    async def run() -> list[int]:
        conn = await asyncpg.connect(database_url)
        try:
            again = await migrate(conn)
            versions = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")]
            assert versions == [m.version for m in migrations]
            return again
        finally:
            await conn.close()

    assert asyncio.run(run()) == []  # the app already applied everything


def test_settings_from_env_defaults_and_derived_jwks_url():
    settings = Settings.from_env(
        {
            "TASK_API_DATABASE_URL": "postgresql://task-api@db/tasks",
            "TASK_API_OIDC_ISSUER": "https://keycloak.local/realms/gauntlet/",
            "TASK_API_ACCESS_LOG": "false",
            "TASK_API_LOG_LEVEL": "debug",
        }
    )
    assert settings.jwks_url == "https://keycloak.local/realms/gauntlet/protocol/openid-connect/certs"
    assert settings.oidc_audience == "task-api"
    assert settings.oidc_authorized_parties == ("task-api", "task-api-cli")
    assert settings.access_log is False
    assert settings.log_level == "DEBUG"
    assert settings.log_flush_interval == 0.25


def test_settings_read_the_log_flush_interval():
    base = {"TASK_API_DATABASE_URL": "postgresql://task-api@db/tasks", "TASK_API_OIDC_ISSUER": "https://kc/realms/r"}
    assert Settings.from_env({**base, "TASK_API_LOG_FLUSH_INTERVAL": "0"}).log_flush_interval == 0
    with pytest.raises(ConfigError, match="LOG_FLUSH_INTERVAL='-1' must be at least 0"):
        Settings.from_env({**base, "TASK_API_LOG_FLUSH_INTERVAL": "-1"})


def test_settings_read_the_authorized_parties_as_a_list():
    base = {"TASK_API_DATABASE_URL": "postgresql://task-api@db/tasks", "TASK_API_OIDC_ISSUER": "https://k/realms/g"}
    settings = Settings.from_env({**base, "TASK_API_OIDC_AUTHORIZED_PARTIES": " task-api-cli , ops-bot "})
    assert settings.oidc_authorized_parties == ("task-api-cli", "ops-bot")
    with pytest.raises(ConfigError, match="TASK_API_OIDC_AUTHORIZED_PARTIES=' , ' names no client"):
        Settings.from_env({**base, "TASK_API_OIDC_AUTHORIZED_PARTIES": " , "})


def test_settings_report_every_problem_at_once():
    with pytest.raises(ConfigError) as excinfo:
        Settings.from_env(
            {
                "TASK_API_OIDC_ISSUER": "keycloak.local",
                "TASK_API_PORT": "http",
                "TASK_API_DB_POOL_MIN": "20",
                "TASK_API_ACCESS_LOG": "maybe",
            }
        )
    message = str(excinfo.value)
    for fragment in (
        "TASK_API_DATABASE_URL is required",
        "TASK_API_OIDC_ISSUER must be an http(s) URL",
        "TASK_API_PORT='http' is not a valid int",
        "TASK_API_DB_POOL_MIN (20) must not exceed TASK_API_DB_POOL_MAX (10)",
        "TASK_API_ACCESS_LOG='maybe' is not a valid bool",
    ):
        assert fragment in message


def test_log_records_are_json_with_request_id_and_fields():
    record = logging.LogRecord("task_api", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    record.fields = {"status": 201}
    token = request_id_var.set("rid-1")
    try:
        entry = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert entry["msg"] == "hello world"
    assert entry["level"] == "info"
    assert entry["request_id"] == "rid-1"
    assert entry["status"] == 201


def test_access_log_is_one_json_line_per_request(client, tokens, user):
    """The access line's content, as the log collectors parse it; probes are quiet at INFO."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(JsonFormatter())
    access = logging.getLogger("task_api.access")
    previous = access.level
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        assert client.get("/healthz").status_code == 200
        response = client.get("/tasks?limit=5", headers={**tokens.headers(user), "X-Request-ID": "rid-access"})
        assert response.status_code == 200
        assert client.get("/tasks/not-a-uuid", headers=tokens.headers(user)).status_code == 422
    finally:
        access.removeHandler(handler)
        access.setLevel(previous)
    entries = [json.loads(line) for line in lines]
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("GET", "/tasks", 200),
        ("GET", "/tasks/not-a-uuid", 422),
    ]
    first = entries[0]
    assert set(first) == {"ts", "level", "logger", "msg", "request_id", "method", "path", "status", "duration_ms"}
    assert (first["level"], first["logger"], first["msg"], first["request_id"]) == (
        "info",
        "task_api.access",
        "request",
        "rid-access",
    )
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] >= 0
    assert first["ts"].endswith("+00:00") and len(first["ts"]) == len("2026-01-01T00:00:00.000+00:00")


class RecordingStream:
    """A stream double: what was written, and what had been written at each flush."""

    def __init__(self) -> None:
        self.written = ""
        self.flushed: list[str] = []

    def write(self, text: str) -> int:
        self.written += text
        return len(text)

    def flush(self) -> None:
        self.flushed.append(self.written)


def _record(level: int, msg: str) -> logging.LogRecord:
    return logging.LogRecord("task_api.test", level, __file__, 1, msg, (), None)


def test_log_lines_below_warning_are_flushed_in_batches_and_warnings_at_once():
    from task_api.logs import BatchingStreamHandler

    stream = RecordingStream()
    handler = BatchingStreamHandler(stream, flush_interval=0.2)
    handler.setFormatter(JsonFormatter())
    handler.handle(_record(logging.INFO, "first"))
    handler.handle(_record(logging.INFO, "second"))
    assert [json.loads(line)["msg"] for line in stream.written.splitlines()] == ["first", "second"]
    assert stream.flushed == []  # written, not yet flushed
    handler.handle(_record(logging.WARNING, "third"))
    assert [json.loads(line)["msg"] for line in stream.flushed[-1].splitlines()] == ["first", "second", "third"]
    flushes = len(stream.flushed)
    handler.handle(_record(logging.INFO, "fourth"))
    deadline = time.monotonic() + 5
    while len(stream.flushed) == flushes:  # no further record needed: the interval flushes it
        assert time.monotonic() < deadline, "an INFO line was never flushed"
        time.sleep(0.02)
    assert stream.flushed[-1].splitlines()[-1] == stream.written.splitlines()[-1]
    assert json.loads(stream.flushed[-1].splitlines()[-1])["msg"] == "fourth"


def test_log_flush_interval_zero_flushes_every_line():
    from task_api.logs import BatchingStreamHandler

    stream = RecordingStream()
    handler = BatchingStreamHandler(stream, flush_interval=0)
    handler.setFormatter(JsonFormatter())
    for msg in ("a", "b"):
        handler.handle(_record(logging.DEBUG, msg))
    assert [len(flushed.splitlines()) for flushed in stream.flushed] == [1, 2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_server_starts_logs_json_and_shuts_down_gracefully(database_url, jwks_server, tokens):
    """The real entry point: uvicorn + uvloop, SIGTERM drains and closes the pool, exit 0."""
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(APP_DIR),
        "TASK_API_DATABASE_URL": database_url,
        "TASK_API_OIDC_ISSUER": jwks_server.issuer,
        "TASK_API_JWKS_URL": jwks_server.url,
        "TASK_API_HOST": "127.0.0.1",
        "TASK_API_PORT": str(port),
        "TASK_API_SHUTDOWN_TIMEOUT": "5",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "task_api"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.1)
        response = httpx.get(f"http://127.0.0.1:{port}/tasks", timeout=2)
        assert response.status_code == 401
        assert "server" not in response.headers
        # Through uvicorn and httptools too: a declared oversized body is a JSON 413,
        # unread, after authentication (anonymous: 401), and the server keeps serving.
        big = b'{"title": "x", "description": "' + b"y" * 70_000 + b'"}'
        json_type = {"Content-Type": "application/json"}
        response = httpx.post(f"http://127.0.0.1:{port}/tasks", content=big, headers=json_type, timeout=5)
        assert response.status_code == 401
        authed = {**json_type, **tokens.headers("server-test")}
        response = httpx.post(f"http://127.0.0.1:{port}/tasks", content=big, headers=authed, timeout=5)
        assert response.status_code == 413
        assert response.json() == {"detail": "request body exceeds 65536 bytes"}
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
        proc.send_signal(signal.SIGTERM)
        output, _unused = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    # uvicorn re-raises the SIGTERM it handled once shutdown is complete, so the
    # process ends "killed by SIGTERM" (exit 143 in a container) after draining.
    assert proc.returncode in (0, -signal.SIGTERM), output
    entries = [json.loads(line) for line in output.splitlines() if line.strip()]
    messages = [e["msg"] for e in entries]
    assert "task api started" in messages
    started = entries[messages.index("task api started")]
    assert (started["issuer"], started["audience"]) == (jwks_server.issuer, "task-api")
    assert "postgresql://" not in output, "the database URL (and its password) must never be logged"
    assert "task api stopped" in messages
    assert messages.index("task api stopped") < messages.index(f"Finished server process [{proc.pid}]")
    assert any(e.get("path") == "/tasks" and e.get("status") == 401 for e in entries)


def test_entry_point_refuses_incomplete_configuration():
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASK_API_")}
    env["PYTHONPATH"] = str(APP_DIR)
    result = subprocess.run(
        [sys.executable, "-m", "task_api"], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 2
    entry = json.loads(result.stdout.strip().splitlines()[-1])
    assert entry["level"] == "error"
    assert "TASK_API_DATABASE_URL is required" in entry["msg"]


def test_settings_refuse_an_unreadable_jwks_ca_file(tmp_path):
    """A wrong TASK_API_JWKS_CA_FILE is a configuration error at start, not a traceback from ssl."""
    base = {"TASK_API_DATABASE_URL": "postgresql://task-api@db/tasks", "TASK_API_OIDC_ISSUER": "https://kc/realms/r"}
    missing = tmp_path / "missing.crt"
    not_pem = tmp_path / "not-pem.crt"
    not_pem.write_text("hello\n")
    for path, fragment in ((missing, "cannot be read"), (not_pem, "holds no PEM certificate")):
        with pytest.raises(ConfigError) as excinfo:
            Settings.from_env({**base, "TASK_API_JWKS_CA_FILE": str(path)})
        assert f"TASK_API_JWKS_CA_FILE={str(path)!r} {fragment}" in str(excinfo.value)
