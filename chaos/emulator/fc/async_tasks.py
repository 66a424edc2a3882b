"""FC 3.0 async tasks: the async invocations made through ``/2023-03-30``, by function and task id.

A task *is* its invocation record (records.py): the same queue, retries, give-ups and records as
an FC 2.0 async call. This index adds the task id (``x-fc-async-task-id``, else the request id),
refuses a second task with the same id for the same function, and renders a record as FC 3.0's
``AsyncTask``. Bounded like the records: the oldest tasks are forgotten first.
"""

from __future__ import annotations

import copy
import re
import threading
from collections import OrderedDict
from typing import Any

from chaos.emulator.fc.records import FINAL_STATUSES, InvocationRecords

Key = tuple[str, str, str]  # (service, function, taskId)

# documented: starts with a letter or "_", then letters, digits, "_" or "-", at most 128 characters
TASK_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")

# record status -> AsyncTask status. "Cancelled" (the function was unregistered, or the emulator
# reset) is FC's "Invalid: the function was deleted".
TASK_STATUS = {
    "Queued": "Enqueued",
    "Running": "Running",
    "Retrying": "Retrying",
    "Succeeded": "Succeeded",
    "Failed": "Failed",
    "Expired": "Expired",
    "Cancelled": "Invalid",
    "Stopping": "Stopping",
    "Stopped": "Stopped",
}
TASK_STATUSES = frozenset(TASK_STATUS.values())


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


class AsyncTasks:
    def __init__(self, records: InvocationRecords, max_tasks: int) -> None:
        self._records = records
        self._max = max_tasks
        self._lock = threading.Lock()  # taken before records.lock, never after it
        self._tasks: OrderedDict[Key, dict[str, Any]] = OrderedDict()

    def add(self, key: Key, record: dict[str, Any], payload: bytes) -> bool:
        """Index ``record`` as task ``key``; False (nothing changed) when the id is taken."""
        with self._lock:
            if key in self._tasks:
                return False
            with self._records.lock:
                record["taskId"] = key[2]
                record["taskPayload"] = payload.decode("utf-8", "replace")
                record["events"] = [{"status": record["status"], "time": record["receivedAt"]}]
            self._tasks[key] = record
            while len(self._tasks) > self._max:
                self._tasks.popitem(last=False)
            return True

    def discard(self, key: Key) -> None:
        """Forget a task FC never accepted (the queue was full), so its id can be used again."""
        with self._lock:
            self._tasks.pop(key, None)

    def get(self, key: Key) -> dict[str, Any] | None:
        with self._lock:
            record = self._tasks.get(key)
            if record is None:
                return None
            with self._records.lock:
                return copy.deepcopy(record)

    def of_function(self, service: str, function: str) -> list[dict[str, Any]]:
        with self._lock, self._records.lock:
            return [copy.deepcopy(r) for (svc, fn, _), r in self._tasks.items() if (svc, fn) == (service, function)]

    def request_stop(self, key: Key) -> str | None:
        """Ask a task to stop; its record status afterwards, or None when there is no such task."""
        with self._lock:
            record = self._tasks.get(key)
            if record is None:
                return None
            with self._records.lock:
                if record["status"] not in FINAL_STATUSES:
                    record["stopRequested"] = True
                    if record["status"] != "Stopping":
                        self._records.apply_status(record, "Stopping")
                status: str = record["status"]
                return status

    def clear(self) -> None:
        with self._lock:
            self._tasks.clear()


def task_view(record: dict[str, Any], function_arn: str, *, include_payload: bool = True) -> dict[str, Any]:
    """An invocation record as FC 3.0's ``AsyncTask``."""
    attempts = record["attempts"]
    last = attempts[-1] if attempts else None
    durations = [a["durationMs"] for a in attempts if a.get("durationMs") is not None]
    view: dict[str, Any] = {
        "taskId": record["taskId"],
        "requestId": record["requestId"],
        "functionArn": function_arn,
        "qualifier": record["qualifier"],
        "instanceId": f"emulator-{record['service']}-{record['function']}",
        "status": TASK_STATUS.get(record["status"], "Invalid"),
        "alreadyRetriedTimes": max(0, len(attempts) - 1),
        "startedTime": _ms(record["receivedAt"]),
        "endTime": _ms(record.get("endedAt")),
        "durationMs": round(sum(durations)) if durations else None,
        "events": [
            {
                "eventId": n,
                "status": TASK_STATUS.get(e["status"], "Invalid"),
                "eventDetail": "",
                "timestamp": _ms(e["time"]),
            }
            for n, e in enumerate(record.get("events", []), start=1)
        ],
    }
    if last is not None and last.get("outcome") in ("Error", "Timeout"):
        view["taskErrorMessage"] = last.get("errorMessage")
    if "returnPayload" in record:
        view["returnPayload"] = record["returnPayload"]
    if include_payload:
        view["taskPayload"] = record.get("taskPayload", "")
    return {k: v for k, v in view.items() if v is not None}
