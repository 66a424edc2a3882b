"""What a reverse action is asked to do, and what it answers (machine-readable JSON, camelCase keys)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator, model_validator
from pydantic.alias_generators import to_camel

from replica_failover.config import MAX_IDS_PER_LIST, MAX_TAGS
from replica_failover.route import GroupIds, PairIds, RegionId, Tags

Action = Literal["undo", "reprotect", "failback"]
Kind = Literal["pair", "group"]
# an incident key or a ticket: printable ASCII without spaces or quotes, so it is safe in a log and a hash
CHANGE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/#@-]{0,127}$")
Outcome = Literal["done", "alreadyDone", "skipped", "blocked", "pending", "failed", "planned"]
PreconditionState = Literal["ok", "failed", "unknown"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class ReverseRequest(_Model):
    """One reverse action on a route (``primaryRegion`` -> ``drRegion``, the direction of the failover
    being reversed), optionally limited to pairs, groups or tags."""

    action: Action
    dry_run: StrictBool  # required: the operator says which, every time
    primary_region: RegionId
    dr_region: RegionId
    incident_key: str | None = None  # undo: the incident whose failover is undone (scope and report)
    change_id: str | None = None  # the operator's change (a ticket): it goes into every ClientToken
    # an empty list would select every target of the route: a list names at least one id
    pair_ids: PairIds = Field(default=None, min_length=1, max_length=MAX_IDS_PER_LIST)
    group_ids: GroupIds = Field(default=None, min_length=1, max_length=MAX_IDS_PER_LIST)
    tags: Tags = Field(default_factory=dict, max_length=MAX_TAGS)
    max_targets: StrictInt = Field(default=50, ge=1, le=10_000, description="blast-radius cap")
    reason: str | None = Field(default=None, max_length=500)

    @field_validator("incident_key", "change_id")
    @classmethod
    def _change(cls, v: str | None) -> str | None:
        if v is not None and not CHANGE_ID_RE.fullmatch(v):
            raise ValueError("1-128 characters of [A-Za-z0-9._:/#@-], starting with a letter or digit")
        return v

    @field_validator("reason")
    @classmethod
    def _reason(cls, v: str | None) -> str | None:
        if v is not None and not v.isprintable():
            raise ValueError("reason must be printable text")
        return v

    @model_validator(mode="after")
    def _route(self) -> ReverseRequest:
        if self.primary_region == self.dr_region:
            raise ValueError("the DR region must differ from the primary region")
        if self.action == "undo" and self.incident_key is None:
            raise ValueError("undo needs incidentKey: the incident whose failover is undone")
        if self.change_id is None:
            raise ValueError(f"{self.action} needs changeId: the operator's id for this change (e.g. the ticket)")
        if self.action == "undo" and self.pair_ids is None and self.group_ids is None and not self.tags:
            # another incident's failover on the same route must not be undone with this one
            raise ValueError("undo needs pairIds, groupIds or tags: the targets of the failover being undone")
        return self

    @property
    def change(self) -> str:
        return str(self.change_id)


class Precondition(_Model):
    name: str  # primaryDisksDetached | drDisksDetached
    region: str
    state: PreconditionState
    detail: str
    code: str | None = None  # the API code a call would be refused with (failed), or the check's error (unknown)


class Step(_Model):
    step: str  # reprotect-keep | reprotect-reverse | start | failover
    call: str  # the API action
    region: str
    client_token: str
    reverse_replicate: bool | None = None
    state: Literal["todo", "done", "verify", "sent", "replayed", "refused"] = "todo"
    code: str | None = None  # the API's refusal


class TargetPlan(_Model):
    kind: Kind
    id: str
    status: str
    direction: str  # "source>destination" now
    last_recover_point: int
    rpo_seconds: int | None = None  # now - LastRecoverPoint (failback: the data a failover now would lose)
    members: list[str] = Field(default_factory=list)
    steps: list[Step] = Field(default_factory=list)
    preconditions: list[Precondition] = Field(default_factory=list)
    outcome: Outcome = "planned"
    reason: str = ""
    status_after: str | None = None


class Summary(_Model):
    targets: int = 0
    done: int = 0
    already_done: int = 0
    skipped: int = 0
    blocked: int = 0
    pending: int = 0
    failed: int = 0
    planned: int = 0
    write_calls: int = 0
    retries: int = 0


class ReverseResult(_Model):
    ok: bool
    status: Literal["planned", "completed", "pending", "failed", "rejected"]
    reason: str
    action: Action
    change_id: str
    incident_key: str | None = None
    dry_run: bool
    primary_region: str
    dr_region: str
    targets: list[TargetPlan] = Field(default_factory=list)
    summary: Summary = Field(default_factory=Summary)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json")
