"""The executor's small parts on their own: send slots, the status board's batching, the backoff, the client pool,
and the retry rules they make: which answers back off, and the tail that re-sends instead of looking.

Threads here are joined with a bounded timeout: a part that waits when it should not fails the
test (the join times out) instead of hanging it. Nothing waits on a wall-clock sleep for state.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Any

import pytest
from replica_failover.ebs import ApiFailure, EbsApi
from replica_failover.lookup import StatusBoard
from replica_failover.pacing import AdaptiveRate, SendSlots
from replica_failover.retry import Backoff, Deadline, wait_full_jitter, wait_less_looking
from replica_failover.retry import Retryable as _Retryable
from tenacity import RetryCallState, Retrying
from tenacity.wait import wait_fixed

from chaos.emulator.app import Emulator
from chaos.emulator.ebs.models import FleetSpec
from chaos.emulator.faults import FaultError, FaultRule
from tests.conftest import DR, PRIMARY, seed_basic
from tests.function.conftest import Invoke

JOIN = 10.0  # generous: only reached when the part under test waits when it should not
LONG_WINDOW = 600.0  # a board that waited out its window would fail the join


def _run(fn: Any) -> threading.Thread:
    t = threading.Thread(target=fn, daemon=True)
    t.start()
    return t


# ------------------------------------------------------------------------------ SendSlots
class _SignallingCondition(threading.Condition):
    """A Condition that tells the test each time a thread starts waiting on it."""

    def __init__(self, lock: Any, waits: threading.Semaphore) -> None:
        super().__init__(lock)
        self.waits = waits

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.release()
        return super().wait(timeout)


def test_a_waiting_retry_gets_the_next_slot_before_a_waiting_first_attempt() -> None:
    slots = SendSlots(1)
    waits = threading.Semaphore(0)
    # observe the queues, do not change them: same lock, a signal each time a caller starts waiting
    slots._urgent_turn = _SignallingCondition(slots._lock, waits)
    slots._normal_turn = _SignallingCondition(slots._lock, waits)
    order: list[str] = []

    def caller(name: str, urgent: bool) -> None:
        with slots.slot(urgent=urgent):
            order.append(name)

    with slots.slot(urgent=False):  # the only slot is taken: both callers below must queue
        first = _run(lambda: caller("first-attempt", False))
        assert waits.acquire(timeout=JOIN)
        retry = _run(lambda: caller("retry", True))
        assert waits.acquire(timeout=JOIN)
    first.join(JOIN)
    retry.join(JOIN)
    assert order == ["retry", "first-attempt"]


def test_slots_bound_the_calls_in_flight() -> None:
    slots = SendSlots(3)
    inside, peak = 0, 0
    lock = threading.Lock()
    go = threading.Barrier(12)

    def caller(i: int) -> None:
        nonlocal inside, peak
        go.wait(timeout=JOIN)
        with slots.slot(urgent=i % 2 == 0):
            with lock:
                inside += 1
                peak = max(peak, inside)
            threading.Event().wait(0.002)  # hold the slot briefly so callers overlap
            with lock:
                inside -= 1

    threads = [_run(lambda i=i: caller(i)) for i in range(12)]
    for t in threads:
        t.join(JOIN)
    assert not any(t.is_alive() for t in threads)
    assert peak <= 3


# ------------------------------------------------------------------------------ StatusBoard
class _Fetcher:
    def __init__(self, statuses: dict[str, str]) -> None:
        self.statuses = statuses
        self.calls: list[list[str]] = []

    def __call__(self, kind: str, ids: list[str]) -> dict[str, str]:
        self.calls.append(list(ids))
        return {i: self.statuses[i] for i in ids if i in self.statuses}


def test_a_lone_asker_does_not_wait_out_the_window() -> None:
    fetch = _Fetcher({"rp-1": "failovered"})
    board = StatusBoard(fetch, window=LONG_WINDOW)
    got: list[str | None] = []
    board.enter()
    t = _run(lambda: got.append(board.status("pair", "rp-1", Deadline.after(LONG_WINDOW))))
    t.join(JOIN)
    assert not t.is_alive(), "the only working thread waited for askers who could not come"
    assert got == ["failovered"] and fetch.calls == [["rp-1"]]


def test_askers_are_answered_by_one_describe_once_everyone_working_has_asked() -> None:
    fetch = _Fetcher({f"rp-{i}": "normal" for i in range(5)} | {"rp-0": "failovered"})
    board = StatusBoard(fetch, window=LONG_WINDOW)
    answers: dict[str, str | None] = {}
    for _ in range(5):
        board.enter()

    def ask(rid: str) -> None:
        answers[rid] = board.status("pair", rid, Deadline.after(LONG_WINDOW))

    threads = [_run(lambda i=i: ask(f"rp-{i}")) for i in range(5)]
    for t in threads:
        t.join(JOIN)
    assert not any(t.is_alive() for t in threads)
    assert answers == {"rp-0": "failovered", "rp-1": "normal", "rp-2": "normal", "rp-3": "normal", "rp-4": "normal"}
    assert len(fetch.calls) == 1 and sorted(fetch.calls[0]) == [f"rp-{i}" for i in range(5)]


def test_a_resting_worker_is_not_waited_for_and_a_leaving_one_releases_the_leader() -> None:
    fetch = _Fetcher({"rp-1": "normal"})
    board = StatusBoard(fetch, window=LONG_WINDOW)
    for _ in range(3):
        board.enter()
    resting = board.resting()
    resting.__enter__()  # worker 2 is in a backoff: it will not ask within the window
    got: list[str | None] = []
    t = _run(lambda: got.append(board.status("pair", "rp-1", Deadline.after(LONG_WINDOW))))
    # worker 3 is still sending, so the leader waits for it; it finishes its target without asking
    board.leave()
    t.join(JOIN)
    resting.__exit__(None, None, None)
    assert not t.is_alive() and got == ["normal"]


def test_a_full_batch_goes_at_once() -> None:
    ids = [f"rp-{i:03d}" for i in range(StatusBoard.BATCH + 5)]
    fetch = _Fetcher(dict.fromkeys(ids, "normal"))
    fetched = threading.Event()
    inner = fetch.__call__

    def signalling(kind: str, batch: list[str]) -> dict[str, str]:
        fetched.set()
        return inner(kind, batch)

    board = StatusBoard(signalling, window=LONG_WINDOW)
    for _ in range(len(ids) + 1):  # one more working thread than askers: only the batch limit can release
        board.enter()
    def work(rid: str) -> None:  # a worker: looks, then finishes its target
        board.status("pair", rid, Deadline.after(LONG_WINDOW))
        board.leave()

    threads = [_run(lambda rid=rid: work(rid)) for rid in ids]
    assert fetched.wait(JOIN), "a full batch waited for the window"
    board.leave()  # the extra thread leaves, so the remaining askers' batch can go too
    for t in threads:
        t.join(JOIN)
    assert not any(t.is_alive() for t in threads)
    assert len(fetch.calls[0]) == StatusBoard.BATCH
    assert sorted(i for call in fetch.calls for i in call) == ids


# ------------------------------------------------------------------------------ backoff
def _state_after(exc: BaseException) -> RetryCallState:
    rs = RetryCallState(Retrying(), fn=None, args=(), kwargs={})
    rs.set_exception((type(exc), exc, None))
    return rs


@pytest.mark.parametrize(("looked", "expected"), [(0.0, 0.5), (0.2, 0.3), (0.5, 0.0), (2.0, 0.0)])
def test_the_backoff_is_shortened_by_the_time_spent_looking(looked: float, expected: float) -> None:
    wait = wait_less_looking(wait_fixed(0.5))
    failure = _Retryable(ApiFailure("RequestTimeout", "timed out", 504), looked=looked)
    assert wait(_state_after(failure)) == pytest.approx(expected)
    assert wait(_state_after(ValueError("not a retryable failure"))) == pytest.approx(0.5)


def test_a_retry_marked_at_once_has_no_backoff_even_without_a_look() -> None:
    wait = wait_less_looking(wait_fixed(0.5))
    failure = _Retryable(ApiFailure("RequestTimeout", "timed out", 504), at_once=True)
    assert wait(_state_after(failure)) == 0.0


class _Highest(random.Random):
    """The longest jitter every time: a backoff drawn from it is its bound, so any backoff shows."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_full_jitter_doubles_up_to_the_cap_and_draws_from_the_backoffs_rng() -> None:
    wait = wait_full_jitter(0.1, 1.0, _Highest())
    bounds = []
    for n in range(1, 7):
        rs = _state_after(ValueError("x"))
        rs.attempt_number = n
        bounds.append(wait(rs))
    assert bounds == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    seeded = [wait_full_jitter(0.1, 1.0, random.Random(7))(_state_after(ValueError("x"))) for _ in range(2)]
    assert seeded[0] == seeded[1] and 0.0 <= seeded[0] <= 0.1


