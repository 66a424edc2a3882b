"""Sending one message: bounded in time (one attempt and at most one retry within one deadline),
a client-side rate limit (DingTalk robots accept 20 messages a minute), never raising.

Stdlib ``http.client`` only: nothing heavy on the function's cold-start path.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from replica_failover.notify import dingtalk, webhook
from replica_failover.notify.messages import Message
from replica_failover.redact import redact_text

Channel = Literal["dingtalk", "webhook"]
DEFAULT_TIMEOUT: Final = 3.0
MAX_REPLY_BYTES: Final = 65_536
DINGTALK_PER_MINUTE: Final = 20


class NotificationRecord(BaseModel):
    """What happened to one message (goes into the invocation's result and log; no URL, no secret)."""

    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True)
    channel: Channel
    kind: str
    ok: bool
    attempts: int
    status: int | None = None
    errcode: int | None = None
    error: str | None = None
    elapsed_ms: float


class RateLimiter:
    """At most ``limit`` sends per ``window`` seconds (sliding). A send over the limit is dropped and
    recorded, not delayed: the function must not wait a minute for a chat message."""

    def __init__(
        self, limit: int = DINGTALK_PER_MINUTE, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        now = self.clock()
        with self._lock:
            while self._sent and self._sent[0] <= now - self.window:
                self._sent.popleft()
            if len(self._sent) >= self.limit:
                return False
            self._sent.append(now)
            return True


# one per process: a warm FC instance keeps it across invocations, as the robot's own limit does
DINGTALK_LIMITER = RateLimiter()


class _Attempt(BaseModel):
    status: int | None = None
    body: bytes = b""
    error: str | None = None


def _post(url: str, payload: dict[str, Any], deadline: float) -> _Attempt:
    parts = urlsplit(url)
    host = parts.hostname or ""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return _Attempt(error="no time left")
    conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = conn_cls(host, parts.port, timeout=remaining)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    try:
        conn.request("POST", path, body=data, headers={"Content-Type": "application/json; charset=utf-8"})
        response = conn.getresponse()
        chunks: list[bytes] = []
        size = 0
        while size < MAX_REPLY_BYTES:
            left = deadline - time.monotonic()
            if left <= 0:
                return _Attempt(status=response.status, error="timed out reading the reply")
            if conn.sock is not None:
                conn.sock.settimeout(left)
            chunk = response.read1(MAX_REPLY_BYTES - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return _Attempt(status=response.status, body=b"".join(chunks))
    except TimeoutError:
        return _Attempt(error=f"{host}: timed out")
    except (OSError, http.client.HTTPException) as exc:
        # the message of a socket error never holds the URL's query (the access token)
        return _Attempt(error=f"{host}: {type(exc).__name__}: {redact_text(str(exc))[:200]}")
    finally:
        conn.close()


def send(
    channel: Channel,
    url: str,
    message: Message,
    *,
    secret: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    limiter: RateLimiter | None = None,
    now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
) -> NotificationRecord:
    """Send ``message``; returns the record, never raises."""
    started = time.monotonic()
    deadline = started + timeout
    attempts = 0
    status: int | None = None
    errcode: int | None = None
    error: str | None = None
    try:
        if channel == "dingtalk":
            payload = dingtalk.markdown(message.title, message.text)
            if not (limiter or DINGTALK_LIMITER).try_acquire():
                error = f"client-side rate limit ({DINGTALK_PER_MINUTE}/min) reached: not sent"
                return _record(channel, message, False, 0, None, None, error, started)
        else:
            payload = webhook.body(message.text, message.data)
        for _ in range(2):
            attempts += 1
            target = dingtalk.signed_url(url, secret, now_ms()) if channel == "dingtalk" else url
            got = _post(target, payload, deadline)
            status, error, errcode = got.status, got.error, None
            if got.error is None and status is not None and 200 <= status < 300:
                if channel == "webhook":
                    return _record(channel, message, True, attempts, status, None, None, started)
                errcode, errmsg = dingtalk.parse_reply(got.body)
                if errcode == 0:
                    return _record(channel, message, True, attempts, status, 0, None, started)
                error = f"robot refused: errcode {errcode}: {errmsg}"
                if errcode in dingtalk.NO_RETRY_CODES:
                    break
            elif got.error is None:
                error = f"HTTP {status}"
                if status is not None and status < 500 and status != 429:
                    break
            if time.monotonic() >= deadline:
                break
        return _record(channel, message, False, attempts, status, errcode, error, started)
    except Exception as exc:  # a notification must never take the failover down
        return _record(channel, message, False, attempts, status, errcode, f"{type(exc).__name__}: {exc}", started)


def _record(
    channel: Channel,
    message: Message,
    ok: bool,
    attempts: int,
    status: int | None,
    errcode: int | None,
    error: str | None,
    started: float,
) -> NotificationRecord:
    return NotificationRecord(
        channel=channel,
        kind=message.kind,
        ok=ok,
        attempts=attempts,
        status=status,
        errcode=errcode,
        error=None if error is None else redact_text(error)[:500],
        elapsed_ms=round((time.monotonic() - started) * 1000, 1),
    )


def notify_all(
    message: Message,
    *,
    dingtalk_url: str | None,
    dingtalk_secret: str | None,
    webhook_url: str | None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[NotificationRecord]:
    """Send ``message`` to every configured channel, one after the other (each bounded by ``timeout``)."""
    records: list[NotificationRecord] = []
    if dingtalk_url:
        records.append(send("dingtalk", dingtalk_url, message, secret=dingtalk_secret, timeout=timeout))
    if webhook_url:
        records.append(send("webhook", webhook_url, message, timeout=timeout))
    return records
