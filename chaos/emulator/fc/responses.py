"""Request handling for FC's API (moto's ``responses.py``): one method per operation.

``invoke_function`` checks the signature, the function, RAM and the payload, then runs the
function synchronously (200 with the handler's result, or its error with
``x-fc-error-type: UnhandledInvocationError``) or queues it (202).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

from werkzeug.wrappers import Request, Response

from chaos.emulator.config import EmulatorConfig
from chaos.emulator.fc.async_queue import AsyncQueue
from chaos.emulator.fc.capture import LOG_TAIL_BYTES
from chaos.emulator.fc.exceptions import FcApiError
from chaos.emulator.fc.records import InvocationRecords
from chaos.emulator.fc.registry import RegisteredFunction, Registry
from chaos.emulator.fc.runtime import Runtime
from chaos.emulator.fc.signing import authenticate
from chaos.emulator.fc.urls import InvokeTarget

# FC 2.0 limits: synchronous payload 32 MB, asynchronous 128 KB
MAX_SYNC_PAYLOAD = 32 * 1024 * 1024
MAX_ASYNC_PAYLOAD = 128 * 1024
INVOKE_ACTIONS = frozenset({"fc:InvokeFunction", "InvokeFunction", "fc:*", "*"})


def error_response(err: FcApiError, request_id: str) -> Response:
    body = json.dumps({"ErrorCode": err.code, "ErrorMessage": err.message})
    resp = Response(body, status=err.status, content_type="application/json")
    resp.headers["X-Fc-Request-Id"] = request_id
    return resp


class FcResponses:
    def __init__(
        self,
        config: Callable[[], EmulatorConfig],
        region: str,
        registry: Registry,
        records: InvocationRecords,
        runtime: Runtime,
        queue: AsyncQueue,
    ) -> None:
        self._config = config
        self.region = region
        self._registry = registry
        self._records = records
        self._runtime = runtime
        self._queue = queue

    def invoke_function(self, request: Request, target: InvokeTarget, request_id: str) -> Response:
        if request.content_length is not None and request.content_length <= MAX_SYNC_PAYLOAD:
            # read before answering anything: an unread body can reset the client's connection
            request.get_data()
        config = self._config()
        credential = authenticate(request, config)
        service, qualifier, function = target.service, target.qualifier, target.function
        fn = self._registry.lookup(service, qualifier, function)
        if credential.allowed_actions is not None and not INVOKE_ACTIONS & set(credential.allowed_actions):
            raise FcApiError(
                "AccessDenied",
                f"the caller is not authorized to perform 'fc:InvokeFunction' on resource "
                f"'acs:fc:{self.region}:{config.account_id}:services/{service}.{qualifier}/functions/{function}'",
            )
        kind = (request.headers.get("x-fc-invocation-type") or "Sync").strip()
        if kind.lower() not in ("sync", "async"):
            raise FcApiError("InvalidArgument", f"invalid invocation type '{kind}', expected Sync or Async")
        limit = MAX_ASYNC_PAYLOAD if kind.lower() == "async" else MAX_SYNC_PAYLOAD
        if request.content_length is not None and request.content_length > limit:
            raise FcApiError("EntityTooLarge", str(limit))
        payload = request.get_data()
        if len(payload) > limit:
            raise FcApiError("EntityTooLarge", str(limit))
        if kind.lower() == "async":
            return self._invoke_async(fn, qualifier, payload, request_id)
        tail = (request.headers.get("x-fc-log-type") or "").lower() == "tail"
        return self._invoke_sync(fn, qualifier, payload, request_id, tail)

    def _invoke_sync(
        self, fn: RegisteredFunction, qualifier: str, payload: bytes, request_id: str, tail: bool
    ) -> Response:
        record = self._records.new(fn.spec, qualifier, request_id, "Sync", len(payload))
        outcome = self._runtime.attempt(fn, qualifier, payload, request_id, record)
        self._records.set_status(record, "Succeeded" if outcome.ok else "Failed")
        if outcome.ok:
            resp = Response(outcome.body, status=200, content_type="application/octet-stream")
        else:
            resp = Response(json.dumps(outcome.error), status=200, content_type="application/json")
            resp.headers["x-fc-error-type"] = "UnhandledInvocationError"
        resp.headers["X-Fc-Request-Id"] = request_id
        resp.headers["x-fc-invocation-duration"] = str(round(outcome.duration_ms))
        if tail:
            resp.headers["X-Fc-Log-Result"] = base64.b64encode(outcome.log[-LOG_TAIL_BYTES:]).decode()
        return resp

    def _invoke_async(self, fn: RegisteredFunction, qualifier: str, payload: bytes, request_id: str) -> Response:
        record = self._records.new(fn.spec, qualifier, request_id, "Async", len(payload))
        if not self._queue.submit(fn, qualifier, payload, request_id, record):
            self._records.set_status(record, "Rejected")
            raise FcApiError("ResourceExhausted", f"more than {self._queue.max_queued} async invocations are queued")
        resp = Response(b"", status=202)
        resp.headers["X-Fc-Request-Id"] = request_id
        return resp