def test_the_rate_is_calm_one_second_after_the_last_throttled_answer() -> None:
    clock = [100.0]
    rate = AdaptiveRate(now=lambda: clock[0], sleep=lambda s: None)
    assert rate.calm()
    rate.done(rate.begin(Deadline.after(60, lambda: clock[0])), throttled=False)
    assert rate.calm()  # an accepted answer says nothing against the API
    rate.done(rate.begin(Deadline.after(60, lambda: clock[0])), throttled=True)
    clock[0] += 0.99
    assert not rate.calm()
    clock[0] += 0.02
    assert rate.calm()


# ------------------------------------------------------------------------------ retry rules, end to end
_504 = FaultError(status=504, code="RequestTimeout")
_503 = FaultError(status=503, code="ServiceUnavailable")
_THROTTLED = FaultError(status=400, code="Throttling.User")


def _fault(target: str, error: FaultError, count: int, phase: str = "before") -> FaultRule:
    return FaultRule(action="FailoverDiskReplicaPair", target=target, count=count, phase=phase, error=error)


# With one send slot the plan's four targets (pg-1, pair-0, pair-1, pair-2) go strictly in order:
# pair-0 has two targets waiting behind it, pair-2 is the tail (the only target left open).
@pytest.mark.parametrize(
    ("target", "errors", "backs_off"),
    [
        pytest.param("pair-0", [_504, _504], [False, False], id="504-looked-no-backoff"),
        pytest.param("pair-2", [_504, _504], [False, False], id="504-tail-no-backoff"),
        pytest.param("pair-0", [_503, _503], [True, True], id="503-backs-off"),
        pytest.param("pair-0", [_THROTTLED, _THROTTLED], [True, True], id="throttling-backs-off"),
        # a 504 within a second of a throttled answer: the API is pushing back, so it backs off too
        pytest.param("pair-0", [_THROTTLED, _504], [True, True], id="504-after-a-throttle-backs-off"),
        pytest.param("pair-2", [_THROTTLED, _504], [True, True], id="504-after-a-throttle-tail"),
    ],
)
def test_a_lost_answer_is_retried_at_once_and_overload_signals_back_off(
    emulator: Emulator,
    invoke: Invoke,
    target: str,
    errors: list[FaultError],
    backs_off: list[bool],
) -> None:
    seed_basic(emulator)
    # one rule per answer, in order: each fires once, on the target's next write
    rules = [_fault(target, e, 1) for e in errors]
    emulator.faults.set(rules, emulator.clock.now(), emulator.config().seed)
    slept: list[float] = []  # recorded, not slept: the test never waits a backoff out
    backoff = Backoff(base=1.0, cap=1.0, sleep=slept.append, rng=_Highest())
    result = invoke(
        {"action": "failover", "primaryRegion": PRIMARY, "reason": "test", "incidentId": "inc-backoff"},
        backoff=backoff,
        FAILOVER_CONCURRENCY="1",
        FAILOVER_VERIFY="false",
    )
    assert result["status"] == "completed", result["reason"]
    t = {x["id"]: x for x in result["targets"]}
    assert t[target]["errors"] == [e.code for e in errors] and t[target]["outcome"] == "failedOver"
    assert [s > 0 for s in slept] == backs_off
    effects = Counter(e["targetId"] for e in emulator.ledger.snapshot()["effects"])
    assert set(effects.values()) == {1} and effects[target] == 1


