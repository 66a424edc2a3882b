"""Plan -> Execution: call FailoverDiskReplicaPair/Group for each target, exactly one effect each.

Where it sits: event -> incident -> decision -> plan -> **execution** -> result. This module runs the
plan's targets on a thread pool; the parts it composes live next to it: retry.py (deadline, retry
budget, backoff, tenacity strategies), pacing.py (send rate and send slots), lookup.py (the batched
status lookup) and policy.py (what an answer means for the target).

Why one effect holds (docs/idempotency.md has the long form): every attempt of one round carries
the same ClientToken (token.py), so a retry after an ambiguous answer (504, reset, read timeout)
replays the first call instead of repeating it; the token is the same across notifications and
concurrent invocations too. The targets go in waves, one token round each: once every target of the
wave has its answer, the ones answered 200 are looked at, 100 ids a describe: failing over or failed
over, a target is done; still in a pre-failover state (the 200 replayed a token an earlier incident
consumed) or ``failover_failed`` (that round failed), it goes on in the next wave with the next
round's token. What the token cannot settle, state does: InvalidStatus and LastTokenProcessing are
reconciled by describing the target.

Retries: tenacity, capped full-jitter exponential backoff, until the invocation deadline; a lost
answer (504) is re-sent without one while the API is not throttling, and in the tail of a run that
had more targets than send slots (every open target now fits in them) without a look either, since
the same token makes it a replay. A retry
of an error takes a token from the :class:`~replica_failover.retry.RetryBudget`, a bucket that
refills over time: a storm costs the API a bounded rate of retries, and a long blip slows the run
without ending it. ``max_attempts`` (0: none) caps attempts per call for drills. A retry of a
throttled answer takes no token (it is counted, and retried even with a budget of 0, until the
deadline or ``max_attempts``): :class:`~replica_failover.pacing.AdaptiveRate` measures the API's
rate limit from the throttles themselves and paces every call, retries included, just under it
(docs/performance.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.stop import stop_base

from replica_failover.config import Settings
from replica_failover.ebs import ApiFailure, EbsApi
from replica_failover.log import JsonLogger
from replica_failover.lookup import StatusBoard
from replica_failover.pacing import AdaptiveRate, SendSlots
from replica_failover.plan import Plan, PlanItem
from replica_failover.policy import (
    NOT_READ,
    Done,
    NextRound,
    Retry,
    Verdict,
    after_accepted,
    after_failure,
    is_ambiguous,
    is_lost_answer,
    must_look,
)
from replica_failover.result import TargetResult, target_result
from replica_failover.retry import (
    Backoff,
    Deadline,
    Retryable,
    RetryBudget,
    stop_at_deadline,
    stop_when_budget_spent,
)
from replica_failover.token import MAX_ROUNDS, round_token

# Worker threads per API call in flight (FAILOVER_CONCURRENCY): the extra threads are the ones waiting
# for a look or backing off; they cost a stack each and no API capacity.
WORKERS_PER_SLOT = 4
MAX_WORKERS = 256


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
        self._open_lock = threading.Lock()
        self._open = 0  # targets of this run not finished yet
        self._crowded = False  # the run had more targets than send slots: it has a tail

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
            runs = {_key(i): _Target(token=round_token(_base(i), 0)) for i in todo}
            self._crowded = len(todo) > slots
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="failover") as pool:
                wave = list(todo)
                while wave:  # one token round per wave; a target whose 200 left it not failed over goes on
                    wave = self._wave(pool, wave, runs, results)
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
                        raise Retryable(f) from None
                    raise
                finally:
                    self.rate.done(ticket, throttled=throttled)

        try:
            return self._retrying(what).__call__(attempt)
        except Retryable as exc:
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
            wait=self.backoff.wait(),
            retry=retry_if_exception_type(Retryable),
            sleep=self._rest,
            before_sleep=before_sleep,
            reraise=True,
        )

    def _rest(self, seconds: float) -> None:
        with self.board.resting():
            self.backoff.sleep(max(0.0, min(seconds, self.deadline.remaining())))

    def _wave(
        self,
        pool: ThreadPoolExecutor,
        wave: list[PlanItem],
        runs: dict[str, _Target],
        results: dict[str, TargetResult],
    ) -> list[PlanItem]:
        """Send each target's current round until it is answered; then read, in batches, the state of
        the targets answered 200. Returns the targets that go on to the next round.

        Why the read after a 200 waits for the wave: it only tells a fresh apply from a replay of an
        earlier round, and the disk is writable either way. Read inline, it held a worker per target
        and split into describes of as many ids as there were threads, each a token of the API's
        rate limit spent while writes were still waiting. Read once the writes are out, it costs one
        describe per 100 targets, none of them in the way of a write."""
        self._open = len(wave)
        answered = list(pool.map(lambda i: self._send(i, runs[_key(i)]), wave))
        accepted = [i for i, answer in zip(wave, answered, strict=True) if answer is ACCEPTED]
        for item, answer in zip(wave, answered, strict=True):
            if isinstance(answer, Done):  # a finished target's state goes into its result, and only there
                results[_key(item)] = self._finish(item, runs.pop(_key(item)), answer)
        seen = self._read_after_200(pool, accepted)
        next_wave: list[PlanItem] = []
        for item in accepted:
            run = runs[_key(item)]
            status = seen[(item.kind, item.id)]
            verdict: Done | NextRound = status if isinstance(status, Done) else after_accepted(item.kind, status)
            if isinstance(verdict, NextRound):
                run.passed.append(verdict.status)
                run.round += 1
                if run.round < MAX_ROUNDS:
                    run.token, run.ambiguous = round_token(_base(item), run.round), False
                    self.log.info("next-round", target=_key(item), round=run.round, statusRead=verdict.status)
                    next_wave.append(item)
                    continue
                verdict = Done(
                    "failed",
                    f"{MAX_ROUNDS} ClientToken rounds were each answered 200 and left the target "
                    f"{verdict.status}; the API is not failing it over. Fail it over by hand.",
                    verdict.status,
                )
            results[_key(item)] = self._finish(item, runs.pop(_key(item)), verdict)
        return next_wave

    def _in_tail(self) -> bool:
        """The end of a run that had more targets than send slots: every target still open fits in
        the slots. A run that never had more keeps looking before it retries: nothing waits there,
        and a look saves the write of an applied call."""
        return self._crowded and self._open <= self.settings.concurrency

    def _send(self, item: PlanItem, run: _Target) -> Done | _Accepted:
        if run.t0 is None:
            run.started, run.t0 = time.time(), time.monotonic()
        with self.board.working():
            try:
                return self._round(item, run)
            finally:
                with self._open_lock:
                    self._open -= 1

    def _read_after_200(
        self, pool: ThreadPoolExecutor, items: list[PlanItem]
    ) -> dict[tuple[str, str], str | Done | None]:
        """The status of each target answered 200 (None: gone), 100 ids per describe, the describes in
        parallel; a target whose describe failed maps to its pending outcome."""
        chunks = [
            (kind, chunk)
            for kind in ("group", "pair")
            for chunk in _chunks([i.id for i in items if i.kind == kind], StatusBoard.BATCH)
        ]
        region = self.settings.dr_region

        def read(kind_ids: tuple[str, list[str]]) -> dict[tuple[str, str], str | Done | None]:
            kind, ids = kind_ids
            try:
                found = self._fetch_statuses(region, kind, ids)
            except ApiFailure as f:
                why = Done("pending", f"answered 200, and reading its state failed: {f.code}: {f.message}")
                return {(kind, i): why for i in ids}
            return {(kind, i): found.get(i) for i in ids}

        seen: dict[tuple[str, str], str | Done | None] = {}
        for part in pool.map(read, chunks):
            seen.update(part)
        return seen

    def _finish(self, item: PlanItem, run: _Target, done: Done) -> TargetResult:
        res = target_result(
            item,
            done.outcome,
            done.reason,
            status_after=done.status_after,
            client_token=run.token,
            token_round=run.round,
            passed_rounds=run.passed,
            attempts=run.calls,
            request_ids=run.request_ids,
            errors=run.errors,
            started_at=round(run.started, 3),
            duration_ms=round((time.monotonic() - (run.t0 or time.monotonic())) * 1000, 1),
        )
        self.log.info(
            "target",
            kind=item.kind,
            id=item.id,
            outcome=done.outcome,
            attempts=run.calls,
            round=run.round,
            reason=done.reason,
        )
        return res

    def _round(self, item: PlanItem, run: _Target) -> Done | _Accepted:
        """One round: the call with this round's token, retried until a 200, the policy decides, or retrying stops."""
        try:
            verdict: Done | _Accepted = self._retrying(_key(item))(self._attempt, item, run)
        except Retryable as exc:
            f = exc.failure
            return Done("pending", f"{self._why_stopped(run)}; last error {f.code}: {f.message}")
        return verdict

    def _why_stopped(self, run: _Target) -> str:
        if self.settings.max_attempts and run.calls >= self.settings.max_attempts:
            return f"{self.settings.max_attempts} attempts made (FAILOVER_MAX_ATTEMPTS)"
        if self.budget.size <= 0:
            return "no retries allowed (FAILOVER_RETRY_BUDGET=0)"
        if self.budget.rate <= 0 and self.budget.left <= 0:
            return "retry budget spent (FAILOVER_RETRY_RATE=0)"
        return "deadline reached"

    def _attempt(self, item: PlanItem, run: _Target) -> Done | _Accepted:
        """One call, then the policy's verdict on it; a Retry verdict is raised as Retryable for tenacity."""
        failure: ApiFailure | None = None
        # released before any look, so a waiting look holds no send slot; a retry goes first in line
        with self._slots.slot(urgent=run.calls > 0):
            ticket = None if self.deadline.expired() else self.rate.begin(self.deadline)
            if ticket is None:
                return Done("pending", "the invocation deadline arrived before the call could be made")
            run.calls += 1
            try:
                if item.kind == "pair":
                    rid = self.api.failover_pair(item.region, item.id, run.token)
                else:
                    rid = self.api.failover_group(item.region, item.id, run.token)
            except ApiFailure as f:
                failure = f
            except BaseException:
                self.rate.done(ticket, throttled=False)  # no answer we understood: not a throttle
                raise
            self.rate.done(ticket, throttled=failure is not None and failure.throttled)
        if failure is None:
            run.request_ids.append(rid)
            return ACCEPTED  # the state after it is read with the wave's (_wave)
        run.errors.append(failure.code)
        if failure.request_id:
            run.request_ids.append(failure.request_id)
        # decide with what was known before this answer; an ambiguous one leaves it open whether the
        # write was applied, which matters to the next reconciliation
        ambiguous_before = run.ambiguous
        run.ambiguous = run.ambiguous or is_ambiguous(failure)
        return self._on_failure(item, failure, ambiguous_before)

    def _on_failure(self, item: PlanItem, failure: ApiFailure, ambiguous_before: bool) -> Done:
        """A failed call: the policy's verdict, with the target's status read first when the policy needs it."""
        if not must_look(failure):
            return _settled(after_failure(item.kind, item.region, failure, NOT_READ, ambiguous_before=ambiguous_before))
        if self._in_tail() and is_lost_answer(failure) and self.rate.calm():
            # every open target can have a call in flight, so a look would save no send that another
            # target waits for, and it costs a round trip on the chain the run now waits for. Re-send
            # under the same token: an applied write answers as a replay, its 200 is read as any other.
            raise Retryable(failure, at_once=True)
        looking = self.backoff.now()
        seen = self._look(item)
        if isinstance(seen, (Retry, Done)):
            return _settled(seen)
        verdict = after_failure(item.kind, item.region, failure, seen, ambiguous_before=ambiguous_before)
        # the retry's backoff is shortened by the time this look took (wait_less_looking); a lost
        # answer is re-sent at once while the API is not throttling: the send rate and slots pace it
        at_once = is_lost_answer(failure) and self.rate.calm()
        return _settled(verdict, looked=self.backoff.now() - looking, at_once=at_once)

    def _look(self, item: PlanItem) -> str | Retry | Done | None:
        """The target's status now (None: gone), from a batched describe shared with other workers; or,
        when no status could be read, what to do instead."""
        try:
            return self.board.status(item.kind, item.id, self.deadline)
        except ApiFailure as f:
            return Retry(f)  # the describe's own retries gave up: retry the call, which looks again
        except TimeoutError:
            return Done("pending", "the invocation deadline arrived while checking the target's state")

    def _fetch_statuses(self, region: str, kind: str, ids: list[str]) -> dict[str, str]:
        if kind == "pair":
            recs = self.retry_call(partial(self.api.describe_pairs, region, pair_ids=ids), "status")
        else:
            recs = self.retry_call(partial(self.api.describe_groups, region, group_ids=ids), "status")
        id_key = "ReplicaPairId" if kind == "pair" else "ReplicaGroupId"
        return {str(r.get(id_key)): str(r.get("Status")) for r in recs}

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


