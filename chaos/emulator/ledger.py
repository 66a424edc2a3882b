"""The ledger: every request the emulator answered and every effect it applied.

Game days count effects, so appends happen under the same lock as the state change they
describe (the backend passes its lock in): the ledger is exact under concurrent clients.
An *effect* is a real state change caused by an API call. A replayed ClientToken, a rejected
call or an injected error before apply is a request without an effect. Transient states that
complete on the clock are *transitions*, recorded apart.
"""

from __future__ import annotations

import threading
from typing import Any

# never recorded: they are secrets or signing noise
SECRET_PARAMS = frozenset({"Signature", "SecurityToken", "SignatureNonce", "AccessKeySecret", "x-acs-security-token"})


def sanitize(params: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in params.items() if k not in SECRET_PARAMS}


class Ledger:
    def __init__(self, lock: threading.RLock | None = None) -> None:
        self._lock = lock or threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._requests: list[dict[str, Any]] = []
        self._effects: list[dict[str, Any]] = []
        self._transitions: list[dict[str, Any]] = []

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def record_request(self, entry: dict[str, Any]) -> int:
        with self._lock:
            entry["seq"] = len(self._requests) + 1
            self._requests.append(entry)
            self._changed.notify_all()
            return int(entry["seq"])

    def record_effect(self, entry: dict[str, Any]) -> None:
        with self._lock:
            entry["seq"] = len(self._effects) + 1
            self._effects.append(entry)

    def record_transition(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._transitions.append(entry)

    def wait_for_requests(self, count: int, timeout: float) -> bool:
        """Block until ``count`` requests are recorded (a test's knob: no sleeping, no polling)."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._requests) >= count, timeout=timeout)

    def snapshot(self, since: int = 0) -> dict[str, list[dict[str, Any]]]:
        """Copies, so a caller can read while clients keep calling. ``since``: request seq to start after."""
        with self._lock:
            return {
                "requests": [dict(r) for r in self._requests[since:]],
                "effects": [dict(e) for e in self._effects],
                "transitions": [dict(t) for t in self._transitions],
            }

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {
                "requests": len(self._requests),
                "effects": len(self._effects),
                "transitions": len(self._transitions),
            }

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
            self._effects.clear()
            self._transitions.clear()
