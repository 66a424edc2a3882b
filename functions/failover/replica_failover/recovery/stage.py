"""The compute and traffic stages of one invocation, after storage: attach, start, switch.

Flow: :func:`prepare` (plan time, read-only) loads the recovery map (file + standby tags), describes
the standbys, secondary disks and DNS records, reviews them (validate.py) and lays out the steps of
the targets the review did not stop. :meth:`Stage.run` then goes round by round until every step is
settled or the deadline: read (target statuses, disks, instances, records) -> ``steps.decide`` ->
send the ``act`` writes -> sleep the poll interval. A write is never sent for a step that a read did
not show ready, and never twice in one invocation once accepted; a re-invocation starts from fresh
reads, which show what earlier invocations (or a concurrent copy) already did. Writes are paced per
product with :class:`~replica_failover.pacing.AdaptiveRate`; retries of errors take a token from the
invocation's retry budget; throttles take none.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from replica_failover.credentials import Credentials
from replica_failover.ebs import ApiFailure, EbsApi
from replica_failover.log import JsonLogger
from replica_failover.pacing import AdaptiveRate
from replica_failover.recovery import observe, steps
from replica_failover.recovery.dns import DnsApi
from replica_failover.recovery.ecs import EcsApi
from replica_failover.recovery.hook import HookApi
from replica_failover.recovery.map import PLAN_ENV, Record, RecoveryMap, combine, map_from_env, standbys_from_tags
from replica_failover.recovery.report import (
    RecoveryResult,
    StepOutcome,
    StepResult,
    rto,
    stage_of,
    stage_timings,
    summarize_steps,
)
from replica_failover.recovery.validate import Review, build_layout, match_record, records_in_scope, review
from replica_failover.retry import Backoff, Deadline, RetryBudget

if TYPE_CHECKING:
    from replica_failover.plan import Plan

TAGS_ENV = "FAILOVER_RECOVERY_TAGS"
CODE_PATH_ENV = "FC_FUNC_CODE_PATH"  # FC's code directory; the package's parent when unset
T = TypeVar("T")
TargetRef = tuple[Any, str]


class _Abort(Exception):
    """A read the stage cannot do without (permission, bad request): every open step fails with it."""

    def __init__(self, decision: steps.ErrorDecision, code: str) -> None:
        super().__init__(decision.reason)
        self.decision, self.code = decision, code


def configured(env: Mapping[str, str]) -> bool:
    """Whether this function recovers the service at all: a map file, or standby tags read."""
    return bool(env.get(PLAN_ENV, "").strip()) or env.get(TAGS_ENV, "").strip().lower() in ("1", "true", "yes")


def code_dir(env: Mapping[str, str]) -> Path:
    value = env.get(CODE_PATH_ENV, "").strip()
    return Path(value) if value else Path(__file__).resolve().parents[2]


def _targets(plan: Plan) -> list[TargetRef]:
    return [(i.kind, i.id) for i in plan.items if i.decision in ("failover", "alreadyFailedOver")]


def keep_records(
    plan: Plan, pairs: Iterable[Mapping[str, Any]], groups: Iterable[Mapping[str, Any]]
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """The described pairs and groups the recovery needs (the plan's targets and their members)."""
    refs = _targets(plan)
    gids = {t for k, t in refs if k == "group"}
    pids = {t for k, t in refs if k == "pair"}
    kept_groups = [g for g in groups if g.get("ReplicaGroupId") in gids]
    members = {str(p) for g in kept_groups for p in g.get("PairIds") or []}
    kept_pairs = [
        p
        for p in pairs
        if p.get("ReplicaPairId") in pids or p.get("ReplicaPairId") in members or p.get("ReplicaGroupId") in gids
    ]
    return kept_pairs, kept_groups


@dataclass
class _StepLog:
    writes: int = 0
    errors: list[str] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)
    ram_action: str | None = None
    started_at: float | None = None
    done_at: float | None = None
    last: steps.Action | None = None


