"""Replica pair and group records, written with the API's own field names.

``PairRecord``/``GroupRecord`` are what ``DescribeDiskReplicaPairs``/``Groups`` return, field for
field (pairs say ``SourceRegion``, groups ``SourceRegionId``: the real API is inconsistent and so
are we). The seed models accept any subset and fill realistic defaults.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

PAIR_STATUSES = (
    "invalid",
    "creating",
    "created",
    "create_failed",
    "initial_syncing",
    "syncing",
    "manual_syncing",
    "normal",
    "stopping",
    "stopped",
    "stop_failed",
    "failovering",
    "failovered",
    "failover_failed",
    "reprotecting",
    "reprotect_failed",
    "deleting",
    "delete_failed",
    "deleted",
)
GROUP_STATUSES = PAIR_STATUSES  # the docs drop initial_syncing for groups, yet Start puts a group there

REGION_RE = re.compile(r"^[a-z]{2}(-[a-z0-9]+){1,3}$")
PAIR_ID_RE = re.compile(r"^pair-[A-Za-z0-9-]{1,60}$")
GROUP_ID_RE = re.compile(r"^pg-[A-Za-z0-9-]{1,60}$")


def _digest(*parts: str, n: int = 20) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:n]


def _matches(pattern: re.Pattern[str], what: str) -> Callable[[str], str]:
    def check(v: str) -> str:
        if v and not pattern.match(v):
            raise ValueError(f"{v!r} is not {what}")
        return v

    return check


def _known_status(v: str) -> str:
    if v not in PAIR_STATUSES:
        raise ValueError(f"unknown status {v!r}; one of {', '.join(PAIR_STATUSES)}")
    return v


RegionId = Annotated[str, AfterValidator(_matches(REGION_RE, "a region id"))]
PairId = Annotated[str, AfterValidator(_matches(PAIR_ID_RE, "a pair id (pair-<id>, ASCII, at most 65 characters)"))]
GroupId = Annotated[str, AfterValidator(_matches(GROUP_ID_RE, "a group id (pg-<id>, ASCII, at most 63 characters)"))]
Status = Annotated[str, AfterValidator(_known_status)]


class Tag(BaseModel):
    model_config = ConfigDict(extra="forbid")
    TagKey: str = Field(min_length=1, max_length=128)
    TagValue: str = Field(default="", max_length=128)


class _Record(BaseModel):
    # validate_assignment stays off: the backend mutates records under its lock
    model_config = ConfigDict(extra="forbid")

    def api(self) -> dict[str, Any]:
        return self.model_dump()


class PairRecord(_Record):
    ReplicaPairId: PairId = Field(min_length=1)
    PairName: str = ""
    Description: str = ""
    SourceRegion: RegionId
    SourceZoneId: str = ""
    SourceDiskId: str = ""
    DestinationRegion: RegionId
    DestinationZoneId: str = ""
    DestinationDiskId: str = ""
    PrimaryRegion: str = ""
    PrimaryZone: str = ""
    StandbyRegion: str = ""
    StandbyZone: str = ""
    Status: Status = "normal"
    StatusMessage: str = ""
    Site: str = "production"
    RPO: int = 900
    Bandwidth: int = 10240
    LastRecoverPoint: int = 0
    CreateTime: int = 0
    ExpiredTime: int = 0
    ReplicaGroupId: GroupId = ""
    ReplicaGroupName: str = ""
    ChargeType: str = "POSTPAY"
    EnableRtc: bool = False
    ResourceGroupId: str = "rg-acfmemulator01"
    Tags: list[Tag] = Field(default_factory=list)

    @model_validator(mode="after")
    def _defaults(self) -> PairRecord:
        if self.SourceRegion == self.DestinationRegion:
            raise ValueError("SourceRegion and DestinationRegion must differ (cross-region replication)")
        pid = self.ReplicaPairId
        _default_sides(self, self.SourceRegion, self.DestinationRegion)
        self.SourceDiskId = self.SourceDiskId or f"d-{_digest(pid, 'src')}"
        self.DestinationDiskId = self.DestinationDiskId or f"d-{_digest(pid, 'dst')}"
        return self


class GroupRecord(_Record):
    ReplicaGroupId: GroupId = Field(min_length=1)
    GroupName: str = ""
    Description: str = ""
    SourceRegionId: RegionId
    SourceZoneId: str = ""
    DestinationRegionId: RegionId
    DestinationZoneId: str = ""
    PrimaryRegion: str = ""
    PrimaryZone: str = ""
    StandbyRegion: str = ""
    StandbyZone: str = ""
    Status: Status = "normal"
    RPO: int = 900
    LastRecoverPoint: int = 0
    Site: str = "production"
    PairIds: list[str] = Field(default_factory=list)
    PairNumber: int = 0
    Bandwidth: int = 10240
    EnableRtc: bool = False
    ResourceGroupId: str = "rg-acfmemulator01"
    Tags: list[Tag] = Field(default_factory=list)

    @model_validator(mode="after")
    def _defaults(self) -> GroupRecord:
        if self.SourceRegionId == self.DestinationRegionId:
            raise ValueError("SourceRegionId and DestinationRegionId must differ")
        _default_sides(self, self.SourceRegionId, self.DestinationRegionId)
        return self


def _default_sides(rec: PairRecord | GroupRecord, source: str, destination: str) -> None:
    """Unset zones are ``<region>-a`` (source) and ``<region>-b`` (destination); the primary is the
    source side and the standby the destination side unless the record says otherwise."""
    rec.SourceZoneId = rec.SourceZoneId or f"{source}-a"
    rec.DestinationZoneId = rec.DestinationZoneId or f"{destination}-b"
    rec.PrimaryRegion = rec.PrimaryRegion or source
    rec.PrimaryZone = rec.PrimaryZone or rec.SourceZoneId
    rec.StandbyRegion = rec.StandbyRegion or destination
    rec.StandbyZone = rec.StandbyZone or rec.DestinationZoneId


class SeedPairs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pairs: list[PairRecord] = Field(max_length=100_000)


class SeedGroups(BaseModel):
    model_config = ConfigDict(extra="forbid")
    groups: list[GroupRecord] = Field(max_length=20_000)


class FleetSpec(BaseModel):
    """Generator for N pairs spread over region routes, states and groups (deterministic per seed)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    pairs: int = Field(ge=0, le=100_000)
    routes: list[tuple[str, str]] = Field(
        default_factory=lambda: [("cn-hangzhou", "cn-shanghai"), ("cn-beijing", "cn-shanghai")],
        description="(source region, destination region) pairs, used round-robin",
    )
    statuses: dict[str, float] = Field(default_factory=lambda: {"normal": 1.0}, description="status -> weight")
    group_size: int = Field(default=0, ge=0, le=17, alias="groupSize", description="0: no groups")
    grouped_fraction: float = Field(default=0.0, ge=0, le=1, alias="groupedFraction")
    tags: dict[str, str] = Field(default_factory=dict)
    seed: int = 0
    prefix: str = Field(default="gen", pattern=r"^[a-z0-9]{1,12}$")

    @field_validator("routes")
    @classmethod
    def _routes(cls, v: list[tuple[str, str]]) -> list[tuple[str, str]]:
        for src, dst in v:
            if not (REGION_RE.match(src) and REGION_RE.match(dst)) or src == dst:
                raise ValueError(f"bad route {src}->{dst}")
        if not v:
            raise ValueError("at least one route")
        return v

    @field_validator("statuses")
    @classmethod
    def _statuses(cls, v: dict[str, float]) -> dict[str, float]:
        for status, weight in v.items():
            if status not in PAIR_STATUSES or weight < 0:
                raise ValueError(f"bad status weight {status}={weight}")
        if not any(w > 0 for w in v.values()):
            raise ValueError("at least one positive weight")
        return v
