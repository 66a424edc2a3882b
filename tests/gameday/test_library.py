"""Every scenario in chaos/scenarios/ passes against the function as built, quickly, and writes its reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaos.gameday.runner import RunOptions, run_file
from tests.gameday.conftest import LIBRARY

REQUIRED = {
    "region-outage",
    "504-storm",
    "invalid-status",
    "throttling",
    "duplicate-alarms",
    "lost-ack",
    "mixed-fleet",
    "permission-denied",
    "false-alarm",
    "blast-radius",
    "kill-switch",
    "single-resource-event",
    "escalating-outage",
    "approval-flow",
    "notification-down",
    "cms-throttled",
    "recovery-lost-ack",
    "recovery-stuck-starting",
    "recovery-standby-missing",
    "recovery-dns-down",
    "recovery-killed-mid-compute",
    "drill-lost-ack",
    "drill-clear-fails",
    "drill-killed",
    "drill-rpo-missed",
}


def test_the_library_has_every_required_scenario() -> None:
    assert {p.stem for p in LIBRARY} >= REQUIRED


@pytest.mark.parametrize("path", LIBRARY, ids=[p.stem for p in LIBRARY])
def test_library_scenario_passes(path: Path, tmp_path: Path) -> None:
    outcome = run_file(path, RunOptions(report_dir=tmp_path))
    journal = outcome.journal
    violated = [f"{e.name}: {e.message}" for e in outcome.violations]
    assert outcome.passed, violated
    assert journal.duration_s < 8, "a library game day must finish in a few seconds"
    assert journal.invocations and journal.expectations
    # the hypothesis was checked before and after the method
    names = {e.name for e in journal.expectations}
    assert {"before:eligible-targets-ready", "before:no-effects-yet"} <= names
    assert {"report.json", "report.md", "report.html"} <= {p.name for p in (tmp_path / path.stem).iterdir()}
    doc = json.loads((tmp_path / path.stem / "report.json").read_text())
    assert doc  # written by chaos.gameday.report from this journal


def test_a_chaos_scenario_cannot_pass_vacuously(tmp_path: Path) -> None:
    """The 504 storm really fired its faults and the function really retried with the same tokens."""
    outcome = run_file(Path("chaos/scenarios/504-storm.yaml"), RunOptions())
    figures = outcome.journal.figures
    assert outcome.passed
    assert int(figures["faultsFired"] or 0) >= 4 and int(figures["replays"] or 0) >= 1
    assert figures["effects"] == figures["eligible"] == 14


def test_seed_override_is_recorded_and_reproducible() -> None:
    first = run_file(Path("chaos/scenarios/mixed-fleet.yaml"), RunOptions(seed=99)).journal
    second = run_file(Path("chaos/scenarios/mixed-fleet.yaml"), RunOptions(seed=99)).journal
    assert first.seed == second.seed == 99
    assert first.fleet == second.fleet and first.figures["eligible"] == second.figures["eligible"]
