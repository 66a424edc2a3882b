"""The recovery's checks judged on real ledgers: the emulator driven over 127.0.0.1 with the official SDKs.

The naive operator script (chaos.bench_recovery) recovers in order and passes every check; drivers that
start before attaching, switch before the instances run, or switch a record twice fail the named check.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aliyunsdkcore.auth.credentials import StsTokenCredential
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest

from chaos.bench_recovery import naive_recovery
from chaos.emulator.app import Emulator
from chaos.emulator.config import (
    DEFAULT_STS_ACCESS_KEY_ID,
    DEFAULT_STS_ACCESS_KEY_SECRET,
    DEFAULT_STS_SECURITY_TOKEN,
)
from chaos.emulator.server import start
from chaos.gameday.client import LocalControl
from chaos.gameday.recovery_checks import (
    RecoveryView,
    findings_reported,
    one_effect_per_step,
    order_respected,
    rto_within,
    service_restored,
)
from chaos.gameday.recovery_world import plan_document, seed_recovery
from chaos.gameday.scenario import RecoveryExpect, Scenario, ScenarioError, load_scenario
from chaos.gameday.world import fleet_records

CREDENTIAL = {
    "accessKeyId": DEFAULT_STS_ACCESS_KEY_ID,
    "accessKeySecret": DEFAULT_STS_ACCESS_KEY_SECRET,
    "securityToken": DEFAULT_STS_SECURITY_TOKEN,
}
SCENARIO: dict[str, Any] = {
    "title": "recovery checks",
    "fleet": {
        "pairs": [{"id": "pair-web-01"}, {"id": "pair-web-02"}],
        "groups": [{"id": "pg-db", "pairs": ["pair-db-01"]}],
    },
    "trigger": {"events": [{"body": {}}]},
    "recovery": {
        "records": [
            {"id": "101", "rr": "www", "value": "10.0.0.1", "drValue": "10.9.0.1",
             "after": ["i-sb-pair-web-01", "i-sb-pair-web-02"]},
            {"id": "102", "rr": "db", "value": "10.0.0.2", "drValue": "10.9.0.2", "after": ["i-sb-pg-db"]},
        ]
    },
}  # fmt: skip


@pytest.fixture
def world() -> Iterator[tuple[LocalControl, Scenario]]:
    sc = Scenario.model_validate(SCENARIO)
    handle = start(Emulator(region="cn-shanghai"), "127.0.0.1", 0)
    control = LocalControl(handle.emulator, handle.url)
    try:
        control.configure({"transitionDelays": {"failovering": 0.0, "Attaching": 0.0, "Starting": 0.0}})
        control.seed(*fleet_records(sc))
        seed_recovery(control, sc)
        yield control, sc
    finally:
        control.close()
        handle.stop()


def view(control: LocalControl, sc: Scenario) -> RecoveryView:
    assert sc.recovery is not None
    return RecoveryView(
        sc.recovery, control.ledger(), control.instances(), control.disks(), control.dns_records(), control.pairs()
    )


def endpoint(control: LocalControl) -> str:
    return control.url.split("://", 1)[1]


def sdk(control: LocalControl) -> tuple[AcsClient, str]:
    cred = StsTokenCredential(CREDENTIAL["accessKeyId"], CREDENTIAL["accessKeySecret"], CREDENTIAL["securityToken"])
    return AcsClient(region_id="cn-shanghai", credential=cred, auto_retry=False, timeout=10), endpoint(control)


def ecs(control: LocalControl, action: str, **params: Any) -> dict[str, Any]:
    client, host = sdk(control)
    req = CommonRequest(domain=host, version="2014-05-26", action_name=action, product="Ecs")
    req.set_method("POST")
    req.add_query_param("RegionId", "cn-shanghai")
    for k, v in params.items():
        req.add_query_param(k, v)
    return dict(json.loads(client.do_action_with_exception(req)))


def switch(control: LocalControl, rid: str, rr: str, value: str) -> None:
    client, host = sdk(control)
    req = CommonRequest(domain=host, version="2015-01-09", action_name="UpdateDomainRecord", product="Alidns")
    req.set_method("POST")
    for k, v in (("RecordId", rid), ("RR", rr), ("Type", "A"), ("Value", value)):
        req.add_query_param(k, v)
    client.do_action_with_exception(req)


def test_the_seeded_world_has_tagged_standbys_records_and_a_plan(world: tuple[LocalControl, Scenario]) -> None:
    control, sc = world
    standbys = {i["InstanceId"]: i for i in control.instances()}
    assert set(standbys) == {"i-sb-pair-web-01", "i-sb-pair-web-02", "i-sb-pg-db"}
    tag = standbys["i-sb-pg-db"]["Tags"]["Tag"]
    assert tag == [{"TagKey": "replica-failover:standby-for", "TagValue": "pg-db"}]
    assert all(i["Status"] == "Stopped" and i["ZoneId"] == "cn-shanghai-b" for i in standbys.values())
    assert {r["RecordId"]: r["Value"] for r in control.dns_records()} == {"101": "10.0.0.1", "102": "10.0.0.2"}
    assert sc.recovery is not None
    doc = plan_document(sc.recovery)
    assert [r["value"] for r in doc["records"]] == ["10.9.0.1", "10.9.0.2"] and doc["standbys"] == []


def test_an_orderly_recovery_passes_every_check(world: tuple[LocalControl, Scenario]) -> None:
    control, sc = world
    recovery_plan = {
        "standbys": [
            {"instanceId": "i-sb-pair-web-01", "takes": ["pair-web-01"]},
            {"instanceId": "i-sb-pair-web-02", "takes": ["pair-web-02"]},
        ],
        "records": [{"recordId": "101", "rr": "www", "type": "A", "value": "10.9.0.1",
                     "after": ["i-sb-pair-web-01", "i-sb-pair-web-02"]}],
    }  # fmt: skip
    out = naive_recovery(endpoint(control), CREDENTIAL, recovery_plan)
    assert out["apiCalls"] > 0
    v = view(control, sc)
    assert one_effect_per_step(v).ok
    order = order_respected(v)
    assert order.ok, order.message
    assert v.figures()["recoveryAttaches"] == 2 and v.figures()["recoverySwitches"] == 1
    # record 102 (behind the group's standby) was not part of this run: restored only where asked
    assert service_restored(v, RecoveryExpect(restored_records=["101"], untouched_records=["102"])).ok
    missing = service_restored(v, RecoveryExpect())
    assert not missing.ok and "record 102" in missing.offenders and "instance i-sb-pg-db" in missing.offenders
    rto = v.rto_seconds()
    assert rto is not None and rto >= 0
    assert rto_within(v, RecoveryExpect(max_rto_seconds=600)).ok
    # the disks the check attributes to each pair are the ones the ledger shows attached
    owners = v.disk_owner()
    attached = {e["targetId"] for e in v.step_effects() if e["targetType"] == "disk"}
    assert {owners[d][0] for d in attached} == {"pair-web-01", "pair-web-02"}


def test_start_before_attach_and_switch_before_running_break_the_order(world: tuple[LocalControl, Scenario]) -> None:
    control, sc = world
    control.flip("pair", "pair-web-01", "failovered", None)
    did = next(p["DestinationDiskId"] for p in control.pairs() if p["ReplicaPairId"] == "pair-web-01")
    switch(control, "101", "www", "10.9.0.1")  # before anything runs
    ecs(control, "StartInstances", **{"InstanceId.1": "i-sb-pair-web-01"})
    ecs(control, "AttachDisk", InstanceId="i-sb-pair-web-01", DiskId=did)
    control.advance(60)
    found = order_respected(view(control, sc))
    assert not found.ok
    text = " ".join(found.offenders)
    assert "UpdateDomainRecord 101" in text and "before i-sb-pair-web-01 read Running" in text
    assert "StartInstances i-sb-pair-web-01" in text and f"disk {did}" in text


def test_a_record_switched_twice_is_two_effects(world: tuple[LocalControl, Scenario]) -> None:
    control, sc = world
    for value in ("10.9.0.1", "10.0.0.1", "10.9.0.1"):
        switch(control, "101", "www", value)
    found = one_effect_per_step(view(control, sc))
    assert not found.ok and found.offenders == {"UpdateDomainRecord:101": 3}
    # nothing switched at all: no RTO, and the RTO check says so rather than passing
    control.clear_ledger()
    assert rto_within(view(control, sc), RecoveryExpect(max_rto_seconds=1)).message == "no record was switched"


def test_the_timeline_shows_storage_compute_and_traffic_lanes(world: tuple[LocalControl, Scenario]) -> None:
    import time

    from chaos.gameday.timeline import build_timelines

    control, _sc = world
    started = time.time()
    recovery_plan = {
        "standbys": [{"instanceId": "i-sb-pg-db", "takes": ["pair-db-01"]}],
        "records": [{"recordId": "102", "rr": "db", "type": "A", "value": "10.9.0.2", "after": ["i-sb-pg-db"]}],
    }
    naive_recovery(endpoint(control), CREDENTIAL, recovery_plan)
    control.advance(60)
    lanes = build_timelines(control.ledger(), [], started_wall=started, eligible=set(), final_status={})
    by_stage = {(tl.stage, tl.kind) for tl in lanes}
    assert {("storage", "pair"), ("compute", "disk"), ("compute", "instance"), ("traffic", "record")} <= by_stage
    [record] = [tl for tl in lanes if tl.kind == "record"]
    assert record.id == "102" and record.effects == 1 and record.final_status == "10.9.0.2"
    [instance] = [tl for tl in lanes if tl.kind == "instance"]
    assert sorted(e.label for e in instance.events if e.kind != "call") == [
        "StartInstances Stopped -> Starting",
        "Starting -> Running",
    ]
    assert instance.final_status == "Running"
    # the storage lanes are ebs's alone: no disk or instance id shows up as a pair
    assert not [tl for tl in lanes if tl.kind == "pair" and not tl.id.startswith("pair-")]
    # in order along the run: the pair fails over, then the disk is attached, the standby starts, the record moves
    first = {tl.kind: min(e.t for e in tl.events if e.kind == "effect") for tl in lanes if tl.effects}
    assert first["pair"] <= first["disk"] <= first["instance"] <= first["record"]


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"standby": {"exclude": ["pair-typo"]}}, "recovery.standby.exclude[0]: target pair-typo is not in the fleet"),
        ({"planStandbys": [{"instanceId": "i-x", "takes": ["pg-nope"]}]}, "planStandbys[0].takes: target pg-nope"),
        ({"instances": [{"id": "i-x", "standbyFor": "pair-nope"}]}, "instances[0].standbyFor: target pair-nope"),
        ({"stuck": ["i-sb-pair-nope"]}, "recovery.stuck: instance i-sb-pair-nope is neither listed nor"),
        ({"instances": [{"id": "i-x"}, {"id": "i-x"}]}, "instance ids must be unique"),
        ({"records": [{"id": "abc", "rr": "www", "value": "1", "drValue": "2"}]}, "records.0.id"),
        ({"records": [{"id": "1", "rr": "www", "value": "1"}]}, "records.0.drValue"),
        ({"surprise": 1}, "recovery.surprise"),
    ],
)
def test_a_bad_recovery_section_is_a_scenario_error(tmp_path: Path, patch: dict[str, Any], message: str) -> None:
    doc = {**SCENARIO, "recovery": {**SCENARIO["recovery"], **patch}}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert message in str(err.value)


def test_a_release_must_name_a_held_instance(tmp_path: Path) -> None:
    doc = {**SCENARIO, "method": {"actions": [{"when": {"beforeEvent": 0}, "release": {"unstick": ["i-nope"]}}]}}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ScenarioError, match=r"release.unstick: instance i-nope"):
        load_scenario(path)
    doc["method"]["actions"][0]["release"]["unstick"] = ["i-sb-pg-db"]  # a generated standby: fine
    path.write_text(yaml.safe_dump(doc))
    assert load_scenario(path).method.actions[0].release is not None


def test_findings_must_be_reported_by_the_function() -> None:
    sc = Scenario.model_validate(SCENARIO)
    assert sc.recovery is not None
    result = {"recovery": {"findings": [{"target": "pair-web-02", "code": "standby-missing"}], "rtoSeconds": 1.5}}
    v = RecoveryView(sc.recovery, {"requests": [], "effects": []}, results=[{"recovery": {}}, result])
    want = RecoveryExpect(findings={"pair-web-02": ["standby-missing"], "pair-web-01": ["zone-mismatch"]})
    found = findings_reported(v, want)
    assert not found.ok and found.offenders == {"pair-web-01": ["zone-mismatch"]}
    assert findings_reported(v, RecoveryExpect(findings={"pair-web-02": ["standby-missing"]})).ok
    assert v.figures()["reportedRtoS"] == 1.5  # the last result's own RTO, next to the ledger's
