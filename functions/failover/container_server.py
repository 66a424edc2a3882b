"""FC 2.0 custom-container web server for the replica-failover functions (stdlib only).

Why this exists: Funcraft's only Python runtime is 3.6, so both functions ship as one custom-container
image, and this module stands in for FC's Python runtime inside it. It speaks FC's web-server protocol
on ``CAPort`` (``$FC_SERVER_PORT``, default 9000):

``POST /invoke``       event invocation: ``handler(body: bytes, context)``; 200 + ``x-fc-status: 200`` with
                       the return value, or 404 + ``x-fc-status: 404`` with ``{errorMessage, errorType,
                       stackTrace}``.
``POST /initialize``   runs the initializer ``initialize(context)`` once per instance (idempotent).
anything else          with ``--http-handler``: passed to that WSGI callable (HTTP trigger), with
                       ``environ['fc.context']`` and ``environ['fc.request_uri']`` like FC's Python runtime.

FC also says which of those a request is in the ``x-fc-control-path`` header (``/invoke``,
``/initialize``, ``/http-invoke``, ``/pre-stop``, ``/pre-freeze``); when present it wins over the path,
so an HTTP-trigger request to ``/invoke`` still reaches the WSGI app.

The context mirrors FC's Python context attribute names (``context.credentials.access_key_id``,
``context.function.timeout``, ``context.service.name``, ``context.region``, ``context.account_id`` ...),
built from the ``x-fc-*`` request headers.

Logging: one JSON object per line on stdout (FC ships stdout to the service Logstore). Request headers,
bodies and query strings are never logged: they carry the STS secret/token and, for the webhook, the
shared secret. Everything the server writes - its own lines, the root logger's records (the SDKs log
signed URLs and credential headers at ERROR) and FC error bodies - is redacted by
``replica_failover.redact``, which also learns each request's context credentials. That module ships
beside this one (stdlib only as well) and is looked up at run time, so the server itself imports
nothing but the standard library and still runs, unredacted, without it.

Run from the code directory: ``python -m container_server --handler index.handler``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import importlib
import io
import json
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import TYPE_CHECKING, Any, Final, TextIO

if TYPE_CHECKING:  # wsgiref.types only exists at runtime from 3.11; typeshed has it for every version
    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment

__all__ = [
    "ContainerApp",
    "ContainerServer",
    "Credentials",
    "FCContext",
    "FunctionMeta",
    "HandlerRef",
    "JsonLog",
    "Response",
    "ServiceMeta",
    "Tracing",
    "build_context",
    "main",
    "make_server",
]

DEFAULT_PORT: Final = 9000
MAX_BODY_BYTES: Final = 16 * 1024 * 1024  # FC caps sync payloads at 32 MB; nothing legitimate here is > 1 MB
# FC's own defaults, used only when neither the x-fc-* header nor the FC_* variable is present
# (e.g. a bare `docker run` + curl); real FC always sends the headers.
DEFAULT_TIMEOUT_SECONDS: Final = 3
DEFAULT_MEMORY_MB: Final = 128
SOCKET_TIMEOUT_SECONDS: Final = 30  # a client that stalls mid-request must not pin a thread forever

# Never logged, never copied into the WSGI environ (the context carries them).
SECRET_HEADERS: Final = frozenset({"x-fc-access-key-secret", "x-fc-security-token"})
_HOP_BY_HOP: Final = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection",
     "content-length"}
)  # fmt: skip
_SPEC_RE: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
_MAX_CHUNK_LINE: Final = 1024
_MAX_TRAILERS: Final = 64


# --------------------------------------------------------------------------------------------------
# redaction

_redact_module: Any = None


def _redaction() -> Any:
    """``replica_failover.redact`` once importable (the code directory is on sys.path), else None."""
    global _redact_module  # noqa: PLW0603 - a lazily found module, looked up again until it is found
    if _redact_module is None:
        with contextlib.suppress(ImportError):
            _redact_module = importlib.import_module("replica_failover.redact")
    return _redact_module


def redact_text(text: str) -> str:
    r = _redaction()
    return text if r is None else str(r.redact_text(text))


def redact(value: Any) -> Any:
    r = _redaction()
    return value if r is None else r.redact(value)


def register(*values: str) -> None:
    r = _redaction()
    if r is not None:
        r.register(*values)


def install_logging() -> None:
    r = _redaction()
    if r is not None:
        r.install_logging()


# --------------------------------------------------------------------------------------------------
# logging


class JsonLog:
    """Writes one JSON object per line. Thread-safe; the stream is looked up per call so tests and
    ``contextlib.redirect_stdout`` see the lines."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def emit(self, level: str, message: str, **fields: Any) -> None:
        record: dict[str, Any] = {
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": level,
            "logger": "container_server",
            "message": message,
        }
        record.update({k: v for k, v in fields.items() if v is not None})
        line = redact_text(json.dumps(redact(record), ensure_ascii=False, default=str, separators=(",", ":")))
        stream = self._stream if self._stream is not None else sys.stdout
        with self._lock:
            try:
                stream.write(line + "\n")
                stream.flush()
            except (OSError, ValueError):  # closed/broken stdout must not take a request down
                pass

    def info(self, message: str, **fields: Any) -> None:
        self.emit("INFO", message, **fields)

    def warning(self, message: str, **fields: Any) -> None:
        self.emit("WARNING", message, **fields)

    def error(self, message: str, **fields: Any) -> None:
        self.emit("ERROR", message, **fields)


