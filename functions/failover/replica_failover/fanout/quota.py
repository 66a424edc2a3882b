"""One region's API quota shared by the workers of one incident.

Workers that each ran their own rate controller from "unpaced" would all spend the bucket's burst
at once and throttle together. So a worker starts paced at its share, ``rate / workers`` (the
coordinator computes it from FAILOVER_RATE_LIMIT and the number of batches it dispatched), and never
exceeds it; throttles still lower it as usual (:class:`~replica_failover.pacing.AdaptiveRate`).

A worker that finishes leaves its share unused. So every ``REFRESH_SECONDS`` a worker counts its
incident's workers that have not finished (``unfinished``: FC 3.0's ListAsyncTasks of this split's
task ids) and re-sizes its share to ``rate / unfinished``. A batch counts as unfinished until FC
reports its task finished, including one not dispatched yet or waiting for FC's retry, so the count
only falls: every worker's count is at least the number still running, and the shares of the
running workers add up to at most the rate at every moment. A failed count keeps the share.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from replica_failover.pacing import AdaptiveRate

REFRESH_SECONDS: Final = 5.0  # one ListAsyncTasks per worker per interval: cheap for FC, quick to follow
MAX_HISTORY: Final = 64  # share changes kept for the worker's result

# counts the incident's workers not finished yet (this one included); None when it cannot tell
Unfinished = Callable[[], int | None]


def share_of(rate_limit: float | None, workers: int) -> float | None:
    """Each worker's share of the region's rate, requests/s, rounded down (the shares never add up
    to more than the rate); None when no rate is configured."""
    if rate_limit is None:
        return None
    return math.floor(rate_limit / max(1, workers) * 1000) / 1000


class SharedRate(AdaptiveRate):
    """An :class:`AdaptiveRate` paced at ``share`` from its first call, with ``share`` as its ceiling.

    With ``rate_limit`` and ``unfinished`` it re-sizes ``share`` as siblings finish (module doc).
    """

    def __init__(
        self,
        share: float,
        *,
        rate_limit: float | None = None,
        unfinished: Unfinished | None = None,
        every: float = REFRESH_SECONDS,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(ceiling=share, floor=min(0.5, share), now=now, sleep=sleep)
        self.share = self.initial_share = share
        # paced from the start: the burst belongs to the whole region, not to each worker
        self._base = share
        self._changed_at = now()
        self._rate_limit = rate_limit
        self._unfinished = unfinished if rate_limit is not None else None
        self._every = every
        self._started = now()
        self._due = self._started + every
        self._refreshing = threading.Lock()  # one sender refreshes; the others never wait for it
        self.refreshes = 0
        self.refresh_errors = 0
        self.sends = 0
        self.history: list[dict[str, Any]] = []

    def reserve(self) -> tuple[float, int]:
        self.maybe_refresh()
        return super().reserve()

    def commit(self, epoch: int, *, waited: bool) -> int | None:
        ticket = super().commit(epoch, waited=waited)
        if ticket is not None:
            with self._lock:
                self.sends += 1
        return ticket

    def maybe_refresh(self) -> None:
        """Re-size the share when the interval is up; a no-op for a fixed share or while another refreshes."""
        if self._unfinished is None or self._now() < self._due:
            return
        if not self._refreshing.acquire(blocking=False):
            return
        try:
            self._due = self._now() + self._every
            self.refresh()
        finally:
            self._refreshing.release()

    def refresh(self) -> float:
        """Count the unfinished workers now and re-size; returns the share (unchanged when the count failed)."""
        assert self._unfinished is not None and self._rate_limit is not None
        try:
            count = self._unfinished()
        except Exception:  # a failed count (FC unreachable, no permission) keeps the share
            count = None
        self.refreshes += 1
        if count is None:
            self.refresh_errors += 1
            return self.share
        new = share_of(self._rate_limit, max(1, count))
        assert new is not None
        self.resize(new, unfinished=max(1, count))
        return self.share

    def resize(self, share: float, *, unfinished: int | None = None) -> None:
        """Make ``share`` the ceiling. The current rate scales with it, so what throttles taught
        (a rate below the share) is kept in proportion; a smaller share takes effect at once."""
        with self._lock:
            old = self.share
            if share == old:
                return
            now = self._now()
            current = self._current(now)
            self.share, self._ceiling = share, share
            if current is not None:
                self._base = max(self._floor, min(share, current * share / old))
                self._changed_at = now
                if share < old:
                    self._epoch += 1  # sleepers booked at the larger share book again
                    self._next_slot = min(self._next_slot, now + 1.0 / self._base)
            if len(self.history) < MAX_HISTORY:
                self.history.append(
                    {"atSeconds": round(now - self._started, 3), "unfinished": unfinished, "share": share}
                )

    def report(self) -> dict[str, Any]:
        """What a worker's result says about its share (``fanout`` in the result)."""
        with self._lock:
            return {
                "rateShare": self.initial_share,
                "finalShare": self.share,
                "shareRefreshes": self.refreshes,
                "shareRefreshErrors": self.refresh_errors,
                "shareHistory": list(self.history),
                "throttled": self.throttles,
                "throttledShare": round(self.throttles / self.sends, 4) if self.sends else 0.0,
            }
