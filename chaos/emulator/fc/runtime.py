"""Running one attempt of a handler: its own thread, its environment, its log, its timeout.

With the config's ``fc.isolation = "process"`` the attempt runs in a child process instead
(process.py): killed at its timeout, its peak RSS recorded on the attempt as ``peakRssMb``.

A timed-out handler thread cannot be killed. The caller gets the timeout error while the
abandoned thread may still finish its work later (exactly a lost acknowledgement); its late
outcome is recorded as ``lateOutcome`` on the attempt. It keeps its environment slot until it
ends, so a function needing a different environment waits for it.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chaos.emulator.clock import Clock
from chaos.emulator.config import EmulatorConfig
from chaos.emulator.fc.capture import CAPTURE, LogBuffer
from chaos.emulator.fc.context import FcContext, make_context
from chaos.emulator.fc.envgate import EnvGate
from chaos.emulator.fc.records import InvocationRecords
from chaos.emulator.fc.registry import FunctionSpec, RegisteredFunction, resolve


def _encode_result(result: Any) -> bytes:
    """FC's body is the handler's return value: bytes as is, str UTF-8, anything else JSON."""
    if result is None:
        return b""
    if isinstance(result, bytes | bytearray | memoryview):
        return bytes(result)
    if isinstance(result, str):
        return result.encode("utf-8")
    return json.dumps(result).encode("utf-8")


def _error_body(exc: BaseException) -> dict[str, Any]:
    frames = traceback.extract_tb(exc.__traceback__)
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": [[f'File "{f.filename}"', f"line {f.lineno}", f"in {f.name}", f.line or ""] for f in frames],
    }


@dataclass
class Outcome:
    ok: bool
    body: bytes = b""
    error: dict[str, Any] | None = None
    timed_out: bool = False
    log: bytes = b""
    duration_ms: float = 0.0


class _Attempt:
    """Hand-off between the caller and the handler thread of one attempt."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started = threading.Event()  # environment acquired: the timeout clock starts
        self.done = threading.Event()
        self.buffer: LogBuffer | None = None
        self.outcome: Outcome | None = None
        self.abandoned = False
        self.on_late: Callable[[Outcome], None] | None = None


class Runtime:
    """FC's Python 3 runtime, in this process: one thread per attempt, ``os.environ`` gated."""

    def __init__(
        self, config: Callable[[], EmulatorConfig], clock: Clock, region: str, records: InvocationRecords
    ) -> None:
        self._config = config
        self._clock = clock
        self.region = region
        self._records = records
        self._gate = EnvGate()

    def attempt(
        self, fn: RegisteredFunction, qualifier: str, payload: bytes, request_id: str, record: dict[str, Any]
    ) -> Outcome:
        """Run the handler once in its own thread and wait at most the function timeout."""
        config = self._config()
        spec = fn.spec if qualifier == fn.spec.qualifier else fn.spec.model_copy(update={"qualifier": qualifier})
        context = make_context(
            spec,
            request_id=request_id,
            credential=config.credential(config.function_role_access_key_id),
            region=self.region,
            account_id=config.account_id,
        )
        entry: dict[str, Any] = {
            "start": None,
            "end": None,
            "outcome": "Running",
            "errorType": None,
            "errorMessage": None,
            "durationMs": None,
        }
        lock = self._records.lock
        with lock:
            record["attempts"].append(entry)
        if config.fc.isolation == "process":
            return self._attempt_in_process(spec, context, payload, entry)
        state = _Attempt()
        thread = threading.Thread(
            target=self._run_handler,
            args=(fn, context, payload, state),
            name=f"fc-{spec.service}-{spec.name}-{request_id[:8]}",
            daemon=True,  # a hung handler must not keep the process alive
        )
        thread.start()
        state.started.wait()
        with lock:
            entry["start"] = self._clock.now()
        state.done.wait(fn.spec.timeout)

        def late(outcome: Outcome) -> None:
            with lock:
                entry["lateOutcome"] = "Succeeded" if outcome.ok else "Error"
                entry["lateEnd"] = self._clock.now()

        with state.lock:
            result = state.outcome
            if result is None:
                state.abandoned, state.on_late = True, late
                timeout = f"{fn.spec.timeout:g}"
                result = Outcome(
                    ok=False,
                    timed_out=True,
                    error={
                        "errorMessage": f"Function timed out after {timeout} seconds",
                        "errorType": "FunctionTimeout",
                    },
                    log=state.buffer.tail() if state.buffer else b"",
                    duration_ms=fn.spec.timeout * 1000,
                )
        error = result.error or {}
        with lock:
            entry.update(
                end=self._clock.now(),
                outcome="Succeeded" if result.ok else ("Timeout" if result.timed_out else "Error"),
                errorType=error.get("errorType"),
                errorMessage=error.get("errorMessage"),
                durationMs=round(result.duration_ms, 3),
            )
        return result

    def _attempt_in_process(
        self, spec: FunctionSpec, context: FcContext, payload: bytes, entry: dict[str, Any]
    ) -> Outcome:
        from chaos.emulator.fc.process import run_in_process

        lock = self._records.lock
        with lock:
            entry["start"] = self._clock.now()
        answer = run_in_process(spec, context, payload)
        result = Outcome(
            ok=bool(answer.get("ok")),
            body=base64.b64decode(answer.get("body") or ""),
            error=answer.get("error"),
            timed_out=bool(answer.get("timedOut")),
            log=answer.get("log", b""),
            duration_ms=float(answer.get("durationMs") or 0.0),
        )
        error = result.error or {}
        rss = answer.get("peakRssKb")
        with lock:
            entry.update(
                end=self._clock.now(),
                outcome="Succeeded" if result.ok else ("Timeout" if result.timed_out else "Error"),
                errorType=error.get("errorType"),
                errorMessage=error.get("errorMessage"),
                durationMs=round(result.duration_ms, 3),
                peakRssMb=round(rss / 1024, 1) if isinstance(rss, int) else None,
            )
        return result

    def _run_handler(self, fn: RegisteredFunction, context: FcContext, payload: bytes, state: _Attempt) -> None:
        outcome = Outcome(ok=False, error={"errorMessage": "emulator error", "errorType": "InternalError"})
        acquired = False
        try:
            buf = state.buffer = CAPTURE.start(context.request_id)
            self._gate.acquire(fn.spec.environment)
            acquired = True
            state.started.set()
            started = time.monotonic()
            buf.write(f"FC Invoke Start RequestId: {context.request_id}\n")
            try:
                self._initialize(fn, context)
                result = resolve(fn.spec.handler)(payload, context)
                outcome = Outcome(ok=True, body=_encode_result(result))
            except BaseException as exc:  # handler code may raise anything, SystemExit included
                outcome = Outcome(ok=False, error=_error_body(exc))
            buf.write(f"FC Invoke End RequestId: {context.request_id}\n")
            outcome.duration_ms = (time.monotonic() - started) * 1000
            outcome.log = buf.tail()
        finally:
            if acquired:
                self._gate.release()
            CAPTURE.stop()  # a no-op when start() never registered this thread
            state.started.set()
            with state.lock:
                state.outcome = outcome
                late = state.on_late if state.abandoned else None
            state.done.set()
            if late is not None:
                late(outcome)

    @staticmethod
    def _initialize(fn: RegisteredFunction, context: FcContext) -> None:
        """Once per instance; a failure fails this invocation and the next one tries again."""
        if fn.spec.initializer is None:
            return
        with fn.init_lock:
            if not fn.initialized:
                resolve(fn.spec.initializer)(context)
                fn.initialized = True
