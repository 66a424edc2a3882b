"""Standby instances for a replicated fleet: one Stopped instance per group and per loose pair.

Each sits in the DR zone of its pair or group (``DestinationZoneId``) and carries the tag
``replica-failover:standby-for`` = the group id or pair id: the instance takes every secondary disk
of that pair or group. Built from ebs's API documents, so ecs needs nothing of ebs's internals.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chaos.emulator.ecs.models import STANDBY_TAG, EcsTag, InstanceRecord

SKIP = frozenset({"invalid", "deleted"})


class StandbySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    prefix: str = Field(default="i-sb-", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
    instance_type: str = Field(default="ecs.g7.large", alias="instanceType", max_length=64)
    region: str | None = Field(default=None, description="only pairs and groups whose DR region is this one")


def standby_instances(snapshot: Mapping[str, list[dict[str, Any]]], spec: StandbySpec) -> list[InstanceRecord]:
    """From ``{"pairs": [...], "groups": [...]}`` documents (ebs's snapshot), in id order."""
    out: list[InstanceRecord] = []
    targets = [
        (g["ReplicaGroupId"], g["DestinationRegionId"], g["DestinationZoneId"], g["Status"])
        for g in snapshot.get("groups", [])
    ] + [
        (p["ReplicaPairId"], p["DestinationRegion"], p["DestinationZoneId"], p["Status"])
        for p in snapshot.get("pairs", [])
        if not p.get("ReplicaGroupId")
    ]
    for rid, region, zone, status in sorted(targets):
        if status in SKIP or (spec.region is not None and region != spec.region):
            continue
        out.append(
            InstanceRecord(
                InstanceId=f"{spec.prefix}{rid}"[:128],
                InstanceName=f"standby-{rid}",
                RegionId=region,
                ZoneId=zone,
                InstanceType=spec.instance_type,
                Tags=[EcsTag(TagKey=STANDBY_TAG, TagValue=rid)],
            )
        )
    return out
