"""The manual drill event through the function's handler, against the emulator, ledger-asserted.

Most tests run the drill on the emulator's (frozen) clock: the runner's polls advance it, so waiting
for ``executed`` and for a clear costs no wall time. The wall-clock path runs with zero drill delays
(nothing to wait for), in-process and once through the emulator's FC API with ``aliyun-fc2``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import fc2
import pytest
from replica_failover.credentials import Credentials
from replica_failover.drill import Clock, EbsDrillClient
from replica_failover.drill import event as drill_event

from chaos.emulator import config as cfg
from chaos.emulator.app import Emulator
from chaos.emulator.config import DEFAULT_STS_ACCESS_KEY_ID, DEFAULT_STS_ACCESS_KEY_SECRET, DEFAULT_STS_SECURITY_TOKEN
from chaos.emulator.ebs.models import PairRecord
from chaos.emulator.ecs.models import InstanceRecord
from chaos.emulator.faults import FaultError, FaultRule
from chaos.invoke import EXIT_DONE
from chaos.invoke import invoke as invoke_template
from chaos.template import ensure_importable
from tests.conftest import DR, PRIMARY, seed_basic
from tests.function.conftest import Invoke
from tests.function.test_fc_paths import TEMPLATE, register_failover

DRILL = {"action": "drill", "primaryRegion": PRIMARY, "reason": "quarterly DR drill"}
TARGETS = {"pair-0", "pair-1", "pair-2", "pg-1"}  # seed_basic's PRIMARY->DR targets (pair-g* drill with pg-1)


@pytest.fixture
def emulated_time(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """The drill's clock is the emulator's, frozen; each poll advances it by what the runner asks."""
    emulator.clock.freeze(True)

    def make_clock(left: float) -> tuple[Clock, Callable[[], None]]:
        return Clock(now=emulator.clock.now, sleep=emulator.advance), lambda: None

    monkeypatch.setattr(drill_event, "make_clock", make_clock)
    return emulator


def delays(emulator: Emulator, **kw: float) -> None:
    emulator.update_config({"transitionDelays": {**emulator.config().transition_delays, **kw}})


def requests(emulator: Emulator) -> list[dict[str, Any]]:
    return list(emulator.ledger.snapshot()["requests"])


def effects(emulator: Emulator, *actions: str) -> list[dict[str, Any]]:
    return [e for e in emulator.ledger.snapshot()["effects"] if e["action"] in actions]


def drilled(emulator: Emulator) -> list[str]:
    """The target of each Start*Drill effect (one per drill started)."""
    starts = effects(emulator, "StartPairDrill", "StartReplicaGroupDrill")
    return sorted(str(e.get("pairId") or e.get("groupId")) for e in starts)


def assert_no_failover(emulator: Emulator) -> None:
    actions = {r["action"] for r in requests(emulator)}
    assert not {a for a in actions if a.startswith(("Failover", "Reprotect", "StartDisk"))}, actions
    assert all(r.get("regionId") == DR for r in requests(emulator) if r.get("service", "ebs") == "ebs")


def test_a_drill_event_drills_each_target_once_and_clears_it(invoke: Invoke, emulated_time: Emulator) -> None:
    emulator = emulated_time
    seed_basic(emulator)
    result = invoke(DRILL)
    assert result["status"] == "completed" and result["ok"] is True and result["raised"] is False, result["reason"]
    assert result["summary"] == {
        "targets": 4, "executed": 4, "cleared": 4, "failed": 0, "leftoversCleared": 0, "rpoMissed": 0, "pending": 0,
    }  # fmt: skip
    drill = result["drill"]
    assert {t["id"] for t in drill["targets"]} == TARGETS and drill["ok"] is True
    # seeded 300 s behind; the 0.2 s pause between starts moves later starts on
    assert all(300 <= t["rpoSeconds"] <= 301 and t["cleared"] for t in drill["targets"]), drill["targets"]
    assert result["requestId"] == "req-test" and result["durationMs"] >= 0 and result["drRegion"] == DR
    assert drilled(emulator) == sorted(TARGETS)  # one drill per target
    assert len(effects(emulator, "ClearPairDrill", "ClearReplicaGroupDrill")) == 4
    assert emulator.backend.drills() == []
    assert_no_failover(emulator)
    assert [line["event"] for line in result["logLines"]].count("result") == 1


def test_the_wall_clock_path_with_instant_drills(invoke: Invoke, emulator: Emulator) -> None:
    delays(emulator, drill_executing=0.0, drill_clearing=0.0)
    seed_basic(emulator, with_group=False)
    # the kill switch stops failovers, not an operator's drill
    result = invoke({**DRILL, "pairIds": ["pair-2", "pair-0"], "maxTargets": 2}, FAILOVER_MODE="plan-only")
    assert result["status"] == "completed", result["reason"]
    assert [t["id"] for t in result["drill"]["targets"]] == ["pair-0", "pair-2"]
    assert drilled(emulator) == ["pair-0", "pair-2"] and emulator.backend.drills() == []
    assert_no_failover(emulator)


BAD = {
    "unknown key": {**DRILL, "pairIDs": ["pair-0"]},
    "bad pair id": {**DRILL, "pairIds": ["d-123"]},
    "group id as pair": {**DRILL, "pairIds": ["pg-1"]},
    "empty pair list": {**DRILL, "pairIds": []},
    "region not protected": {**DRILL, "primaryRegion": "cn-guangzhou"},
    "region not a region": {**DRILL, "primaryRegion": "Hangzhou!"},
    "the DR region": {**DRILL, "primaryRegion": DR},
    "no reason": {"action": "drill", "primaryRegion": PRIMARY},
    "reason with a newline": {**DRILL, "reason": 'drill\n{"forged": 1}'},
    "maxTargets as text": {**DRILL, "maxTargets": "5"},
    "maxTargets zero": {**DRILL, "maxTargets": 0},
    "objective as bool": {**DRILL, "objectiveSeconds": True},
    "cleanupOnly as text": {**DRILL, "cleanupOnly": "yes"},
    "tag value a number": {**DRILL, "tags": {"env": 1}},
    "bad test instance": {**DRILL, "testInstanceId": "vm-1"},
    "pairIds not a list": {**DRILL, "pairIds": "pair-0"},
}


@pytest.mark.parametrize("payload", list(BAD.values()), ids=list(BAD))
def test_bad_payloads_are_rejected_with_zero_calls(invoke: Invoke, emulator: Emulator, payload: dict[str, Any]) -> None:
    seed_basic(emulator)
    result = invoke(payload)
    assert result["status"] == "rejected" and result["ok"] is False and result["raised"] is False
    assert requests(emulator) == []  # before any credential or API was touched


def test_a_denied_pair_is_rejected_with_zero_calls(invoke: Invoke, emulator: Emulator) -> None:
    seed_basic(emulator)
    result = invoke({**DRILL, "pairIds": ["pair-1"]}, FAILOVER_DENY_PAIR_IDS="pair-1")
    assert result["status"] == "rejected" and "deny" in result["reason"] and requests(emulator) == []


def test_the_blast_radius_cap_is_the_smaller_of_payload_and_settings(invoke: Invoke, emulator: Emulator) -> None:
    seed_basic(emulator)
    asked = invoke({**DRILL, "maxTargets": 3})
    assert asked["status"] == "rejected" and "blast-radius cap of 3" in asked["reason"]
    configured = invoke({**DRILL, "maxTargets": 10}, FAILOVER_MAX_TARGETS="2")
    assert configured["status"] == "rejected" and "blast-radius cap of 2" in configured["reason"]
    assert all(r["action"].startswith("Describe") for r in requests(emulator))  # refused before any write


def test_rpo_over_the_objective_names_the_target(invoke: Invoke, emulated_time: Emulator) -> None:
    emulator = emulated_time
    now = int(emulator.clock.now())
    emulator.backend.seed_pairs(
        [
            PairRecord(ReplicaPairId="pair-late", SourceRegion=PRIMARY, DestinationRegion=DR, Status="stopped",
                       LastRecoverPoint=now - 2000),
            PairRecord(ReplicaPairId="pair-fresh", SourceRegion=PRIMARY, DestinationRegion=DR),
        ]
    )  # fmt: skip
    result = invoke(DRILL)
    assert result["status"] == "completed" and result["summary"]["rpoMissed"] == 1
    assert result["drill"]["rpo"]["missingObjective"] == ["pair-late"] and "pair-late" in result["reason"]
    stricter = invoke({**DRILL, "objectiveSeconds": 200})  # pair-fresh is 300 s behind
    assert stricter["drill"]["rpo"]["missingObjective"] == ["pair-fresh", "pair-late"]
    assert emulator.backend.drills() == []


def test_clear_failures_are_retried_until_cleared(invoke: Invoke, emulated_time: Emulator) -> None:
    emulator = emulated_time
    seed_basic(emulator, with_group=False)
    emulator.backend.set_drill_knobs("pair-0", clear_failures=2)
    rule = FaultRule(action="ClearPairDrill", target="pair-0", count=1,
                     error=FaultError(status=403, code="OperationDenied.InvalidStatus"))  # fmt: skip
    emulator.faults.set([rule], emulator.clock.now(), 0)
    result = invoke({**DRILL, "pairIds": ["pair-0"]})
    assert result["status"] == "completed" and result["drill"]["targets"][0]["cleared"] is True
    clears = [r["status"] for r in requests(emulator) if r["action"] == "ClearPairDrill"]
    assert clears == [403, 200, 200, 200] and emulator.backend.drills() == []


def test_a_deadline_leaves_drills_pending_and_the_retry_clears_them(invoke: Invoke, emulated_time: Emulator) -> None:
    """Drills still executing at the deadline cannot be cleared yet: the result is pending (the handler
    raises, FC retries) and the retry's leftover pass clears them before drilling again."""
    emulator = emulated_time
    seed_basic(emulator, with_group=False)
    delays(emulator, drill_executing=600.0)
    first = invoke({**DRILL, "pairIds": ["pair-0", "pair-1"]}, timeout=10)
    assert first["raised"] is True and first["status"] == "pending" and first["summary"]["pending"] == 2
    assert {t["error"] for t in first["drill"]["targets"]} == {"DeadlineExceeded"}
    assert len(emulator.backend.drills()) == 2
    emulator.advance(600)  # they execute; the retry clears them and drills again
    delays(emulator, drill_executing=5.0)
    retry = invoke({**DRILL, "pairIds": ["pair-0", "pair-1"]}, timeout=60)
    assert retry["status"] == "completed", retry["reason"]
    assert [d["cleared"] for d in retry["drill"]["leftovers"]] == [True, True]
    assert retry["summary"]["leftoversCleared"] == 2 and emulator.backend.drills() == []
    assert drilled(emulator) == ["pair-0", "pair-0", "pair-1", "pair-1"]  # one per target per run
    assert_no_failover(emulator)


