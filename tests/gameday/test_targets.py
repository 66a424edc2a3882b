"""Targets a scenario names exist in its fleet, whatever the seed: a fault that cannot fire is an error."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from chaos.cli import app
from chaos.gameday.runner import RunOptions, run_file, run_scenario
from chaos.gameday.scenario import Scenario, ScenarioError, load_scenario
from chaos.gameday.world import fleet_records
from tests.gameday.conftest import SCENARIOS


def _storm(tmp_path: Path, **faults: str) -> Path:
    doc = yaml.safe_load((SCENARIOS / "504-storm.yaml").read_text())
    for rule in doc["method"]["faults"]:
        if rule.get("id") in faults:
            rule["target"] = faults[rule["id"]]
    path = tmp_path / "storm.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_a_typo_in_a_fault_target_is_a_scenario_error(tmp_path: Path) -> None:
    path = _storm(tmp_path, **{"held-past-read-timeout": "pair-storm-00003"})
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    message = str(err.value)
    assert "method.faults[0] (held-past-read-timeout)" in message
    assert "target pair-storm-00003 is not in the fleet" in message
    assert "pair-storm-000000 .. pair-storm-000011" in message  # what the generated ids look like


def test_the_cli_refuses_it_before_running(cli: CliRunner, tmp_path: Path) -> None:
    path = _storm(tmp_path, **{"held-past-read-timeout": "pair-storm11-000003"})  # not how the fleet names its pairs
    result = cli.invoke(app, ["gameday", str(path), "--report-dir", str(tmp_path / "r")])
    assert result.exit_code == 2, result.output
    assert "pair-storm11-000003 is not in the fleet" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "r" / "storm").exists()  # nothing ran, nothing was written


def test_flips_and_expected_outcomes_are_checked_too(tmp_path: Path) -> None:
    doc = yaml.safe_load((SCENARIOS / "invalid-status.yaml").read_text())
    doc["method"]["actions"][0]["flip"]["target"] = "pair-nowhere"
    doc["expect"]["targetOutcomes"]["pair-ghost"] = ["failedOver"]
    scenario = Scenario.model_validate(doc)
    with pytest.raises(ScenarioError) as err:
        run_scenario(scenario, name="flips", base_dir=SCENARIOS)
    assert "method.actions[0].flip: target pair-nowhere" in str(err.value)
    assert "expect.targetOutcomes.pair-ghost: target pair-ghost" in str(err.value)


def test_generated_ids_do_not_depend_on_the_seed() -> None:
    scenario = load_scenario(SCENARIOS / "mixed-fleet.yaml")
    one, two = (fleet_records(scenario.model_copy(update={"seed": s})) for s in (1, 2))
    assert [p.ReplicaPairId for p in one[0]] == [p.ReplicaPairId for p in two[0]]
    assert "pair-mix-000000" in {p.ReplicaPairId for p in one[0]}
    # the seed still draws: states (and with them the grouping) differ
    assert [p.Status for p in one[0]] != [p.Status for p in two[0]]


def test_a_seed_override_keeps_the_targeted_fault_firing() -> None:
    for seed in (None, 42):
        journal = run_file(SCENARIOS / "504-storm.yaml", RunOptions(seed=seed)).journal
        fired = {r["id"]: r["fired"] for r in journal.faults}
        assert fired["held-past-read-timeout"] == 1, (seed, fired)
        assert journal.verdict == "pass", [e.message for e in journal.expectations if not e.ok]


def test_a_listed_pair_clashing_with_a_generated_one_is_refused(tmp_path: Path) -> None:
    doc = yaml.safe_load((SCENARIOS / "504-storm.yaml").read_text())
    doc["fleet"]["pairs"] = [{"id": "pair-storm-000003"}]
    path = tmp_path / "clash.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ScenarioError, match="pair-storm-000003 is both listed and generated"):
        load_scenario(path)
