"""Helpers for the reverse-action tests: the event, the emulator's clock for the function's waits,
and the ledger's effects per (action, target)."""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

import pytest
from replica_failover.reverse import event
from replica_failover.reverse.run import Clock

from chaos.emulator.app import Emulator
from chaos.emulator.ecs.models import DiskRecord, InstanceRecord
from tests.conftest import DR, PRIMARY
from tests.function.conftest import Invoke
from tests.function.test_failover import ALERT, PRIMARY_PAIRS

TARGETS = [*PRIMARY_PAIRS, "pg-1"]
VERBS, NOUNS = ("Reprotect", "Start", "Failover", "Stop"), ("ReplicaPair", "ReplicaGroup")
WRITES = frozenset(f"{verb}Disk{noun}" for verb in VERBS for noun in NOUNS)


def incident_key(result: dict[str, Any]) -> str:
    return str(result["incident"]["incidentKey"])


def use_emulator_clock(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """The function's waits advance the emulator's clock instead of the wall's."""
    monkeypatch.setattr(event, "CLOCK", Clock(sleep=lambda s: emulator.advance(float(s))))


ALL_UNDO: dict[str, Any] = {"pairIds": PRIMARY_PAIRS, "groupIds": ["pg-1"]}  # the alarm's targets on the primary region


def body(
    action: str, *, dry_run: bool, change: str = "CHG-1", incident: str | None = None, **extra: Any
) -> dict[str, Any]:
    """The event; an undo's incidentKey is ``incident`` (default: the change id itself)."""
    out: dict[str, Any] = {"action": action, "dryRun": dry_run, "primaryRegion": PRIMARY, "drRegion": DR}
    out["changeId"] = change
    if action == "undo":
        out["incidentKey"] = incident or change
    out.update(extra)
    return out


def act(invoke: Invoke, endpoint: str, payload: dict[str, Any], **env: str) -> dict[str, Any]:
    return invoke(payload, ECS_ENDPOINT=f"http://{endpoint}", **env)


def effects(emulator: Emulator) -> Counter[tuple[str, str]]:
    return Counter((e["action"], e["targetId"]) for e in emulator.ledger.snapshot()["effects"])


def write_requests(emulator: Emulator) -> list[dict[str, Any]]:
    return [r for r in emulator.ledger.snapshot()["requests"] if r["action"] in WRITES]


def by_id(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["id"]: t for t in result["targets"]}


def fail_over(emulator: Emulator, invoke: Invoke, trans_id: str = "t-1") -> dict[str, Any]:
    """The function's alarm path fails the primary region's targets over."""
    result = invoke({**ALERT, "transId": trans_id})
    assert result["status"] == "completed", result
    emulator.advance(5)
    return result


def attach(emulator: Emulator, region: str, disk_id: str, instance: str = "i-app") -> None:
    emulator.ecs.seed_instances(
        [InstanceRecord(InstanceId=instance, RegionId=region, ZoneId=f"{region}-a", Status="Running")]
    )
    emulator.ecs.seed_disks(
        [DiskRecord(DiskId=disk_id, RegionId=region, ZoneId=f"{region}-a", Status="In_use", InstanceId=instance,
                    Device="/dev/xvdb")]
    )  # fmt: skip


def detach(emulator: Emulator, disk_id: str) -> None:
    disk = emulator.ecs.backend.disks[disk_id]
    disk.InstanceId, disk.Status, disk.Device = "", "Available", ""


def route_of(emulator: Emulator, kind: Literal["pair", "group"], rid: str) -> tuple[str, str, str]:
    rec = emulator.backend.record(kind, rid)
    assert rec is not None
    if kind == "pair":
        return rec["Status"], rec["SourceRegion"], rec["DestinationRegion"]
    return rec["Status"], rec["SourceRegionId"], rec["DestinationRegionId"]
