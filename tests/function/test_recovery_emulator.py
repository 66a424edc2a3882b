"""The whole recovery against the emulator: storage -> compute (AttachDisk, StartInstances) -> traffic
(UpdateDomainRecord), each step exactly once, resumable across invocations; asserted on the ledger."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aliyunsdkcore.client import AcsClient
from replica_failover.handler import PendingWork, handle
from replica_failover.retry import Backoff

from chaos.emulator.app import Emulator
from chaos.emulator.dns.models import DomainRecord
from chaos.emulator.ebs.models import GroupRecord, PairRecord
from chaos.emulator.ecs.models import EcsTag, InstanceRecord
from chaos.emulator.faults import FaultError, FaultRule
from tests.conftest import DR, PRIMARY, EbsCall
from tests.emulator.ecs_fixtures import OTHER_ZONE, ZONE, send
from tests.function.conftest import base_env, fc_context

FAILOVER = {"action": "failover", "primaryRegion": PRIMARY, "reason": "test", "incidentId": "inc-r"}
PLAN = {**FAILOVER, "action": "plan"}
TAG = "replica-failover:standby-for"
OLD, NEW_WWW, NEW_API = "10.0.0.1", "203.0.113.10", "203.0.113.20"
# pair-a -> i-a, pair-b -> i-b, group pg-x (pair-x1, pair-x2) -> i-g; www waits for i-a and i-g, api for i-b
DISKS = {"d-a": "i-a", "d-b": "i-b", "d-x1": "i-g", "d-x2": "i-g"}


class Killed(BaseException):
    """The function's process dying mid-run (not an Exception: nothing in the function catches it)."""


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


def standby(iid: str, target: str | None, zone: str = ZONE) -> InstanceRecord:
    tags = [EcsTag(TagKey=TAG, TagValue=target)] if target else []
    return InstanceRecord(InstanceId=iid, RegionId=DR, ZoneId=zone, Tags=tags)


PLAN_FILE = {
    "version": 1,
    "records": [
        {"domain": "example.com", "rr": "www", "value": NEW_WWW, "after": ["i-a", "i-g"]},
        {"domain": "example.com", "rr": "api", "value": NEW_API, "after": ["i-b"]},
    ],
}


def seed(emulator: Emulator, tmp_path: Path, *, extra: dict[str, Any] | None = None) -> None:
    emulator.ebs.seed_pairs([pair("pair-a", "d-a"), pair("pair-b", "d-b")])
    emulator.ebs.seed_groups(
        [GroupRecord(ReplicaGroupId="pg-x", SourceRegionId=PRIMARY, DestinationRegionId=DR, Status="normal")]
    )
    emulator.ebs.seed_pairs([pair("pair-x1", "d-x1", "pg-x"), pair("pair-x2", "d-x2", "pg-x")])
    emulator.ecs.seed_instances([standby("i-a", "pair-a"), standby("i-b", "pair-b"), standby("i-g", "pg-x")])
    emulator.dns.seed_records(
        [
            DomainRecord(RecordId="1001", DomainName="example.com", RR="www", Type="A", Value=OLD),
            DomainRecord(RecordId="1002", DomainName="example.com", RR="api", Type="A", Value=OLD),
        ]
    )
    (tmp_path / "recovery.json").write_text(json.dumps({**PLAN_FILE, **(extra or {})}))


@pytest.fixture
def recover(emulator: Emulator, endpoint: str, tmp_path: Path) -> Any:
    """Run the handler in-process; its waits move the emulator clock (no real sleeping)."""

    def run(event: dict[str, Any], *, timeout: float = 120, kill_when: Any = None) -> dict[str, Any]:
        def sleep(seconds: float) -> None:
            if kill_when is not None and kill_when():
                raise Killed
            emulator.advance(seconds)

        env = base_env(
            endpoint,
            ECS_ENDPOINT=f"http://{endpoint}",
            DNS_ENDPOINT=f"http://{endpoint}",
            FC_ENDPOINT=f"http://{endpoint}",
            FAILOVER_RECOVERY_PLAN="recovery.json",
            FAILOVER_RECOVERY_TAGS="true",
            FC_FUNC_CODE_PATH=str(tmp_path),
        )
        logs = io.StringIO()
        backoff = Backoff(base=0.01, cap=0.2, now=emulator.clock.now, sleep=sleep)
        try:
            result = handle(
                json.dumps(event), fc_context(emulator, timeout=timeout), env=env, log_stream=logs, backoff=backoff
            )
            result["raised"] = False
        except PendingWork as exc:
            result = {**exc.result, "raised": True}
        result["logLines"] = [json.loads(line) for line in logs.getvalue().splitlines()]
        return result

    return run


