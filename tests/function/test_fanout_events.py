"""Fan-out events are validated like every event: a forged or malformed batch is rejected with a
clear reason and makes no write call; a status event aggregates an incident's workers (FC 3.0)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from replica_failover.fanout.ids import task_id

from chaos.emulator.app import Emulator
from tests.conftest import PRIMARY
from tests.function.fanout_support import FC2, FC3, effects_per_target, fanout_env, register, run, seed, writes
from tests.function.test_fanout import ALERT

KEY = "thr-0123456789abcdef0123456789abcdef"


def batch(**over: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "fanout": "batch",
        "incidentKey": KEY,
        "primaryRegion": PRIMARY,
        "batch": 1,
        "batches": 4,
        "taskId": task_id(KEY, 4, 1),
        "pairIds": ["pair-002", "pair-003"],
    }
    event.update(over)
    return {k: v for k, v in event.items() if v is not None}


def test_a_valid_batch_fails_over_its_targets_only(emulator: Emulator, endpoint: str) -> None:
    seed(emulator)
    result = run(emulator, batch(rateShare=7.5), fanout_env(endpoint, FC3))
    assert result["status"] == "completed", result["reason"]
    assert [t["id"] for t in result["targets"]] == ["pair-002", "pair-003"]
    assert result["fanout"] == {
        "role": "worker",
        "batch": 1,
        "batches": 4,
        "taskId": task_id(KEY, 4, 1),
        "rateShare": 7.5,
        "targets": 2,
        # no FAILOVER_RATE_LIMIT to divide: the share stays as dispatched
        "finalShare": 7.5,
        "shareRefreshes": 0,
        "shareRefreshErrors": 0,
        "shareHistory": [],
        "throttled": 0,
        "throttledShare": 0.0,
    }
    assert dict(effects_per_target(emulator)) == {"pair-002": 1, "pair-003": 1}


BAD = {
    "forged task id": (batch(taskId="rf-0000000000000000-w4-b1"), "taskId does not match"),
    "index past the end": (batch(batch=4, taskId=task_id(KEY, 4, 4)), "is not below batches"),
    "unknown field": (batch(pairIDs=["pair-002"]), "pairIDs"),
    "not a pair id": (batch(pairIds=["disk-1"]), "not a replica pair id"),
    "not a group id": (batch(groupIds=["pair-1"]), "not a replica group id"),
    "unwatched region": (batch(primaryRegion="cn-qingdao"), "not a watched primary region"),
    "no targets": (batch(pairIds=[]), "names no pairIds"),
    "duplicate id": (batch(pairIds=["pair-002", "pair-002"]), "names an id twice"),
    "string index": (batch(batch="1"), "batch"),
    "bad key": (batch(incidentKey="a b"), "incidentKey"),
    "negative share": (batch(rateShare=-1), "rateShare"),
    "one batch": (batch(batches=1, batch=0, taskId=task_id(KEY, 1, 0)), "batches"),
    "status with extra": ({"fanout": "status", "incidentKey": KEY, "action": "failover"}, "action"),
    "unknown kind": ({"fanout": "everything", "incidentKey": KEY}, "fanout"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_batches_are_rejected_without_a_write(emulator: Emulator, endpoint: str, case: str) -> None:
    seed(emulator)
    event, says = BAD[case]
    result = run(emulator, event, fanout_env(endpoint, FC3))
    assert (result["status"], result["ok"], result["failure"]["cause"]) == ("rejected", False, "event")
    assert "invalid-field" in result["reason"] and says in result["reason"], result["reason"]
    assert result["apiCalls"] == 0 and writes(emulator) == []


def test_batches_are_refused_in_approve_mode(emulator: Emulator, endpoint: str) -> None:
    seed(emulator)
    result = run(
        emulator, batch(), fanout_env(endpoint, FC3, FAILOVER_MODE="approve", FAILOVER_APPROVAL_SECRET="k" * 32)
    )
    assert result["status"] == "rejected" and "approve" in result["reason"] and writes(emulator) == []


def test_batches_are_dry_runs_in_plan_only_mode(emulator: Emulator, endpoint: str) -> None:
    seed(emulator)
    result = run(emulator, batch(), fanout_env(endpoint, FC3, FAILOVER_MODE="plan-only"))
    assert result["status"] == "planned" and writes(emulator) == []


def test_blast_radius_cap_applies_to_the_whole_incident(emulator: Emulator, endpoint: str) -> None:
    """11 targets against a cap of 5: the coordinator refuses before dispatching anything, although
    every batch of 3 would fit under the cap."""
    seed(emulator)
    env = fanout_env(endpoint, FC3, FAILOVER_MAX_TARGETS="5")
    register(emulator, env)
    result = run(emulator, ALERT, env)
    assert result["status"] == "refused" and "blast-radius" in result["refused"]
    assert emulator.fc.invocations() == [] and writes(emulator) == []


def test_status_aggregates_the_workers_on_fc3(emulator: Emulator, endpoint: str) -> None:
    targets = seed(emulator)
    env = fanout_env(endpoint, FC3)
    register(emulator, env)
    coordinator = run(emulator, ALERT, env)
    assert emulator.fc.wait_idle(120)
    status = run(emulator, {"fanout": "status", "incidentKey": coordinator["incident"]["incidentKey"]}, env)
    assert (status["status"], status["ok"]) == ("completed", True), status
    assert status["tasks"] == {"Succeeded": 4}
    assert status["summary"]["failedOver"] == len(targets) and status["summary"]["failed"] == 0
    assert sorted(b["taskId"] for b in status["batches"]) == sorted(
        b["taskId"] for b in coordinator["fanout"]["batches"]
    )
    assert json.dumps(status).count(emulator.config().credentials[0].access_key_secret) == 0


def test_status_on_fc2_says_it_cannot_list(emulator: Emulator, endpoint: str) -> None:
    status = run(emulator, {"fanout": "status", "incidentKey": KEY}, fanout_env(endpoint, FC2))
    assert (status["status"], status["ok"]) == ("unsupported", False) and "destination" in status["reason"]
    assert emulator.fc.invocations() == [] and emulator.ledger.snapshot()["requests"] == []


def test_fanout_is_opt_in(emulator: Emulator, endpoint: str) -> None:
    """Without FAILOVER_BATCH_SIZE the invocation runs any plan itself and invokes nothing."""
    targets = seed(emulator)
    env = {k: v for k, v in fanout_env(endpoint, FC3).items() if k != "FAILOVER_BATCH_SIZE"}
    result = run(emulator, ALERT, env)
    assert result["status"] == "completed" and result["summary"]["failedOver"] == len(targets)
    assert emulator.fc.invocations() == []


@pytest.mark.parametrize("api", [FC2, FC3])
def test_fc_refusing_the_dispatch_is_a_permanent_failure(emulator: Emulator, endpoint: str, api: str) -> None:
    """No such function (or no permission): a retry cannot help, so the coordinator returns a failure
    a human reads instead of raising for FC to retry, and nothing is failed over."""
    targets = seed(emulator)
    result = run(emulator, ALERT, fanout_env(endpoint, api, FAILOVER_FUNCTION="no-such-function"))
    assert (result["status"], result["ok"], result["raised"]) == ("failed", False, False)
    assert "FC refused 4 of 4" in result["reason"] and "404" in result["reason"]
    assert {b["dispatched"] for b in result["fanout"]["batches"]} == {"refused"}
    assert (result["failure"]["kind"], result["failure"]["cause"]) == ("failed", "configuration")
    assert set(result["failure"]["targetIds"]) == targets and result["failure"]["errorCodes"] in (
        ["FunctionNotFound"],
        ["ServiceNotFound"],
    )
    assert writes(emulator) == []
