"""``replica-failover bench`` works end to end at a tiny N (no speed assertions: CI machines vary)."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

import chaos.cli
from chaos.cli import app


def keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys(v)}
    return set()


@pytest.mark.slow
def test_bench_json_has_the_figures_and_one_effect_per_target(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = io.StringIO()  # as if stdout were a terminal: progress goes to this (stderr) console
    monkeypatch.setattr(chaos.cli, "progress_console", lambda: Console(file=terminal, force_terminal=True, width=120))
    args = ["bench", "--pairs", "12", "--latency-ms", "5", "--rate-limit", "200", "--fault-rate", "0.3",
            "--cold-start-runs", "1", "--json"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # the progress never reaches stdout
    assert report["config"]["pairs"] == 12 and report["config"]["concurrency"] == 16
    assert report["config"]["latencyMs"] == 5 and report["config"]["coldStartRuns"] == 1
    assert not [k for k in keys(report) if "_" in k], "one key style (camelCase) in the report"
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", terminal.getvalue())
    for phase in ("starting the emulator", "function: failing over 12 pairs", "naive loop", "cold start"):
        assert phase in shown, (phase, shown)
    assert {"seconds", "byRate", "byConcurrency", "describePages"} <= set(report["bound"])
    for side in ("function", "baseline"):
        fig = report[side]
        for key in ("timeToAllFailoveredSeconds", "ratioToBound", "apiCallsPerTarget", "retries", "throttles",
                    "effectsPerTarget", "peakRssMb", "missedTargets"):  # fmt: skip
            assert key in fig, (side, key)
        assert fig["missedTargets"] == 0
        assert fig["effectsPerTarget"] == {"min": 1, "max": 1}
    assert report["function"]["status"] == "completed"
    cold = report["coldStart"]
    assert cold["runs"] == 1 and cold["handlerImportMs"] > 0 and cold["sdkImportMs"] > 0
    assert cold["firstAnswerMs"] > 0 and len(cold["firstAnswerSamplesMs"]) == 1


def test_cold_start_on_a_named_interpreter() -> None:
    """--cold-start-python: the probes run on that interpreter, and the first answer is a real no-op."""
    import platform
    import sys

    from chaos.bench import cold_start

    cold = cold_start(1, sys.executable)
    assert cold is not None and cold["python"] == platform.python_version()
    assert cold["firstAnswerMs"] >= cold["handlerImportMs"] * 0.5  # the import is inside the first answer


def test_a_missing_cold_start_interpreter_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["bench", "--pairs", "1", "--cold-start-python", "/nonexistent/python"])
    assert result.exit_code == 2 and "--cold-start-python" in result.output and "exist" in result.output
