"""Site semantics, reprotect/start disk preconditions, group direction after reprotect and unknown ids,
through the official V2 SDK against the emulator, ledger-asserted."""

from __future__ import annotations

from typing import Any

import pytest
from alibabacloud_ebs20210730 import models as m
from alibabacloud_ebs20210730.client import Client

from chaos.emulator.app import Emulator
from chaos.emulator.ebs.models import GroupRecord, PairRecord
from chaos.emulator.ecs.models import DiskRecord, InstanceRecord
from chaos.emulator.faults import FaultError, FaultRule
from tests.conftest import DR, OTHER, PRIMARY, seed_basic
from tests.emulator.ebs_v2 import error, v2_client


@pytest.fixture
def client(endpoint: str, emulator: Emulator) -> Client:
    return v2_client(endpoint, emulator)


def effects(emulator: Emulator, action: str) -> list[dict[str, Any]]:
    return [e for e in emulator.ledger.snapshot()["effects"] if e["action"] == action]


def describe(client: Client, region: str, site: str, **kw: Any) -> Any:
    req = m.DescribeDiskReplicaPairsRequest(region_id=region, site=site, max_results=100, **kw)
    return client.describe_disk_replica_pairs(req).body


def outage(emulator: Emulator, region: str) -> None:
    rule = FaultRule(region=region, error=FaultError(status=503, code="ServiceUnavailable"))
    emulator.faults.set([rule], emulator.clock.now(), 0)


# ------------------------------------------------------------------ Site
def test_production_view_is_served_by_the_source_region(emulator: Emulator, client: Client) -> None:
    seed_basic(emulator, with_group=False)
    outage(emulator, PRIMARY)
    # the DR endpoint is up, but the production records live in the primary region
    assert error(lambda: describe(client, DR, "production")) == (503, "ServiceUnavailable")
    group_req = m.DescribeDiskReplicaGroupsRequest(region_id=DR, site="production")
    emulator.backend.seed_groups([GroupRecord(ReplicaGroupId="pg-9", SourceRegionId=PRIMARY, DestinationRegionId=DR)])
    assert error(lambda: client.describe_disk_replica_groups(group_req)) == (503, "ServiceUnavailable")
    backup = describe(client, DR, "backup")
    assert backup.total_count == 4 and {p.site for p in backup.replica_pairs} == {"backup"}
    # a request to the region that is out fails whatever the site
    assert error(lambda: describe(client, PRIMARY, "backup")) == (503, "ServiceUnavailable")
    failed = [r for r in emulator.ledger.snapshot()["requests"] if r.get("code") == "ServiceUnavailable"]
    assert [(r["regionId"], r["site"]) for r in failed] == [(DR, "production"), (DR, "production"), (PRIMARY, "backup")]


def test_backup_view_is_served_by_the_region_asked(emulator: Emulator, client: Client) -> None:
    seed_basic(emulator, with_group=False)
    emulator.backend.seed_pairs([PairRecord(ReplicaPairId="pair-back", SourceRegion=DR, DestinationRegion=PRIMARY)])
    outage(emulator, PRIMARY)
    # from the DR region the backup view answers during the outage, the reverse pair (backup: PRIMARY) too
    assert describe(client, DR, "backup").total_count == 5
    assert error(lambda: describe(client, DR, "production")) == (503, "ServiceUnavailable")
    outage(emulator, DR)
    assert describe(client, OTHER, "backup").total_count == 1  # pair-other: OTHER asked, OTHER answers
    assert describe(client, OTHER, "production").total_count == 1  # its source is OTHER itself


def test_outage_of_an_unrelated_region_does_not_touch_a_view(emulator: Emulator, client: Client) -> None:
    emulator.backend.seed_pairs([PairRecord(ReplicaPairId="pair-a", SourceRegion=PRIMARY, DestinationRegion=DR)])
    outage(emulator, OTHER)
    assert describe(client, DR, "production").total_count == 1
    assert describe(client, DR, "backup").total_count == 1


