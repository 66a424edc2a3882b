"""A seed file for ``replica-failover emulator serve --seed FILE`` (YAML or JSON).

config: {latencyMs: 20, strict: true}
pairs: [{ReplicaPairId: pair-a, SourceRegion: cn-hangzhou, DestinationRegion: cn-shanghai}]
groups: [{ReplicaGroupId: pg-a, SourceRegionId: cn-hangzhou, DestinationRegionId: cn-shanghai}]
fleet: {pairs: 100, seed: 7}
faults: [{action: FailoverDiskReplicaPair, probability: 0.3, error: {status: 504, code: RequestTimeout}}]
instances: [{InstanceId: i-sb-1, RegionId: cn-shanghai, ZoneId: cn-shanghai-b,
             Tags: [{TagKey: "replica-failover:standby-for", TagValue: pair-a}]}]
disks: [{DiskId: d-extra, RegionId: cn-shanghai, ZoneId: cn-shanghai-b}]
standby: {prefix: i-sb-}          # plus a standby instance per group and loose pair
dnsRecords: [{RecordId: "1001", DomainName: example.com, RR: app, Type: A, Value: 10.0.0.5}]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from chaos.emulator.app import Emulator
from chaos.emulator.dns.models import DomainRecord
from chaos.emulator.ebs.models import FleetSpec, GroupRecord, PairRecord
from chaos.emulator.ecs.fleet import StandbySpec
from chaos.emulator.ecs.models import DiskRecord, InstanceRecord
from chaos.emulator.faults import FaultRule


class SeedFile(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    config: dict[str, Any] = Field(default_factory=dict)
    groups: list[GroupRecord] = Field(default_factory=list)
    pairs: list[PairRecord] = Field(default_factory=list)
    fleet: FleetSpec | None = None
    faults: list[FaultRule] = Field(default_factory=list)
    instances: list[InstanceRecord] = Field(default_factory=list)
    disks: list[DiskRecord] = Field(default_factory=list)
    standby: StandbySpec | None = None
    dns_records: list[DomainRecord] = Field(default_factory=list, alias="dnsRecords")

    @classmethod
    def load(cls, path: Path) -> SeedFile:
        return cls.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})

    def apply(self, emulator: Emulator) -> None:
        """Groups are seeded empty first so pairs can name them; group membership then comes from both."""
        if self.config:
            emulator.update_config(self.config)
        ebs = emulator.ebs
        members = {g.ReplicaGroupId: list(g.PairIds) for g in self.groups}
        ebs.seed_groups([g.model_copy(update={"PairIds": []}) for g in self.groups])
        ebs.seed_pairs(self.pairs)
        ebs.seed_groups(
            [
                g.model_copy(update={"PairIds": sorted(set(members[gid]) | set(ebs.group_members(gid)))})
                for g in self.groups
                for gid in (g.ReplicaGroupId,)
            ]
        )
        if self.fleet is not None:
            ebs.generate(self.fleet)
        # ecs after ebs: the pairs' secondary disks exist by now, seeded disks may then override them
        emulator.ecs.seed_instances(self.instances)
        if self.standby is not None:
            emulator.ecs.seed_standby(ebs.snapshot(), self.standby)
        emulator.ecs.seed_disks(self.disks)
        emulator.dns.seed_records(self.dns_records)
        if self.faults:
            emulator.faults.set(self.faults, emulator.clock.now(), emulator.config().seed)
