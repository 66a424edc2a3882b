"""Execute a plan: in rounds, re-describe every target with work left, send the step its state places
it at (with that step's token), wait for transient states, until every target is finished or the
deadline comes (then ``pending``: FC's retry, or the operator's re-run, goes on from the state).

State first: a step is sent only when the target's state says it is due, so a re-run skips what an
earlier run did. A Start is sent only when this change brought the target to it: the step before
(a Reprotect) was sent in this run, or its token, sent again, is replayed by the API (a Reprotect
from ``stopped`` is refused, so the check can never act). An ambiguous answer (5xx, a reset, a read
timeout, ``LastTokenProcessing``) or ``OperationDenied.InvalidStatus`` is followed by a look; a step
the look shows done is not sent again, otherwise the same token goes out after the backoff, within
the retry budget and the deadline; past them the target is ``pending`` (no answer is neither done
nor refused). A Start whose token is replayed without moving the target (this change started it,
someone stopped it since) is ``skipped``, never sent again. A Failover reads the DR side's disks
first: attached, unlisted or unreadable blocks it; a detach after ``LastRecoverPoint`` makes it wait
for the next cycle.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from replica_failover.drill.client import DrillApiError
from replica_failover.log import JsonLogger
from replica_failover.policy import is_throttled, is_transient
from replica_failover.retry import Backoff, Deadline, RetryBudget
from replica_failover.reverse.client import DiskLookup, ReverseApi
from replica_failover.reverse.flows import FLOWS, StepSpec, place
from replica_failover.reverse.models import Kind, ReverseRequest, Step, Summary, TargetPlan
from replica_failover.reverse.plan import View, describe, read_gate

MAX_ROUNDS = 2_000  # on top of the deadline: a clock that never moves
SENDS_PER_STEP = 3  # a step answered 200 whose state then did not move this often is stuck
POLL_SECONDS = 1.0
Move = Literal["finished", "sent", "waiting"]


@dataclass
class Clock:
    now: Callable[[], float] = time.time  # wall time: RPO, and nothing else
    sleep: Callable[[float], object] = time.sleep


OUT_OF_FLOW_REREADS = 3


@dataclass
class _Track:
    plan: TargetPlan
    view: View
    sent: set[str] = field(default_factory=set)  # steps this run sent (or proved ours)
    sends: dict[str, int] = field(default_factory=dict)
    just_sent: int | None = None  # the step sent in the previous round
    verified: set[str] = field(default_factory=set)  # steps an earlier run sent, proved ours by a replay
    rereads: int = 0  # reads out of the flow after our own step, read again before calling it a failure


class StepFailed(Exception):
    def __init__(self, code: str, status: int | None) -> None:
        super().__init__(code)
        self.code, self.status = code, status

    @property
    def transient(self) -> bool:
        return self.code == "RetriesExhausted" or is_transient(self.code, self.status)


class Runner:
    def __init__(
        self, api: ReverseApi, req: ReverseRequest, *, deadline: Deadline, budget: RetryBudget, backoff: Backoff,
        log: JsonLogger, clock: Clock | None = None, poll_seconds: float = POLL_SECONDS, ecs: DiskLookup | None = None,
    ) -> None:  # fmt: skip
        self.api, self.req, self.deadline, self.budget, self.backoff = api, req, deadline, budget, backoff
        self.ecs = ecs
        self.log, self.clock, self.poll = log, clock or Clock(), poll_seconds
        self.summary = Summary()

    # -------------------------------------------------------------- reads
    def refresh(self, tracks: list[_Track]) -> None:
        """Re-describe the targets by id (one describe per kind, plus each group's members)."""
        kinds: tuple[Kind, ...] = ("pair", "group")
        for kind in kinds:
            ids = [t.view.id for t in tracks if t.view.kind == kind]
            if not ids:
                continue
            got: dict[str, View] = {}
            for i in range(0, len(ids), 100):
                got.update({v.id: v for v in self._describe(kind, ids[i : i + 100])})
            for t in tracks:
                if t.view.kind == kind:
                    found = got.get(t.view.id)
                    t.view = found if found is not None else View(kind, t.view.id, {"Status": "deleted"})

    def _describe(self, kind: Kind, ids: list[str]) -> list[View]:
        return self._read(lambda: describe(self.api, self.req, kind, ids))

    def _read(self, call: Callable[[], list[View]]) -> list[View]:
        for attempt in range(MAX_ROUNDS):
            try:
                return call()
            except DrillApiError as exc:
                if not is_transient(exc.code, exc.status) or not self._backoff(attempt, exc):
                    raise
        raise DrillApiError("RetriesExhausted", None)

    def _backoff(self, attempt: int, exc: DrillApiError) -> bool:
        """Wait before a retry; False when the budget or the deadline leaves none."""
        wait = random.uniform(0, min(self.backoff.cap, self.backoff.base * 2**attempt))  # jitter, not a secret
        if is_throttled(exc.code, exc.status):
            self.budget.count_throttled()
        else:
            reserved = self.budget.reserve(self.deadline.remaining())
            if reserved is None:
                return False
            wait = max(wait, reserved)
        if wait >= self.deadline.remaining():
            return False
        self.summary.retries += 1
        self.clock.sleep(wait)
        return True

    # -------------------------------------------------------------- writes
    def _ordinal(self, t: _Track) -> int | None:
        d = t.view.direction(self.req.primary_region, self.req.dr_region)
        return place(self.req.action, t.view.status, d).ordinal

    def send(self, t: _Track, k: int, step: Step, *, look: bool = True) -> str:
        """Send step ``k`` with its token: "sent", "looked" (a lost ack: the state moved), or raise StepFailed.

        ``look=False`` (a verification): never take the state for the answer, only the API's own."""
        spec: StepSpec = FLOWS[self.req.action][k]
        for attempt in range(MAX_ROUNDS):
            try:
                self.summary.write_calls += 1
                self._call(spec, t, step)
                return "sent"
            except DrillApiError as exc:
                self.log.warning("reverse-call", target=t.view.id, step=spec.name, code=exc.code, status=exc.status)
                if look and (is_transient(exc.code, exc.status) or exc.code == "OperationDenied.InvalidStatus"):
                    self.refresh([t])
                    ordinal = self._ordinal(t)
                    if ordinal is not None and ordinal > 2 * k:
                        return "looked"
                if not is_transient(exc.code, exc.status) or not self._backoff(attempt, exc):
                    raise StepFailed(exc.code, exc.status) from None
        raise StepFailed("RetriesExhausted", None)

    def _call(self, spec: StepSpec, t: _Track, step: Step) -> None:
        kind, tid = t.view.kind, t.view.id
        if spec.call == "reprotect":
            self.api.reprotect(step.region, kind, tid, bool(spec.reverse), step.client_token)
        elif spec.call == "failover":
            self.api.failover(step.region, kind, tid, step.client_token)
        else:
            self.api.start_replication(step.region, kind, tid, step.client_token)

    def verify(self, t: _Track, k: int) -> bool:
        """Is step ``k`` (a Reprotect) this change's? Its token sent again is replayed only if so.

        StepFailed (transient) when the API could not say: that is neither yes nor no."""
        step = t.plan.steps[k]
        try:
            self.send(t, k, step, look=False)
        except StepFailed as exc:
            self.log.info("reverse-verify", target=t.view.id, step=step.step, code=exc.code)
            if exc.transient:
                raise
            return False
        step.state = "replayed"
        return True

    def _gate(self, t: _Track) -> Move | None:
        """Read the DR side's disks again just before a Failover (the plan's read may be old): blocked
        (finished), waiting for a replication cycle that covers their last detach, or None (go).

        ``normal`` only says the last cycle finished: a write on the DR side after ``LastRecoverPoint``
        and before its disks were detached would be lost by failing over now."""
        gate = read_gate(self.ecs, self.req, t.view)
        t.plan.preconditions = [gate.pre]
        if gate.blocked is not None:
            t.plan.outcome, t.plan.reason = "blocked", f"before the Failover: {gate.blocked}"
            self.log.warning("reverse-blocked", target=t.view.id, reason=t.plan.reason)
            return "finished"
        if t.view.last_recover_point < gate.last_detached:
            t.plan.reason = (f"waiting for a replication cycle after the DR disks were detached (LastRecoverPoint "
                             f"{t.view.last_recover_point} < DetachedTime {gate.last_detached})")  # fmt: skip
            return "waiting"
        return None

    # -------------------------------------------------------------- the loop
    def execute(self, plans: list[TargetPlan], views: list[View]) -> None:
        tracks = [_Track(p, v) for p, v in zip(plans, views, strict=True) if p.outcome == "planned"]
        why, left = "the deadline came first", "pending"
        for round_ in range(MAX_ROUNDS):
            if not tracks:
                return
            try:
                if round_:
                    self.refresh(tracks)
                moves: list[Move] = []
                for t in tracks:
                    moves.append(self._advance(t))
            except DrillApiError as exc:  # a describe that failed beyond its retries: the state is unknown
                self.log.error("reverse-describe", code=exc.code, status=exc.status)
                why = f"describing the targets failed ({exc.code})"
                left = "pending" if is_transient(exc.code, exc.status) else "failed"
                tracks = [t for t in tracks if t.plan.outcome == "planned"]
                break
            tracks = [t for t, move in zip(tracks, moves, strict=True) if move != "finished"]
            if tracks and "sent" not in moves:  # every target left is in a transient state: wait
                if self.deadline.remaining() <= self.poll:
                    break
                self.clock.sleep(self.poll)
        for t in tracks:
            retry = left == "pending"
            t.plan.outcome = "pending" if retry else "failed"
            t.plan.reason = f"{t.plan.reason}; {why}" + (": a retry goes on from the state" if retry else "")

    def _advance(self, t: _Track) -> Move:
        """One move for a target: finished, a step sent, or waiting for a transient state."""
        action = self.req.action
        d = t.view.direction(self.req.primary_region, self.req.dr_region)
        where = place(action, t.view.status, d)
        t.plan.status_after = t.view.status
        if where.ordinal is None or where.final(action):
            if where.final(action):
                t.plan.outcome = "done" if t.sent else "alreadyDone"
                t.plan.reason = f"{action} done: {t.view.status}" if t.sent else where.reason
            elif t.sent and t.rereads < OUT_OF_FLOW_REREADS:
                # A group's status and its direction (its members') come from two describes: a concurrent copy
                # of this change can move it between them. Read again before judging.
                t.rereads += 1
                t.plan.reason = f"{where.reason}: reading again"
                return "waiting"
            else:  # out of the flow: after our own step that is a failure (e.g. failover_failed)
                t.plan.outcome = "failed" if t.sent else "skipped"
                t.plan.reason = where.reason
            return "finished"
        k = where.step
        if t.just_sent is not None and t.just_sent == k:  # answered, the state has not moved yet: one poll first
            t.just_sent = None
            return "waiting"
        t.just_sent = None
        if k is None:
            t.plan.reason = where.reason
            return "waiting"
        spec = FLOWS[action][k]
        step = t.plan.steps[k]
        prev = FLOWS[action][k - 1].name if k > 0 else None
        count = t.sends.get(spec.name, 0)
        if count and spec.call == "start" and prev in t.verified:
            # an earlier run of this change reprotected it, and this change's Start token is replayed
            # without effect: this change started it already and someone stopped it since
            t.plan.outcome = "skipped"
            t.plan.reason = ("stopped after this change's Start (its token is replayed, no effect): stopped on "
                             "purpose? start it by hand if it should replicate")  # fmt: skip
            return "finished"
        if count >= SENDS_PER_STEP:
            t.plan.outcome = "failed"
            t.plan.reason = (f"{spec.name} answered 200 {count} times; the state stays {t.view.status}: this change "
                             "id's token was already used: run again with a new change id")  # fmt: skip
            return "finished"
        try:
            if spec.call == "start" and prev is not None and prev not in t.sent:
                if not self.verify(t, k - 1):
                    t.plan.outcome = "skipped"
                    t.plan.reason = (f"{t.view.status}, but not by this change (its {prev} token is not replayed): "
                                     "start it by hand if it should replicate")  # fmt: skip
                    return "finished"
                t.sent.add(prev)
                t.verified.add(prev)
            if spec.call == "failover":
                held = self._gate(t)
                if held is not None:
                    return held
            t.sends[spec.name] = count + 1
            how = self.send(t, k, step)
        except StepFailed as exc:
            failed = step if t.sends.get(spec.name, 0) > count else t.plan.steps[k - 1]  # the step, or its verify
            failed.state, failed.code = "refused", exc.code
            step = failed
            http = f" (HTTP {exc.status})" if exc.status else ""
            if exc.transient:  # the API did not answer: FC's retry (or a re-run) goes on from the state
                t.plan.outcome = "pending"
                t.plan.reason = f"{step.call} in {step.region}: no answer ({exc.code}{http}): a retry goes on"
            else:
                t.plan.outcome = "failed"
                t.plan.reason = f"{step.call} in {step.region} refused: {exc.code}{http}"
            self.log.error("reverse-step", target=t.view.id, step=spec.name, code=exc.code)
            return "finished"
        step.state = "sent"
        t.sent.add(spec.name)
        t.just_sent = k
        self.log.info("reverse-step", target=t.view.id, kind=t.view.kind, step=spec.name, region=step.region,
                      clientToken=step.client_token, how=how)  # fmt: skip
        return "sent"
