"""``bench --recovery`` end to end at a tiny fleet: RTO figures from the ledger, one effect per step.

No speed assertions (CI machines vary); the figures' meaning is asserted instead.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from chaos.bench_recovery import RecoveryBenchConfig, bound, plan, render, run_recovery_bench
from chaos.cli import app

TINY = RecoveryBenchConfig(
    pairs=6, instances=3, records=2, latency_ms=5, rate_limit=200, attach_seconds=0.2, start_seconds=0.3
)


def test_the_plan_and_the_bound_follow_the_fleet() -> None:
    doc = plan(TINY)
    assert [s["takes"] for s in doc["standbys"]] == [
        ["pair-rb-00000", "pair-rb-00003"],
        ["pair-rb-00001", "pair-rb-00004"],
        ["pair-rb-00002", "pair-rb-00005"],
    ]
    assert [r["after"] for r in doc["records"]] == [["i-rb-0000", "i-rb-0002"], ["i-rb-0001"]]
    b = bound(RecoveryBenchConfig())  # the fleet: 200 pairs, 50 instances, 10 records, 50 ms, 100/s
    assert b["attach"] == pytest.approx(200 / 100 + 2.0)  # the rate, not the latency, bounds 200 attaches
    assert b["start"] == pytest.approx(0.05 + 10.0)  # one StartInstances batch of 50, then Starting
    assert b["switch"] == pytest.approx(0.1)  # 10 records at 100/s
    assert b["seconds"] == pytest.approx(b["storage"] + b["attach"] + b["start"] + b["switch"], abs=0.002)


def test_a_bad_fleet_is_refused_before_anything_starts() -> None:
    with pytest.raises(ValueError, match="--records"):
        run_recovery_bench(RecoveryBenchConfig(pairs=4, instances=2, records=3))
    result = CliRunner().invoke(app, ["bench", "--recovery", "--pairs", "2", "--instances", "3", "--json"])
    assert result.exit_code != 0 and "--instances" in result.output


@pytest.mark.slow
def test_tiny_recovery_bench_reports_the_rto_of_both_sides() -> None:
    report = run_recovery_bench(TINY)
    json.dumps(report)  # machine-readable
    base, fn = report["baseline"], report["function"]
    assert base["missedRecords"] == 0 and base["rtoSeconds"] > 0
    assert base["effects"] == {"attach": 6, "start": 3, "switch": 2} and base["maxEffectsPerStep"] == 1
    # the naive script waits for each state in turn: it can never beat the staged bound
    assert base["ratioToBound"] >= 1.0
    # the function recovers the same fleet: every record switched, each step exactly once
    assert fn["missedRecords"] == 0 and fn["rtoSeconds"] > 0 and fn["statuses"][-1] == "completed"
    assert fn["effects"] == {"attach": 6, "start": 3, "switch": 2} and fn["maxEffectsPerStep"] == 1
    assert fn["ratioToBound"] == pytest.approx(fn["rtoSeconds"] / report["bound"]["seconds"], abs=0.001)
    text = render(report)
    assert "bound: storage" in text and "RTO (s)" in text and "naive script" in text
