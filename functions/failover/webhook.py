"""HTTP-triggered receiver for CloudMonitor threshold-alert callbacks (Handler ``webhook.handler``).

CloudMonitor POSTs the callback (form-encoded, 5 s timeout, retried), and cannot sign FC requests,
so the trigger is anonymous and a shared secret in the callback URL (``?token=``) or the
``X-Webhook-Token`` header authenticates it, compared in constant time. An unset secret rejects
everything (fail closed).

Only threshold-alert callbacks pass, recognised by the same model and rules the failover function
uses (``replica_failover.intake.parse_alert_callback``): manual events, system events, EventBridge
and MNS payloads are refused here, so a leaked URL cannot be used to request a manual failover. An
accepted callback is handed to the failover function by an *async* invocation signed with the
context's STS credentials, so FC's async retry policy and on-failure destination apply. The
invocation is one HTTP request with no retries, bounded to about 3.5 s in total (1.5 s to connect,
then 2 s for FC's answer), well inside CloudMonitor's 5 s; CloudMonitor's own retries cover a miss.

``FC_API_VERSION`` picks the API: ``2016-08-15`` (FC 2.0, the default: Funcraft's template.yml)
sends the request with the stdlib, signed by aliyun-fc2's signer; ``2023-03-30`` (FC 3.0, s.yaml)
sends it through alibabacloud-fc20230330 (ACS3-signed, imported only on that path), with the SDK's
retries off and its connect/read timeouts set from the same budget.

Answers (JSON bodies; ``reasonCode`` is one of replica_failover.errors.EVENT_REASON_CODES):

- 202 ``{"accepted": true, "invocationRequestId": ...}``: FC accepted the async invocation.
- 400 ``{"error", "reasonCode"}``: a non-numeric Content-Length; a body that is empty, not UTF-8,
  malformed JSON or form, repeats a JSON key or form field, is nested deeper than 16 levels, is not
  a JSON object, or is not a threshold-alert callback (no ``alertState``, a manual/system/EventBridge/
  MNS event, or a field that fails validation). Nothing is invoked.
- 401: missing or wrong token, or no WEBHOOK_SECRET configured. Nothing is invoked.
- 405: not a POST. 413: a body over 64 KiB (declared or actual). Nothing is invoked.
- 500: no FC context (not running under FC), or FC_API_VERSION is neither API. Nothing is invoked.
- 502: FC refused, timed out or answered anything but 2xx; CloudMonitor retries the callback.

Environment: WEBHOOK_SECRET; FC_API_VERSION [2016-08-15] (or 2023-03-30); FAILOVER_SERVICE
[replica-failover] (FC 2.0 only); FAILOVER_FUNCTION [failover on FC 2.0, replica-failover on FC 3.0];
FC_ENDPOINT [FC 2.0: https://<account>.<region>-internal.fc.aliyuncs.com, FC 3.0: https://fcv3.<region>.aliyuncs.com].
"""

from __future__ import annotations

import email.utils
import hmac
import http.client
import json
import os
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from replica_failover.errors import EventError
from replica_failover.log import JsonLogger

MAX_BODY: Final = 64 * 1024  # a callback is ~1 KB; anything near this is not CloudMonitor
CONNECT_TIMEOUT: Final = 1.5  # seconds to reach FC (TCP and TLS)
INVOKE_BUDGET: Final = 3.5  # seconds for the whole invocation, connect included
MAX_REPLY: Final = 16 * 1024  # FC's async answer is empty; an error body is a small JSON object
FC2_API: Final = "2016-08-15"
FC3_API: Final = "2023-03-30"
StartResponse = Callable[..., Any]