@dataclass(slots=True)  # one per target for a whole wave: no per-instance dict
class _Target:
    """One target's run so far: the round and token, and what its calls left for the result."""

    token: str
    round: int = 0
    calls: int = 0
    request_ids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)  # per round left behind: what the target read after its 200
    started: float = 0.0  # wall clock of the first send, for the result
    t0: float | None = None  # monotonic clock of the same moment
    ambiguous: bool = False  # an earlier attempt of this round may have been applied without us hearing so


class _Accepted:
    """A 200: the round's call was taken. Whether it did the failover is read with the wave's batch."""


ACCEPTED: Final = _Accepted()


def _base(item: PlanItem) -> str:
    assert item.token_base is not None, "a target to fail over has a token base (plan.py)"
    return item.token_base


def _settled(verdict: Verdict, *, looked: float = 0.0, at_once: bool = False) -> Done:
    """Hand a verdict to tenacity: a Retry is raised (tenacity retries exceptions), a Done returned.
    A failed call never starts the next round: only a 200 does (policy.after_failure)."""
    if isinstance(verdict, Retry):
        raise Retryable(verdict.failure, looked=looked, at_once=at_once)
    if isinstance(verdict, NextRound):
        raise AssertionError(f"the next round after a failed call ({verdict.status}): policy.py never says so")
    return verdict