@dataclass
class Stage:
    """One invocation's recovery: what :func:`prepare` found, and the machinery to carry it out."""

    dr: str
    rmap: RecoveryMap
    review: Review
    layout: steps.Layout
    records: dict[str, Record]  # key -> record, in scope and not stopped by the review
    record_ids: dict[str, str]  # key -> RecordId, once resolved
    forced: dict[str, tuple[str, str | None]]  # step -> (why it fails, RAM action) regardless of reads
    ecs: EcsApi
    dns: DnsApi
    ebs: EbsApi
    log: JsonLogger
    observed_at: float
    rto_from: str
    logs: dict[str, _StepLog] = field(default_factory=dict)
    rates: dict[str, AdaptiveRate] = field(default_factory=lambda: {"ecs": AdaptiveRate(), "dns": AdaptiveRate()})
    codes: set[str] = field(default_factory=set)
    rounds: int = 0
    failovered: set[str] = field(default_factory=set)  # targets read failovered: not read again
    hook_state: steps.HookState = "none"
    hook_api: HookApi | None = None

    # ------------------------------------------------------------------ results
    def planned(self) -> RecoveryResult:
        rows = [self._row(a.step, steps.Action(step=a.step, kind="wait", reason="planned")) for a in self._all()]
        for r in rows:
            r.outcome = "planned" if r.step not in self.forced else "failed"
            r.reason = self.forced[r.step][0] if r.step in self.forced else r.reason
        blocked = [f for f in self.review.findings if f.severity == "error"]
        return self._result("planned", f"dry run: {len(rows)} step(s), {len(blocked)} blocking finding(s)", rows)

    def _all(self) -> list[steps.Action]:
        out = [steps.Action(step=a.step, kind="wait", reason="") for a in self.layout.attaches]
        out += [steps.Action(step=f"start:{i}", kind="wait", reason="") for i in self.layout.instances]
        out += [steps.Action(step=s.step, kind="wait", reason="") for s in self.layout.switches]
        out += [steps.Action(step=s, kind="failed", reason=why) for s, (why, _) in self.forced.items()]
        seen: dict[str, steps.Action] = {}
        for a in out:
            seen.setdefault(a.step, a)
        return list(seen.values())

    def _row(self, step: str, action: steps.Action) -> StepResult:
        log = self.logs.get(step, _StepLog())
        attach = next((a for a in self.layout.attaches if a.step == step), None)
        kind = action.kind
        outcome: StepOutcome = "pending"
        if kind in ("done", "conflict", "failed"):
            outcome = "done" if kind == "done" else ("conflict" if kind == "conflict" else "failed")
        dur = None
        if log.started_at is not None and log.done_at is not None:
            dur = round((log.done_at - log.started_at) * 1000, 1)
        return StepResult(
            step=step,
            stage=stage_of(step),
            subject=step.split(":", 1)[1],
            target=attach.target_id if attach else None,
            instance=attach.instance_id if attach else None,
            outcome=outcome,
            reason=action.reason,
            writes=log.writes,
            errors=list(log.errors),
            request_ids=list(log.request_ids),
            ram_action=log.ram_action or (self.forced.get(step, ("", None))[1]),
            started_at=None if log.started_at is None else round(log.started_at, 3),
            done_at=None if log.done_at is None else round(log.done_at, 3),
            duration_ms=dur,
        )

    def _result(self, status: Any, reason: str, rows: list[StepResult]) -> RecoveryResult:
        last, seconds = rto(rows, self.observed_at) if status != "planned" else (None, None)
        perms = sorted({r.ram_action for r in rows if r.ram_action})
        return RecoveryResult(
            status=status,
            reason=reason,
            findings=[f.model_dump(mode="json", by_alias=True) for f in self.review.findings],
            changes=[c.model_dump(mode="json", by_alias=True) for c in self.review.changes],
            steps=rows,
            stages=stage_timings(rows),
            summary=summarize_steps(rows),
            observed_at=round(self.observed_at, 3),
            rto_from="alarm" if self.rto_from == "alarm" else "invocation",
            last_verified_at=last,
            rto_seconds=seconds,
            permission=perms,
            error_codes=sorted(self.codes),
            api_calls=self.ecs.rpc.stats.calls + self.dns.alidns.stats.calls + self.dns.pvtz.stats.calls,
            write_calls=self.ecs.rpc.stats.writes + self.dns.alidns.stats.writes + self.dns.pvtz.stats.writes,
            rounds=self.rounds,
        )

    # ---------------------------------------------------------------------- run
    def run(
        self,
        deadline: Deadline,
        backoff: Backoff,
        budget: RetryBudget,
        poll: float,
        concurrency: int,
        storage: Mapping[str, str] | None = None,
    ) -> RecoveryResult:
        """Round by round until every step settles or the deadline. ``storage``: target id -> the
        storage stage's outcome; a target that failed or is pending there is left for later (below)."""
        deferred = self._defer(storage or {})
        progress = steps.Progress()
        actions: tuple[steps.Action, ...] = ()
        aborted: _Abort | None = None
        while True:
            self.rounds += 1
            try:
                world = self._read(progress, deadline)
            except _Abort as exc:
                aborted = exc
                break
            actions, progress = self._decide(world, progress)
            if self.hook_state == "pending" and _hook_due(actions):
                self._invoke_hook(deadline)
                if self.hook_state != "pending":
                    actions, progress = self._decide(replace(world, hook=self.hook_state), progress)
            now = time.time()
            for a in actions:
                log = self.logs.setdefault(a.step, _StepLog())
                log.last = a
                if a.kind == "done" and log.done_at is None:
                    log.done_at = now
            if steps.finished(actions) or deadline.expired():
                break
            progress = self._act(actions, progress, deadline, budget, concurrency)
            if deadline.expired():
                break
            backoff.sleep(max(0.0, min(poll, deadline.remaining())))
        if aborted is not None:  # a read the stage needs was refused: every step not done fails with it
            settled = []
            for a in self._all():
                last = self.logs.get(a.step, _StepLog()).last
                if last is not None and last.kind == "done":
                    settled.append(last)
                    continue
                self.logs.setdefault(a.step, _StepLog()).ram_action = aborted.decision.ram_action
                settled.append(steps.Action(step=a.step, kind="failed", reason=aborted.decision.reason))
            actions = tuple(settled)
        rows = deferred + [self._row(a.step, a) for a in actions]
        summary = summarize_steps(rows)
        if summary["pending"]:
            status, reason = "pending", f"{summary['pending']} recovery step(s) left for a retry"
        elif summary["failed"] or summary["conflict"]:
            status = "partial"
            reason = f"{summary['failed']} recovery step(s) failed, {summary['conflict']} conflict(s); see steps"
        else:
            status, reason = "completed", f"{summary['done']} recovery step(s) done"
        result = self._result(status, reason, rows)
        self.log.info("recovery", status=status, rounds=self.rounds, rtoSeconds=result.rto_seconds, **summary)
        return result

    def _defer(self, storage: Mapping[str, str]) -> list[StepResult]:
        """Take out of this run the steps behind a target whose storage failover failed or is still
        pending: its attaches, the start of its standby (and that standby's other attaches), and the
        switches waiting for that standby. They are reported failed, or pending (a retry resumes)."""
        lay = self.layout
        bad = {a.target_id: storage[a.target_id] for a in lay.attaches if storage.get(a.target_id) in _NOT_STORED}
        if not bad:
            return []
        held: dict[str, str] = {}  # standby -> "failed" or "pending"
        for a in lay.attaches:
            if a.target_id in bad:
                held[a.instance_id] = "failed" if "failed" in (held.get(a.instance_id), bad[a.target_id]) else "pending"
        rows: list[StepResult] = []

        def drop(step: str, outcome: str, why: str) -> None:
            kind: steps.ActionKind = "failed" if outcome == "failed" else "wait"
            rows.append(self._row(step, steps.Action(step=step, kind=kind, reason=why)))

        attaches = []
        for a in lay.attaches:
            if a.instance_id not in held:
                attaches.append(a)
            elif a.target_id in bad:
                drop(a.step, bad[a.target_id], f"storage failover of {a.target_id} is {bad[a.target_id]}")
            else:
                drop(a.step, held[a.instance_id], f"standby {a.instance_id} waits for another target's storage")
        for iid, outcome in held.items():
            drop(f"start:{iid}", outcome, "a target of this standby did not fail over in this run")
        switches = []
        for sw in lay.switches:
            waits = [i for i in sw.after if i in held]
            if not waits:
                switches.append(sw)
                continue
            outcome = "failed" if any(held[i] == "failed" for i in waits) else "pending"
            drop(sw.step, outcome, f"waits for {', '.join(waits)}, whose storage did not fail over in this run")
        self.layout = steps.Layout(attaches=tuple(attaches), switches=tuple(switches), hook=lay.hook)
        return rows

    def _decide(self, world: steps.World, progress: steps.Progress) -> tuple[tuple[steps.Action, ...], steps.Progress]:
        """steps.decide, with the steps this invocation knows failed (the review, a refused write)
        settled as failed first, so whatever waits on them fails too instead of waiting out the deadline."""
        actions: list[steps.Action] = []
        done = set(progress.done)
        blocked: set[str] = set()

        def settle(a: steps.Action) -> None:
            if a.step in progress.done:
                a = steps.Action(step=a.step, kind="done", reason="done in an earlier round")
            elif a.step in self.forced and a.kind != "done":
                a = steps.Action(step=a.step, kind="failed", reason=self.forced[a.step][0])
            actions.append(a)
            if a.kind == "done":
                done.add(a.step)
            elif a.kind in ("conflict", "failed"):
                blocked.add(a.step)

        def now() -> steps.Progress:
            return steps.Progress(frozenset(done), progress.acted)

        lay = self.layout
        for at in lay.attaches:
            settle(steps.attach_action(at, world, at.step in progress.acted))
        for iid in lay.instances:
            settle(steps.start_action(iid, lay, world, now(), frozenset(blocked)))
        for sw in lay.switches:
            settle(steps.switch_action(sw, lay, world, now(), frozenset(blocked)))
        listed = {a.step for a in actions}
        actions += [
            steps.Action(step=s, kind="failed", reason=why) for s, (why, _) in self.forced.items() if s not in listed
        ]
        return tuple(actions), now()

    # -------------------------------------------------------------------- reads
    def _read(self, progress: steps.Progress, deadline: Deadline) -> steps.World:
        """One round's reads, of the steps still open only. A resource not read is left out of the
        World ("not read": wait); one read and absent is None ("not found")."""
        lay = self.layout

        def open_(step: str) -> bool:
            return step not in progress.done

        attaches = [a for a in lay.attaches if open_(a.step)]
        switches = [s for s in lay.switches if open_(s.step)]
        wanted = list(
            dict.fromkeys(
                [
                    *(a.instance_id for a in attaches),
                    *(i for i in lay.instances if open_(f"start:{i}")),
                    *(i for s in switches for i in s.after if i not in lay.instances),
                ]
            )
        )
        waiting = {a.target_id for a in attaches} - self.failovered
        self.failovered |= {t for t, st in self._target_statuses(waiting).items() if st == "failovered"}
        targets = dict.fromkeys(self.failovered, "failovered")
        disks: dict[str, steps.DiskState | None] = {}
        if attaches:
            ids = [a.disk_id for a in attaches]
            got = self._call("ecs", "DescribeDisks", partial(self.ecs.describe_disks, self.dr, ids), deadline)
            if isinstance(got, list):
                ix = {str(d.get("DiskId")): d for d in got}
                disks = {
                    i: steps.DiskState(str(ix[i].get("Status") or ""), str(ix[i].get("InstanceId") or ""))
                    if i in ix
                    else None
                    for i in ids
                }
        instances: dict[str, str | None] = {}
        if wanted:
            got = self._call(
                "ecs", "DescribeInstances", partial(self.ecs.describe_instances, self.dr, wanted), deadline
            )
            if isinstance(got, list):
                ix = {str(d.get("InstanceId")): d for d in got}
                instances = {i: (str(ix[i].get("Status") or "") if i in ix else None) for i in wanted}
        records: dict[str, str | None] = {}
        for sw in switches:
            rec = self.records.get(sw.key)
            rid = None if rec is None else (self.record_ids.get(sw.key) or self._resolve(rec, deadline))
            if rec is None or rid is None:
                continue
            value = self._call(
                "dns", "DescribeDomainRecordInfo", partial(self.dns.read_value, self.dr, rec, rid), deadline
            )
            if value is None or isinstance(value, str):
                records[sw.key] = value
        return steps.World(targets=targets, disks=disks, instances=instances, records=records, hook=self.hook_state)

    def _resolve(self, rec: Record, deadline: Deadline) -> str | None:
        found = self._call("dns", "DescribeDomainRecords", partial(self.dns.find, self.dr, rec), deadline)
        if not isinstance(found, list):
            return None
        match = match_record(rec, found)
        if len(match) != 1:
            self.forced[f"switch:{rec.key}"] = (f"{len(match)} records match {rec.key}", None)
            return None
        self.record_ids[rec.key] = str(match[0].get("RecordId"))
        return self.record_ids[rec.key]

    def _target_statuses(self, ids: set[str]) -> dict[str, str]:
        pair_ids = sorted(i for i in ids if i.startswith("pair-"))
        group_ids = sorted(i for i in ids if not i.startswith("pair-"))
        out: dict[str, str] = {}
        try:
            for i in range(0, len(pair_ids), 100):
                recs = self.ebs.describe_pairs(self.dr, pair_ids=pair_ids[i : i + 100])
                out.update({str(r.get("ReplicaPairId")): str(r.get("Status")) for r in recs})
            for i in range(0, len(group_ids), 100):
                recs = self.ebs.describe_groups(self.dr, group_ids=group_ids[i : i + 100])
                out.update({str(r.get("ReplicaGroupId")): str(r.get("Status")) for r in recs})
        except ApiFailure as f:
            self.log.warning("recovery-read", action="DescribeDiskReplica*", error=str(f))
        return out

    def _call(self, product: str, action: str, fn: Callable[[], T], deadline: Deadline) -> T | object:
        """One paced read: its answer, or _UNREAD when it failed in a way the next round may cure."""
        rate = self.rates[product]
        ticket = rate.begin(deadline)
        if ticket is None:
            return _UNREAD
        throttled = False
        try:
            return fn()
        except ApiFailure as f:
            throttled = f.throttled
            d = steps.on_error(action, f.code, f.status)
            self.codes.add(f.code)
            self.log.warning("recovery-read", action=action, error=str(f), decision=d.kind)
            if d.kind == "failed":
                raise _Abort(d, f.code) from None
            return _UNREAD
        finally:
            rate.done(ticket, throttled=throttled)

    def _invoke_hook(self, deadline: Deadline) -> None:
        """Once every switch waits only on the hook: invoke it (sync); a transient failure leaves it
        pending for the next round, a refusal or a permanent failure fails the switches."""
        assert self.hook_api is not None
        payload = {
            "stage": "pre-switch",
            "region": self.dr,
            "instances": list(self.layout.instances),
            "records": [s.key for s in self.layout.switches],
        }
        name = self.hook_api.hook.function
        try:
            self.hook_state = self.hook_api.invoke(payload)
        except ApiFailure as f:
            self.codes.add(f.code)
            d = steps.on_error("InvokeFunction", f.code, f.status)
            ram = d.ram_action or ("fc:InvokeFunction" if f.status == 403 else None)
            self.log.warning("recovery-hook", function=name, error=str(f), decision=d.kind)
            if ram or d.kind == "failed":
                self.hook_state = "failed"
                why = f"pre-switch hook {name}: {f.code}" + (f": the function's role lacks {ram}" if ram else "")
                for sw in self.layout.switches:
                    self.forced.setdefault(sw.step, (why, ram))
            return
        self.log.info("recovery-hook", function=name, verdict=self.hook_state)

    # ------------------------------------------------------------------- writes
    def _act(
        self,
        actions: Sequence[steps.Action],
        progress: steps.Progress,
        deadline: Deadline,
        budget: RetryBudget,
        concurrency: int,
    ) -> steps.Progress:
        calls: list[tuple[list[str], str, str, Callable[[], Any]]] = []
        for iid, did in observe.attach_calls(self.layout, actions):
            calls.append(([f"attach:{did}"], "ecs", "AttachDisk", partial(self.ecs.attach_disk, self.dr, iid, did)))
        for batch in observe.start_batches(actions):
            calls.append(
                (
                    [f"start:{i}" for i in batch],
                    "ecs",
                    "StartInstances",
                    partial(self.ecs.start_instances, self.dr, batch),
                )
            )
        for key in observe.switch_keys(actions):
            rec, rid = self.records[key], self.record_ids[key]
            # PrivateZone takes a ClientToken: the same for every copy switching this record to this value
            token = hashlib.sha256(f"{rid}|{rec.type}|{rec.value}".encode()).hexdigest()[:32]
            calls.append(
                (
                    [f"switch:{key}"],
                    "dns",
                    _update_action(rec),
                    partial(self.dns.update, self.dr, rec, rid, token),
                )
            )
        if not calls:
            return progress
        with ThreadPoolExecutor(
            max_workers=max(1, min(concurrency, len(calls))), thread_name_prefix="recovery"
        ) as pool:
            answers = list(pool.map(lambda c: self._send(c[1], c[3], deadline), calls))
        for (step_ids, _, action, _), answer in zip(calls, answers, strict=True):
            progress = self._settle(step_ids, action, answer, progress, deadline, budget)
        return progress

    def _send(self, product: str, fn: Callable[[], Any], deadline: Deadline) -> Any:
        rate = self.rates[product]
        ticket = rate.begin(deadline)
        if ticket is None:
            return None  # no slot before the deadline: the step stays open
        throttled = False
        try:
            return fn()
        except ApiFailure as f:
            throttled = f.throttled
            return f
        finally:
            rate.done(ticket, throttled=throttled)

    def _settle(
        self,
        step_ids: list[str],
        action: str,
        answer: Any,
        progress: steps.Progress,
        deadline: Deadline,
        budget: RetryBudget,
    ) -> steps.Progress:
        if answer is None:
            return progress
        now = time.time()
        for s in step_ids:
            log = self.logs.setdefault(s, _StepLog())
            log.writes += 1
            log.started_at = log.started_at or now
        if isinstance(answer, ApiFailure):
            d = steps.on_error(action, answer.code, answer.status)
            self.codes.add(answer.code)
            for s in step_ids:
                self.logs[s].errors.append(answer.code)
                if answer.request_id:
                    self.logs[s].request_ids.append(answer.request_id)
            self.log.info("recovery-write", action=action, steps=step_ids, error=answer.code, decision=d.kind)
            return self._on_decision(step_ids, d, progress, deadline, budget)
        if action == "StartInstances":
            sent = [s.split(":", 1)[1] for s in step_ids]
            for iid, verdict in observe.start_answers(answer, sent).items():
                step = f"start:{iid}"
                if verdict is None:
                    progress = progress.answered(step)
                else:
                    self.logs[step].errors.append(verdict.reason.split(":", 1)[0])
                    progress = self._on_decision([step], verdict, progress, deadline, budget)
            return progress
        for s in step_ids:
            self.logs[s].request_ids.append(str(answer))
        self.log.info("recovery-write", action=action, steps=step_ids, requestId=str(answer))
        return progress.answered(*step_ids)

    def _on_decision(
        self,
        step_ids: list[str],
        d: steps.ErrorDecision,
        progress: steps.Progress,
        deadline: Deadline,
        budget: RetryBudget,
    ) -> steps.Progress:
        if d.kind == "success":
            return progress.answered(*step_ids)
        if d.kind == "failed":
            for s in step_ids:
                self.forced[s] = (d.reason, d.ram_action)
                self.logs[s].ram_action = d.ram_action
        elif d.kind == "pace":
            budget.count_throttled()
        elif d.kind == "retry" and budget.reserve(deadline.remaining()) is None:
            # no retry token before the deadline: the next round still reads, but will not write
            for s in step_ids:
                self.logs[s].errors.append("RetryBudgetSpent")
        return progress  # retry, pace, recheck: the next round reads first, then decides again


