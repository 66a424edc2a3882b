"""The ClientToken chain and retries until the deadline, against the emulator: effects counted in its ledger.

What these prove: a failover that fails asynchronously is retried every time (a new round's token);
a moving LastRecoverPoint does not split one outage into two tokens; a later incident after a
failback walks past the consumed tokens; a long API blip is outlasted instead of ending the run.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from replica_failover.retry import Backoff
from replica_failover.token import MAX_ROUNDS, chain_base, round_token

from chaos.emulator.app import Emulator
from chaos.emulator.ebs.backend import CallContext
from chaos.emulator.ebs.models import FleetSpec
from chaos.emulator.faults import FaultError, FaultRule
from tests.conftest import DR, PRIMARY, EbsCall, seed_basic
from tests.function.conftest import Invoke
from tests.function.test_failover import ALERT, PRIMARY_PAIRS, by_id, effects_per_target, set_faults, writes

TARGETS = [*PRIMARY_PAIRS, "pg-1"]


def tokens_of(emulator: Emulator, target: str) -> list[str]:
    """The function's tokens that had an effect on ``target`` (the operator's calls carry none)."""
    effects = emulator.ledger.snapshot()["effects"]
    return [str(e["clientToken"]) for e in effects if e["targetId"] == target and e["clientToken"]]


def never_failed_over_yet_failover_failed(result: dict[str, Any]) -> list[str]:
    """Targets the result calls failed over although the look it took read failover_failed."""
    return [
        t["id"] for t in result["targets"] if t["outcome"] == "failedOver" and t["statusAfter"] == "failover_failed"
    ]


def test_token_format_and_chain() -> None:
    base = chain_base(
        PRIMARY, DR, "pair", {"ReplicaPairId": "pair-0", "SourceRegion": PRIMARY, "DestinationRegion": DR}
    )
    tokens = [round_token(base, k) for k in range(MAX_ROUNDS)]
    assert all(t.isascii() and len(t) <= 64 for t in tokens) and len(set(tokens)) == MAX_ROUNDS
    assert tokens[0].startswith("rf2-") and tokens[0].endswith("-0") and len(tokens[-1]) == 4 + 40 + 3
    # the recovery point is not an input (it moves while a primary still replicates); the direction is
    moved = {"ReplicaPairId": "pair-0", "SourceRegion": PRIMARY, "DestinationRegion": DR, "LastRecoverPoint": 9}
    assert chain_base(PRIMARY, DR, "pair", moved) == base
    back = {"ReplicaPairId": "pair-0", "SourceRegion": DR, "DestinationRegion": PRIMARY}
    assert chain_base(PRIMARY, DR, "pair", back) != base
    with pytest.raises(ValueError, match="outside"):
        round_token(base, MAX_ROUNDS)


# ------------------------------------------------------------------ the emulator's recovery point
def test_recovery_point_moves_while_replicating_and_freezes_after(emulator: Emulator, ebs: EbsCall) -> None:
    seed_basic(emulator)
    emulator.clock.freeze(True)
    emulator.update_config({"replicationCycleSeconds": 10})

    def points() -> dict[str, int]:
        pairs = ebs("DescribeDiskReplicaPairs", Site="backup", MaxResults=100)["ReplicaPairs"]
        groups = ebs("DescribeDiskReplicaGroups", Site="backup", MaxResults=100)["ReplicaGroups"]
        found = {p["ReplicaPairId"]: p["LastRecoverPoint"] for p in pairs}
        return found | {g["ReplicaGroupId"]: g["LastRecoverPoint"] for g in groups}

    first = points()
    emulator.advance(25)
    second = points()
    assert {k: second[k] - first[k] for k in first} == dict.fromkeys(first, 20)  # two whole cycles
    ebs("FailoverDiskReplicaPair", ReplicaPairId="pair-0")  # replication stops: the point freezes
    emulator.advance(100)
    third = points()
    assert third["pair-0"] == second["pair-0"]
    assert third["pair-1"] == second["pair-1"] + 100 and third["pg-1"] == second["pg-1"] + 100
    emulator.backend.flip("pair", "pair-1", "stopped")
    emulator.advance(100)
    assert points()["pair-1"] == third["pair-1"]


# ------------------------------------------------------------------ problem 1: failover_failed, again and again
def test_a_failover_that_fails_asynchronously_twice_is_retried_each_time(
    emulator: Emulator, invoke: Invoke, strict: bool
) -> None:
    seed_basic(emulator)
    for n in range(3):
        result = invoke({**ALERT, "transId": f"t-{n}"})
        t = by_id(result)["pair-1"]
        assert result["status"] == "completed" and not result["raised"]
        assert t["outcome"] == "failedOver" and t["tokenRound"] == n and t["statusAfter"] == "failovering"
        assert t["passedRounds"] == ["failover_failed"] * n  # each earlier round replayed, read failed, passed
        assert not never_failed_over_yet_failover_failed(result)
        if n < 2:  # the failover in flight fails asynchronously
            emulator.backend.flip("pair", "pair-1", "failovering", complete_to="failover_failed")
        emulator.advance(5)
    assert emulator.backend.pairs["pair-1"].Status == "failovered"
    assert tokens_of(emulator, "pair-1") == [t["clientToken"][:-1] + str(k) for k in range(3)]
    assert effects_per_target(emulator) == Counter({**dict.fromkeys(PRIMARY_PAIRS, 1), "pg-1": 1, "pair-1": 3})
    done = invoke({**ALERT, "transId": "t-after"})
    assert by_id(done)["pair-1"]["outcome"] == "alreadyFailedOver"
    assert effects_per_target(emulator)["pair-1"] == 3


def test_a_group_failover_that_failed_is_retried(emulator: Emulator, invoke: Invoke, strict: bool) -> None:
    seed_basic(emulator)
    invoke(ALERT)
    emulator.backend.flip("group", "pg-1", "failovering", complete_to="failover_failed")
    emulator.advance(5)
    result = invoke({**ALERT, "transId": "t-2"})
    g = by_id(result)["pg-1"]
    assert g["outcome"] == "failedOver" and g["tokenRound"] == 1 and g["passedRounds"] == ["failover_failed"]
    emulator.advance(5)
    assert emulator.backend.groups["pg-1"].Status == "failovered"
    assert effects_per_target(emulator)["pg-1"] == 2


def test_the_walk_is_bounded(emulator: Emulator, invoke: Invoke) -> None:
    """An API that answers 200 and never fails the pair over: the walk stops with a clear reason."""
    seed_basic(emulator, with_group=False)

    def accepted_but_nothing(ctx: CallContext, region: str, pid: str) -> None:
        if pid != "pair-0":
            original(ctx, region, pid)

    original = emulator.backend.failover_pair
    emulator.backend.failover_pair = accepted_but_nothing  # type: ignore[method-assign]
    result = invoke(ALERT)
    t = by_id(result)["pair-0"]
    assert t["outcome"] == "failed" and f"{MAX_ROUNDS} ClientToken rounds" in t["reason"]
    assert t["passedRounds"] == ["normal"] * MAX_ROUNDS
    assert result["status"] == "partial" and not result["ok"]
    assert len({w["clientToken"] for w in writes(emulator) if w["target"] == "pair-0"}) == MAX_ROUNDS


# ------------------------------------------------------------------ round trip: failback, then a new incident
def test_after_a_failback_a_new_incident_fails_over_again_with_a_new_token(
    emulator: Emulator, invoke: Invoke, ebs: EbsCall, strict: bool
) -> None:
    seed_basic(emulator)
    first = invoke(ALERT)
    assert {by_id(first)[t]["outcome"] for t in TARGETS} == {"failedOver"}
    emulator.advance(5)
    # the operator fails back: pair-0 the long way (reverse, resync, fail over in the primary, reverse again),
    # the others by reprotecting in the original direction; then replication starts again
    ebs("ReprotectDiskReplicaPair", ReplicaPairId="pair-0", ReverseReplicate="true")
    emulator.advance(5)
    ebs("StartDiskReplicaPair", ReplicaPairId="pair-0")
    emulator.advance(10)
    ebs("FailoverDiskReplicaPair", ReplicaPairId="pair-0", RegionId=PRIMARY)
    emulator.advance(5)
    ebs("ReprotectDiskReplicaPair", ReplicaPairId="pair-0", ReverseReplicate="true", RegionId=PRIMARY)
    for pid in PRIMARY_PAIRS[1:]:
        ebs("ReprotectDiskReplicaPair", ReplicaPairId=pid, ReverseReplicate="false")
    ebs("ReprotectDiskReplicaGroup", ReplicaGroupId="pg-1", ReverseReplicate="false")
    emulator.advance(5)
    for pid in PRIMARY_PAIRS:
        ebs("StartDiskReplicaPair", ReplicaPairId=pid)
    ebs("StartDiskReplicaGroup", ReplicaGroupId="pg-1")
    emulator.advance(10)
    assert {p.Status for p in emulator.backend.pairs.values() if p.SourceRegion == PRIMARY} == {"normal"}
    before = Counter(e["targetId"] for e in emulator.ledger.snapshot()["effects"] if e["clientToken"])

    second = invoke({**ALERT, "transId": "t-next-incident", "timestamp": "1700086400000"})
    assert second["status"] == "completed" and not second["raised"]
    for target in TARGETS:
        t = by_id(second)[target]
        # round 0 was the first incident's token: replayed ("done"), the target still read normal
        assert t["outcome"] == "failedOver" and t["tokenRound"] == 1 and t["passedRounds"] == ["normal"], t
        ours = tokens_of(emulator, target)
        assert len(ours) == 2 and ours[0] != ours[1] and ours[1] == t["clientToken"]
    after = Counter(e["targetId"] for e in emulator.ledger.snapshot()["effects"] if e["clientToken"])
    assert after - before == Counter(dict.fromkeys(TARGETS, 1))  # one new effect each
    assert [w for w in writes(emulator) if w.get("replayed")]  # the consumed round-0 tokens were replayed


# ------------------------------------------------------------------ problem 2: a moving recovery point
def test_200_pairs_moving_recovery_point_and_held_writes_one_effect_each(emulator: Emulator, invoke: Invoke) -> None:
    """Default mode. A's writes for three pairs are held (before they reach the API) while the recovery
    point moves on and B plans and fails them over; A's held writes then land. Same token: replays."""
    emulator.backend.generate(FleetSpec(pairs=200, routes=[(PRIMARY, DR)], seed=12))
    emulator.update_config({"replicationCycleSeconds": 1})
    emulator.clock.freeze(True)  # the recovery point moves when the test says so
    held = ["pair-gen12-000007", "pair-gen12-000100", "pair-gen12-000199"]
    hold_ms = 6000
    set_faults(
        emulator,
        *(FaultRule(action="FailoverDiskReplicaPair", target=p, count=1, latency_ms=hold_ms) for p in held),
    )
    results: dict[str, dict[str, Any]] = {}

    def run_a() -> None:
        results["a"] = invoke(ALERT, FAILOVER_CONCURRENCY="16", FAILOVER_READ_TIMEOUT_SECONDS="10")

    a = threading.Thread(target=run_a)
    a.start()
    # A's other 197 writes answered: the three held ones are still on their way
    for _ in range(1000):
        if sum(1 for w in writes(emulator) if w["target"] not in held) >= 197:
            break
        assert emulator.ledger.wait_for_requests(emulator.ledger.counts()["requests"] + 1, 10), "A stalled"
    assert not [w for w in writes(emulator) if w["target"] in held]
    point = {p: emulator.backend.pairs[p].LastRecoverPoint for p in held}
    emulator.advance(5)  # replication goes on: five cycles
    results["b"] = invoke({**ALERT, "transId": "t-b"}, FAILOVER_CONCURRENCY="16")
    a.join(60)
    assert not a.is_alive()
    assert {p: emulator.backend.pairs[p].LastRecoverPoint - point[p] for p in held} == dict.fromkeys(held, 5)
    counts = effects_per_target(emulator)
    assert len(counts) == 200 and set(counts.values()) == {1}
    for p in held:
        calls = [w for w in writes(emulator) if w["target"] == p]
        assert len({w["clientToken"] for w in calls}) == 1  # B derived A's token, though the point moved
        assert by_id(results["b"])[p]["outcome"] == "failedOver"
        assert [e["requestId"] for e in emulator.ledger.snapshot()["effects"] if e["targetId"] == p]
        assert any(w.get("replayed") for w in calls)  # A's held write, landing late, was a replay
    assert results["a"]["status"] == results["b"]["status"] == "completed"


