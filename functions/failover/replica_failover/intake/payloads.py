"""The source models: what CloudMonitor and operators send, and how a decoded object is told apart.

:func:`shape` names the payload a decoded JSON object is; :func:`validate` checks it against its model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictStr, ValidationError
from pydantic.alias_generators import to_camel

from replica_failover.config import MAX_IDS_PER_LIST
from replica_failover.errors import INVALID_FIELD, EventError

Shape = Literal["eventbridge", "mns", "manual", "system-event", "threshold", "unknown"]
SHAPE_NAMES: Final[Mapping[Shape, str]] = {
    "eventbridge": "an EventBridge event",
    "mns": "an MNS notification",
    "manual": "a manual event",
    "system-event": "a CloudMonitor system event",
    "threshold": "a threshold-alert callback",
    "unknown": "not a CloudMonitor alarm",
}
_TOKEN_RE: Final = re.compile(r"^[A-Za-z_]{1,32}$")

_M = TypeVar("_M", bound=BaseModel)


def _nullable_text(value: Any) -> Any:
    """CloudMonitor sends every value as a string and missing ones as the literal ``"null"``."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("expected a string")
    if isinstance(value, int | float):
        # JSON-bodied callbacks may carry numbers (timestamp, userId)
        return str(value)
    if isinstance(value, str):
        stripped = value.strip()
        return None if stripped in ("", "null", "NULL", "None") else stripped
    raise ValueError("expected a string")


def _printable(value: str) -> str:
    # Reject control characters: these strings end up in log lines and must not forge new ones.
    if not value.isprintable():
        raise ValueError("contains control characters")
    return value


def _token(value: str | None) -> str | None:
    if value is not None and _TOKEN_RE.fullmatch(value) is None:
        raise ValueError("expected a short upper-case word like ALERT or CRITICAL")
    return None if value is None else value.upper()


Name = Annotated[
    Annotated[str, Field(max_length=256), AfterValidator(_printable)] | None, BeforeValidator(_nullable_text)
]
Text = Annotated[
    Annotated[str, Field(max_length=2048), AfterValidator(_printable)] | None, BeforeValidator(_nullable_text)
]
_Token = Annotated[str | None, BeforeValidator(_token), BeforeValidator(_nullable_text)]
_IdText = Annotated[StrictStr, Field(max_length=80)]


# defer_build: pydantic builds a model's validator on its first use, not at import. An invocation
# parses one or two of these five shapes, so the others never cost anything on the cold-start path.
class _Lenient(BaseModel):
    # Upstream adds fields over time (customLabels, ...): ignore unknown keys rather than reject.
    model_config = ConfigDict(
        extra="ignore", frozen=True, alias_generator=to_camel, populate_by_name=False, defer_build=True
    )


class ThresholdAlert(_Lenient):
    """CloudMonitor threshold (metric) alert callback; every value arrives as a string."""

    alert_state: _Token = Field(...)
    trigger_level: _Token = None
    pre_trigger_level: _Token = None
    alert_name: Name = None
    rule_id: Name = None
    user_id: Name = None
    region_id: Name = None
    trans_id: Name = None
    metric_name: Name = None
    metric_project: Name = None
    namespace: Name = None
    instance_name: Name = None
    dimensions: Any = None
    timestamp: Any = None
    expression: Any = None


class SystemEvent(_Lenient):
    """CloudMonitor system event (ECS/EBS/... events delivered to FC, MNS or EventBridge)."""

    product: Name = Field(...)
    name: Name = Field(...)
    level: _Token = None
    resource_id: Text = None
    region_id: Name = None
    user_id: Name = None
    id: Name = None
    event_time: Name = None
    status: Name = None
    content: dict[str, Any] | None = None


class ManualEvent(BaseModel):
    """Operator-issued request. Strict: a typo such as ``pairIDs`` must fail, not widen the blast radius."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=False, defer_build=True
    )

    action: Literal["plan", "failover"]
    primary_region: StrictStr | None = Field(None, max_length=64)
    pair_ids: list[_IdText] | None = Field(None, max_length=MAX_IDS_PER_LIST)
    group_ids: list[_IdText] | None = Field(None, max_length=MAX_IDS_PER_LIST)
    reason: Annotated[StrictStr, Field(min_length=1, max_length=512), AfterValidator(_printable)]
    incident_id: StrictStr | None = Field(None, max_length=64)
    account_id: StrictStr | None = Field(None, max_length=32)
    approval: dict[str, Any] | None = None
    """A signed approval as ``replica-failover approve`` prints it; checked in depth by the intake."""


def shape(payload: Mapping[str, Any]) -> Shape:
    """Which payload (or envelope) a decoded JSON object is, from the keys it carries."""
    if "specversion" in payload:
        return "eventbridge"
    if "TopicOwner" in payload or ("Message" in payload and "MessageId" in payload):
        return "mns"
    if "action" in payload:
        return "manual"
    if "alertState" in payload:
        return "threshold"
    if "product" in payload and "name" in payload:
        return "system-event"
    if "alertName" in payload or "ruleId" in payload:
        return "threshold"  # missing alertState is then reported as an invalid field
    return "unknown"


def validate(model: type[_M], payload: Mapping[str, Any]) -> _M:
    """``payload`` as ``model``; the first validation error becomes an EventError naming the field."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or model.__name__
        raise EventError(INVALID_FIELD, f"{model.__name__}: {where}: {first.get('msg', 'invalid')}") from None