def _writes_and_looks(emulator: Emulator, target: str) -> list[str]:
    """The target's calls in ledger order: its writes by outcome, and the describes that named it."""
    out = []
    for r in emulator.ledger.snapshot()["requests"]:
        if r.get("action") == "FailoverDiskReplicaPair" and r.get("target") == target:
            out.append("replayed" if r.get("replayed") else str(r.get("code") or "applied"))
        elif r.get("action") == "DescribeDiskReplicaPairs" and target in str(r["params"].get("PairIds", "")).split(","):
            out.append("look")
    return out


@pytest.mark.parametrize(
    ("target", "concurrency", "calls"),
    [
        # the run had more targets than slots, and pair-2 is the last one open: its tail. Re-sent at
        # once, the 200 is a replay, and the read after it settles the target
        ("pair-2", "1", ["RequestTimeout", "replayed", "look"]),
        # others wait behind pair-1: look first, and the applied write is not sent again
        ("pair-1", "1", ["RequestTimeout", "look"]),
        # a run with no more targets than slots has no tail: it looks first too
        ("pair-2", "16", ["RequestTimeout", "look"]),
    ],
)
def test_in_the_tail_a_lost_answer_is_re_sent_instead_of_looked_at(
    emulator: Emulator, invoke: Invoke, target: str, concurrency: str, calls: list[str]
) -> None:
    seed_basic(emulator)
    emulator.faults.set([_fault(target, _504, 1, phase="after")], emulator.clock.now(), emulator.config().seed)
    result = invoke(
        {"action": "failover", "primaryRegion": PRIMARY, "reason": "test", "incidentId": "inc-tail"},
        FAILOVER_CONCURRENCY=concurrency,
        FAILOVER_VERIFY="false",
    )
    assert result["status"] == "completed", result["reason"]
    t = {x["id"]: x for x in result["targets"]}
    assert t[target]["outcome"] == "failedOver" and t[target]["attempts"] == len(calls) - 1
    assert _writes_and_looks(emulator, target) == calls
    effects = Counter(e["targetId"] for e in emulator.ledger.snapshot()["effects"])
    assert set(effects.values()) == {1} and effects[target] == 1


