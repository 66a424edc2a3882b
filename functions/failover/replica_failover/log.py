"""Structured logs: one JSON object per line on stdout (FC ships stdout to the service's Logstore).

Plain ``print`` of JSON rather than ``logging``: FC's Python runtime installs a root handler that
prefixes every record with time and request id, which would break the one-object-per-line rule.
Every line is redacted (:mod:`replica_failover.redact`): keys that look like secrets are masked
whatever their value, and credential values and signed-request fragments wherever they sit.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import IO, Any

from replica_failover.redact import dumps

LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}
_lock = threading.Lock()


class JsonLogger:
    def __init__(self, level: str = "INFO", stream: IO[str] | None = None, **context: Any) -> None:
        self.threshold = LEVELS.get(level.upper(), 20)
        self.stream = stream
        self.context = context

    def log(self, level: str, event: str, **fields: Any) -> None:
        if LEVELS.get(level, 20) < self.threshold:
            return
        record = {"ts": round(time.time(), 3), "level": level, "event": event, **self.context, **fields}
        # the record is copied only when a key names a secret (copying a 10,000-target result to find
        # none would be the invocation's peak memory); values and patterns are masked on the line itself
        line = dumps(record, default=str, separators=(",", ":"), ensure_ascii=True)
        with _lock:  # whole lines, even from worker threads
            stream = self.stream or sys.stdout
            stream.write(line)
            stream.write("\n")
            stream.flush()

    def debug(self, event: str, **fields: Any) -> None:
        self.log("DEBUG", event, **fields)

    def info(self, event: str, **fields: Any) -> None:
        self.log("INFO", event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self.log("WARNING", event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        self.log("ERROR", event, **fields)
