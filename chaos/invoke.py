"""``replica-failover invoke``: run a template.yml function in-process, like ``fun local invoke`` without Docker.

The handler is loaded from the function's CodeUri by its Handler, the environment is the template's
(plus ``--env`` and ``EBS_ENDPOINT`` for ``--endpoint``), the context is FC's (request id, STS-style
credentials from ALIBABA_CLOUD_* or, against the emulator, its documented keys; function timeout
from the template or ``--timeout``). Event functions print the result JSON; HTTP functions (the
webhook) get a WSGI POST of the event body.

As in the container image, the process's logging is redacted and the context's credentials are
registered as secrets, so neither the SDKs' error logs nor what is printed can carry them.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from replica_failover.redact import install_logging, redact, register

from chaos.emulator.config import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_STS_ACCESS_KEY_ID,
    DEFAULT_STS_ACCESS_KEY_SECRET,
    DEFAULT_STS_SECURITY_TOKEN,
    Credential,
)
from chaos.emulator.fc import FcContext, make_context
from chaos.template import FunctionDef, load_handler


@contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def credential_from_env(env: Mapping[str, str], *, emulator: bool) -> Credential | None:
    ak, sk = env.get("ALIBABA_CLOUD_ACCESS_KEY_ID"), env.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
    if ak and sk:
        return Credential(
            access_key_id=ak, access_key_secret=sk, security_token=env.get("ALIBABA_CLOUD_SECURITY_TOKEN")
        )
    if emulator:  # the emulator's documented role key, as FC would hand the service role's STS keys
        return Credential(
            access_key_id=DEFAULT_STS_ACCESS_KEY_ID,
            access_key_secret=DEFAULT_STS_ACCESS_KEY_SECRET,
            security_token=DEFAULT_STS_SECURITY_TOKEN,
        )
    return None


def build_context(fn: FunctionDef, env: Mapping[str, str], *, timeout: float | None, emulator: bool) -> FcContext:
    spec = fn.spec()
    if timeout is not None:
        spec = spec.model_copy(update={"timeout": timeout})
    region = env.get("FAILOVER_DR_REGION") or env.get("ALIBABA_CLOUD_REGION") or "cn-shanghai"
    return make_context(
        spec,
        request_id=str(uuid.uuid4()),
        credential=credential_from_env(env, emulator=emulator),
        region=region,
        account_id=env.get("FC_ACCOUNT_ID", DEFAULT_ACCOUNT_ID),
    )


def invoke(
    fn: FunctionDef,
    event: bytes,
    *,
    endpoint: str | None = None,
    timeout: float | None = None,
    env_overrides: Mapping[str, str] | None = None,
) -> tuple[int, Any]:
    """Returns (exit code, printable output): 0 result returned, 3 work pending (FC would retry), 1 error."""
    install_logging()
    env = {**fn.environment, **(env_overrides or {})}
    if endpoint:
        url = endpoint if "://" in endpoint else f"http://{endpoint}"
        env["EBS_ENDPOINT"] = url
        env.setdefault("FC_ENDPOINT", url)
    # the function logs JSON lines to stdout (FC ships them to SLS); here stdout is for the result
    with patched_environ(env), contextlib.redirect_stdout(sys.stderr):
        context = build_context(fn, {**os.environ, **env}, timeout=timeout, emulator=bool(endpoint))
        creds = context.credentials
        register(creds.access_key_id, creds.access_key_secret, creds.security_token)
        handler = load_handler(fn)
        if fn.http:
            code, payload = _invoke_http(handler, event, context)
            return code, redact(payload)
        try:
            out = handler(event, context)
        except Exception as exc:
            result = getattr(exc, "result", None)
            if isinstance(result, dict):  # PendingWork: the result says what is left
                return 3, redact(result)
            return 1, redact({"errorType": type(exc).__name__, "errorMessage": str(exc)})
    return 0, redact(json.loads(out) if isinstance(out, str | bytes) else out)


def post_to_http_function(
    handler: Any, body: bytes, context: Any, *, token: str, content_type: str = "application/x-www-form-urlencoded"
) -> tuple[int, Any]:
    """One POST to an HTTP-trigger handler (FC's ``handler(environ, start_response)``): (status, body).

    The body is decoded as JSON when it is JSON; the webhook answers JSON, an error page may not.
    """
    status: list[str] = []

    def start_response(s: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        status.append(s)

    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_X_WEBHOOK_TOKEN": token,
        "wsgi.input": io.BytesIO(body),
        "fc.context": context,
    }
    chunks = b"".join(handler(environ, start_response))
    code = int(status[0].split()[0]) if status else 500
    try:
        payload: Any = json.loads(chunks)
    except ValueError:
        payload = chunks.decode("utf-8", "replace")
    return code, payload


def _invoke_http(handler: Any, body: bytes, context: FcContext) -> tuple[int, Any]:
    code, payload = post_to_http_function(handler, body, context, token=os.environ.get("WEBHOOK_SECRET", ""))
    return (0 if code < 400 else 1), {"status": code, "body": payload}