# -------------------------------------------------- reprotect and start preconditions
def seed_failed_over(emulator: Emulator, *, primary_attached: bool, secondary_attached: bool) -> None:
    emulator.backend.seed_pairs(
        [PairRecord(ReplicaPairId="pair-r", SourceRegion=PRIMARY, DestinationRegion=DR, Status="failovered",
                    SourceDiskId="d-prim", DestinationDiskId="d-sec")]
    )  # fmt: skip
    emulator.ecs.seed_instances(
        [
            InstanceRecord(InstanceId="i-prim", RegionId=PRIMARY, ZoneId=f"{PRIMARY}-a", Status="Running"),
            InstanceRecord(InstanceId="i-dr", RegionId=DR, ZoneId=f"{DR}-b", Status="Running"),
        ]
    )
    on_prim, on_dr = ("i-prim" if primary_attached else ""), ("i-dr" if secondary_attached else "")
    emulator.ecs.seed_disks(
        [
            DiskRecord(DiskId="d-prim", RegionId=PRIMARY, ZoneId=f"{PRIMARY}-a", InstanceId=on_prim,
                       Device="/dev/xvdb" if on_prim else ""),
            DiskRecord(DiskId="d-sec", RegionId=DR, ZoneId=f"{DR}-b", InstanceId=on_dr,
                       Device="/dev/xvdb" if on_dr else ""),
        ]
    )  # fmt: skip


def reprotect(client: Client, reverse: bool, region: str = DR) -> None:
    req = m.ReprotectDiskReplicaPairRequest(region_id=region, replica_pair_id="pair-r", reverse_replicate=reverse)
    client.reprotect_disk_replica_pair(req)


def start_pair(client: Client, region: str = DR) -> None:
    client.start_disk_replica_pair(m.StartDiskReplicaPairRequest(region_id=region, replica_pair_id="pair-r"))


def test_reverse_reprotect_needs_the_primary_disk_detached(emulator: Emulator, client: Client) -> None:
    seed_failed_over(emulator, primary_attached=True, secondary_attached=True)
    assert error(lambda: reprotect(client, True)) == (403, "OperationDenied")
    assert effects(emulator, "ReprotectDiskReplicaPair") == []
    pair = emulator.backend.record("pair", "pair-r")
    assert pair is not None and (pair["Status"], pair["SourceRegion"]) == ("failovered", PRIMARY)
    emulator.ecs.backend.disks["d-prim"].InstanceId = ""
    emulator.ecs.backend.disks["d-prim"].Status = "Available"
    reprotect(client, True)
    emulator.advance(1)
    pair = emulator.backend.record("pair", "pair-r")
    assert pair is not None and (pair["Status"], pair["SourceRegion"], pair["SourceDiskId"]) == ("stopped", DR, "d-sec")
    # the new secondary is the old primary, detached: replication back may start (from either region)
    start_pair(client, PRIMARY)
    assert [(e["from"], e["to"]) for e in effects(emulator, "StartDiskReplicaPair")] == [("stopped", "syncing")]


def test_undo_keeps_direction_and_start_refuses_an_attached_secondary(emulator: Emulator, client: Client) -> None:
    seed_failed_over(emulator, primary_attached=True, secondary_attached=True)
    reprotect(client, False)  # a false alarm: the primary kept running, attached
    emulator.advance(1)
    pair = emulator.backend.record("pair", "pair-r")
    assert pair is not None and (pair["Status"], pair["SourceRegion"]) == ("stopped", PRIMARY)
    assert error(lambda: start_pair(client)) == (400, "OperationDenied.StandbyDeviceAttached")
    assert effects(emulator, "StartDiskReplicaPair") == []
    emulator.ecs.backend.disks["d-sec"].InstanceId = ""
    emulator.ecs.backend.disks["d-sec"].Status = "Available"
    start_pair(client)
    assert [e["reverseReplicate"] for e in effects(emulator, "ReprotectDiskReplicaPair")] == [False]
    assert len(effects(emulator, "StartDiskReplicaPair")) == 1


