"""Judging one run: read the emulator after the method, check the hypothesis, write the journal.

:func:`observe` settles the emulator (quiet, clock advanced so transient states complete) and gathers
:class:`Observations`; :func:`judge` runs the checks of :mod:`chaos.gameday.expectations` and builds the
:class:`RunJournal` with its figures and per-target timelines. The run's one duration, ``durationS``, is
the trigger phase: first delivery until the FC queue drained (what ``completion-time`` bounds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chaos.gameday.channels import DRAIN_TIMEOUT, Delivery
from chaos.gameday.drill_checks import figures as drill_figures
from chaos.gameday.eligibility import TargetKey, eligible_targets, group_of, state_of
from chaos.gameday.expectations import evaluate, steady_state_before
from chaos.gameday.journal import ExpectationResult, InvocationRecord, RunJournal
from chaos.gameday.notifications import kind_of
from chaos.gameday.observations import Observations
from chaos.gameday.recovery_checks import RecoveryView
from chaos.gameday.world import World

SETTLE_SECONDS = 3600.0  # emulator time advanced after the run: every transient state completes


@dataclass
class Before:
    """The world as the trigger found it."""

    pairs: list[dict[str, Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    effects: int = 0
    declared: str | list[str] = "auto"

    @property
    def state(self) -> dict[TargetKey, str]:
        return state_of(self.pairs, self.groups)


def look_before(world: World) -> tuple[Before, list[ExpectationResult]]:
    """The steady state before the method: what must fail over exists, can, and nothing happened yet."""
    control, sc = world.control, world.sc
    declared = sc.expect.eligible
    if control is None:
        # no fleet to read: nothing to derive eligibility from, and ledger checks are off anyway
        return Before(declared="none" if declared == "auto" else declared), []
    before = Before(control.pairs(), control.groups(), len(control.ledger().get("effects", [])), declared)
    eligible = eligible_targets(
        before.pairs, before.groups, primary=sc.primary_region, dr=sc.dr_region, declared=declared
    )
    return before, steady_state_before(eligible, before.state, before.effects)


@dataclass
class After:
    pairs: list[dict[str, Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    ledger: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    rules: list[dict[str, Any]] = field(default_factory=list)
    fc_records: list[dict[str, Any]] = field(default_factory=list)
    async_failures: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    instances: list[dict[str, Any]] = field(default_factory=list)
    disks: list[dict[str, Any]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)


def look_after(world: World) -> After:
    control = world.control
    if control is None:
        return After()
    # a write held past the client's read timeout may still land: count it before judging
    control.wait_quiet(DRAIN_TIMEOUT)
    control.advance(SETTLE_SECONDS)
    recovering = world.sc.recovery is not None
    return After(
        instances=control.instances() if recovering else [],
        disks=control.disks() if recovering else [],
        records=control.dns_records() if recovering else [],
        pairs=control.pairs(),
        groups=control.groups(),
        ledger=control.ledger(),
        rules=control.fault_rules(),
        fc_records=[r for r in control.fc_invocations() if (r.get("service"), r.get("function")) == world.fc_key()],
        async_failures=control.fc_async_failures(),
        notifications=[{**n, "message": kind_of(n)} for n in control.notifications()],
    )


def observe(
    world: World,
    before: Before,
    after: After,
    deliveries: list[Delivery],
    attempts: list[dict[str, Any]],
    *,
    flips: dict[TargetKey, str],
    trigger_seconds: float,
    step_writes: dict[int, int] | None = None,
    logs: str = "",
) -> Observations:
    sc = world.sc
    events = sc.trigger.events
    return Observations(
        primary=sc.primary_region,
        eligible=eligible_targets(
            before.pairs,
            before.groups,
            primary=sc.primary_region,
            dr=sc.dr_region,
            flips=flips,
            declared=before.declared,
        ),
        initial=before.state,
        final=state_of(after.pairs, after.groups),
        ledger=after.ledger,
        ledger_available=world.control is not None,
        invocation_status=[
            (f"#{d.index} {d.label} ({d.channel})", d.status, d.event.expect_status) for d in deliveries
        ],
        final_results=[d.result for d in deliveries if d.result is not None],
        attempt_results=attempts,
        fault_rules=after.rules,
        fc_records=after.fc_records,
        async_failures=after.async_failures,
        trigger_seconds=trigger_seconds,
        notifications=after.notifications,
        notify_channels=sc.notify.channels(),
        step_writes=[
            (events[step].label(step), n, events[step].max_write_calls or 0)
            for step, n in sorted((step_writes or {}).items())
        ],
        event_results=[
            (f"#{d.index} {d.label}", d.result, d.event.result_fields) for d in deliveries if d.event.result_fields
        ],
        secrets=world.secrets(),
        logs=logs,
        recovery=_recovery_view(world, after, [d.result for d in deliveries if d.result is not None]),
    )


def _recovery_view(world: World, after: After, results: list[dict[str, Any]]) -> RecoveryView | None:
    if world.sc.recovery is None or world.control is None:
        return None
    rec = world.sc.recovery
    return RecoveryView(rec, after.ledger, after.instances, after.disks, after.records, after.pairs, results)


def judge(
    world: World,
    name: str,
    obs: Observations,
    after: After,
    before_checks: list[ExpectationResult],
    deliveries: list[Delivery],
    *,
    started_wall: float,
    drained: bool,
) -> RunJournal:
    """The journal: every check's result, the figures, the fleet, the invocations and the timelines."""
    sc = world.sc
    results = [*before_checks, *evaluate(sc.expect, obs)]
    if not drained:
        results.append(
            ExpectationResult(
                name="fc-queue-drained",
                ok=False,
                expected=f"FC async queue idle within {DRAIN_TIMEOUT:g} s",
                measured=False,
                message="async invocations were still queued or running",
            )
        )
    members = group_of(after.pairs)
    with_group = {("pair", pid) for pid, gid in members.items() if ("group", gid) in obs.eligible}
    return RunJournal(
        scenario=name,
        title=sc.title,
        description=sc.description,
        seed=sc.seed,
        started_wall=started_wall,
        duration_s=round(obs.trigger_seconds, 3),
        verdict="pass" if all(r.ok for r in results) else "fail",
        negative=sc.negative,
        function_env=world.masked_env(),
        fleet={
            "pairs": len(after.pairs),
            "groups": len(after.groups),
            "eligible": len(obs.eligible),
            "withGroup": len(with_group),
            "ineligible": len(obs.final) - len(obs.eligible) - len(with_group),
            "primaryRegion": sc.primary_region,
            "drRegion": sc.dr_region,
        },
        figures=figures(obs, deliveries, after.fc_records),
        expectations=results,
        invocations=[
            InvocationRecord(
                index=d.index,
                channel=d.channel,
                event_name=d.label,
                started_at=round(d.started_at - started_wall, 3),
                duration_ms=d.duration_ms,
                status=d.status,
                raised=d.raised,
                result=d.result,
                error=d.error,
            )
            for d in deliveries
        ],
        faults=after.rules,
        timelines=_timelines(after, obs, started_wall, members),
        ledger=after.ledger,
        notifications=after.notifications,
    )


