"""A realistic game-day journal: the real function against the emulator, with a lost acknowledgement.

pair-0 gets a 504 before apply (retried, one effect). pair-1 gets a 504 *after* apply: the effect
happened, the function looks before retrying and sends no second write. pair-2's first call is held
past the read timeout before it reaches the backend: the retry applies, the late original is a replay.
pg-1 fails over as a group (its member pairs see the effect via the group). pair-other is flipped
``invalid`` by the control plane and is not eligible. A second notification of the same incident
follows; then the emulator clock completes the transitions.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from typing import Any

import pytest
from replica_failover.handler import PendingWork, handle
from replica_failover.retry import Backoff

from chaos.emulator.app import Emulator
from chaos.emulator.faults import FaultError, FaultRule
from chaos.gameday.journal import ExpectationResult, InvocationRecord, RunJournal, TargetTimeline
from chaos.gameday.timeline import build_timelines
from tests.conftest import PRIMARY, seed_basic
from tests.function.conftest import base_env, fc_context

ALERT = {"action": "failover", "primaryRegion": PRIMARY, "reason": "game day", "incidentId": "inc-gd-1"}
ELIGIBLE = {("pair", "pair-0"), ("pair", "pair-1"), ("pair", "pair-2"), ("group", "pg-1")}


@dataclass
class GameDay:
    emulator: Emulator
    ledger: dict[str, list[dict[str, Any]]]
    results: list[dict[str, Any]]
    started_wall: float
    final_status: dict[tuple[str, str], str]
    timelines: list[TargetTimeline]
    journal: RunJournal


def _invoke(emulator: Emulator, endpoint: str, event: dict[str, Any]) -> dict[str, Any]:
    try:
        result = handle(
            json.dumps(event),
            fc_context(emulator),
            env=base_env(endpoint, FAILOVER_READ_TIMEOUT_SECONDS="1"),
            log_stream=io.StringIO(),
            backoff=Backoff(base=0.02, cap=0.2),
        )
    except PendingWork as exc:
        result = dict(exc.result)
    return result


@pytest.fixture
def gameday(emulator: Emulator, endpoint: str) -> GameDay:
    seed_basic(emulator)
    # short transitions so state changes land inside the picture, not seconds to its right
    emulator.update_config({"transitionDelays": {"failovering": 0.15}})
    emulator.faults.set(
        [
            FaultRule(
                id="lost-ack-504",
                action="FailoverDiskReplicaPair",
                target="pair-1",
                count=1,
                phase="after",
                error=FaultError(status=504, code="RequestTimeout"),
            ),
            FaultRule(id="held-past-timeout", action="FailoverDiskReplicaPair", target="pair-2", count=1, hang_ms=1300),
            FaultRule(
                id="gateway-504",
                action="FailoverDiskReplicaPair",
                target="pair-0",
                count=1,
                error=FaultError(status=504, code="RequestTimeout"),
            ),
        ],
        emulator.clock.now(),
        emulator.config().seed,
    )
    started = time.time()
    emulator.backend.flip("pair", "pair-other", "invalid")
    invocations: list[InvocationRecord] = []
    results: list[dict[str, Any]] = []
    for index, event in enumerate([ALERT, {**ALERT, "reason": "re-notified"}]):
        t0 = time.time()
        res = _invoke(emulator, endpoint, event)
        results.append(res)
        invocations.append(
            InvocationRecord(
                index=index,
                channel="direct",
                event_name="manual-failover",
                started_at=t0 - started,
                duration_ms=(time.time() - t0) * 1000,
                status=str(res["status"]),
                result=res,
            )
        )
    emulator.advance(1.0)  # completes failovering -> failovered (recorded at their due times)
    duration = time.time() - started

    assert emulator.wait_quiet(10)  # pair-2's held write lands after the client gave up: wait for it
    ledger = emulator.ledger.snapshot()
    final_status: dict[tuple[str, str], str] = {
        ("pair", p.ReplicaPairId): p.Status for p in emulator.backend.pairs.values()
    }
    final_status.update({("group", g.ReplicaGroupId): g.Status for g in emulator.backend.groups.values()})
    members = {p.ReplicaPairId: p.ReplicaGroupId for p in emulator.backend.pairs.values() if p.ReplicaGroupId}
    timelines = build_timelines(
        ledger, results, started_wall=started, eligible=set(ELIGIBLE), final_status=final_status, group_of=members
    )
    effects = {tl.id: tl.effects for tl in timelines if tl.effects}
    journal = RunJournal(
        scenario="lost-ack-504",
        title="A lost acknowledgement, a 504 before apply and a write held past the read timeout",
        description="pair-1 loses its acknowledgement; pair-0 sees a gateway 504 before apply; pair-2's first "
        "write lands after the client gave up and its retry is a ClientToken replay.",
        seed=emulator.config().seed,
        started_wall=started,
        duration_s=duration,
        verdict="pass",
        function_env=base_env(endpoint),
        fleet={"pairs": len(emulator.backend.pairs), "groups": len(emulator.backend.groups), "eligible": 4},
        figures={"apiCalls": len(ledger["requests"]), "effects": len(ledger["effects"]), "timeToFailoverS": 0.05},
        expectations=[
            ExpectationResult(
                name="exactly-one-effect-per-target",
                ok=all(v == 1 for v in effects.values()),
                expected="== 1 per eligible target",
                measured=effects,
            ),
            ExpectationResult(name="no-ineligible-effects", ok=True, expected="== 0", measured=0),
        ],
        invocations=invocations,
        faults=emulator.faults.rules(),
        timelines=timelines,
        ledger=ledger,
    )
    return GameDay(emulator, ledger, results, started, final_status, timelines, journal)
