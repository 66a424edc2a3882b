"""Plan -> Execution: call FailoverDiskReplicaPair/Group for each target, exactly one effect each.

Why one effect holds (docs/idempotency.md has the long form): every attempt of one round carries
the same ClientToken (token.py), so a retry after an ambiguous answer (504, reset, read timeout)
replays the first call instead of repeating it; the token is the same across notifications and
concurrent invocations too. After a 200 the target is looked at: failing over or failed over, it is
done; still in a pre-failover state (the 200 replayed a token an earlier incident consumed) or
``failover_failed`` (that round failed), the next round's token is sent. What the token cannot
settle, state does: InvalidStatus and LastTokenProcessing are reconciled by describing the target.

Retries: tenacity, capped full-jitter exponential backoff, until the invocation deadline. A retry
of an error (not a throttle) takes a token from :class:`RetryBudget`, a bucket that refills over
time: a storm costs the API a bounded rate of retries, and a long blip slows the run without ending
it. ``max_attempts`` (0: none) caps attempts per call for drills. Throttled answers spend no
budget: :class:`AdaptiveRate` measures the API's rate limit from the throttles themselves and paces
every call, retries included, just under it (docs/performance.md).
"""

from __future__ import annotations

import bisect
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from replica_failover.config import Settings
from replica_failover.ebs import ApiFailure, EbsApi
from replica_failover.log import JsonLogger
from replica_failover.plan import ALREADY, Plan, PlanItem, can_fail_over
from replica_failover.result import Outcome, TargetResult, target_result
from replica_failover.token import MAX_ROUNDS, round_token

RAM_ACTION = {"pair": "ebs:FailoverDiskReplicaPair", "group": "ebs:FailoverDiskReplicaGroup"}
PERMISSION_CODES = frozenset(
    {"Forbidden", "Forbidden.Action", "Forbidden.RAM", "NoPermission", "Forbidden.NoPermission"}
)
CONFIG_CODES = frozenset({"OperationDenied.OperateNotAllowedForPrimary", "OperationDenied.OperateNotAllowedForStandby"})
GONE = frozenset({"invalid", "deleted", "deleting"})
# Worker threads per API call in flight (FAILOVER_CONCURRENCY): the extra threads are the ones waiting
# for a look or backing off; they cost a stack each and no API capacity.
WORKERS_PER_SLOT = 4
MAX_WORKERS = 256


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

    Why a bucket and not a count: a fixed count protects the API by ending the run, so a 15 s blip
    of 503s spent fifty retries in a second and a half and left every target pending. A bucket
    bounds the retry *rate* instead (after the first ``size``), and a retry that finds it empty
    waits for its token, so the run slows down and goes on until the deadline. ``size`` 0 means no
    retries at all; ``rate`` 0 makes ``size`` a plain count again.
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

    ``acquire``/``begin`` space sends to the rate; a sleeper re-queues when the rate dropped while
    it slept, so a decrease takes effect at once rather than after the queued slots.
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

    def acquire(self, deadline: Deadline) -> bool:
        """Wait for a send slot (no answer tracking); False if it would come after the deadline."""
        ticket = self.begin(deadline)
        if ticket is None:
            return False
        with self._lock:
            sent, _ = self._inflight.pop(ticket)
            self._accepted.append(sent)  # untracked sends count as accepted: the safe side for estimates
        return True

    def on_throttle(self) -> None:
        """A throttled answer to an untracked request (sent just now, as far as we know)."""
        self.done(None, throttled=True)

    # ------------------------------------------------------------- adapting
    def _throttle(self, sent: float, epoch: int, now: float) -> None:
        self.throttles += 1
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
        # waiting thread on every call cost more CPU than the calls (4 threads per slot)
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
        if isinstance(exc, _Retryable) and exc.failure.throttled:
            self.budget.count_throttled()
            return False
        wait = self.budget.reserve(self.deadline.remaining())
        if wait is None:
            return True
        retry_state.upcoming_sleep = max(retry_state.upcoming_sleep, wait)
        return False


