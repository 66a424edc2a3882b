"""Retrying: the invocation deadline, the refilling retry budget, the backoff, and tenacity strategies.

Where it sits: event -> incident -> decision -> plan -> **execution** -> result. The executor (execute.py)
retries a failover call or a read with tenacity; these are the small parts it composes: a
:class:`Deadline` on the executor's clock, a :class:`RetryBudget` that bounds the rate of retries of
errors, a :class:`Backoff` (capped full jitter), and the stop/wait strategies that tie them to tenacity.
An attempt that may be retried raises :class:`Retryable`; which failures qualify is policy.py's call.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tenacity import RetryCallState
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from replica_failover.ebs import ApiFailure


@dataclass
class Deadline:
    """Monotonic deadline. FC's Python context has no remaining-time call: the handler takes
    ``context.function.timeout`` at entry and subtracts the safety margin."""

    at: float
    now: Callable[[], float] = time.monotonic

    @classmethod
    def after(cls, seconds: float, now: Callable[[], float] = time.monotonic) -> Deadline:
        return cls(now() + seconds, now)

    def remaining(self) -> float:
        return self.at - self.now()

    def expired(self) -> bool:
        return self.remaining() <= 0


class RetryBudget:
    """Retries of errors for the whole invocation, as a token bucket: ``size`` at once, then ``rate`` a second.

    Why a bucket and not a count: a fixed count protects the API by ending the run: a 15 s blip of
    503s spends fifty retries in a second and a half and leaves every target pending. A bucket
    bounds the retry *rate* instead (after the first ``size``), and a retry that finds it empty
    waits for its token, so the run slows down and goes on until the deadline. ``size`` 0 means no
    retries of errors; ``rate`` 0 makes ``size`` a plain count again. A retry of a throttled answer
    takes no token, whatever ``size`` is: it is counted in ``used`` and ``throttled``, paced by the
    send rate, and ends only at the deadline or ``max_attempts``.
    """

    def __init__(self, size: int, rate: float, now: Callable[[], float] = time.monotonic) -> None:
        self.size, self.rate = size, rate
        self._now = now
        self._lock = threading.Lock()
        self._tokens = float(size)  # below zero: tokens already promised to waiting retries
        self._at = now()
        self.used = 0  # retries made, throttled ones included
        self.throttled = 0  # of those, retries of throttled answers (no token taken)
        self.waited = 0.0  # seconds retries waited for a token, summed

    def _refill(self) -> None:
        now = self._now()
        self._tokens = min(float(self.size), self._tokens + (now - self._at) * self.rate)
        self._at = now

    @property
    def left(self) -> int:
        """Whole tokens in the bucket now."""
        with self._lock:
            self._refill()
            return max(0, int(self._tokens))

    def reserve(self, within: float) -> float | None:
        """Promise this retry a token: seconds until it is there, or None (no token within ``within`` seconds)."""
        with self._lock:
            if self.size <= 0:
                return None
            self._refill()
            if self._tokens >= 1:
                wait = 0.0
            elif self.rate <= 0:
                return None
            else:
                wait = (1 - self._tokens) / self.rate
                if wait >= within:
                    return None
            self._tokens -= 1
            self.used += 1
            self.waited += wait
            return wait

    def count_throttled(self) -> None:
        with self._lock:
            self.used += 1
            self.throttled += 1

    def stats(self) -> dict[str, float | int]:
        with self._lock:
            self._refill()
            return {
                "size": self.size,
                "rate": self.rate,
                "left": max(0, int(self._tokens)),
                "used": self.used,
                "throttled": self.throttled,
                "waitedSeconds": round(self.waited, 3),
            }


@dataclass
class Backoff:
    """Full-jitter exponential backoff between attempts on one target: ``uniform(0, min(cap, base * 2**n))``.

    Short on purpose: every second here is a second of read-only disks. What protects the API from
    our retries is the refilling retry budget and the adaptive send rate, not long sleeps; a longer
    cap only stretches the run's tail (at a 5 s cap, a target with six 504s in a row waits ~6 s).

    ``now``/``sleep`` are the executor's clock for deadlines, backoffs and the retry budget; tests
    inject a simulated one to live through a long outage without waiting it out. ``rng`` draws the
    jitter: a seeded ``random.Random`` makes the backoffs of a run reproducible.
    """

    base: float = 0.1
    cap: float = 1.0
    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def wait(self) -> wait_base:
        """The tenacity wait for attempt n: ``uniform(0, min(cap, base * 2**(n-1)))``, less any look."""
        return wait_less_looking(wait_full_jitter(self.base, self.cap, self.rng))


class Retryable(Exception):
    """An attempt failed in a way a retry can cure; the retry strategies below read it."""

    def __init__(self, failure: ApiFailure, *, looked: float = 0.0, at_once: bool = False) -> None:
        super().__init__(str(failure))
        self.failure = failure
        self.looked = looked  # seconds this attempt spent looking at the target after the failure
        self.at_once = at_once  # the policy sends this retry without a backoff (a lost answer, the API calm)


class stop_at_deadline(stop_base):
    """Stop when the next backoff would end past the invocation deadline."""

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        return retry_state.upcoming_sleep >= self.deadline.remaining()


class stop_when_budget_spent(stop_base):
    """Stop when no retry token comes before the deadline; a token that comes later lengthens the sleep.

    Runs after the backoff was drawn (tenacity waits, then stops, then sleeps ``upcoming_sleep``).
    A retry of a throttled answer takes no token: the adaptive send rate paces it.
    """

    def __init__(self, budget: RetryBudget, deadline: Deadline) -> None:
        self.budget = budget
        self.deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, Retryable) and exc.failure.throttled:
            self.budget.count_throttled()
            return False
        wait = self.budget.reserve(self.deadline.remaining())
        if wait is None:
            return True
        retry_state.upcoming_sleep = max(retry_state.upcoming_sleep, wait)
        return False


class wait_full_jitter(wait_base):
    """Capped full jitter, ``uniform(0, min(cap, base * 2**(n-1)))``, drawn from the backoff's own ``rng``."""

    def __init__(self, base: float, cap: float, rng: random.Random) -> None:
        self.base, self.cap, self.rng = base, cap, rng

    def __call__(self, retry_state: RetryCallState) -> float:
        doublings = min(max(0, retry_state.attempt_number - 1), 64)  # 2**64 * base is past any cap
        return self.rng.uniform(0.0, min(self.cap, self.base * 2.0**doublings))


class wait_less_looking(wait_base):
    """The backoff, less the time the failed attempt already spent looking at the target; none at
    all for a retry marked ``at_once``.

    A look waits for a batch and a describe round trip (a few hundred ms under load): the attempts
    are already that far apart, and sleeping the full backoff on top only stretches the run's tail.
    ``at_once`` is the executor's call (a lost answer while the API is not throttling): the backoff
    is there to relieve an API that signals overload, and a lost answer is not such a signal.
    """

    def __init__(self, inner: wait_base) -> None:
        self.inner = inner

    def __call__(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, Retryable) and exc.at_once:
            return 0.0
        looked = exc.looked if isinstance(exc, Retryable) else 0.0
        return max(0.0, self.inner(retry_state) - looked)
