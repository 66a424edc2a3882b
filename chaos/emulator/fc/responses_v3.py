"""Request handling for FC 3.0's API (``/2023-03-30``): one method per operation.

The same registry, runtime, async queue and records as the FC 2.0 API (``responses.py``); only the
wire differs: ACS3 signing, the function named without a service, ``qualifier`` as a query
parameter, ``{"Code", "Message", "RequestId"}`` errors, and async tasks (``x-fc-async-task-id``,
GetAsyncTask, ListAsyncTasks, StopAsyncTask).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request, Response

from chaos.emulator.auth import Authenticator
from chaos.emulator.config import Credential, EmulatorConfig
from chaos.emulator.fc.async_queue import AsyncQueue
from chaos.emulator.fc.async_tasks import TASK_ID, TASK_STATUS, TASK_STATUSES, AsyncTasks, task_view
from chaos.emulator.fc.capture import LOG_TAIL_BYTES
from chaos.emulator.fc.exceptions import FcApiError
from chaos.emulator.fc.records import InvocationRecords
from chaos.emulator.fc.registry import RegisteredFunction, Registry
from chaos.emulator.fc.responses import MAX_ASYNC_PAYLOAD, MAX_SYNC_PAYLOAD
from chaos.emulator.fc.runtime import Runtime
from chaos.emulator.fc.signing_v3 import authenticate_v3
from chaos.emulator.fc.urls import API_VERSION_V3, LATEST, V3Route

MAX_LIST_LIMIT = 100
DEFAULT_LIST_LIMIT = 50


def error_response_v3(err: FcApiError, request_id: str) -> Response:
    body = json.dumps({"Code": err.code, "Message": err.message, "RequestId": request_id})
    resp = Response(body, status=err.status, content_type="application/json")
    resp.headers["X-Fc-Request-Id"] = request_id
    return resp


def _json(doc: Any, request_id: str, status: int = 200) -> Response:
    resp = Response(json.dumps(doc), status=status, content_type="application/json")
    resp.headers["X-Fc-Request-Id"] = request_id
    return resp


def _int_arg(request: Request, name: str) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise FcApiError("InvalidArgument", f"{name} must be an integer, got '{raw[:64]}'") from None


class Fc3Responses:
    def __init__(
        self,
        config: Callable[[], EmulatorConfig],
        region: str,
        registry: Registry,
        records: InvocationRecords,
        runtime: Runtime,
        queue: AsyncQueue,
        tasks: AsyncTasks,
        auth: Authenticator,
    ) -> None:
        self._config = config
        self.region = region
        self._registry = registry
        self._records = records
        self._runtime = runtime
        self._queue = queue
        self._tasks = tasks
        self._auth = auth

    def dispatch(self, request: Request, route: V3Route, request_id: str) -> Response:
        if request.content_length is not None and request.content_length <= MAX_SYNC_PAYLOAD:
            # read before answering anything: an unread body can reset the client's connection
            request.get_data(cache=True)
        credential = authenticate_v3(request, self._auth)
        qualifier = request.args.get("qualifier") or LATEST
        fn = self._function(route.function, qualifier)
        self._authorize(credential, f"fc:{route.operation}", route.function)
        if route.operation == "InvokeFunction":
            return self._invoke(request, fn, qualifier, request_id)
        if route.operation == "ListAsyncTasks":
            return self._list_tasks(request, fn, route.function, request_id)
        key = (fn.spec.service, fn.spec.name, route.task_id or "")
        if route.operation == "GetAsyncTask":
            record = self._tasks.get(key)
            if record is None:
                raise FcApiError("AsyncTaskNotFound", key[2], route.function, v3=True)
            return _json(task_view(record, self._arn(route.function)), request_id)
        # StopAsyncTask
        status = self._tasks.request_stop(key)
        if status is None:
            raise FcApiError("AsyncTaskNotFound", key[2], route.function, v3=True)
        if status not in ("Stopping", "Stopped"):  # it had already finished
            raise FcApiError("InvalidArgument", f"async task '{key[2]}' is {TASK_STATUS.get(status, status)}")
        resp = Response(b"", status=204)
        resp.headers["X-Fc-Request-Id"] = request_id
        return resp

    # ----- checks

    def _arn(self, function: str) -> str:
        return f"acs:fc:{self.region}:{self._config().account_id}:functions/{function}"

    def _function(self, name: str, qualifier: str) -> RegisteredFunction:
        found = self._registry.find_v3(name)
        if not found:
            raise FcApiError("FunctionNotFound", name, v3=True)
        if len(found) > 1:
            services = ", ".join(sorted(f.spec.service for f in found))
            raise FcApiError(
                "InvalidArgument",
                f"emulator: function '{name}' is registered in several services ({services}); "
                f"name it 'service${name}'",
            )
        fn = found[0]
        if qualifier not in (LATEST, fn.spec.qualifier):
            code = "VersionNotFound" if qualifier.isdigit() else "AliasNotFound"
            raise FcApiError(code, qualifier, name, v3=True)
        return fn

    def _authorize(self, credential: Credential, action: str, function: str) -> None:
        allowed = credential.allowed_actions
        if allowed is not None and not {action, action.split(":", 1)[1], "fc:*", "*"} & set(allowed):
            raise FcApiError(
                "AccessDenied",
                f"the caller is not authorized to perform '{action}' on resource '{self._arn(function)}'",
            )

    # ----- InvokeFunction

    def _invoke(self, request: Request, fn: RegisteredFunction, qualifier: str, request_id: str) -> Response:
        kind = (request.headers.get("x-fc-invocation-type") or "Sync").strip()
        if kind.lower() not in ("sync", "async"):
            raise FcApiError("InvalidArgument", f"invalid invocation type '{kind}', expected Sync or Async")
        is_async = kind.lower() == "async"
        task_id = request.headers.get("x-fc-async-task-id")
        if task_id is not None and not is_async:
            raise FcApiError("InvalidArgument", "x-fc-async-task-id needs x-fc-invocation-type: Async")
        if task_id is not None and not TASK_ID.fullmatch(task_id):
            raise FcApiError(
                "InvalidArgument",
                "x-fc-async-task-id must start with a letter or '_', then letters, digits, '_' or '-', "
                "at most 128 characters",
            )
        limit = MAX_ASYNC_PAYLOAD if is_async else MAX_SYNC_PAYLOAD
        if request.content_length is not None and request.content_length > limit:
            raise FcApiError("EntityTooLarge", str(limit))
        payload = request.get_data(cache=True)
        if len(payload) > limit:
            raise FcApiError("EntityTooLarge", str(limit))
        if is_async:
            return self._invoke_async(fn, qualifier, payload, request_id, task_id or request_id)
        tail = (request.headers.get("x-fc-log-type") or "").lower() == "tail"
        return self._invoke_sync(fn, qualifier, payload, request_id, tail)

    def _invoke_sync(
        self, fn: RegisteredFunction, qualifier: str, payload: bytes, request_id: str, tail: bool
    ) -> Response:
        record = self._records.new(fn.spec, qualifier, request_id, "Sync", len(payload))
        with self._records.lock:
            record["api"] = API_VERSION_V3
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

    def _invoke_async(
        self, fn: RegisteredFunction, qualifier: str, payload: bytes, request_id: str, task_id: str
    ) -> Response:
        record = self._records.new(fn.spec, qualifier, request_id, "Async", len(payload))
        with self._records.lock:
            record["api"] = API_VERSION_V3
        key = (fn.spec.service, fn.spec.name, task_id)
        if not self._tasks.add(key, record, payload):
            self._records.set_status(record, "Rejected")
            raise FcApiError("AsyncTaskAlreadyExists", task_id, fn.spec.name, v3=True)
        if not self._queue.submit(fn, qualifier, payload, request_id, record):
            self._tasks.discard(key)
            self._records.set_status(record, "Rejected")
            raise FcApiError("ResourceExhausted", f"more than {self._queue.max_queued} async invocations are queued")
        resp = Response(b"", status=202)
        resp.headers["X-Fc-Request-Id"] = request_id
        resp.headers["x-fc-async-task-id"] = task_id
        return resp

    # ----- ListAsyncTasks

    def _list_tasks(self, request: Request, fn: RegisteredFunction, name: str, request_id: str) -> Response:
        args = request.args
        limit = _int_arg(request, "limit")
        limit = DEFAULT_LIST_LIMIT if limit is None else limit
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise FcApiError("InvalidArgument", f"limit must be between 1 and {MAX_LIST_LIMIT}, got {limit}")
        status = args.get("status") or None
        if status is not None and status not in TASK_STATUSES:
            raise FcApiError("InvalidArgument", f"status must be one of {', '.join(sorted(TASK_STATUSES))}")
        order = args.get("sortOrderByTime") or "desc"
        if order not in ("asc", "desc"):
            raise FcApiError("InvalidArgument", f"sortOrderByTime must be asc or desc, got '{order[:16]}'")
        begin, end = _int_arg(request, "startedTimeBegin"), _int_arg(request, "startedTimeEnd")
        prefix = args.get("prefix") or ""
        include_payload = (args.get("includePayload") or "").lower() == "true"
        qualifier = args.get("qualifier") or None
        arn = self._arn(name)
        views = [task_view(r, arn, include_payload=include_payload)
                 for r in self._tasks.of_function(fn.spec.service, fn.spec.name)]  # fmt: skip
        views = [
            v
            for v in views
            if v["taskId"].startswith(prefix)
            and (status is None or v["status"] == status)
            and (qualifier is None or v["qualifier"] == qualifier)
            and (begin is None or v["startedTime"] >= begin)
            and (end is None or v["startedTime"] <= end)
        ]
        views.sort(key=lambda v: (v["startedTime"], v["taskId"]), reverse=order == "desc")
        start = _int_arg(request, "nextToken") or 0
        if start < 0:
            raise FcApiError("InvalidArgument", "nextToken is not one this API returned")
        page = views[start : start + limit]
        doc: dict[str, Any] = {"tasks": page}
        if start + limit < len(views):
            doc["nextToken"] = str(start + limit)
        return _json(doc, request_id)
