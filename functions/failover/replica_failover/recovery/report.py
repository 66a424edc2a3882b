"""The compute and traffic stages' part of the result: per step outcome and timings, the RTO.

``RecoveryResult`` goes under ``recovery`` in the invocation's result. Times are epoch seconds
(``startedAt`` of a step: its first write; ``doneAt``: the read that found it done). The RTO runs
from the alarm (the incident's ``observed_at``, else the invocation's start) to the read that found
the last DNS record at its DR value (no records: the last instance running).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

StepOutcome = Literal["done", "conflict", "failed", "pending", "planned"]
RecoveryStatus = Literal["planned", "completed", "pending", "partial", "failed"]
StageName = Literal["compute", "traffic"]


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class StepResult(_Model):
    step: str  # attach:<disk>, start:<instance>, switch:<record key>
    stage: StageName
    subject: str  # the disk, instance or record key
    target: str | None = None  # the pair or group behind an attach
    instance: str | None = None  # the standby an attach goes to
    outcome: StepOutcome
    reason: str
    writes: int = 0  # write calls this invocation sent for the step
    errors: list[str] = Field(default_factory=list)
    request_ids: list[str] = Field(default_factory=list)
    ram_action: str | None = None  # set when the role lacks it
    started_at: float | None = None
    done_at: float | None = None
    duration_ms: float | None = None


class StageTiming(_Model):
    started_at: float | None = None  # the first write of the stage
    ended_at: float | None = None  # the last step found done
    steps: int = 0
    done: int = 0


class RecoveryResult(_Model):
    status: RecoveryStatus
    reason: str
    findings: list[dict[str, Any]] = Field(default_factory=list)  # plan-time review (validate.Finding)
    changes: list[dict[str, Any]] = Field(default_factory=list)  # before -> after of every step
    steps: list[StepResult] = Field(default_factory=list)
    stages: dict[str, StageTiming] = Field(default_factory=dict)
    summary: dict[str, int] = Field(default_factory=dict)
    observed_at: float | None = None  # the RTO's start
    rto_from: Literal["alarm", "invocation"] = "invocation"
    last_verified_at: float | None = None
    rto_seconds: float | None = None
    permission: list[str] = Field(default_factory=list)  # RAM actions the role lacks
    error_codes: list[str] = Field(default_factory=list)
    api_calls: int = 0
    write_calls: int = 0
    rounds: int = 0

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


def stage_of(step: str) -> StageName:
    return "traffic" if step.startswith("switch:") else "compute"


def summarize_steps(steps: list[StepResult]) -> dict[str, int]:
    out = dict.fromkeys(("done", "conflict", "failed", "pending", "planned"), 0)
    for s in steps:
        out[s.outcome] += 1
    return out


def stage_timings(steps: list[StepResult]) -> dict[str, StageTiming]:
    out: dict[str, StageTiming] = {}
    for name in ("compute", "traffic"):
        mine = [s for s in steps if s.stage == name]
        starts = [s.started_at for s in mine if s.started_at is not None]
        ends = [s.done_at for s in mine if s.done_at is not None]
        out[name] = StageTiming(
            started_at=min(starts) if starts else None,
            ended_at=max(ends) if ends and all(s.outcome == "done" for s in mine) else None,
            steps=len(mine),
            done=sum(1 for s in mine if s.outcome == "done"),
        )
    return out


def rto(steps: list[StepResult], observed_at: float) -> tuple[float | None, float | None]:
    """(last verified at, RTO seconds): None while any traffic (else compute) step is not done."""
    switches = [s for s in steps if s.stage == "traffic"]
    last = switches or [s for s in steps if s.step.startswith("start:")]
    if not last or any(s.outcome != "done" or s.done_at is None for s in last):
        return None, None
    at = max(s.done_at for s in last if s.done_at is not None)
    return round(at, 3), round(max(0.0, at - observed_at), 3)
