"""Plan -> Execution: call FailoverDiskReplicaPair/Group for each target, exactly one effect each.

Why one effect holds (docs/idempotency.md has the long form): every attempt for a target carries
the same ClientToken (plan.py), so a retry after an ambiguous answer (504, reset, read timeout)
replays the first call instead of repeating it; the token is the same across notifications and
concurrent invocations too. What the token cannot settle, state does: InvalidStatus and
LastTokenProcessing are reconciled by describing the target again.

Retries: tenacity, full-jitter exponential backoff, bounded per target (``max_attempts``), per
invocation (a shared retry budget) and by the invocation deadline. Throttling slows the whole
invocation down (AIMD on the send rate) instead of spending the budget.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential
from tenacity.stop import stop_base

from replica_failover.config import Settings
from replica_failover.ebs import ApiFailure, EbsApi
from replica_failover.log import JsonLogger
from replica_failover.plan import ALREADY, Plan, PlanItem
from replica_failover.result import Outcome, TargetResult

RAM_ACTION = {"pair": "ebs:FailoverDiskReplicaPair", "group": "ebs:FailoverDiskReplicaGroup"}
PERMISSION_CODES = frozenset(
    {"Forbidden", "Forbidden.Action", "Forbidden.RAM", "NoPermission", "Forbidden.NoPermission"}
)
CONFIG_CODES = frozenset({"OperationDenied.OperateNotAllowedForPrimary", "OperationDenied.OperateNotAllowedForStandby"})
GONE = frozenset({"invalid", "deleted", "deleting"})


@dataclass
class Deadline:
    """Monotonic deadline. FC's Python context has no remaining-time call: the handler takes
    ``context.function.timeout`` at entry and subtracts the safety margin."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0


@dataclass
class RetryBudget:
    """Retries left for the whole invocation: a storm on one target cannot starve the others forever."""

    left: int
    used: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self) -> bool:
        with self._lock:
            if self.left <= 0:
                return False
            self.left -= 1
            self.used += 1
            return True


