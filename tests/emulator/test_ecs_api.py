"""The ECS emulator through the official aliyunsdkecs request classes and the real AcsClient."""

from __future__ import annotations

import json

import pytest
from aliyunsdkcore.acs_exception.exceptions import ClientException
from aliyunsdkcore.client import AcsClient
from aliyunsdkecs.request.v20140526.AttachDiskRequest import AttachDiskRequest
from aliyunsdkecs.request.v20140526.DescribeDisksRequest import DescribeDisksRequest
from aliyunsdkecs.request.v20140526.DescribeInstancesRequest import DescribeInstancesRequest
from aliyunsdkecs.request.v20140526.DescribeInstanceStatusRequest import DescribeInstanceStatusRequest
from aliyunsdkecs.request.v20140526.DetachDiskRequest import DetachDiskRequest
from aliyunsdkecs.request.v20140526.StartInstancesRequest import StartInstancesRequest
from aliyunsdkecs.request.v20140526.StopInstancesRequest import StopInstancesRequest

from chaos.emulator.app import Emulator
from chaos.emulator.config import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, RateLimit
from chaos.emulator.faults import FaultRule
from tests.conftest import DR
from tests.emulator.ecs_fixtures import error_of, seed_site, send


def attach(iid: str, did: str) -> AttachDiskRequest:
    req = AttachDiskRequest()
    req.set_InstanceId(iid)
    req.set_DiskId(did)
    return req


def start(*ids: str, mode: str | None = None, dry_run: bool = False) -> StartInstancesRequest:
    req = StartInstancesRequest()
    req.set_InstanceIds(list(ids))
    if mode:
        req.set_BatchOptimization(mode)
    if dry_run:
        req.set_DryRun(True)
    return req


def disk_status(emulator: Emulator, did: str) -> str:
    doc = emulator.ecs.disk(did)
    assert doc is not None
    return str(doc["Status"])


def test_describe_instances_by_tag_ids_and_status(emulator: Emulator, endpoint: str, legacy_client: AcsClient) -> None:
    seed_site(emulator)
    req = DescribeInstancesRequest()
    req.set_Tags([{"Key": "replica-failover:standby-for", "Value": "pair-0"}])
    body = send(legacy_client, endpoint, req)
    inst = body["Instances"]["Instance"]
    assert [i["InstanceId"] for i in inst] == ["i-a"] and body["TotalCount"] == 1
    assert inst[0]["Tags"]["Tag"] == [{"TagKey": "replica-failover:standby-for", "TagValue": "pair-0"}]
    req = DescribeInstancesRequest()
    req.set_InstanceIds(json.dumps(["i-a", "i-far"]))
    req.set_Status("Running")
    assert [i["InstanceId"] for i in send(legacy_client, endpoint, req)["Instances"]["Instance"]] == ["i-far"]
    bad = DescribeInstancesRequest()
    bad.set_Status("Flying")
    assert error_of(legacy_client, endpoint, bad) == (404, "InvalidStatus.NotFound")


def test_describe_disks_filters_and_malformed_ids(emulator: Emulator, endpoint: str, legacy_client: AcsClient) -> None:
    seed_site(emulator)
    req = DescribeDisksRequest()
    req.set_DiskIds(json.dumps(["d-free", "d-sys"]))
    req.set_DiskType("system")
    disks = send(legacy_client, endpoint, req)["Disks"]["Disk"]
    assert [(d["DiskId"], d["Status"], d["InstanceId"], d["Device"]) for d in disks] == [
        ("d-sys", "In_use", "i-b", "/dev/xvda")
    ]
    assert disks[0]["Attachments"]["Attachment"] == [{"InstanceId": "i-b", "Device": "/dev/xvda"}]
    req = DescribeDisksRequest()
    req.set_Status("Available")
    assert [d["DiskId"] for d in send(legacy_client, endpoint, req)["Disks"]["Disk"]] == ["d-free"]
    bad = DescribeDisksRequest()
    bad.set_DiskIds("d-free,d-sys")
    assert error_of(legacy_client, endpoint, bad) == (403, "InvalidDiskIds.Malformed")


