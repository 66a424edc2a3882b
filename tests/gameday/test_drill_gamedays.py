"""The drill game days: each scenario passes, and each drill check fails when what it guards is broken.

The broken functions are the real function with one piece of the drill runner replaced (a fresh
ClientToken per Start attempt, no clear, no leftover pass); the checks must catch each from the ledger.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from replica_failover.drill.client import EbsDrillClient, Kind
from replica_failover.drill.runner import DrillRunner

from chaos.emulator.server import RunningEmulator
from chaos.gameday import drill_checks
from chaos.gameday.observations import Observations
from chaos.gameday.runner import RunOptions, RunOutcome, run_file, run_scenario
from chaos.gameday.scenario import DrillExpect, EventDef, Scenario, load_scenario
from tests.gameday.conftest import SCENARIOS

DRILLS = ("drill-lost-ack", "drill-clear-fails", "drill-killed", "drill-rpo-missed")
DRILL_CHECKS = {"drill-no-failover", "drill-one-per-target-per-run", "drill-all-cleared"}


def scenario(name: str) -> Scenario:
    return load_scenario(SCENARIOS / f"{name}.yaml")


def run(sc: Scenario, name: str, tmp_path: Path | None = None) -> RunOutcome:
    return run_scenario(sc, name=name, base_dir=SCENARIOS, options=RunOptions(report_dir=tmp_path))


def failed(outcome: RunOutcome) -> dict[str, Any]:
    return {e.name: e.offenders or e.message for e in outcome.violations}


@pytest.mark.parametrize("name", DRILLS)
def test_each_drill_game_day_judges_the_drills(name: str, tmp_path: Path) -> None:
    outcome = run_file(SCENARIOS / f"{name}.yaml", RunOptions(report_dir=tmp_path))
    assert outcome.passed, failed(outcome)
    names = {e.name for e in outcome.journal.expectations}
    assert names >= DRILL_CHECKS  # none of them can be switched off by an empty run: all-cleared needs a drill
    figures = outcome.journal.figures
    assert int(figures["drillsStarted"] or 0) >= 3 and figures["drillsLeft"] == 0
    assert figures["drillsCleared"] == figures["drillsStarted"]
    md = (tmp_path / name / "report.md").read_text()
    html = (tmp_path / name / "report.html").read_text()
    assert "## Drills" in md and "<h2>Drills</h2>" in html and "Drills started" in md
    assert "ineligible touched" not in md  # a drill's calls are not a failover's


def test_the_killed_run_is_cleared_by_the_retry() -> None:
    outcome = run_file(SCENARIOS / "drill-killed.yaml")
    assert outcome.passed, failed(outcome)
    assert outcome.journal.figures["drillRuns"] == 2 and int(outcome.journal.figures["fcAttempts"] or 0) >= 2
    final = outcome.journal.invocations[0].result
    assert final is not None and final["summary"]["leftoversCleared"] == 3


def test_the_rpo_check_names_what_the_results_report() -> None:
    sc = scenario("drill-rpo-missed")
    drills = sc.expect.drills
    assert drills is not None
    wrong = sc.model_copy(
        update={"expect": sc.expect.model_copy(update={"drills": drills.model_copy(update={"rpo_missed": []})})}
    )
    outcome = run(wrong, "drill-rpo-missed")
    assert failed(outcome) == {"drill-rpo-missed": ["pair-db-stale"]}


def test_a_fresh_token_per_start_attempt_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Broken function: the retried Start after the lost acknowledgement asks for a second drill. The
    emulator refuses a second live drill on a target, so the first, unknown to the run, is never cleared."""
    start = EbsDrillClient.start

    def fresh_token(self: EbsDrillClient, region: str, kind: Kind, target_id: str, client_token: str) -> str:
        return start(self, region, kind, target_id, f"rnd-{uuid.uuid4().hex}")

    monkeypatch.setattr(EbsDrillClient, "start", fresh_token)
    sc = scenario("drill-lost-ack")
    sc = sc.model_copy(update={"expect": sc.expect.model_copy(update={"result_status": None, "result_ok": None})})
    outcome = run(sc, "drill-lost-ack")
    problems = failed(outcome)
    assert set(problems) == {"drill-all-cleared"}, problems
    assert [k.split(":")[0] for k in problems["drill-all-cleared"]] == ["pair-web-01"]


