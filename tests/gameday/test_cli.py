"""``replica-failover gameday``: schema, readable errors, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema  # type: ignore[import-untyped]
import yaml
from typer.testing import CliRunner

from chaos.cli import app
from tests.gameday.conftest import LIBRARY, SCENARIOS


def test_schema_is_valid_json_schema_and_accepts_the_library(cli: CliRunner) -> None:
    result = cli.invoke(app, ["gameday", "schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.output)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert {"title", "trigger", "fleet", "method", "expect"} <= set(schema["properties"])
    validator = jsonschema.Draft202012Validator(schema)
    for path in LIBRARY:
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
        assert not errors, (path.name, [e.message for e in errors])


def test_invalid_scenario_gives_a_pydantic_error_not_a_traceback(cli: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(
            {
                "title": "typos",
                "fleet": {"pairs": [{"id": "pair-a", "status": "sleeping"}]},
                "trigger": {"channel": "carrier-pigeon", "events": [{"file": "events/threshold-alert.json"}]},
                "expect": {"maxApiCals": 3},
            }
        )
    )
    result = cli.invoke(app, ["gameday", str(bad), "--report-dir", str(tmp_path / "r")])
    assert result.exit_code == 2
    out = result.output
    assert "invalid scenario" in out and "Traceback" not in out
    assert "fleet.pairs.0.status" in out and "unknown status 'sleeping'" in out
    assert "trigger.channel" in out
    assert "expect.maxApiCals" in out and "Extra inputs are not permitted" in out


def test_unreadable_yaml_and_missing_file(cli: CliRunner, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("title: [unclosed\n")
    result = cli.invoke(app, ["gameday", str(broken), str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "not YAML" in result.output and "cannot read" in result.output


def test_violated_expectation_exits_1_with_a_verdict_table(cli: CliRunner, tmp_path: Path) -> None:
    doc = yaml.safe_load((SCENARIOS / "region-outage.yaml").read_text())
    doc["expect"]["maxApiCalls"] = 3  # the function needs 15: the game day must say so
    tight = tmp_path / "tight.yaml"
    tight.write_text(yaml.safe_dump(doc))
    result = cli.invoke(app, ["gameday", str(tight), "--report-dir", str(tmp_path / "r")])
    assert result.exit_code == 1, result.output
    assert "api-calls" in result.output and "Game-day verdicts" in result.output and "FAIL" in result.output
    assert (tmp_path / "r" / "tight" / "report.html").is_file()


def test_region_outage_passes_from_the_cli(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(
        app, ["gameday", str(SCENARIOS / "region-outage.yaml"), "--seed", "7", "--report-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "PASS" in result.output and "region-outage" in result.output


def test_list_shows_the_library(cli: CliRunner) -> None:
    result = cli.invoke(app, ["gameday", "list", str(SCENARIOS)])
    assert result.exit_code == 0
    assert "region-outage.yaml" in result.output and "Region outage" in result.output


def test_bad_target_is_refused(cli: CliRunner) -> None:
    result = cli.invoke(app, ["gameday", str(SCENARIOS / "region-outage.yaml"), "--target", "http://x"])
    assert result.exit_code == 2 and "fc://<service>/<function>" in result.output
