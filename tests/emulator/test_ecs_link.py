"""ebs -> ecs: a pair's secondary disk exists before failover but cannot be attached; after the pair
(or its group) reads failovered it is Available in the DR zone and the standby instance takes it."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from aliyunsdkcore.client import AcsClient
from aliyunsdkecs.request.v20140526.AttachDiskRequest import AttachDiskRequest
from aliyunsdkecs.request.v20140526.DescribeDisksRequest import DescribeDisksRequest
from pydantic import ValidationError

from chaos.emulator.app import Emulator
from chaos.emulator.ebs.models import FleetSpec, GroupRecord, PairRecord
from chaos.emulator.ecs.models import EcsTag, InstanceRecord
from chaos.emulator.seedfile import SeedFile
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
    emulator.ebs.flip("pair", "pair-f", "failovered")
    free = emulator.ecs.disk("d-f")
    assert free is not None and free["OperationLocks"]["OperationLock"] == []
    # the ledger's transitions stay the pair's own: the disk mirrors them
    assert {t["targetType"] for t in emulator.ledger.snapshot()["transitions"]} == {"pair"}


def test_a_seeded_failovered_pair_gives_an_available_disk(emulator: Emulator) -> None:
    emulator.ebs.seed_pairs([pair("pair-s", "d-s").model_copy(update={"Status": "failovered"})])
    assert status(emulator, "d-s") == "Available"


# --------------------------------------------------------- control plane and seed file
def control(endpoint: str) -> str:
    return f"http://{endpoint}/_emulator"


def test_control_plane_seeds_and_reads_ecs_and_dns(emulator: Emulator, endpoint: str) -> None:
    base = control(endpoint)
    got = requests.post(
        f"{base}/instances",
        json={"instances": [{"InstanceId": "i-1", "RegionId": DR, "ZoneId": ZONE}]},
        timeout=10,
    )
    assert got.status_code == 200 and got.json() == {"seeded": ["i-1"]}
    disks = {"disks": [{"DiskId": "d-1", "RegionId": DR, "ZoneId": ZONE, "InstanceId": "i-1"}]}
    assert requests.post(f"{base}/disks", json=disks, timeout=10).json() == {"seeded": ["d-1"]}
    assert requests.get(f"{base}/disks/d-1", timeout=10).json()["Status"] == "In_use"
    orphan = {"disks": [{"DiskId": "d-2", "RegionId": DR, "ZoneId": ZONE, "InstanceId": "i-none"}]}
    assert requests.post(f"{base}/disks", json=orphan, timeout=10).status_code == 400
    bad = {"instances": [{"InstanceId": "i-2", "RegionId": DR, "ZoneId": ZONE, "Status": "Flying"}]}
    refused = requests.post(f"{base}/instances", json=bad, timeout=10)
    assert refused.status_code == 400 and refused.json()["details"][0]["loc"].endswith("Status")
    held = requests.patch(f"{base}/instances/i-1", json={"stuck": True}, timeout=10)
    assert held.status_code == 200 and held.json()["InstanceId"] == "i-1"
    assert requests.patch(f"{base}/instances/i-x", json={"stuck": True}, timeout=10).status_code == 404
    assert requests.get(f"{base}/disks/d-x", timeout=10).status_code == 404
    rec = {"RecordId": "7", "DomainName": "example.com", "RR": "app", "Value": "10.0.0.5"}
    assert requests.post(f"{base}/dns/records", json={"records": [rec]}, timeout=10).json() == {"seeded": ["7"]}
    assert requests.get(f"{base}/dns/records/7", timeout=10).json()["Value"] == "10.0.0.5"
    assert [r["RecordId"] for r in requests.get(f"{base}/dns/records", timeout=10).json()["records"]] == ["7"]
    assert emulator.ledger.snapshot()["effects"] == []  # seeding is not an API effect


def test_standby_generation_covers_groups_and_loose_pairs(emulator: Emulator, endpoint: str) -> None:
    emulator.ebs.generate(FleetSpec.model_validate({"pairs": 12, "seed": 3, "groupSize": 3, "groupedFraction": 0.5}))
    snap = emulator.ebs.snapshot()
    got = requests.post(f"{control(endpoint)}/standby", json={"region": DR}, timeout=10).json()["seeded"]
    live = [g for g in snap["groups"] if g["Status"] not in ("invalid", "deleted")]
    loose = [p for p in snap["pairs"] if not p["ReplicaGroupId"] and p["Status"] not in ("invalid", "deleted")]
    assert len(got) == len(live) + len(loose) and got
    zones = {g["ReplicaGroupId"]: g["DestinationZoneId"] for g in live}
    zones |= {p["ReplicaPairId"]: p["DestinationZoneId"] for p in loose}
    for iid in got:
        inst = emulator.ecs.instance(iid)
        assert inst is not None and inst["Status"] == "Stopped"
        (tag,) = inst["Tags"]["Tag"]
        assert tag["TagKey"] == "replica-failover:standby-for"
        assert inst["ZoneId"] == zones[tag["TagValue"]]
    assert requests.post(f"{control(endpoint)}/standby", json={"prefix": "bad prefix"}, timeout=10).status_code == 400


def test_seed_file_round_trip(emulator: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "seed.yaml"
    path.write_text(
        "pairs: [{ReplicaPairId: pair-a, SourceRegion: cn-hangzhou, DestinationRegion: cn-shanghai,\n"
        "         DestinationZoneId: cn-shanghai-b, DestinationDiskId: d-sec-a, Status: failovered}]\n"
        "standby: {prefix: i-sb-}\n"
        "instances: [{InstanceId: i-extra, RegionId: cn-shanghai, ZoneId: cn-shanghai-b, Status: Running}]\n"
        "disks: [{DiskId: d-data, RegionId: cn-shanghai, ZoneId: cn-shanghai-b, Size: 100}]\n"
        'dnsRecords: [{RecordId: "1001", DomainName: example.com, RR: app, Type: A, Value: 10.0.0.5}]\n',
        encoding="utf-8",
    )
    SeedFile.load(path).apply(emulator)
    assert [i["InstanceId"] for i in emulator.ecs.instances()] == ["i-extra", "i-sb-pair-a"]
    sb = emulator.ecs.instance("i-sb-pair-a")
    assert sb is not None and sb["Tags"]["Tag"] == [{"TagKey": "replica-failover:standby-for", "TagValue": "pair-a"}]
    assert {d["DiskId"]: d["Status"] for d in emulator.ecs.disks()} == {"d-data": "Available", "d-sec-a": "Available"}
    assert emulator.dns.record("1001")["Value"] == "10.0.0.5"  # type: ignore[index]
    bad = tmp_path / "bad.yaml"
    bad.write_text("dnsRecords: [{RecordId: x, DomainName: example.com, RR: app, Value: 1.1.1.1}]\n", encoding="utf-8")
    with pytest.raises(ValidationError):
        SeedFile.load(bad)