_request_local = threading.local()


def current_request_id() -> str | None:
    """The FC request id of the invocation running on this thread, if any."""
    value = getattr(_request_local, "request_id", None)
    return value if isinstance(value, str) else None


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.requestId = current_request_id() or ""
        return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "requestId": getattr(record, "requestId", "") or None,
        }
        if record.exc_info:
            # exc_text is the redacted one when the redacting filter has seen the record
            out["exception"] = record.exc_text or self.formatException(record.exc_info)
        line = json.dumps({k: v for k, v in out.items() if v is not None}, ensure_ascii=False, default=str)
        return redact_text(line)


def configure_root_logging(level: int = logging.INFO) -> None:
    """Like FC's Python runtime, make ``logging.getLogger().info(...)`` reach stdout with the request id,
    but as JSON. Leaves an already configured root logger alone, but redacts it either way."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(_JsonFormatter())
        handler.addFilter(_RequestIdFilter())
        root.addHandler(handler)
        root.setLevel(level)
    install_logging()


# --------------------------------------------------------------------------------------------------
# FC context (attribute names as in FC's Python 3 runtime)


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    # repr=False: a logged context must not print the STS secret or token
    access_key_secret: str = field(repr=False)
    security_token: str = field(repr=False)


@dataclass(frozen=True)
class FunctionMeta:
    name: str
    handler: str
    memory: int  # MB
    timeout: int  # seconds


@dataclass(frozen=True)
class ServiceMeta:
    name: str
    log_project: str
    log_store: str
    qualifier: str
    version_id: str


@dataclass(frozen=True)
class Tracing:
    span_context: str
    jaeger_endpoint: str
    span_baggages: str

    def parseOpenTracingBaggages(self) -> dict[str, str]:
        """Decode the base64 JSON baggage header; an unreadable one is treated as empty."""
        if not self.span_baggages:
            return {}
        try:
            parsed = json.loads(base64.b64decode(self.span_baggages, validate=True))
        except (binascii.Error, ValueError):
            return {}
        if not isinstance(parsed, dict):
            return {}
        return {str(k): str(v) for k, v in parsed.items()}


@dataclass(frozen=True)
class FCContext:
    request_id: str
    credentials: Credentials
    function: FunctionMeta
    service: ServiceMeta
    region: str
    account_id: str
    tracing: Tracing

    def getLogger(self) -> logging.LoggerAdapter[logging.Logger]:
        """FC recommends this logger when several requests share an instance; the id rides along."""
        return logging.LoggerAdapter(logging.getLogger("fc"), {"requestId": self.request_id})


def _text(headers: Mapping[str, str], name: str, env: str | None = None) -> str:
    value = headers.get(name)
    if value is None and env is not None:
        value = os.environ.get(env)
    return (value or "").strip()


def _int(headers: Mapping[str, str], name: str, env: str, default: int) -> int:
    raw = _text(headers, name, env)
    try:
        value = int(raw, 10)
    except ValueError:
        return default
    return value if value > 0 else default


def build_context(headers: Mapping[str, str], request_id: str | None = None) -> FCContext:
    """Build the context from lower-cased ``x-fc-*`` headers. Metadata falls back to the ``FC_*``
    variables that ``fun local`` sets; credentials come only from headers (the library falls back to
    ``ALIBABA_CLOUD_*`` itself), so an unset header never picks up a stray key from the environment."""
    rid = request_id or _text(headers, "x-fc-request-id") or str(uuid.uuid4())
    # whatever the handler does with these (an SDK error, a log line), they never reach an output
    register(
        _text(headers, "x-fc-access-key-id"),
        _text(headers, "x-fc-access-key-secret"),
        _text(headers, "x-fc-security-token"),
    )
    return FCContext(
        request_id=rid,
        credentials=Credentials(
            access_key_id=_text(headers, "x-fc-access-key-id"),
            access_key_secret=_text(headers, "x-fc-access-key-secret"),
            security_token=_text(headers, "x-fc-security-token"),
        ),
        function=FunctionMeta(
            name=_text(headers, "x-fc-function-name", "FC_FUNCTION_NAME"),
            handler=_text(headers, "x-fc-function-handler", "FC_HANDLER"),
            memory=_int(headers, "x-fc-function-memory", "FC_MEMORY_SIZE", DEFAULT_MEMORY_MB),
            timeout=_int(headers, "x-fc-function-timeout", "FC_TIMEOUT", DEFAULT_TIMEOUT_SECONDS),
        ),
        service=ServiceMeta(
            name=_text(headers, "x-fc-service-name", "FC_SERVICE_NAME"),
            log_project=_text(headers, "x-fc-service-logproject", "FC_SERVICE_LOG_PROJECT"),
            log_store=_text(headers, "x-fc-service-logstore", "FC_SERVICE_LOG_STORE"),
            qualifier=_text(headers, "x-fc-qualifier"),
            version_id=_text(headers, "x-fc-version-id"),
        ),
        region=_text(headers, "x-fc-region", "FC_REGION"),
        account_id=_text(headers, "x-fc-account-id", "FC_ACCOUNT_ID"),
        tracing=Tracing(
            span_context=_text(headers, "x-fc-tracing-opentracing-span-context"),
            jaeger_endpoint=_text(headers, "x-fc-tracing-jaeger-endpoint"),
            span_baggages=_text(headers, "x-fc-tracing-opentracing-span-baggages"),
        ),
    )


# --------------------------------------------------------------------------------------------------
# handlers


class HandlerRef:
    """A ``module.attr`` reference, imported on first use and cached (thread-safe)."""

    def __init__(self, spec: str) -> None:
        if not _SPEC_RE.match(spec):
            raise ValueError(f"handler must look like module.function, got {spec!r}")
        self.spec = spec
        self.module, _, self.attr = spec.rpartition(".")
        self._target: Callable[..., Any] | None = None
        self._lock = threading.Lock()

    def resolve(self) -> Callable[..., Any]:
        with self._lock:
            if self._target is None:
                module = importlib.import_module(self.module)
                target = getattr(module, self.attr, None)
                if target is None:
                    raise AttributeError(f"module {self.module!r} has no attribute {self.attr!r}")
                if not callable(target):
                    raise TypeError(f"{self.spec} is not callable")
                self._target = target
            return self._target


def encode_result(result: object) -> tuple[bytes, str]:
    """bytes as-is, str as UTF-8, None as empty, everything else (dict/list/...) as JSON."""
    if result is None:
        return b"", "application/octet-stream"
    if isinstance(result, bytes | bytearray | memoryview):
        return bytes(result), "application/octet-stream"
    if isinstance(result, str):
        return result.encode("utf-8"), "text/plain; charset=utf-8"
    text = json.dumps(result, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.encode("utf-8"), "application/json"


def error_body(exc: BaseException) -> dict[str, Any]:
    """FC's Python runtime error shape, redacted: the caller and FC's logs see it."""
    frames = traceback.extract_tb(exc.__traceback__)
    body: dict[str, Any] = redact(
        {
            "errorMessage": str(exc),
            "errorType": type(exc).__name__,
            "stackTrace": [[f'File "{f.filename}"', f"line {f.lineno}", f"in {f.name}", f.line or ""] for f in frames],
        }
    )
    return body


# --------------------------------------------------------------------------------------------------
# the application (transport-free, so it can be tested and reasoned about without sockets)


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    close: bool = False  # close the connection afterwards (e.g. the request body was not read)


def _json_response(status: int, payload: Mapping[str, Any], *, fc_status: int | None = None) -> Response:
    headers = [("Content-Type", "application/json")]
    if fc_status is not None:
        headers.append(("x-fc-status", str(fc_status)))
    return Response(status, headers, json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8"))


def _failure(exc: BaseException) -> Response:
    return _json_response(404, error_body(exc), fc_status=404)


@dataclass
class Request:
    method: str
    target: str  # raw request target: path + optional ?query
    headers: list[tuple[str, str]]  # as received (duplicates kept)
    body: bytes
    client: tuple[str, int] = ("", 0)
    server: tuple[str, int] = ("", 0)
    protocol: str = "HTTP/1.1"

    @property
    def lower_headers(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, value in self.headers:
            key = name.lower()
            out[key] = f"{out[key]},{value}" if key in out else value
        return out

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> str:
        return self.target.split("?", 1)[1] if "?" in self.target else ""


class ContainerApp:
    """Routes FC's control requests and HTTP-trigger requests to the configured Python callables."""

    def __init__(
        self,
        *,
        handler: str | None = None,
        initializer: str | None = None,
        http_handler: str | None = None,
        log: JsonLog | None = None,
    ) -> None:
        if handler is None and http_handler is None:
            raise ValueError("configure --handler and/or --http-handler")
        self.handler = HandlerRef(handler) if handler else None
        self.initializer = HandlerRef(initializer) if initializer else None
        self.http_handler = HandlerRef(http_handler) if http_handler else None
        self.log = log or JsonLog()
        self._init_lock = threading.Lock()
        self._initialized = False

    @property
    def initialized(self) -> bool:
        return self._initialized

    def warm_up(self) -> None:
        """Import the handlers at start-up so the first invocation does not pay for it. A failure is
        only logged: the server keeps running and reports the import error per invocation, which FC
        shows to the caller, instead of a container that dies before anyone sees why."""
        for ref in (self.handler, self.initializer, self.http_handler):
            if ref is None:
                continue
            try:
                ref.resolve()
            except Exception as exc:
                self.log.error("handler import failed", handler=ref.spec, errorType=type(exc).__name__,
                               errorMessage=str(exc))  # fmt: skip

    def route(self, request: Request) -> str:
        control = request.lower_headers.get("x-fc-control-path", "").strip()
        if control:
            return {
                "/invoke": "invoke",
                "/initialize": "initialize",
                "/http-invoke": "http",
                "/pre-stop": "lifecycle",
                "/pre-freeze": "lifecycle",
            }.get(control, "unknown")
        if request.method == "POST" and request.path == "/initialize":
            return "initialize"
        if request.method == "POST" and request.path == "/invoke" and self.handler is not None:
            return "invoke"
        return "http" if self.http_handler is not None else "unknown"

    def handle(self, request: Request, route: str, context: FCContext) -> Response:
        if route == "invoke":
            return self._invoke(request, context)
        if route == "initialize":
            return self._initialize(context)
        if route == "http":
            return self._http(request, context)
        if route == "lifecycle":  # no PreStop/PreFreeze hooks are configured; acknowledge
            return Response(200, [("x-fc-status", "200")], b"")
        return _json_response(
            404,
            {"errorMessage": f"no route for {request.method} {request.path}", "errorType": "RouteNotFound"},
            fc_status=404,
        )

    def _ensure_initialized(self, context: FCContext) -> None:
        """Run the initializer exactly once; callers that arrive meanwhile wait. A failed run is not
        remembered as done, so a retried /initialize (or the next /invoke) tries again."""
        if self.initializer is None or self._initialized:
            return
        with self._init_lock:
            if self._initialized:
                return
            self.initializer.resolve()(context)
            self._initialized = True

    def _initialize(self, context: FCContext) -> Response:
        try:
            self._ensure_initialized(context)
        except (Exception, SystemExit) as exc:
            return _failure(exc)
        return Response(200, [("x-fc-status", "200")], b"")

    def _invoke(self, request: Request, context: FCContext) -> Response:
        if self.handler is None:  # only reachable through x-fc-control-path: /invoke
            return _json_response(
                404, {"errorMessage": "no event handler configured", "errorType": "HandlerNotConfigured"},
                fc_status=404,
            )  # fmt: skip
        try:
            # FC sends /initialize first when an Initializer is configured; this also covers callers
            # that do not (a bare curl), so the handler never runs on an uninitialised instance.
            self._ensure_initialized(context)
            result = self.handler.resolve()(request.body, context)
            body, content_type = encode_result(result)
        except (Exception, SystemExit) as exc:
            return _failure(exc)
        return Response(200, [("Content-Type", content_type), ("x-fc-status", "200")], body)

    def _http(self, request: Request, context: FCContext) -> Response:
        assert self.http_handler is not None  # route() only picks "http" when configured
        environ = build_environ(request, context)
        state: dict[str, Any] = {}
        chunks: list[bytes] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            if "status" in state and exc_info is None:
                raise AssertionError("start_response called twice without exc_info")
            state["status"] = status
            state["headers"] = list(headers)

            def write(data: bytes) -> object:
                chunks.append(bytes(data))
                return None

            return write

        try:
            app: WSGIApplication = self.http_handler.resolve()
            result: Iterable[bytes] = app(environ, start_response)
            try:
                chunks.extend(bytes(chunk) for chunk in result)
            finally:
                close = getattr(result, "close", None)
                if callable(close):
                    close()
            if "status" not in state:
                raise RuntimeError("WSGI application returned without calling start_response")
            code = int(str(state["status"]).split(" ", 1)[0])
            if not 100 <= code <= 599:
                raise ValueError(f"invalid WSGI status {state['status']!r}")
        except (Exception, SystemExit) as exc:
            # The HTTP trigger is anonymous: the caller gets no stack trace, the log does.
            self.log.error(
                "http handler failed", requestId=context.request_id, errorType=type(exc).__name__,
                errorMessage=str(exc), stackTrace=traceback.format_exception(exc),
            )  # fmt: skip
            return _json_response(
                500, {"errorMessage": "internal error", "requestId": context.request_id}, fc_status=404
            )
        headers = [(k, v) for k, v in state["headers"] if k.lower() not in _HOP_BY_HOP]
        return Response(code, headers, b"".join(chunks))


