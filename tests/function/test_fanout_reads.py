"""A worker reads its batch's ids only (fanout/reads.py), 100 to a describe, and its plan is as safe
as with the region's full listing: a group member named alone is skipped, an unknown id reported."""

from __future__ import annotations

from collections import Counter
from typing import Any

from replica_failover.fanout.ids import task_id

from chaos.emulator.app import Emulator
from chaos.emulator.ebs.models import PairRecord
from tests.conftest import DR, PRIMARY
from tests.function.fanout_support import FC3, effects_per_target, fanout_env, run, seed, writes

KEY = "thr-reads"


def batch(pair_ids: list[str], group_ids: list[str] | None = None) -> dict[str, Any]:
    return {
        "fanout": "batch",
        "incidentKey": KEY,
        "primaryRegion": PRIMARY,
        "batch": 0,
        "batches": 2,
        "taskId": task_id(KEY, 2, 0),
        "pairIds": pair_ids,
        "groupIds": group_ids or [],
    }


def describes(emulator: Emulator) -> list[dict[str, Any]]:
    return [r for r in emulator.ledger.snapshot()["requests"] if str(r.get("action", "")).startswith("Describe")]


def test_a_worker_describes_its_ids_100_at_a_time(emulator: Emulator, endpoint: str) -> None:
    pairs = [PairRecord(ReplicaPairId=f"pair-{i:04d}", SourceRegion=PRIMARY, DestinationRegion=DR) for i in range(1200)]
    emulator.backend.seed_pairs(pairs)
    mine = [f"pair-{i:04d}" for i in range(0, 1200, 2)]  # 600 of the 1,200: every other one
    result = run(emulator, batch(mine), fanout_env(endpoint, FC3, FAILOVER_MAX_TARGETS="1000"))
    assert result["status"] == "completed" and result["summary"]["failedOver"] == 600, result["reason"]
    assert effects_per_target(emulator) == Counter(dict.fromkeys(mine, 1))
    planning = [r for r in describes(emulator) if r["action"] == "DescribeDiskReplicaPairs"]
    named = [r["params"].get("PairIds", "") for r in planning]
    assert all(named), "no unfiltered listing of the region"
    # the planning reads: six of 100 ids each, covering exactly the batch (later reads are looks)
    planned = [ids.split(",") for ids in named[:6]]
    assert [len(ids) for ids in planned] == [100] * 6 and sorted(i for ids in planned for i in ids) == mine
    assert not any(r["action"] == "DescribeDiskReplicaGroups" for r in describes(emulator))


def test_a_group_member_named_alone_is_skipped_and_an_unknown_id_reported(emulator: Emulator, endpoint: str) -> None:
    seed(emulator)  # pair-000..009 loose; pair-g0, pair-g1 in group pg-1
    result = run(emulator, batch(["pair-g0", "pair-404", "pair-001"]), fanout_env(endpoint, FC3))
    reasons = {t["id"]: (t["outcome"], t["reason"]) for t in result["targets"]}
    assert reasons["pair-g0"][0] == "skipped" and "member of group pg-1" in reasons["pair-g0"][1]
    assert reasons["pair-404"][0] == "skipped" and "not found" in reasons["pair-404"][1]
    assert reasons["pair-001"][0] == "failedOver"
    assert [w["target"] for w in writes(emulator)] == ["pair-001"]


def test_a_batch_with_its_group_fails_the_group_over(emulator: Emulator, endpoint: str) -> None:
    seed(emulator)
    result = run(emulator, batch(["pair-005"], ["pg-1"]), fanout_env(endpoint, FC3))
    assert result["summary"]["failedOver"] == 2, result
    assert effects_per_target(emulator) == Counter({"pg-1": 1, "pair-005": 1})
    groups = [r for r in describes(emulator) if r["action"] == "DescribeDiskReplicaGroups"]
    assert groups and groups[0]["params"].get("GroupIds") == "pg-1"
