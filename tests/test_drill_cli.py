"""``replica-failover drill`` and ``drill cleanup`` against the emulator served on 127.0.0.1.

Drill transitions are set to complete at once (``transitionDelays``), so the command never waits.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from chaos.cli import app
from chaos.emulator import config as cfg
from chaos.emulator.app import Emulator
from tests.conftest import DR, PRIMARY, seed_basic

ROUTE = ["--primary", PRIMARY, "--dr", DR, "--poll", "0.01"]


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    res = CliRunner().invoke(app, list(args), env=env)
    return res.exit_code, res.stdout, res.stderr


@pytest.fixture
def instant(emulator: Emulator) -> Emulator:
    emulator.update_config(
        {"transitionDelays": {**emulator.config().transition_delays, "drill_executing": 0.0, "drill_clearing": 0.0}}
    )
    seed_basic(emulator)
    return emulator


def effects(emulator: Emulator, action: str) -> list[dict[str, Any]]:
    return [e for e in emulator.ledger.snapshot()["effects"] if e["action"] == action]


def test_drill_prints_the_report_and_clears(instant: Emulator, endpoint: str, tmp_path: Any) -> None:
    out = tmp_path / "drill.json"
    code, stdout, _ = run("drill", *ROUTE, "--endpoint", f"http://{endpoint}", "--out", str(out))
    assert code == 0, stdout
    doc = json.loads(stdout)
    assert doc == json.loads(out.read_text(encoding="utf-8"))
    assert doc["ok"] is True and doc["action"] == "drill" and doc["notCleared"] == []
    assert sorted(t["id"] for t in doc["targets"]) == ["pair-0", "pair-1", "pair-2", "pg-1"]
    assert doc["rpo"]["objectiveSeconds"] == 900 and doc["rpo"]["missingObjective"] == []
    assert instant.backend.drills() == []
    assert len(effects(instant, "StartPairDrill")) == 3 == len(effects(instant, "ClearPairDrill"))
    assert cfg.DEFAULT_ACCESS_KEY_SECRET not in stdout


def test_drill_run_with_limits_and_cleanup(instant: Emulator, endpoint: str) -> None:
    code, stdout, _ = run("drill", "run", *ROUTE, "--endpoint", f"http://{endpoint}", "--pair", "pair-1")
    assert code == 0 and [t["id"] for t in json.loads(stdout)["targets"]] == ["pair-1"]
    code, stdout, _ = run("drill", "cleanup", *ROUTE, "--endpoint", f"http://{endpoint}")
    doc = json.loads(stdout)
    assert code == 0 and doc["action"] == "drill-cleanup" and doc["leftovers"] == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--tag", "novalue"], "KEY=VALUE"),
        (["--pair", "d-123"], "not a replica pair id"),
        (["--max-targets", "0"], "max_targets"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    instant: Emulator, endpoint: str, extra: list[str], message: str
) -> None:
    code, stdout, stderr = run("drill", *ROUTE, "--endpoint", f"http://{endpoint}", *extra)
    assert code == 2 and stdout == "" and message in stderr and len(stderr.strip().splitlines()) == 1
    assert instant.ledger.snapshot()["requests"] == []


def test_over_the_cap_is_refused_before_any_write(instant: Emulator, endpoint: str) -> None:
    code, stdout, _ = run("drill", *ROUTE, "--endpoint", f"http://{endpoint}", "--max-targets", "2")
    doc = json.loads(stdout)
    assert code == 2 and "blast-radius cap of 2" in doc["error"] and doc["targets"] == []
    assert all(r["action"].startswith("Describe") for r in instant.ledger.snapshot()["requests"])


def test_a_real_endpoint_needs_credentials() -> None:
    code, stdout, stderr = run(
        "drill", *ROUTE, env={"ALIBABA_CLOUD_ACCESS_KEY_ID": "", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ""}
    )
    assert code == 2 and stdout == "" and "no credentials" in stderr


def readme_drill_policy() -> dict[str, Any]:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Drills") :]
    block = section[section.index("```json") + len("```json") : section.index("```", section.index("```json") + 7)]
    return dict(json.loads(block))


def test_the_readme_ram_policy_is_enough_for_a_drill_and_allows_no_failover(instant: Emulator, endpoint: str) -> None:
    actions = [a for st in readme_drill_policy()["Statement"] for a in st["Action"]]
    assert all(a.startswith("ebs:") for a in actions)
    limited = cfg.Credential(
        access_key_id="LTAIdrillOnly0001", access_key_secret="drill-secret", allowed_actions=actions
    )
    instant.update_config({"credentials": [c.model_dump() for c in [*instant.config().credentials, limited]]})
    env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": limited.access_key_id, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "drill-secret"}
    code, stdout, _ = run("drill", *ROUTE, "--endpoint", f"http://{endpoint}", env=env)
    assert code == 0 and json.loads(stdout)["ok"] is True and "drill-secret" not in stdout
    assert {r["accessKeyId"] for r in instant.ledger.snapshot()["requests"]} == {limited.access_key_id}
    assert not any(a.endswith(("FailoverDiskReplicaPair", "FailoverDiskReplicaGroup", "Reprotect")) for a in actions)


def test_attach_instance_and_probe(instant: Emulator, endpoint: str) -> None:
    from chaos.emulator.ecs.models import InstanceRecord

    instant.ecs.seed_instances([InstanceRecord(InstanceId="i-test", RegionId=DR, ZoneId=f"{DR}-b", Status="Running")])
    instant.update_config(
        {"transitionDelays": {**instant.config().transition_delays, "Attaching": 0.0, "Detaching": 0.0}}
    )
    probe = f"{sys.executable} -c 'import os, sys; sys.exit(0 if os.environ[\"DRILL_DISK_ID\"] else 5)'"
    args = ["drill", *ROUTE, "--endpoint", f"http://{endpoint}", "--pair", "pair-0", "--attach-instance", "i-test"]
    code, stdout, _ = run(*args, "--probe", probe)
    doc = json.loads(stdout)
    assert code == 0 and doc["targets"][0]["probes"][0]["detail"] == "exit 0" and doc["notDetached"] == []
    code, _, stderr = run("drill", *ROUTE, "--endpoint", f"http://{endpoint}", "--probe", "true")
    assert code == 2 and "test instance" in stderr
