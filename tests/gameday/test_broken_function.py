"""The harness tells right from wrong: deliberately broken functions fail the relevant scenarios, by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from chaos.cli import app
from chaos.gameday.runner import RunOptions, run_file
from tests.gameday.conftest import SCENARIOS


def _violation(path: Path, name: str) -> str:
    outcome = run_file(path, RunOptions())
    assert not outcome.passed, f"{path.stem} passed with a broken function"
    by_name = {e.name: e for e in outcome.violations}
    assert name in by_name, sorted(by_name)
    return by_name[name].message


@pytest.mark.usefixtures("random_token_per_attempt")
@pytest.mark.parametrize("scenario", ["504-storm", "duplicate-alarms"])
def test_fresh_token_per_attempt_is_caught(scenario: str) -> None:
    message = _violation(SCENARIOS / f"{scenario}.yaml", "exactly-one-effect-per-target")
    # names the offending targets and shows the distinct tokens that made the extra effects
    assert "effect(s) with tokens rnd-" in message
    assert "pair-" in message or "pg-" in message


@pytest.mark.usefixtures("no_reconciliation")
def test_no_reconciliation_after_invalid_status_is_caught() -> None:
    path = SCENARIOS / "invalid-status.yaml"
    outcome = run_file(path, RunOptions())
    by_name = {e.name: e.message for e in outcome.violations}
    assert "pair-flaky (normal)" in by_name["every-eligible-target-failed-over"]
    assert "pair-flaky was failed" in by_name["target-outcomes"]
    assert "pair-gone was failed" in by_name["target-outcomes"]
    assert "partial" in by_name["result-status"]


@pytest.mark.usefixtures("random_token_per_attempt")
def test_cli_exits_non_zero_and_names_the_violation(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(app, ["gameday", str(SCENARIOS / "504-storm.yaml"), "--report-dir", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "FAIL" in result.output and "exactly-one-effect-per-target" in result.output
    assert "Traceback" not in result.output
