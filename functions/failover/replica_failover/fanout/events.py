"""The fan-out events: ``{"fanout": "batch", ...}`` (a worker's share of an incident) and
``{"fanout": "status", ...}`` (aggregate an incident's workers).

Validated like every event: strict models (an unknown or misspelt field fails), identifiers checked
by the same rules as a manual event, the task id re-derived from the incident key, the split and the
batch index (a batch whose id does not match was not made by a coordinator). A batch event is a
manual event restricted to the targets it names: the worker re-plans them from the DR site's state,
so filters (allow/deny lists, tags) and the blast-radius cap apply to it again, and a forged batch can
do no more than a manual failover naming the same ids could.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError
from pydantic.alias_generators import to_camel

from replica_failover.config import Settings, is_group_id, is_pair_id, is_region_id
from replica_failover.errors import INVALID_FIELD, EventError
from replica_failover.fanout import carries_fanout
from replica_failover.fanout.ids import MAX_BATCH_TARGETS, task_id
from replica_failover.incident import Incident

KEY_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"


def _pair(value: str) -> str:
    if not is_pair_id(value):
        raise ValueError("not a replica pair id (pair-...)")
    return value


def _group(value: str) -> str:
    if not is_group_id(value):
        raise ValueError("not a replica group id (pg-...)")
    return value


def _region(value: str) -> str:
    if not is_region_id(value):
        raise ValueError("not a region id")
    return value


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=False)


class BatchEvent(_Event):
    fanout: Literal["batch"]
    incident_key: StrictStr = Field(pattern=KEY_PATTERN)
    primary_region: Annotated[StrictStr, AfterValidator(_region)]
    batch: StrictInt = Field(ge=0)
    batches: StrictInt = Field(ge=2, le=1000)
    task_id: StrictStr = Field(max_length=128)
    rate_share: float | None = Field(default=None, gt=0, le=100_000, allow_inf_nan=False)
    pair_ids: list[Annotated[StrictStr, AfterValidator(_pair)]] = Field(default=[], max_length=MAX_BATCH_TARGETS)
    group_ids: list[Annotated[StrictStr, AfterValidator(_group)]] = Field(default=[], max_length=MAX_BATCH_TARGETS)

    def describe(self) -> dict[str, Any]:
        return {
            "role": "worker",
            "batch": self.batch,
            "batches": self.batches,
            "taskId": self.task_id,
            "rateShare": self.rate_share,
            "targets": len(self.pair_ids) + len(self.group_ids),
        }


class StatusEvent(_Event):
    fanout: Literal["status"]
    incident_key: StrictStr = Field(pattern=KEY_PATTERN)


FanoutEvent = BatchEvent | StatusEvent


def fanout_event(raw: bytes | str, settings: Settings) -> FanoutEvent | None:
    """The fan-out event ``raw`` is, or None when it is another kind; EventError when it is a bad one."""
    if not carries_fanout(raw):
        return None  # cheap: alarms and manual events never carry the key
    from replica_failover.intake.decode import load

    payload = load(raw, settings.max_event_bytes)
    if "fanout" not in payload:
        return None
    kind = payload.get("fanout")
    model: type[BatchEvent] | type[StatusEvent] = StatusEvent if kind == "status" else BatchEvent
    try:
        event = model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or model.__name__
        raise EventError(INVALID_FIELD, f"{model.__name__}: {where}: {first.get('msg', 'invalid')}") from None
    if isinstance(event, BatchEvent):
        _check_batch(event, settings)
    return event


def _check_batch(event: BatchEvent, settings: Settings) -> None:
    if event.batch >= event.batches:
        raise EventError(INVALID_FIELD, f"BatchEvent: batch {event.batch} is not below batches {event.batches}")
    if not event.pair_ids and not event.group_ids:
        raise EventError(INVALID_FIELD, "BatchEvent: names no pairIds and no groupIds")
    if len(set(event.pair_ids)) != len(event.pair_ids) or len(set(event.group_ids)) != len(event.group_ids):
        raise EventError(INVALID_FIELD, "BatchEvent: names an id twice")
    if len(event.pair_ids) + len(event.group_ids) > MAX_BATCH_TARGETS:
        raise EventError(INVALID_FIELD, f"BatchEvent: more than {MAX_BATCH_TARGETS} targets")
    if event.primary_region not in settings.primary_regions:
        raise EventError(INVALID_FIELD, f"BatchEvent: {event.primary_region} is not a watched primary region")
    if event.task_id != task_id(event.incident_key, event.batches, event.batch):
        raise EventError(INVALID_FIELD, "BatchEvent: taskId does not match incidentKey, batches and batch")
    if settings.mode == "approve":
        # the approval covers one plan as a whole and is checked by the invocation that holds it
        raise EventError(INVALID_FIELD, "BatchEvent: batches are not accepted in FAILOVER_MODE=approve")


def batch_incident(event: BatchEvent, settings: Settings) -> Incident:
    """The Incident a worker runs: the coordinator's incident, restricted to the batch's targets."""
    plan_only = settings.mode == "plan-only"
    return Incident(
        source="manual",
        kind="manual",
        disposition="plan" if plan_only else "act",
        reason=f"fan-out batch {event.batch + 1}/{event.batches} of incident {event.incident_key}"
        + (" (FAILOVER_MODE=plan-only: dry run)" if plan_only else ""),
        primary_region=event.primary_region,
        region_origin="manual",
        dr_region=settings.dr_region,
        firing=True,
        alarm="fanout-batch",
        incident_key=event.incident_key,
        notification_id=event.task_id,
        pair_ids=tuple(event.pair_ids),
        group_ids=tuple(event.group_ids),
        requested_action="plan" if plan_only else "failover",
    )
