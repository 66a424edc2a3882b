"""A worker's rate share follows the workers still running: on a fake clock (the sum of the running
workers' shares never exceeds the region's rate, a finished sibling raises the others'), and against
the emulator's FC 3.0 (ListAsyncTasks) and FC 2.0 (the share stays fixed)."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from replica_failover.fanout.quota import SharedRate, share_of
from replica_failover.retry import Deadline

from chaos.emulator.app import Emulator
from chaos.emulator.config import RateLimit
from chaos.emulator.ebs.models import PairRecord
from tests.conftest import DR, PRIMARY
from tests.function.fanout_support import FC2, FC3, effects_per_target, fanout_env, register, run, worker_results
from tests.function.test_fanout import ALERT


class Fleet:
    """``workers`` SharedRates on one fake clock; the count they read is FC's view: not finished yet."""

    def __init__(self, rate: float, workers: int, every: float = 5.0) -> None:
        self.now = 0.0
        self.rate = rate
        self.finished: set[int] = set()
        self.workers = workers
        share = share_of(rate, workers)
        assert share is not None
        self.shares = [
            SharedRate(share, rate_limit=rate, unfinished=self.unfinished, every=every, now=self.clock)
            for _ in range(workers)
        ]

    def clock(self) -> float:
        return self.now

    def unfinished(self) -> int:
        return self.workers - len(self.finished)

    def running_sum(self) -> float:
        return sum(s.share for i, s in enumerate(self.shares) if i not in self.finished)


def test_sum_of_running_shares_never_exceeds_the_rate() -> None:
    rng = random.Random(7)
    fleet = Fleet(200.0, 10)
    order = list(range(10))
    rng.shuffle(order)
    checks = 0
    for step in range(400):
        fleet.now += rng.uniform(0.1, 2.0)
        if step % 40 == 39 and len(order) > 1:  # the last one keeps running
            fleet.finished.add(order.pop())
        for i in rng.sample(range(10), 10):  # workers refresh in any order, each on its own schedule
            if i not in fleet.finished:
                fleet.shares[i].maybe_refresh()
                assert fleet.running_sum() <= fleet.rate + 1e-9
                checks += 1
    assert checks > 1000
    last = [s for i, s in enumerate(fleet.shares) if i not in fleet.finished]
    assert [s.share for s in last] == [200.0]  # the last worker has the whole rate
    assert all(h["share"] == share_of(200.0, h["unfinished"]) for s in fleet.shares for h in s.history)


def test_a_finished_sibling_raises_the_others_share_and_their_pace() -> None:
    fleet = Fleet(40.0, 4, every=5.0)
    a, b = fleet.shares[0], fleet.shares[1]
    assert a.share == 10.0
    fleet.finished.add(3)
    fleet.now = 4.9
    a.maybe_refresh()
    assert a.share == 10.0 and a.refreshes == 0  # not due yet: no call to FC
    fleet.now = 5.0
    a.maybe_refresh()
    assert a.share == 13.333 and b.share == 10.0  # b has not counted yet: the sum stays under 40
    assert fleet.running_sum() <= 40.0
    b.maybe_refresh()
    assert b.share == 13.333
    # a's sends are now spaced at its larger share
    sent = []
    deadline = Deadline(1e9, fleet.clock)

    def sleep(s: float) -> None:
        fleet.now += s

    a._sleep = sleep  # the fake clock's sleep
    for _ in range(41):
        ticket = a.begin(deadline)
        sent.append(fleet.now)
        a.done(ticket, throttled=False)
    assert sent[-1] - sent[0] == pytest.approx(40 / 13.333, rel=1e-3)
    a.done(a.commit(0, waited=False), throttled=True)  # one of 42 sends throttled
    report = a.report()
    assert (report["rateShare"], report["finalShare"], report["shareRefreshes"]) == (10.0, 13.333, 1)
    assert (report["throttled"], report["throttledShare"]) == (1, round(1 / 42, 4))
    assert report["shareHistory"][0] == {"atSeconds": 5.0, "unfinished": 3, "share": 13.333}


def test_a_failed_count_keeps_the_share() -> None:
    now = [0.0]

    def broken() -> int | None:
        raise ConnectionError("FC unreachable")

    rate = SharedRate(10.0, rate_limit=40.0, unfinished=broken, every=1.0, now=lambda: now[0])
    now[0] = 1.0
    rate.maybe_refresh()
    assert (rate.share, rate.refreshes, rate.refresh_errors) == (10.0, 1, 1)
    # and without a rate to divide, the share is fixed: nothing is ever counted
    fixed = SharedRate(10.0, unfinished=broken, now=lambda: now[0])
    now[0] = 100.0
    fixed.maybe_refresh()
    assert fixed.refreshes == 0


