"""The manual drill event: ``{"action": "drill", "primaryRegion": ..., "reason": ...}`` run by the function.

The payload is checked strictly before any credential or API is touched (a bad one raises
:class:`~replica_failover.errors.EventError`, which the handler turns into ``rejected`` with no call):
unknown keys, wrong types, ids of the wrong shape, a primary region the function does not protect.
The DR region is the function's own. The drill then runs with the function's credentials against
``EBS_ENDPOINT`` (when set), within the invocation's deadline: starting and waiting for ``executed``
stop a clear margin before it, so every drill it started is cleared before FC's timeout.

``cleanupOnly: true`` only clears the drills a killed run left behind on the selected targets.

The result is one JSON object: ``ok``, ``status`` (``completed`` | ``partial`` | ``failed`` |
``rejected``, or ``pending`` when drills are left uncleared: the handler raises so FC retries, and
the retry's leftover pass clears them), ``reason``, ``summary``, the drill report under ``drill``,
``requestId`` and ``durationMs``. A drill never calls a failover.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError
from pydantic.alias_generators import to_camel

from replica_failover.config import MAX_IDS_PER_LIST, MAX_TAGS, Settings, is_group_id, is_pair_id
from replica_failover.drill.client import DrillApi
from replica_failover.drill.models import RPO_OBJECTIVE_SECONDS, DrillReport, DrillRequest
from replica_failover.drill.runner import Clock, DrillRunner
from replica_failover.errors import INVALID_FIELD, ConfigError, EventError
from replica_failover.intake import fields
from replica_failover.intake.payloads import validate
from replica_failover.operations import OperationCall
from replica_failover.scope import Scope, capped, required_tags

Status = Literal["completed", "partial", "failed", "rejected", "pending"]

# time kept for clearing: a share of what the invocation has left, at most CLEAR_RESERVE_MAX seconds
CLEAR_SHARE: Final = 0.3
CLEAR_RESERVE_MAX: Final = 120.0
# polls start quick (an emulator or a small disk executes in seconds) and back off to the request's poll
FIRST_POLL_SECONDS: Final = 0.05
POLL_SECONDS: Final = 5.0
MAX_SECONDS: Final = 86_400.0  # the request's own bound on its timeouts (FC's longest invocation)


def _printable(value: str) -> str:
    if not value.isprintable():  # these strings reach log lines: no forged new lines
        raise ValueError("contains control characters")
    return value


_Id = Annotated[StrictStr, Field(max_length=80)]
_Tag = Annotated[StrictStr, Field(max_length=128), AfterValidator(_printable)]


class DrillEvent(BaseModel):
    """The operator's drill request. Strict: a typo such as ``pairIDs`` must fail, not widen the drill."""

    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=False)

    action: Literal["drill"]
    primary_region: StrictStr = Field(max_length=64)
    pair_ids: list[_Id] | None = Field(None, min_length=1, max_length=MAX_IDS_PER_LIST)
    group_ids: list[_Id] | None = Field(None, min_length=1, max_length=MAX_IDS_PER_LIST)
    tags: dict[_Tag, _Tag] | None = Field(None, min_length=1, max_length=MAX_TAGS)
    reason: Annotated[StrictStr, Field(min_length=1, max_length=512), AfterValidator(_printable)]
    max_targets: StrictInt | None = Field(None, ge=1, le=10_000)
    objective_seconds: StrictInt = Field(RPO_OBJECTIVE_SECONDS, ge=1, le=86_400)
    test_instance_id: StrictStr | None = Field(None, pattern=r"^i-[A-Za-z0-9]{1,64}$")
    cleanup_only: StrictBool = False


@dataclass(frozen=True)
class Checked:
    """A drill event checked against the function's settings: what the runner is asked."""

    event: DrillEvent
    request: DrillRequest


