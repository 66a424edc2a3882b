"""The recovery adapters (recovery/ecs.py with the aliyunsdkecs request classes, recovery/dns.py with
CommonRequest) against the emulator over 127.0.0.1: answers parsed, paging followed, errors mapped."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pytest
from replica_failover.credentials import Credentials
from replica_failover.ebs import ApiFailure
from replica_failover.recovery.dns import DnsApi
from replica_failover.recovery.ecs import EcsApi
from replica_failover.recovery.map import STANDBY_TAG, Record
from replica_failover.recovery.observe import start_answers
from replica_failover.recovery.steps import on_error
from replica_failover.recovery.validate import match_record

from chaos.emulator.app import Emulator
from chaos.emulator.config import Credential
from chaos.emulator.dns.models import DomainRecord
from chaos.emulator.ecs.models import DiskRecord, EcsTag, InstanceRecord
from tests.conftest import DR
from tests.emulator.ecs_fixtures import OTHER_ZONE, ZONE


def creds(emulator: Emulator) -> Credentials:
    config = emulator.config()
    key = config.credential(config.function_role_access_key_id)
    assert key is not None
    return Credentials(access_key_id=key.access_key_id, access_key_secret=key.access_key_secret,
                       security_token=key.security_token)  # fmt: skip


@pytest.fixture
def ecs(emulator: Emulator, endpoint: str) -> EcsApi:
    return EcsApi(creds(emulator), endpoint=f"http://{endpoint}")


@pytest.fixture
def dns(emulator: Emulator, endpoint: str) -> DnsApi:
    return DnsApi(creds(emulator), endpoint=f"http://{endpoint}")


def tagged(iid: str, target: str, zone: str = ZONE) -> InstanceRecord:
    return InstanceRecord(InstanceId=iid, RegionId=DR, ZoneId=zone, Tags=[EcsTag(TagKey=STANDBY_TAG, TagValue=target)])


def test_tagged_standbys_are_paged_and_described_by_id(emulator: Emulator, ecs: EcsApi) -> None:
    emulator.ecs.seed_instances([tagged(f"i-sb-{n:03d}", f"pair-{n:03d}") for n in range(150)])
    emulator.ecs.seed_instances([InstanceRecord(InstanceId="i-plain", RegionId=DR, ZoneId=ZONE)])
    found = ecs.tagged_standbys(DR)
    assert sorted(i["InstanceId"] for i in found) == [f"i-sb-{n:03d}" for n in range(150)]  # two pages of 100
    pages = [r for r in emulator.ledger.snapshot()["requests"] if r["action"] == "DescribeInstances"]
    assert len(pages) == 2
    got = ecs.describe_instances(DR, ["i-sb-007", "i-plain", "i-none"])
    assert {i["InstanceId"]: i["Status"] for i in got} == {"i-sb-007": "Stopped", "i-plain": "Stopped"}


def test_attach_and_start_with_per_instance_answers(emulator: Emulator, ecs: EcsApi) -> None:
    emulator.ecs.seed_instances([tagged("i-a", "pair-a"), tagged("i-run", "pair-r")])
    emulator.ecs.seed_instances([InstanceRecord(InstanceId="i-up", RegionId=DR, ZoneId=ZONE, Status="Running")])
    emulator.ecs.seed_disks([DiskRecord(DiskId="d-1", RegionId=DR, ZoneId=ZONE),
                             DiskRecord(DiskId="d-far", RegionId=DR, ZoneId=OTHER_ZONE)])  # fmt: skip
    assert ecs.attach_disk(DR, "i-a", "d-1")
    emulator.advance(60)
    (disk,) = ecs.describe_disks(DR, ["d-1"])
    assert (disk["Status"], disk["InstanceId"], disk["DeleteWithInstance"]) == ("In_use", "i-a", False)
    with pytest.raises(ApiFailure) as exc:
        ecs.attach_disk(DR, "i-a", "d-far")
    assert (exc.value.code, on_error("AttachDisk", exc.value.code).kind) == ("ResourcesNotInSameZone", "failed")
    with pytest.raises(ApiFailure) as exc:
        ecs.attach_disk(DR, "i-a", "d-1")  # again: the disk is ours already
    assert on_error("AttachDisk", exc.value.code, exc.value.status).kind == "recheck"
    answers = ecs.start_instances(DR, ["i-a", "i-up"])  # SuccessFirst: i-up's refusal is its own
    decisions = start_answers(answers, ["i-a", "i-up"])
    assert decisions["i-a"] is None
    assert decisions["i-up"] is not None and decisions["i-up"].kind == "recheck"
    starts = [e for e in emulator.ledger.snapshot()["effects"] if e["action"] == "StartInstances"]
    assert [e["targetId"] for e in starts] == ["i-a"]


def test_dns_find_read_update_and_duplicate(emulator: Emulator, dns: DnsApi) -> None:
    emulator.dns.seed_records([
        DomainRecord(RecordId="11", DomainName="example.com", RR="www", Type="A", Value="10.0.0.1"),
        DomainRecord(RecordId="12", DomainName="example.com", RR="www2", Type="A", Value="10.0.0.2"),
    ])  # fmt: skip
    rec = Record(domain="example.com", rr="www", value="203.0.113.1")
    # RRKeyWord matches fuzzily (www2 too): match_record picks the exact one
    assert sorted(r["RecordId"] for r in dns.find(DR, rec)) == ["11", "12"]
    assert [r["RecordId"] for r in match_record(rec, dns.find(DR, rec))] == ["11"]
    assert [r["RecordId"] for r in dns.find(DR, rec.model_copy(update={"record_id": "12"}))] == ["12"]
    assert dns.read_value(DR, rec, "11") == "10.0.0.1"
    assert dns.read_value(DR, rec, "999") is None
    assert dns.update(DR, rec, "11", "unused-by-alidns")
    assert dns.read_value(DR, rec, "11") == "203.0.113.1"
    with pytest.raises(ApiFailure) as exc:
        dns.update(DR, rec, "11", "unused-by-alidns")
    assert (
        exc.value.code == "DomainRecordDuplicate" and on_error("UpdateDomainRecord", exc.value.code).kind == "success"
    )
    effects = [e for e in emulator.ledger.snapshot()["effects"] if e["action"] == "UpdateDomainRecord"]
    assert len(effects) == 1


def test_a_refused_action_names_the_ram_action(emulator: Emulator, ecs: EcsApi, dns: DnsApi) -> None:
    config = emulator.config()
    role = config.function_role_access_key_id
    narrowed = [
        c.model_copy(update={"allowed_actions": ["ecs:DescribeInstances"]}) if c.access_key_id == role else c
        for c in config.credentials
    ]
    emulator.update_config({"credentials": [Credential.model_dump(c, by_alias=True) for c in narrowed]})
    assert ecs.describe_instances(DR, ["i-x"]) == []
    calls: list[tuple[Callable[[], object], str]] = [
        (partial(ecs.attach_disk, DR, "i-x", "d-x"), "AttachDisk"),
        (partial(dns.read_value, DR, Record(domain="e.com", rr="a", value="1.1.1.1"), "1"), "DescribeDomainRecordInfo"),
    ]
    for call, action in calls:
        with pytest.raises(ApiFailure) as exc:
            call()
        decision = on_error(action, exc.value.code, exc.value.status)
        assert exc.value.code == "Forbidden.RAM" and decision.kind == "failed"
        assert decision.ram_action == ("ecs:AttachDisk" if action == "AttachDisk" else "alidns:" + action)
        assert config.credential(role).access_key_secret not in str(exc.value)  # type: ignore[union-attr]