def effects(emulator: Emulator) -> list[dict[str, Any]]:
    return list(emulator.ledger.snapshot()["effects"])


def count(emulator: Emulator, action: str) -> Counter[str]:
    return Counter(e["targetId"] for e in effects(emulator) if e["action"] == action)


def steps(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["step"]: s for s in result["recovery"]["steps"]}


def record_value(emulator: Emulator, rid: str) -> str:
    return str(emulator.dns.backend.get(rid).Value)


def assert_exactly_once_in_order(emulator: Emulator) -> None:
    eff = effects(emulator)
    assert count(emulator, "AttachDisk") == Counter(dict.fromkeys(DISKS, 1))
    assert count(emulator, "StartInstances") == Counter({"i-a": 1, "i-b": 1, "i-g": 1})
    assert count(emulator, "UpdateDomainRecord") == Counter({"1001": 1, "1002": 1})
    assert not [e for e in eff if e["action"] in ("DetachDisk", "StopInstances")]
    at = {(e["action"], e["targetId"]): i for i, e in enumerate(eff)}
    fo = {"d-a": "pair-a", "d-b": "pair-b", "d-x1": "pg-x", "d-x2": "pg-x"}
    for disk, inst in DISKS.items():
        assert (
            at[("FailoverDiskReplica" + ("Group" if fo[disk] == "pg-x" else "Pair"), fo[disk])]
            < at[("AttachDisk", disk)]
        )
        assert at[("AttachDisk", disk)] < at[("StartInstances", inst)]
    assert max(at[("StartInstances", i)] for i in ("i-a", "i-g")) < at[("UpdateDomainRecord", "1001")]
    assert at[("StartInstances", "i-b")] < at[("UpdateDomainRecord", "1002")]


# ------------------------------------------------------------------ dry run and full recovery
def test_dry_run_shows_every_stage_and_writes_nothing(emulator: Emulator, recover: Any, tmp_path: Path) -> None:
    seed(emulator, tmp_path)
    result = recover(PLAN)
    assert result["status"] == "planned" and result["writeCalls"] == 0
    rec = result["recovery"]
    assert rec["status"] == "planned" and rec["findings"] == []
    changes = {c["step"]: (c["before"], c["after"]) for c in rec["changes"]}
    assert changes["attach:d-a"] == ("Unavailable", "In_use on i-a")
    assert changes["start:i-g"] == ("Stopped", "Running")
    assert changes["switch:alidns:www.example.com/A"] == (OLD, NEW_WWW)
    assert {t["id"]: t["outcome"] for t in result["targets"]} == {
        "pg-x": "pending",
        "pair-a": "pending",
        "pair-b": "pending",
    }
    assert effects(emulator) == []


def test_full_recovery_each_step_once_in_order(emulator: Emulator, recover: Any, tmp_path: Path) -> None:
    seed(emulator, tmp_path)
    result = recover(FAILOVER)
    assert result["status"] == "completed" and result["ok"], result["reason"]
    rec = result["recovery"]
    assert rec["status"] == "completed" and rec["summary"]["done"] == 9
    assert_exactly_once_in_order(emulator)
    assert record_value(emulator, "1001") == NEW_WWW and record_value(emulator, "1002") == NEW_API
    s = steps(result)
    assert s["attach:d-x1"]["target"] == "pg-x" and s["attach:d-x1"]["instance"] == "i-g"
    assert all(x["writes"] == 1 and x["startedAt"] and x["doneAt"] >= x["startedAt"] for x in s.values())
    assert rec["rtoSeconds"] is not None and rec["rtoFrom"] == "invocation"
    assert rec["stages"]["traffic"]["startedAt"] >= rec["stages"]["compute"]["startedAt"]
    # a duplicate alarm: everything reads done, no write at all
    emulator.ledger.clear()
    again = recover(FAILOVER)
    assert again["status"] == "completed" and again["recovery"]["writeCalls"] == 0
    assert effects(emulator) == []


