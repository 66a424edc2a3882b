"""DingTalk custom robot: signed URL and markdown body.

The robot's "sign" security setting: ``timestamp`` is epoch milliseconds (the robot refuses one more
than an hour off), ``sign = urlencode(base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")))``.
The robot answers HTTP 200 with ``{"errcode": 0, "errmsg": "ok"}``; errcode 310000 is a bad signature,
a missing keyword or a stale timestamp, 130101 is "send too fast" (20 messages a minute per robot).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any, Final
from urllib.parse import parse_qs, quote_plus, urlsplit

from replica_failover.redact import register

ERR_SIGN: Final = 310000
ERR_TOO_FAST: Final = 130101
# a retry cannot cure these: the same signature, keyword or rate would be refused again
NO_RETRY_CODES: Final = frozenset({ERR_SIGN, ERR_TOO_FAST})
MAX_TEXT: Final = 4000


def sign(secret: str, timestamp_ms: int) -> str:
    """The ``sign`` query value, already URL-encoded."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode("ascii"))


def signed_url(url: str, secret: str | None, timestamp_ms: int) -> str:
    """``url`` (``.../robot/send?access_token=...``) with ``timestamp`` and ``sign`` when a secret is set.

    The access token and the secret are registered with the redactor: they never reach a log line."""
    for token in parse_qs(urlsplit(url).query).get("access_token", []):
        register(token)
    if not secret:
        return url
    register(secret)
    joiner = "&" if urlsplit(url).query else "?"
    return f"{url}{joiner}timestamp={timestamp_ms}&sign={sign(secret, timestamp_ms)}"


def markdown(title: str, text: str) -> dict[str, Any]:
    return {"msgtype": "markdown", "markdown": {"title": title[:120], "text": text[:MAX_TEXT]}}


def parse_reply(body: bytes) -> tuple[int | None, str]:
    """(errcode, errmsg) of a robot reply; errcode None when the reply is not the robot's JSON."""
    try:
        reply = json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        return None, "the reply is not JSON"
    if not isinstance(reply, dict) or not isinstance(reply.get("errcode"), int):
        return None, "the reply has no errcode"
    return int(reply["errcode"]), str(reply.get("errmsg", ""))[:300]
