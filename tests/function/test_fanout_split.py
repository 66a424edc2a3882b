"""The split (how many batches, which targets, which task ids) and a worker's share of the rate."""

from __future__ import annotations

import re

import pytest
from replica_failover.errors import ConfigError
from replica_failover.fanout.ids import task_id
from replica_failover.fanout.quota import SharedRate, share_of
from replica_failover.fanout.settings import load_fanout_settings
from replica_failover.fanout.split import decide
from replica_failover.plan import Plan, PlanItem
from replica_failover.retry import Deadline

FC_TASK_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")  # FC's documented task-id syntax


def plan(n: int, done: int = 0) -> Plan:
    items = [
        PlanItem(
            kind="pair",
            id=f"pair-{i:05d}",
            region="cn-shanghai",
            source_region="cn-hangzhou",
            status="failovered" if i < done else "normal",
            decision="alreadyFailedOver" if i < done else "failover",
            reason="r",
        )
        for i in range(n)
    ]
    return Plan(primary_region="cn-hangzhou", dr_region="cn-shanghai", items=tuple(items))


def split(p: Plan, **over: object) -> object:
    args: dict[str, object] = {
        "batch_size": 0,
        "max_workers": 100,
        "rate_limit": None,
        "concurrency": 16,
        "latency": 0.3,
        "time_left": 100.0,
    }
    args.update(over)
    return decide(p, "thr-key", **args)  # type: ignore[arg-type]


def test_small_plans_stay_in_one_invocation() -> None:
    assert split(plan(10), batch_size=50) is None
    assert split(plan(0), batch_size=1) is None


def test_batch_size_splits_evenly_with_valid_deterministic_task_ids() -> None:
    s = split(plan(1000), batch_size=300)
    assert s is not None
    assert [len(b.items) for b in s.batches] == [250, 250, 250, 250]  # type: ignore[attr-defined]
    ids = [b.task_id for b in s.batches]  # type: ignore[attr-defined]
    assert all(FC_TASK_ID.fullmatch(i) for i in ids) and len(set(ids)) == 4
    assert ids == [task_id("thr-key", 4, k) for k in range(4)]
    assert task_id("thr-key", 4, 0) != task_id("thr-other", 4, 0)


def test_a_rerun_with_targets_already_done_forms_the_same_batches() -> None:
    first, again = split(plan(1000), batch_size=300), split(plan(1000, done=600), batch_size=300)
    assert first is not None and again is not None
    assert [(b.task_id, [i.id for i in b.items]) for b in first.batches] == [  # type: ignore[attr-defined]
        (b.task_id, [i.id for i in b.items])
        for b in again.batches  # type: ignore[attr-defined]
    ]


def test_time_splits_up_to_what_reaches_the_rate() -> None:
    # 16 in flight at 300 ms: 53.3 calls/s per invocation; 2,000 failovers need 37.5 s > 10 s left
    s = split(plan(2000), time_left=10.0)
    assert s is not None and s.workers == 4 and "need" in s.why  # type: ignore[attr-defined]
    # a region rate of 100/s is reached by ceil(100 / 53.3) = 2 invocations: more would not finish sooner
    s = split(plan(2000), time_left=10.0, rate_limit=100.0)
    assert s is not None and s.workers == 2  # type: ignore[attr-defined]
    # a rate one invocation already reaches: no split by time (FC's retry carries what is left)
    assert split(plan(2000), time_left=10.0, rate_limit=40.0) is None
    # a batch event carries at most 2,000 targets, whatever else was decided
    s = split(plan(20_000), time_left=1000.0)
    assert s is not None and s.workers == 10  # type: ignore[attr-defined]


def test_share_and_shared_rate_pacing() -> None:
    assert share_of(200.0, 8) == 25.0 and share_of(None, 8) is None
    now = [0.0]
    sent: list[float] = []

    def sleep(s: float) -> None:
        now[0] += s

    rate = SharedRate(25.0, now=lambda: now[0], sleep=sleep)
    deadline = Deadline(1e9, lambda: now[0])
    for _ in range(51):
        ticket = rate.begin(deadline)
        sent.append(now[0])
        rate.done(ticket, throttled=False)
    # paced at the share from the first call: no burst, 50 intervals of 1/25 s
    assert sent[-1] - sent[0] == pytest.approx(2.0, abs=1e-6)
    assert rate.stats()["rate"] == 25.0


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"FAILOVER_BATCH_SIZE": "ten"}, "FAILOVER_BATCH_SIZE"),
        ({"FAILOVER_RATE_LIMIT": "0"}, "FAILOVER_RATE_LIMIT"),
        ({"FC_API_VERSION": "2021-04-06"}, "FC_API_VERSION"),
        ({"FAILOVER_FUNCTION": "bad name"}, "FAILOVER_FUNCTION"),
    ],
)
def test_bad_fanout_settings_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_fanout_settings(env)
    assert err.value.variable == variable
