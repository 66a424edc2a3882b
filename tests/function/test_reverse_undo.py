"""undo (a false alarm) through the handler against the emulator, V2 SDK, ledger-asserted."""

from __future__ import annotations

import pytest

from chaos.emulator.app import Emulator
from tests.conftest import DR, PRIMARY, seed_basic
from tests.function.conftest import Invoke
from tests.function.reverse_world import (
    ALL_UNDO,
    TARGETS,
    act,
    attach,
    body,
    by_id,
    effects,
    fail_over,
    incident_key,
    route_of,
    use_emulator_clock,
    write_requests,
)


@pytest.fixture(autouse=True)
def _clock(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    use_emulator_clock(emulator, monkeypatch)


def test_undo_dry_run_plans_every_call_and_writes_nothing(emulator: Emulator, invoke: Invoke, endpoint: str) -> None:
    seed_basic(emulator)
    first = fail_over(emulator, invoke)
    writes = len(write_requests(emulator))
    result = act(invoke, endpoint, body("undo", dry_run=True, change=incident_key(first), **ALL_UNDO))
    assert result["status"] == "planned" and result["ok"] and not result["raised"], result
    assert len(write_requests(emulator)) == writes  # zero writes
    plans = by_id(result)
    assert set(plans) == set(TARGETS)  # pair-other is on another route
    for tid in TARGETS:
        steps = plans[tid]["steps"]
        assert [(s["step"], s["region"], s["reverseReplicate"], s["state"]) for s in steps] == [
            ("reprotect-keep", DR, False, "todo"),
            ("start", DR, None, "todo"),
        ]
        assert all(s["clientToken"].startswith("rv-") and len(s["clientToken"]) == 43 for s in steps)
        assert plans[tid]["preconditions"][0]["name"] == "drDisksDetached"
        assert plans[tid]["preconditions"][0]["state"] == "ok"
    assert plans["pg-1"]["steps"][0]["call"] == "ReprotectDiskReplicaGroup"
    assert plans["pg-1"]["members"] == ["pair-g0", "pair-g1"]


def test_undo_restores_replication_once_and_a_duplicate_adds_nothing(
    emulator: Emulator, invoke: Invoke, endpoint: str
) -> None:
    seed_basic(emulator)
    first = fail_over(emulator, invoke)
    before = effects(emulator)
    result = act(invoke, endpoint, body("undo", dry_run=False, change=incident_key(first), **ALL_UNDO))
    assert result["status"] == "completed" and result["ok"], result
    assert {by_id(result)[t]["outcome"] for t in TARGETS} == {"done"}
    gained = effects(emulator) - before
    expected = {(f"{v}DiskReplicaPair", p): 1 for v in ("Reprotect", "Start") for p in TARGETS[:-1]}
    expected.update({("ReprotectDiskReplicaGroup", "pg-1"): 1, ("StartDiskReplicaGroup", "pg-1"): 1})
    assert dict(gained) == expected
    reprotects = [e for e in emulator.ledger.snapshot()["effects"] if e["action"].startswith("Reprotect")]
    assert {e["reverseReplicate"] for e in reprotects} == {False}
    emulator.advance(10)
    assert {route_of(emulator, "pair", p) for p in TARGETS[:-1]} == {("normal", PRIMARY, DR)}
    assert route_of(emulator, "group", "pg-1") == ("normal", PRIMARY, DR)
    # the same event again (a duplicate, or FC's retry): state first, nothing to do, no write
    writes = len(write_requests(emulator))
    again = act(invoke, endpoint, body("undo", dry_run=False, change=incident_key(first), **ALL_UNDO))
    assert again["status"] == "completed" and {by_id(again)[t]["outcome"] for t in TARGETS} == {"alreadyDone"}
    assert len(write_requests(emulator)) == writes


def test_undo_blocked_by_an_attached_dr_disk_makes_no_write(emulator: Emulator, invoke: Invoke, endpoint: str) -> None:
    seed_basic(emulator)
    first = fail_over(emulator, invoke)
    rec = emulator.backend.record("pair", "pair-1")
    assert rec is not None
    attach(emulator, DR, rec["DestinationDiskId"])  # someone mounted the DR copy after the failover
    writes = {(r["action"], r.get("target")) for r in write_requests(emulator)}
    result = act(invoke, endpoint, body("undo", dry_run=False, change=incident_key(first), pairIds=["pair-1"]))
    assert result["status"] == "failed" and not result["raised"]
    t = by_id(result)["pair-1"]
    assert t["outcome"] == "blocked" and "OperationDenied.StandbyDeviceAttached" in t["reason"]
    assert t["preconditions"][0]["state"] == "failed" and "i-app" in t["preconditions"][0]["detail"]
    assert {(r["action"], r.get("target")) for r in write_requests(emulator)} == writes
