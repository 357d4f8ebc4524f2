"""The worker's log lines in Python's ``logging``, logger ``tasker``.

The native worker queues its lines (start and the queues it serves or skips and why, each step failure with its
task, step, attempt, error and what follows, releases at shutdown, stop); one daemon thread per process hands them
to ``logging.getLogger("tasker")`` with their fields in ``record.tasker``. Configure that logger like any other.
When the application configured no logging at all, the lines go to stderr: plain text, or one JSON object per line
with ``TASKER_LOG_FORMAT=json`` (or ``tasker.JsonFormatter`` on your own handler).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from typing import Any, Dict, Optional

LOGGER = logging.getLogger("tasker")

_LEVELS = {"ERROR": logging.ERROR, "WARN": logging.WARNING, "INFO": logging.INFO, "DEBUG": logging.DEBUG,
           "TRACE": logging.DEBUG}
_lock = threading.Lock()
_thread: Optional[threading.Thread] = None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``message`` and the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: Dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": getattr(record, "tasker_message", None) or record.getMessage(),
        }
        line.update(getattr(record, "tasker", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def _plain(message: str, fields: Dict[str, Any]) -> str:
    return " ".join([message, *(f"{k}={v}" for k, v in fields.items())])


def _default_handler() -> None:
    """Lines appear on stderr when nobody configured logging (neither the ``tasker`` logger nor the root one)."""
    if LOGGER.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("TASKER_LOG_FORMAT") == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    LOGGER.addHandler(handler)
    if LOGGER.level == logging.NOTSET:
        LOGGER.setLevel(logging.INFO)


def emit(line: str) -> None:
    """Log one native line (JSON) on the ``tasker`` logger."""
    record = json.loads(line)
    fields: Dict[str, Any] = record.get("fields") or {}
    level = _LEVELS.get(record.get("level", "INFO"), logging.INFO)
    if LOGGER.isEnabledFor(level):
        message = record.get("message", "")
        LOGGER.log(level, _plain(message, fields), extra={"tasker": fields, "tasker_message": message})


def drain(timeout_ms: int = 0) -> None:
    """Log every queued line now (waiting at most ``timeout_ms`` for the first)."""
    from tasker._native import next_log

    line = next_log(timeout_ms)
    while line is not None:
        emit(line)
        line = next_log(0)


def start_forwarding() -> None:
    """Install the native log queue and its forwarding thread (once per process)."""
    global _thread
    from tasker._native import install_logging, next_log

    with _lock:
        if _thread is not None:
            return
        install_logging()
        _default_handler()

        def forward() -> None:
            while True:
                line = next_log(500)
                if line is not None:
                    emit(line)

        _thread = threading.Thread(target=forward, name="tasker-logs", daemon=True)
        _thread.start()
