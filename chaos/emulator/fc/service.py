"""The FC service object the emulator registers: wiring, the control-plane surface, dispatch."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request, Response

from chaos.emulator.auth import Authenticator
from chaos.emulator.clock import Clock
from chaos.emulator.config import EmulatorConfig
from chaos.emulator.errors import new_request_id
from chaos.emulator.fc import urls
from chaos.emulator.fc.async_queue import AsyncQueue
from chaos.emulator.fc.async_tasks import AsyncTasks
from chaos.emulator.fc.exceptions import FcApiError
from chaos.emulator.fc.records import InvocationRecords
from chaos.emulator.fc.registry import FunctionSpec, Registry
from chaos.emulator.fc.responses import FcResponses, error_response
from chaos.emulator.fc.responses_v3 import Fc3Responses, error_response_v3
from chaos.emulator.fc.runtime import Runtime
from chaos.emulator.shared import Shared

log = logging.getLogger("chaos.emulator.fc")


class FcEmulator:
    """In-process Function Compute: registered Python functions behind FC's invoke API."""

    name = "fc"
    retry_backoff_seconds: float = 0.1  # real time before the first async retry; doubles after
    max_retry_backoff_seconds: float = 2.0

    def __init__(
        self,
        config: Callable[[], EmulatorConfig],
        clock: Clock,
        region: str = "cn-shanghai",
        *,
        async_workers: int | None = None,  # None: the config's fc.asyncConcurrency
        max_queued: int = 10_000,
        max_records: int = 10_000,
        auth: Authenticator | None = None,
    ) -> None:
        self.region = region
        self._registry = Registry()
        self._records = InvocationRecords(clock, max_records)
        runtime = Runtime(config, clock, region, self._records)
        self._queue = AsyncQueue(
            self._registry,
            self._records,
            runtime,
            clock,
            self._backoff,
            workers=(lambda: async_workers) if async_workers is not None else (lambda: config().fc.async_concurrency),
            max_queued=max_queued,
        )
        self._responses = FcResponses(config, region, self._registry, self._records, runtime, self._queue)
        self._tasks = AsyncTasks(self._records, max_records)
        # FC 3.0 is ACS3-signed: verified by the emulator's shared authenticator (nonces, STS)
        self._responses_v3 = Fc3Responses(
            config,
            region,
            self._registry,
            self._records,
            runtime,
            self._queue,
            self._tasks,
            auth or Authenticator(config),
        )

    @classmethod
    def create(cls, shared: Shared) -> FcEmulator:
        return cls(shared.config, shared.clock, shared.region, auth=shared.auth)

    def _backoff(self, attempts: int) -> float:
        return min(self.retry_backoff_seconds * 2.0 ** (attempts - 1), self.max_retry_backoff_seconds)

    # ----- the control plane's surface

    def register(self, spec: FunctionSpec) -> None:
        """Add or replace a function; replacing it means a fresh instance (initializer runs again)."""
        self._registry.register(spec)

    def functions(self) -> list[FunctionSpec]:
        return self._registry.specs()

    def invocations(self) -> list[dict[str, Any]]:
        return self._records.invocations()

    def async_failures(self) -> list[dict[str, Any]]:
        return self._records.failures()

    def wait_idle(self, timeout: float) -> bool:
        """Block until no async work is queued or running (abandoned timed-out threads aside)."""
        return self._queue.wait_idle(timeout)

    def settle(self) -> None:
        """Nothing of FC's is due on the emulator clock: async retries run on real time."""

    def reset(self) -> None:
        self._queue.reset()
        self._registry.clear()
        self._tasks.clear()
        self._records.clear()

    def shutdown(self) -> None:
        """Stop the async workers and cancel queued work; a later async call starts new workers."""
        self._queue.shutdown()

    # ----- HTTP

    def handles(self, path: str) -> bool:
        return urls.handles(path)

    def recognises(self, request: Request) -> bool:
        return urls.handles(request.path)

    def dispatch(self, request: Request) -> Response:
        request_id = new_request_id()
        if urls.is_v3(request.path):
            return self._dispatch_v3(request, request_id)
        try:
            target = urls.invoke_target(request.method, request.path)
            if target is None:
                raise FcApiError("PathNotSupported", request.method, request.path)
            return self._responses.invoke_function(request, target, request_id)
        except FcApiError as err:
            return error_response(err, request_id)
        except Exception:
            # the SDK crashes on non-JSON error bodies: never let werkzeug answer a bare 500
            log.exception("fc emulator: unexpected error on %s %s", request.method, request.path)
            return error_response(FcApiError("InternalServerError"), request_id)

    def _dispatch_v3(self, request: Request, request_id: str) -> Response:
        try:
            route = urls.v3_route(request.method, request.path)
            if route is None:
                raise FcApiError("PathNotSupported", request.method, request.path)
            return self._responses_v3.dispatch(request, route, request_id)
        except FcApiError as err:
            return error_response_v3(err, request_id)
        except Exception:
            log.exception("fc emulator: unexpected error on %s %s", request.method, request.path)
            return error_response_v3(FcApiError("InternalServerError"), request_id)