def test_cleanup_only_clears_leftovers_and_starts_nothing(
    invoke: Invoke, emulated_time: Emulator, endpoint: str
) -> None:
    emulator = emulated_time
    seed_basic(emulator, with_group=False)
    api = EbsDrillClient(Credentials(cfg.DEFAULT_ACCESS_KEY_ID, cfg.DEFAULT_ACCESS_KEY_SECRET),
                         endpoint=f"http://{endpoint}")  # fmt: skip
    api.start(DR, "pair", "pair-1", "left-by-a-killed-run")
    emulator.advance(10)
    result = invoke({**DRILL, "cleanupOnly": True})
    assert result["status"] == "completed" and result["action"] == "drill-cleanup", result["reason"]
    assert [(d["id"], d["cleared"]) for d in result["drill"]["leftovers"]] == [("pair-1", True)]
    assert drilled(emulator) == ["pair-1"] and emulator.backend.drills() == []


def test_no_drill_id_or_key_in_the_result_log(invoke: Invoke, emulated_time: Emulator) -> None:
    seed_basic(emulated_time, with_group=False)
    result = invoke(DRILL)
    text = json.dumps({k: v for k, v in result.items() if k != "logLines"}) + json.dumps(result["logLines"])
    assert cfg.DEFAULT_ACCESS_KEY_SECRET not in text and DEFAULT_STS_ACCESS_KEY_SECRET not in text
    assert all(isinstance(line, dict) for line in result["logLines"])