# ------------------------------------------------------------------------------ the read after a 200
def test_the_read_after_the_200s_waits_for_the_writes_and_takes_100_ids_a_describe(
    emulator: Emulator, invoke: Invoke
) -> None:
    emulator.backend.generate(FleetSpec(pairs=250, routes=[(PRIMARY, DR)], seed=9))
    result = invoke(
        {"action": "failover", "primaryRegion": PRIMARY, "reason": "test", "incidentId": "inc-read"},
        FAILOVER_CONCURRENCY="16",
        FAILOVER_VERIFY="false",
    )
    assert result["status"] == "completed", result["reason"]
    assert result["summary"]["failedOver"] == 250
    assert all(t["statusAfter"] in ("failovering", "failovered") for t in result["targets"])
    requests = emulator.ledger.snapshot()["requests"]
    kinds = [
        "write" if r.get("action") == "FailoverDiskReplicaPair" else "read"
        for r in requests
        if r.get("action") == "FailoverDiskReplicaPair"
        or (r.get("action") == "DescribeDiskReplicaPairs" and r["params"].get("PairIds"))
    ]
    # no read by id while a write is still to be sent, and one describe per 100 targets read
    assert kinds == ["write"] * 250 + ["read"] * 3


def test_a_failed_read_after_the_200_leaves_the_target_pending_with_the_reason(
    emulator: Emulator, invoke: Invoke
) -> None:
    seed_basic(emulator)
    # the planning page passes; every describe by id after it fails for good
    rule = FaultRule(
        action="DescribeDiskReplicaPairs",
        after=1,
        error=FaultError(status=400, code="InvalidParameter", message="PairIds is invalid"),
    )
    emulator.faults.set([rule], emulator.clock.now(), emulator.config().seed)
    result = invoke(
        {"action": "failover", "primaryRegion": PRIMARY, "reason": "test", "incidentId": "inc-unread"},
        FAILOVER_VERIFY="false",
    )
    t = {x["id"]: x for x in result["targets"]}
    assert t["pg-1"]["outcome"] == "failedOver"  # groups are read with their own describe
    for pair in ("pair-0", "pair-1", "pair-2"):
        assert t[pair]["outcome"] == "pending" and t[pair]["attempts"] == 1
        assert "reading its state failed: InvalidParameter" in t[pair]["reason"]
    effects = Counter(e["targetId"] for e in emulator.ledger.snapshot()["effects"])
    assert set(effects.values()) == {1} and {"pair-0", "pair-1", "pair-2", "pg-1"} <= set(effects)


