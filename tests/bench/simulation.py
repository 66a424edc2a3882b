"""A discrete-event model of the executor's send loop against a token-bucket API, on a fake clock.

Used by the AdaptiveRate tests: C workers each take a target, book a slot with
``AdaptiveRate.reserve``, send at the slot (``commit``), and hear back after the API's latency
(accepted) or at once (throttled, as the gateway answers before any work). Retries wait a
full-jitter backoff. Deterministic for a seed; no threads, no sleeping.
"""

from __future__ import annotations

import heapq
import itertools
import random
from dataclasses import dataclass, field

from replica_failover.pacing import AdaptiveRate


@dataclass
class Bucket:
    rate: float
    burst: float
    tokens: float = -1.0
    last: float = 0.0

    def allow(self, now: float) -> bool:
        if self.tokens < 0:
            self.tokens = self.burst
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


@dataclass
class SimResult:
    seconds: float  # until the last target's failover was applied
    calls: int
    throttles: int
    sends: list[tuple[float, bool]] = field(default_factory=list)  # (server time, throttled)
    estimate: float | None = None


def simulate(
    *,
    targets: int,
    limit: float,
    burst: float | None = None,
    concurrency: int = 16,
    latency: float = 0.05,
    fault_rate: float = 0.0,
    jitter: float = 0.003,
    seed: int = 0,
    limit_after: tuple[float, float] | None = None,
) -> SimResult:
    """Run ``targets`` calls to completion; ``limit_after=(t, q)`` changes the limit to q at time t."""
    rng = random.Random(seed)
    clock = [0.0]
    rate = AdaptiveRate(now=lambda: clock[0])
    bucket = Bucket(limit, burst if burst is not None else limit)
    events: list[tuple[float, int, str, int, int]] = []  # (time, seq, kind, worker, payload)
    seq = itertools.count()
    todo = list(range(targets))
    attempts: dict[int, int] = {}
    current: dict[int, int] = {}
    applied: dict[int, float] = {}  # target -> when the API applied its failover
    result = SimResult(0.0, 0, 0)

    def push(at: float, kind: str, worker: int, payload: int = 0) -> None:
        heapq.heappush(events, (at, next(seq), kind, worker, payload))

    def book(worker: int, now: float) -> None:
        wait, epoch = rate.reserve()
        push(now + wait, "send", worker, epoch if wait > 0 else -1)

    for w in range(min(concurrency, targets)):
        current[w] = todo.pop()
        book(w, 0.0)
    for _ in range(50 * targets + 10_000):  # bounded: every target settles within a few events
        if not events:
            break
        now, _, kind, worker, payload = heapq.heappop(events)
        clock[0] = now
        if kind == "send":
            ticket = rate.commit(payload, waited=payload >= 0)
            if ticket is None:
                book(worker, now)
                continue
            result.calls += 1
            arrive = now + rng.uniform(0.0, jitter)  # client-side overhead before the gateway sees it
            if limit_after is not None and arrive >= limit_after[0]:
                bucket.rate = limit_after[1]
            ok = bucket.allow(arrive)
            result.sends.append((arrive, not ok))
            if not ok:
                result.throttles += 1
                push(arrive + 0.001, "throttled", worker, ticket)
            else:
                push(arrive + latency, "answered", worker, ticket)
        elif kind == "retry":
            book(worker, now)
        else:
            rate.done(payload, throttled=kind == "throttled")
            target = current[worker]
            # half the faults strike before the change is applied, half after (a lost acknowledgement)
            draw = rng.random() if kind == "answered" else 1.0
            if kind == "answered" and draw >= fault_rate / 2:
                applied.setdefault(target, now - latency / 2)
            if kind == "throttled" or draw < fault_rate:
                n = attempts[target] = attempts.get(target, 0) + 1
                push(now + rng.uniform(0.0, min(5.0, 0.2 * 2 ** (n - 1))), "retry", worker)
                continue
            if not todo:
                continue
            current[worker] = todo.pop()
            book(worker, now)
    result.estimate = rate.estimate
    result.seconds = max(applied.values(), default=0.0)
    return result
