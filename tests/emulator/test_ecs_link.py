"""ebs -> ecs: a pair's secondary disk exists before failover but cannot be attached; after the pair
(or its group) reads failovered it is Available in the DR zone and the standby instance takes it."""

from __future__ import annotations

from aliyunsdkcore.client import AcsClient
from aliyunsdkecs.request.v20140526.AttachDiskRequest import AttachDiskRequest
from aliyunsdkecs.request.v20140526.DescribeDisksRequest import DescribeDisksRequest

from chaos.emulator.app import Emulator
from chaos.emulator.ebs.models import GroupRecord, PairRecord
from chaos.emulator.ecs.models import EcsTag, InstanceRecord
from tests.conftest import DR, PRIMARY, EbsCall
from tests.emulator.ecs_fixtures import ZONE, error_of, send


def pair(pid: str, disk: str, group: str = "") -> PairRecord:
    return PairRecord(
        ReplicaPairId=pid,
        SourceRegion=PRIMARY,
        DestinationRegion=DR,
        DestinationZoneId=ZONE,
        SourceDiskId=f"src-{disk}",
        DestinationDiskId=disk,
        ReplicaGroupId=group,
        Status="normal",
    )


def standby(iid: str, target: str) -> InstanceRecord:
    tag = EcsTag(TagKey="replica-failover:standby-for", TagValue=target)
    return InstanceRecord(InstanceId=iid, RegionId=DR, ZoneId=ZONE, Tags=[tag])


def attach(iid: str, did: str) -> AttachDiskRequest:
    req = AttachDiskRequest()
    req.set_InstanceId(iid)
    req.set_DiskId(did)
    return req


def status(emulator: Emulator, did: str) -> str:
    doc = emulator.ecs.disk(did)
    assert doc is not None
    return str(doc["Status"])


def test_failover_makes_the_secondary_disk_attachable(
    emulator: Emulator, endpoint: str, legacy_client: AcsClient, ebs: EbsCall
) -> None:
    emulator.ebs.seed_pairs([pair("pair-a", "d-sec-a")])
    emulator.ecs.seed_instances([standby("i-sb", "pair-a")])
    doc = emulator.ecs.disk("d-sec-a")
    assert doc is not None and (doc["Status"], doc["RegionId"], doc["ZoneId"]) == ("Unavailable", DR, ZONE)
    assert doc["OperationLocks"]["OperationLock"] == [{"LockReason": "replication"}]
    assert error_of(legacy_client, endpoint, attach("i-sb", "d-sec-a")) == (403, "IncorrectDiskStatus")

    ebs("FailoverDiskReplicaPair", ReplicaPairId="pair-a")
    assert status(emulator, "d-sec-a") == "Unavailable"  # failovering: not yet writable
    emulator.advance(3600)
    req = DescribeDisksRequest()
    req.set_Status("Available")
    disks = send(legacy_client, endpoint, req)["Disks"]["Disk"]
    assert [(d["DiskId"], d["ZoneId"], d["OperationLocks"]["OperationLock"]) for d in disks] == [("d-sec-a", ZONE, [])]
    send(legacy_client, endpoint, attach("i-sb", "d-sec-a"))
    emulator.advance(60)
    assert status(emulator, "d-sec-a") == "In_use"
    effects = [(e.get("service", "ebs"), e["action"]) for e in emulator.ledger.snapshot()["effects"]]
    assert effects == [("ebs", "FailoverDiskReplicaPair"), ("ecs", "AttachDisk")]


def test_group_failover_frees_every_member_disk(emulator: Emulator, ebs: EbsCall) -> None:
    emulator.ebs.seed_groups(
        [GroupRecord(ReplicaGroupId="pg-x", SourceRegionId=PRIMARY, DestinationRegionId=DR, Status="normal")]
    )
    emulator.ebs.seed_pairs([pair("pair-x0", "d-x0", "pg-x"), pair("pair-x1", "d-x1", "pg-x"), pair("pair-y", "d-y")])
    ebs("FailoverDiskReplicaGroup", ReplicaGroupId="pg-x")
    emulator.advance(3600)
    assert [status(emulator, d) for d in ("d-x0", "d-x1", "d-y")] == ["Available", "Available", "Unavailable"]


def test_control_plane_flip_and_reprotect_lock_it_again(emulator: Emulator) -> None:
    emulator.ebs.seed_pairs([pair("pair-f", "d-f")])
    emulator.ebs.flip("pair", "pair-f", "failovered")
    assert status(emulator, "d-f") == "Available"
    emulator.ebs.flip("pair", "pair-f", "reprotecting")
    assert status(emulator, "d-f") == "Unavailable"
    transitions = [
        (t["targetId"], t["to"]) for t in emulator.ledger.snapshot()["transitions"] if t["targetId"] == "d-f"
    ]
    assert transitions == [("d-f", "Available"), ("d-f", "Unavailable")]


def test_a_seeded_failovered_pair_gives_an_available_disk(emulator: Emulator) -> None:
    emulator.ebs.seed_pairs([pair("pair-s", "d-s").model_copy(update={"Status": "failovered"})])
    assert status(emulator, "d-s") == "Available"
