"""One invocation, one way: event -> Incident -> Plan -> Execution -> Result.

The handler raises :class:`PendingWork` only when a retry of the whole invocation can help (work
left for lack of time, budget or because the API kept failing transiently), so FC's async retry
and on-failure destination take over. Every permanent outcome, good or bad, returns normally: a
retry cannot fix a RAM denial or a refused blast radius. A bad one (rejected, refused, failed,
partial) carries ``ok: false`` and ``failure: {kind, cause, reason, ...}`` and is logged at ERROR;
FC hands every returned async result to the on-success destination, where an operator reads it.
A ``held`` result (confirm/stage.py: not confirmed, or waiting for an approval) is returned too,
with zero writes: CloudMonitor's re-notifications, not FC's retries, bring new evidence.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import IO, TYPE_CHECKING, Any

from pydantic.alias_generators import to_camel

from replica_failover.config import Settings, load_settings
from replica_failover.errors import EventError, FailoverError
from replica_failover.fanout import carries_fanout
from replica_failover.incident import Incident
from replica_failover.intake import parse_event
from replica_failover.log import JsonLogger
from replica_failover.operations import carries_operation
from replica_failover.result import (
    FailureCause,
    Result,
    Status,
    TargetResult,
    dump_targets,
    failure_for,
    summarize,
    target_result,
)

if TYPE_CHECKING:
    # Only an invocation that acts needs these (tenacity, the thread pool, the planner, the SDK
    # adapter): they are imported after the event says "act", so a no-op, rejected or
    # resolved-alarm invocation - and the import of this module - never pays for them.
    from replica_failover.confirm.stage import ConfirmStage
    from replica_failover.ebs import EbsApi
    from replica_failover.execute import Executor
    from replica_failover.fanout.events import BatchEvent
    from replica_failover.plan import Plan
    from replica_failover.retry import Backoff

DEFAULT_TIMEOUT = 60.0
SETTINGS_PREFIXES = ("FAILOVER_", "EBS_", "CMS_", "ALIBABA_CLOUD_REGION", "FC_REGION")


class PendingWork(FailoverError):
    """Raised so FC retries the invocation; carries the result that says what is left."""

    def __init__(self, result: dict[str, Any]) -> None:
        self.result = result
        super().__init__(f"{result['summary'].get('pending', 0)} target(s) pending: {result['reason']}")


@lru_cache(maxsize=8)
def _settings(items: tuple[tuple[str, str], ...], region: str | None) -> Settings:
    return load_settings(dict(items), function_region=region)


def settings_for(env: Mapping[str, str], region: str | None) -> Settings:
    """Validated settings, cached per distinct environment (validation runs once per instance)."""
    relevant = tuple(sorted((k, v) for k, v in env.items() if k.startswith(SETTINGS_PREFIXES)))
    return _settings(relevant, region)


def initialize(context: Any, env: Mapping[str, str] | None = None) -> Settings:
    """FC initializer: a bad configuration fails here, at instance start, naming the variable."""
    return settings_for(os.environ if env is None else env, getattr(context, "region", None))


@dataclass
class _Invocation:
    """What every result of one invocation shares: its settings, clocks, deadline and logger, and,
    once the incident asks to act, its confirmation stage (which reports into every later result)."""

    settings: Settings
    log: JsonLogger
    request_id: str | None
    timeout: float
    started: float
    t0: float
    stage: ConfirmStage | None = field(default=None)
    fanout: dict[str, Any] | None = None  # a fan-out worker's batch and rate share
    share_report: Callable[[], dict[str, Any] | None] | None = None  # the worker's share as it changed

    def result(
        self,
        status: Status,
        reason: str,
        incident: Incident,
        *,
        targets: list[TargetResult] | None = None,
        api: EbsApi | None = None,
        executor: Executor | None = None,
        refused: str | None = None,
        ok: bool | None = None,
        codes: list[str] | None = None,
        cause: FailureCause | None = None,
        recovery: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The result of this invocation, logged (ERROR when a human must act) and returned."""
        targets = targets or []
        failure = failure_for(status, reason, codes=codes, targets=targets, cause=cause)
        confirmation = self.stage.report(status, failure, targets) if self.stage else {}
        result = Result(
            ok=ok if ok is not None else status in ("completed", "noop", "planned"),
            status=status,
            reason=reason,
            mode=self.settings.mode,
            request_id=self.request_id,
            incident={to_camel(k): v for k, v in incident.model_dump(mode="json").items()},
            summary=summarize(targets),
            refused=refused,
            failure=failure,
            api_calls=api.stats.calls if api else 0,
            write_calls=api.stats.writes if api else 0,
            retries=executor.budget.used if executor else 0,
            retry_budget_left=executor.budget.left if executor else None,
            started_at=round(self.started, 3),
            duration_ms=round((time.monotonic() - self.t0) * 1000, 1),
            deadline_seconds=self.timeout,
            **confirmation,
            recovery=recovery,
            fanout=self._fanout(),
        ).dump()
        result["targets"] = dump_targets(targets)  # in place of the empty list: the key keeps its position
        level = "ERROR" if failure else ("INFO" if result["ok"] else "WARNING")
        self.log.log(level, "result", result=result)
        return result

    def _fanout(self) -> dict[str, Any] | None:
        share = self.share_report() if self.share_report is not None else None
        return self.fanout if share is None else {**(self.fanout or {}), **share}


