"""Pacing of API calls: how fast (:class:`AdaptiveRate`) and how many at once (:class:`SendSlots`).

Where it sits: event -> incident -> decision -> plan -> **execution** -> result. Every call the
executor makes, failover writes and the describes it reads state with, first takes a send slot and
then a paced moment to send; the answer (throttled or not) goes back to the rate. Throttled answers
are retried without spending the retry budget: the rate keeps them under the API's limit.
"""

from __future__ import annotations

import bisect
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from replica_failover.retry import Deadline


class AdaptiveRate:
    """Client-side send rate that finds the API's rate limit and stays just under it.

    Why not plain AIMD (halve, then +2 req/s per second): at a 100 req/s limit that needs ~25 s to
    climb back, and a blind halving on every throttle keeps the client far from the limit. Here the
    API's flow control is taken for what it is, a token bucket: a throttled answer means the bucket
    was empty when that request arrived. Between two such moments ``t_a < t_b`` the API accepted
    ``Q * (t_b - t_a)`` requests, give or take one token, whatever the bucket size and whatever our
    own rate was. So two throttles at least ``min_window`` apart measure the limit ``Q`` directly,
    and the rate can be set to ``margin * Q`` in one step.

    Control law (``rate`` is None = unpaced):

    * unpaced until the first throttle, so the bucket's initial burst is used at full concurrency;
    * a throttle with a measurable window: ``rate = margin * Q_est``, then a slow polynomial probe
      upward (``1 + a*t + b*t^2``), so a raised limit is found again and the tokens banked while
      under the limit are spent before the next throttle;
    * a throttle without one (the first, or one too close to the previous): multiplicative
      decrease of the recent send rate (``decrease``, or ``retreat`` once an estimate exists),
      then a fast linear climb (``increase`` of the rate per second) towards the next throttle,
      which then yields an estimate;
    * cooldown: a throttled request sent before the last rate change (an older epoch) belongs to a
      burst already answered and changes nothing (it still counts as an empty-bucket moment).

    :meth:`begin` spaces sends to the rate and :meth:`done` reports each answer; a sleeper re-queues
    when the rate dropped while it slept, so a decrease takes effect at once rather than after the
    queued slots.
    """

    def __init__(
        self,
        *,
        margin: float = 0.95,
        probe: tuple[float, float] = (0.02, 0.005),
        increase: float = 0.5,
        decrease: float = 0.5,
        retreat: float = 0.9,
        min_window: float = 1.0,
        max_window: float = 10.0,
        floor: float = 0.5,
        ceiling: float = 10_000.0,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._lock = threading.Lock()
        self._margin, self._probe, self._increase = margin, probe, increase
        self._decrease, self._retreat = decrease, retreat
        self._min_window, self._max_window = min_window, max_window
        self._floor, self._ceiling = floor, ceiling
        self._now, self._sleep = now, sleep
        self._base: float | None = None  # rate set at the last change; None: unpaced
        self._changed_at = float("-inf")
        self._epoch = 0  # bumped on every decrease: sleepers queued at an older rate re-queue
        self._next_slot = 0.0
        self._first_send: float | None = None
        self._tickets = itertools.count(1)
        # ticket -> (send time, rate epoch it was sent in), answers not yet seen
        self._inflight: dict[int, tuple[float, int]] = {}
        # send times only; bounded so a 10,000-target run keeps a few KB, not a list per call
        self._sent: deque[float] = deque(maxlen=4096)
        self._accepted: deque[float] = deque(maxlen=16384)
        self._throttled: list[float] = []  # sorted send times of throttled requests (last 64)
        self._last_throttle = float("-inf")  # when the last throttled answer arrived
        self.estimate: float | None = None  # the API's limit as last measured, requests/s
        self.throttles = 0
        self.decreases = 0

    # --------------------------------------------------------------- reading
    @property
    def rate(self) -> float | None:
        with self._lock:
            return self._current(self._now())

    def stats(self) -> dict[str, float | int | None]:
        with self._lock:
            rate = self._current(self._now())
            return {
                "rate": None if rate is None else round(rate, 2),
                "estimate": None if self.estimate is None else round(self.estimate, 2),
                "throttles": self.throttles,
                "decreases": self.decreases,
            }

    def calm(self, within: float = 1.0) -> bool:
        """No throttled answer arrived in the last ``within`` seconds: the API is not pushing back."""
        with self._lock:
            return self._now() - self._last_throttle >= within

    def _current(self, now: float) -> float | None:
        if self._base is None:
            return None
        dt = max(0.0, now - self._changed_at)
        if self.estimate is None:
            grown = self._base * (1.0 + self._increase * dt)
        else:
            a, b = self._probe
            grown = self._base * (1.0 + a * dt + b * dt * dt)
        return min(self._ceiling, grown)

    # --------------------------------------------------------------- sending
    def begin(self, deadline: Deadline) -> int | None:
        """Wait for this request's slot; returns a ticket for :meth:`done`, or None if the slot is past the deadline."""
        for _ in range(64):  # each pass means the rate dropped while we slept; 64 decreases is a storm
            wait, epoch = self.reserve()
            if wait > deadline.remaining():
                return None
            if wait > 0:
                self._sleep(wait)
            ticket = self.commit(epoch, waited=wait > 0)
            if ticket is not None:
                return ticket
        return None

    def reserve(self) -> tuple[float, int]:
        """Book the next send slot: (seconds to wait for it, the rate epoch it was booked in)."""
        with self._lock:
            now = self._now()
            rate = self._current(now)
            if rate is None:
                return 0.0, self._epoch
            slot = max(now, self._next_slot)
            self._next_slot = slot + 1.0 / rate
            return slot - now, self._epoch

    def commit(self, epoch: int, *, waited: bool) -> int | None:
        """Send now: a ticket for :meth:`done`; None when the rate dropped while waiting (book again)."""
        with self._lock:
            if waited and epoch != self._epoch:
                return None
            sent = self._now()
            if self._first_send is None:
                self._first_send = sent
            self._sent.append(sent)
            ticket = next(self._tickets)
            self._inflight[ticket] = (sent, self._epoch)
            return ticket

    def done(self, ticket: int | None, *, throttled: bool) -> None:
        """The answer to ``ticket``'s request arrived: throttled, or anything else (the API took a token)."""
        with self._lock:
            now = self._now()
            sent, epoch = self._inflight.pop(ticket, (now, self._epoch)) if ticket is not None else (now, self._epoch)
            if throttled:
                self._throttle(sent, epoch, now)
            else:
                self._accepted.append(sent)

    # ------------------------------------------------------------- adapting
    def _throttle(self, sent: float, epoch: int, now: float) -> None:
        self.throttles += 1
        self._last_throttle = now
        measured = self._measure(sent)
        bisect.insort(self._throttled, sent)
        if len(self._throttled) > 64:
            del self._throttled[0]
        if measured is not None:
            self.estimate = measured
        if epoch != self._epoch:
            return  # cooldown: sent at a rate already given up, part of a burst already answered
        current = self._current(now)
        if measured is not None:
            new = self._margin * measured
        else:
            factor = self._decrease if self.estimate is None else self._retreat
            recent = self._send_rate(now)
            new = factor * (recent if current is None else min(current, recent))
        new = max(self._floor, min(self._ceiling, new))
        self._base, self._changed_at = new, now
        self._epoch += 1
        self._next_slot = now + 1.0 / new
        self.decreases += 1

    def _measure(self, t_b: float) -> float | None:
        """Accepted requests per second between the latest earlier throttle at least ``min_window`` before."""
        t_a = next(
            (t for t in reversed(self._throttled) if self._min_window <= t_b - t <= self._max_window),
            None,
        )
        if t_a is None:
            return None
        # unanswered requests count as accepted: a throttle is answered at once, an accepted call takes the
        # API's latency, so what is still in flight was almost surely let through
        accepted = sum(1 for s in self._accepted if t_a < s < t_b)
        accepted += sum(1 for s, _ in self._inflight.values() if t_a < s < t_b)
        return max(self._floor, accepted / (t_b - t_a))

    def _send_rate(self, now: float) -> float:
        """Sends per second over the last second (or since the first send, if sooner)."""
        span = min(1.0, now - self._first_send) if self._first_send is not None else 1.0
        count = sum(1 for s in self._sent if now - s <= 1.0)
        return max(self._floor, count / max(span, 0.05))


class SendSlots:
    """At most ``n`` API calls in flight; a waiting retry or look goes before a first attempt.

    Why the priority: the executor runs more threads than slots, so under the API's rate limit a
    queue forms. A target on its third attempt, queued behind fresh targets each time, would finish
    seconds after the rest; the run's time is its last target's, so those go first.
    """

    def __init__(self, n: int) -> None:
        self._lock = threading.Lock()
        # two queues on one lock, and a release wakes one waiter of the right kind: waking every
        # waiting thread on every call costs more CPU than the calls (4 threads per slot)
        self._urgent_turn = threading.Condition(self._lock)
        self._normal_turn = threading.Condition(self._lock)
        self._free = n
        self._urgent = 0  # urgent callers waiting

    @contextmanager
    def slot(self, *, urgent: bool) -> Iterator[None]:
        with self._lock:
            try:
                if urgent:
                    self._urgent += 1
                    try:
                        while self._free <= 0:
                            self._urgent_turn.wait()
                    finally:
                        self._urgent -= 1
                else:
                    while self._free <= 0 or self._urgent > 0:
                        self._normal_turn.wait()
                self._free -= 1
            finally:
                self._pass_on()  # a slot still free (or a wake-up this thread no longer needs) goes on
        try:
            yield
        finally:
            with self._lock:
                self._free += 1
                self._pass_on()

    def _pass_on(self) -> None:
        if self._free > 0:
            (self._urgent_turn if self._urgent > 0 else self._normal_turn).notify()
