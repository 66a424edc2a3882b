"""reprotect and failback through the handler, and the round trip: an incident fails over, reprotect,
failback, and a NEW incident fails over again with a NEW token of the failover chain (round 1).
Both group settings (the group's Source*/Destination* swapped on reprotect, or kept). Ledger-asserted."""

from __future__ import annotations

from collections import Counter

import pytest

from chaos.emulator.app import Emulator
from chaos.emulator.faults import FaultError, FaultRule
from tests.conftest import DR, PRIMARY, seed_basic
from tests.function.conftest import Invoke
from tests.function.reverse_world import (
    TARGETS,
    act,
    body,
    by_id,
    effects,
    fail_over,
    route_of,
    use_emulator_clock,
    write_requests,
)
from tests.function.test_failover import set_faults

PAIRS = TARGETS[:-1]


@pytest.fixture(autouse=True)
def _clock(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    use_emulator_clock(emulator, monkeypatch)


@pytest.fixture(params=[True, False], ids=["group-site-swaps", "group-site-stays"])
def swaps(request: pytest.FixtureRequest, emulator: Emulator) -> bool:
    emulator.update_config({"groupReprotectSwapsSite": request.param})
    return bool(request.param)


def step_effects(emulator: Emulator, before: Counter[tuple[str, str]]) -> dict[tuple[str, str], int]:
    return dict(effects(emulator) - before)


def one_each(*verbs: str) -> dict[tuple[str, str], int]:
    out = {(f"{v}DiskReplicaPair", p): 1 for v in verbs for p in PAIRS}
    out.update({(f"{v}DiskReplicaGroup", "pg-1"): 1 for v in verbs})
    return out


def rf2_tokens(emulator: Emulator, target: str) -> list[str]:
    return [
        str(e["clientToken"])
        for e in emulator.ledger.snapshot()["effects"]
        if e["targetId"] == target and str(e["clientToken"]).startswith("rf2-")
    ]


def test_the_round_trip(emulator: Emulator, invoke: Invoke, endpoint: str, swaps: bool) -> None:
    seed_basic(emulator)
    first = fail_over(emulator, invoke)
    assert {t["outcome"] for t in first["targets"] if t["id"] in TARGETS} == {"failedOver"}

    # reprotect: dry run first (zero writes), then execute
    writes = len(write_requests(emulator))
    plan = act(invoke, endpoint, body("reprotect", dry_run=True, change="CHG-100"))
    assert plan["status"] == "planned" and len(write_requests(emulator)) == writes
    for t in by_id(plan).values():
        assert [(s["step"], s["region"]) for s in t["steps"]] == [("reprotect-reverse", DR), ("start", DR)]
        assert t["preconditions"][0]["name"] == "primaryDisksDetached" and t["preconditions"][0]["state"] == "ok"
    before = effects(emulator)
    done = act(invoke, endpoint, body("reprotect", dry_run=False, change="CHG-100"))
    assert done["status"] == "completed" and {t["outcome"] for t in done["targets"]} == {"done"}, done
    assert step_effects(emulator, before) == one_each("Reprotect", "Start")
    emulator.advance(10)
    assert {route_of(emulator, "pair", p) for p in PAIRS} == {("normal", DR, PRIMARY)}
    group_route = route_of(emulator, "group", "pg-1")
    assert group_route == (("normal", DR, PRIMARY) if swaps else ("normal", PRIMARY, DR))

    # failback: the RPO is reported first; Failover in the primary region, reverse again there, Start
    plan = act(invoke, endpoint, body("failback", dry_run=True, change="CHG-101"))
    assert plan["status"] == "planned" and len(write_requests(emulator)) == writes + 2 * len(TARGETS)
    for t in by_id(plan).values():
        assert t["rpoSeconds"] is not None and t["lastRecoverPoint"] > 0
        assert [(s["step"], s["region"]) for s in t["steps"]] == [
            ("failover", PRIMARY),
            ("reprotect-reverse", PRIMARY),
            ("start", DR),
        ]
        assert t["preconditions"][0]["name"] == "drDisksDetached"
    before = effects(emulator)
    back = act(invoke, endpoint, body("failback", dry_run=False, change="CHG-101"))
    assert back["status"] == "completed" and {t["outcome"] for t in back["targets"]} == {"done"}, back
    assert step_effects(emulator, before) == one_each("Failover", "Reprotect", "Start")
    requests = emulator.ledger.snapshot()["requests"]
    planned = [
        r for r in requests if r["action"].startswith("Failover") and str(r.get("clientToken")).startswith("rv-")
    ]
    assert len(planned) == len(TARGETS) and {r["regionId"] for r in planned} == {PRIMARY}
    emulator.advance(10)
    assert {route_of(emulator, "pair", p) for p in PAIRS} == {("normal", PRIMARY, DR)}
    assert route_of(emulator, "group", "pg-1") == ("normal", PRIMARY, DR)

    # a NEW incident: round 0 of the chain was consumed by the first one (replayed), round 1 fails over
    before = effects(emulator)
    second = fail_over(emulator, invoke, trans_id="t-next-incident")
    for t in second["targets"]:
        if t["id"] in TARGETS:
            assert t["outcome"] == "failedOver" and t["tokenRound"] == 1, t
            tokens = rf2_tokens(emulator, t["id"])
            assert len(tokens) == 2 and tokens[0] != tokens[1] and tokens[1] == t["clientToken"]
    assert step_effects(emulator, before) == one_each("Failover")


def test_lost_acknowledgements_make_one_effect_per_step(emulator: Emulator, invoke: Invoke, endpoint: str) -> None:
    """504 after the write was applied, once each, on Reprotect, Start and Failover (pair and group)."""
    seed_basic(emulator)
    fail_over(emulator, invoke)
    lost = FaultError(status=504, code="RequestTimeout")
    rules = [
        FaultRule(action=f"{verb}Disk{noun}", target=target, phase="after", count=1, error=lost)
        for verb in ("Reprotect", "Start", "Failover")
        for noun, target in (("ReplicaPair", "pair-1"), ("ReplicaGroup", "pg-1"))
    ]
    set_faults(emulator, *rules)
    before = effects(emulator)
    done = act(invoke, endpoint, body("reprotect", dry_run=False, change="CHG-7"))
    assert done["status"] == "completed", done
    emulator.advance(10)
    back = act(invoke, endpoint, body("failback", dry_run=False, change="CHG-8"))
    assert back["status"] == "completed", back
    twice = {key: 2 for key in one_each("Reprotect", "Start")}  # once per change: reprotect, then failback
    assert step_effects(emulator, before) == {**one_each("Failover"), **twice}
    timeouts = [r for r in emulator.ledger.snapshot()["requests"] if r.get("code") == "RequestTimeout"]
    assert len(timeouts) == len(rules)  # every lost acknowledgement happened
    assert {route_of(emulator, "pair", "pair-1")[1:], route_of(emulator, "group", "pg-1")[1:]} == {(PRIMARY, DR)}
