"""ClientToken idempotency, as the ebs API documents it.

Same token + same parameters within the window -> the original answer, no new effect.
Same token + different parameters -> 400 IdempotentParameterMismatch. Same token while the
first call is still being processed -> 403 LastTokenProcessing. Only a *successful* call binds
its token: a call that failed (nothing changed) leaves the token free, so a retry re-executes.
Tokens are scoped per account and action; the window runs on the emulator clock.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from chaos.emulator.errors import ApiError

# parameters that change on every retry (signing) or are the token itself
NON_SEMANTIC = frozenset(
    {
        "Action",
        "Version",
        "Format",
        "AccessKeyId",
        "Signature",
        "SignatureMethod",
        "SignatureType",
        "SignatureVersion",
        "SignatureNonce",
        "Timestamp",
        "SecurityToken",
        "ClientToken",
    }
)


def fingerprint(params: dict[str, str]) -> str:
    semantic = {k: v for k, v in params.items() if k not in NON_SEMANTIC}
    return hashlib.sha256(json.dumps(semantic, sort_keys=True).encode()).hexdigest()


def validate_token(token: str) -> None:
    if not token or len(token) > 64 or not token.isascii() or not token.isprintable():
        raise ApiError.of("InvalidParameter", "ClientToken")


@dataclass
class _Entry:
    fingerprint: str
    state: Literal["in_flight", "done"]
    expires: float
    response: dict[str, Any] | None = None


@dataclass(frozen=True)
class Claim:
    """The outcome of presenting a token: ``replay`` carries the stored answer."""

    key: tuple[str, str, str] | None
    replay: dict[str, Any] | None = None


class TokenStore:
    def __init__(self, now: Callable[[], float], window: Callable[[], float]) -> None:
        self._now = now
        self._window = window
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str, str], _Entry] = {}

    def claim(self, account: str, action: str, token: str | None, params: dict[str, str]) -> Claim:
        if token is None:
            return Claim(key=None)
        validate_token(token)
        key = (account, action, token)
        fp = fingerprint(params)
        now = self._now()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.expires <= now:
                entry = None
            if entry is None:
                self._entries[key] = _Entry(fp, "in_flight", now + self._window())
                return Claim(key=key)
            if entry.fingerprint != fp:
                raise ApiError.of("IdempotentParameterMismatch")
            if entry.state == "in_flight":
                raise ApiError.of("LastTokenProcessing")
            assert entry.response is not None
            return Claim(key=None, replay=dict(entry.response))

    def complete(self, claim: Claim, response: dict[str, Any]) -> None:
        if claim.key is None:
            return
        with self._lock:
            entry = self._entries.get(claim.key)
            if entry is not None:
                entry.state, entry.response = "done", dict(response)
                entry.expires = self._now() + self._window()

    def release(self, claim: Claim) -> None:
        """The call failed without effect: the token is free again."""
        if claim.key is None:
            return
        with self._lock:
            entry = self._entries.get(claim.key)
            if entry is not None and entry.state == "in_flight":
                del self._entries[claim.key]

    def prune(self) -> None:
        now = self._now()
        with self._lock:
            for key in [k for k, e in self._entries.items() if e.state == "done" and e.expires <= now]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
