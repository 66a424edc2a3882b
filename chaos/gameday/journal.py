"""The journal of one game-day run: what happened, what was expected, what was measured.

The runner writes it; reports (report.json/.md/.html) only read it. Times are seconds since the
trigger started (``startedWall``) unless a field says ``wall``; ``durationS`` is the run's one duration:
from the first delivery until the FC queue drained.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class ExpectationResult(_Model):
    name: str  # e.g. "exactly-one-effect-per-target"
    ok: bool
    expected: str  # human-readable bound, e.g. "== 1 per eligible target"
    measured: Any  # the value measured (a count, the statuses seen, ...), never an empty offender list
    message: str = ""  # why it failed, naming targets/calls
    offenders: Any = None  # every offending target/call when it failed (the message names the first few)


TimelineKind = Literal["call", "fault", "effect", "transition", "replay", "outcome", "flip", "invocation"]


class TimelineEvent(_Model):
    t: float  # seconds since the run started
    kind: TimelineKind
    label: str  # short text for the swimlane, e.g. "FailoverDiskReplicaPair 504 RequestTimeout"
    status: int | None = None
    code: str | None = None
    request_id: str | None = None
    client_token: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class TargetTimeline(_Model):
    kind: Literal["pair", "group", "disk", "instance", "record"]
    id: str
    eligible: bool
    final_status: str
    outcome: str | None = None  # the function's last reported outcome for it
    group: str | None = None  # a member pair's group (an eligible group fails over with its members)
    effects: int = 0
    events: list[TimelineEvent] = Field(default_factory=list)
    stage: Literal["storage", "compute", "traffic"] = "storage"  # the recovery stage the lane belongs to


class InvocationRecord(_Model):
    index: int
    channel: Literal["direct", "fc-sync", "fc-async", "webhook"]
    event_name: str  # which trigger event
    started_at: float
    duration_ms: float | None = None
    status: str  # the result's status, or "error"/"timeout"
    raised: bool = False
    result: dict[str, Any] | None = None
    error: str | None = None


class RunJournal(_Model):
    scenario: str  # file stem / name
    title: str
    description: str = ""
    seed: int
    started_wall: float
    duration_s: float  # trigger phase: first delivery until the FC queue drained
    verdict: Literal["pass", "fail"]
    negative: bool = False  # a scenario that asserts what must NOT happen
    function_env: dict[str, str] = Field(default_factory=dict)
    fleet: dict[str, Any] = Field(default_factory=dict)  # counts: pairs, groups, eligible, ineligible
    figures: dict[str, float | int | None] = Field(default_factory=dict)
    expectations: list[ExpectationResult] = Field(default_factory=list)
    invocations: list[InvocationRecord] = Field(default_factory=list)
    faults: list[dict[str, Any]] = Field(default_factory=list)  # rules with matched/fired counters
    timelines: list[TargetTimeline] = Field(default_factory=list)
    ledger: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)  # requests/effects/transitions
    # what the emulator's robot and webhook received, in arrival order; "message" is hold/act/result/failure
    notifications: list[dict[str, Any]] = Field(default_factory=list)
