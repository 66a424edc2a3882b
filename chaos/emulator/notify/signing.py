"""The DingTalk custom robot's signature, byte for byte the documented recipe.

``sign = urlencode(base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")))`` with the
timestamp in epoch milliseconds; the robot refuses a timestamp more than an hour from its clock.
The URL carries the encoded form; the server compares after URL-decoding the query.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse

MAX_SKEW_MS = 3600 * 1000


def robot_signature(secret: str, timestamp_ms: int | str) -> str:
    """The base64 signature (before URL encoding)."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed_query(token: str, secret: str, timestamp_ms: int) -> str:
    """``access_token=…&timestamp=…&sign=…`` as a client appends it to ``/robot/send?``."""
    sign = urllib.parse.quote_plus(robot_signature(secret, timestamp_ms))
    return f"access_token={urllib.parse.quote_plus(token)}&timestamp={timestamp_ms}&sign={sign}"


def verify(secret: str, timestamp: str | None, sign: str | None, now_ms: int) -> str:
    """``"ok"``, ``"invalid-timestamp"`` or ``"bad-sign"`` (``sign`` already URL-decoded)."""
    if not timestamp or not timestamp.isdigit() or len(timestamp) > 15:
        return "invalid-timestamp"
    if abs(now_ms - int(timestamp)) > MAX_SKEW_MS:
        return "invalid-timestamp"
    if not sign or not hmac.compare_digest(robot_signature(secret, timestamp).encode(), sign.encode()):
        return "bad-sign"
    return "ok"