def check(payload: dict[str, Any], settings: Settings) -> Checked:
    """The event as a drill of this function's route; EventError for anything wrong (nothing called yet)."""
    event = validate(DrillEvent, payload)
    region = fields.region(event.primary_region, "primaryRegion")
    if region not in settings.primary_regions:
        raise EventError(
            INVALID_FIELD,
            f"primaryRegion {region} is not one this function protects ({', '.join(settings.primary_regions)})",
        )
    pairs = fields.id_tuple(event.pair_ids, is_pair_id, "pairIds", "pair-cn-...")
    groups = fields.id_tuple(event.group_ids, is_group_id, "groupIds", "pg-...")
    try:
        Scope.of(settings).check_named(pairs, groups)
        tags = required_tags(settings, event.tags)
    except ValueError as exc:
        raise EventError(INVALID_FIELD, str(exc)) from None
    cap = capped(event.max_targets, settings)
    try:
        request = DrillRequest(
            primary_region=region, dr_region=settings.dr_region, pair_ids=list(pairs) or None,
            group_ids=list(groups) or None, tags=tags, max_targets=cap, objective_seconds=event.objective_seconds,
            poll_seconds=POLL_SECONDS, attach_instance_id=event.test_instance_id,
        )  # fmt: skip
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        raise EventError(INVALID_FIELD, f"drill: {first.get('msg', 'invalid')}") from None
    return Checked(event, request)


class _Poller:
    """``sleep`` for the runner: short first polls that double up to what it asks, never past ``until``."""

    def __init__(self, now: Callable[[], float], left: float) -> None:
        self.now, self.until, self.step = now, now() + left, FIRST_POLL_SECONDS

    def sleep(self, seconds: float) -> None:
        pause = max(0.0, min(seconds, self.step, self.until - self.now()))
        self.step = min(self.step * 2, POLL_SECONDS)
        if pause > 0:
            time.sleep(pause)

    def restart(self) -> None:
        self.step = FIRST_POLL_SECONDS


def make_clock(left: float) -> tuple[Clock, Callable[[], None]]:
    """The runner's clock (wall time, ``left`` seconds to go) and a hook restarting its poll back-off."""
    poller = _Poller(time.time, left)
    return Clock(now=time.time, sleep=poller.sleep), poller.restart


def make_api(call: OperationCall) -> tuple[DrillApi, Any]:
    """The ebs drill client with the function's credentials (returned too: a test instance's ECS client)."""
    from replica_failover.credentials import resolve_credentials
    from replica_failover.drill.client import EbsDrillClient

    creds = resolve_credentials(call.context, call.env)
    s = call.settings
    api = EbsDrillClient(
        creds, endpoint=s.ebs_endpoint, connect_timeout=s.connect_timeout_seconds, read_timeout=s.read_timeout_seconds
    )
    return api, creds


def _disks(call: OperationCall, creds: Any) -> Any:
    from replica_failover.drill.probe import EcsDiskApi
    from replica_failover.recovery.ecs import EcsApi

    s = call.settings
    # EBS_ENDPOINT is only ever set for the emulator, which serves every product on one port
    endpoint = call.env.get("ECS_ENDPOINT") or s.ebs_endpoint
    ecs = EcsApi(creds, endpoint=endpoint, connect_timeout=s.connect_timeout_seconds,
                 read_timeout=s.read_timeout_seconds)  # fmt: skip
    return EcsDiskApi(ecs)


def run(payload: dict[str, Any], call: OperationCall) -> dict[str, Any]:
    checked = check(payload, call.settings)  # raises EventError: rejected, nothing called
    try:
        api, creds = make_api(call)
    except ConfigError as exc:
        return _answer(call, checked, "failed", str(exc), None)
    left = max(0.0, call.deadline_at - time.monotonic())
    reserve = min(CLEAR_RESERVE_MAX, left * CLEAR_SHARE)
    clock, restart = make_clock(left)
    start = clock.now()  # the clock the runner sees: deadlines are converted onto it
    timeouts = {
        "execute_timeout_seconds": min(max(0.001, left - reserve), MAX_SECONDS),
        "clear_timeout_seconds": min(max(0.001, left), MAX_SECONDS),
    }
    request = checked.request.model_copy(update=timeouts)

    def stage(name: str) -> None:
        if name in ("clearing", "started"):
            restart()
        call.log.debug("drill-stage", stage=name)

    # a fresh run id (ClientToken) per attempt: FC's retry of a killed attempt is a new run, whose
    # leftover pass clears the killed attempt's drills; the same token would replay a cleared drill
    disks = _disks(call, creds) if request.attach_instance_id else None
    runner = DrillRunner(
        api, request, clock=clock, stage=stage, disks=disks, execute_until=start + left - reserve,
        clear_until=start + left,
    )  # fmt: skip
    call.log.info(
        "drill", primaryRegion=request.primary_region, drRegion=request.dr_region, cap=request.max_targets,
        cleanupOnly=checked.event.cleanup_only, operatorReason=checked.event.reason,
    )  # fmt: skip
    report = runner.cleanup() if checked.event.cleanup_only else runner.run()
    status, reason = outcome(report, checked.event.cleanup_only)
    return _answer(call, checked, status, reason, report)


