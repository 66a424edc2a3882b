"""Request bodies of the ``/_emulator/`` control plane, each a strict pydantic model."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from chaos.emulator.ebs.models import PAIR_STATUSES
from chaos.emulator.faults import FaultRule


class ControlError(Exception):
    """An answer ``{"error": <what>, "details": [...]}`` with an HTTP status."""

    def __init__(self, status: int, error: str, details: list[Any] | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.details = status, error, details or []


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ResetBody(_Body):
    config: bool = False


class FlipBody(_Body):
    Status: str
    complete_to: str | None = Field(default=None, alias="completeTo")

    @model_validator(mode="after")
    def _known(self) -> FlipBody:
        for s in (self.Status, self.complete_to):
            if s is not None and s not in PAIR_STATUSES:
                raise ValueError(f"unknown status {s!r}")
        return self


class ClockBody(_Body):
    advance: float | None = Field(default=None, ge=0, le=10 * 365 * 86400)
    freeze: bool | None = None


class FaultsBody(_Body):
    rules: list[FaultRule] = Field(max_length=1000)


class HoldBody(_Body):
    stuck: bool  # true: the ECS instance stays in Starting until released


class WaitBody(_Body):
    timeout: float = Field(default=30.0, gt=0, le=600)


def parse(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ControlError(400, f"invalid {model.__name__} document", errors(exc)) from None


def errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [{"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"]} for e in exc.errors()]
