"""The coordinator: one batch event per batch, dispatched with its task id; the result lists them.

Everything that concerns the incident as a whole was settled before this point by the invocation
itself: the event was validated, the plan built once from the DR site's state and checked against the
blast-radius cap (a refused or dry-run plan never reaches here). A batch that could not be
dispatched makes the result ``pending``, so FC retries the coordinator; the retry re-dispatches with
the same task ids, which FC 3.0 answers 409 for the batches already running.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from replica_failover.fanout.dispatch import Dispatched, Invoker
from replica_failover.fanout.quota import share_of
from replica_failover.fanout.split import Batch, Split
from replica_failover.incident import Incident
from replica_failover.result import Failure

# dispatched: every batch runs; pending: some could not be dispatched now (FC retries the coordinator);
# failed: FC refused a batch for good (permission, no such function)
Status = Literal["dispatched", "pending", "failed"]


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class BatchRecord(_Model):
    index: int
    task_id: str
    targets: int
    to_failover: int
    dispatched: Dispatched
    request_id: str | None = None
    error: str | None = None


class FanoutInfo(_Model):
    role: Literal["coordinator"] = "coordinator"
    why: str
    api_version: str
    function: str
    workers: int
    rate_limit: float | None
    rate_share: float | None  # each worker's share of FAILOVER_RATE_LIMIT, requests/s
    per_invocation_rate: float | None
    batches: list[BatchRecord] = Field(default_factory=list)


class CoordinatorResult(_Model):
    ok: bool
    status: Status
    reason: str
    mode: str
    request_id: str | None
    incident: dict[str, Any]
    summary: dict[str, int]
    fanout: FanoutInfo
    failure: Failure | None = None  # set when FC refused a batch for good: a human must act
    api_calls: int
    write_calls: int = 0
    started_at: float
    duration_ms: float


def batch_event(incident: Incident, split: Split, batch: Batch, share: float | None) -> bytes:
    assert incident.primary_region is not None
    event: dict[str, Any] = {
        "fanout": "batch",
        "incidentKey": incident.incident_key,
        "primaryRegion": incident.primary_region,
        "batch": batch.index,
        "batches": split.workers,
        "taskId": batch.task_id,
        "pairIds": [i.id for i in batch.items if i.kind == "pair"],
        "groupIds": [i.id for i in batch.items if i.kind == "group"],
    }
    if share is not None:
        event["rateShare"] = share
    return json.dumps(event, separators=(",", ":")).encode()


def coordinate(
    invoker: Invoker,
    incident: Incident,
    split: Split,
    *,
    rate_limit: float | None,
    plan_summary: dict[str, int],
    mode: str,
    request_id: str | None,
    api_calls: int,
    started: float,
    t0: float,
) -> dict[str, Any]:
    share = share_of(rate_limit, split.workers)
    records = []
    for batch in split.batches:
        out = invoker.invoke(batch_event(incident, split, batch, share), batch.task_id)
        records.append(
            BatchRecord(
                index=batch.index,
                task_id=batch.task_id,
                targets=len(batch.items),
                to_failover=batch.to_failover,
                dispatched=out.dispatched,
                request_id=out.request_id,
                error=out.error,
            )
        )
    failed = [r for r in records if r.dispatched in ("failed", "refused")]
    refused = [r for r in records if r.dispatched == "refused"]
    new = sum(1 for r in records if r.dispatched == "new")
    status: Status = "failed" if refused else "pending" if failed else "dispatched"
    if refused:  # a retry would be refused the same way: a human must fix the role or the function name
        reason = f"FC refused {len(refused)} of {split.workers} batch(es): {refused[0].error}; see fanout.batches"
    elif failed:
        reason = f"{len(failed)} of {split.workers} batch(es) could not be dispatched; a retry dispatches them"
    else:
        reason = f"{split.workers} batch(es): {new} dispatched now, {split.workers - new} already running ({split.why})"
    failure = None
    if refused:
        denied = any(" 401 " in (r.error or "") or " 403 " in (r.error or "") for r in refused)
        failure = Failure(
            kind="failed",
            cause="permission" if denied else "configuration",
            reason=reason,
            error_codes=sorted({(r.error or "").rsplit(" ", 1)[-1] for r in refused} - {""}),
            target_ids=[
                i.id
                for b, r in zip(split.batches, records, strict=True)
                if r.dispatched == "refused"
                for i in b.items
                if i.decision == "failover"
            ],
        )
    result = CoordinatorResult(
        failure=failure,
        ok=not failed,
        status=status,
        reason=reason,
        mode=mode,
        request_id=request_id,
        incident={to_camel(k): v for k, v in incident.model_dump(mode="json").items()},
        summary={**plan_summary, "pending": sum(r.to_failover for r in failed)},
        fanout=FanoutInfo(
            why=split.why,
            api_version=invoker.target.api_version,
            function=invoker.target.function,
            workers=split.workers,
            rate_limit=rate_limit,
            rate_share=share,
            per_invocation_rate=None if split.per_invocation_rate is None else round(split.per_invocation_rate, 2),
            batches=records,
        ),
        api_calls=api_calls,
        started_at=round(started, 3),
        duration_ms=round((time.monotonic() - t0) * 1000, 1),
    )
    return result.model_dump(mode="json", by_alias=True)
