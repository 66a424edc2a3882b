"""ECS records in the API's field names, and the control-plane documents that seed them."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

ZONE_RE = re.compile(r"^[a-z]{2}(-[a-z0-9]+){1,4}$")
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
STANDBY_TAG = "replica-failover:standby-for"

INSTANCE_STATUSES = ("Pending", "Running", "Starting", "Stopping", "Stopped")
DISK_STATUSES = ("In_use", "Available", "Attaching", "Detaching", "Creating", "ReIniting", "Unavailable")


class EcsTag(BaseModel):
    model_config = ConfigDict(extra="forbid")
    TagKey: str = Field(min_length=1, max_length=128)
    TagValue: str = Field(default="", max_length=128)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)

    @field_validator("RegionId", "ZoneId", check_fields=False)
    @classmethod
    def _zone_like(cls, v: str) -> str:
        if not ZONE_RE.match(v):
            raise ValueError(f"not a region or zone id: {v!r}")
        return v


class InstanceRecord(_Record):
    InstanceId: str = Field(pattern=ID_RE.pattern)
    InstanceName: str = ""
    RegionId: str
    ZoneId: str
    Status: str = "Stopped"
    InstanceType: str = "ecs.g7.large"
    StartTime: str = ""
    StoppedMode: str = "Not-applicable"
    Tags: list[EcsTag] = Field(default_factory=list)

    @field_validator("Status")
    @classmethod
    def _status(cls, v: str) -> str:
        if v not in INSTANCE_STATUSES:
            raise ValueError(f"Status must be one of {INSTANCE_STATUSES}")
        return v


class DiskRecord(_Record):
    DiskId: str = Field(pattern=ID_RE.pattern)
    DiskName: str = ""
    RegionId: str
    ZoneId: str
    Status: str = "Available"
    Type: str = "data"
    Category: str = "cloud_essd"
    Size: int = Field(default=40, ge=1, le=65536)
    InstanceId: str = ""
    Device: str = ""
    Portable: bool = True
    DeleteWithInstance: bool = False
    AttachedTime: str = ""
    DetachedTime: str = ""
    Tags: list[EcsTag] = Field(default_factory=list)
    ReplicaPairId: str = ""  # the pair whose secondary disk this is (emulator bookkeeping, not in answers)

    @field_validator("Status")
    @classmethod
    def _status(cls, v: str) -> str:
        if v not in DISK_STATUSES:
            raise ValueError(f"Status must be one of {DISK_STATUSES}")
        return v

    @field_validator("Type")
    @classmethod
    def _type(cls, v: str) -> str:
        if v not in ("system", "data"):
            raise ValueError("Type must be system or data")
        return v


class SeedInstances(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instances: list[InstanceRecord] = Field(min_length=1, max_length=10_000)


class SeedDisks(BaseModel):
    model_config = ConfigDict(extra="forbid")
    disks: list[DiskRecord] = Field(min_length=1, max_length=10_000)