_UNREAD = object()
_NOT_STORED = frozenset({"failed", "pending"})  # storage outcomes that leave a target's disks unwritable
HOOK_WAIT = "the pre-switch hook has not passed"  # steps.switch_action's reason


def _hook_due(actions: Iterable[steps.Action]) -> bool:
    return any(a.kind == "wait" and a.reason == HOOK_WAIT for a in actions)


def _update_action(rec: Record) -> str:
    return "UpdateZoneRecord" if rec.provider == "privatezone" else "UpdateDomainRecord"


def prepare(
    *,
    env: Mapping[str, str],
    credentials: Credentials,
    ebs: EbsApi,
    plan: Plan,
    pairs: Sequence[Mapping[str, Any]],
    groups: Sequence[Mapping[str, Any]],
    log: JsonLogger,
    observed_at: float | None,
    started: float,
    connect_timeout: float,
    read_timeout: float,
    fc_endpoint: str | None = None,
    fc_service: str = "",
) -> Stage | RecoveryResult:
    """Read-only: the stage to run, or a failed RecoveryResult when the map or a read stops it."""
    dr = plan.dr_region
    timeouts = {"connect_timeout": connect_timeout, "read_timeout": read_timeout}
    # EBS_ENDPOINT is only ever set for the emulator, which serves every product on one port
    emulator = env.get("EBS_ENDPOINT") or None
    ecs = EcsApi(credentials, endpoint=env.get("ECS_ENDPOINT") or emulator, **timeouts)
    dns = DnsApi(
        credentials,
        endpoint=env.get("DNS_ENDPOINT") or emulator,
        pvtz_endpoint=env.get("PVTZ_ENDPOINT") or emulator,
        **timeouts,
    )
    origin = observed_at if observed_at is not None else started
    rto_from: Literal["alarm", "invocation"] = "alarm" if observed_at is not None else "invocation"

    def failed(
        reason: str, codes: Iterable[str] = (), ram: str | None = None, decision: steps.ErrorDecision | None = None
    ) -> RecoveryResult:
        # a read that failed transiently (or was throttled) is retried by FC with the whole invocation
        again = decision is not None and decision.kind != "failed"
        return RecoveryResult(
            status="pending" if again else "failed",
            reason=reason,
            error_codes=sorted(codes),
            permission=[ram] if ram else [],
            observed_at=round(origin, 3),
            rto_from=rto_from,
        )

    from replica_failover.errors import ConfigError

    try:
        file_map = map_from_env(code_dir(env), env)
        tagged_raw: list[dict[str, Any]] = []
        if env.get(TAGS_ENV, "").strip().lower() in ("1", "true", "yes"):
            tagged_raw = ecs.tagged_standbys(dr)
    except ConfigError as exc:
        return failed(str(exc))
    except ApiFailure as f:
        d = steps.on_error("DescribeInstances", f.code, f.status)
        return failed(f"could not read standby tags in {dr}: {f}", [f.code], d.ram_action, d)
    tagged, tag_problems = standbys_from_tags(tagged_raw)
    for p in tag_problems:
        log.warning("recovery-tag", problem=p)
    rmap, conflicts = combine(file_map, tagged)
    targets = _targets(plan)
    full = build_layout(rmap, targets, pairs, groups)
    instance_ids = [*full.instances, *(i for s in full.switches for i in s.after)]
    action = "DescribeInstances"
    try:
        instances = ecs.describe_instances(dr, instance_ids) if instance_ids else []
        action = "DescribeDisks"
        disks = ecs.describe_disks(dr, [a.disk_id for a in full.attaches]) if full.attaches else []
    except ApiFailure as f:
        d = steps.on_error(action, f.code, f.status)
        return failed(f"could not describe standbys or secondary disks in {dr}: {f}", [f.code], d.ram_action, d)
    described: list[dict[str, Any]] = []
    unread: set[str] = set()
    in_scope = records_in_scope(rmap, targets)
    for rec in in_scope:
        try:
            described += dns.find(dr, rec)
        except ApiFailure as f:
            d = steps.on_error("DescribeDomainRecords", f.code, f.status)
            if d.kind == "failed":
                return failed(f"could not read DNS record {rec.key}: {f}", [f.code], d.ram_action)
            unread.add(rec.key)  # the API is down for now: resolved in a later round
            log.warning("recovery-read", action="DescribeDomainRecords", record=rec.key, error=str(f))
    rv = review(
        rmap,
        targets,
        pairs=pairs,
        groups=groups,
        instances=instances,
        disks=disks,
        dns_records=described,
        conflicts=conflicts,
    )
    if unread:
        keep = tuple(f for f in rv.findings if not (f.subject in unread and f.code == "record-missing"))
        rv = Review(findings=keep, changes=rv.changes)
    # a disk attached elsewhere stays in the layout: its step reads it and settles as a conflict
    stopped = {
        f.target for f in rv.findings if f.severity == "error" and f.target and f.code != "disk-attached-elsewhere"
    }
    layout = build_layout(rmap, [t for t in targets if t[1] not in stopped], pairs, groups)
    forced: dict[str, tuple[str, str | None]] = {}
    for finding in rv.findings:
        if finding.severity != "error" or finding.target not in stopped | {None}:
            continue
        why = f"{finding.code}: {finding.message}"
        if finding.target:
            forced.setdefault(f"target:{finding.target}", (why, None))
        elif finding.subject in {r.key for r in in_scope}:
            forced[f"switch:{finding.subject}"] = (why, None)
    lost = {s for t in stopped if (s := rmap.standby_for(t)) is not None}
    for sw in layout.switches:
        waits = sorted(lost & set(sw.after))
        if waits:
            forced.setdefault(sw.step, (f"waits for {', '.join(waits)}, stopped at plan time", None))
    hook_api = None
    if rmap.hook is not None:
        if fc_endpoint and (rmap.hook.service or fc_service):
            hook_api = HookApi(
                credentials, rmap.hook, endpoint=fc_endpoint, service=fc_service, timeout=connect_timeout + read_timeout
            )
        else:
            for sw in layout.switches:
                forced.setdefault(sw.step, ("the pre-switch hook has no FC endpoint or service to invoke", None))
    records = {r.key: r for r in in_scope}
    record_ids: dict[str, str] = {}
    for rec in in_scope:
        match = match_record(rec, described)
        if len(match) == 1:
            record_ids[rec.key] = str(match[0].get("RecordId"))
    return Stage(
        dr=dr,
        rmap=rmap,
        review=rv,
        layout=layout,
        records=records,
        record_ids=record_ids,
        forced=forced,
        ecs=ecs,
        dns=dns,
        ebs=ebs,
        log=log,
        observed_at=origin,
        rto_from=rto_from,
        hook_api=hook_api,
        hook_state="pending" if layout.hook else "none",
    )
