"""The bench's bound: the token bucket's burst and the calls the injected faults force."""

from __future__ import annotations

import pytest

from chaos.bench_bound import bound, floor_from_ledger, forced_calls


def test_the_burst_is_free_and_the_rest_paced() -> None:
    # N = 1,000, 50 ms, 100 req/s, a bucket of 100: 3 pages, then 900 writes at 100/s, then the last one's latency
    b = bound(1000, latency_s=0.05, rate=100, concurrency=16)
    assert (b.describe_pages, b.writes, b.looks, b.burst) == (3, 1000, 0, 100)
    assert b.by_rate == pytest.approx(9.0) and b.seconds == pytest.approx(0.15 + 9.0 + 0.05)
    # without the burst the old bound read 10.15 s: a run of 9.6 s is not "0.95 x" faster than possible
    assert bound(1000, latency_s=0.05, rate=100, concurrency=16, burst=1).seconds > 10.1


def test_concurrency_bounds_when_the_rate_does_not() -> None:
    b = bound(1000, latency_s=0.3, rate=0, concurrency=16)
    assert b.by_rate == 0 and b.by_concurrency == pytest.approx(63 * 0.3)


def test_faults_force_writes_and_looks() -> None:
    # 30 % 504s, half before apply: 1 / 0.85 writes per target, 15 % / 85 % of targets need a look
    b = bound(1000, latency_s=0.05, rate=100, concurrency=16, fault_rate=0.3)
    assert b.writes == pytest.approx(1176.5, abs=0.1) and b.looks == 2
    assert b.calls_per_target == pytest.approx((1176.47 + 2 + 3) / 1000, abs=1e-3)
    assert b.seconds == pytest.approx(0.15 + (1178.47 - 100) / 100 + 0.05, abs=1e-2)


def test_floor_from_a_ledger_counts_the_faults_that_fired() -> None:
    targets = {f"pair-{i}" for i in range(4)}
    requests: list[dict[str, str | None]] = [
        {"action": "DescribeDiskReplicaPairs", "target": None},
        {"action": "FailoverDiskReplicaPair", "target": "pair-0", "fault": "504-before"},
        {"action": "FailoverDiskReplicaPair", "target": "pair-0"},
        {"action": "FailoverDiskReplicaPair", "target": "pair-1", "fault": "504-after"},
        {"action": "FailoverDiskReplicaPair", "target": "pair-2"},
        {"action": "FailoverDiskReplicaPair", "target": "pair-3", "fault": "504-before"},
        {"action": "FailoverDiskReplicaPair", "target": "pair-3"},
        {"action": "FailoverDiskReplicaPair", "target": "pair-other", "fault": "504-before"},
    ]
    assert forced_calls(requests, targets) == (6, 1)
    floor = floor_from_ledger(requests, targets, latency_s=0.05, rate=2, concurrency=16)
    assert (floor.writes, floor.looks, floor.burst) == (6, 1, 2)
    assert floor.seconds == pytest.approx(2 * 0.05 + (7 - 2) / 2 + 0.05)


@pytest.mark.parametrize("bad", [{"n": -1}, {"concurrency": 0}, {"fault_rate": 1.0}])
def test_nonsense_is_refused(bad: dict[str, float]) -> None:
    args = {"n": 10, "latency_s": 0.05, "rate": 100.0, "concurrency": 16, "fault_rate": 0.0} | bad
    with pytest.raises(ValueError):
        bound(int(args.pop("n")), **args)  # type: ignore[arg-type]
