"""``replica-failover invoke``: run a template.yml function in-process, like ``fun local invoke`` without Docker.

The handler is loaded from the function's CodeUri by its Handler, the environment is the template's
(plus ``--env``, and ``EBS_ENDPOINT``/``CMS_ENDPOINT`` for ``--endpoint``), the context is FC's (request id, STS-style
credentials from ALIBABA_CLOUD_* or, against the emulator, its documented keys; function timeout
from the template or ``--timeout``). Event functions print the result JSON; HTTP functions (the
webhook) get a WSGI POST of the event body.

The result goes to stdout, once. The function's JSON log lines go to stderr, with the final
``result`` line cut down to a summary (the full result is already on stdout). The exit code says
which class of outcome it was: see :data:`EXIT_CODES`. As in the container image, the process's
logging is redacted and the context's credentials are registered as secrets.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any

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

# Exit codes of `replica-failover invoke`, one per class of outcome (README: "Exit codes").
EXIT_DONE = 0  # completed, noop, planned; an HTTP function answered < 400
EXIT_ERROR = 1  # the function raised something other than PendingWork; an HTTP function answered 5xx
EXIT_USAGE = 2  # bad command line, unreadable event or template file, unknown function
EXIT_PENDING = 3  # work left that a retry can finish (PendingWork): FC would retry
EXIT_REJECTED = 4  # the event was rejected (malformed, foreign account, hostile); an HTTP function answered 4xx
EXIT_FAILED = 5  # failed, refused, partial: a permanent failure a human has to look at
EXIT_HELD = 6  # held: not confirmed, or waiting for an approval; returned (FC does not retry), zero writes
EXIT_CODES: dict[str, int] = {
    "completed": EXIT_DONE,
    "noop": EXIT_DONE,
    "planned": EXIT_DONE,
    "pending": EXIT_PENDING,
    "rejected": EXIT_REJECTED,
    "failed": EXIT_FAILED,
    "refused": EXIT_FAILED,
    "partial": EXIT_FAILED,
    "held": EXIT_HELD,
}


def exit_code_for(result: Mapping[str, Any]) -> int:
    """The exit code for a function result (an unknown status counts as a failure if not ``ok``)."""
    code = EXIT_CODES.get(str(result.get("status")))
    if code is not None:
        return code
    return EXIT_DONE if result.get("ok") else EXIT_FAILED


class SummarizingLogStream(io.TextIOBase):
    """A text stream for the function's JSON log lines that passes them on whole, except that the
    ``result`` line's full result is replaced by its status, reason, counts and failure."""

    def __init__(self, target: IO[str]) -> None:
        super().__init__()
        self._target = target
        self._pending = ""
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            *lines, self._pending = self._pending.split("\n")
            for line in lines:
                self._target.write(summarize_log_line(line) + "\n")
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._pending:
                self._target.write(summarize_log_line(self._pending) + "\n")
                self._pending = ""
        self._target.flush()


def summarize_log_line(line: str) -> str:
    try:
        record = json.loads(line)
    except ValueError:
        return line
    if not isinstance(record, dict) or record.get("event") != "result" or not isinstance(record.get("result"), dict):
        return line
    full = record.pop("result")
    record["result"] = {k: full.get(k) for k in ("ok", "status", "reason", "summary", "failure")}
    record["resultOn"] = "stdout"
    return json.dumps(record, separators=(",", ":"))


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
    log_stream: IO[str] | None = None,
) -> tuple[int, Any]:
    """Returns (exit code, printable output); the codes are the EXIT_* constants above.

    The function's log lines go to ``log_stream`` (default: stderr), the result line summarized.
    """
    install_logging()
    env = {**fn.environment, **(env_overrides or {})}
    if endpoint:
        url = endpoint if "://" in endpoint else f"http://{endpoint}"
        env["EBS_ENDPOINT"] = url
        env["CMS_ENDPOINT"] = url  # the emulator serves CloudMonitor's evidence reads on the same port
        env.setdefault("FC_ENDPOINT", url)
    # the function logs JSON lines to stdout (FC ships them to SLS); here stdout is for the result
    logs = SummarizingLogStream(log_stream or sys.stderr)
    try:
        with patched_environ(env), contextlib.redirect_stdout(logs):
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
                    return exit_code_for(result), redact(result)
                return EXIT_ERROR, redact({"errorType": type(exc).__name__, "errorMessage": str(exc)})
    finally:
        logs.flush()
    result = json.loads(out) if isinstance(out, str | bytes) else out
    return (exit_code_for(result) if isinstance(result, dict) else EXIT_DONE), redact(result)


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
    exit_code = EXIT_DONE if code < 400 else EXIT_REJECTED if code < 500 else EXIT_ERROR
    return exit_code, {"status": code, "body": payload}