def test_attach_goes_attaching_then_in_use_on_the_clock(
    emulator: Emulator, endpoint: str, legacy_client: AcsClient
) -> None:
    seed_site(emulator)
    emulator.update_config({"transitionDelays": {"Attaching": 3.0}})
    assert set(send(legacy_client, endpoint, attach("i-a", "d-free"))) == {"RequestId"}
    assert disk_status(emulator, "d-free") == "Attaching"
    emulator.advance(2.9)
    assert disk_status(emulator, "d-free") == "Attaching"
    emulator.advance(0.2)
    doc = emulator.ecs.disk("d-free")
    assert doc is not None and (doc["Status"], doc["InstanceId"], doc["Device"]) == ("In_use", "i-a", "/dev/xvdb")
    effects = emulator.ledger.snapshot()["effects"]
    assert [(e["action"], e["targetId"], e["to"]) for e in effects] == [("AttachDisk", "d-free", "Attaching")]
    # attached here already, then detach: Detaching -> Available
    assert error_of(legacy_client, endpoint, attach("i-a", "d-free")) == (403, "IncorrectDiskStatus")
    assert error_of(legacy_client, endpoint, attach("i-b", "d-free")) == (404, "InvalidDisk.InUse")
    det = DetachDiskRequest()
    det.set_InstanceId("i-a")
    det.set_DiskId("d-free")
    send(legacy_client, endpoint, det)
    assert disk_status(emulator, "d-free") == "Detaching"
    emulator.advance(60)
    assert disk_status(emulator, "d-free") == "Available"
    assert error_of(legacy_client, endpoint, det) == (404, "InvalidDisk.AlreadyDetached")
    assert len(emulator.ledger.snapshot()["effects"]) == 2


def test_attach_preconditions_answer_documented_codes(
    emulator: Emulator, endpoint: str, legacy_client: AcsClient
) -> None:
    seed_site(emulator)
    assert error_of(legacy_client, endpoint, attach("i-none", "d-free")) == (404, "InvalidInstanceId.NotFound")
    assert error_of(legacy_client, endpoint, attach("i-a", "d-none")) == (404, "InvalidDiskId.NotFound")
    assert error_of(legacy_client, endpoint, attach("i-far", "d-free")) == (403, "ResourcesNotInSameZone")
    send(legacy_client, endpoint, start("i-a"))  # Starting: neither Stopped nor Running
    assert error_of(legacy_client, endpoint, attach("i-a", "d-free")) == (400, "IncorrectInstanceStatus")
    missing = AttachDiskRequest()
    missing.set_InstanceId("i-a")
    assert error_of(legacy_client, endpoint, missing) == (400, "MissingParameter")
    effects = emulator.ledger.snapshot()["effects"]
    assert [e["action"] for e in effects] == ["StartInstances"]  # no failed attach wrote anything
    assert disk_status(emulator, "d-free") == "Available"


def test_start_instances_all_together_and_success_first(
    emulator: Emulator, endpoint: str, legacy_client: AcsClient
) -> None:
    seed_site(emulator)
    # AllTogether (default): one bad instance refuses the whole batch, nothing starts
    assert error_of(legacy_client, endpoint, start("i-a", "i-far")) == (403, "IncorrectInstanceStatus")
    assert error_of(legacy_client, endpoint, start("i-a", "i-nope")) == (404, "InvalidInstanceId.NotFound")
    assert emulator.ledger.snapshot()["effects"] == []
    assert error_of(legacy_client, endpoint, start("i-a", dry_run=True)) == (400, "DRYRUN.SUCCESS")
    body = send(legacy_client, endpoint, start("i-a", "i-far", "i-nope", mode="SuccessFirst"))
    results = {r["InstanceId"]: (r["Code"], r["CurrentStatus"]) for r in body["InstanceResponses"]["InstanceResponse"]}
    assert results == {
        "i-a": ("200", "Starting"),
        "i-far": ("IncorrectInstanceStatus", "Running"),
        "i-nope": ("InvalidInstanceId.NotFound", ""),
    }
    assert [(e["targetId"], e["to"]) for e in emulator.ledger.snapshot()["effects"]] == [("i-a", "Starting")]
    too_many = start(*[f"i-{n}" for n in range(101)])
    assert error_of(legacy_client, endpoint, too_many) == (403, "InvalidParameter.TooManyInstanceIds")


