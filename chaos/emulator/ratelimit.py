"""Per (access key, action) token buckets: the gateway's flow control -> Throttling.User."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from chaos.emulator.config import RateLimit


class RateLimiter:
    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._lock = threading.Lock()
        # (access key, rule action, action) -> (tokens, last refill)
        self._buckets: dict[tuple[str, str, str], tuple[float, float]] = {}

    def allow(self, limits: list[RateLimit], access_key_id: str, action: str) -> bool:
        """Take a token from the first rule matching ``action``; no rule, no limit."""
        rule = next((r for r in limits if r.action in (action, "*")), None)
        if rule is None:
            return True
        burst = float(rule.burst or max(1.0, rule.rate))
        # "*" shares one bucket across actions, as an account-wide limit would
        key = (access_key_id, rule.action, action if rule.action != "*" else "*")
        now = self._now()
        with self._lock:
            tokens, last = self._buckets.get(key, (burst, now))
            tokens = min(burst, tokens + (now - last) * rule.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return False
            self._buckets[key] = (tokens - 1.0, now)
            return True

    def clear(self) -> None:
        with self._lock:
            self._buckets.clear()
