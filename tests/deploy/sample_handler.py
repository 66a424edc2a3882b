"""Handlers for tests/deploy/test_container_server.py, referenced as ``tests.deploy.sample_handler.<name>``.

They report what the container server handed them (event bytes, context fields, WSGI environ) so the
tests can check the FC protocol mapping. ``INIT_CALLS`` counts initializer runs.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

_lock = threading.Lock()
INIT_CALLS: list[str] = []  # request ids the initializer ran for
FAIL_INIT = threading.Event()  # set: the initializer raises


def reset() -> None:
    with _lock:
        INIT_CALLS.clear()
    FAIL_INIT.clear()


def context_fields(context: Any) -> dict[str, Any]:
    return {
        "requestId": context.request_id,
        "accessKeyId": context.credentials.access_key_id,
        "accessKeySecret": context.credentials.access_key_secret,
        "securityToken": context.credentials.security_token,
        "function": {
            "name": context.function.name,
            "handler": context.function.handler,
            "memory": context.function.memory,
            "timeout": context.function.timeout,
        },
        "service": {
            "name": context.service.name,
            "logProject": context.service.log_project,
            "logStore": context.service.log_store,
            "qualifier": context.service.qualifier,
            "versionId": context.service.version_id,
        },
        "region": context.region,
        "accountId": context.account_id,
    }


def handler(event: bytes, context: Any) -> dict[str, Any]:
    return {"eventType": type(event).__name__, "event": event.decode("utf-8"), "context": context_fields(context),
            "initCalls": len(INIT_CALLS)}  # fmt: skip


def fail(event: bytes, context: Any) -> str:
    raise ValueError(f"boom for {context.request_id}")


def text(event: bytes, context: Any) -> str:
    return "héllo"


def raw(event: bytes, context: Any) -> bytes:
    return b"\x00\xffraw"


def nothing(event: bytes, context: Any) -> None:
    return None


def not_json(event: bytes, context: Any) -> object:
    return {"x": object()}


def initialize(context: Any) -> None:
    if FAIL_INIT.is_set():
        raise RuntimeError("init failed")
    with _lock:
        INIT_CALLS.append(context.request_id)


def wsgi_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    keys = ("REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE", "CONTENT_LENGTH",
            "SERVER_PROTOCOL", "fc.request_uri", "wsgi.url_scheme")  # fmt: skip
    report = {k: environ.get(k) for k in keys}
    report["body"] = body.decode("utf-8")
    report["fcRequestId"] = environ["fc.context"].request_id
    report["fcRegion"] = environ["fc.context"].region
    report["httpHeaders"] = sorted(k for k in environ if k.startswith("HTTP_"))
    report["wsgiVersion"] = list(environ["wsgi.version"])
    payload = json.dumps(report).encode("utf-8")
    start_response("201 Created", [("Content-Type", "application/json"), ("X-Sample", "yes"),
                                   ("Connection", "keep-alive")])  # fmt: skip
    return [payload]


def wsgi_crash(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    raise KeyError("secret-internal-detail")