def build_environ(request: Request, context: FCContext) -> WSGIEnvironment:
    """PEP 3333 environ for an HTTP-trigger request, plus FC's ``fc.context`` / ``fc.request_uri``."""
    lower = request.lower_headers
    raw_path = request.path or "/"
    script_name = ""
    # FC tells the proxy prefix (/2016-08-15/proxy/<service>/<function>/) in x-fc-base-path; the app
    # should see only its own path, as with FC's Python runtime.
    base = lower.get("x-fc-base-path", "").rstrip("/")
    if base:
        script_name = base
        if raw_path == base or raw_path.startswith(base + "/"):
            raw_path = raw_path[len(base) :] or "/"
    scheme = lower.get("x-forwarded-proto", "http").split(",")[0].strip() or "http"
    host = lower.get("host") or f"{request.server[0]}:{request.server[1]}"
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": urllib.parse.unquote(script_name, "latin-1"),
        "PATH_INFO": urllib.parse.unquote(raw_path, "latin-1"),
        "QUERY_STRING": request.query,
        "CONTENT_TYPE": lower.get("content-type", ""),
        "CONTENT_LENGTH": str(len(request.body)),
        "SERVER_NAME": request.server[0],
        "SERVER_PORT": str(request.server[1]),
        "SERVER_PROTOCOL": request.protocol,
        "REMOTE_ADDR": request.client[0],
        "REMOTE_PORT": str(request.client[1]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": io.BytesIO(request.body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
        "fc.context": context,
        "fc.request_uri": f"{scheme}://{host}{request.target}",
    }
    for name, value in lower.items():
        # Headers with '_' are dropped (as wsgiref does) so "x_fc_foo" cannot spoof HTTP_X_FC_FOO;
        # credential headers stay out of the environ: the context has them and environs get logged.
        if "_" in name or name in SECRET_HEADERS or name in {"content-type", "content-length"}:
            continue
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


