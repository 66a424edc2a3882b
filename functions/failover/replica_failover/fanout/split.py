"""Whether a plan is fanned out, into how many batches, and each batch's deterministic task id.

A plan is fanned out when it has more targets to fail over than ``FAILOVER_BATCH_SIZE``, or when the
time it needs exceeds what is left of the invocation: one invocation reaches at most
``concurrency / latency`` calls per second (``latency`` measured on the describes that built the
plan), or ``FAILOVER_RATE_LIMIT`` if lower. Workers share the rate, so more workers than it takes to
reach the rate would not finish sooner: by time, the split stops at ``ceil(rate / per-invocation)``;
what still does not fit is left to FC's async retry of each worker, like any pending work.

The batches cover the plan's *selected* targets (to fail over, or already failed over) in plan
order, so a re-run coordinator, which finds some of them failed over by now, forms the same batches.
The task id is derived from the incident key, the number of batches and the batch index only
(ids.py): the same split of the same
incident has the same ids, and FC 3.0 answers a second dispatch with 409. A re-run that splits
differently (a different latency measured) dispatches a new generation of ids; its workers re-read
state and send the same ClientTokens, so each target still sees one effect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from replica_failover.fanout.ids import MAX_BATCH_TARGETS, task_id
from replica_failover.plan import Plan, PlanItem

SELECTED: Final = ("failover", "alreadyFailedOver")


@dataclass(frozen=True)
class Batch:
    index: int
    task_id: str
    items: tuple[PlanItem, ...]

    @property
    def to_failover(self) -> int:
        return sum(1 for i in self.items if i.decision == "failover")


@dataclass(frozen=True)
class Split:
    batches: tuple[Batch, ...]
    why: str
    per_invocation_rate: float | None  # calls/s one invocation reaches, as measured

    @property
    def workers(self) -> int:
        return len(self.batches)


def decide(
    plan: Plan,
    incident_key: str,
    *,
    batch_size: int,
    max_workers: int,
    rate_limit: float | None,
    concurrency: int,
    latency: float | None,
    time_left: float,
) -> Split | None:
    """The split of ``plan``, or None when one invocation carries it."""
    n = len(plan.to_failover)
    if n == 0:
        return None
    selected = [i for i in plan.items if i.decision in SELECTED]
    by_size = math.ceil(len(selected) / batch_size) if batch_size else 1  # the handler passes batch_size >= 1
    per_call = concurrency / latency if latency and latency > 0 else None
    reach = min(x for x in (per_call, rate_limit) if x is not None) if (per_call or rate_limit) else None
    by_time = 1
    if reach is not None and time_left > 0 and n / reach > time_left:
        by_time = math.ceil(n / (reach * time_left))
        if rate_limit is not None and per_call is not None:
            by_time = min(by_time, max(1, math.ceil(rate_limit / per_call)))
    by_payload = math.ceil(len(selected) / MAX_BATCH_TARGETS)
    workers = min(max(by_size, by_time, by_payload), max_workers, len(selected))
    if workers <= 1:
        return None
    why = []
    if by_size > 1:
        why.append(f"{len(selected)} targets > FAILOVER_BATCH_SIZE={batch_size}")
    if by_time > 1:
        why.append(f"{n} failovers at {reach:.1f} calls/s need {n / (reach or 1):.1f} s > {time_left:.1f} s left")
    if by_payload > 1:
        why.append(f"more than {MAX_BATCH_TARGETS} targets per batch event")
    size = math.ceil(len(selected) / workers)
    chunks = [tuple(selected[i : i + size]) for i in range(0, len(selected), size)]
    batches = tuple(Batch(k, task_id(incident_key, len(chunks), k), c) for k, c in enumerate(chunks))
    return Split(batches=batches, why="; ".join(why), per_invocation_rate=per_call)
