"""The emulator's clock: wall time that tests can advance or freeze.

State transitions (``failovering`` -> ``failovered``) and ClientToken windows are measured on
this clock, so a test completes a transition by advancing time instead of sleeping. Request
signing (Timestamp, nonces) and rate limits use real time: the SDKs sign with the real clock.
"""

from __future__ import annotations

import threading
import time


class Clock:
    def __init__(self, *, frozen: bool = False, start: float | None = None) -> None:
        self._lock = threading.Lock()
        self._frozen = frozen
        self._base = time.time() if start is None else start
        self._mono0 = time.monotonic()
        self._offset = 0.0

    def now(self) -> float:
        """Seconds since the epoch, as the emulator sees them."""
        with self._lock:
            elapsed = 0.0 if self._frozen else time.monotonic() - self._mono0
            return self._base + elapsed + self._offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds
        return self.now()

    @property
    def frozen(self) -> bool:
        return self._frozen

    def freeze(self, frozen: bool) -> None:
        """Stop (or restart) the clock at the current emulator time."""
        with self._lock:
            current = self._base + self._offset + (0.0 if self._frozen else time.monotonic() - self._mono0)
            self._base, self._offset, self._mono0, self._frozen = current, 0.0, time.monotonic(), frozen