def test_through_the_emulators_fc_api(emulator: Emulator, endpoint: str) -> None:
    delays(emulator, drill_executing=0.0, drill_clearing=0.0)
    seed_basic(emulator)
    ops = TEMPLATE["operations"]  # the function the drill is deployed on, with its template environment
    ensure_importable(ops.code_uri)
    emulator.fc.register(ops.spec({"EBS_ENDPOINT": f"http://{endpoint}", "FAILOVER_DEADLINE_MARGIN_SECONDS": "1"}))
    client = fc2.Client(
        endpoint=f"http://{endpoint}", accessKeyID=DEFAULT_STS_ACCESS_KEY_ID,
        accessKeySecret=DEFAULT_STS_ACCESS_KEY_SECRET, securityToken=DEFAULT_STS_SECURITY_TOKEN, Timeout=30,
    )  # fmt: skip
    bad = client.invoke_function("replica-failover-ops", "operations", payload=json.dumps({**DRILL, "pairIDs": []}))
    assert json.loads(bad.data)["status"] == "rejected" and requests(emulator) == []
    register_failover(emulator, endpoint)  # the alarm-triggered function leaves FAILOVER_OPERATIONS empty
    refused = json.loads(client.invoke_function("replica-failover", "failover", payload=json.dumps(DRILL)).data)
    assert refused["status"] == "rejected" and "replica-failover-ops" in refused["reason"] and requests(emulator) == []
    resp = client.invoke_function("replica-failover-ops", "operations", payload=json.dumps(DRILL).encode())
    result = json.loads(resp.data)
    assert result["status"] == "completed" and result["summary"]["cleared"] == 4, result["reason"]
    assert drilled(emulator) == sorted(TARGETS) and emulator.backend.drills() == []
    assert_no_failover(emulator)