# --------------------------------------------------------------------------------------------------
# HTTP transport


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _read_chunked(rfile: io.BufferedIOBase, limit: int) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        line = rfile.readline(_MAX_CHUNK_LINE)
        if not line.endswith(b"\n"):
            raise _BadRequest(400, "malformed chunk size line")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise _BadRequest(400, "malformed chunk size") from None
        if size < 0:
            raise _BadRequest(400, "malformed chunk size")
        if size == 0:
            for _ in range(_MAX_TRAILERS):
                trailer = rfile.readline(_MAX_CHUNK_LINE)
                if trailer in (b"\r\n", b"\n", b""):
                    return b"".join(parts)
            raise _BadRequest(400, "too many trailer lines")
        total += size
        if total > limit:
            raise _BadRequest(413, f"request body exceeds {limit} bytes")
        data = rfile.read(size)
        if len(data) != size or rfile.read(2) not in (b"\r\n",):
            raise _BadRequest(400, "truncated chunk")
        parts.append(data)


class _RequestHandler(BaseHTTPRequestHandler):
    server: ContainerServer
    protocol_version = "HTTP/1.1"  # keep-alive: FC reuses the connection between invocations
    server_version = "replica-failover-container"
    sys_version = ""
    timeout = SOCKET_TIMEOUT_SECONDS
    # http.server's own error page (bad request line, oversized headers) as JSON; %(message)s is left
    # out because it quotes the request line, query string and all.
    error_message_format = '{"errorMessage": "%(explain)s", "errorType": "BadRequest", "status": %(code)d}'
    error_content_type = "application/json"

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        # http.server's own messages (malformed request lines, timeouts) would quote the request line,
        # query string included; log the template only.
        self.server.app.log.warning("http protocol error", detail=format)

    def _read_body(self) -> bytes:
        encoding = (self.headers.get("Transfer-Encoding") or "").strip().lower()
        length_header = self.headers.get("Content-Length")
        limit = self.server.max_body_bytes
        if encoding:
            if encoding != "chunked" or length_header is not None:  # request smuggling guard
                raise _BadRequest(400, "unsupported Transfer-Encoding")
            return _read_chunked(self.rfile, limit)
        if length_header is None:
            return b""
        try:
            length = int(length_header.strip(), 10)
        except ValueError:
            raise _BadRequest(400, "invalid Content-Length") from None
        if length < 0:
            raise _BadRequest(400, "invalid Content-Length")
        if length > limit:
            raise _BadRequest(413, f"request body exceeds {limit} bytes")
        body = self.rfile.read(length)
        if len(body) != length:
            raise _BadRequest(400, "request body shorter than Content-Length")
        return body

    def _dispatch(self) -> None:
        app = self.server.app
        started = time.monotonic()
        method = self.command
        path = self.path.split("?", 1)[0]
        header_pairs = [(k, str(v)) for k, v in self.headers.items()]
        request_id = (self.headers.get("x-fc-request-id") or "").strip() or str(uuid.uuid4())
        route = "rejected"
        bytes_in = 0
        try:
            try:
                body = self._read_body()
            except _BadRequest as exc:
                response = _json_response(
                    exc.status, {"errorMessage": str(exc), "errorType": "BadRequest"}, fc_status=404
                )
                response.close = True  # the unread body would otherwise be parsed as the next request
            else:
                bytes_in = len(body)
                request = Request(
                    method=method, target=self.path, headers=header_pairs, body=body,
                    client=(str(self.client_address[0]), int(self.client_address[1])),
                    server=(str(self.server.server_address[0]), int(self.server.server_address[1])),
                    protocol=self.request_version,
                )  # fmt: skip
                route = app.route(request)
                context = build_context(request.lower_headers, request_id)
                _request_local.request_id = request_id
                try:
                    response = app.handle(request, route, context)
                finally:
                    _request_local.request_id = None
        except Exception as exc:  # a bug here must cost one request, never the server
            app.log.error("request failed", requestId=request_id, errorType=type(exc).__name__)
            response = _json_response(500, {"errorMessage": "internal error", "requestId": request_id}, fc_status=404)
            response.close = True
        fields: dict[str, Any] = {
            "requestId": request_id, "route": route, "method": method, "path": path,
            "status": response.status, "bytesIn": bytes_in, "bytesOut": len(response.body),
            "durationMs": round((time.monotonic() - started) * 1000, 1),
        }  # fmt: skip
        if route in ("invoke", "initialize") and response.status != 200:
            with contextlib.suppress(ValueError, AttributeError):
                fields["errorType"] = json.loads(response.body).get("errorType")
        app.log.info("request", **fields)
        self._send(response)

    def _send(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            for name, value in response.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            if response.close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if self.command != "HEAD" and response.body:
                self.wfile.write(response.body)
            self.wfile.flush()
        except OSError:  # client went away; nothing to tell it
            self.close_connection = True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return  # _dispatch logs one JSON line per request instead of the Apache-style line


class ContainerServer(ThreadingHTTPServer):
    daemon_threads = True  # in-flight requests must not block shutdown on SIGTERM
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: ContainerApp, *, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        super().__init__(address, _RequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Default prints a traceback to stderr; keep it on one JSON line instead.
        exc = sys.exc_info()[1]
        if isinstance(exc, socket.timeout | ConnectionError):
            return
        self.app.log.error("connection error", errorType=type(exc).__name__ if exc else None)


def make_server(
    app: ContainerApp, host: str = "127.0.0.1", port: int = 0, *, max_body_bytes: int = MAX_BODY_BYTES
) -> ContainerServer:
    return ContainerServer((host, port), app, max_body_bytes=max_body_bytes)


# --------------------------------------------------------------------------------------------------
# command line


def _spec(value: str) -> str:
    if not _SPEC_RE.match(value):
        raise argparse.ArgumentTypeError(f"expected module.function, got {value!r}")
    return value


def _port(value: str) -> int:
    try:
        port = int(value, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {port}")
    return port


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m container_server",
        description="FC 2.0 custom-container web server calling FC-style Python handlers.",
    )
    parser.add_argument("--handler", type=_spec, help="event handler module.function, e.g. index.handler")
    parser.add_argument("--initializer", type=_spec, help="initializer module.function, run once")
    parser.add_argument("--http-handler", type=_spec, help="WSGI app module.function for HTTP triggers")
    parser.add_argument("--host", default="0.0.0.0", help="listen address (default 0.0.0.0)")  # noqa: S104
    parser.add_argument(
        "--port", type=_port, default=None, help=f"listen port (default $FC_SERVER_PORT or {DEFAULT_PORT})"
    )
    parser.add_argument("--code-dir", default=".", help="directory the handlers are imported from")
    args = parser.parse_args(argv)
    if args.handler is None and args.http_handler is None:
        parser.error("at least one of --handler / --http-handler is required")
    if args.port is None:
        try:
            args.port = _port(os.environ.get("FC_SERVER_PORT") or str(DEFAULT_PORT))
        except argparse.ArgumentTypeError as exc:
            parser.error(f"FC_SERVER_PORT: {exc}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    code_dir = os.path.abspath(args.code_dir)
    # Not chaos.template.ensure_importable: this server ships in the image alone, stdlib only.
    if code_dir not in sys.path:
        sys.path.insert(0, code_dir)
    configure_root_logging()
    log = JsonLog()
    app = ContainerApp(handler=args.handler, initializer=args.initializer, http_handler=args.http_handler, log=log)
    app.warm_up()
    server = make_server(app, args.host, args.port)

    def _stop(signum: int, frame: FrameType | None) -> None:
        # FC sends SIGTERM before reclaiming an instance; shutdown() blocks, so not on this thread.
        log.info("server stopping", signal=signum)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info(
        "server started", host=args.host, port=server.server_address[1], handler=args.handler,
        initializer=args.initializer, httpHandler=args.http_handler, python=sys.version.split()[0],
    )  # fmt: skip
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
