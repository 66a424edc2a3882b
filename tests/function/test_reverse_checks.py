"""Reverse actions: preconditions (read, or unknown when the old primary's region cannot be read),
bad input (zero writes, no credential in the answer), a stopped target this change did not stop,
and pending work at the deadline (the handler raises so FC retries)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chaos.emulator.app import Emulator
from chaos.emulator.config import DEFAULT_STS_ACCESS_KEY_ID
from chaos.emulator.faults import FaultError, FaultRule
from tests.conftest import PRIMARY, seed_basic
from tests.function.conftest import Invoke
from tests.function.reverse_world import (
    act,
    attach,
    body,
    by_id,
    detach,
    effects,
    fail_over,
    incident_key,
    use_emulator_clock,
    write_requests,
)
from tests.function.test_failover import set_faults


@pytest.fixture(autouse=True)
def _clock(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    use_emulator_clock(emulator, monkeypatch)


def primary_disk(emulator: Emulator, pid: str) -> str:
    rec = emulator.backend.record("pair", pid)
    assert rec is not None
    return str(rec["SourceDiskId"])


def test_reprotect_with_the_old_primary_disk_attached_is_refused_before_the_write(
    emulator: Emulator, invoke: Invoke, endpoint: str
) -> None:
    seed_basic(emulator)
    fail_over(emulator, invoke)
    attach(emulator, PRIMARY, primary_disk(emulator, "pair-0"))
    writes = len(write_requests(emulator))
    result = act(invoke, endpoint, body("reprotect", dry_run=False, change="CHG-2", pairIds=["pair-0", "pair-1"]))
    assert result["status"] == "failed" and not result["ok"] and not result["raised"]
    blocked, fine = by_id(result)["pair-0"], by_id(result)["pair-1"]
    assert (
        blocked["outcome"] == "blocked"
        and "(the API is expected to answer OperationDenied [inferred])" in blocked["reason"]
    )
    assert blocked["preconditions"][0]["state"] == "failed" and blocked["preconditions"][0]["code"] == "OperationDenied"
    assert fine["outcome"] == "done"
    mine = [r for r in write_requests(emulator)[writes:]]
    assert {r.get("target") for r in mine} == {"pair-1"}  # nothing was sent for pair-0
    # detached: the same change goes on
    detach(emulator, primary_disk(emulator, "pair-0"))
    again = act(invoke, endpoint, body("reprotect", dry_run=False, change="CHG-2", pairIds=["pair-0", "pair-1"]))
    assert again["status"] == "completed" and by_id(again)["pair-0"]["outcome"] == "done"
    assert by_id(again)["pair-1"]["outcome"] == "alreadyDone"


def test_unreadable_old_primary_region_is_unknown_and_the_api_refusal_is_reported(
    emulator: Emulator, invoke: Invoke, endpoint: str
) -> None:
    seed_basic(emulator)
    fail_over(emulator, invoke)
    attach(emulator, PRIMARY, primary_disk(emulator, "pair-0"))
    set_faults(emulator, FaultRule(service="ecs", region=PRIMARY, error=FaultError(status=503)))
    plan = act(invoke, endpoint, body("reprotect", dry_run=True, change="CHG-3", pairIds=["pair-0"]))
    pre = by_id(plan)["pair-0"]["preconditions"][0]
    assert (pre["state"], pre["code"]) == ("unknown", "ServiceUnavailable")
    before = effects(emulator)
    result = act(invoke, endpoint, body("reprotect", dry_run=False, change="CHG-3", pairIds=["pair-0"]))
    t = by_id(result)["pair-0"]
    assert result["status"] == "failed" and t["outcome"] == "failed"
    assert t["steps"][0]["state"] == "refused" and t["steps"][0]["code"] == "OperationDenied"
    assert "OperationDenied (HTTP 403)" in t["reason"]
    assert effects(emulator) == before


def test_undo_does_not_start_a_target_it_did_not_stop(emulator: Emulator, invoke: Invoke, endpoint: str) -> None:
    seed_basic(emulator, with_group=False)
    emulator.backend.flip("pair", "pair-2", "stopped")  # stopped on purpose by someone, never failed over
    result = act(invoke, endpoint, body("undo", dry_run=False, change="inc-x", pairIds=["pair-2"]))
    t = by_id(result)["pair-2"]
    assert t["outcome"] == "skipped" and "not by this change" in t["reason"], t
    assert t["steps"][0]["state"] == "verify"
    assert [e for e in emulator.ledger.snapshot()["effects"] if e["targetId"] == "pair-2"] == []


def test_deadline_leaves_pending_work_and_the_handler_raises(
    emulator: Emulator, invoke: Invoke, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_basic(emulator, with_group=False)
    fail_over(emulator, invoke)
    emulator.update_config({"transitionDelays": {"reprotecting": 1_000.0}})
    monkeypatch.setattr("replica_failover.reverse.run.MAX_ROUNDS", 5)  # the deadline, in rounds
    result = act(invoke, endpoint, body("undo", dry_run=False, change="inc-1", pairIds=["pair-0"]))
    assert result["status"] == "pending" and result["raised"], result
    assert result["summary"]["pending"] == 1 and "deadline" in result["reason"]
    assert by_id(result)["pair-0"]["outcome"] == "pending"
    emulator.update_config({"transitionDelays": {"reprotecting": 1.0}})
    emulator.advance(1_001)
    monkeypatch.undo()
    use_emulator_clock(emulator, monkeypatch)
    done = act(invoke, endpoint, body("undo", dry_run=False, change="inc-1", pairIds=["pair-0"]))
    assert done["status"] == "completed" and by_id(done)["pair-0"]["outcome"] == "done", done
    assert effects(emulator)[("ReprotectDiskReplicaPair", "pair-0")] == 1
    assert effects(emulator)[("StartDiskReplicaPair", "pair-0")] == 1


BAD: list[tuple[str, dict[str, Any]]] = [
    ("no dryRun", {"dryRun": None}),
    ("dryRun a string", {"dryRun": "false"}),
    ("unknown region", {"primaryRegion": "mars-north-1"}),
    ("region not in the deployment", {"primaryRegion": "cn-shenzhen"}),
    ("another DR region", {"drRegion": "cn-beijing"}),
    ("malformed pair id", {"pairIds": ["pair-0; DROP TABLE"]}),
    ("pair ids not a list", {"pairIds": "pair-0"}),
    ("unknown pair id", {"pairIds": ["pair-nope"]}),
    ("a group member named as a pair", {"pairIds": ["pair-g0"]}),
    ("hostile change id", {"changeId": "CHG\u202e<script>alert(1)</script>"}),
    ("huge change id", {"changeId": "C" * 5000}),
    ("missing change id", {"changeId": None}),
    ("unknown field", {"force": True}),
    ("too many targets", {"maxTargets": 1}),
    ("maxTargets a float", {"maxTargets": 1.5}),
    ("maxTargets a string", {"maxTargets": "5"}),
    ("maxTargets a bool", {"maxTargets": True}),
    ("empty pairIds (would widen to every pair)", {"pairIds": []}),
    ("empty groupIds (would widen to every group)", {"groupIds": []}),
]


@pytest.mark.parametrize(("why", "change"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_rejected_with_zero_writes(
    emulator: Emulator, invoke: Invoke, endpoint: str, why: str, change: dict[str, Any]
) -> None:
    seed_basic(emulator)
    fail_over(emulator, invoke)
    writes = len(write_requests(emulator))
    payload = {k: v for k, v in {**body("reprotect", dry_run=False), **change}.items() if v is not None}
    result = act(invoke, endpoint, payload)
    assert result["status"] == "rejected" and not result["ok"] and not result["raised"], (why, result)
    assert len(write_requests(emulator)) == writes
    text = json.dumps(result)
    assert DEFAULT_STS_ACCESS_KEY_ID not in text and "<script>" not in text and "C" * 200 not in text
    assert result["reason"]


def test_undo_needs_the_incident_key(emulator: Emulator, invoke: Invoke, endpoint: str) -> None:
    seed_basic(emulator)
    first = fail_over(emulator, invoke)
    payload = body("undo", dry_run=True, change=incident_key(first))
    del payload["incidentKey"]
    result = act(invoke, endpoint, payload)
    assert result["status"] == "rejected" and "incidentKey" in result["reason"]
    logs = json.dumps(result["logLines"])
    assert DEFAULT_STS_ACCESS_KEY_ID not in logs
    assert any(line.get("event") == "reverse-rejected" for line in result["logLines"])


def test_an_ebs_outage_mid_run_leaves_pending_work_a_retry_finishes(
    emulator: Emulator, invoke: Invoke, endpoint: str
) -> None:
    seed_basic(emulator, with_group=False)
    fail_over(emulator, invoke)
    # the plan's describe answers, then every describe fails: the run cannot see the state any more
    set_faults(emulator, FaultRule(action="DescribeDiskReplicaPairs", after=1, error=FaultError(status=503)))
    payload = body("undo", dry_run=False, change="inc-2", pairIds=["pair-0", "pair-1"])
    result = act(invoke, endpoint, payload, FAILOVER_RETRY_BUDGET="3", FAILOVER_RETRY_RATE="0")
    assert result["status"] == "pending" and result["raised"], result
    assert result["summary"]["pending"] == 2 and result["reason"]
    assert all("ServiceUnavailable" in t["reason"] for t in result["targets"])
    set_faults(emulator)
    done = act(invoke, endpoint, payload)
    assert done["status"] == "completed", done
    counts = effects(emulator)
    assert [counts[(f"{v}DiskReplicaPair", p)] for v in ("Reprotect", "Start") for p in ("pair-0", "pair-1")] == [1] * 4