class AdaptiveRate:
    """Client-side send rate, additive increase / multiplicative decrease (botocore's adaptive mode idea).

    Unlimited until the first throttle; then the rate is measured, halved, and grows back by
    ``increase`` requests/s per second without throttles. ``acquire`` spaces sends to the rate.
    """

    def __init__(
        self,
        *,
        increase: float = 2.0,
        floor: float = 0.5,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._lock = threading.Lock()
        self._rate: float | None = None
        self._increase, self._floor = increase, floor
        self._now, self._sleep = now, sleep
        self._next_slot = 0.0
        self._last_change = 0.0
        self._sent: list[float] = []
        self.throttles = 0

    @property
    def rate(self) -> float | None:
        return self._rate

    def acquire(self, deadline: Deadline) -> bool:
        with self._lock:
            now = self._now()
            self._sent.append(now)
            if len(self._sent) > 256:
                del self._sent[:128]
            if self._rate is None:
                return True
            # additive increase over the time since the last change
            self._rate += self._increase * max(0.0, now - self._last_change)
            self._last_change = now
            slot = max(now, self._next_slot)
            self._next_slot = slot + 1.0 / self._rate
            wait = slot - now
        if wait > deadline.remaining():
            return False
        if wait > 0:
            self._sleep(wait)
        return True

    def on_throttle(self) -> None:
        with self._lock:
            self.throttles += 1
            now = self._now()
            window = [t for t in self._sent if now - t <= 1.0]
            measured = float(len(window)) if window else 1.0
            current = self._rate if self._rate is not None else measured
            self._rate = max(self._floor, min(current, measured) * 0.5)
            self._last_change = now


class stop_at_deadline(stop_base):
    """Stop when the next backoff would end past the invocation deadline."""

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        return retry_state.upcoming_sleep >= self.deadline.remaining()


class stop_when_budget_spent(stop_base):
    """Stop when the invocation's shared retry budget is spent; each retry it allows costs one."""

    def __init__(self, budget: RetryBudget) -> None:
        self.budget = budget

    def __call__(self, retry_state: RetryCallState) -> bool:
        return not self.budget.take()


class _Retryable(Exception):
    def __init__(self, failure: ApiFailure) -> None:
        super().__init__(str(failure))
        self.failure = failure


class _Final(Exception):
    def __init__(self, outcome: Outcome, reason: str, status_after: str | None = None) -> None:
        super().__init__(reason)
        self.outcome, self.reason, self.status_after = outcome, reason, status_after


@dataclass
class Backoff:
    base: float = 0.2
    cap: float = 5.0


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
        self.deadline = deadline
        self.log = log
        self.backoff = backoff or Backoff()
        self.budget = RetryBudget(settings.retry_budget)
        self.rate = rate or AdaptiveRate()

    # ------------------------------------------------------------------ API
    def run(self, plan: Plan) -> list[TargetResult]:
        results: dict[str, TargetResult] = {}
        todo = plan.to_failover
        for item in plan.items:
            if item.decision != "failover":
                results[_key(item)] = TargetResult(
                    kind=item.kind,
                    id=item.id,
                    name=item.name,
                    outcome=item.decision,
                    reason=item.reason,
                    status_before=item.status,
                    status_after=item.status,
                    members=list(item.members),
                )
        if todo:
            workers = max(1, min(self.settings.concurrency, len(todo)))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="failover") as pool:
                for item, res in zip(todo, pool.map(self._failover_one, todo), strict=True):
                    results[_key(item)] = res
        ordered = [results[_key(i)] for i in plan.items]
        if self.settings.verify:
            self._verify(plan, ordered)
        return ordered

    def retry_call(self, fn: Callable[[], Any], what: str) -> Any:
        """A read (describe) with the same transient-error policy; raises the last ApiFailure."""

        def attempt() -> Any:
            try:
                return fn()
            except ApiFailure as f:
                if f.throttled:
                    self.rate.on_throttle()
                if f.transient:
                    raise _Retryable(f) from None
                raise

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

        return Retrying(
            # evaluated in order: the budget is only spent when nothing else stops the retry
            stop=stop_after_attempt(self.settings.max_attempts)
            | stop_at_deadline(self.deadline)
            | stop_when_budget_spent(self.budget),
            wait=wait_random_exponential(multiplier=self.backoff.base, max=self.backoff.cap),
            retry=retry_if_exception_type(_Retryable),
            sleep=lambda s: time.sleep(max(0.0, min(s, self.deadline.remaining()))),
            before_sleep=before_sleep,
            reraise=True,
        )

    def _failover_one(self, item: PlanItem) -> TargetResult:
        started, t0 = time.time(), time.monotonic()
        attempts = 0
        request_ids: list[str] = []
        errors: list[str] = []
        ambiguous = False  # an earlier attempt may have been applied without us hearing so

        def attempt() -> tuple[Outcome, str, str | None]:
            nonlocal attempts, ambiguous
            if self.deadline.expired() or not self.rate.acquire(self.deadline):
                raise _Final("pending", "the invocation deadline arrived before the call could be made")
            attempts += 1
            assert item.client_token is not None
            try:
                if item.kind == "pair":
                    rid = self.api.failover_pair(item.region, item.id, item.client_token)
                else:
                    rid = self.api.failover_group(item.region, item.id, item.client_token)
            except ApiFailure as f:
                errors.append(f.code)
                if f.request_id:
                    request_ids.append(f.request_id)
                if f.throttled:
                    self.rate.on_throttle()
                outcome = self._on_failure(item, f, ambiguous)
                if f.transient and not f.throttled:
                    ambiguous = True
                return outcome
            request_ids.append(rid)
            return (
                "failedOver",
                "FailoverDisk" + ("ReplicaPair" if item.kind == "pair" else "ReplicaGroup") + " accepted",
                "failovering",
            )

        outcome: Outcome
        try:
            outcome, reason, status_after = self._retrying(f"{item.kind}:{item.id}")(attempt)
        except _Final as fin:
            outcome, reason, status_after = fin.outcome, fin.reason, fin.status_after
        except _Retryable as exc:
            f = exc.failure
            why = (
                "retry budget exhausted"
                if self.budget.left <= 0
                else (
                    "deadline reached"
                    if self.deadline.remaining() <= 0
                    else f"{self.settings.max_attempts} attempts made"
                )
            )
            outcome, reason, status_after = "pending", f"{why}; last error {f.code}: {f.message}", None
        res = TargetResult(
            kind=item.kind,
            id=item.id,
            name=item.name,
            outcome=outcome,
            reason=reason,
            status_before=item.status,
            status_after=status_after,
            client_token=item.client_token,
            attempts=attempts,
            request_ids=request_ids,
            errors=errors,
            started_at=round(started, 3),
            duration_ms=round((time.monotonic() - t0) * 1000, 1),
            members=list(item.members),
        )
        self.log.info("target", kind=item.kind, id=item.id, outcome=outcome, attempts=attempts, reason=reason)
        return res

    def _on_failure(self, item: PlanItem, f: ApiFailure, ambiguous: bool) -> tuple[Outcome, str, str | None]:
        """The error policy, one branch per documented code. Returns a final outcome or raises _Retryable."""
        code = f.code
        if code in ("LastTokenProcessing", "OperationDenied.InvalidStatus"):
            # the token is still in flight somewhere, or the state moved: look before trying again
            status = self._status(item)
            if status is None:
                return "skipped", "the target no longer exists", None
            if status in ALREADY:
                # our own earlier (ambiguous or in-flight) call did it, or a concurrent invocation did
                mine = ambiguous or code == "LastTokenProcessing"
                return ("failedOver" if mine else "alreadyFailedOver"), f"{code}; target is now {status}", status
            if status in GONE:
                return "skipped", f"{code}; target is {status}", status
            raise _Retryable(f)
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
        try:
            if item.kind == "pair":
                found = self.retry_call(lambda: self.api.describe_pairs(item.region, pair_ids=[item.id]), item.id)
            else:
                found = self.retry_call(lambda: self.api.describe_groups(item.region, group_ids=[item.id]), item.id)
        except ApiFailure as f:
            raise _Retryable(f) from None
        for rec in found:
            if rec.get("ReplicaPairId" if item.kind == "pair" else "ReplicaGroupId") == item.id:
                return str(rec.get("Status"))
        return None

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
                    r.reason = "the failover ended failover_failed; a re-invocation retries it with a new token"
                    del watch[key]
            if watch:
                time.sleep(max(0.0, min(self.settings.verify_poll_seconds, self.deadline.remaining())))
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
