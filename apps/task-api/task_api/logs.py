"""Structured JSON logs on stdout, one object per line.

Log collectors in the cluster parse each line as JSON, so everything (our own
records, uvicorn's and asyncpg's) goes through one formatter. Lines below WARNING are
flushed in batches, at most ``TASK_API_LOG_FLUSH_INTERVAL`` seconds late (see
:class:`BatchingStreamHandler`). Extra fields are
passed with ``logger.info("...", extra={"fields": {...}})``.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import threading
import time
from datetime import UTC, datetime

# The request id of the request being served, so every record it causes is correlated.
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


# What json.dumps(entry, default=str, separators=(",", ":")) uses, built once: json.dumps
# builds a new encoder on every call that passes any option.
_ENCODER = json.JSONEncoder(default=str, separators=(",", ":"))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            entry["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return _ENCODER.encode(entry)


class BatchingStreamHandler(logging.StreamHandler):
    """A StreamHandler that writes every line at once but does not flush after each one.

    Measured with bench/run_bench.py: the flush (one ``write`` system call) after every
    access line cost about as much server CPU as the rest of the line. Here a record at
    ``flush_level`` (WARNING) or above is flushed at once, with every line before it, in
    order; lower ones reach the stream when the stream's buffer fills or at most
    ``flush_interval`` seconds later (a daemon thread), and at exit (``logging.shutdown``
    flushes every handler). ``flush_interval`` 0 flushes every line, as StreamHandler does.
    """

    def __init__(self, stream, *, flush_interval: float, flush_level: int = logging.WARNING) -> None:
        super().__init__(stream)
        self.flush_interval = flush_interval
        self.flush_level = flush_level
        self._pending = threading.Event()
        self._flusher: threading.Thread | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + self.terminator)
            if record.levelno >= self.flush_level or self.flush_interval <= 0:
                self.flush()
            elif not self._pending.is_set():
                self._pending.set()
                if self._flusher is None:
                    self._flusher = threading.Thread(target=self._flush_later, name="log-flush", daemon=True)
                    self._flusher.start()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def _flush_later(self) -> None:
        while True:
            self._pending.wait()
            time.sleep(self.flush_interval)
            self._pending.clear()  # a line written from here on schedules the next flush
            self.flush()  # under the handler's lock, like emit


def configure_logging(level: str = "INFO", *, flush_interval: float = 0.0) -> None:
    handler = BatchingStreamHandler(sys.stdout, flush_interval=flush_interval)
    handler.setFormatter(JsonFormatter())
    # No thread, process or multiprocessing names in the records: the JSON lines do not carry
    # them, and LogRecord would look them up (a getpid system call) for every access line.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn installs its own handlers unless told otherwise; route them to ours.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
