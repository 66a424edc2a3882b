"""The bench's lower bound: what the API's flow control and the injected faults make unavoidable.

A run of N targets against a token bucket of rate Q and size B, with latency L and C calls in flight:

* **Calls that cannot be avoided.** ``pages = 1 + ceil(N / 500)`` describes to plan (one page of
  groups, 500 pairs a page), sent one after another. Each target needs one write; a 504 answered
  *before* the change was applied forces another write, and one answered *after* it forces a look
  at the target (a describe, batched at 100 ids), never another write. With the bench's rules each
  write answers 504-before with probability F/2 and 504-after with F/2, so a target's writes are
  geometric: ``1 / (1 - F/2)`` on average, and ``(F/2) / (1 - F/2)`` of the targets need a look.
  Measured from a run's ledger (:func:`floor_from_ledger`), the counts are the faults that fired.
* **The bucket's burst.** The bucket starts full: the first B calls pass at once and the rest at Q
  per second, so M calls through it take at least ``(M - B) / Q`` after the first, not ``M / Q``.
  The planning describes (a few) leave the bucket full again, since it refills while they run.
* **Latency and concurrency.** M calls at most C at a time take ``ceil(M / C) * L``; the last write
  is applied L after it is sent.

``bound = pages * L + max((M - B) / Q, ceil(M / C) * L) + L`` with ``M`` the unavoidable writes plus
looks. It ignores nothing the function could avoid, so a run cannot be faster than it; how much
slower is the function's overhead (looks it takes that were not needed, backoff, the tail).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final

PAGE_SIZE: Final = 500  # pairs per DescribeDiskReplicaPairs page (the function asks for 500)
LOOK_BATCH: Final = 100  # ids per status look (the function's batched describe)


@dataclass(frozen=True)
class Bound:
    seconds: float
    by_rate: float
    by_concurrency: float
    describe_pages: int
    writes: float  # unavoidable write calls
    looks: int  # unavoidable describes after ambiguous answers
    calls_per_target: float  # (writes + looks + pages) / N: what a run's "API calls / target" is measured against
    burst: float

    def as_dict(self) -> dict[str, Any]:
        camel = {
            "by_rate": "byRate",
            "by_concurrency": "byConcurrency",
            "describe_pages": "describePages",
            "calls_per_target": "callsPerTarget",
        }
        return {camel.get(k, k): v for k, v in asdict(self).items()}


def bound(
    n: int,
    *,
    latency_s: float,
    rate: float,
    concurrency: int,
    burst: float | None = None,
    writes: float | None = None,
    looks: int | None = None,
    fault_rate: float = 0.0,
) -> Bound:
    """The bound for N targets; ``writes``/``looks`` default to their expectation under ``fault_rate``."""
    if n < 0 or latency_s < 0 or concurrency < 1 or not 0 <= fault_rate < 1:
        raise ValueError("n >= 0, latency >= 0, concurrency >= 1 and 0 <= fault_rate < 1")
    pages = 1 + max(1, math.ceil(n / PAGE_SIZE))
    half = fault_rate / 2
    if writes is None:
        writes = n / (1 - half)
    if looks is None:
        looks = math.ceil(n * half / (1 - half) / LOOK_BATCH)
    bucket = (burst if burst is not None else max(1.0, rate)) if rate > 0 else 0.0
    calls = writes + looks
    by_rate = max(0.0, calls - bucket) / rate if rate > 0 else 0.0
    by_concurrency = math.ceil(calls / concurrency) * latency_s
    seconds = pages * latency_s + max(by_rate, by_concurrency) + latency_s
    return Bound(
        seconds=round(seconds, 3),
        by_rate=round(by_rate, 3),
        by_concurrency=round(by_concurrency, 3),
        describe_pages=pages,
        writes=round(writes, 1),
        looks=looks,
        calls_per_target=round((writes + looks + pages) / max(1, n), 4),
        burst=bucket,
    )


def forced_calls(requests: Iterable[Mapping[str, Any]], targets: set[str]) -> tuple[int, int]:
    """(writes, looks) a run's injected faults made unavoidable, from its ledger's requests.

    Every target needs its first write; every 504 that fired *before* apply on a write needs one
    more; the 504s that fired *after* apply need a look each, batched."""
    before = after = 0
    for r in requests:
        if not str(r.get("action", "")).startswith("Failover") or str(r.get("target", "")) not in targets:
            continue
        fault = str(r.get("fault") or "")
        if fault.endswith("before"):
            before += 1
        elif fault.endswith("after"):
            after += 1
    return len(targets) + before, math.ceil(after / LOOK_BATCH)


def floor_from_ledger(
    requests: Iterable[Mapping[str, Any]],
    targets: set[str],
    *,
    latency_s: float,
    rate: float,
    concurrency: int,
    burst: float | None = None,
) -> Bound:
    """The bound of one run, with the writes and looks its faults forced (not their expectation)."""
    writes, looks = forced_calls(requests, targets)
    return bound(
        len(targets), latency_s=latency_s, rate=rate, concurrency=concurrency, burst=burst, writes=writes, looks=looks
    )
