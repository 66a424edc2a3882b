"""``replica-failover recovery schema`` and ``recovery check FILE``."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema  # type: ignore[import-untyped]
import yaml
from typer.testing import CliRunner

from chaos.cli import app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "recovery-plan.yaml"


def test_schema_is_json_schema_that_accepts_the_example_and_refuses_typos() -> None:
    result = CliRunner().invoke(app, ["recovery", "schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.output)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    example = yaml.safe_load(EXAMPLE.read_text())
    assert not list(validator.iter_errors(example))
    typo = {**example, "standby": example["standbys"]}
    assert list(validator.iter_errors(typo))


def test_check_accepts_the_example() -> None:
    result = CliRunner().invoke(app, ["recovery", "check", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["ok"] is True and out["hook"] == "smoke-test"
    assert out["standbys"] == {"i-standby-web1": ["pair-web1"], "i-standby-db1": ["pg-db"]}
    assert out["findings"] == []


def test_check_reports_offline_findings(tmp_path: Path) -> None:
    path = tmp_path / "map.json"
    data = {
        "standbys": [{"instanceId": "i-1", "takes": ["pair-1"]}],
        "records": [
            {"domain": "a.com", "rr": "www", "value": "1.2.3.4", "after": ["i-1", "i-tagged"]},
            {"domain": "a.com", "rr": "api", "value": "1.2.3.5"},
        ],
    }
    path.write_text(json.dumps(data))
    result = CliRunner().invoke(app, ["recovery", "check", str(path)])
    assert result.exit_code == 0, result.output
    findings = json.loads(result.stdout)["findings"]
    assert [(f["severity"], f["code"], f["subject"]) for f in findings] == [
        ("warning", "not-a-standby", "alidns:www.a.com/A"),
        ("info", "switches-always", "alidns:api.a.com/A"),
    ]


def test_check_refuses_an_invalid_file_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("standbys:\n  - instanceId: i-1\n    takes: [pair-1]\n  - instanceId: i-2\n    takes: [pair-1]\n")
    result = CliRunner().invoke(app, ["recovery", "check", str(path)])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["ok"] is False
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("replica-failover: error:") and "pair-1 is taken by two standbys" in line
    assert "Traceback" not in result.output


def test_check_of_a_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["recovery", "check", str(tmp_path / "none.yaml")])
    assert result.exit_code == 1 and "cannot read" in result.stderr
