"""Log capture for ``x-fc-log-type: Tail``: what a handler thread prints or logs goes to its invocation.

Formats like FC's runtime (``<ISO time> <requestId> [LEVEL] message``). Output from threads the
handler starts is not captured. Only the last ``LOG_TAIL_BYTES`` are ever answered.
"""

from __future__ import annotations

import logging
import sys
import threading
from datetime import datetime, timezone
from typing import Any, TextIO, cast

LOG_TAIL_BYTES = 4096  # X-Fc-Log-Result carries the last 4 KB of the log


class LogBuffer:
    _KEEP = 4 * LOG_TAIL_BYTES

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self._lock = threading.Lock()
        self._data = bytearray()

    def write(self, text: str) -> None:
        with self._lock:
            self._data += text.encode("utf-8", "replace")
            if len(self._data) > 2 * self._KEEP:  # bounded: only the tail is ever returned
                del self._data[: -self._KEEP]

    def tail(self) -> bytes:
        with self._lock:
            return bytes(self._data[-LOG_TAIL_BYTES:])


class _Capture:
    """Routes what a handler thread prints or logs into that invocation's buffer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffers: dict[int, LogBuffer] = {}
        self._handler: logging.Handler | None = None

    def start(self, request_id: str) -> LogBuffer:
        buf = LogBuffer(request_id)
        with self._lock:
            self._buffers[threading.get_ident()] = buf
            if self._handler is None:
                self._handler = _CaptureHandler(self)
                logging.getLogger().addHandler(self._handler)
            # re-checked per invocation: test runners swap sys.stdout between phases
            if not isinstance(sys.stdout, _StdoutTee):
                sys.stdout = cast(TextIO, _StdoutTee(sys.stdout, self))
        return buf

    def stop(self) -> None:
        with self._lock:
            self._buffers.pop(threading.get_ident(), None)

    def current(self) -> LogBuffer | None:
        return self._buffers.get(threading.get_ident())


class _StdoutTee:
    """sys.stdout stand-in: a handler thread's output also goes to its invocation log."""

    def __init__(self, wrapped: TextIO, capture: _Capture) -> None:
        self._wrapped = wrapped
        self._capture = capture

    def write(self, text: str) -> int:
        buf = self._capture.current()
        if buf is not None:
            buf.write(text)
        return self._wrapped.write(text)

    def flush(self) -> None:
        self._wrapped.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapped, name)


class _CaptureHandler(logging.Handler):
    """Formats like FC's runtime: ``<ISO time> <requestId> [LEVEL] message``."""

    def __init__(self, capture: _Capture) -> None:
        super().__init__(logging.NOTSET)
        self._capture = capture
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        buf = self._capture.current()
        if buf is None:
            return
        try:
            stamp = datetime.fromtimestamp(record.created, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
            buf.write(f"{stamp}.{int(record.msecs):03d}Z {buf.request_id} [{record.levelname}] {self.format(record)}\n")
        except Exception:
            self.handleError(record)



CAPTURE = _Capture()
