"""What the control plane stores for CloudMonitor: system events and metric datapoints.

Field names are the API's (``Product``, ``Level``, ``ResourceId``…). A record's time is given
relative to the emulator clock (``offsetSeconds``: -300 = five minutes ago, 60 = appears in a
minute) or absolutely (``Time``, epoch milliseconds); neither means "now".
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

LEVELS = ("CRITICAL", "WARN", "INFO")
MAX_OFFSET = 366 * 86400.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _Timed(_Strict):
    Time: int | None = Field(default=None, ge=0, le=10**14, description="epoch milliseconds")
    offset_seconds: float | None = Field(default=None, alias="offsetSeconds", ge=-MAX_OFFSET, le=MAX_OFFSET)

    @model_validator(mode="after")
    def _one_time(self) -> _Timed:
        if self.Time is not None and self.offset_seconds is not None:
            raise ValueError("give Time or offsetSeconds, not both")
        return self

    def stamp(self, now: float) -> int:
        """Epoch milliseconds of this record, ``now`` being the emulator clock."""
        if self.Time is not None:
            return self.Time
        return int((now + (self.offset_seconds or 0.0)) * 1000)  # floored, like CmsBackend.now_ms


class SystemEventSeed(_Timed):
    Product: str = Field(min_length=1, max_length=64)
    Name: str = Field(min_length=1, max_length=256)
    Level: Literal["CRITICAL", "WARN", "INFO"] = "CRITICAL"
    EventType: str = Field(default="Exception", min_length=1, max_length=64)
    Status: str = Field(default="Executing", min_length=1, max_length=64)
    RegionId: str = Field(default="", max_length=64)
    ResourceId: str = Field(default="", max_length=512)
    InstanceName: str = Field(default="", max_length=256)
    GroupId: str = Field(default="", max_length=64)
    Id: str | None = Field(default=None, min_length=1, max_length=128)
    # the API answers Content as a JSON string; given as an object or list it is serialised
    Content: Any = None


class DatapointSeed(_Timed):
    Namespace: str = Field(min_length=1, max_length=128)
    MetricName: str = Field(min_length=1, max_length=256)
    dimensions: dict[str, str] = Field(default_factory=dict, max_length=16)
    values: dict[str, float] = Field(min_length=1, max_length=16, description="Average, Maximum, Minimum…")


class SeedSystemEvents(_Strict):
    events: list[SystemEventSeed] = Field(max_length=100_000)


class SeedDatapoints(_Strict):
    datapoints: list[DatapointSeed] = Field(max_length=100_000)
