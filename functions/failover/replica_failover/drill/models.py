"""What a drill is asked to do and what it reports (machine-readable JSON, camelCase keys)."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from replica_failover.config import MAX_IDS_PER_LIST, MAX_TAGS
from replica_failover.route import GroupIds, PairIds, RegionId, Tags

RPO_OBJECTIVE_SECONDS = 900  # the only RPO the API offers


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class DrillRequest(_Model):
    """A drill of one route (primary -> DR), optionally limited to pairs, groups or tags."""

    primary_region: RegionId
    dr_region: RegionId
    pair_ids: PairIds = Field(default=None, max_length=MAX_IDS_PER_LIST)
    group_ids: GroupIds = Field(default=None, max_length=MAX_IDS_PER_LIST)
    tags: Tags = Field(default_factory=dict, max_length=MAX_TAGS)
    max_targets: int = Field(default=50, ge=1, le=10_000, description="blast-radius cap: most drills at once")
    objective_seconds: int = Field(default=RPO_OBJECTIVE_SECONDS, ge=1, le=86_400)
    execute_timeout_seconds: float = Field(default=1800.0, gt=0, le=86_400, allow_inf_nan=False)
    clear_timeout_seconds: float = Field(default=900.0, gt=0, le=86_400, allow_inf_nan=False)
    poll_seconds: float = Field(default=5.0, gt=0, le=600, allow_inf_nan=False)
    start_interval_seconds: float = Field(
        default=0.2, ge=0, le=60, allow_inf_nan=False, description="pause between Start calls (the API's rate)"
    )
    attach_instance_id: str | None = Field(
        default=None, pattern=r"^i-[A-Za-z0-9]{1,64}$", description="test instance in the DR zone"
    )
    probe_command: list[str] | None = Field(default=None, min_length=1, max_length=64)
    probe_timeout_seconds: float = Field(default=300.0, gt=0, le=3600, allow_inf_nan=False)

    @model_validator(mode="after")
    def _route(self) -> DrillRequest:
        if self.primary_region == self.dr_region:
            raise ValueError("the DR region must differ from the primary region")
        if self.probe_command is not None and self.attach_instance_id is None:
            raise ValueError("a probe command needs a test instance to attach the drill disks to")
        return self


class ProbeResult(_Model):
    disk_id: str
    passed: bool
    detail: str


class TargetResult(_Model):
    kind: Literal["pair", "group"]
    id: str
    drill_id: str | None = None
    status: str | None = None  # the drill's last status seen
    start_at: int | None = None
    recover_point: int | None = None
    rpo_seconds: int | None = None  # drill start - recovery point
    drill_seconds: float | None = None  # Start request -> executed
    meets_objective: bool | None = None
    error: str | None = None  # the API code that refused or failed it
    probes: list[ProbeResult] | None = None  # with a test instance: one per drill disk
    cleared: bool = False


class LeftoverDrill(_Model):
    kind: Literal["pair", "group"]
    id: str
    drill_id: str
    status: str
    cleared: bool = False


class RpoSummary(_Model):
    objective_seconds: int
    measured: int
    within_objective: int
    missing_objective: list[str]  # target ids whose RPO exceeds the objective
    min: int | None = None
    p50: int | None = None
    p90: int | None = None
    max: int | None = None


class DrillReport(_Model):
    run_id: str
    action: Literal["drill", "drill-cleanup"] = "drill"
    primary_region: str
    dr_region: str
    started_at: float
    finished_at: float | None = None
    targets: list[TargetResult] = Field(default_factory=list)
    leftovers: list[LeftoverDrill] = Field(default_factory=list)
    rpo: RpoSummary | None = None
    not_cleared: list[str] = Field(default_factory=list)  # drill ids still present at the end
    clear_refused: dict[str, str] = Field(default_factory=dict)  # drill id -> the code that refused its clear
    not_detached: list[str] = Field(default_factory=list)  # drill disks left on the test instance
    interrupted: str | None = None  # KeyboardInterrupt / Terminated
    error: str | None = None

    @property
    def ok(self) -> bool:
        failed = any(t.error or t.status != "executed" for t in self.targets)
        probe_failed = any(not p.passed for t in self.targets for p in t.probes or [])
        return not (failed or probe_failed or self.not_cleared or self.not_detached or self.interrupted or self.error)

    def to_json(self) -> dict[str, Any]:
        return {**self.model_dump(by_alias=True, mode="json"), "ok": self.ok}


def percentile(sorted_values: list[int], q: float) -> int:
    """Nearest-rank percentile of an ascending list (non-empty)."""
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def summarise(targets: list[TargetResult], objective: int) -> RpoSummary:
    measured = sorted((t.rpo_seconds, t.id) for t in targets if t.rpo_seconds is not None)
    values = [v for v, _ in measured]
    missing = [tid for v, tid in measured if v > objective]
    if not values:
        return RpoSummary(objective_seconds=objective, measured=0, within_objective=0, missing_objective=[])
    return RpoSummary(
        objective_seconds=objective,
        measured=len(values),
        within_objective=len(values) - len(missing),
        missing_objective=missing,
        min=values[0],
        p50=percentile(values, 0.5),
        p90=percentile(values, 0.9),
        max=values[-1],
    )
