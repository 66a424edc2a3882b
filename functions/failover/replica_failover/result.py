"""The machine-readable result of one invocation: returned, logged, and read by game days."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

if TYPE_CHECKING:
    from replica_failover.plan import PlanItem

Outcome = Literal["failedOver", "alreadyFailedOver", "skipped", "failed", "pending"]
Status = Literal["completed", "partial", "pending", "planned", "noop", "refused", "rejected", "failed", "held"]
OUTCOMES: tuple[Outcome, ...] = ("failedOver", "alreadyFailedOver", "skipped", "failed", "pending")
# The permanent failures: returned (FC does not retry a returned result) and marked by ``failure``.
FailureKind = Literal["rejected", "refused", "failed", "partial"]
FAILURE_KINDS: tuple[FailureKind, ...] = ("rejected", "refused", "failed", "partial")
# What a human has to fix: the event, the blast-radius cap, the RAM role, the region setup, the API,
# or an approval that must not be honoured (forged, expired, for another incident or plan).
FailureCause = Literal["event", "blast-radius", "permission", "configuration", "api", "approval"]


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class TargetResult(_Model):
    kind: Literal["pair", "group"]
    id: str
    name: str = ""
    outcome: Outcome
    reason: str
    status_before: str
    status_after: str | None = None
    client_token: str | None = None  # the last token sent (the round that settled it)
    token_round: int | None = None  # that token's round in the target's chain (token.py)
    # one entry per round left behind: the status read after its 200 (a replay, or failover_failed)
    passed_rounds: list[str] = Field(default_factory=list)
    attempts: int = 0
    request_ids: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    started_at: float | None = None
    duration_ms: float | None = None
    verified: bool | None = None
    members: list[str] = Field(default_factory=list)


def target_result(
    item: PlanItem,
    outcome: Outcome,
    reason: str,
    *,
    status_after: str | None = None,
    client_token: str | None = None,
    token_round: int | None = None,
    passed_rounds: list[str] | None = None,
    attempts: int = 0,
    request_ids: list[str] | None = None,
    errors: list[str] | None = None,
    started_at: float | None = None,
    duration_ms: float | None = None,
) -> TargetResult:
    """A plan item's result: what the plan knew about the target, plus what became of it."""
    return TargetResult(
        kind=item.kind,
        id=item.id,
        name=item.name,
        outcome=outcome,
        reason=reason,
        status_before=item.status,
        status_after=status_after,
        client_token=client_token,
        token_round=token_round,
        passed_rounds=passed_rounds or [],
        attempts=attempts,
        request_ids=request_ids or [],
        errors=errors or [],
        started_at=started_at,
        duration_ms=duration_ms,
        members=list(item.members),
    )


class Failure(_Model):
    """Why a returned result needs a human. Present exactly when the outcome is permanent and bad."""

    kind: FailureKind
    cause: FailureCause
    reason: str
    error_codes: list[str] = Field(default_factory=list)  # distinct API codes behind it, sorted
    target_ids: list[str] = Field(default_factory=list)  # the targets that failed for good


def failure_for(
    status: str,
    reason: str,
    *,
    codes: list[str] | None = None,
    targets: list[TargetResult] | None = None,
    cause: FailureCause | None = None,
) -> Failure | None:
    """The ``failure`` field of a result with this status (None when nothing permanent went wrong)."""
    kind = next((k for k in FAILURE_KINDS if k == status), None)
    if kind is None:
        return None
    failed = [t for t in targets or [] if t.outcome == "failed"]
    found = sorted({*(codes or []), *(c for t in failed for c in t.errors)})
    if cause is not None:
        pass
    elif status == "rejected":
        cause = "event"
    elif status == "refused":
        cause = "blast-radius"
    elif any(c.startswith(("Forbidden", "NoPermission")) for c in found):
        cause = "permission"
    elif any(c.startswith("OperationDenied.OperateNotAllowedFor") or c == "ConfigError" for c in found):
        cause = "configuration"
    else:
        cause = "api"
    return Failure(kind=kind, cause=cause, reason=reason, error_codes=found, target_ids=[t.id for t in failed])


class Result(_Model):
    ok: bool
    status: Status
    reason: str
    mode: str
    request_id: str | None = None
    incident: dict[str, Any]
    targets: list[TargetResult] = Field(default_factory=list)
    summary: dict[str, int] = Field(default_factory=dict)
    refused: str | None = None
    failure: Failure | None = None  # set for rejected/refused/failed/partial: a human must act
    api_calls: int = 0
    write_calls: int = 0
    retries: int = 0
    retry_budget_left: int | None = None
    started_at: float
    duration_ms: float
    deadline_seconds: float | None = None
    # the confirmation stage (confirm/stage.py): the decision with its evidence, the approval check,
    # and every notification sent; absent for invocations that never reached it
    confirmation: dict[str, Any] | None = None
    approval: dict[str, Any] | None = None
    notifications: list[dict[str, Any]] = Field(default_factory=list)
    # the compute and traffic stages (recovery/report.py RecoveryResult); None: no recovery map
    recovery: dict[str, Any] | None = None
    fanout: dict[str, Any] | None = None  # a fan-out worker's batch and rate share (fanout/)

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


def dump_targets(targets: list[TargetResult]) -> list[dict[str, Any]]:
    """``Result.dump()``'s ``targets``, emptying ``targets`` as it goes: each model is dropped once its
    dict is made, so the dicts reuse the models' memory. At 10,000 targets the models and a full dump
    side by side were the largest thing an invocation held."""
    targets.reverse()
    dumped: list[dict[str, Any]] = []
    while targets:
        dumped.append(targets.pop().model_dump(mode="json", by_alias=True))
    return dumped


def summarize(targets: list[TargetResult]) -> dict[str, int]:
    counts: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
    for t in targets:
        counts[t.outcome] += 1
    counts["unverified"] = sum(1 for t in targets if t.verified is False)
    return counts