def handle(
    event: bytes | str,
    context: Any,
    *,
    env: Mapping[str, str] | None = None,
    log_stream: IO[str] | None = None,
    backoff: Backoff | None = None,
) -> dict[str, Any]:
    started, t0 = time.time(), time.monotonic()
    env = os.environ if env is None else env
    settings = settings_for(env, getattr(context, "region", None))
    request_id = getattr(context, "request_id", None)
    run = _Invocation(
        settings=settings,
        log=JsonLogger(settings.log_level, log_stream, requestId=request_id),
        request_id=request_id,
        timeout=_timeout(context),
        started=started,
        t0=t0,
    )
    result = _invoke(run, event, context, env, backoff)
    if result["status"] == "pending":
        raise PendingWork(result)  # the only raise: work is left that a retry of the invocation can do
    return result


def _invoke(
    run: _Invocation, event: bytes | str, context: Any, env: Mapping[str, str], backoff: Backoff | None
) -> dict[str, Any]:
    settings, log = run.settings, run.log
    deadline_at = run.t0 + max(0.5, run.timeout - settings.deadline_margin_seconds)

    # 1. event -> Incident; bad input stops here, before any credential or API is touched
    try:
        fan: BatchEvent | None = None
        if carries_operation(event):  # drill, undo, reprotect, failback: operator actions, not incidents
            from replica_failover.operations import OperationCall, operation_payload, run_operation

            op = operation_payload(event, settings)
            if op is not None:
                call = OperationCall(context, env, settings, log, run.request_id, deadline_at, run.started)
                answer = run_operation(op, call)
                log.log("INFO" if answer.get("ok") else "ERROR", "result", result=answer)
                return answer
        if carries_fanout(event):  # a coordinator's batch, or a status query: only they load fanout/events.py
            from replica_failover.fanout.events import StatusEvent, batch_incident, fanout_event

            found = fanout_event(event, settings)
            if isinstance(found, StatusEvent):
                from replica_failover.fanout.entry import answer_status

                answer = answer_status(found, context, env)
                log.log("INFO" if answer["ok"] else "WARNING", "fanout-status", result=answer)
                return answer
            fan = found
        if fan is not None:
            run = replace(run, fanout=fan.describe())
            incident = batch_incident(fan, settings)
        else:
            incident = parse_event(event, settings, account_id=_account(context, env))
    except EventError as err:
        fan = None
        incident = Incident.for_rejection(err, dr_region=settings.dr_region)
    log.info(
        "incident",
        source=incident.source,
        disposition=incident.disposition,
        reason=incident.reason,
        primaryRegion=incident.primary_region,
        incidentKey=incident.incident_key,
        notificationId=incident.notification_id,
    )
    if incident.disposition == "reject":
        return run.result("rejected", incident.reason, incident, ok=False)
    if incident.disposition == "noop":
        return run.result("noop", incident.reason, incident)

    # 2. resolve what replicates from the unhealthy region into ours, from the DR site's backend
    from replica_failover.config import load_secrets
    from replica_failover.confirm import sources as evidence
    from replica_failover.confirm.stage import ConfirmStage
    from replica_failover.credentials import resolve_credentials
    from replica_failover.ebs import ApiFailure, EbsApi
    from replica_failover.execute import Executor
    from replica_failover.notify.outbox import Outbox
    from replica_failover.plan import build_plan
    from replica_failover.retry import Deadline

    deadline = Deadline(deadline_at)
    secrets = load_secrets(env)
    if fan is None:  # a worker's batch was confirmed by its coordinator
        outbox = Outbox(secrets, deadline_at)
        run.stage = ConfirmStage(settings, secrets, outbox, log, incident_key=incident.incident_key)
    credentials = resolve_credentials(context, env)
    api = EbsApi(
        credentials,
        endpoint=settings.ebs_endpoint,
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
    )
    from replica_failover.fanout.entry import maybe_coordinate, own_items, rate_report, worker_rate

    rate = worker_rate(fan, context=context, env=env)
    run.share_report = lambda: rate_report(rate)
    executor = Executor(api, settings, deadline, log, backoff=backoff, rate=rate)
    dr = incident.dr_region
    try:
        if fan is not None:  # a worker reads its batch's ids only (fanout/reads.py)
            from replica_failover.fanout.reads import batch_state

            groups, pairs = batch_state(executor, api, dr, fan, concurrency=settings.concurrency)
        else:
            from replica_failover.plan import GROUP_FIELDS, PAIR_FIELDS
            from replica_failover.recovery import configured

            # the plan reads a few fields of each record; the recovery review reads more, so keeps them all
            whole = configured(env)
            groups = executor.retry_call(
                lambda: api.describe_groups(dr, site="backup", fields=None if whole else GROUP_FIELDS),
                "describe-groups",
            )
            pairs = executor.retry_call(
                lambda: api.describe_pairs(dr, site="backup", fields=None if whole else PAIR_FIELDS), "describe-pairs"
            )
    except ApiFailure as f:
        status: Status = "pending" if f.transient else "failed"
        return run.result(
            status,
            f"could not list replica pairs/groups in {dr}: {f}",
            incident,
            api=api,
            executor=executor,
            codes=[f.code],
        )

    # 3. Plan; a dry run or a refusal ends here with zero write calls
    plan = own_items(build_plan(incident, settings, pairs, groups), fan)
    stage = _recovery_stage(run, env, context, api, incident, plan, pairs, groups)
    if isinstance(stage, dict) and "ConfigError" in stage.get("errorCodes", []):  # a bad recovery map: no write
        return run.result("failed", stage["reason"], incident, api=api, ok=False, codes=["ConfigError"], recovery=stage)
    del pairs, groups  # the raw pages are the largest thing held at 10,000 pairs; the plan has what it needs
    log.info(
        "plan",
        **plan.summary(),
        refused=plan.refused,
        consideredPairs=plan.considered_pairs,
        consideredGroups=plan.considered_groups,
    )
    if incident.disposition == "plan" or plan.refused:
        planned = _as_planned(plan)
        if incident.disposition == "plan":  # a dry run shows everything, cap or not
            shown = stage.planned().dump() if stage is not None and not isinstance(stage, dict) else stage
            return run.result(
                "planned", f"dry run: {incident.reason}", incident, targets=planned, api=api, recovery=shown
            )
        return run.result(
            "refused", plan.refused or "", incident, targets=planned, api=api, refused=plan.refused, ok=False
        )

    # 4. Confirmation and approval: act, hold (zero writes, notified) or reject a bad approval. A fan-out
    # worker's batch skips it: its coordinator confirmed (and had approved) the whole incident.
    if run.stage is not None:
        region = plan.primary_region
        gate = run.stage.gate(
            incident, plan, lambda: evidence.build_sources(settings, credentials, region, at_ms=evidence.now_ms())
        )
        if gate.status != "act":
            held = _as_planned(plan)
            return run.result(gate.status, gate.reason, incident, targets=held, api=api, ok=False, cause=gate.cause)
        plan = gate.plan

    # 4b. a plan too large for one invocation is split over async invocations of this function
    coordinated = maybe_coordinate(
        plan, incident, settings, context=context, env=env, event=fan, api_calls=api.stats.calls,
        time_left=deadline.remaining(), request_id=run.request_id, started=run.started, t0=run.t0,
    )  # fmt: skip
    if coordinated is not None:
        log.log("INFO" if coordinated["ok"] else "WARNING", "result", result=coordinated)
        return coordinated

    # 5. Execution
    targets = executor.run(plan)
    counts = summarize(targets)
    # 6. Compute and traffic (recovery/stage.py), for the targets that failed over
    recovery = stage if isinstance(stage, dict) or stage is None else _recover(run, stage, executor, targets)
    rec_status, rec_codes = (recovery or {}).get("status"), list((recovery or {}).get("errorCodes", []))
    if counts["pending"] or rec_status == "pending":
        why = f"{counts['pending']} target(s) left for a retry" + (
            ", recovery steps too" if rec_status == "pending" else ""
        )
        return run.result("pending", why, incident, targets=targets, api=api, executor=executor, recovery=recovery)
    if counts["failed"] or rec_status in ("partial", "failed"):
        return run.result(
            "partial",
            f"{counts['failed']} target(s) failed permanently"
            + (f"; recovery: {recovery['reason']}" if recovery and rec_status in ("partial", "failed") else "")
            + "; see their reasons",
            incident,
            targets=targets,
            api=api,
            executor=executor,
            ok=False,
            codes=rec_codes,
            recovery=recovery,
        )
    return run.result(
        "completed",
        f"{counts['failedOver']} failed over, {counts['alreadyFailedOver']} already done, {counts['skipped']} skipped",
        incident,
        targets=targets,
        api=api,
        executor=executor,
        recovery=recovery,
    )


