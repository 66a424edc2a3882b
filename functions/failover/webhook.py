"""HTTP-triggered receiver for CloudMonitor threshold-alert callbacks (Handler ``webhook.handler``).

CloudMonitor POSTs the callback (form-encoded, 5 s timeout, retried), and cannot sign FC requests,
so the trigger is anonymous and a shared secret in the callback URL (``?token=``) or the
``X-Webhook-Token`` header authenticates it, compared in constant time. The webhook answers at
once and hands the normalised event (the callback as a JSON object) to the failover function by
an *async* invocation through aliyun-fc2 with the context's STS credentials, so FC's async retry
policy and on-failure destination apply. A missing or wrong secret gets 401 and invokes nothing;
an unset secret rejects everything (fail closed).

Environment: WEBHOOK_SECRET, FAILOVER_SERVICE [replica-failover], FAILOVER_FUNCTION [failover],
FC_ENDPOINT [https://<account>.<region>-internal.fc.aliyuncs.com].
"""

from __future__ import annotations

import hmac
import json
import os
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from replica_failover.log import JsonLogger

MAX_BODY = 64 * 1024  # a callback is ~1 KB; anything near this is not CloudMonitor
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


def _normalise(body: bytes, content_type: str) -> dict[str, Any]:
    """The callback as a JSON object: form bodies are decoded, JSON bodies must be an object."""
    text = body.decode("utf-8")
    if "json" in content_type or text.lstrip().startswith("{"):
        doc = json.loads(text)
        if not isinstance(doc, dict):
            raise ValueError("the JSON body is not an object")
        return doc
    pairs = urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=True, max_num_fields=200)
    doc = dict(pairs)
    if len(doc) != len(pairs):
        raise ValueError("a form field is repeated")
    if "alertState" not in doc:
        raise ValueError("not a CloudMonitor alert callback (no alertState)")
    return doc


def _fc_client(context: Any, env: Mapping[str, str]) -> Any:
    import fc2  # imported here: only the webhook path needs it

    creds = context.credentials
    endpoint = env.get("FC_ENDPOINT") or f"https://{context.account_id}.{context.region}-internal.fc.aliyuncs.com"
    kwargs: dict[str, Any] = {}
    if getattr(creds, "security_token", None):
        kwargs["securityToken"] = creds.security_token
    return fc2.Client(
        endpoint=endpoint,
        accessKeyID=creds.access_key_id,
        accessKeySecret=creds.access_key_secret,
        Timeout=3,
        **kwargs,
    )


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
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = -1
    if length < 0 or length > MAX_BODY:
        return _reply(start_response, "413 Payload Too Large", {"error": f"body over {MAX_BODY} bytes"})
    body = environ["wsgi.input"].read(length) if length else b""
    try:
        event = _normalise(body, str(environ.get("CONTENT_TYPE", "")))
    except (ValueError, UnicodeDecodeError) as exc:
        log.warning("webhook-bad-body", error=str(exc)[:200])
        return _reply(start_response, "400 Bad Request", {"error": f"unreadable callback: {exc}"[:300]})
    if context is None:
        return _reply(start_response, "500 Internal Server Error", {"error": "no FC context"})
    service = env.get("FAILOVER_SERVICE", "replica-failover")
    function = env.get("FAILOVER_FUNCTION", "failover")
    try:
        resp = _fc_client(context, env).invoke_function(
            service,
            function,
            payload=json.dumps(event).encode(),
            headers={"x-fc-invocation-type": "Async"},
        )
    except Exception as exc:  # FC unreachable or refusing: 502 makes CloudMonitor retry the callback
        log.error("webhook-invoke-failed", error=str(exc)[:300])
        return _reply(start_response, "502 Bad Gateway", {"error": "could not hand the alarm to the failover function"})
    request_id = resp.headers.get("X-Fc-Request-Id", "")
    log.info("webhook-accepted", invocationRequestId=request_id, alertState=event.get("alertState"))
    return _reply(start_response, "202 Accepted", {"accepted": True, "invocationRequestId": request_id})
