"""Function Compute 2.0 invoke API, as the ``aliyun-fc2`` (2.5.2) SDK speaks it.

Only ``POST /2016-08-15/services/{svc}[.{qualifier}]/functions/{fn}/invocations`` is served;
functions are Python callables registered with :class:`FunctionSpec` (no deploy API). Facts
come from shared/reference/fc-and-cloudmonitor.md §1 and §4; error codes, statuses and message
templates from the FC 2.0 "Error codes" page (help/en/functioncompute/fc-2-0/developer-reference/
error-codes, zh: help.aliyun.com/zh/fc/developer-reference/error-codes).

Emulator limits worth knowing:

* A timed-out handler thread cannot be killed. The caller gets the timeout error while the
  abandoned thread may still finish its work later (exactly a lost acknowledgement); its late
  outcome is recorded as ``lateOutcome`` on the attempt. It keeps its environment slot until it
  ends, so a function needing a different environment waits for it.
* Handlers share one process: ``os.environ`` is swapped per invocation by a reader/writer gate
  (same environment runs concurrently, a different one waits). A handler that synchronously
  invokes a function with a *different* environment therefore deadlocks until its caller times out.
* What a handler prints (``sys.stdout``) or logs (root logger) from its own thread is captured
  for ``x-fc-log-type: Tail``; output from threads the handler starts is not.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import heapq
import hmac
import importlib
import itertools
import json
import logging
import os
import re
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TextIO, cast

from pydantic import Field, field_validator
from werkzeug.wrappers import Request, Response

from chaos.emulator.clock import Clock
from chaos.emulator.config import Credential, EmulatorConfig, Model
from chaos.emulator.errors import new_request_id

log = logging.getLogger(__name__)

API_VERSION = "2016-08-15"
LATEST = "LATEST"
# FC 2.0 limits: synchronous payload 32 MB, asynchronous 128 KB
MAX_SYNC_PAYLOAD = 32 * 1024 * 1024
MAX_ASYNC_PAYLOAD = 128 * 1024
LOG_TAIL_BYTES = 4096  # X-Fc-Log-Result carries the last 4 KB of the log
INVOKE_ACTIONS = frozenset({"fc:InvokeFunction", "InvokeFunction", "fc:*", "*"})

_INVOKE_PATH = re.compile(
    r"^/2016-08-15/services/(?P<service>[^/.]+)(?:\.(?P<qualifier>[^/]+))?"
    r"/functions/(?P<function>[^/]+)/invocations/?$"
)
_AUTHORIZATION = re.compile(r"^FC ([^:\s]+):(\S+)$")
_NAME = r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$"  # FC service/function name rule

# code -> (HTTP status, message template); FC 2.0 error-codes page unless noted
_CATALOG: dict[str, tuple[int, str]] = {
    "InvalidArgument": (400, "%s"),
    "MissingRequiredHeader": (400, "required HTTP header %s was not specified"),
    "PathNotSupported": (400, "'%s' against '%s' is not supported"),
    "EntityTooLarge": (400, "payload size exceeds maximum allowed size (%s bytes)"),
    "AccessDenied": (403, "%s"),
    "SignatureNotMatch": (
        403,
        "The request signature we calculated does not match the signature you provided. "
        "Check your access key and signing method",
    ),
    "InvalidAccessKeyID": (403, "invalid access key ID '%s'"),
    "ServiceNotFound": (404, "service '%s' does not exist"),
    # wording from the fc 2023-03-30 catalogue (the 2.0 page lists the code without a message)
    "FunctionNotFound": (404, "function '%s' does not exist in service '%s'"),
    "AliasNotFound": (404, "alias '%s' of service '%s' does not exist"),
    "VersionNotFound": (404, "version '%s' of service '%s' does not exist"),
    "ResourceExhausted": (429, "%s"),
    "InternalServerError": (500, "an internal error has occurred. Please retry."),
}


class FcApiError(Exception):
    """An FC API error answer: ``{"ErrorCode", "ErrorMessage"}`` with an HTTP 4xx/5xx status."""

    def __init__(self, code: str, *args: str) -> None:
        self.status, template = _CATALOG[code]
        self.code = code
        self.message = template % args if args else template
        super().__init__(f"{self.status} {code}: {self.message}")


# --------------------------------------------------------------------------- function specs


def _split_ref(ref: str) -> tuple[str, str]:
    """``pkg.mod:func`` (or FC's ``mod.func``) -> (module, attribute)."""
    module, sep, attr = ref.partition(":")
    if not sep:
        module, _, attr = ref.rpartition(".")
    if not module or not attr.isidentifier() or not all(p.isidentifier() for p in module.split(".")):
        raise ValueError(f"expected 'package.module:function', got {ref!r}")
    return module, attr


class FunctionSpec(Model):
    """One registered function (service + name), like FC's CreateFunction input."""

    service: str = Field(pattern=_NAME)
    name: str = Field(pattern=_NAME)
    handler: str  # "package.module:function", called as handler(event: bytes, context)
    initializer: str | None = None  # "package.module:function", called once as initializer(context)
    timeout: float = Field(default=60, gt=0, le=86_400)
    memory_size: int = Field(default=128, ge=1)
    environment: dict[str, str] = Field(default_factory=dict)
    max_async_retry_attempts: int = Field(default=3, ge=0, le=8)  # FC default 3, range 0-8
    max_async_event_age_seconds: float = Field(default=86_400, gt=0, le=604_800)
    on_failure: str | None = None  # destination ARN; failures are recorded, not delivered
    qualifier: str = LATEST  # alias/version this function answers besides LATEST
    log_project: str = ""
    log_store: str = ""

    @field_validator("handler", "initializer")
    @classmethod
    def _check_ref(cls, value: str | None) -> str | None:
        if value is not None:
            _split_ref(value)
        return value

    @field_validator("environment")
    @classmethod
    def _check_env(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not key or "=" in key or "\0" in key:
                raise ValueError(f"invalid environment variable name {key!r}")
        return value


# --------------------------------------------------------------------------- context


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    access_key_secret: str
    # None when the function role resolves to a permanent key (FC itself always hands out STS)
    security_token: str | None


@dataclass(frozen=True)
class FunctionMeta:
    name: str
    handler: str
    memory: int  # MB
    timeout: float  # seconds


@dataclass(frozen=True)
class ServiceMeta:
    name: str
    log_project: str
    log_store: str
    qualifier: str
    version_id: str


@dataclass
class Tracing:
    span_context: str | None = None
    jaeger_endpoint: str | None = None
    span_baggages: dict[str, str] = field(default_factory=dict)

    def parseOpenTracingBaggages(self) -> dict[str, str]:  # FC's camelCase name
        return dict(self.span_baggages)


@dataclass(frozen=True)
class FcContext:
    """The ``context`` FC's Python 3 runtime passes to handlers and initializers."""

    request_id: str
    credentials: Credentials
    function: FunctionMeta
    service: ServiceMeta
    region: str
    account_id: str
    tracing: Tracing = field(default_factory=Tracing)

    def getLogger(self) -> logging.Logger:  # FC's camelCase name
        logger = logging.getLogger("fc.function")
        # FC's logger emits INFO; a process whose root logger is at WARNING would drop it
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)
        return logger


def make_context(
    spec: FunctionSpec, *, request_id: str, credential: Credential | None, region: str, account_id: str
) -> FcContext:
    creds = (
        Credentials(credential.access_key_id, credential.access_key_secret, credential.security_token)
        if credential is not None
        else Credentials("", "", None)
    )
    return FcContext(
        request_id=request_id,
        credentials=creds,
        function=FunctionMeta(spec.name, spec.handler, spec.memory_size, spec.timeout),
        service=ServiceMeta(
            name=spec.service,
            log_project=spec.log_project,
            log_store=spec.log_store,
            qualifier=spec.qualifier,
            # there are no published versions here: an alias resolves to LATEST
            version_id=spec.qualifier if spec.qualifier.isdigit() else LATEST,
        ),
        region=region,
        account_id=account_id,
    )


# --------------------------------------------------------------------------- signing


def string_to_sign(
    method: str, path: str, headers: Mapping[str, str], queries: Mapping[str, list[str]] | None = None
) -> str:
    """What fc2/auth.py ``Auth.sign_request`` signs; ``headers`` keys in any case."""
    lower = {k.lower(): v for k, v in headers.items()}
    canonical = "".join(f"{k}:{v}\n" for k, v in sorted(lower.items()) if k.startswith("x-fc-"))
    resource = path
    if queries:
        params = [f"{key}={value}" for key, values in queries.items() for value in values]
        params += [key for key, values in queries.items() if not values]
        resource = path + "\n" + "\n".join(sorted(params))
    return "\n".join(
        [
            method.upper(),
            lower.get("content-md5", ""),
            lower.get("content-type", ""),
            lower.get("date", ""),
            canonical + resource,
        ]
    )


def sign(secret: str, text: str) -> str:
    digest = hmac.new(secret.strip().encode(), text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


# --------------------------------------------------------------------------- log capture


class _LogBuffer:
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
        self._buffers: dict[int, _LogBuffer] = {}
        self._handler: logging.Handler | None = None

    def start(self, request_id: str) -> _LogBuffer:
        buf = _LogBuffer(request_id)
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

    def current(self) -> _LogBuffer | None:
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


_CAPTURE = _Capture()


# --------------------------------------------------------------------------- environment gate


class _EnvGate:
    """Reader/writer gate over ``os.environ`` keyed by the whole environment mapping.

    Holders of the same mapping run together; a different mapping waits until they all leave.
    FIFO between mappings: a newcomer does not join the running group while an older waiter
    needs a different mapping, so a stream of same-env calls cannot starve another function.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._tickets = itertools.count()
        self._waiting: list[tuple[int, frozenset[tuple[str, str]]]] = []  # in ticket order
        self._current: frozenset[tuple[str, str]] | None = None
        self._active = 0
        self._saved: dict[str, str | None] = {}

    def _may_enter(self, ticket: int, key: frozenset[tuple[str, str]]) -> bool:
        if self._active == 0:
            return self._waiting[0][1] == key
        if self._current != key:
            return False
        return all(k == key for t, k in self._waiting if t < ticket)

    def acquire(self, env: Mapping[str, str], timeout: float | None = None) -> bool:
        key = frozenset(env.items())
        with self._cond:
            entry = (next(self._tickets), key)
            self._waiting.append(entry)
            try:
                if not self._cond.wait_for(lambda: self._may_enter(entry[0], key), timeout):
                    return False
                if self._active == 0:
                    self._saved = {name: os.environ.get(name) for name in env}
                    os.environ.update(env)
                    self._current = key
                self._active += 1
                return True
            finally:
                self._waiting.remove(entry)
                self._cond.notify_all()

    def release(self) -> None:
        with self._cond:
            self._active -= 1
            if self._active == 0:
                for name, value in self._saved.items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value
                self._saved, self._current = {}, None
            self._cond.notify_all()


# --------------------------------------------------------------------------- execution


def _resolve(ref: str) -> Callable[..., Any]:
    module, attr = _split_ref(ref)
    target = getattr(importlib.import_module(module), attr)
    if not callable(target):
        raise TypeError(f"{ref} is not callable")
    return cast(Callable[..., Any], target)


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
class _Outcome:
    ok: bool
    body: bytes = b""
    error: dict[str, Any] | None = None
    timed_out: bool = False
    log: bytes = b""
    duration_ms: float = 0.0


@dataclass
class _Function:
    spec: FunctionSpec
    init_lock: threading.Lock = field(default_factory=threading.Lock)
    initialized: bool = False


class _Attempt:
    """Hand-off between the caller and the handler thread of one attempt."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started = threading.Event()  # environment acquired: the timeout clock starts
        self.done = threading.Event()
        self.buffer: _LogBuffer | None = None
        self.outcome: _Outcome | None = None
        self.abandoned = False
        self.on_late: Callable[[_Outcome], None] | None = None


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


# --------------------------------------------------------------------------- the emulator


class FcEmulator:
    """In-process Function Compute: registered Python functions behind FC's invoke API."""

    retry_backoff_seconds: float = 0.1  # real time before the first async retry; doubles after
    max_retry_backoff_seconds: float = 2.0

    def __init__(
        self,
        config: Callable[[], EmulatorConfig],
        clock: Clock,
        region: str = "cn-shanghai",
        *,
        async_workers: int = 4,
        max_queued: int = 10_000,
        max_records: int = 10_000,
    ) -> None:
        self._config = config
        self._clock = clock
        self.region = region
        self._async_workers = max(1, async_workers)
        self._max_queued = max_queued
        self._lock = threading.Lock()  # functions and records
        self._functions: dict[tuple[str, str], _Function] = {}
        self._records: deque[dict[str, Any]] = deque(maxlen=max_records)
        self._failures: deque[dict[str, Any]] = deque(maxlen=max_records)
        self._gate = _EnvGate()
        self._queue = threading.Condition()  # heap, running count, workers
        self._heap: list[tuple[float, int, _AsyncItem]] = []
        self._seq = itertools.count()
        self._running = 0
        self._generation = 0
        self._epoch = 0  # shutdown() bumps it: workers of an older epoch exit
        self._workers: list[threading.Thread] = []

    # ----- registry and records

    def register(self, spec: FunctionSpec) -> None:
        """Add or replace a function; replacing it means a fresh instance (initializer runs again)."""
        with self._lock:
            self._functions[(spec.service, spec.name)] = _Function(spec)

    def functions(self) -> list[FunctionSpec]:
        with self._lock:
            return [fn.spec for fn in self._functions.values()]

    def invocations(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._records))

    def async_failures(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._failures))

    def wait_idle(self, timeout: float) -> bool:
        """Block until no async work is queued or running (abandoned timed-out threads aside)."""
        with self._queue:
            return self._queue.wait_for(lambda: not self._heap and self._running == 0, timeout)

    def reset(self) -> None:
        with self._queue:
            self._generation += 1  # attempts in flight neither retry nor record failures
            self._heap.clear()
            self._queue.notify_all()
        with self._lock:
            self._functions.clear()
            self._records.clear()
            self._failures.clear()

    def shutdown(self) -> None:
        """Stop the workers and cancel queued work; a later async call starts new workers."""
        with self._queue:
            self._epoch += 1
            workers, self._workers = self._workers, []
            dropped = [item for _, _, item in self._heap]
            self._heap.clear()
            self._queue.notify_all()
        for worker in workers:
            # one busy in a handler exits after its attempt (at most the function timeout)
            worker.join(timeout=5)
        with self._lock:
            for item in dropped:
                item.record["status"] = "Cancelled"

    # ----- HTTP

    def handles(self, path: str) -> bool:
        return path.startswith(f"/{API_VERSION}/")

    def dispatch(self, request: Request) -> Response:
        request_id = new_request_id()
        try:
            return self._dispatch(request, request_id)
        except FcApiError as err:
            return self._error(err, request_id)
        except Exception:
            # the SDK crashes on non-JSON error bodies: never let werkzeug answer a bare 500
            log.exception("fc emulator: unexpected error on %s %s", request.method, request.path)
            return self._error(FcApiError("InternalServerError"), request_id)

    @staticmethod
    def _error(err: FcApiError, request_id: str) -> Response:
        body = json.dumps({"ErrorCode": err.code, "ErrorMessage": err.message})
        resp = Response(body, status=err.status, content_type="application/json")
        resp.headers["X-Fc-Request-Id"] = request_id
        return resp

    def _dispatch(self, request: Request, request_id: str) -> Response:
        match = _INVOKE_PATH.match(request.path)
        if match is None or request.method != "POST":
            raise FcApiError("PathNotSupported", request.method, request.path)
        if request.content_length is not None and request.content_length <= MAX_SYNC_PAYLOAD:
            # read before answering anything: an unread body can reset the client's connection
            request.get_data()
        config = self._config()
        credential = self._authenticate(request, config)
        service, function = match["service"], match["function"]
        qualifier = match["qualifier"] or LATEST
        fn = self._lookup(service, qualifier, function)
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

    def _authenticate(self, request: Request, config: EmulatorConfig) -> Credential:
        authorization = request.headers.get("Authorization")
        if not authorization:
            raise FcApiError("MissingRequiredHeader", "Authorization")
        if not request.headers.get("Date"):
            raise FcApiError("MissingRequiredHeader", "Date")
        match = _AUTHORIZATION.match(authorization.strip())
        if match is None:
            raise FcApiError("InvalidArgument", "the Authorization header must be 'FC <AccessKeyID>:<Signature>'")
        access_key_id, signature = match.groups()
        credential = config.credential(access_key_id)
        if credential is None or not credential.enabled:
            raise FcApiError("InvalidAccessKeyID", access_key_id)
        queries = {key: request.args.getlist(key) for key in request.args} or None
        expected = sign(
            credential.access_key_secret,
            string_to_sign(request.method, request.path, dict(request.headers.items()), queries),
        )
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise FcApiError("SignatureNotMatch")
        if credential.security_token is not None:
            # FC has no documented code for STS token problems; AccessDenied is its generic 403
            token = request.headers.get("x-fc-security-token")
            if token is None:
                raise FcApiError("AccessDenied", f"the security token is required for STS access key '{access_key_id}'")
            if not hmac.compare_digest(token.encode(), credential.security_token.encode()):
                raise FcApiError("AccessDenied", "the security token included in the request is invalid")
        return credential

    def _lookup(self, service: str, qualifier: str, function: str) -> _Function:
        with self._lock:
            in_service = [fn for (svc, _), fn in self._functions.items() if svc == service]
            fn = self._functions.get((service, function))
        if not in_service:
            raise FcApiError("ServiceNotFound", service)
        # an alias/version belongs to the service and reaches every function in it
        if qualifier != LATEST and all(f.spec.qualifier != qualifier for f in in_service):
            raise FcApiError("VersionNotFound" if qualifier.isdigit() else "AliasNotFound", qualifier, service)
        if fn is None:
            raise FcApiError("FunctionNotFound", function, service)
        return fn

    # ----- invocation

    def _new_record(self, fn: FunctionSpec, qualifier: str, request_id: str, kind: str, size: int) -> dict[str, Any]:
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
        with self._lock:
            self._records.append(record)
        return record

    def _invoke_sync(self, fn: _Function, qualifier: str, payload: bytes, request_id: str, tail: bool) -> Response:
        record = self._new_record(fn.spec, qualifier, request_id, "Sync", len(payload))
        outcome = self._attempt(fn, qualifier, payload, request_id, record)
        with self._lock:
            record["status"] = "Succeeded" if outcome.ok else "Failed"
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

    def _invoke_async(self, fn: _Function, qualifier: str, payload: bytes, request_id: str) -> Response:
        record = self._new_record(fn.spec, qualifier, request_id, "Async", len(payload))
        with self._queue:
            full = len(self._heap) >= self._max_queued
            if not full:
                self._enqueue_locked(fn, qualifier, payload, request_id, record)
        if full:
            with self._lock:
                record["status"] = "Rejected"
            raise FcApiError("ResourceExhausted", f"more than {self._max_queued} async invocations are queued")
        resp = Response(b"", status=202)
        resp.headers["X-Fc-Request-Id"] = request_id
        return resp

    def _enqueue_locked(
        self, fn: _Function, qualifier: str, payload: bytes, request_id: str, record: dict[str, Any]
    ) -> None:
        """Called with ``self._queue`` held."""
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

    def _start_workers(self) -> None:
        """Called with ``self._queue`` held."""
        self._workers = [w for w in self._workers if w.is_alive()]
        while len(self._workers) < self._async_workers:
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
                    if self._heap:
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
                with self._lock:
                    item.record["status"] = "Cancelled"

    def _process(self, item: _AsyncItem) -> float | None:
        """Run one async attempt; return the backoff before a retry, or None when finished."""
        with self._lock:
            fn = self._functions.get(item.key)
        if fn is None:  # unregistered by reset() meanwhile
            with self._lock:
                item.record["status"] = "Cancelled"
            return None
        spec = fn.spec
        if self._clock.now() - item.enqueued_at > spec.max_async_event_age_seconds:
            self._give_up(item, spec, "EventAgeExceeded", "Expired")
            return None
        with self._lock:
            item.record["status"] = "Running"
        outcome = self._attempt(fn, item.qualifier, item.payload, item.request_id, item.record)
        item.attempts += 1
        if outcome.ok:
            with self._lock:
                item.record["status"] = "Succeeded"
            return None
        if item.attempts <= spec.max_async_retry_attempts:
            with self._lock:
                item.record["status"] = "Retrying"
            return min(self.retry_backoff_seconds * 2.0 ** (item.attempts - 1), self.max_retry_backoff_seconds)
        self._give_up(item, spec, "RetriesExhausted", "Failed")
        return None

    def _give_up(self, item: _AsyncItem, spec: FunctionSpec, reason: str, status: str) -> None:
        with self._queue:
            current = item.generation == self._generation
        with self._lock:
            item.record["status"] = status
            attempts = item.record["attempts"]
            last = attempts[-1] if attempts else None
            if not current:  # reset() meanwhile: the failure belongs to the discarded run
                return
            self._failures.append(
                {
                    "requestId": item.request_id,
                    "service": spec.service,
                    "function": spec.name,
                    "qualifier": item.qualifier,
                    "destination": spec.on_failure,
                    "reason": reason,
                    "lastError": (
                        {"errorType": last["errorType"], "errorMessage": last["errorMessage"]} if last else None
                    ),
                    "attempts": item.attempts,
                    "time": self._clock.now(),
                    "requestPayload": item.payload.decode("utf-8", "replace"),
                }
            )

    def _attempt(
        self, fn: _Function, qualifier: str, payload: bytes, request_id: str, record: dict[str, Any]
    ) -> _Outcome:
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
        with self._lock:
            record["attempts"].append(entry)
        state = _Attempt()
        thread = threading.Thread(
            target=self._run_handler,
            args=(fn, context, payload, state),
            name=f"fc-{spec.service}-{spec.name}-{request_id[:8]}",
            daemon=True,  # a hung handler must not keep the process alive
        )
        thread.start()
        state.started.wait()
        with self._lock:
            entry["start"] = self._clock.now()
        state.done.wait(fn.spec.timeout)

        def late(outcome: _Outcome) -> None:
            with self._lock:
                entry["lateOutcome"] = "Succeeded" if outcome.ok else "Error"
                entry["lateEnd"] = self._clock.now()

        with state.lock:
            result = state.outcome
            if result is None:
                state.abandoned, state.on_late = True, late
                timeout = f"{fn.spec.timeout:g}"
                result = _Outcome(
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
        with self._lock:
            entry.update(
                end=self._clock.now(),
                outcome="Succeeded" if result.ok else ("Timeout" if result.timed_out else "Error"),
                errorType=error.get("errorType"),
                errorMessage=error.get("errorMessage"),
                durationMs=round(result.duration_ms, 3),
            )
        return result

    def _run_handler(self, fn: _Function, context: FcContext, payload: bytes, state: _Attempt) -> None:
        outcome = _Outcome(ok=False, error={"errorMessage": "emulator error", "errorType": "InternalError"})
        acquired = False
        try:
            buf = state.buffer = _CAPTURE.start(context.request_id)
            self._gate.acquire(fn.spec.environment)
            acquired = True
            state.started.set()
            started = time.monotonic()
            buf.write(f"FC Invoke Start RequestId: {context.request_id}\n")
            try:
                self._initialize(fn, context)
                result = _resolve(fn.spec.handler)(payload, context)
                outcome = _Outcome(ok=True, body=_encode_result(result))
            except BaseException as exc:  # handler code may raise anything, SystemExit included
                outcome = _Outcome(ok=False, error=_error_body(exc))
            buf.write(f"FC Invoke End RequestId: {context.request_id}\n")
            outcome.duration_ms = (time.monotonic() - started) * 1000
            outcome.log = buf.tail()
        finally:
            if acquired:
                self._gate.release()
            _CAPTURE.stop()  # a no-op when start() never registered this thread
            state.started.set()
            with state.lock:
                state.outcome = outcome
                late = state.on_late if state.abandoned else None
            state.done.set()
            if late is not None:
                late(outcome)

    @staticmethod
    def _initialize(fn: _Function, context: FcContext) -> None:
        """Once per instance; a failure fails this invocation and the next one tries again."""
        if fn.spec.initializer is None:
            return
        with fn.init_lock:
            if not fn.initialized:
                _resolve(fn.spec.initializer)(context)
                fn.initialized = True
