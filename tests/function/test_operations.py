"""The operator-action router: which raw events reach it, and what an unknown or disabled action gets."""

from __future__ import annotations

import json

import pytest
from replica_failover import operations
from replica_failover.operations import carries_operation

from chaos.emulator.app import Emulator
from tests.conftest import seed_basic
from tests.function.conftest import Invoke


@pytest.mark.parametrize("action", operations.NAMES)
def test_an_operation_event_is_a_candidate(action: str) -> None:
    assert carries_operation(json.dumps({"action": action, "reason": "x"}))
    assert carries_operation(json.dumps({"action": action}, indent=2).encode())


@pytest.mark.parametrize("action", ["plan", "failover", "drills", "Undo"])
def test_other_actions_are_not_candidates(action: str) -> None:
    assert not carries_operation(json.dumps({"action": action, "reason": "x"}))


def test_an_action_not_built_in_is_rejected_with_no_call(
    invoke: Invoke, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_basic(emulator)
    monkeypatch.setattr(operations, "ACTIONS", {})
    result = invoke({"action": "undo", "reason": "test"})
    assert result["status"] == "rejected" and not result["ok"]
    assert "not available" in result["reason"]
    assert emulator.ledger.snapshot()["requests"] == []  # rejected before any credential or API was touched


def test_an_alarm_that_only_mentions_an_action_is_still_an_alarm(invoke: Invoke, emulator: Emulator) -> None:
    seed_basic(emulator)
    event = {"action": "plan", "primaryRegion": "cn-hangzhou", "reason": "r", "approval": {"action": "drill"}}
    assert carries_operation(json.dumps(event))
    result = invoke(event)
    assert result["status"] == "rejected" and "not available" not in result["reason"]  # the intake judged it


@pytest.mark.parametrize("action", operations.NAMES)
def test_an_action_this_function_does_not_enable_is_rejected_with_no_call(
    invoke: Invoke, emulator: Emulator, action: str
) -> None:
    seed_basic(emulator)
    enabled = ",".join(a for a in operations.NAMES if a != action)
    result = invoke({"action": action, "primaryRegion": "cn-hangzhou", "reason": "x"}, FAILOVER_OPERATIONS=enabled)
    assert (result["status"], result["ok"], result["writeCalls"]) == ("rejected", False, 0)
    assert "FAILOVER_OPERATIONS" in result["reason"] and operations.OPERATIONS_FUNCTION in result["reason"]
    assert result["reason"].startswith("operation-disabled: "), result["reason"]
    assert emulator.ledger.snapshot()["requests"] == []


def test_an_action_result_gets_the_failover_results_failure_block() -> None:
    denied = {"ok": False, "status": "partial", "reason": "1 of 2 executed; not executed: pair-1 (Forbidden.Action)",
              "drill": {"targets": [{"kind": "pair", "id": "pair-0", "error": None},
                                    {"kind": "pair", "id": "pair-1", "error": "Forbidden.Action"}]}}  # fmt: skip
    failure = operations.with_failure(denied)["failure"]
    assert failure == {"kind": "partial", "cause": "permission", "reason": denied["reason"],
                       "errorCodes": ["Forbidden.Action"], "targetIds": ["pair-1"]}  # fmt: skip
    refused = {"ok": False, "status": "failed", "reason": "1 target(s) refused, 0 blocked by a precondition",
               "targets": [{"kind": "group", "id": "pg-1", "outcome": "failed",
                            "steps": [{"call": "StartDiskReplicaGroup",
                                       "code": "OperationDenied.InvalidStatus"}]}]}  # fmt: skip
    failure = operations.with_failure(refused)["failure"]
    assert (failure["cause"], failure["errorCodes"], failure["targetIds"]) == (
        "api", ["OperationDenied.InvalidStatus"], ["pg-1"])  # fmt: skip
    assert operations.with_failure({"ok": True, "status": "completed", "reason": "done"})["failure"] is None
    assert operations.with_failure({"ok": False, "status": "pending", "reason": "Throttling"})["failure"] is None
    kept = {"status": "rejected", "reason": "x", "failure": {"kind": "rejected"}}
    assert operations.with_failure(kept)["failure"] == {"kind": "rejected"}