def test_lost_acknowledgement_on_attach_disk(emulator: Emulator, recover: Any, tmp_path: Path) -> None:
    seed(emulator, tmp_path)
    lost = FaultRule(
        action="AttachDisk", phase="after", count=2, error=FaultError(status=503, code="ServiceUnavailable")
    )
    emulator.faults.set([lost], emulator.clock.now(), emulator.config().seed)
    result = recover(FAILOVER)
    assert result["status"] == "completed", result["reason"]
    assert_exactly_once_in_order(emulator)
    lost_acks = [x for x in steps(result).values() if x["errors"] == ["ServiceUnavailable"]]
    assert len(lost_acks) == 2 and all(x["writes"] == 1 for x in lost_acks)  # re-read, never re-sent


def test_stuck_starting_is_pending_then_a_reinvocation_finishes(
    emulator: Emulator, recover: Any, tmp_path: Path
) -> None:
    seed(emulator, tmp_path)
    emulator.ecs.hold_starting("i-a", True)
    first = recover(FAILOVER, timeout=40)
    assert first["status"] == "pending" and first["raised"]
    s = steps(first)
    assert s["start:i-a"]["outcome"] == "pending" and s["switch:alidns:www.example.com/A"]["outcome"] == "pending"
    assert s["switch:alidns:api.example.com/A"]["outcome"] == "done"  # waits only for i-b
    assert record_value(emulator, "1001") == OLD
    emulator.ecs.hold_starting("i-a", False)
    second = recover(FAILOVER)
    assert second["status"] == "completed", second["reason"]
    assert_exactly_once_in_order(emulator)
    assert steps(second)["start:i-a"]["writes"] == 0  # started by the first invocation


def test_standby_missing_or_in_the_wrong_zone(emulator: Emulator, recover: Any, tmp_path: Path) -> None:
    seed(emulator, tmp_path, extra={"standbys": [{"instanceId": "i-gone", "takes": ["pair-c"]}]})
    emulator.ebs.seed_pairs([pair("pair-c", "d-c"), pair("pair-d", "d-d")])
    emulator.ecs.seed_instances([standby("i-far", "pair-d", OTHER_ZONE)])
    result = recover(FAILOVER)
    assert result["status"] == "partial" and not result["ok"]
    codes = {(f["target"], f["code"]) for f in result["recovery"]["findings"]}
    assert {("pair-c", "standby-missing"), ("pair-d", "zone-mismatch")} <= codes
    s = steps(result)
    assert s["target:pair-c"]["outcome"] == "failed" and s["target:pair-d"]["outcome"] == "failed"
    assert "attach:d-c" not in s and "attach:d-d" not in s
    assert_exactly_once_in_order(emulator)  # the others proceed
    assert not count(emulator, "AttachDisk").keys() & {"d-c", "d-d"}
    assert count(emulator, "FailoverDiskReplicaPair")["pair-c"] == 1  # storage still failed over


def test_dns_api_down_pending_then_finished(emulator: Emulator, recover: Any, tmp_path: Path) -> None:
    seed(emulator, tmp_path)
    # every alidns action the function calls answers 503 (one rule per action)
    down = [
        FaultRule(action=a, error=FaultError(status=503, code="ServiceUnavailable"))
        for a in ("DescribeDomainRecords", "DescribeDomainRecordInfo", "UpdateDomainRecord")
    ]
    emulator.faults.set(down, emulator.clock.now(), emulator.config().seed)
    first = recover(FAILOVER, timeout=40)
    assert first["status"] == "pending" and first["raised"]
    assert count(emulator, "StartInstances") == Counter({"i-a": 1, "i-b": 1, "i-g": 1})
    assert not count(emulator, "UpdateDomainRecord")
    emulator.faults.remove()
    second = recover(FAILOVER)
    assert second["status"] == "completed", second["reason"]
    assert_exactly_once_in_order(emulator)


