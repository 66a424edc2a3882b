"""One region's API quota shared by the workers of one incident.

Workers that each ran their own rate controller from "unpaced" would all spend the bucket's burst
at once and throttle together. So a worker starts paced at its share, ``rate / workers`` (the
coordinator computes it from FAILOVER_RATE_LIMIT and the number of batches it dispatched), and never
exceeds it; throttles still lower it as usual (:class:`~replica_failover.pacing.AdaptiveRate`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from replica_failover.pacing import AdaptiveRate


def share_of(rate_limit: float | None, workers: int) -> float | None:
    """Each worker's share of the region's rate, requests/s; None when no rate is configured."""
    if rate_limit is None:
        return None
    return round(rate_limit / max(1, workers), 3)


class SharedRate(AdaptiveRate):
    """An :class:`AdaptiveRate` paced at ``share`` from its first call, with ``share`` as its ceiling."""

    def __init__(
        self, share: float, *, now: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        super().__init__(ceiling=share, floor=min(0.5, share), now=now, sleep=sleep)
        self.share = share
        # paced from the start: the burst belongs to the whole region, not to each worker
        self._base = share
        self._changed_at = now()
