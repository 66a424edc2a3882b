"""The drill runner against the emulator through the official V2 SDK, ledger-asserted.

Time is the emulator's: the runner's ``sleep`` advances the (frozen) emulator clock, so waiting for
``executed`` and for a clear costs no wall time.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import pytest
from alibabacloud_ebs20210730 import models as m
from alibabacloud_ebs20210730.client import Client
from alibabacloud_tea_openapi.utils_models import Config
from pydantic import ValidationError
from replica_failover.credentials import Credentials
from replica_failover.drill import Clock, DrillRequest, DrillRunner, EbsDrillClient
from replica_failover.drill.probe import EcsDiskApi
from replica_failover.recovery.ecs import EcsApi

from chaos.drill_cli import sigterm_interrupts
from chaos.emulator import config as cfg
from chaos.emulator.app import Emulator
from chaos.emulator.ebs.models import PairRecord
from chaos.emulator.ecs.models import InstanceRecord
from chaos.emulator.faults import FaultError, FaultRule
from tests.conftest import DR, PRIMARY, seed_basic

STAGES = ["selected", "leftovers", "started", "waiting", "measured", "clearing", "cleared"]


@pytest.fixture
def api(endpoint: str, emulator: Emulator) -> EbsDrillClient:
    emulator.clock.freeze(True)
    creds = Credentials(cfg.DEFAULT_ACCESS_KEY_ID, cfg.DEFAULT_ACCESS_KEY_SECRET)
    return EbsDrillClient(creds, endpoint=f"http://{endpoint}")


def runner(emulator: Emulator, api: EbsDrillClient, stage: Any = None, **kw: Any) -> DrillRunner:
    fields: dict[str, Any] = {
        "primary_region": PRIMARY,
        "dr_region": DR,
        "poll_seconds": 1,
        "start_interval_seconds": 0,
    }
    request = DrillRequest.model_validate({**fields, **kw})
    clock = Clock(now=emulator.clock.now, sleep=emulator.advance)
    return DrillRunner(api, request, clock=clock, stage=stage)


def requests(emulator: Emulator) -> list[dict[str, Any]]:
    return list(emulator.ledger.snapshot()["requests"])


def writes(emulator: Emulator) -> list[str]:
    return [r["action"] for r in requests(emulator) if not r["action"].startswith("Describe")]


def effects(emulator: Emulator, action: str) -> list[dict[str, Any]]:
    return [e for e in emulator.ledger.snapshot()["effects"] if e["action"] == action]


def test_drill_measures_rpo_and_always_clears(emulator: Emulator, api: EbsDrillClient) -> None:
    seed_basic(emulator)  # pair-0..2 and pg-1 (pair-g0, pair-g1) on PRIMARY->DR, pair-other from elsewhere
    report = runner(emulator, api).run()
    doc = report.to_json()
    assert doc["ok"] is True and doc["notCleared"] == [] and doc["error"] is None
    got = {(t["kind"], t["id"]): t for t in doc["targets"]}
    assert set(got) == {("pair", "pair-0"), ("pair", "pair-1"), ("pair", "pair-2"), ("group", "pg-1")}
    for t in got.values():
        assert t["status"] == "executed" and t["cleared"] is True
        assert t["rpoSeconds"] == t["startAt"] - t["recoverPoint"] == 300  # seeded 300 s behind
        assert t["meetsObjective"] is True and 5 <= t["drillSeconds"] <= 6
    assert doc["rpo"] == {
        "objectiveSeconds": 900, "measured": 4, "withinObjective": 4, "missingObjective": [],
        "min": 300, "p50": 300, "p90": 300, "max": 300,
    }  # fmt: skip
    assert emulator.backend.drills() == []
    assert len(effects(emulator, "StartPairDrill")) == 3 and len(effects(emulator, "StartReplicaGroupDrill")) == 1
    assert len(effects(emulator, "ClearPairDrill")) == 3 and len(effects(emulator, "ClearReplicaGroupDrill")) == 1
    assert not any(a.startswith(("Failover", "Reprotect", "StartDisk")) for a in writes(emulator))
    drill_disks = [d for d in emulator.ecs.backend.disks if d.startswith("d-drill")]
    assert drill_disks == []


def test_rpo_over_the_objective_is_reported(emulator: Emulator, api: EbsDrillClient) -> None:
    now = int(emulator.clock.now())
    emulator.backend.seed_pairs(
        [
            PairRecord(ReplicaPairId="pair-late", SourceRegion=PRIMARY, DestinationRegion=DR, Status="stopped",
                       LastRecoverPoint=now - 2000),
            PairRecord(ReplicaPairId="pair-fresh", SourceRegion=PRIMARY, DestinationRegion=DR),
        ]
    )  # fmt: skip
    emulator.clock.freeze(True)
    doc = runner(emulator, api).run().to_json()
    assert doc["rpo"]["missingObjective"] == ["pair-late"] and doc["rpo"]["max"] == 2000
    late = next(t for t in doc["targets"] if t["id"] == "pair-late")
    assert late["meetsObjective"] is False and late["cleared"] is True
    assert emulator.backend.drills() == []


def test_cap_unknown_ids_and_bad_input_write_nothing(emulator: Emulator, api: EbsDrillClient) -> None:
    seed_basic(emulator)
    capped = runner(emulator, api, max_targets=2).run()
    assert capped.error is not None and "blast-radius cap of 2" in capped.error and capped.targets == []
    unknown = runner(emulator, api, pair_ids=["pair-0", "pair-nope"]).run()
    assert unknown.error is not None and "pair-nope" in unknown.error
    other = runner(emulator, api, pair_ids=["pair-other"]).run()  # another route
    assert other.error is not None and "pair-other" in other.error
    assert writes(emulator) == []
    for bad in ({"primary_region": "nowhere"}, {"pair_ids": ["d-123"]}, {"dr_region": PRIMARY}, {"poll_seconds": 0}):
        with pytest.raises(ValidationError):
            runner(emulator, api, **bad)


def test_limits_to_named_targets_and_tags(emulator: Emulator, api: EbsDrillClient) -> None:
    seed_basic(emulator)
    doc = runner(emulator, api, pair_ids=["pair-1"], group_ids=["pg-1"]).run().to_json()
    assert sorted(t["id"] for t in doc["targets"]) == ["pair-1", "pg-1"] and doc["ok"]
    emulator.backend.seed_pairs(
        [PairRecord(ReplicaPairId="pair-tagged", SourceRegion=PRIMARY, DestinationRegion=DR,
                    Tags=[{"TagKey": "drill", "TagValue": "yes"}])]
    )  # fmt: skip
    doc = runner(emulator, api, tags={"drill": "yes"}).run().to_json()
    assert [t["id"] for t in doc["targets"]] == ["pair-tagged"]


def test_lost_start_acknowledgement_is_one_drill(emulator: Emulator, api: EbsDrillClient) -> None:
    seed_basic(emulator, with_group=False)
    rule = FaultRule(action="StartPairDrill", target="pair-0", phase="after", count=1,
                     error=FaultError(status=503, code="ServiceUnavailable"))  # fmt: skip
    emulator.faults.set([rule], emulator.clock.now(), 0)
    doc = runner(emulator, api, pair_ids=["pair-0"]).run().to_json()
    assert doc["ok"] is True
    starts = [r for r in requests(emulator) if r["action"] == "StartPairDrill"]
    assert [r["status"] for r in starts] == [503, 200] and starts[0]["clientToken"] == starts[1]["clientToken"]
    assert starts[1].get("replayed") is True
    assert len(effects(emulator, "StartPairDrill")) == 1 and emulator.backend.drills() == []


def test_clear_failures_and_invalid_status_are_retried(emulator: Emulator, api: EbsDrillClient) -> None:
    seed_basic(emulator, with_group=False)
    emulator.backend.set_drill_knobs("pair-0", clear_failures=2)
    rule = FaultRule(action="ClearPairDrill", target="pair-0", count=1,
                     error=FaultError(status=403, code="OperationDenied.InvalidStatus"))  # fmt: skip
    emulator.faults.set([rule], emulator.clock.now(), 0)
    doc = runner(emulator, api, pair_ids=["pair-0"]).run().to_json()
    assert doc["ok"] is True and doc["targets"][0]["cleared"] is True
    clears = [r["status"] for r in requests(emulator) if r["action"] == "ClearPairDrill"]
    assert clears == [403, 200, 200, 200]
    assert emulator.backend.drills() == []


def test_failed_drill_and_deadline_are_reported_and_cleared(emulator: Emulator, api: EbsDrillClient) -> None:
    seed_basic(emulator, with_group=False)
    emulator.backend.set_drill_knobs("pair-1", execute_failures=1)
    emulator.update_config({"transitionDelays": {**emulator.config().transition_delays, "drill_executing": 120.0}})
    doc = runner(emulator, api, pair_ids=["pair-0", "pair-1"], execute_timeout_seconds=30).run().to_json()
    by_id = {t["id"]: t for t in doc["targets"]}
    assert by_id["pair-0"]["error"] == "DeadlineExceeded"
    assert by_id["pair-1"]["error"] == "DeadlineExceeded"  # its failure shows only when executing ends
    assert doc["ok"] is False and doc["notCleared"] == [] and all(t["cleared"] for t in doc["targets"])
    assert emulator.backend.drills() == []
    emulator.update_config({"transitionDelays": {**emulator.config().transition_delays, "drill_executing": 5.0}})
    emulator.backend.set_drill_knobs("pair-1", execute_failures=1)
    doc = runner(emulator, api, pair_ids=["pair-1"]).run().to_json()
    assert doc["targets"][0]["error"] == "PAIR_SYNCPOINT_NOT_FOUND" and doc["targets"][0]["cleared"] is True
    assert emulator.backend.drills() == []


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
@pytest.mark.parametrize("at", STAGES)
def test_interrupted_at_every_stage_leaves_no_drill_after_the_next_run(
    emulator: Emulator, api: EbsDrillClient, at: str, how: str
) -> None:
    seed_basic(emulator)
    fired: list[str] = []

    def interrupt(stage: str) -> None:
        if stage == at and not fired:
            fired.append(stage)
            if how == "sigterm":
                os.kill(os.getpid(), signal.SIGTERM)
            raise KeyboardInterrupt

    with sigterm_interrupts():
        try:
            report = runner(emulator, api, stage=interrupt).run()
            # interrupted before or while running: the finally cleared what this run started
            assert report.interrupted == ("Terminated" if how == "sigterm" else "KeyboardInterrupt")
        except KeyboardInterrupt:  # interrupted inside the clearing itself: drills may be left
            pass
    assert fired == [at]
    nxt = runner(emulator, api).run().to_json()
    assert nxt["ok"] is True and nxt["notCleared"] == []
    assert emulator.backend.drills() == []
    assert all(lo["cleared"] for lo in nxt["leftovers"])
    # an interrupt inside the clearing leaves this run's drills for the next one; earlier ones leave none
    assert bool(nxt["leftovers"]) == (at == "clearing")


@pytest.mark.parametrize("left", ["executing", "executed", "execute_failed", "clearing", "clear_failed"])
def test_cleanup_clears_what_a_killed_run_left(
    emulator: Emulator, api: EbsDrillClient, endpoint: str, left: str
) -> None:
    seed_basic(emulator, with_group=False)
    sdk = Client(Config(access_key_id=cfg.DEFAULT_ACCESS_KEY_ID, access_key_secret=cfg.DEFAULT_ACCESS_KEY_SECRET,
                        region_id=DR, endpoint=endpoint, protocol="http"))  # fmt: skip
    if left == "execute_failed":
        emulator.backend.set_drill_knobs("pair-0", execute_failures=1)
    if left == "clear_failed":
        emulator.backend.set_drill_knobs("pair-0", clear_failures=1)
    drill_id = sdk.start_pair_drill(m.StartPairDrillRequest(region_id=DR, pair_id="pair-0")).body.drill_id
    if left != "executing":
        emulator.advance(5)
    if left in ("clearing", "clear_failed"):
        sdk.clear_pair_drill(m.ClearPairDrillRequest(region_id=DR, pair_id="pair-0", drill_id=drill_id))
        if left == "clear_failed":
            emulator.advance(2)
    assert [d["Status"] for d in emulator.backend.drills()] == [left]
    doc = runner(emulator, api).cleanup().to_json()
    assert [(lo["id"], lo["drillId"], lo["status"], lo["cleared"]) for lo in doc["leftovers"]] == [
        ("pair-0", drill_id, left, True)
    ]
    assert doc["notCleared"] == [] and emulator.backend.drills() == []
    assert not any(a.startswith("Start") for a in writes(emulator)[1:])  # cleanup starts nothing


def test_a_clear_refused_for_good_is_reported_not_raised(emulator: Emulator, api: EbsDrillClient) -> None:
    seed_basic(emulator, with_group=False)
    rule = FaultRule(action="ClearPairDrill", error=FaultError(status=403, code="Forbidden.Action"))
    emulator.faults.set([rule], emulator.clock.now(), 0)
    report = runner(emulator, api, pair_ids=["pair-0"]).run()
    assert report.targets[0].status == "executed" and report.targets[0].cleared is False
    assert report.not_cleared == [report.targets[0].drill_id] and report.ok is False
    assert [r["status"] for r in requests(emulator) if r["action"] == "ClearPairDrill"] == [403]
    emulator.faults.remove()
    assert runner(emulator, api).cleanup().not_cleared == [] and emulator.backend.drills() == []


# ------------------------------------------------------------ attach to a test instance, probe
PROBE_OK = [
    sys.executable,
    "-c",
    "import os, sys; sys.exit(0 if os.environ['DRILL_DEVICE'].startswith('/dev/') else 3)",
]
PROBE_BAD = [sys.executable, "-c", "import sys; sys.exit(4)"]


def probing(
    emulator: Emulator, api: EbsDrillClient, endpoint: str, command: list[str] | None, stage: Any = None, **kw: Any
) -> DrillRunner:
    emulator.ecs.seed_instances([InstanceRecord(InstanceId="i-test", RegionId=DR, ZoneId=f"{DR}-b", Status="Running")])
    creds = Credentials(cfg.DEFAULT_ACCESS_KEY_ID, cfg.DEFAULT_ACCESS_KEY_SECRET)
    disks = EcsDiskApi(EcsApi(creds, endpoint=f"http://{endpoint}"))
    request = DrillRequest.model_validate(
        {"primary_region": PRIMARY, "dr_region": DR, "poll_seconds": 1, "start_interval_seconds": 0,
         "attach_instance_id": "i-test", "probe_command": command, **kw}
    )  # fmt: skip
    clock = Clock(now=emulator.clock.now, sleep=emulator.advance)
    return DrillRunner(api, request, clock=clock, disks=disks, stage=stage)


def ecs_effects(emulator: Emulator, action: str) -> list[dict[str, Any]]:
    return [e for e in emulator.ledger.snapshot()["effects"] if e.get("service") == "ecs" and e["action"] == action]


def test_each_drill_disk_is_attached_probed_and_detached_before_the_clear(
    emulator: Emulator, api: EbsDrillClient, endpoint: str
) -> None:
    seed_basic(emulator)
    doc = probing(emulator, api, endpoint, PROBE_OK, pair_ids=["pair-0"], group_ids=["pg-1"]).run().to_json()
    assert doc["ok"] is True and doc["notDetached"] == [] and doc["notCleared"] == []
    probes = {t["id"]: t["probes"] for t in doc["targets"]}
    assert [p["passed"] for p in probes["pair-0"]] == [True] and len(probes["pg-1"]) == 2
    assert all(p["detail"] == "exit 0" for ps in probes.values() for p in ps)
    attached = [e["targetId"] for e in ecs_effects(emulator, "AttachDisk")]
    detached = [e["targetId"] for e in ecs_effects(emulator, "DetachDisk")]
    assert len(attached) == 3 and attached == detached and all(d.startswith("d-drill") for d in attached)
    effects_in_order = [e["action"] for e in emulator.ledger.snapshot()["effects"]]
    assert effects_in_order.index("ClearPairDrill") > max(
        i for i, a in enumerate(effects_in_order) if a == "DetachDisk"
    )
    assert emulator.backend.drills() == [] and "i-test" not in {
        d.InstanceId for d in emulator.ecs.backend.disks.values()
    }


def test_a_failing_probe_is_reported_and_everything_is_still_undone(
    emulator: Emulator, api: EbsDrillClient, endpoint: str
) -> None:
    seed_basic(emulator, with_group=False)
    doc = probing(emulator, api, endpoint, PROBE_BAD, pair_ids=["pair-0"]).run().to_json()
    assert doc["ok"] is False and doc["targets"][0]["probes"][0] == {
        "diskId": doc["targets"][0]["probes"][0]["diskId"], "passed": False, "detail": "exit 4",
    }  # fmt: skip
    assert doc["notDetached"] == [] and doc["notCleared"] == [] and emulator.backend.drills() == []


@pytest.mark.parametrize("at", ["attached", "probed"])
def test_interrupted_while_attached_detaches_and_clears(
    emulator: Emulator, api: EbsDrillClient, endpoint: str, at: str
) -> None:
    seed_basic(emulator, with_group=False)

    def interrupt(stage: str) -> None:
        if stage == at:
            raise KeyboardInterrupt

    report = probing(emulator, api, endpoint, PROBE_OK, pair_ids=["pair-0"], stage=interrupt).run()
    assert report.interrupted == "KeyboardInterrupt" and report.not_detached == [] and report.not_cleared == []
    assert len(ecs_effects(emulator, "AttachDisk")) == 1 == len(ecs_effects(emulator, "DetachDisk"))
    assert emulator.backend.drills() == []


def test_a_probe_needs_a_test_instance() -> None:
    with pytest.raises(ValidationError, match="test instance"):
        DrillRequest(primary_region=PRIMARY, dr_region=DR, probe_command=["true"])


def test_a_failing_poll_is_asked_again(emulator: Emulator, api: EbsDrillClient) -> None:
    seed_basic(emulator, with_group=False)
    rule = FaultRule(
        action="DescribePairDrills", after=1, count=2, error=FaultError(status=400, code="Throttling.User")
    )
    emulator.faults.set([rule], emulator.clock.now(), 0)
    doc = runner(emulator, api, pair_ids=["pair-0"]).run().to_json()
    assert doc["ok"] is True and emulator.backend.drills() == []
    polls = [r["code"] for r in requests(emulator) if r["action"] == "DescribePairDrills"]
    assert polls.count("Throttling.User") == 2
