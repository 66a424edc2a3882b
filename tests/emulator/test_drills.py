"""Pair and group drills through the official V2 SDK (the legacy SDK has no drill operations).

State moves with the emulator clock (frozen, advanced by the test); every effect is read back from
the ledger and the drill disk from the ECS view.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from alibabacloud_ebs20210730 import models as m
from alibabacloud_ebs20210730.client import Client

from chaos.emulator.app import Emulator
from chaos.emulator.ebs.models import PairRecord
from chaos.emulator.faults import FaultError, FaultRule
from tests.conftest import DR, OTHER, PRIMARY, seed_basic
from tests.emulator.ebs_v2 import error, v2_client


@pytest.fixture
def client(endpoint: str, emulator: Emulator) -> Client:
    return v2_client(endpoint, emulator)


def effects(emulator: Emulator, action: str) -> list[dict[str, Any]]:
    return [e for e in emulator.ledger.snapshot()["effects"] if e["action"] == action]


def drills(client: Client, pair: str, **kw: Any) -> Any:
    return client.describe_pair_drills(m.DescribePairDrillsRequest(region_id=DR, pair_id=pair, **kw)).body


def start(client: Client, pair: str, token: str | None = None, region: str = DR) -> str:
    req = m.StartPairDrillRequest(region_id=region, pair_id=pair, client_token=token)
    return str(client.start_pair_drill(req).body.drill_id)


def clear(client: Client, pair: str, drill_id: str, region: str = DR) -> None:
    client.clear_pair_drill(m.ClearPairDrillRequest(region_id=region, pair_id=pair, drill_id=drill_id))


def ecs_disk(emulator: Emulator, disk_id: str) -> Any:
    return emulator.ecs.backend.disks.get(disk_id)


def test_pair_drill_lifecycle_disk_in_ecs_and_replication_keeps_running(emulator: Emulator, client: Client) -> None:
    seed_basic(emulator)
    pair_before = emulator.backend.record("pair", "pair-0")
    assert pair_before is not None
    t0 = int(emulator.clock.now())

    drill_id = start(client, "pair-0", token="drill-tok-1")
    assert drill_id.startswith("drill-")
    body = drills(client, "pair-0")
    assert body.total_count == 1 and body.next_token == ""
    d = body.drills[0]
    assert (d.drill_id, d.status, d.drill_disk_status) == (drill_id, "executing", "creating")
    assert d.start_at == t0 and d.recover_point == pair_before["LastRecoverPoint"] and d.recover_point < t0
    assert ecs_disk(emulator, d.drill_disk_id) is None

    emulator.advance(5)
    d = drills(client, "pair-0", drill_id=drill_id).drills[0]
    assert (d.status, d.drill_disk_status) == ("executed", "created")
    disk = ecs_disk(emulator, d.drill_disk_id)
    assert disk is not None and (disk.RegionId, disk.ZoneId, disk.Status) == (
        DR,
        pair_before["DestinationZoneId"],
        "Available",
    )

    emulator.advance(1800)  # replication keeps running under the drill
    req = m.DescribeDiskReplicaPairsRequest(region_id=DR, site="backup", pair_ids="pair-0")
    pair_now = client.describe_disk_replica_pairs(req).body.replica_pairs[0]
    assert pair_now.status == "normal"
    assert pair_now.last_recover_point >= pair_before["LastRecoverPoint"] + 1800
    assert drills(client, "pair-0").drills[0].recover_point == pair_before["LastRecoverPoint"]

    clear(client, "pair-0", drill_id)
    d = drills(client, "pair-0").drills[0]
    assert (d.status, d.drill_disk_status) == ("clearing", "deleting")
    emulator.advance(2)
    assert drills(client, "pair-0").drills == [] and ecs_disk(emulator, disk.DiskId) is None

    started, cleared = effects(emulator, "StartPairDrill"), effects(emulator, "ClearPairDrill")
    assert [(e["targetId"], e["pairId"], e["clientToken"], e["to"]) for e in started] == [
        (drill_id, "pair-0", "drill-tok-1", "executing")
    ]
    assert [(e["targetId"], e["from"], e["to"]) for e in cleared] == [(drill_id, "executed", "clearing")]
    moves = [(t["from"], t["to"]) for t in emulator.ledger.snapshot()["transitions"] if t["targetId"] == drill_id]
    assert moves == [("executing", "executed"), ("clearing", "cleared")]


def test_start_client_token_replays_and_a_second_drill_is_refused(emulator: Emulator, client: Client) -> None:
    seed_basic(emulator)
    first = start(client, "pair-1", token="tok-a")
    assert start(client, "pair-1", token="tok-a") == first
    assert error(lambda: start(client, "pair-1")) == (403, "OperationDenied")
    assert len(effects(emulator, "StartPairDrill")) == 1
    assert [d.drill_id for d in drills(client, "pair-1").drills] == [first]


@pytest.mark.parametrize(
    ("seed", "region", "pair", "expected"),
    [
        ({}, PRIMARY, "pair-0", (403, "OperationDenied.StartDrillShouldOnDestRegion")),
        ({}, OTHER, "pair-0", (404, "NoSuchResource")),
        ({}, DR, "pair-nope", (404, "NoSuchResource")),
        (
            {"Status": "initial_syncing", "LastRecoverPoint": 0},
            DR,
            "pair-x",
            (403, "OperationDenied.RecoverPointNotFound"),
        ),
        ({"Status": "failovered"}, DR, "pair-x", (403, "OperationDenied.InvalidStatus")),
    ],
)
def test_start_errors_change_nothing(
    emulator: Emulator, client: Client, seed: dict[str, Any], region: str, pair: str, expected: tuple[int, str]
) -> None:
    seed_basic(emulator)
    emulator.backend.seed_pairs(
        [PairRecord(ReplicaPairId="pair-x", SourceRegion=PRIMARY, DestinationRegion=DR, **seed)]
    )
    assert error(lambda: start(client, pair, region=region)) == expected
    assert effects(emulator, "StartPairDrill") == [] and emulator.backend.drills() == []


def test_parameter_and_clear_errors(emulator: Emulator, client: Client) -> None:
    seed_basic(emulator)
    drill_id = start(client, "pair-0")
    bad_id = m.ClearPairDrillRequest(region_id=DR, pair_id="pair-0", drill_id="pg-drill-1")
    assert error(lambda: client.clear_pair_drill(bad_id)) == (400, "InvalidParameter")
    no_id = m.ClearPairDrillRequest(region_id=DR, pair_id="pair-0")
    assert error(lambda: client.clear_pair_drill(no_id)) == (400, "MissingParameter")
    assert error(lambda: client.start_pair_drill(m.StartPairDrillRequest(region_id=DR))) == (400, "MissingParameter")
    assert error(lambda: clear(client, "pair-0", "drill-unknown")) == (404, "NoSuchResource")
    assert error(lambda: clear(client, "pair-1", drill_id)) == (404, "NoSuchResource")  # another pair's drill
    assert error(lambda: clear(client, "pair-0", drill_id)) == (403, "OperationDenied.InvalidStatus")  # executing
    emulator.advance(5)
    assert error(lambda: clear(client, "pair-0", drill_id, region=PRIMARY)) == (
        403,
        "OperationDenied.OperateNotAllowedForPrimary",
    )
    assert effects(emulator, "ClearPairDrill") == []
    # the primary region may describe; a third region may not
    assert (
        client.describe_pair_drills(m.DescribePairDrillsRequest(region_id=PRIMARY, pair_id="pair-0")).body.total_count
        == 1
    )
    other = m.DescribePairDrillsRequest(region_id=OTHER, pair_id="pair-0")
    assert error(lambda: client.describe_pair_drills(other)) == (404, "NoSuchResource")
    paging = m.DescribePairDrillsRequest(region_id=DR, pair_id="pair-0", max_results=501)
    assert error(lambda: client.describe_pair_drills(paging)) == (400, "InvalidParameter")


def test_execute_failures_and_paging(emulator: Emulator, client: Client) -> None:
    seed_basic(emulator)
    emulator.backend.set_drill_knobs("pair-2", execute_failures=2)
    ids = []
    for _ in range(3):
        ids.append(start(client, "pair-2"))
        emulator.advance(5)
    page1 = drills(client, "pair-2", max_results=2)
    assert page1.total_count == 3 and len(page1.drills) == 2 and page1.next_token
    page2 = drills(client, "pair-2", max_results=2, next_token=page1.next_token)
    assert page2.next_token == "" and len(page2.drills) == 1
    got = {d.drill_id: d for d in page1.drills + page2.drills}
    assert set(got) == set(ids)
    failed = [got[i] for i in ids[:2]]
    assert all((d.status, d.status_message, d.drill_disk_id, d.drill_disk_status) ==
               ("execute_failed", "PAIR_SYNCPOINT_NOT_FOUND", "", "") for d in failed)  # fmt: skip
    assert got[ids[2]].status == "executed"
    page_mode = drills(client, "pair-2", page_number=2, page_size=2)
    assert (page_mode.page_number, page_mode.page_size, len(page_mode.drills)) == (2, 2, 1)
    for drill_id in ids:
        clear(client, "pair-2", drill_id)
    emulator.advance(2)
    assert drills(client, "pair-2").drills == []


def test_clear_failures_are_retried_until_cleared(emulator: Emulator, client: Client) -> None:
    seed_basic(emulator)
    emulator.backend.set_drill_knobs("pair-0", clear_failures=2)
    drill_id = start(client, "pair-0")
    emulator.advance(5)
    disk_id = drills(client, "pair-0").drills[0].drill_disk_id
    for _ in range(2):
        clear(client, "pair-0", drill_id)
        emulator.advance(2)
        d = drills(client, "pair-0").drills[0]
        assert (d.status, d.drill_disk_status) == ("clear_failed", "created")
        assert ecs_disk(emulator, disk_id) is not None
    # the gateway answers InvalidStatus once (a fault rule on the drill's PairId); a retry goes through
    rule = FaultRule(
        action="ClearPairDrill",
        target="pair-0",
        count=1,
        error=FaultError(status=403, code="OperationDenied.InvalidStatus"),
    )
    emulator.faults.set([rule], emulator.clock.now(), 0)
    assert error(lambda: clear(client, "pair-0", drill_id)) == (403, "OperationDenied.InvalidStatus")
    clear(client, "pair-0", drill_id)
    emulator.advance(2)
    assert drills(client, "pair-0").drills == [] and ecs_disk(emulator, disk_id) is None
    assert [e["from"] for e in effects(emulator, "ClearPairDrill")] == ["executed", "clear_failed", "clear_failed"]


def test_group_drill(emulator: Emulator, client: Client) -> None:
    seed_basic(emulator)
    group = emulator.backend.record("group", "pg-1")
    assert group is not None
    req = m.StartReplicaGroupDrillRequest(region_id=PRIMARY, group_id="pg-1")
    assert error(lambda: client.start_replica_group_drill(req)) == (403, "OperationDenied.StartDrillShouldOnDestRegion")
    resp = client.start_replica_group_drill(
        m.StartReplicaGroupDrillRequest(region_id=DR, group_id="pg-1", client_token="g1")
    )
    drill_id = resp.body.drill_id
    assert drill_id.startswith("pg-drill-")
    emulator.advance(5)
    body = client.describe_replica_group_drills(m.DescribeReplicaGroupDrillsRequest(region_id=DR, group_id="pg-1")).body
    d = body.drills[0]
    assert (d.drill_id, d.group_id, d.status, d.recover_point) == (
        drill_id,
        "pg-1",
        "executed",
        group["LastRecoverPoint"],
    )
    assert [(p.pair_id, p.drill_disk_status) for p in d.pairs_info] == [("pair-g0", "created"), ("pair-g1", "created")]
    disks = [p.drill_disk_id for p in d.pairs_info]
    assert all(ecs_disk(emulator, x) is not None for x in disks) and len(set(disks)) == 2
    client.clear_replica_group_drill(m.ClearReplicaGroupDrillRequest(region_id=DR, group_id="pg-1", drill_id=drill_id))
    emulator.advance(2)
    after = client.describe_replica_group_drills(m.DescribeReplicaGroupDrillsRequest(region_id=DR, group_id="pg-1"))
    assert after.body.drills == [] and all(ecs_disk(emulator, x) is None for x in disks)
    assert [e["targetId"] for e in effects(emulator, "StartReplicaGroupDrill")] == [drill_id]
    assert [e["groupId"] for e in effects(emulator, "ClearReplicaGroupDrill")] == ["pg-1"]


def test_control_plane_knobs_and_listing(emulator: Emulator, client: Client, endpoint: str) -> None:
    seed_basic(emulator)
    base = f"http://{endpoint}/_emulator/drills"
    bad = requests.post(base, json={"target": "pair-1", "clearFailures": -1}, timeout=5)
    assert bad.status_code == 400
    ok = requests.post(base, json={"target": "pair-1", "executeFailures": 1}, timeout=5)
    assert ok.status_code == 200 and ok.json()["knobs"]["executeFailures"] == 1
    drill_id = start(client, "pair-1")
    emulator.advance(5)
    listed = requests.get(base, timeout=5).json()["drills"]
    assert [(d["DrillId"], d["TargetId"], d["Status"]) for d in listed] == [(drill_id, "pair-1", "execute_failed")]
