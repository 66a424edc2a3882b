"""Structured logs: one JSON object per line on stdout (FC ships stdout to the service's Logstore).

Plain ``print`` of JSON rather than ``logging``: FC's Python runtime installs a root handler that
prefixes every record with time and request id, which would break the one-object-per-line rule.
Keys that look like secrets are redacted whatever their value.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import IO, Any

LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}
_SECRET_HINTS = ("secret", "password", "securitytoken", "security_token", "signature", "authorization")
_lock = threading.Lock()


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("***" if _is_secret(str(k)) else _redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    return value


def _has_secret(value: Any) -> bool:
    """Whether :func:`_redact` would change anything: checked first, because copying a 10,000-target
    result just to find no secret in it was the invocation's peak memory."""
    if isinstance(value, dict):
        return any(_is_secret(str(k)) or _has_secret(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_secret(v) for v in value)
    return False


def _is_secret(key: str) -> bool:
    k = key.lower().replace("-", "_")
    return any(h in k for h in _SECRET_HINTS) or k in ("webhook_secret", "x_fc_access_key_secret")


class JsonLogger:
    def __init__(self, level: str = "INFO", stream: IO[str] | None = None, **context: Any) -> None:
        self.threshold = LEVELS.get(level.upper(), 20)
        self.stream = stream
        self.context = context

    def bind(self, **context: Any) -> JsonLogger:
        child = JsonLogger(stream=self.stream, **{**self.context, **context})
        child.threshold = self.threshold
        return child

    def log(self, level: str, event: str, **fields: Any) -> None:
        if LEVELS.get(level, 20) < self.threshold:
            return
        record = {"ts": round(time.time(), 3), "level": level, "event": event, **self.context, **fields}
        safe = _redact(record) if _has_secret(record) else record
        line = json.dumps(safe, default=str, separators=(",", ":"), ensure_ascii=True)
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