def test_a_run_that_never_clears_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DrillRunner, "_clear", lambda self, drills: [])
    outcome = run(scenario("drill-lost-ack"), "drill-lost-ack")
    problems = failed(outcome)
    assert set(problems) == {"drill-all-cleared"}, problems
    assert len(problems["drill-all-cleared"]) == 3  # every drill left, each named


def test_a_retry_without_the_leftover_pass_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DrillRunner, "_clear_leftovers", lambda self, targets, report: [])
    outcome = run(scenario("drill-killed"), "drill-killed")
    problems = failed(outcome)
    assert set(problems["drill-leftovers-cleared"]) == {"pair-web-01", "pair-web-02", "pg-orders"}, problems


def test_a_failover_during_a_drill_game_day_is_caught() -> None:
    """An alarm delivered beside the drill fails the fleet over: drill-no-failover must say so."""
    sc = scenario("drill-rpo-missed")
    alarm = EventDef(name="alarm", file=Path("events/threshold-alert.json"), expect_status=["completed"])
    sc = sc.model_copy(
        update={
            "trigger": sc.trigger.model_copy(update={"events": [*sc.trigger.events, alarm]}),
            "function": sc.function.model_copy(
                update={"env": {**sc.function.env, "FAILOVER_CONFIRM": "alarm or resource or manual"}}
            ),
        }
    )
    problems = failed(run(sc, "drill-rpo-missed"))
    assert set(problems) == {"drill-no-failover"}, problems
    assert any("FailoverDiskReplicaPair pair-web-01" in str(p) for p in problems["drill-no-failover"])


def test_drill_knobs_over_an_external_emulator(external: RunningEmulator, tmp_path: Path) -> None:
    outcome = run_file(SCENARIOS / "drill-clear-fails.yaml", RunOptions(endpoint=external.url, report_dir=tmp_path))
    assert outcome.passed, failed(outcome)
    clears = [r for r in external.emulator.ledger.snapshot()["requests"] if r["action"] == "ClearPairDrill"]
    assert [r["status"] for r in clears if r["target"] == "pair-web-01"] == [403, 200, 200]


def test_knob_targets_must_be_in_the_fleet(tmp_path: Path) -> None:
    from chaos.gameday.scenario import ScenarioError

    text = (SCENARIOS / "drill-clear-fails.yaml").read_text().replace("{target: pair-web-01,", "{target: pair-nope,")
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(ScenarioError, match="pair-nope is not listed under fleet"):
        load_scenario(tmp_path / "bad.yaml")
    assert json.loads(json.dumps(scenario("drill-clear-fails").model_dump(by_alias=True, mode="json")))["drills"]


def _observed(effects: list[dict[str, Any]], deliveries: int) -> Observations:
    return Observations(
        primary="cn-hangzhou", eligible=set(), initial={}, final={}, ledger={"effects": effects},
        ledger_available=True, invocation_status=[(f"#{i}", "completed", None) for i in range(deliveries)],
        final_results=[], attempt_results=[], fault_rules=[],
    )  # fmt: skip


def _start(run: str, target: str, n: int) -> dict[str, Any]:
    return {"action": "StartPairDrill", "targetType": "pair-drill", "targetId": f"drill-{run}{n}", "pairId": target,
            "clientToken": f"rf-drill-{run}-{target}", "to": "executing", "time": n}  # fmt: skip


def test_one_drill_per_target_per_run_from_the_tokens() -> None:
    expect = DrillExpect(targets=["pair-a"])
    run_a, run_b = "a" * 16, "b" * 16
    twice_in_one_run = _observed([_start(run_a, "pair-a", 1), _start(run_a, "pair-a", 2)], deliveries=2)
    verdict = drill_checks.one_drill_per_target_per_run(expect, twice_in_one_run)
    assert not verdict.ok and "2 drills in run" in verdict.message
    once_per_run = _observed([_start(run_a, "pair-a", 1), _start(run_b, "pair-a", 2)], deliveries=2)
    assert drill_checks.one_drill_per_target_per_run(expect, once_per_run).ok
    more_than_runs = _observed([_start(run_a, "pair-a", 1), _start(run_b, "pair-a", 2)], deliveries=1)
    assert "2 drills in 1 run" in drill_checks.one_drill_per_target_per_run(expect, more_than_runs).message
    other = _observed([_start(run_a, "pair-b", 1)], deliveries=1)
    problems = drill_checks.one_drill_per_target_per_run(expect, other).offenders
    assert problems == {"pair-a": "never drilled", "pair-b": "drilled but not expected"}
