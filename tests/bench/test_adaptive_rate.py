"""AdaptiveRate against a token-bucket API, on a fake clock (tests/bench/simulation.py): no sleeping."""

from __future__ import annotations

from replica_failover.pacing import AdaptiveRate
from replica_failover.retry import Deadline

from tests.bench.simulation import simulate


def throttle_share_after(result_sends: list[tuple[float, bool]], start: float) -> float:
    late = [throttled for at, throttled in result_sends if at > start]
    return sum(late) / max(1, len(late))


def test_unpaced_until_the_first_throttle() -> None:
    clock = [0.0]
    rate = AdaptiveRate(now=lambda: clock[0], sleep=lambda s: None)
    for _ in range(100):
        assert rate.reserve()[0] == 0.0
    assert rate.rate is None and rate.throttles == 0


def test_converges_on_the_limit_and_stays_under_it() -> None:
    r = simulate(targets=1000, limit=100, concurrency=16, latency=0.05, seed=3)
    assert r.estimate is not None and abs(r.estimate - 100) < 3
    assert r.throttles <= 0.02 * r.calls  # API calls per target <= 1.02
    assert r.seconds <= 1.05 * 1000 / 100  # the bucket's initial burst pays for the discovery
    assert throttle_share_after(r.sends, 5.0) <= 0.01


def test_half_the_demanded_rate_throttles_under_five_percent_after_five_seconds() -> None:
    # 16 workers at 50 ms demand 320 req/s; the limit is half of that
    r = simulate(targets=3000, limit=160, concurrency=16, latency=0.05, seed=5)
    assert throttle_share_after(r.sends, 5.0) <= 0.05
    assert r.seconds <= 1.05 * 3000 / 160


def test_a_lowered_limit_is_found_again() -> None:
    r = simulate(targets=1500, limit=100, concurrency=16, latency=0.05, seed=7, limit_after=(5.0, 50.0))
    assert r.estimate is not None and abs(r.estimate - 50) < 3
    assert throttle_share_after(r.sends, 8.0) <= 0.05


def test_a_burst_of_throttles_counts_once() -> None:
    clock = [0.0]
    rate = AdaptiveRate(now=lambda: clock[0], sleep=lambda s: None)
    tickets = []
    for _ in range(20):  # twenty requests in flight, all sent before anyone heard of a throttle
        clock[0] += 0.005
        wait, epoch = rate.reserve()
        ticket = rate.commit(epoch, waited=wait > 0)
        assert ticket is not None
        tickets.append(ticket)
    for t in tickets[10:]:
        rate.done(t, throttled=True)
    assert rate.throttles == 10 and rate.decreases == 1
    first = rate.rate
    assert first is not None and first < 200  # half the ~200 req/s it was sending at


def test_a_slot_past_the_deadline_is_refused() -> None:
    clock = [0.0]
    rate = AdaptiveRate(now=lambda: clock[0], sleep=lambda s: None, ceiling=0.5)
    ticket = rate.begin(Deadline.after(10.0))
    rate.done(ticket, throttled=True)  # the first throttle: paced, here at the 0.5 req/s ceiling
    assert rate.rate == 0.5
    ticket = rate.begin(Deadline.after(10.0))  # the next slot is 2 s away: within the deadline
    assert ticket is not None
    rate.done(ticket, throttled=False)
    assert rate.begin(Deadline.after(3.0)) is None  # and the one after that, 4 s away, is not