# ------------------------------------------------------------------ problem 3: a long blip
def test_a_15_second_blip_of_503s_is_outlasted(emulator: Emulator, invoke: Invoke, strict: bool) -> None:
    """15 s of 503s on the listing, then 15 s of 503s on every write, within a 120 s FC timeout.

    The function's clock is the emulator's: every backoff advances it, so the blips pass in emulator
    seconds and no wall-clock time is waited. One worker (FAILOVER_CONCURRENCY=1), so that the clock
    moves exactly by the one thread's waits.
    """
    emulator.backend.generate(FleetSpec(pairs=30, routes=[(PRIMARY, DR)], seed=3, group_size=3, grouped_fraction=0.2))
    blip = 15.0
    unavailable = FaultError(status=503, code="ServiceUnavailable")
    set_faults(
        emulator,
        FaultRule(id="list-blip", action="DescribeDiskReplicaGroups", duration_seconds=blip, error=unavailable),
        *(
            FaultRule(
                id=f"write-blip-{a}", action=a, start_after_seconds=blip, duration_seconds=blip, error=unavailable
            )
            for a in ("FailoverDiskReplicaPair", "FailoverDiskReplicaGroup")
        ),
    )
    def wait(seconds: float) -> None:
        emulator.advance(seconds)

    started = emulator.clock.now()
    result = invoke(
        ALERT,
        timeout=120,
        backoff=Backoff(now=emulator.clock.now, sleep=wait),  # the production policy: 0.1 s .. 1 s
        FAILOVER_DEADLINE_MARGIN_SECONDS="5",
        FAILOVER_RETRY_BUDGET="50",
        FAILOVER_CONCURRENCY="1",
    )
    function_seconds = emulator.clock.now() - started
    assert result["status"] == "completed" and result["ok"] and not result["raised"], result["reason"]
    emulator.advance(5)
    eligible = [t["id"] for t in result["targets"] if t["outcome"] == "failedOver"]
    assert len(eligible) == len(result["targets"])
    counts = effects_per_target(emulator)
    assert set(counts) == set(eligible) and set(counts.values()) == {1}
    final = {p.ReplicaPairId: p.Status for p in emulator.backend.pairs.values()}
    final |= {g.ReplicaGroupId: g.Status for g in emulator.backend.groups.values()}
    assert {final[t] for t in eligible} == {"failovered"}
    fired = {str(r["id"]): int(str(r["fired"])) for r in emulator.faults.rules()}
    # the blips outlast a per-call cap of 8 attempts (each blip alone) and a fixed budget of 50 retries (the
    # two together): only retrying until the deadline, with a refilling budget, gets through them
    assert fired["list-blip"] > 8
    assert fired["write-blip-FailoverDiskReplicaPair"] + fired["write-blip-FailoverDiskReplicaGroup"] > 8
    assert result["retries"] > 50
    assert 30 <= function_seconds < 115  # it outlived both blips and finished before the deadline