def _reply(start_response: StartResponse, status: str, body: dict[str, Any]) -> Iterable[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def _presented_secret(environ: Mapping[str, Any]) -> str:
    header = str(environ.get("HTTP_X_WEBHOOK_TOKEN", ""))
    if header:
        return header
    query = urllib.parse.parse_qs(str(environ.get("QUERY_STRING", "")))
    return (query.get("token") or [""])[0]


# --------------------------------------------------------------------------------------------------
# invocation


class InvokeFailed(Exception):
    """FC did not accept the async invocation; ``str()`` says why without any credential."""


class BadConfig(Exception):
    """The webhook's own configuration is unusable; ``str()`` says which setting."""


@dataclass(frozen=True)
class FcTarget:
    endpoint: str
    service: str
    function: str
    access_key_id: str = field(repr=False)
    access_key_secret: str = field(repr=False)
    security_token: str = field(repr=False)
    api_version: str = FC2_API


def _target(context: Any, env: Mapping[str, str]) -> FcTarget:
    api = env.get("FC_API_VERSION") or FC2_API
    if api not in (FC2_API, FC3_API):
        raise BadConfig(f"FC_API_VERSION must be {FC2_API} or {FC3_API}, got {api[:40]!r}")
    creds = context.credentials
    default_endpoint = (
        f"https://{context.account_id}.{context.region}-internal.fc.aliyuncs.com"
        if api == FC2_API
        else f"https://fcv3.{context.region}.aliyuncs.com"  # alibabacloud-fc20230330's regional endpoint
    )
    endpoint = env.get("FC_ENDPOINT") or default_endpoint
    if not endpoint.startswith(("http://", "https://")):
        endpoint = "https://" + endpoint
    return FcTarget(
        endpoint=endpoint.rstrip("/"),
        service=env.get("FAILOVER_SERVICE", "replica-failover"),
        function=env.get("FAILOVER_FUNCTION") or ("failover" if api == FC2_API else "replica-failover"),
        access_key_id=creds.access_key_id or "",
        access_key_secret=creds.access_key_secret or "",
        security_token=getattr(creds, "security_token", None) or "",
        api_version=api,
    )


def _signed_headers(target: FcTarget, path: str, payload: bytes) -> dict[str, str]:
    """The headers aliyun-fc2's invoke_function sends, signed by aliyun-fc2's own signer."""
    from fc2 import __version__ as fc2_version  # imported here: only the webhook path needs it
    from fc2.auth import Auth

    headers = {
        "host": urllib.parse.urlsplit(target.endpoint).netloc,
        "date": email.utils.formatdate(usegmt=True),
        "content-type": "application/json",
        "content-length": str(len(payload)),
        "user-agent": f"aliyun-fc-sdk-v{fc2_version}.python-replica-failover-webhook",
        "x-fc-invocation-type": "Async",
    }
    if target.security_token:
        headers["x-fc-security-token"] = target.security_token
    auth = Auth(target.access_key_id, target.access_key_secret, target.security_token)
    headers["authorization"] = auth.sign_request("POST", path, headers)
    return headers


def invoke_async(target: FcTarget, payload: bytes, *, budget: float = INVOKE_BUDGET) -> str:
    """One signed InvokeFunction (Async) request; returns FC's request id, raises InvokeFailed.

    aliyun-fc2's own client mounts urllib3 ``Retry(total=5, backoff_factor=1)`` on every request, so an
    unreachable FC costs ~30 s before it gives up, six times past CloudMonitor's 5 s callback timeout.
    This sends the same request once with the stdlib, each socket operation bounded by what is left
    of ``budget``.
    """
    if not (target.access_key_id and target.access_key_secret):
        raise InvokeFailed("no credentials in the FC context")
    if target.api_version == FC3_API:
        return _invoke_async_v3(target, payload, budget)
    path = f"/{FC2_API}/services/{target.service}/functions/{target.function}/invocations"
    headers = _signed_headers(target, path, payload)
    parts = urllib.parse.urlsplit(target.endpoint)
    connection_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    deadline = time.monotonic() + budget
    conn = connection_type(parts.hostname or "", parts.port, timeout=min(CONNECT_TIMEOUT, budget))
    try:
        conn.connect()
        left = deadline - time.monotonic()
        if left <= 0 or conn.sock is None:
            raise InvokeFailed(f"connecting to FC used the whole {budget:.1f} s budget")
        conn.sock.settimeout(left)
        conn.request("POST", path, body=payload, headers=headers)
        resp = conn.getresponse()
        body = resp.read(MAX_REPLY)
        request_id = resp.getheader("X-Fc-Request-Id", "") or ""
        status = resp.status
    except TimeoutError:
        raise InvokeFailed(f"FC did not answer within {budget:.1f} s") from None
    except (OSError, http.client.HTTPException) as exc:
        raise InvokeFailed(f"FC unreachable: {type(exc).__name__}: {str(exc)[:160]}") from None
    finally:
        conn.close()
    if 200 <= status < 300:
        return request_id
    raise InvokeFailed(f"FC answered HTTP {status}{_fc_error_code(body)} (request {request_id or 'unknown'})")


def _invoke_async_v3(target: FcTarget, payload: bytes, budget: float) -> str:
    """FC 3.0 InvokeFunction (Async) through alibabacloud-fc20230330: one attempt, bounded by ``budget``.

    The SDK does not retry unless given retry options, and bounds connecting and each read by its
    ``connect_timeout``/``read_timeout`` (ms), set here to 1.5 s and what is left of the budget.
    """
    # imported here: ~0.3 s of imports that only this path needs (the webhook's cold start stays light)
    from alibabacloud_fc20230330 import models
    from alibabacloud_fc20230330.client import Client
    from alibabacloud_tea_openapi.exceptions import ClientException, ServerException
    from alibabacloud_tea_openapi.utils_models import Config
    from darabonba.runtime import RuntimeOptions

    parts = urllib.parse.urlsplit(target.endpoint)
    connect = min(CONNECT_TIMEOUT, budget)
    config = Config(
        access_key_id=target.access_key_id,
        access_key_secret=target.access_key_secret,
        security_token=target.security_token or None,
        endpoint=parts.netloc,
        protocol=parts.scheme,
        connect_timeout=max(1, round(connect * 1000)),
        read_timeout=max(1, round((budget - connect) * 1000)),
    )
    try:
        resp = Client(config).invoke_function_with_options(
            target.function,
            models.InvokeFunctionRequest(body=payload),
            models.InvokeFunctionHeaders(x_fc_invocation_type="Async"),
            RuntimeOptions(),
        )
    except (ClientException, ServerException) as exc:
        # the SDK formats absent fields as the string "None"
        code = f" {str(exc.code)[:64]}" if exc.code and exc.code != "None" else ""
        request = exc.request_id if exc.request_id and exc.request_id != "None" else "unknown"
        raise InvokeFailed(f"FC answered HTTP {exc.status_code}{code} (request {request})") from None
    except Exception as exc:  # the SDK wraps transport errors and unreadable bodies in its own types
        raise InvokeFailed(f"FC unreachable: {type(exc).__name__}: {str(exc)[:160]}") from None
    headers = resp.headers or {}
    request_id = str(headers.get("x-fc-request-id", ""))
    status = resp.status_code or 0
    if 200 <= status < 300:
        return request_id
    raise InvokeFailed(f"FC answered HTTP {status} (request {request_id or 'unknown'})")


def _fc_error_code(body: bytes) -> str:
    try:
        doc = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return ""
    code = doc.get("ErrorCode") if isinstance(doc, dict) else None
    return f" {str(code)[:64]}" if code else ""


# --------------------------------------------------------------------------------------------------
# handler


def _read_body(environ: Mapping[str, Any]) -> bytes | tuple[str, dict[str, Any]]:
    """The request body, or the (status, answer) that refuses it."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return "400 Bad Request", {"error": "Content-Length is not a number", "reasonCode": "malformed-json"}
    if length < 0:
        return "400 Bad Request", {"error": "Content-Length is negative", "reasonCode": "malformed-json"}
    if length > MAX_BODY:
        return "413 Payload Too Large", {"error": f"body over {MAX_BODY} bytes", "reasonCode": "too-large"}
    body = environ["wsgi.input"].read(length) if length else b""
    return bytes(body)


def handler(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    env = os.environ
    context = environ.get("fc.context")
    log = JsonLogger(env.get("FAILOVER_LOG_LEVEL", "INFO"), requestId=getattr(context, "request_id", None))
    if environ.get("REQUEST_METHOD") != "POST":
        return _reply(start_response, "405 Method Not Allowed", {"error": "POST only"})
    secret = env.get("WEBHOOK_SECRET", "")
    presented = _presented_secret(environ)
    # compare_digest on bytes: constant time whatever the inputs' length or content
    if not secret or not hmac.compare_digest(presented.encode(), secret.encode()):
        log.warning("webhook-unauthorized", configured=bool(secret), presented=bool(presented))
        return _reply(start_response, "401 Unauthorized", {"error": "missing or wrong token"})
    body = _read_body(environ)
    if isinstance(body, tuple):
        log.warning("webhook-bad-body", error=body[1]["error"])
        return _reply(start_response, *body)

    from replica_failover.intake import parse_alert_callback  # after auth: unauthenticated calls stay cheap

    try:
        event = parse_alert_callback(body, str(environ.get("CONTENT_TYPE", "")), limit=MAX_BODY)
    except EventError as exc:
        log.warning("webhook-refused", reasonCode=exc.reason_code, error=exc.message[:200])
        return _reply(start_response, "400 Bad Request", {"error": exc.message[:300], "reasonCode": exc.reason_code})
    if context is None:
        return _reply(start_response, "500 Internal Server Error", {"error": "no FC context"})
    try:
        target = _target(context, env)
    except BadConfig as exc:
        log.error("webhook-bad-config", error=str(exc))
        return _reply(start_response, "500 Internal Server Error", {"error": str(exc)})
    started = time.monotonic()
    try:
        request_id = invoke_async(target, json.dumps(event).encode())
    except InvokeFailed as exc:  # 502 makes CloudMonitor retry the callback
        log.error("webhook-invoke-failed", error=str(exc)[:300], elapsedMs=round((time.monotonic() - started) * 1000))
        return _reply(start_response, "502 Bad Gateway", {"error": "could not hand the alarm to the failover function"})
    log.info(
        "webhook-accepted",
        invocationRequestId=request_id,
        alertState=event.get("alertState"),
        elapsedMs=round((time.monotonic() - started) * 1000),
    )
    return _reply(start_response, "202 Accepted", {"accepted": True, "invocationRequestId": request_id})