def test_group_start_refuses_an_attached_member_secondary(emulator: Emulator, client: Client) -> None:
    seed_basic(emulator)
    emulator.backend.flip("group", "pg-1", "stopped")
    for pid in ("pair-g0", "pair-g1"):
        emulator.backend.flip("pair", pid, "stopped")
    member = emulator.backend.record("pair", "pair-g1")
    assert member is not None
    emulator.ecs.seed_instances([InstanceRecord(InstanceId="i-dr", RegionId=DR, ZoneId=f"{DR}-b", Status="Running")])
    emulator.ecs.seed_disks(
        [
            DiskRecord(
                DiskId=member["DestinationDiskId"], RegionId=DR, ZoneId=f"{DR}-b", InstanceId="i-dr", Device="/dev/xvdc"
            )
        ]
    )
    req = m.StartDiskReplicaGroupRequest(region_id=DR, replica_group_id="pg-1")
    assert error(lambda: client.start_disk_replica_group(req)) == (400, "OperationDenied.StandbyDeviceAttached")
    assert effects(emulator, "StartDiskReplicaGroup") == []


# ------------------------------------------------ group Source/Destination after reprotect
@pytest.mark.parametrize("swaps", [True, False])
def test_group_reverse_reprotect_site_fields_and_failback(emulator: Emulator, client: Client, swaps: bool) -> None:
    seed_basic(emulator)
    emulator.update_config({"groupReprotectSwapsSite": swaps})
    client.failover_disk_replica_group(m.FailoverDiskReplicaGroupRequest(region_id=DR, replica_group_id="pg-1"))
    emulator.advance(1)
    req = m.ReprotectDiskReplicaGroupRequest(region_id=DR, replica_group_id="pg-1", reverse_replicate=True)
    client.reprotect_disk_replica_group(req)
    emulator.advance(1)
    body = client.describe_disk_replica_groups(m.DescribeDiskReplicaGroupsRequest(region_id=DR, group_ids="pg-1")).body
    g = body.replica_groups[0]
    expected_source = DR if swaps else PRIMARY
    assert (g.source_region_id, g.destination_region_id) == (expected_source, PRIMARY if swaps else DR)
    assert (g.primary_region, g.standby_region, g.status) == (PRIMARY, DR, "stopped")
    members = describe(client, DR, "backup", replica_group_id="pg-1").replica_pairs
    assert {(p.source_region, p.destination_region) for p in members} == {(DR, PRIMARY)}  # members swap either way
    # failback: start the reverse replication, then fail over to the original primary region
    client.start_disk_replica_group(m.StartDiskReplicaGroupRequest(region_id=DR, replica_group_id="pg-1"))
    emulator.advance(5)
    wrong = m.FailoverDiskReplicaGroupRequest(region_id=DR, replica_group_id="pg-1")
    assert error(lambda: client.failover_disk_replica_group(wrong)) == (
        403,
        "OperationDenied.OperateNotAllowedForPrimary",
    )
    client.failover_disk_replica_group(m.FailoverDiskReplicaGroupRequest(region_id=PRIMARY, replica_group_id="pg-1"))
    assert [e["regionId"] for e in emulator.ledger.snapshot()["requests"] if e["action"] == "FailoverDiskReplicaGroup"
            and e["status"] == 200] == [DR, PRIMARY]  # fmt: skip
    assert [e["reverseReplicate"] for e in effects(emulator, "ReprotectDiskReplicaGroup")] == [True]


# ------------------------------------------------ describe naming unknown ids
def test_unknown_ids_empty_by_default(emulator: Emulator, client: Client) -> None:
    seed_basic(emulator)
    body = describe(client, DR, "backup", pair_ids="pair-0,pair-missing")
    assert [p.replica_pair_id for p in body.replica_pairs] == ["pair-0"]


def test_unknown_ids_no_such_resource_when_configured(emulator: Emulator, client: Client) -> None:
    seed_basic(emulator)
    emulator.update_config({"describeUnknownIds": "NoSuchResource"})
    assert error(lambda: describe(client, DR, "backup", pair_ids="pair-0,pair-missing")) == (404, "NoSuchResource")
    groups = m.DescribeDiskReplicaGroupsRequest(region_id=DR, group_ids="pg-nope")
    assert error(lambda: client.describe_disk_replica_groups(groups)) == (404, "NoSuchResource")
    assert [p.replica_pair_id for p in describe(client, DR, "backup", pair_ids="pair-0").replica_pairs] == ["pair-0"]
    drill = m.DescribePairDrillsRequest(region_id=DR, pair_id="pair-missing")
    assert error(lambda: client.describe_pair_drills(drill)) == (404, "NoSuchResource")
