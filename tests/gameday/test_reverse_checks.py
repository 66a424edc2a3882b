"""The reverse game-day checks fail when the ledger shows what they forbid (they cannot pass vacuously)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from chaos.gameday.observations import Observations
from chaos.gameday.reverse_checks import final_status, new_failover_token, one_effect_per_token, steps
from chaos.gameday.runner import RunOptions, run_file
from chaos.gameday.scenario import Expect, ReverseExpect

EXPECT = Expect(
    reverse=ReverseExpect(
        steps_per_target={"Failover": 2, "Reprotect": 1}, final_status=["normal"], new_failover_token=True
    )
)


def effect(action: str, target: str, token: str) -> dict[str, Any]:
    return {"action": action, "targetId": target, "targetType": "pair", "clientToken": token}


def observed(effects: list[dict[str, Any]], final: str = "normal") -> Observations:
    return Observations(
        primary="cn-hangzhou", eligible={("pair", "pair-a")}, initial={("pair", "pair-a"): "normal"},
        final={("pair", "pair-a"): final}, ledger={"effects": effects}, ledger_available=True,
        invocation_status=[], final_results=[], attempt_results=[], fault_rules=[],
    )  # fmt: skip


GOOD = [
    effect("FailoverDiskReplicaPair", "pair-a", "rf2-abc-0"),
    effect("ReprotectDiskReplicaPair", "pair-a", "rv-1"),
    effect("FailoverDiskReplicaPair", "pair-a", "rf2-abc-1"),
]


def test_a_clean_round_passes_every_check() -> None:
    obs = observed(GOOD)
    for check in (steps, final_status, one_effect_per_token, new_failover_token):
        assert check(EXPECT, obs).ok, check.__name__


def test_a_second_reprotect_effect_fails_the_steps_check() -> None:
    verdict = steps(EXPECT, observed([*GOOD, effect("ReprotectDiskReplicaPair", "pair-a", "rv-2")]))
    assert not verdict.ok and verdict.offenders == {"pair-a": {"Failover": 2, "Reprotect": 2}}


def test_a_missing_target_or_status_fails() -> None:
    assert not steps(EXPECT, observed([])).ok
    assert not final_status(EXPECT, observed(GOOD, final="stopped")).ok


def test_one_token_behind_two_effects_fails() -> None:
    doubled = [*GOOD, effect("ReprotectDiskReplicaPair", "pair-a", "rv-1")]
    verdict = one_effect_per_token(EXPECT, observed(doubled))
    assert not verdict.ok and verdict.offenders == {"rv-1": 2}


def test_the_failover_chain_must_move_to_a_new_round() -> None:
    same_round = [GOOD[0], GOOD[1], effect("FailoverDiskReplicaPair", "pair-a", "rf2-abc-0")]
    assert not new_failover_token(EXPECT, observed(same_round)).ok
    # the failback's own failover (rv-) is not the chain's second round
    planned_only = [GOOD[0], effect("FailoverDiskReplicaPair", "pair-a", "rv-9")]
    assert not new_failover_token(EXPECT, observed(planned_only)).ok


def test_a_fresh_token_per_run_fails_the_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    """Concurrent copies of the failback with their own tokens fail the target over twice (default mode)."""
    from replica_failover.reverse import plan

    monkeypatch.setattr(plan, "step_token", lambda *_a: "rv-" + uuid.uuid4().hex[:40])
    outcome = run_file(Path("chaos/scenarios/round-trip.yaml"), RunOptions())
    violated = {e.name: e for e in outcome.violations}
    # the copies that race each fail a target over (a second effect), or find the state moved under
    # them and cannot prove the reprotect was theirs (a failed result); either way the run fails
    assert not outcome.passed and {"reverse-steps", "result-status"} & set(violated), sorted(violated)
