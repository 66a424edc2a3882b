"""Asynchronous invocations (``x-fc-invocation-type: Async``): a bounded queue, workers, retries.

FC answers 202 at once and runs the function later; a failed attempt is retried up to
``maxAsyncRetryAttempts`` times with a doubling backoff (real time), an event older than
``maxAsyncEventAgeSeconds`` (emulator clock) is dropped, and either way the give-up is recorded
as the failure FC would deliver to ``OnFailure``. An FC 3.0 task asked to stop (``stopRequested``)
runs no further attempt and ends ``Stopped``. ``reset()`` and ``shutdown()`` bump a generation
or epoch so attempts in flight neither retry nor record failures of a discarded run.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chaos.emulator.clock import Clock
from chaos.emulator.fc.records import InvocationRecords
from chaos.emulator.fc.registry import FunctionSpec, RegisteredFunction, Registry
from chaos.emulator.fc.runtime import Runtime

log = logging.getLogger("chaos.emulator.fc")

RETURN_PAYLOAD_BYTES = 1024 * 1024  # FC 3.0 AsyncTask.returnPayload: at most 1 MB


@dataclass
class _AsyncItem:
    key: tuple[str, str]
    qualifier: str
    payload: bytes
    request_id: str
    enqueued_at: float  # emulator clock: event age is measured on it
    record: dict[str, Any]
    generation: int
    attempts: int = 0


class AsyncQueue:
    def __init__(
        self,
        registry: Registry,
        records: InvocationRecords,
        runtime: Runtime,
        clock: Clock,
        backoff: Callable[[int], float],
        *,
        workers: Callable[[], int],
        max_queued: int,
    ) -> None:
        self._registry = registry
        self._records = records
        self._runtime = runtime
        self._clock = clock
        self._backoff = backoff  # attempts so far -> seconds before the next one
        self._async_workers = workers  # read on every start: the knob can change between runs
        self.max_queued = max_queued
        self._queue = threading.Condition()  # heap, running count, workers
        self._heap: list[tuple[float, int, _AsyncItem]] = []
        self._seq = itertools.count()
        self._running = 0
        self._generation = 0
        self._epoch = 0  # shutdown() bumps it: workers of an older epoch exit
        self._workers: list[threading.Thread] = []

    def submit(
        self, fn: RegisteredFunction, qualifier: str, payload: bytes, request_id: str, record: dict[str, Any]
    ) -> bool:
        """Queue one invocation; False (and nothing queued) when the queue is full."""
        with self._queue:
            if len(self._heap) >= self.max_queued:
                return False
            item = _AsyncItem(
                key=(fn.spec.service, fn.spec.name),
                qualifier=qualifier,
                payload=payload,
                request_id=request_id,
                enqueued_at=self._clock.now(),
                record=record,
                generation=self._generation,
            )
            heapq.heappush(self._heap, (time.monotonic(), next(self._seq), item))
            self._start_workers()
            self._queue.notify_all()
            return True

    def wait_idle(self, timeout: float) -> bool:
        """Block until no async work is queued or running (abandoned timed-out threads aside)."""
        with self._queue:
            return self._queue.wait_for(lambda: not self._heap and self._running == 0, timeout)

    def reset(self) -> None:
        with self._queue:
            self._generation += 1  # attempts in flight neither retry nor record failures
            self._heap.clear()
            self._queue.notify_all()

    def shutdown(self) -> None:
        """Stop the workers and cancel queued work; a later submit starts new workers."""
        with self._queue:
            self._epoch += 1
            workers, self._workers = self._workers, []
            dropped = [item for _, _, item in self._heap]
            self._heap.clear()
            self._queue.notify_all()
        for worker in workers:
            # one busy in a handler exits after its attempt (at most the function timeout)
            worker.join(timeout=5)
        for item in dropped:
            self._records.set_status(item.record, "Cancelled")

    def _start_workers(self) -> None:
        """Called with ``self._queue`` held."""
        self._workers = [w for w in self._workers if w.is_alive()]
        while len(self._workers) < max(1, self._async_workers()):
            worker = threading.Thread(
                target=self._worker, args=(self._epoch,), name=f"fc-async-{len(self._workers)}", daemon=True
            )
            self._workers.append(worker)
            worker.start()

    def _worker(self, epoch: int) -> None:
        while True:
            with self._queue:
                while True:
                    if self._epoch != epoch:
                        return
                    if self._heap and self._running >= max(1, self._async_workers()):
                        self._queue.wait()  # a lowered limit: the surplus threads idle
                    elif self._heap:
                        wait = self._heap[0][0] - time.monotonic()
                        if wait <= 0:
                            item = heapq.heappop(self._heap)[2]
                            self._running += 1
                            break
                        self._queue.wait(wait)  # until the earliest retry is due or new work arrives
                    else:
                        self._queue.wait()
            delay: float | None = None
            try:
                delay = self._process(item)
            except Exception:
                log.exception("fc emulator: async invocation %s crashed", item.request_id)
            with self._queue:
                self._running -= 1
                current = self._epoch == epoch and item.generation == self._generation
                if delay is not None and current:
                    heapq.heappush(self._heap, (time.monotonic() + delay, next(self._seq), item))
                self._queue.notify_all()

            if delay is not None and not current:  # shutdown() or reset() dropped the retry
                self._records.set_status(item.record, "Cancelled")

    def _process(self, item: _AsyncItem) -> float | None:
        """Run one async attempt; return the backoff before a retry, or None when finished."""
        fn = self._registry.get(item.key)
        if fn is None:  # unregistered by reset() meanwhile
            self._records.set_status(item.record, "Cancelled")
            return None
        spec = fn.spec
        if self._clock.now() - item.enqueued_at > spec.max_async_event_age_seconds:
            self._give_up(item, spec, "EventAgeExceeded", "Expired")
            return None
        if self._stop_requested(item):  # StopAsyncTask while queued or waiting for a retry
            self._records.set_status(item.record, "Stopped")
            return None
        self._records.set_status(item.record, "Running")
        outcome = self._runtime.attempt(fn, item.qualifier, item.payload, item.request_id, item.record)
        item.attempts += 1
        if outcome.ok:
            with self._records.lock:
                if "taskId" in item.record:  # FC 3.0 GetAsyncTask shows the result
                    item.record["returnPayload"] = outcome.body[:RETURN_PAYLOAD_BYTES].decode("utf-8", "replace")
            # a handler thread cannot be killed: one that finished despite a stop request did its work
            self._records.set_status(item.record, "Succeeded")
            return None
        if self._stop_requested(item):  # a stopped task is not retried
            self._records.set_status(item.record, "Stopped")
            return None
        if item.attempts <= spec.max_async_retry_attempts:
            self._records.set_status(item.record, "Retrying")
            return self._backoff(item.attempts)
        self._give_up(item, spec, "RetriesExhausted", "Failed")
        return None

    def _stop_requested(self, item: _AsyncItem) -> bool:
        with self._records.lock:
            return bool(item.record.get("stopRequested"))

    def _give_up(self, item: _AsyncItem, spec: FunctionSpec, reason: str, status: str) -> None:
        with self._queue:
            current = item.generation == self._generation
        with self._records.lock:
            self._records.apply_status(item.record, status)
            attempts = item.record["attempts"]
            last = attempts[-1] if attempts else None
        if not current:  # reset() meanwhile: the failure belongs to the discarded run
            return
        self._records.add_failure(
            {
                "requestId": item.request_id,
                "service": spec.service,
                "function": spec.name,
                "qualifier": item.qualifier,
                "destination": spec.on_failure,
                "reason": reason,
                "lastError": {"errorType": last["errorType"], "errorMessage": last["errorMessage"]} if last else None,
                "attempts": item.attempts,
                "time": self._clock.now(),
                "requestPayload": item.payload.decode("utf-8", "replace"),
            }
        )