def outcome(report: DrillReport, cleanup_only: bool) -> tuple[Status, str]:
    """Status and reason of a finished drill (or cleanup) from its report."""
    denied = sorted({c for i, c in report.clear_refused.items() if i in report.not_cleared})
    if denied:  # a retry would be refused again, and would start new drills first: a human must act
        return "failed", (
            f"{len(report.not_cleared)} drill(s) not cleared: the clear was refused ({', '.join(denied)}); "
            "fix that (e.g. grant ebs:ClearPairDrill / ebs:ClearReplicaGroupDrill), then send cleanupOnly"
        )
    if report.not_cleared:
        return "pending", f"{len(report.not_cleared)} drill(s) not cleared yet: a retry's leftover pass clears them"
    if report.error and not report.targets:
        refused = not report.error.startswith("ebs answered")
        return ("rejected" if refused else "failed"), report.error
    if report.interrupted:
        return "failed", f"interrupted ({report.interrupted}); every drill it started was cleared"
    if cleanup_only:
        n = sum(1 for d in report.leftovers if d.cleared)
        return "completed", f"cleared {n} leftover drill(s)"
    executed = [t for t in report.targets if t.status == "executed" and not t.error]
    missed = report.rpo.missing_objective if report.rpo else []
    rpo = f"; RPO over {report.rpo.objective_seconds} s: {', '.join(missed)}" if report.rpo and missed else ""
    if report.ok:
        return "completed", f"{len(executed)} drill(s) executed and cleared{rpo}"
    failed = [f"{t.id} ({t.error or t.status})" for t in report.targets if t not in executed]
    detail = f"not executed: {', '.join(failed[:10])}" if failed else (report.error or "a probe failed")
    return ("partial" if executed else "failed"), f"{len(executed)} of {len(report.targets)} executed; {detail}{rpo}"


def summary(report: DrillReport | None) -> dict[str, Any]:
    if report is None:
        return {"targets": 0, "executed": 0, "cleared": 0, "failed": 0, "rpoMissed": 0, "pending": 0}
    targets = report.targets
    return {
        "targets": len(targets),
        "executed": sum(1 for t in targets if t.status == "executed" and not t.error),
        "cleared": sum(1 for t in targets if t.cleared),
        "failed": sum(1 for t in targets if t.error or t.status not in ("executed",)),
        "leftoversCleared": sum(1 for d in report.leftovers if d.cleared),
        "rpoMissed": len(report.rpo.missing_objective) if report.rpo else 0,
        "pending": len(report.not_cleared),
    }


def _answer(
    call: OperationCall, checked: Checked, status: Status, reason: str, report: DrillReport | None
) -> dict[str, Any]:
    req = checked.request
    return {
        "ok": status == "completed",
        "status": status,
        "reason": reason,
        "action": "drill-cleanup" if checked.event.cleanup_only else "drill",
        "primaryRegion": req.primary_region,
        "drRegion": req.dr_region,
        "operatorReason": checked.event.reason,
        "summary": summary(report),
        "drill": report.to_json() if report is not None else None,
        "requestId": call.request_id,
        "durationMs": round((time.time() - call.started) * 1000, 1),
    }
