"""``{"action": "undo" | "reprotect" | "failback", "dryRun": ..., ...}``: the function's entry, and
:func:`perform`, which the command line shares.

Bad input (wrong types, an unknown region, malformed or unknown ids, a missing change id) is
rejected before any write; the result never carries a credential. ``status``: ``planned`` (dry run),
``completed``, ``pending`` (a retry can finish: ``summary.pending`` targets, ``reason``; the handler
raises so FC retries), ``failed`` (a refusal or a precondition a human has to fix), ``rejected``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from replica_failover.reverse.models import ReverseRequest, ReverseResult, Summary, TargetPlan

if TYPE_CHECKING:
    from replica_failover.log import JsonLogger
    from replica_failover.operations import OperationCall
    from replica_failover.retry import Backoff, Deadline, RetryBudget
    from replica_failover.reverse.client import DiskLookup, ReverseApi
    from replica_failover.reverse.run import Clock
    from replica_failover.reverse.scope import Scope

# tests put the emulator's clock here (its sleep advances the emulator instead of waiting)
CLOCK: Clock | None = None


def invalid(errors: ValidationError) -> str:
    """The validation errors, by field, without echoing the input (it may be hostile or huge)."""
    parts = []
    for e in errors.errors()[:5]:
        where = ".".join(str(x) for x in e["loc"]) or "event"
        parts.append(f"{where}: {str(e['msg'])[:160]}")
    return "; ".join(parts)


def rejected(payload: dict[str, Any], reason: str) -> dict[str, Any]:
    action = payload.get("action") if payload.get("action") in ("undo", "reprotect", "failback") else "undo"
    return ReverseResult(
        ok=False, status="rejected", reason=reason, action=action, change_id="", dry_run=True,
        primary_region="", dr_region="",
    ).to_json()  # fmt: skip


def request_from(payload: dict[str, Any], *, primaries: tuple[str, ...] | None, dr: str | None) -> ReverseRequest:
    """The validated request; ValueError with a printable reason otherwise. ``primaries``/``dr``: the
    deployment's route (the function's settings), which the event must name."""
    body = dict(payload)
    if dr is not None:
        body.setdefault("drRegion", dr)
    try:
        req = ReverseRequest.model_validate(body)
    except ValidationError as exc:
        raise ValueError(invalid(exc)) from None
    if primaries is not None and req.primary_region not in primaries:
        raise ValueError(f"primaryRegion {req.primary_region} is not one of this deployment's primary regions")
    if dr is not None and req.dr_region != dr:
        raise ValueError(f"drRegion {req.dr_region} is not this deployment's DR region ({dr})")
    return req


def perform(
    req: ReverseRequest, api: ReverseApi, ecs: DiskLookup | None, *, deadline: Deadline, budget: RetryBudget,
    backoff: Backoff, log: JsonLogger, clock: Clock, scope: Scope | None = None,
) -> ReverseResult:  # fmt: skip
    from replica_failover.drill.client import DrillApiError
    from replica_failover.policy import is_transient
    from replica_failover.reverse.plan import Refused, build, select
    from replica_failover.reverse.run import Runner

    runner = Runner(api, req, deadline=deadline, budget=budget, backoff=backoff, log=log, clock=clock, ecs=ecs)
    base = {"action": req.action, "change_id": req.change, "incident_key": req.incident_key, "dry_run": req.dry_run,
            "primary_region": req.primary_region, "dr_region": req.dr_region}  # fmt: skip
    try:
        views = runner._read(lambda: select(api, req, scope))
    except Refused as exc:
        return ReverseResult(ok=False, status="rejected", reason=str(exc), **base)
    except DrillApiError as exc:
        status = "pending" if is_transient(exc.code, exc.status) else "failed"
        summary = Summary(pending=1) if status == "pending" else Summary()
        return ReverseResult(ok=False, status=status, reason=f"describing the targets failed: {exc.code}",
                             summary=summary, **base)  # fmt: skip
    plans = build(req, views, ecs, clock.now())
    log.info("reverse-plan", action=req.action, changeId=req.change, incidentKey=req.incident_key,
             dryRun=req.dry_run, reason=req.reason, targets=len(plans),
             blocked=[p.id for p in plans if p.outcome == "blocked"])  # fmt: skip
    if not req.dry_run:
        runner.execute(plans, views)
    return _result(req, plans, runner.summary, base)


def _result(req: ReverseRequest, plans: list[TargetPlan], summary: Summary, base: dict[str, Any]) -> ReverseResult:
    for p in plans:
        key = {"alreadyDone": "already_done"}.get(p.outcome, p.outcome)
        setattr(summary, key, getattr(summary, key) + 1)
    summary.targets = len(plans)
    if req.dry_run:
        status = "planned"
        reason = f"dry run: {summary.planned} target(s) with work, {summary.blocked} blocked; nothing written"
    elif summary.pending:
        first = next(p.reason for p in plans if p.outcome == "pending")
        status, reason = "pending", f"{summary.pending} target(s) pending (first: {first})"
    elif summary.failed or summary.blocked:
        status, reason = "failed", f"{summary.failed} target(s) refused, {summary.blocked} blocked by a precondition"
    else:
        status, reason = "completed", f"{summary.done} target(s) done, {summary.already_done} already done"
    ok = status in ("planned", "completed") and not (req.dry_run and summary.blocked)
    return ReverseResult(ok=ok, status=status, reason=reason, targets=plans, summary=summary, **base)


def run(payload: dict[str, Any], call: OperationCall) -> dict[str, Any]:
    from replica_failover.credentials import resolve_credentials
    from replica_failover.errors import ConfigError
    from replica_failover.recovery.ecs import EcsApi
    from replica_failover.retry import Backoff, Deadline, RetryBudget
    from replica_failover.reverse.client import ReverseClient
    from replica_failover.reverse.run import Clock
    from replica_failover.reverse.scope import Scope, scoped

    s = call.settings
    try:
        req = scoped(request_from(payload, primaries=s.primary_regions, dr=s.dr_region), s)
    except ValueError as exc:
        call.log.warning("reverse-rejected", reason=str(exc))
        return rejected(payload, str(exc))
    try:
        creds = resolve_credentials(call.context, call.env)
    except ConfigError as exc:  # no usable credentials: a result, not a traceback (str names the variable only)
        call.log.error("reverse-config", reason=str(exc))
        return ReverseResult(
            ok=False, status="failed", reason=str(exc), action=req.action, change_id=req.change,
            incident_key=req.incident_key, dry_run=req.dry_run, primary_region=req.primary_region,
            dr_region=req.dr_region,
        ).to_json()  # fmt: skip
    api = ReverseClient(creds, endpoint=s.ebs_endpoint, connect_timeout=s.connect_timeout_seconds,
                        read_timeout=s.read_timeout_seconds)  # fmt: skip
    # EBS_ENDPOINT is set only for the emulator, which serves ECS on the same port
    ecs_endpoint = call.env.get("ECS_ENDPOINT") or s.ebs_endpoint
    ecs = EcsApi(creds, endpoint=ecs_endpoint, connect_timeout=s.connect_timeout_seconds,
                 read_timeout=s.read_timeout_seconds)  # fmt: skip
    result = perform(
        req, api, ecs, deadline=Deadline(call.deadline_at), budget=RetryBudget(s.retry_budget, s.retry_rate),
        backoff=Backoff(), log=call.log, clock=CLOCK or Clock(), scope=Scope.of(s),
    )  # fmt: skip
    return result.to_json()
