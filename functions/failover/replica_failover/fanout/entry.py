"""What the handler calls: the fan-out steps, each one line in handler.py.

``worker_rate`` paces a worker at its share; ``answer_status`` answers a status event;
``maybe_coordinate`` turns an invocation whose plan is too large into the coordinator.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from replica_failover.fanout.events import BatchEvent, FanoutEvent, StatusEvent

if TYPE_CHECKING:
    from replica_failover.config import Settings
    from replica_failover.incident import Incident
    from replica_failover.pacing import AdaptiveRate
    from replica_failover.plan import Plan


def worker_rate(event: FanoutEvent | None, *, context: Any, env: Mapping[str, str]) -> AdaptiveRate | None:
    """A batch with a rate share is paced at it from its first call; anything else adapts alone.

    On FC 3.0 with FAILOVER_RATE_LIMIT set, the share follows the workers still running (quota.py).
    FC 2.0's stateful async invocations cannot be listed through aliyun-fc2: the share stays fixed.
    """
    if not isinstance(event, BatchEvent) or event.rate_share is None:
        return None
    from replica_failover.errors import ConfigError
    from replica_failover.fanout.quota import SharedRate
    from replica_failover.fanout.settings import FC3_API, load_fanout_settings

    try:
        fan = load_fanout_settings(env)
    except ConfigError:
        return SharedRate(event.rate_share)
    if fan.api_version != FC3_API or fan.rate_limit is None:
        return SharedRate(event.rate_share)
    from replica_failover.credentials import resolve_credentials
    from replica_failover.fanout.dispatch import fc_target
    from replica_failover.fanout.status import unfinished_workers

    target = fc_target(fan, context, resolve_credentials(context, env))
    key, batches = event.incident_key, event.batches
    # the rate as the coordinator split it, and never above FAILOVER_RATE_LIMIT
    limit = min(fan.rate_limit, event.rate_share * batches)
    return SharedRate(
        event.rate_share,
        rate_limit=limit,
        unfinished=lambda: unfinished_workers(target, key, batches),
        every=fan.share_refresh_seconds,
    )


def rate_report(rate: AdaptiveRate | None) -> dict[str, Any] | None:
    """A worker's share as its result reports it (initial, final, history), or None for any other run."""
    from replica_failover.fanout.quota import SharedRate

    return rate.report() if isinstance(rate, SharedRate) else None


def own_items(plan: Plan, event: FanoutEvent | None) -> Plan:
    """A worker's plan holds its batch's targets only (the rest is other workers' to report)."""
    if not isinstance(event, BatchEvent):
        return plan
    mine = {("pair", i) for i in event.pair_ids} | {("group", i) for i in event.group_ids}
    return plan.model_copy(update={"items": tuple(i for i in plan.items if (i.kind, i.id) in mine)})


def answer_status(event: StatusEvent, context: Any, env: Mapping[str, str]) -> dict[str, Any]:
    from replica_failover.credentials import resolve_credentials
    from replica_failover.fanout.dispatch import fc_target
    from replica_failover.fanout.settings import load_fanout_settings
    from replica_failover.fanout.status import incident_status

    target = fc_target(load_fanout_settings(env), context, resolve_credentials(context, env))
    return incident_status(target, event.incident_key)


def maybe_coordinate(
    plan: Plan,
    incident: Incident,
    settings: Settings,
    *,
    context: Any,
    env: Mapping[str, str],
    event: FanoutEvent | None,
    api_calls: int,
    time_left: float,
    request_id: str | None,
    started: float,
    t0: float,
) -> dict[str, Any] | None:
    """The coordinator's result when ``plan`` is fanned out; None when this invocation runs it itself.

    Workers never fan out again, and FAILOVER_MODE=approve never fans out: its approval covers the
    plan this invocation holds.
    """
    if event is not None or settings.mode != "auto" or not plan.to_failover:
        return None
    from replica_failover.credentials import resolve_credentials
    from replica_failover.fanout.coordinate import coordinate
    from replica_failover.fanout.dispatch import Invoker, fc_target
    from replica_failover.fanout.settings import load_fanout_settings
    from replica_failover.fanout.split import decide

    fan = load_fanout_settings(env)
    if not fan.batch_size:
        return None  # fan-out is opt-in: the role needs fc:InvokeFunction on this function for it
    # the describes that built the plan measured the API's latency for this invocation
    latency = (time.monotonic() - t0) / api_calls if api_calls else None
    split = decide(
        plan,
        incident.incident_key,
        batch_size=fan.batch_size,
        max_workers=fan.max_workers,
        rate_limit=fan.rate_limit,
        concurrency=settings.concurrency,
        latency=latency,
        time_left=time_left,
    )
    if split is None:
        return None
    invoker = Invoker(fc_target(fan, context, resolve_credentials(context, env)))
    return coordinate(
        invoker,
        incident,
        split,
        rate_limit=fan.rate_limit,
        plan_summary=plan.summary(),
        mode=settings.mode,
        request_id=request_id,
        api_calls=api_calls,
        started=started,
        t0=t0,
    )
