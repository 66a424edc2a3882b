"""What the emulator saw of each invocation, for ``GET /_emulator/fc/invocations``.

One record per request (status ``Running|Queued|Retrying|Succeeded|Failed|Rejected|Expired|Cancelled``,
and ``Stopping|Stopped`` for FC 3.0 async tasks) holding one entry per attempt, and one failure
document per async invocation that gave up (what FC would send to its ``OnFailure`` destination).
Both are bounded deques; reads are deep copies.
"""

from __future__ import annotations

import copy
import threading
from collections import deque
from typing import Any

from chaos.emulator.clock import Clock
from chaos.emulator.fc.registry import FunctionSpec

FINAL_STATUSES = frozenset({"Succeeded", "Failed", "Rejected", "Expired", "Cancelled", "Stopped"})


class InvocationRecords:
    def __init__(self, clock: Clock, max_records: int) -> None:
        self._clock = clock
        self.lock = threading.Lock()  # records are mutated in place, always under it
        self._records: deque[dict[str, Any]] = deque(maxlen=max_records)
        self._failures: deque[dict[str, Any]] = deque(maxlen=max_records)

    def new(self, fn: FunctionSpec, qualifier: str, request_id: str, kind: str, size: int) -> dict[str, Any]:
        record: dict[str, Any] = {
            "requestId": request_id,
            "service": fn.service,
            "function": fn.name,
            "qualifier": qualifier,
            "type": kind,
            "status": "Running" if kind == "Sync" else "Queued",
            "payloadSize": size,
            "receivedAt": self._clock.now(),
            "attempts": [],
        }
        with self.lock:
            self._records.append(record)
        return record

    def set_status(self, record: dict[str, Any], status: str) -> None:
        with self.lock:
            self.apply_status(record, status)

    def apply_status(self, record: dict[str, Any], status: str) -> None:
        """Called with ``self.lock`` held. An FC 3.0 task record also keeps its history and end time."""
        record["status"] = status
        events = record.get("events")
        if events is not None:
            now = self._clock.now()
            events.append({"status": status, "time": now})
            if status in FINAL_STATUSES and record.get("endedAt") is None:
                record["endedAt"] = now

    def add_failure(self, failure: dict[str, Any]) -> None:
        with self.lock:
            self._failures.append(failure)

    def invocations(self) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(list(self._records))

    def failures(self) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(list(self._failures))

    def clear(self) -> None:
        with self.lock:
            self._records.clear()
            self._failures.clear()