def figures(obs: Observations, deliveries: list[Delivery], fc_records: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's counts (report tiles and the verdict table); the duration is the journal's own."""
    requests = obs.ledger.get("requests", [])
    effects = obs.ledger.get("effects", [])
    attempts = sum(len(r.get("attempts") or []) for r in fc_records)
    recovery = obs.recovery.figures() if obs.recovery is not None else {}
    recovery |= drill_figures(obs)
    return recovery | {
        "apiCalls": obs.api_calls(),
        "cmsCalls": obs.cms_calls(),
        "notifications": len(obs.notifications),
        "writeCalls": obs.write_calls(),
        "effects": len(effects) if obs.ledger_available else None,
        "retries": obs.retries(),
        "faultsFired": obs.faults_fired(),
        "replays": sum(1 for r in requests if r.get("replayed")),
        "throttled": sum(1 for r in requests if str(r.get("code") or "").startswith("Throttling")),
        "invocations": len(deliveries),
        "fcAttempts": attempts,
        "fcReinvocations": max(0, attempts - len(fc_records)),
        "eligible": len(obs.eligible),
        "failedOver": sum(1 for k in obs.eligible if obs.final.get(k) == "failovered"),
    }


def _timelines(after: After, obs: Observations, started_wall: float, members: dict[str, str]) -> Any:
    from chaos.gameday.timeline import build_timelines  # another module's; imported at use

    return build_timelines(
        after.ledger,
        obs.final_results,
        started_wall=started_wall,
        eligible=obs.eligible,
        final_status=obs.final,
        group_of=members,
    )