def test_a_test_instance_gets_each_drill_disk_attached_then_detached(invoke: Invoke, emulated_time: Emulator) -> None:
    emulator = emulated_time
    seed_basic(emulator, with_group=False)
    emulator.ecs.seed_instances([InstanceRecord(InstanceId="i-test", RegionId=DR, ZoneId=f"{DR}-b", Status="Running")])
    result = invoke({**DRILL, "pairIds": ["pair-0", "pair-1"], "testInstanceId": "i-test"})
    assert result["status"] == "completed", result["reason"]
    probes = [p for t in result["drill"]["targets"] for p in t["probes"]]
    assert len(probes) == 2 and all(p["passed"] and p["detail"].startswith("attached as") for p in probes)
    ecs = [e for e in emulator.ledger.snapshot()["effects"] if e["action"] in ("AttachDisk", "DetachDisk")]
    assert [e["action"] for e in ecs] == ["AttachDisk", "DetachDisk"] * 2
    assert result["drill"]["notDetached"] == [] and emulator.backend.drills() == []


def test_through_the_template_function_as_invoke_runs_it(emulator: Emulator, endpoint: str) -> None:
    """``replica-failover invoke --function operations``'s code path: the template's function and environment."""
    delays(emulator, drill_executing=0.0, drill_clearing=0.0)
    seed_basic(emulator)
    event = json.dumps({**DRILL, "maxTargets": 50}).encode()
    # the template's environment as deployed: a drill skips confirmation, whatever its policy
    ops = TEMPLATE["operations"]
    code, result = invoke_template(ops, event, endpoint=f"http://{endpoint}", log_stream=io.StringIO())
    assert code == EXIT_DONE and result["status"] == "completed", result
    assert drilled(emulator) == sorted(TARGETS) and emulator.backend.drills() == []
    assert_no_failover(emulator)
