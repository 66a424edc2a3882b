"""Reverse actions, safety: a DR side that may serve writes blocks undo and failback (unreadable ECS,
a disk ECS does not list, a disk attached between the plan and the Failover); undo's tokens are its
change id's; undo needs a scope; the deployment's allow/deny lists, tags and cap apply; transient
errors are pending; a target stopped after this change's Start is not started again. Ledger-asserted."""

from __future__ import annotations

import dataclasses
import io
import json
from datetime import datetime, timezone
from typing import Any, cast

import pytest
from replica_failover.handler import handle
from replica_failover.reverse import event
from replica_failover.reverse.run import Clock

from chaos.emulator.app import Emulator
from chaos.emulator.faults import FaultError, FaultRule
from tests.conftest import DR, seed_basic
from tests.function.conftest import Invoke, base_env, fc_context
from tests.function.reverse_world import (
    act,
    attach,
    body,
    by_id,
    effects,
    fail_over,
    route_of,
    use_emulator_clock,
    write_requests,
)
from tests.function.test_failover import set_faults


@pytest.fixture(autouse=True)
def _clock(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    use_emulator_clock(emulator, monkeypatch)


def dr_disk(emulator: Emulator, pid: str) -> str:
    """The DR side's disk of a pair, whichever way it replicates now."""
    rec = emulator.backend.record("pair", pid)
    assert rec is not None
    return str(rec["SourceDiskId"] if rec["SourceRegion"] == DR else rec["DestinationDiskId"])


def reprotected(emulator: Emulator, invoke: Invoke, endpoint: str) -> None:
    """pair-0..2 failed over, reprotected and copied back: where a failback starts."""
    seed_basic(emulator, with_group=False)
    fail_over(emulator, invoke)
    done = act(invoke, endpoint, body("reprotect", dry_run=False, change="CHG-R", pairIds=["pair-0", "pair-1"]))
    assert done["status"] == "completed", done
    emulator.advance(10)
    assert route_of(emulator, "pair", "pair-0")[0] == "normal"


def failbacks(emulator: Emulator) -> list[dict[str, Any]]:
    return [r for r in write_requests(emulator) if r["action"].startswith("Failover") and r["regionId"] != DR]


# ------------------------------------------------------------------ 1. split brain
def test_failback_with_the_dr_region_unreadable_is_blocked(emulator: Emulator, invoke: Invoke, endpoint: str) -> None:
    reprotected(emulator, invoke, endpoint)
    set_faults(emulator, FaultRule(service="ecs", region=DR, error=FaultError(status=503)))
    result = act(invoke, endpoint, body("failback", dry_run=False, change="CHG-FB", pairIds=["pair-0"]))
    t = by_id(result)["pair-0"]
    assert result["status"] == "failed" and t["outcome"] == "blocked", result
    assert t["preconditions"][0]["state"] == "unknown" and "check the DR side's disks" in t["reason"]
    assert failbacks(emulator) == []


def test_failback_with_a_dr_disk_ecs_does_not_list_is_blocked(
    emulator: Emulator, invoke: Invoke, endpoint: str
) -> None:
    reprotected(emulator, invoke, endpoint)
    emulator.ecs.backend.disks.pop(dr_disk(emulator, "pair-0"))  # e.g. another account, or a stale id
    result = act(invoke, endpoint, body("failback", dry_run=False, change="CHG-FB", pairIds=["pair-0", "pair-1"]))
    blocked, fine = by_id(result)["pair-0"], by_id(result)["pair-1"]
    assert blocked["outcome"] == "blocked" and "not listed by ECS" in blocked["reason"], result
    assert blocked["preconditions"][0]["code"] == "DiskNotListed"
    assert fine["outcome"] == "done"
    assert {r.get("target") for r in failbacks(emulator)} == {"pair-1"}


def test_undo_with_the_dr_region_unreadable_is_blocked(emulator: Emulator, invoke: Invoke, endpoint: str) -> None:
    seed_basic(emulator, with_group=False)
    fail_over(emulator, invoke)
    writes = len(write_requests(emulator))
    set_faults(emulator, FaultRule(service="ecs", region=DR, error=FaultError(status=503)))
    result = act(invoke, endpoint, body("undo", dry_run=False, change="U-1", incident="inc-1", pairIds=["pair-0"]))
    assert result["status"] == "failed" and by_id(result)["pair-0"]["outcome"] == "blocked", result
    assert len(write_requests(emulator)) == writes


def test_a_dr_disk_attached_while_the_failback_waits_blocks_the_failover(
    emulator: Emulator, invoke: Invoke, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reprotected(emulator, invoke, endpoint)
    emulator.backend.flip("pair", "pair-0", "syncing")  # the plan finds it copying back: the failback waits
    disk = dr_disk(emulator, "pair-0")

    def sleep(seconds: float) -> None:  # while it waits, someone mounts the DR copy and the cycle completes
        if not emulator.ecs.backend.is_attached(disk):
            attach(emulator, DR, disk)
            emulator.backend.flip("pair", "pair-0", "normal")
        emulator.advance(float(seconds))

    monkeypatch.setattr(event, "CLOCK", Clock(sleep=sleep))
    result = act(invoke, endpoint, body("failback", dry_run=False, change="CHG-FB", pairIds=["pair-0"]))
    t = by_id(result)["pair-0"]
    assert t["outcome"] == "blocked" and t["reason"].startswith("before the Failover"), result
    assert t["preconditions"][0]["state"] == "failed" and "i-app" in t["preconditions"][0]["detail"]
    assert failbacks(emulator) == []


# ------------------------------------------------------------------ 2. undo tokens per change id
def test_a_second_false_alarm_of_the_same_rule_is_undone_with_a_new_change_id(
    emulator: Emulator, invoke: Invoke, endpoint: str
) -> None:
    seed_basic(emulator, with_group=False)
    fail_over(emulator, invoke)
    scope = {"pairIds": ["pair-0"]}
    first = act(invoke, endpoint, body("undo", dry_run=False, change="U-1", incident="inc-same", **scope))
    assert first["status"] == "completed" and first["incidentKey"] == "inc-same", first
    emulator.advance(10)
    emulator.backend.flip("pair", "pair-0", "failovered")  # the same rule fires again: failed over again
    again = act(invoke, endpoint, body("undo", dry_run=False, change="U-1", incident="inc-same", **scope))
    t = by_id(again)["pair-0"]
    assert t["outcome"] == "failed" and "run again with a new change id" in t["reason"], again
    fresh = act(invoke, endpoint, body("undo", dry_run=False, change="U-2", incident="inc-same", **scope))
    assert fresh["status"] == "completed" and by_id(fresh)["pair-0"]["outcome"] == "done", fresh
    assert effects(emulator)[("ReprotectDiskReplicaPair", "pair-0")] == 2
    assert effects(emulator)[("StartDiskReplicaPair", "pair-0")] == 2


# ------------------------------------------------------------------ 3. undo is scoped
def test_undo_without_ids_or_tags_is_rejected(emulator: Emulator, invoke: Invoke, endpoint: str) -> None:
    seed_basic(emulator)
    fail_over(emulator, invoke)
    writes = len(write_requests(emulator))
    result = act(invoke, endpoint, body("undo", dry_run=False, change="U-1", incident="inc-1"))
    assert result["status"] == "rejected" and "undo needs pairIds, groupIds or tags" in result["reason"]
    no_change = body("undo", dry_run=True, change="U-1", incident="inc-1", pairIds=["pair-0"])
    del no_change["changeId"]
    assert "changeId" in act(invoke, endpoint, no_change)["reason"]
    assert len(write_requests(emulator)) == writes


# ------------------------------------------------------------------ 4. the deployment's scope
def test_the_deployments_allow_deny_lists_tags_and_cap_apply(emulator: Emulator, invoke: Invoke, endpoint: str) -> None:
    seed_basic(emulator, with_group=False)
    fail_over(emulator, invoke)
    writes = len(write_requests(emulator))
    deny = {"FAILOVER_DENY_PAIR_IDS": "pair-1"}
    named = act(invoke, endpoint, body("reprotect", dry_run=True, change="C-1", pairIds=["pair-1"]), **deny)
    assert named["status"] == "rejected" and "allow/deny list" in named["reason"], named
    plan = act(invoke, endpoint, body("reprotect", dry_run=True, change="C-1"), **deny)
    assert set(by_id(plan)) == {"pair-0", "pair-2"}, plan
    capped = act(
        invoke, endpoint, body("reprotect", dry_run=True, change="C-1", maxTargets=9), FAILOVER_MAX_TARGETS="2"
    )
    assert capped["status"] == "rejected" and "maxTargets=2" in capped["reason"], capped
    tagged = act(invoke, endpoint, body("reprotect", dry_run=True, change="C-1"), FAILOVER_TAGS="team=nobody")
    assert tagged["status"] == "planned" and tagged["targets"] == [], tagged
    assert len(write_requests(emulator)) == writes


# ------------------------------------------------------------------ 6. transient errors are pending
def test_a_503_on_the_verify_is_pending_not_done(
    emulator: Emulator, invoke: Invoke, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_basic(emulator, with_group=False)
    fail_over(emulator, invoke)
    emulator.update_config({"transitionDelays": {"reprotecting": 1_000.0}})
    monkeypatch.setattr("replica_failover.reverse.run.MAX_ROUNDS", 5)
    payload = body("undo", dry_run=False, change="U-9", incident="inc-9", pairIds=["pair-0"])
    assert act(invoke, endpoint, payload)["status"] == "pending"  # reprotecting at the deadline
    emulator.advance(1_001)  # stopped now: the retry verifies its Reprotect before the Start
    set_faults(emulator, FaultRule(action="ReprotectDiskReplicaPair", error=FaultError(status=503)))
    result = act(invoke, endpoint, payload, FAILOVER_RETRY_BUDGET="2", FAILOVER_RETRY_RATE="0")
    t = by_id(result)["pair-0"]
    assert result["status"] == "pending" and result["raised"] and t["outcome"] == "pending", result
    assert result["summary"]["pending"] == 1 and "ServiceUnavailable" in t["reason"]
    assert [s["state"] for s in t["steps"]] == ["refused", "todo"]  # the verify had no answer; no Start sent
    assert effects(emulator)[("StartDiskReplicaPair", "pair-0")] == 0


def test_a_step_without_an_answer_past_the_budget_is_pending(emulator: Emulator, invoke: Invoke, endpoint: str) -> None:
    seed_basic(emulator, with_group=False)
    fail_over(emulator, invoke)
    set_faults(emulator, FaultRule(action="ReprotectDiskReplicaPair", error=FaultError(status=503)))
    payload = body("reprotect", dry_run=False, change="C-5", pairIds=["pair-0"])
    result = act(invoke, endpoint, payload, FAILOVER_RETRY_BUDGET="2", FAILOVER_RETRY_RATE="0")
    t = by_id(result)["pair-0"]
    assert result["status"] == "pending" and result["raised"] and t["outcome"] == "pending", result
    assert "ServiceUnavailable" in t["reason"] and result["summary"]["failed"] == 0
    set_faults(emulator)
    assert act(invoke, endpoint, payload)["status"] == "completed"


# ------------------------------------------------------------------ 7. credentials
def test_missing_credentials_answer_failed_json(emulator: Emulator, invoke: Invoke, endpoint: str) -> None:
    seed_basic(emulator, with_group=False)
    fail_over(emulator, invoke)
    writes = len(write_requests(emulator))
    context = dataclasses.replace(
        fc_context(emulator), credentials=cast(Any, None)
    )  # a role-less function, no AK in env
    logs = io.StringIO()
    payload = body("reprotect", dry_run=False, change="C-6", pairIds=["pair-0"])
    result = handle(json.dumps(payload), context, env=base_env(endpoint), log_stream=logs)
    assert result["status"] == "failed" and not result["ok"], result
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" in result["reason"]
    assert any(json.loads(line).get("event") == "reverse-config" for line in logs.getvalue().splitlines())
    assert len(write_requests(emulator)) == writes


# ------------------------------------------------------------------ 8. stopped on purpose
def test_a_target_stopped_after_this_changes_start_is_not_started_again(
    emulator: Emulator, invoke: Invoke, endpoint: str
) -> None:
    seed_basic(emulator, with_group=False)
    fail_over(emulator, invoke)
    payload = body("undo", dry_run=False, change="U-7", incident="inc-7", pairIds=["pair-0"])
    assert act(invoke, endpoint, payload)["status"] == "completed"
    emulator.advance(10)
    emulator.backend.flip("pair", "pair-0", "stopped")  # the operator stops it on purpose
    result = act(invoke, endpoint, payload)
    t = by_id(result)["pair-0"]
    assert t["outcome"] == "skipped" and "stopped after this change's Start" in t["reason"], result
    assert effects(emulator)[("StartDiskReplicaPair", "pair-0")] == 1
    assert route_of(emulator, "pair", "pair-0")[0] == "stopped"


# ------------------------------------------------------------------ 9. the failback's data-loss window
def detach_now(emulator: Emulator, disk_id: str) -> int:
    """The DR copy was mounted and written after the last cycle, then detached now (ECS: to the minute)."""
    attach(emulator, DR, disk_id)
    disk = emulator.ecs.backend.disks[disk_id]
    now = emulator.clock.now()
    disk.InstanceId, disk.Status, disk.Device = "", "Available", ""
    disk.DetachedTime = datetime.fromtimestamp(now, tz=timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
    return int(now)


def test_failback_waits_for_a_cycle_after_the_dr_disks_were_detached(
    emulator: Emulator, invoke: Invoke, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.update_config({"replicationCycleSeconds": 120.0})
    reprotected(emulator, invoke, endpoint)
    emulator.advance(30)
    detached = detach_now(emulator, dr_disk(emulator, "pair-0"))
    rec = emulator.backend.record("pair", "pair-0")
    assert rec is not None and rec["LastRecoverPoint"] < detached
    payload = body("failback", dry_run=False, change="CHG-FB", pairIds=["pair-0"])
    plan = act(invoke, endpoint, {**payload, "dryRun": True})
    assert "the Failover waits for a replication cycle after DetachedTime" in by_id(plan)["pair-0"]["reason"], plan
    monkeypatch.setattr("replica_failover.reverse.run.MAX_ROUNDS", 5)  # the deadline, before the next cycle
    held = act(invoke, endpoint, payload)
    t = by_id(held)["pair-0"]
    assert held["status"] == "pending" and held["raised"] and t["outcome"] == "pending", held
    assert "after the DR disks were detached" in t["reason"]
    assert failbacks(emulator) == []
    monkeypatch.setattr("replica_failover.reverse.run.MAX_ROUNDS", 2_000)
    done = act(invoke, endpoint, payload)  # FC's retry: it waits out the cycle, then fails over
    assert done["status"] == "completed" and by_id(done)["pair-0"]["outcome"] == "done", done
    sent = failbacks(emulator)
    assert len(sent) == 1 and float(sent[0]["time"]) >= detached + 60