def _as_planned(plan: Plan) -> list[TargetResult]:
    """The plan as results: what would fail over is ``pending``, the rest as the plan decided."""
    return [
        target_result(i, "pending" if i.decision == "failover" else i.decision, i.reason, client_token=i.client_token)
        for i in plan.items
    ]
def _recovery_stage(
    run: _Invocation,
    env: Mapping[str, str],
    context: Any,
    api: EbsApi,
    incident: Incident,
    plan: Any,
    pairs: list[dict[str, Any]],
    groups: list[dict[str, Any]],
) -> Any:
    """The prepared recovery stage, a failed recovery result (dict), or None without a recovery map."""
    from replica_failover.recovery import configured

    if not configured(env) or plan.refused:
        return None  # the stages' modules are imported only by a function that recovers
    from replica_failover.credentials import resolve_credentials
    from replica_failover.recovery import prepare as recovery
    from replica_failover.recovery.hook import fc_endpoint
    from replica_failover.recovery.report import RecoveryResult

    kept_pairs, kept_groups = recovery.keep_records(plan, pairs, groups)
    prepared = recovery.prepare(
        env=env,
        credentials=resolve_credentials(context, env),
        ebs=api,
        plan=plan,
        pairs=kept_pairs,
        groups=kept_groups,
        log=run.log,
        observed_at=incident.observed_at,
        started=run.started,
        connect_timeout=run.settings.connect_timeout_seconds,
        read_timeout=run.settings.read_timeout_seconds,
        fc_endpoint=fc_endpoint(env.get("FC_ENDPOINT"), _account(context, env), plan.dr_region),
        fc_service=str(getattr(getattr(context, "service", None), "name", "") or ""),
    )
    return prepared.dump() if isinstance(prepared, RecoveryResult) else prepared


def _recover(run: _Invocation, stage: Any, executor: Executor, targets: list[TargetResult]) -> dict[str, Any]:
    result = stage.run(
        executor.deadline,
        executor.backoff,
        executor.budget,
        run.settings.verify_poll_seconds,
        run.settings.concurrency,
        storage={t.id: t.outcome for t in targets},
    )
    return dict(result.dump())


def _timeout(context: Any) -> float:
    fn = getattr(context, "function", None)
    try:
        value = float(getattr(fn, "timeout", 0) or 0)
    except (TypeError, ValueError):
        value = 0.0
    return value if value > 0 else DEFAULT_TIMEOUT


def _account(context: Any, env: Mapping[str, str]) -> str | None:
    acct = getattr(context, "account_id", None) or env.get("FC_ACCOUNT_ID")
    return str(acct) if acct else None
