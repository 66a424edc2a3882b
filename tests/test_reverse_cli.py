"""``replica-failover undo | reprotect | failback`` against the emulator served on 127.0.0.1: the plan
by default (zero writes), ``--execute`` acts, exit codes as ``invoke``'s. The function's waits run on
the emulator's clock (its sleep advances the emulator)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from replica_failover.reverse import event
from replica_failover.reverse.run import Clock
from typer.testing import CliRunner

from chaos.cli import app
from chaos.emulator.app import Emulator
from chaos.emulator.config import DEFAULT_ACCESS_KEY_SECRET
from chaos.emulator.ecs.models import DiskRecord, InstanceRecord
from tests.conftest import DR, PRIMARY, seed_basic

TARGETS = ["pair-0", "pair-1", "pair-2", "pg-1"]
WRITE_PREFIXES = ("Reprotect", "Start", "Failover", "Stop")


def run(*args: str) -> tuple[int, dict[str, Any], str]:
    res = CliRunner().invoke(app, list(args))
    try:
        doc = json.loads(res.stdout)
    except json.JSONDecodeError:
        doc = {}
    return res.exit_code, doc, res.stderr


@pytest.fixture
def failed_over(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """seed_basic's primary-region targets, failed over (by hand)."""
    monkeypatch.setattr(event, "CLOCK", Clock(sleep=lambda s: emulator.advance(float(s))))
    seed_basic(emulator)
    for pid in ("pair-0", "pair-1", "pair-2", "pair-g0", "pair-g1"):
        emulator.backend.flip("pair", pid, "failovered")
    emulator.backend.flip("group", "pg-1", "failovered")
    return emulator


def route(endpoint: str) -> list[str]:
    return ["--primary", PRIMARY, "--dr", DR, "--endpoint", f"http://{endpoint}"]


def writes(emulator: Emulator) -> list[dict[str, Any]]:
    return [r for r in emulator.ledger.snapshot()["requests"] if r["action"].startswith(WRITE_PREFIXES)]


def effects(emulator: Emulator) -> Counter[tuple[str, str]]:
    return Counter((e["action"], e["targetId"]) for e in emulator.ledger.snapshot()["effects"])


def test_undo_plans_by_default_then_executes(failed_over: Emulator, endpoint: str) -> None:
    scope = ["--pair", "pair-0", "--pair", "pair-1", "--pair", "pair-2", "--group", "pg-1"]
    code, plan, table = run("undo", *route(endpoint), "--change", "UNDO-42", "--incident", "inc-42", *scope)
    assert code == 0 and plan["status"] == "planned" and plan["dryRun"], plan
    assert writes(failed_over) == []
    assert "1. ReprotectDiskReplicaPair ReverseReplicate=false in cn-shanghai token rv-" in table
    assert "2. StartDiskReplicaGroup in cn-shanghai token rv-" in table
    assert "precondition drDisksDetached (cn-shanghai): ok" in table
    tokens = {t["id"]: [s["clientToken"] for s in t["steps"]] for t in plan["targets"]}
    code, done, _ = run("undo", *route(endpoint), "--change", "UNDO-42", "--incident", "inc-42", *scope, "--execute")
    assert code == 0 and done["status"] == "completed", done
    # the plan's tokens are the ones sent
    assert {t["id"]: [s["clientToken"] for s in t["steps"]] for t in done["targets"]} == tokens
    sent = {(r["action"], r.get("clientToken")) for r in writes(failed_over)}
    assert {tok for _, tok in sent} == {tok for toks in tokens.values() for tok in toks}
    assert set(effects(failed_over).values()) == {1} and len(effects(failed_over)) == 2 * len(TARGETS)
    assert DEFAULT_ACCESS_KEY_SECRET not in json.dumps(done)