# ------------------------------------------------------------------------------ client pool, end to end
def test_sdk_clients_match_calls_in_flight_not_threads(
    emulator: Emulator, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """4 threads per slot wait for looks; the SDK clients (a Session each) stay at FAILOVER_CONCURRENCY."""
    emulator.backend.generate(FleetSpec(pairs=80, routes=[(PRIMARY, DR)], seed=5))
    emulator.faults.set(
        [
            FaultRule(
                action="FailoverDiskReplicaPair",
                probability=0.4,
                phase="before",
                seed=3,
                error=FaultError(status=504, code="RequestTimeout"),
            )
        ],
        emulator.clock.now(),
        emulator.config().seed,
    )
    created: Counter[str] = Counter()
    real_new = EbsApi._new_client

    def counting(self: EbsApi, region: str) -> Any:
        created[region] += 1
        return real_new(self, region)

    monkeypatch.setattr(EbsApi, "_new_client", counting)
    result = invoke(
        {"action": "failover", "primaryRegion": PRIMARY, "reason": "test", "incidentId": "inc-pool"},
        FAILOVER_CONCURRENCY="3",
        FAILOVER_MAX_ATTEMPTS="20",
    )
    assert result["status"] == "completed", result["reason"]
    assert result["summary"]["failedOver"] == 80
    assert set(created) == {DR} and 1 <= created[DR] <= 3
    effects = Counter(e["targetId"] for e in emulator.ledger.snapshot()["effects"])
    assert len(effects) == 80 and set(effects.values()) == {1}
    # every 504 was looked at, in fewer describes than 504s: the looks were batched
    requests = emulator.ledger.snapshot()["requests"]
    faults = sum(1 for r in requests if r.get("fault"))
    looks = [r for r in requests if r.get("action") == "DescribeDiskReplicaPairs" and r["params"].get("PairIds")]
    assert faults > 10 and 0 < len(looks) < faults


def test_an_api_failure_leaves_a_with_block_as_itself() -> None:
    """The executor's waits are context managers; an ApiFailure must pass through them unchanged."""
    board = StatusBoard(_Fetcher({}), window=0.0)
    failure = ApiFailure("ServiceUnavailable", "temporary failure", 503)
    with pytest.raises(ApiFailure) as info, board.resting(), SendSlots(1).slot(urgent=True):
        raise failure
    assert info.value is failure and info.value.__traceback__ is not None
