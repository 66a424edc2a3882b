"""FC handlers the runner registers in the emulator: the template's functions, observed.

``failover`` calls the template's handler unchanged and keeps what it returned (or the result a
``PendingWork`` carried) by FC request id: an async invocation's result otherwise goes nowhere the
game day can read. ``webhook`` turns an FC invocation into the WSGI POST an HTTP trigger would make
(body, content type, token header, FC context), so the webhook runs exactly as deployed and then
async-invokes the failover function through aliyun-fc2 at FC_ENDPOINT.

Both read their target from the environment FC hands them (``GAMEDAY_HANDLER``, ``GAMEDAY_CODE_URI``),
so the registration works over the control plane too. An emulator in another process keeps results in
its own memory, out of the runner's reach: there ``GAMEDAY_CAPTURE_DIR`` names a directory (the
emulator serves loopback only, so it shares this host) where each attempt also leaves a JSON file.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chaos.invoke import post_to_http_function
from chaos.template import ensure_importable

_lock = threading.Lock()
# request id -> one entry per attempt (FC re-runs an async invocation with the same request id)
_results: dict[str, list[dict[str, Any]]] = {}


def _target(default: str) -> Callable[..., Any]:
    code_uri = os.environ.get("GAMEDAY_CODE_URI")
    if code_uri:
        ensure_importable(Path(code_uri))
    module, _, attr = os.environ.get("GAMEDAY_HANDLER", default).partition(":")
    fn: Callable[..., Any] = getattr(importlib.import_module(module), attr)
    return fn


def _keep(request_id: str, entry: dict[str, Any]) -> None:
    directory = os.environ.get("GAMEDAY_CAPTURE_DIR")
    if directory:
        name = f"{_safe(request_id)}.{uuid.uuid4().hex}.json"
        (Path(directory) / name).write_text(json.dumps(entry), encoding="utf-8")
        return  # "started" is this process's monotonic clock: the attempts of one request compare
    with _lock:
        _results.setdefault(request_id, []).append(entry)


def _safe(request_id: str) -> str:
    return "".join(c if c.isalnum() or c == "-" else "_" for c in request_id)


def take(request_id: str, directory: str | None = None) -> list[dict[str, Any]]:
    """The attempts kept for ``request_id``, in the order they started (a timed-out attempt may finish
    after its retry), and forgotten: a long-lived process must not accumulate them. ``directory``: read
    what an out-of-process emulator's attempts left there instead."""
    if directory:
        entries = []
        for path in sorted(Path(directory).glob(f"{_safe(request_id)}.*.json")):
            entries.append(json.loads(path.read_text(encoding="utf-8")))
            path.unlink()
    else:
        with _lock:
            entries = _results.pop(request_id, [])
    return sorted(entries, key=lambda e: float(e["started"]))


def forget() -> None:
    with _lock:
        _results.clear()


def initialize(context: Any) -> None:
    """The template's Initializer, found through GAMEDAY_CODE_URI like the handler."""
    _target("index:handler")  # puts the code directory on sys.path
    init = os.environ.get("GAMEDAY_INITIALIZER")
    if init:
        module, _, attr = init.partition(":")
        getattr(importlib.import_module(module), attr)(context)


def failover(event: bytes, context: Any) -> Any:
    handler = _target("index:handler")
    started = time.monotonic()
    try:
        out = handler(event, context)
    except Exception as exc:
        carried = getattr(exc, "result", None)
        _keep(
            context.request_id,
            {
                "result": carried if isinstance(carried, dict) else None,
                "raised": True,
                "error": repr(exc)[:500],
                "started": started,
            },
        )
        raise  # FC must see the failure: that is what makes it retry an async invocation
    try:
        result = json.loads(out) if isinstance(out, str | bytes) else out
    except ValueError:
        result = None
    _keep(
        context.request_id,
        {"result": result if isinstance(result, dict) else None, "raised": False, "started": started},
    )
    return out


def webhook(event: bytes, context: Any) -> Any:
    """``event`` is ``{"body": <text>, "contentType": ..., "token": ... | null}``: one HTTP trigger request."""
    handler = _target("webhook:handler")
    envelope = json.loads(event)
    body = str(envelope.get("body", "")).encode("utf-8")
    if envelope.get("base64"):
        body = base64.b64decode(body)
    code, answer = post_to_http_function(
        handler,
        body,
        context,
        token=str(envelope.get("token") or ""),
        content_type=str(envelope.get("contentType") or "application/x-www-form-urlencoded"),
    )
    return json.dumps({"status": code, "body": answer})
