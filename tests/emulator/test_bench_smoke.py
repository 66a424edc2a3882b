"""The benchmark script runs end to end with a tiny load (no timing assertions: figures only)."""

from __future__ import annotations

import pytest

from benchmarks.emulator_bench import PHASES, main, percentile
from chaos.emulator.app import Emulator
from chaos.emulator.ebs.backend import snapshot
from chaos.emulator.ebs.models import FleetSpec, GroupRecord, PairRecord, Tag


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_benchmark_main_returns_figures_and_no_errors(mode: str) -> None:
    report = main(["--requests", "50", "--clients", "2", "--pairs", "20", "--client-mode", mode, "--quiet"])
    assert set(report["phases"]) == set(PHASES)
    assert report["errors"] == 0 and report["effects"] > 0
    for name, phase in report["phases"].items():
        assert phase["requests"] == 50, name
        assert phase["rps"] > 0 and phase["client_ms"]["p99"] >= phase["client_ms"]["p50"] > 0
        assert phase["errors"] == {}
        if PHASES[name].target == "emulator":
            assert phase["server_ms"]["p99"] >= phase["server_ms"]["p50"] > 0
            assert set(phase["actions"]) <= {"DescribeDiskReplicaPairs", "FailoverDiskReplicaPair"}
        else:
            assert phase["server_ms"] is None
    assert set(report["added_ms"]) == {"p50", "p95", "p99"}
    assert set(report["targets"]) == {"rps>=1000", "addedP99<=5ms"}


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile(values, 100)) == (50.0, 99.0, 100.0)
    assert percentile([], 99) == 0.0 and percentile([3.0], 1) == 3.0


def test_describe_snapshot_equals_model_dump() -> None:
    """The fast copy describe answers with must stay the records' own ``model_dump()``."""
    emulator = Emulator()
    emulator.backend.generate(FleetSpec(pairs=60, group_size=4, grouped_fraction=0.5, seed=3,
                                        tags={"app": "db", "tier": "gold"}))  # fmt: skip
    emulator.backend.seed_pairs([PairRecord(ReplicaPairId="pair-x", PairName="数据库", SourceRegion="cn-a",
                                            DestinationRegion="cn-b", Tags=[Tag(TagKey="k")])])  # fmt: skip
    emulator.backend.seed_groups([GroupRecord(ReplicaGroupId="pg-x", SourceRegionId="cn-a",
                                              DestinationRegionId="cn-b", PairIds=["pair-x"])])  # fmt: skip
    records: list[PairRecord | GroupRecord] = [*emulator.backend.pairs.values(), *emulator.backend.groups.values()]
    for rec in records:
        snap = snapshot(rec)
        assert snap == rec.model_dump() and list(snap) == list(rec.model_dump())
        snap["Tags"].append({"TagKey": "mutated"})  # a copy: the record is untouched
        assert len(rec.Tags) == len(snap["Tags"]) - 1