def test_reprotect_then_failback_from_the_command_line(failed_over: Emulator, endpoint: str) -> None:
    code, done, _ = run("reprotect", *route(endpoint), "--change", "CHG-9", "--execute")
    assert code == 0 and {t["outcome"] for t in done["targets"]} == {"done"}, done
    failed_over.advance(10)
    code, plan, table = run("failback", *route(endpoint), "--change", "CHG-10")
    assert code == 0 and plan["status"] == "planned" and "RPO" in table
    assert "1. FailoverDiskReplicaPair in cn-hangzhou" in table
    code, back, _ = run("failback", *route(endpoint), "--change", "CHG-10", "--execute")
    assert code == 0 and back["status"] == "completed", back
    verbs = Counter(a.split("Disk")[0] for a, _ in effects(failed_over).elements())
    assert verbs == Counter({"Reprotect": 2 * len(TARGETS), "Start": 2 * len(TARGETS), "Failover": len(TARGETS)})
    # the same command again: nothing to do, nothing written
    before = len(writes(failed_over))
    code, again, _ = run("failback", *route(endpoint), "--change", "CHG-10", "--execute")
    assert code == 0 and {t["outcome"] for t in again["targets"]} == {"alreadyDone"}
    assert len(writes(failed_over)) == before


def test_bad_input_exits_4_and_a_missing_change_id_2(failed_over: Emulator, endpoint: str) -> None:
    code, doc, _ = run("reprotect", "--primary", "mars-1", "--dr", DR, "--endpoint", f"http://{endpoint}",
                       "--change", "CHG-1", "--execute")  # fmt: skip
    assert code == 4 and doc["status"] == "rejected" and "primaryRegion" in doc["reason"]
    code, doc, _ = run("reprotect", *route(endpoint), "--change", "CHG-1", "--pair", "pair-nope", "--execute")
    assert code == 4 and "unknown" in doc["reason"]
    code, _, err = run("reprotect", *route(endpoint), "--execute")
    assert code == 2 and "--change" in err
    code, doc, _ = run("undo", *route(endpoint), "--change", "U-1", "--incident", "bad key with spaces",
                       "--pair", "pair-0", "--execute")  # fmt: skip
    assert code == 4 and "incidentKey" in doc["reason"]
    # undo without a scope would take every failed-over target of the route, another incident's too
    code, _, err = run("undo", *route(endpoint), "--change", "U-1", "--incident", "inc-42", "--execute")
    assert code == 2 and "undo needs --pair, --group or --tag" in err
    code, _, err = run("undo", *route(endpoint), "--incident", "inc-42", "--pair", "pair-0", "--execute")
    assert code == 2 and "--change" in err
    # a regional host as the one override would send the primary region's calls to the DR region's host
    code, _, err = run("reprotect", "--primary", PRIMARY, "--dr", DR, "--endpoint", "ebs.cn-shanghai.aliyuncs.com",
                       "--change", "CHG-1", "--execute")  # fmt: skip
    assert code == 2 and "each region's endpoint" in err
    assert writes(failed_over) == []


def test_blocked_by_an_attached_disk_exits_5_with_no_write(failed_over: Emulator, endpoint: str) -> None:
    rec = failed_over.backend.record("pair", "pair-0")
    assert rec is not None
    failed_over.ecs.seed_instances([InstanceRecord(InstanceId="i-old", RegionId=PRIMARY, ZoneId=f"{PRIMARY}-a")])
    failed_over.ecs.seed_disks(
        [DiskRecord(DiskId=rec["SourceDiskId"], RegionId=PRIMARY, ZoneId=f"{PRIMARY}-a", Status="In_use",
                    InstanceId="i-old", Device="/dev/xvdb")]
    )  # fmt: skip
    code, doc, table = run("reprotect", *route(endpoint), "--change", "CHG-5", "--pair", "pair-0", "--execute")
    assert code == 5 and doc["status"] == "failed" and doc["targets"][0]["outcome"] == "blocked"
    assert "precondition primaryDisksDetached (cn-hangzhou): failed" in table and "i-old" in table
    assert writes(failed_over) == []