def test_instances_start_and_stop_on_the_clock_and_can_be_held(
    emulator: Emulator, endpoint: str, legacy_client: AcsClient
) -> None:
    seed_site(emulator)
    emulator.update_config({"transitionDelays": {"Starting": 30.0, "Stopping": 5.0}})
    send(legacy_client, endpoint, start("i-a", "i-b"))
    emulator.ecs.hold_starting("i-b", True)
    status = DescribeInstanceStatusRequest()
    status.set_InstanceIds(["i-a", "i-b"])
    emulator.advance(29)
    seen = send(legacy_client, endpoint, status)["InstanceStatuses"]["InstanceStatus"]
    assert {s["InstanceId"]: s["Status"] for s in seen} == {"i-a": "Starting", "i-b": "Starting"}
    emulator.advance(2)
    seen = send(legacy_client, endpoint, status)["InstanceStatuses"]["InstanceStatus"]
    assert {s["InstanceId"]: s["Status"] for s in seen} == {"i-a": "Running", "i-b": "Starting"}
    emulator.advance(3600)
    assert emulator.ecs.instance("i-b")["Status"] == "Starting"  # type: ignore[index]
    assert emulator.ecs.hold_starting("i-b", False)["Status"] == "Running"  # overdue: settles on release
    stop = StopInstancesRequest()
    stop.set_InstanceIds(["i-a"])
    stop.set_ForceStop(True)
    send(legacy_client, endpoint, stop)
    assert emulator.ecs.instance("i-a")["Status"] == "Stopping"  # type: ignore[index]
    emulator.advance(5)
    assert emulator.ecs.instance("i-a")["Status"] == "Stopped"  # type: ignore[index]
    transitions = [(t["targetId"], t["to"]) for t in emulator.ledger.snapshot()["transitions"]]
    assert transitions == [("i-a", "Running"), ("i-b", "Running"), ("i-a", "Stopped")]


def test_lost_acknowledgement_on_attach_applies_the_effect(
    emulator: Emulator, endpoint: str, legacy_client: AcsClient
) -> None:
    seed_site(emulator)
    rule = FaultRule.model_validate(
        {"action": "AttachDisk", "phase": "after", "count": 1, "error": {"status": 503, "code": "ServiceUnavailable"}}
    )
    emulator.faults.set([rule], emulator.clock.now(), 0)
    assert error_of(legacy_client, endpoint, attach("i-a", "d-free")) == (503, "ServiceUnavailable")
    assert disk_status(emulator, "d-free") == "Attaching"  # applied although the caller saw an error
    effects = emulator.ledger.snapshot()["effects"]
    assert [(e["action"], e["targetId"]) for e in effects] == [("AttachDisk", "d-free")]
    requests_ = emulator.ledger.snapshot()["requests"]
    assert requests_[-1]["code"] == "ServiceUnavailable" and requests_[-1]["service"] == "ecs"
    # the caller's retry meets the applied attach: re-reading is how it learns it landed
    assert error_of(legacy_client, endpoint, attach("i-a", "d-free")) == (403, "IncorrectDiskStatus")


def test_throttling_and_ram_denial(emulator: Emulator, endpoint: str, legacy_client: AcsClient) -> None:
    seed_site(emulator)
    emulator.update_config({"rateLimits": [RateLimit(action="DescribeDisks", rate=0.001, burst=1).model_dump()]})
    send(legacy_client, endpoint, DescribeDisksRequest())
    # the legacy core retries DescribeDisks on Throttling; it still ends throttled
    assert error_of(legacy_client, endpoint, DescribeDisksRequest()) == (400, "Throttling")
    creds = [c.model_dump(by_alias=True) for c in emulator.config().credentials]
    emulator.update_config({"credentials": [{**c, "allowedActions": ["ecs:DescribeDisks"]} for c in creds]})
    assert error_of(legacy_client, endpoint, attach("i-a", "d-free")) == (403, "Forbidden.RAM")
    assert emulator.ledger.snapshot()["effects"] == []


def test_a_wrong_secret_is_refused_before_anything_is_written(emulator: Emulator, endpoint: str) -> None:
    seed_site(emulator)
    intruder = AcsClient(DEFAULT_ACCESS_KEY_ID, "not-the-secret", DR, timeout=10, connect_timeout=5)
    # the legacy core reports the gateway's SignatureDoesNotMatch as InvalidAccessKeySecret
    assert error_of(intruder, endpoint, attach("i-a", "d-free")) == (400, "InvalidAccessKeySecret")
    assert emulator.ledger.snapshot()["effects"] == [] and disk_status(emulator, "d-free") == "Available"
    (entry,) = emulator.ledger.snapshot()["requests"]
    assert entry["service"] == "ecs" and entry["code"] == "SignatureDoesNotMatch"
    assert "not-the-secret" not in json.dumps(entry)


def test_quiesce_waits_for_an_attach_held_past_the_callers_timeout(emulator: Emulator, endpoint: str) -> None:
    seed_site(emulator)
    rule = FaultRule.model_validate({"action": "AttachDisk", "phase": "before", "count": 1, "hangMs": 1500})
    emulator.faults.set([rule], emulator.clock.now(), 0)
    impatient = AcsClient(DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, DR, timeout=0.3, connect_timeout=5)
    with pytest.raises(ClientException):
        send(impatient, endpoint, attach("i-a", "d-free"))
    assert emulator.wait_quiet(10)  # the held write lands after the caller gave up
    assert [(e["action"], e["targetId"]) for e in emulator.ledger.snapshot()["effects"]] == [("AttachDisk", "d-free")]
