"""Confirmation game days tell right from wrong: functions broken on purpose fail the confirmation
scenarios by name; the scenarios also pass against an emulator reached over its control plane."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from replica_failover.approval import Approval, ApprovalCheck, ApprovedTarget
from replica_failover.confirm import stage
from replica_failover.confirm.decide import confirm as real_confirm
from replica_failover.confirm.policy import Decision

from chaos.emulator.server import RunningEmulator
from chaos.gameday.runner import RunOptions, run_file
from chaos.gameday.scenario import Scenario
from tests.gameday.conftest import SCENARIOS


def _violations(path: Path, options: RunOptions | None = None) -> dict[str, str]:
    outcome = run_file(path, options or RunOptions())
    assert not outcome.passed, f"{path.stem} passed with a broken function"
    return {e.name: e.message for e in outcome.violations}


def test_a_function_that_trusts_any_approval_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Broken: the signature, the incident and the expiry are not checked."""

    def verify(
        secret: str | None, approval: Approval, *, incident_key: str, plan_targets: Any, now: float
    ) -> ApprovalCheck:
        current: tuple[ApprovedTarget, ...] = tuple(plan_targets)
        return ApprovalCheck(approver=approval.approver, run=current, held=(), vanished=())

    monkeypatch.setattr(stage, "verify_approval", verify)
    found = _violations(SCENARIOS / "approval-flow.yaml")
    # the forged approval already failed everything over: its step made the writes, later steps none
    assert "#1 forged (direct): completed" in found["result-status"]
    assert "forged made 3 write call(s), at most 0 allowed" in found["event-writes"]
    assert "approval.rejection was" in found["result-fields"]


def test_a_function_that_acts_on_one_resource_event_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Broken: the policy is ignored, every signal acts (the behaviour the issue reported)."""
    original = real_confirm

    def confirm(policy: Any, signal: Any, sources: Any, *, timeout: float) -> Any:
        real = original(policy, signal, sources, timeout=timeout)
        forced = Decision(act=True, value="true", policy=real.decision.policy, terms={}, reason="always")
        return real.model_copy(update={"decision": forced})

    monkeypatch.setattr(stage, "confirm", confirm)
    found = _violations(SCENARIOS / "single-resource-event.yaml")
    assert "write call(s)" in found["write-calls"] and "touched:" in found["no-ineligible-target-touched"]
    assert found["result-status"] == "#0 system-event (direct): completed"
    assert "act message(s), expected 0" in found["notification-kinds"]


def test_an_approve_step_with_no_hold_message_is_reported_not_sent(tmp_path: Path) -> None:
    doc = {
        "title": "approve with nothing held",
        "notify": {"webhook": {}},
        "fleet": {"pairs": [{"id": "pair-a"}]},
        "trigger": {"events": [{"name": "approve", "approve": {}, "expectStatus": ["error"]}]},
        "expect": {"eligible": "none", "resultStatus": None, "maxApiCalls": 0},
    }
    path = tmp_path / "approve-alone.yaml"
    path.write_text(json.dumps(doc))
    Scenario.model_validate(doc)
    outcome = run_file(path)
    assert outcome.passed, [e.message for e in outcome.violations]
    [invocation] = outcome.journal.invocations
    assert invocation.status == "error" and invocation.error is not None
    assert "no accepted hold message" in invocation.error
    assert outcome.journal.figures["apiCalls"] == 0 and outcome.journal.notifications == []


@pytest.mark.parametrize("scenario", ["escalating-outage", "approval-flow"])
def test_confirmation_scenarios_pass_against_an_external_emulator(external: RunningEmulator, scenario: str) -> None:
    """Seeding CloudMonitor, configuring the robot and reading notifications over /_emulator."""
    outcome = run_file(SCENARIOS / f"{scenario}.yaml", RunOptions(endpoint=external.url))
    assert outcome.passed, [f"{e.name}: {e.message}" for e in outcome.violations]
    assert outcome.journal.notifications and all(n["accepted"] for n in outcome.journal.notifications)


def test_each_game_day_starts_on_a_cold_instance() -> None:
    """The function's per-process DingTalk window, full from earlier runs, does not leak into this one."""
    from replica_failover.notify import send

    full = send.RateLimiter()
    while full.try_acquire():
        pass
    send.DINGTALK_LIMITER = full
    outcome = run_file(SCENARIOS / "single-resource-event.yaml")
    assert outcome.passed, [f"{e.name}: {e.message}" for e in outcome.violations]
    assert send.DINGTALK_LIMITER is not full
    assert [n["kind"] for n in outcome.journal.notifications] == ["robot", "webhook"]
