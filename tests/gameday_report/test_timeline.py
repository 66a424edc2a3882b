"""build_timelines: lanes, event kinds and times from a real run, plus clock mapping and scale."""

from __future__ import annotations

import time
from typing import Any

from chaos.gameday.timeline import build_timelines
from tests.gameday_report.conftest import ELIGIBLE, GameDay


def _lanes(gd: GameDay) -> dict[str, Any]:
    return {tl.id: tl for tl in gd.timelines}


def test_one_lane_per_target_groups_first(gameday: GameDay) -> None:
    ids = [(tl.kind, tl.id) for tl in gameday.timelines]
    assert ids == sorted(ids) and ids[0] == ("group", "pg-1")
    assert set(ids) == set(gameday.final_status)  # every seeded target, touched or not
    lanes = _lanes(gameday)
    assert {k for k, tl in lanes.items() if tl.eligible} == {tid for _, tid in ELIGIBLE}
    assert lanes["pair-1"].final_status == "failovered"


def test_lost_ack_shows_call_fault_effect_and_no_second_write(gameday: GameDay) -> None:
    pair1 = _lanes(gameday)["pair-1"]
    kinds = [e.kind for e in pair1.events if e.kind in ("call", "fault", "effect", "replay")]
    # first invocation: 504 after apply (call + fault + effect); the function looks and does not retry
    assert kinds == ["call", "fault", "effect"]
    call, fault, effect = (next(e for e in pair1.events if e.kind == k) for k in kinds)
    assert call.label == "FailoverDiskReplicaPair 504 RequestTimeout" and call.status == 504
    assert fault.detail["rule"] == "lost-ack-504" and fault.request_id == call.request_id
    assert effect.label == "normal -> failovering" and effect.request_id == call.request_id
    assert call.t <= effect.t <= call.t + 0.5
    assert pair1.effects == 1
    # the re-notification reported alreadyFailedOver last
    outcomes = [e for e in pair1.events if e.kind == "outcome"]
    assert [o.label.split()[0] for o in outcomes] == ["failedOver", "alreadyFailedOver"]
    assert pair1.outcome == "alreadyFailedOver" and outcomes[0].detail["attempts"] == 1


def test_write_held_past_the_read_timeout_ends_in_a_replay(gameday: GameDay) -> None:
    pair2 = _lanes(gameday)["pair-2"]
    writes = [e for e in pair2.events if e.kind in ("call", "replay")]
    effects = [e for e in pair2.events if e.kind == "effect"]
    assert pair2.effects == 1 and len(effects) == 1
    # held before the backend: the retry applied it and the original, arriving late, was replayed
    replays = [e for e in writes if e.kind == "replay"]
    assert len(replays) == 1 and replays[0].status == 200
    assert effects[0].request_id != replays[0].request_id
    assert {e.client_token for e in writes} == {writes[0].client_token}  # one token throughout


def test_fault_before_apply_has_no_effect_on_that_call(gameday: GameDay) -> None:
    pair0 = _lanes(gameday)["pair-0"]
    calls = [e for e in pair0.events if e.kind == "call"]
    effects = [e for e in pair0.events if e.kind == "effect"]
    assert calls[0].code == "RequestTimeout" and len(effects) == 1
    assert effects[0].request_id == calls[1].request_id  # the retry applied it
    assert any(e.kind == "fault" and e.detail["rule"] == "gateway-504" for e in pair0.events)


def test_group_effect_on_member_lanes(gameday: GameDay) -> None:
    lanes = _lanes(gameday)
    group_effect = next(e for e in lanes["pg-1"].events if e.kind == "effect")
    assert group_effect.detail["pairIds"] == ["pair-g0", "pair-g1"]
    for member in ("pair-g0", "pair-g1"):
        via = [e for e in lanes[member].events if e.kind == "effect"]
        assert len(via) == 1 and via[0].detail["via"] == "group pg-1" and via[0].t == group_effect.t
        assert lanes[member].effects == 0  # the group's effect, counted on the group's lane
    assert lanes["pg-1"].effects == 1


def test_transitions_and_flips(gameday: GameDay) -> None:
    lanes = _lanes(gameday)
    other = lanes["pair-other"]
    assert [e.kind for e in other.events] == ["flip"] and other.events[0].detail["cause"] == "control-plane"
    assert not other.eligible and other.outcome is None
    tr = [e for e in lanes["pair-2"].events if e.kind == "transition"]
    eff = next(e for e in lanes["pair-2"].events if e.kind == "effect")
    assert [e.label for e in tr] == ["failovering -> failovered"]
    # due 0.15 s of emulator time after the effect; mapped through a request, so about there on the wall
    assert 0.1 < tr[0].t - eff.t < 0.5


