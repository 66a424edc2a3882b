"""``replica-failover fanout bench`` end to end at a tiny N, on both FC APIs (no speed assertions:
CI machines vary), and the arithmetic of its bounds."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from typer.testing import CliRunner

from chaos.bench_bound import bound
from chaos.bench_fleet import FC2, FC3, FleetConfig, bounds, planning_calls, render, run_fleet
from chaos.cli import app


def keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys(v)}
    return set()


@pytest.mark.slow
@pytest.mark.parametrize("api", [FC3, FC2])
def test_fleet_bench_fans_out_with_one_effect_per_target(api: str) -> None:
    cfg = FleetConfig(pairs=45, latency_ms=5, rate_limit=100, batch_size=15, api_version=api, async_concurrency=8)  # type: ignore[arg-type]
    report = run_fleet(cfg)
    fleet = report["fleet"]
    assert fleet["fcIdle"] and fleet["coordinatorStatus"] == "Succeeded"
    assert fleet["workers"] == 3 and fleet["workerStatuses"] == {"Succeeded": 3}
    assert fleet["missedTargets"] == 0 and fleet["timeToAllFailoveredSeconds"] > 0
    assert fleet["effectsPerTarget"] == {"min": 1, "max": 1, "exactlyOne": 45}
    assert fleet["writeCalls"] >= 45 and fleet["callsPerTarget"] == round(fleet["apiCalls"] / 45, 4)
    # every worker ran in its own process and reported its peak RSS
    rss = fleet["peakRssMbPerWorker"]
    assert rss["measured"] == 3 and 10 < rss["median"] <= rss["max"] < 1024
    assert fleet["ratioToBound"] == round(fleet["timeToAllFailoveredSeconds"] / report["bound"]["fleet"]["seconds"], 3)
    if api == FC3:  # FC 3.0 keeps each worker's result: the share each was given
        assert fleet["shares"]["initial"] == [33.333]
    else:
        assert fleet["shares"] is None
    assert report["single"] == {"measured": False, "boundSeconds": report["bound"]["single"]["seconds"]}
    assert not [k for k in keys(report) if "_" in k], "one key style (camelCase) in the report"
    text = render(report)
    for line in ("bound (fleet: 3 workers", "effects per target: min 1 max 1", "peak RSS per worker", "one invocation"):
        assert line in text, (line, text)


def test_fleet_bound_counts_the_workers_concurrency_and_their_planning_calls() -> None:
    cfg = FleetConfig()  # N = 20,000, L = 300 ms, Q = 200 req/s, C = 16
    b = bounds(cfg, workers=10)
    pages = 1 + 20_000 // 500
    assert b["fleet"]["workerPlanningCalls"] == 200  # ten batches of 2,000 ids, 100 a describe
    assert b["fleet"] == {
        **bound(20_000, latency_s=0.3, rate=200, concurrency=160, looks=200).as_dict(),
        "workerPlanningCalls": 200,
    }
    # the fleet is bounded by the rate: (20,000 + 200 - 200 burst) / 200 req/s, plus the pages and the last write
    assert b["fleet"]["seconds"] == pytest.approx(pages * 0.3 + 20_000 / 200 + 0.3, abs=1e-3)
    # one invocation is bounded by C / L = 53 req/s: 1,250 rounds of 16 calls
    assert b["single"]["seconds"] == pytest.approx(pages * 0.3 + 1250 * 0.3 + 0.3, abs=1e-3)
    assert planning_calls(45, 3) == 3 and planning_calls(250, 2) == 4 and planning_calls(99, 1) == 0


def test_fleet_bench_refuses_bad_settings_before_starting_anything() -> None:
    for bad, message in (
        ({"pairs": 0}, "--pairs"),
        ({"batch_size": 5000}, "--batch-size"),
        ({"pairs": 20_000, "batch_size": 100, "async_concurrency": 64}, "more workers than"),
    ):
        with pytest.raises(ValueError, match=re.escape(message)):
            run_fleet(FleetConfig(**bad))  # type: ignore[arg-type]
    result = CliRunner().invoke(app, ["fanout", "bench", "--pairs", "20000", "--batch-size", "10", "--json"])
    assert result.exit_code == 2 and "more workers than" in result.output
    assert json.dumps(result.output).count("Traceback") == 0