def test_killed_mid_compute_and_reinvoked(emulator: Emulator, recover: Any, tmp_path: Path) -> None:
    seed(emulator, tmp_path)
    with pytest.raises(Killed):
        recover(FAILOVER, kill_when=lambda: bool(count(emulator, "AttachDisk")))
    assert count(emulator, "AttachDisk") and not count(emulator, "StartInstances")
    result = recover(FAILOVER)
    assert result["status"] == "completed", result["reason"]
    assert_exactly_once_in_order(emulator)


def test_disk_attached_elsewhere_is_a_conflict_never_detached(
    emulator: Emulator, recover: Any, tmp_path: Path, ebs: EbsCall, legacy_client: AcsClient, endpoint: str
) -> None:
    from aliyunsdkecs.request.v20140526.AttachDiskRequest import AttachDiskRequest

    seed(emulator, tmp_path)
    emulator.ecs.seed_instances([standby("i-other", None)])
    ebs("FailoverDiskReplicaPair", ReplicaPairId="pair-b")
    emulator.advance(60)
    req = AttachDiskRequest()
    req.set_InstanceId("i-other")
    req.set_DiskId("d-b")
    send(legacy_client, endpoint, req)
    emulator.advance(60)
    result = recover(FAILOVER)
    assert result["status"] == "partial" and not result["ok"]
    s = steps(result)
    assert s["attach:d-b"]["outcome"] == "conflict" and "i-other" in s["attach:d-b"]["reason"]
    assert s["start:i-b"]["outcome"] == "failed" and s["switch:alidns:api.example.com/A"]["outcome"] == "failed"
    assert s["switch:alidns:www.example.com/A"]["outcome"] == "done"
    assert count(emulator, "AttachDisk") == Counter({"d-a": 1, "d-b": 1, "d-x1": 1, "d-x2": 1})  # d-b: ours, by hand
    assert not [e for e in effects(emulator) if e["action"] == "DetachDisk"]
    assert "i-b" not in count(emulator, "StartInstances") and record_value(emulator, "1002") == OLD


# ------------------------------------------------------------------ the pre-switch hook
HOOK_EVENTS: list[dict[str, Any]] = []


def hook_ok(event: bytes, context: Any) -> dict[str, Any]:
    """A health check that passes (registered in the emulator's FC as replica-failover/smoke)."""
    HOOK_EVENTS.append(json.loads(event))
    return {"healthy": True}


def hook_refuses(event: bytes, context: Any) -> None:
    HOOK_EVENTS.append(json.loads(event))
    raise RuntimeError("the standbys do not answer their health check")


@pytest.mark.parametrize(("handler", "passes"), [("hook_ok", True), ("hook_refuses", False)])
def test_pre_switch_hook_gates_the_traffic_switch(
    emulator: Emulator, recover: Any, tmp_path: Path, handler: str, passes: bool
) -> None:
    from chaos.emulator.fc import FunctionSpec

    HOOK_EVENTS.clear()
    seed(emulator, tmp_path, extra={"hook": {"function": "smoke"}})
    spec = FunctionSpec(service="replica-failover", name="smoke", handler=f"{__name__}:{handler}", timeout=5)
    emulator.fc.register(spec)
    result = recover(FAILOVER)
    calls = emulator.fc.invocations()
    assert [c["function"] for c in calls] == ["smoke"]  # once, after every instance ran
    assert HOOK_EVENTS[-1]["stage"] == "pre-switch" and sorted(HOOK_EVENTS[-1]["instances"]) == ["i-a", "i-b", "i-g"]
    assert count(emulator, "StartInstances") == Counter({"i-a": 1, "i-b": 1, "i-g": 1})
    first_switch = min(
        (i for i, e in enumerate(effects(emulator)) if e["action"] == "UpdateDomainRecord"), default=None
    )
    if passes:
        assert result["status"] == "completed", result["reason"]
        assert_exactly_once_in_order(emulator)
        assert first_switch is not None
    else:
        assert result["status"] == "partial" and not result["ok"]
        assert first_switch is None and record_value(emulator, "1001") == OLD
        s = steps(result)
        assert s["switch:alidns:www.example.com/A"]["outcome"] == "failed"
        assert "hook" in s["switch:alidns:api.example.com/A"]["reason"]