def test_a_throttled_rate_keeps_its_proportion_when_the_share_grows() -> None:
    now = [0.0]
    rate = SharedRate(10.0, rate_limit=40.0, unfinished=lambda: 2, every=1.0, now=lambda: now[0])
    alone = SharedRate(10.0, now=lambda: now[0])  # the same throttle, no sibling finishing
    for r in (rate, alone):
        r.done(r.commit(0, waited=False), throttled=True)  # a throttle lowers the rate below the share
    assert rate.rate is not None and rate.rate < 10.0
    now[0] = 1.0
    rate.maybe_refresh()
    assert rate.share == 20.0 and alone.share == 10.0
    assert alone.rate is not None and rate.rate == pytest.approx(2 * alone.rate) and rate.rate < 20.0


def seed_one_batch_done(emulator: Emulator) -> set[str]:
    """120 loose pairs, four batches of 30: the first batch's pairs are failed over already, so its
    worker finishes at once and the other three should take over its share."""
    pairs = [
        PairRecord(
            ReplicaPairId=f"pair-{i:03d}",
            SourceRegion=PRIMARY,
            DestinationRegion=DR,
            Status="failovered" if i < 30 else "normal",
        )
        for i in range(120)
    ]
    emulator.backend.seed_pairs(pairs)
    return {f"pair-{i:03d}" for i in range(30, 120)}


def test_workers_take_over_a_finished_siblings_share_on_fc3(emulator: Emulator, endpoint: str) -> None:
    to_fail = seed_one_batch_done(emulator)
    emulator.update_config({"rateLimits": [RateLimit(action="*", rate=40, burst=5).model_dump()]})
    env = fanout_env(
        endpoint, FC3, FAILOVER_BATCH_SIZE="30", FAILOVER_RATE_LIMIT="40", FAILOVER_SHARE_REFRESH_SECONDS="0.3"
    )
    register(emulator, env)
    result = run(emulator, ALERT, env)
    assert (result["fanout"]["workers"], result["fanout"]["rateShare"]) == (4, 10.0)
    assert emulator.fc.wait_idle(120)
    assert effects_per_target(emulator) == Counter(dict.fromkeys(to_fail, 1))
    workers = {w["fanout"]["batch"]: w["fanout"] for w in worker_results(emulator)}
    assert sorted(workers) == [0, 1, 2, 3]
    for batch in (1, 2, 3):
        fan = workers[batch]
        assert fan["rateShare"] == 10.0 and fan["shareRefreshes"] >= 1 and fan["shareRefreshErrors"] == 0
        assert fan["finalShare"] > 10.0, fan  # batch 0 finished: its share went to the others
        assert all(h["share"] == share_of(40.0, h["unfinished"]) and h["unfinished"] <= 3 for h in fan["shareHistory"])
    requests = emulator.ledger.snapshot()["requests"]
    ebs = [r for r in requests if str(r.get("action", "")).startswith(("Failover", "Describe"))]
    throttles = sum(1 for r in ebs if str(r.get("code") or "").startswith("Throttling"))
    assert throttles <= 0.05 * len(ebs), (throttles, len(ebs))


@pytest.mark.parametrize(("api", "rate", "follows"), [(FC3, "40", True), (FC2, "40", False), (FC3, None, False)])
def test_which_workers_follow_their_siblings(endpoint: str, api: str, rate: str | None, follows: bool) -> None:
    """FC 3.0 with a configured rate: the share follows; FC 2.0 (its invocations cannot be listed
    through aliyun-fc2) or no configured rate: the share is fixed."""
    from replica_failover.fanout.entry import worker_rate
    from replica_failover.fanout.events import BatchEvent
    from replica_failover.fanout.ids import task_id

    extra = {"FAILOVER_RATE_LIMIT": rate} if rate else {}
    env = fanout_env(endpoint, api, **extra)
    event = BatchEvent.model_validate(
        {
            "fanout": "batch",
            "incidentKey": "thr-k",
            "primaryRegion": PRIMARY,
            "batch": 0,
            "batches": 4,
            "taskId": task_id("thr-k", 4, 0),
            "rateShare": 10.0,
            "pairIds": ["pair-000"],
        }
    )
    context = run_context(endpoint)
    shared = worker_rate(event, context=context, env=env)
    assert isinstance(shared, SharedRate) and shared.share == 10.0
    assert (shared._unfinished is not None) is follows


def run_context(endpoint: str) -> object:
    from chaos.emulator.config import DEFAULT_STS_ACCESS_KEY_ID, EmulatorConfig
    from chaos.emulator.fc import FunctionSpec, make_context

    config = EmulatorConfig()
    spec = FunctionSpec(service="s", name="replica-failover", handler="index:handler")
    return make_context(
        spec,
        request_id="w-1",
        credential=config.credential(DEFAULT_STS_ACCESS_KEY_ID),
        region=DR,
        account_id=config.account_id,
    )