class _Retryable(Exception):
    def __init__(self, failure: ApiFailure, *, looked: float = 0.0) -> None:
        super().__init__(str(failure))
        self.failure = failure
        self.looked = looked  # seconds this attempt spent looking at the target after the failure


class wait_less_looking(wait_base):
    """The backoff, less the time the failed attempt already spent looking at the target.

    A look waits for a batch and a describe round trip (a few hundred ms under load): the attempts
    are already that far apart, and sleeping the full backoff on top only stretches the run's tail.
    """

    def __init__(self, inner: wait_base) -> None:
        self.inner = inner

    def __call__(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        looked = exc.looked if isinstance(exc, _Retryable) else 0.0
        return max(0.0, self.inner(retry_state) - looked)


class _NextRound(Exception):
    """A 200 left the target not failed over: the next round's token goes out (no backoff, no budget)."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


class _Final(Exception):
    def __init__(self, outcome: Outcome, reason: str, status_after: str | None = None) -> None:
        super().__init__(reason)
        self.outcome, self.reason, self.status_after = outcome, reason, status_after


@dataclass
class Backoff:
    """Full-jitter exponential backoff between attempts on one target: ``uniform(0, min(cap, base * 2**n))``.

    Short on purpose: every second here is a second of read-only disks. What protects the API from
    our retries is the refilling retry budget and the adaptive send rate, not long sleeps; a longer
    cap only stretched the run's tail (a target with six 504s in a row waited ~6 s at a 5 s cap).

    ``now``/``sleep`` are the executor's clock for deadlines, backoffs and the retry budget; tests
    inject a simulated one to live through a long outage without waiting it out.
    """

    base: float = 0.1
    cap: float = 1.0
    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


class StatusBoard:
    """Answers "what is this target's status now?" for many workers with as few describes as possible.

    After an ambiguous write (504, reset, read timeout) the function looks before it retries: if the
    write was applied the target is done and no retry is sent. In a 504 storm many workers ask at
    once, so askers are coalesced: the first becomes the leader and waits for others to join, then
    describes up to 100 ids of its kind in one call, and every asker in that batch gets the answer.

    How long the leader waits: up to ``window``, but not a moment longer than useful. Workers report
    :meth:`enter`/:meth:`leave` around each target and :meth:`resting` around a backoff, so the leader
    knows how many could still join soon; once every other working thread is asking or resting (the
    end of a run, or a lone straggler) or the batch is full, it goes at once. While the run is paced
    by the API's rate limit the wait costs nothing: the other workers keep the send slots busy (the
    executor runs more threads than API calls in flight).
    """

    BATCH = 100  # the API's limit for PairIds/GroupIds

    def __init__(self, fetch: Callable[[str, list[str]], dict[str, str]], *, window: float = 0.5) -> None:
        self._fetch = fetch  # (kind, ids) -> {id: status}; ids missing from it no longer exist
        self._window = window
        self._lock = threading.Lock()
        # askers wait for answers, a leader waits for askers: separate queues, so the many waiting
        # askers are not woken each time a worker starts or finishes a target
        self._answered = threading.Condition(self._lock)
        self._joined = threading.Condition(self._lock)
        self._wanted: dict[str, set[str]] = {"pair": set(), "group": set()}
        self._answers: dict[tuple[str, str], tuple[int, str | None]] = {}
        self._leading: set[str] = set()
        self._round = 0
        self._active = 0  # threads working on a target
        # of those, threads that will not join a batch soon: inside status(), or in a retry backoff.
        # A set of thread ids, because a leader whose describe backs off is both and counts once.
        self._idle: set[int] = set()
        self.describes = 0

    def enter(self) -> None:
        with self._lock:
            self._active += 1

    def leave(self) -> None:
        with self._lock:
            self._active -= 1
            self._joined.notify_all()  # one fewer who could join: a waiting leader may go now

    @contextmanager
    def resting(self) -> Iterator[None]:
        """This thread will not join a batch soon (a retry backoff, or asking already)."""
        me = threading.get_ident()
        with self._lock:
            outer = me not in self._idle
            self._idle.add(me)
            self._joined.notify_all()
        try:
            yield
        finally:
            if outer:
                with self._lock:
                    self._idle.discard(me)

    def status(self, kind: str, rid: str, deadline: Deadline) -> str | None:
        with self.resting():
            return self._status(kind, rid, deadline)

    def _status(self, kind: str, rid: str, deadline: Deadline) -> str | None:
        key = (kind, rid)
        with self._lock:
            self._wanted[kind].add(rid)
            asked_in = self._round  # only an answer from a later round reflects the state after our write
            while True:
                # one worker per target, so an answer is read once: popped, the map stays as small as the batch
                answer = self._answers.pop(key, None)
                if answer is not None and answer[0] > asked_in:
                    return answer[1]
                if kind not in self._leading:
                    self._leading.add(kind)
                    break
                if deadline.remaining() <= 0:
                    raise TimeoutError(f"no status for {kind} {rid} before the deadline")
                self._answered.wait(timeout=min(1.0, deadline.remaining()))
        ids: list[str] = []
        try:
            with self._lock:  # let concurrent askers join, while any could
                until = time.monotonic() + max(0.0, min(self._window, deadline.remaining()))
                while len(self._wanted[kind]) < self.BATCH and len(self._idle) < self._active:
                    left = until - time.monotonic()
                    if left <= 0:
                        break
                    self._joined.wait(timeout=left)
                others = sorted(self._wanted[kind] - {rid})[: self.BATCH - 1]
                ids = [rid, *others]
                self._wanted[kind].difference_update(ids)
                self._round += 1
                this_round = self._round
            found = self._fetch(kind, ids)
            self.describes += 1
            with self._lock:
                for i in others:
                    self._answers[(kind, i)] = (this_round, found.get(i))
            return found.get(rid)
        except BaseException:
            with self._lock:  # unanswered askers must still be answered by a later leader
                self._wanted[kind].update(ids)
            raise
        finally:
            with self._lock:
                self._leading.discard(kind)
                self._answered.notify_all()


class Executor:
    def __init__(
        self,
        api: EbsApi,
        settings: Settings,
        deadline: Deadline,
        log: JsonLogger,
        *,
        backoff: Backoff | None = None,
        rate: AdaptiveRate | None = None,
    ) -> None:
        self.api = api
        self.settings = settings
        self.log = log
        self.backoff = backoff or Backoff()
        clock = self.backoff.now
        # the same deadline on the executor's clock (the handler measured it on the real one)
        self.deadline = deadline if clock is deadline.now else Deadline(clock() + deadline.remaining(), clock)
        self.budget = RetryBudget(settings.retry_budget, settings.retry_rate, clock)
        self.rate = rate or AdaptiveRate()
        self.board = StatusBoard(partial(self._fetch_statuses, settings.dr_region))
        # FAILOVER_CONCURRENCY bounds the API calls in flight, not the threads: a worker waiting to look
        # (StatusBoard) or backing off holds no slot, so others keep sending and the looks batch up
        self._slots = SendSlots(settings.concurrency)

    # ------------------------------------------------------------------ API
    def run(self, plan: Plan) -> list[TargetResult]:
        results: dict[str, TargetResult] = {}
        todo = plan.to_failover
        for item in plan.items:
            if item.decision != "failover":
                results[_key(item)] = target_result(item, item.decision, item.reason, status_after=item.status)
        if todo:
            # FAILOVER_CONCURRENCY=1 stays strictly one target at a time, in plan order (reproducible)
            slots = self.settings.concurrency
            per_slot = WORKERS_PER_SLOT if slots > 1 else 1
            workers = max(1, min(per_slot * slots, MAX_WORKERS, len(todo)))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="failover") as pool:
                for item, res in zip(todo, pool.map(self._failover_one, todo), strict=True):
                    results[_key(item)] = res
            # what the API's flow control did to this run: the estimated limit and how often it throttled
            self.log.info("send-rate", **self.rate.stats())
            self.log.info("retry-budget", **self.budget.stats())
        ordered = [results[_key(i)] for i in plan.items]
        if self.settings.verify:
            self._verify(plan, ordered)
        return ordered

    def retry_call(self, fn: Callable[[], Any], what: str) -> Any:
        """A read (describe) with the same transient-error policy; raises the last ApiFailure."""

        def attempt() -> Any:
            # reads share the account's flow control with the writes, so they are paced too; a read
            # whose slot would fall past the deadline goes unpaced (the retry policy owns the deadline)
            with self._slots.slot(urgent=True):  # reads here are looks and verifies others wait on
                ticket = self.rate.begin(self.deadline)
                throttled = False
                try:
                    return fn()
                except ApiFailure as f:
                    throttled = f.throttled
                    if f.transient:
                        raise _Retryable(f) from None
                    raise
                finally:
                    self.rate.done(ticket, throttled=throttled)

        try:
            return self._retrying(what).__call__(attempt)
        except _Retryable as exc:
            raise exc.failure from None

    # ------------------------------------------------------------- internals
    def _retrying(self, what: str) -> Retrying:
        def before_sleep(rs: RetryCallState) -> None:
            exc = rs.outcome.exception() if rs.outcome else None
            self.log.info(
                "retry", target=what, attempt=rs.attempt_number, sleep=round(rs.upcoming_sleep, 3), error=str(exc)
            )

        # evaluated in order: the budget is only spent when nothing else stops the retry
        stop: stop_base = stop_at_deadline(self.deadline) | stop_when_budget_spent(self.budget, self.deadline)
        if self.settings.max_attempts:
            stop = stop_after_attempt(self.settings.max_attempts) | stop
        return Retrying(
            stop=stop,
            wait=wait_less_looking(wait_random_exponential(multiplier=self.backoff.base, max=self.backoff.cap)),
            retry=retry_if_exception_type(_Retryable),
            sleep=self._rest,
            before_sleep=before_sleep,
            reraise=True,
        )

    def _rest(self, seconds: float) -> None:
        with self.board.resting():
            self.backoff.sleep(max(0.0, min(seconds, self.deadline.remaining())))

    def _failover_one(self, item: PlanItem) -> TargetResult:
        started, t0 = time.time(), time.monotonic()
        attempts = 0
        request_ids: list[str] = []
        errors: list[str] = []
        passed: list[str] = []  # per round left behind: what the target read after its 200
        ambiguous = False  # an earlier attempt of this round may have been applied without us hearing so
        assert item.token_base is not None
        k = 0
        token = round_token(item.token_base, k)

        def attempt() -> tuple[Outcome, str, str | None]:
            nonlocal attempts, ambiguous
            failure: ApiFailure | None = None
            # released before any look, so a waiting look holds no send slot; a retry goes first in line
            with self._slots.slot(urgent=attempts > 0):
                ticket = None if self.deadline.expired() else self.rate.begin(self.deadline)
                if ticket is None:
                    raise _Final("pending", "the invocation deadline arrived before the call could be made")
                attempts += 1
                try:
                    if item.kind == "pair":
                        rid = self.api.failover_pair(item.region, item.id, token)
                    else:
                        rid = self.api.failover_group(item.region, item.id, token)
                except ApiFailure as f:
                    failure = f
                except BaseException:
                    self.rate.done(ticket, throttled=False)  # no answer we understood: not a throttle
                    raise
                self.rate.done(ticket, throttled=failure is not None and failure.throttled)
            if failure is not None:
                errors.append(failure.code)
                if failure.request_id:
                    request_ids.append(failure.request_id)
                # decide with what we knew before this answer; a transient (non-throttle) failure leaves it
                # open whether the write was applied, which matters to the next reconciliation
                was_ambiguous = ambiguous
                if failure.transient and not failure.throttled:
                    ambiguous = True
                return self._on_failure(item, failure, was_ambiguous)
            request_ids.append(rid)
            return self._after_accepted(item)

        outcome: Outcome
        self.board.enter()
        try:
            while True:
                try:
                    outcome, reason, status_after = self._retrying(f"{item.kind}:{item.id}")(attempt)
                    break
                except _NextRound as nxt:
                    passed.append(nxt.status)
                    k += 1
                    if k >= MAX_ROUNDS:
                        outcome, reason, status_after = (
                            "failed",
                            (
                                f"{MAX_ROUNDS} ClientToken rounds were each answered 200 and left the target "
                                f"{nxt.status}; the API is not failing it over. Fail it over by hand."
                            ),
                            nxt.status,
                        )
                        break
                    token, ambiguous = round_token(item.token_base, k), False
                    self.log.info("next-round", target=f"{item.kind}:{item.id}", round=k, statusRead=nxt.status)
        except _Final as fin:
            outcome, reason, status_after = fin.outcome, fin.reason, fin.status_after
        except _Retryable as exc:
            f = exc.failure
            if self.settings.max_attempts and attempts >= self.settings.max_attempts:
                why = f"{self.settings.max_attempts} attempts made (FAILOVER_MAX_ATTEMPTS)"
            elif self.budget.size <= 0:
                why = "no retries allowed (FAILOVER_RETRY_BUDGET=0)"
            elif self.budget.rate <= 0 and self.budget.left <= 0:
                why = "retry budget spent (FAILOVER_RETRY_RATE=0)"
            else:
                why = "deadline reached"
            outcome, reason, status_after = "pending", f"{why}; last error {f.code}: {f.message}", None
        finally:
            self.board.leave()
        res = target_result(
            item,
            outcome,
            reason,
            status_after=status_after,
            client_token=token,
            token_round=k,
            passed_rounds=passed,
            attempts=attempts,
            request_ids=request_ids,
            errors=errors,
            started_at=round(started, 3),
            duration_ms=round((time.monotonic() - t0) * 1000, 1),
        )
        self.log.info(
            "target", kind=item.kind, id=item.id, outcome=outcome, attempts=attempts, round=k, reason=reason
        )
        return res

    def _after_accepted(self, item: PlanItem) -> tuple[Outcome, str, str | None]:
        """A 200: look at the target. Only a target that reads failing over (or failed over) is done.

        The look is what tells a 200 that did the failover from one that replayed an earlier round:
        a replayed token answers "done" and changes nothing. Assumed of the API ([INF] in
        docs/idempotency.md): a 200 means applied, and visible to the next describe in the DR region.
        """
        status = self._status(item)
        action = "FailoverDisk" + ("ReplicaPair" if item.kind == "pair" else "ReplicaGroup")
        if status is None:
            return "skipped", f"{action} answered 200, then the target no longer exists", None
        if status in ALREADY:
            return "failedOver", f"{action} accepted; target is {status}", status
        if status in GONE:
            return "skipped", f"{action} answered 200, then the target read {status}", status
        if status == "failover_failed" or can_fail_over(item.kind, status):
            # a replay (an earlier incident's round, before a failback) or a round that failed: next token
            raise _NextRound(status)
        return "skipped", f"{action} answered 200 but the target reads {status}, which is not failed over", status

    def _on_failure(self, item: PlanItem, f: ApiFailure, ambiguous: bool) -> tuple[Outcome, str, str | None]:
        """The error policy, one branch per documented code. Returns a final outcome or raises _Retryable."""
        code = f.code
        # an ambiguous answer (504, 500, reset, read timeout) may hide an applied write; LastTokenProcessing
        # means our token is still in flight; InvalidStatus means the state moved. Look before retrying:
        # an applied write needs no retry at all, which halves the writes of a 504 storm.
        ambiguous_now = f.transient and not f.throttled
        if ambiguous_now or code == "OperationDenied.InvalidStatus":
            looking = self.backoff.now()
            status = self._status(item)
            if status is None:
                return "skipped", "the target no longer exists", None
            if status in ALREADY:
                # our own (ambiguous or in-flight) call did it, or a concurrent invocation did
                mine = ambiguous or ambiguous_now
                return ("failedOver" if mine else "alreadyFailedOver"), f"{code}; target is now {status}", status
            if status in GONE:
                return "skipped", f"{code}; target is {status}", status
            raise _Retryable(f, looked=self.backoff.now() - looking)
        if f.transient:
            raise _Retryable(f)
        if code == "NoSuchResource":
            return "skipped", "the target no longer exists (NoSuchResource)", None
        if code in CONFIG_CODES:
            return (
                "failed",
                (
                    f"configuration error: {code} calling region {item.region}; the DR region "
                    f"(FAILOVER_DR_REGION) must be the target's secondary region. {f.message}"
                ),
                None,
            )
        if code in PERMISSION_CODES:
            return (
                "failed",
                (
                    f"permission denied ({code}): the function's RAM role needs {RAM_ACTION[item.kind]}"
                    f" on this resource. {f.message}"
                ),
                None,
            )
        return "failed", f"{code}: {f.message}", None

    def _status(self, item: PlanItem) -> str | None:
        """The target's status now (None: gone), from a batched describe shared with other workers."""
        try:
            return self.board.status(item.kind, item.id, self.deadline)
        except ApiFailure as f:
            raise _Retryable(f) from None
        except TimeoutError:
            raise _Final("pending", "the invocation deadline arrived while checking the target's state") from None

    def _fetch_statuses(self, region: str, kind: str, ids: list[str]) -> dict[str, str]:
        if kind == "pair":
            recs = self.retry_call(partial(self.api.describe_pairs, region, pair_ids=ids), "status")
        else:
            recs = self.retry_call(partial(self.api.describe_groups, region, group_ids=ids), "status")
        field = "ReplicaPairId" if kind == "pair" else "ReplicaGroupId"
        return {str(r.get(field)): str(r.get("Status")) for r in recs}

    def _verify(self, plan: Plan, results: list[TargetResult]) -> None:
        """Poll until every target that was failed over reads ``failovered``, or the deadline."""
        watch: dict[tuple[str, str], TargetResult] = {}
        for r in results:
            if r.outcome in ("failedOver", "alreadyFailedOver"):
                if r.status_after == "failovered":
                    r.verified = True
                else:
                    watch[(r.kind, r.id)] = r
        while watch and not self.deadline.expired():
            for key, status in self._statuses(plan.dr_region, list(watch)).items():
                r = watch[key]
                r.status_after = status
                if status == "failovered":
                    r.verified = True
                    del watch[key]
                elif status == "failover_failed":
                    r.outcome, r.verified = "pending", False
                    r.reason = "the failover ended failover_failed; a re-invocation sends the next round's token"
                    del watch[key]
            if watch:
                self.backoff.sleep(max(0.0, min(self.settings.verify_poll_seconds, self.deadline.remaining())))
        for r in watch.values():
            r.verified = False

    def _statuses(self, region: str, keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """Current status of the watched targets, 100 ids per describe call."""
        wanted = set(keys)
        seen: dict[tuple[str, str], str] = {}
        try:
            for kind in ("pair", "group"):
                ids = [rid for k, rid in keys if k == kind]
                for chunk in _chunks(ids, 100):
                    if kind == "pair":
                        recs = self.retry_call(partial(self.api.describe_pairs, region, pair_ids=chunk), "verify")
                    else:
                        recs = self.retry_call(partial(self.api.describe_groups, region, group_ids=chunk), "verify")
                    for rec in recs:
                        key = (kind, str(rec.get("ReplicaPairId" if kind == "pair" else "ReplicaGroupId")))
                        if key in wanted:
                            seen[key] = str(rec.get("Status"))
        except ApiFailure as f:
            self.log.warning("verify-describe-failed", error=str(f))
        return seen


def _key(item: PlanItem) -> str:
    return f"{item.kind}:{item.id}"


def _chunks(ids: list[str], n: int) -> list[list[str]]:
    return [ids[i : i + n] for i in range(0, len(ids), n)]