def test_times_are_since_start_and_ordered(gameday: GameDay) -> None:
    for tl in gameday.timelines:
        ts = [e.t for e in tl.events]
        assert ts == sorted(ts)
        assert all(-0.5 < t < gameday.journal.duration_s + 1 for t in ts)
    first = min(r["wallTime"] for r in gameday.ledger["requests"])
    assert min(e.t for tl in gameday.timelines for e in tl.events if e.kind == "call") >= first - gameday.started_wall


def test_clock_advanced_mid_run_and_no_requests() -> None:
    # the emulator clock jumps 100 s between two requests; a transition due just after the jump lands
    # right after the second request, not 100 s to the right
    ledger = {
        "requests": [
            {"requestId": "r1", "time": 1000.0, "wallTime": 50.0, "target": "pair-a", "action": "X", "status": 200},
            {"requestId": "r2", "time": 1101.0, "wallTime": 51.0, "target": "pair-a", "action": "X", "status": 200},
        ],
        "effects": [{"requestId": "r2", "time": 1101.0, "targetId": "pair-a", "targetType": "pair"}],
        "transitions": [
            {"time": 1101.5, "targetType": "pair", "targetId": "pair-a", "from": "a", "to": "b"},
            {"time": 999.0, "targetType": "pair", "targetId": "pair-a", "from": "c", "to": "a"},
        ],
    }
    (tl,) = build_timelines(ledger, [], started_wall=50.0, eligible=set(), final_status={})
    by_label = {e.label: e.t for e in tl.events}
    assert by_label["a -> b"] == 1.5 and by_label["c -> a"] == -1.0
    assert next(e.t for e in tl.events if e.kind == "effect") == 1.0
    # nothing but results and a status map: lanes still exist, outcome at the result's end
    results = [
        {"startedAt": 10.0, "durationMs": 2000, "targets": [{"kind": "pair", "id": "pair-z", "outcome": "failed"}]}
    ]
    lanes = build_timelines(
        {}, results, started_wall=10.0, eligible={("pair", "pair-z")}, final_status={("group", "pg-q"): "normal"}
    )
    assert [(t.kind, t.id, t.outcome) for t in lanes] == [("group", "pg-q", None), ("pair", "pair-z", "failed")]
    assert lanes[1].events[0].t == 2.0


def test_ten_thousand_targets_is_fast() -> None:
    n = 10_000
    requests, effects, transitions = [], [], []
    for i in range(n):
        pid = f"pair-{i:05d}"
        for a in range(3):
            rid = f"r{i}-{a}"
            requests.append(
                {
                    "requestId": rid,
                    "time": 1000.0 + i * 0.001 + a * 0.01,
                    "wallTime": 2000.0 + i * 0.001 + a * 0.01,
                    "target": pid,
                    "params": {"ReplicaPairId": pid},
                    "action": "FailoverDiskReplicaPair",
                    "status": 504 if a == 0 else 200,
                    "code": "RequestTimeout" if a == 0 else None,
                    "fault": "r" if a == 0 else None,
                    "replayed": a == 2,
                    "clientToken": f"t{i}",
                    "durationMs": 1.0,
                }
            )
        effects.append({"requestId": f"r{i}-0", "time": 1000.0 + i * 0.001, "targetId": pid, "targetType": "pair"})
        transitions.append({"time": 1001.0 + i * 0.001, "targetId": pid, "targetType": "pair", "from": "x", "to": "y"})
    results = [
        {
            "startedAt": 2000.0,
            "durationMs": 30_000,
            "targets": [{"kind": "pair", "id": f"pair-{i:05d}"} for i in range(n)],
        }
    ]
    t0 = time.perf_counter()
    lanes = build_timelines(
        {"requests": requests, "effects": effects, "transitions": transitions},
        results,
        started_wall=2000.0,
        eligible={("pair", f"pair-{i:05d}") for i in range(n)},
        final_status={},
    )
    elapsed = time.perf_counter() - t0
    assert len(lanes) == n and all(len(tl.events) == 7 and tl.effects == 1 for tl in lanes)
    assert elapsed < 10, f"build_timelines took {elapsed:.1f}s for {n} targets"
