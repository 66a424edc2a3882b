"""Fan-out against the emulator's FC APIs (FC 2.0 through aliyun-fc2, FC 3.0 through
alibabacloud-fc20230330): the coordinator splits, dispatches with deterministic task ids, and every
target sees exactly one effect in the ledger whatever is re-run, retried or duplicated."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from chaos.emulator.app import Emulator
from chaos.emulator.faults import FaultRule
from tests.conftest import PRIMARY
from tests.function.fanout_support import (
    FC2,
    FC3,
    FC3_NAME,
    effects_per_target,
    fanout_env,
    register,
    run,
    seed,
    worker_results,
)

ALERT = {
    "alertName": "probe-failed",
    "alertState": "ALERT",
    "triggerLevel": "CRITICAL",
    "ruleId": "rule-probe",
    "userId": "1234567890123456",
    "regionId": PRIMARY,
    "metricName": "probe",
    "namespace": "acs_custom",
    "timestamp": "1700000000000",
    "transId": "t-1",
    "dimensions": "{region=cn-hangzhou}",
}
BOTH = pytest.mark.parametrize("api", [FC2, FC3])


def worker_invocations(emulator: Emulator) -> list[dict[str, object]]:
    """The async invocations FC accepted (a 409 is recorded as Rejected and never runs)."""
    return [i for i in emulator.fc.invocations() if i["type"] == "Async" and i["status"] != "Rejected"]


def assert_once_each(emulator: Emulator, targets: set[str]) -> None:
    assert emulator.fc.wait_idle(120)
    assert effects_per_target(emulator) == Counter(dict.fromkeys(targets, 1))


@BOTH
def test_coordinator_splits_and_dispatches_one_worker_per_batch(emulator: Emulator, endpoint: str, api: str) -> None:
    targets = seed(emulator)
    env = fanout_env(endpoint, api)
    register(emulator, env)
    result = run(emulator, ALERT, env)
    assert result["status"] == "dispatched" and result["ok"] and not result["raised"], result["reason"]
    fan = result["fanout"]
    assert (fan["role"], fan["workers"], fan["apiVersion"]) == ("coordinator", 4, api)
    assert [b["dispatched"] for b in fan["batches"]] == ["new"] * 4
    assert sum(b["targets"] for b in fan["batches"]) == len(targets)
    assert all(b["taskId"].startswith("rf-") and b["taskId"].endswith(f"-w4-b{b['index']}") for b in fan["batches"])
    assert result["writeCalls"] == 0  # the coordinator itself fails nothing over
    assert_once_each(emulator, targets)
    assert len(worker_invocations(emulator)) == 4
    assert all(i["status"] == "Succeeded" for i in worker_invocations(emulator))


def test_rerun_coordinator_on_fc3_does_not_double_the_workers(emulator: Emulator, endpoint: str) -> None:
    targets = seed(emulator)
    env = fanout_env(endpoint, FC3)
    register(emulator, env)
    # the workers' writes take 5 s, so the re-run finds the targets still to fail over and must
    # dispatch the same batches again (had they finished, it would have nothing to fan out)
    slow = [{"action": a, "latencyMs": 5000} for a in ("FailoverDiskReplicaPair", "FailoverDiskReplicaGroup")]
    emulator.faults.set([FaultRule.model_validate(r) for r in slow], emulator.clock.now(), 0)
    first = run(emulator, ALERT, env)
    second = run(emulator, ALERT, env, request_id="coord-2")  # FC's retry, or a re-run by hand
    ids = [b["taskId"] for b in first["fanout"]["batches"]]
    assert ids == [b["taskId"] for b in second["fanout"]["batches"]]
    assert [b["dispatched"] for b in second["fanout"]["batches"]] == ["existing"] * 4
    assert second["status"] == "dispatched" and second["ok"]
    assert_once_each(emulator, targets)
    assert sorted(str(i["taskId"]) for i in worker_invocations(emulator)) == sorted(ids)


def test_rerun_coordinator_on_fc2_doubles_workers_never_effects(emulator: Emulator, endpoint: str) -> None:
    """FC 2.0 documents no refusal of a reused stateful invocation id: the second worker of a batch
    re-reads the targets and replays the same ClientTokens."""
    targets = seed(emulator)
    env = fanout_env(endpoint, FC2)
    register(emulator, env)
    run(emulator, ALERT, env)
    assert emulator.fc.wait_idle(120)
    second = run(emulator, ALERT, env, request_id="coord-2")
    # the re-run's plan finds everything failed over: nothing left to fan out, nothing sent
    assert second["status"] == "completed" and second["summary"]["alreadyFailedOver"] == len(targets)
    assert_once_each(emulator, targets)
    assert len(worker_invocations(emulator)) == 4


@BOTH
def test_duplicate_alarms_during_fanout(emulator: Emulator, endpoint: str, api: str) -> None:
    """Re-notifications of one alarm (new transId, same episode) arrive while the workers run."""
    targets = seed(emulator)
    env = fanout_env(endpoint, api)
    register(emulator, env)
    results = [run(emulator, {**ALERT, "transId": f"t-{n}"}, env, request_id=f"coord-{n}") for n in range(3)]
    keys = {r["incident"]["incidentKey"] for r in results}
    assert len(keys) == 1
    assert_once_each(emulator, targets)
    assert results[0]["status"] == "dispatched"
    for later in results[1:]:
        # the same batches again (answered 409 on FC 3.0), or, once the workers are done, nothing left
        if later["status"] == "dispatched":
            assert [b["taskId"] for b in later["fanout"]["batches"]] == [
                b["taskId"] for b in results[0]["fanout"]["batches"]
            ]
            if api == FC3:
                assert {b["dispatched"] for b in later["fanout"]["batches"]} == {"existing"}
        else:
            assert later["status"] == "completed" and later["writeCalls"] == 0
    if api == FC3:  # de-duplicated by task id: one worker per batch
        assert len(worker_invocations(emulator)) == 4


def test_worker_killed_and_retried_by_fc(emulator: Emulator, endpoint: str) -> None:
    """A worker's write is applied, then its answer hangs past the function's timeout: FC ends the
    attempt (Timeout) and retries the worker, which finds the target failing over. The abandoned
    attempt's thread still gets its answer later; the target still sees one effect."""
    targets = seed(emulator)
    env = fanout_env(endpoint, FC3, FAILOVER_READ_TIMEOUT_SECONDS="10")
    register(emulator, env, timeout=2)
    emulator.faults.set(
        [FaultRule(action="FailoverDiskReplicaPair", target="pair-004", phase="after", count=1, hang_ms=3000)],
        emulator.clock.now(),
        emulator.config().seed,
    )
    result = run(emulator, ALERT, env)
    assert result["status"] == "dispatched"
    assert emulator.fc.wait_idle(120)
    (killed,) = [i for i in worker_invocations(emulator) if len(i["attempts"]) > 1]  # type: ignore[arg-type]
    assert killed["status"] == "Succeeded"
    attempts: list[dict[str, object]] = killed["attempts"]  # type: ignore[assignment]
    assert attempts[0]["outcome"] == "Timeout"
    # the abandoned attempt's thread holds the emulator's os.environ until it ends: let it end here
    prefix = f"fc-{FC3_NAME}-{FC3_NAME}-{str(killed['requestId'])[:8]}"
    for thread in [t for t in threading.enumerate() if t.name.startswith(prefix)]:
        thread.join(timeout=60)
        assert not thread.is_alive()
    assert_once_each(emulator, targets)
    (late,) = [i for i in worker_invocations(emulator) if i["requestId"] == killed["requestId"]]
    assert late["attempts"][0].get("lateOutcome") == "Succeeded"  # type: ignore[index]


def test_one_regions_quota_is_shared_by_its_workers(emulator: Emulator, endpoint: str) -> None:
    targets = seed(emulator)
    env = fanout_env(endpoint, FC3, FAILOVER_RATE_LIMIT="40")
    register(emulator, env)
    result = run(emulator, ALERT, env)
    assert (result["fanout"]["rateLimit"], result["fanout"]["rateShare"]) == (40.0, 10.0)
    assert_once_each(emulator, targets)
    workers = worker_results(emulator)
    assert len(workers) == 4
    assert {w["fanout"]["rateShare"] for w in workers} == {10.0}
    assert sum(w["summary"]["failedOver"] for w in workers) == len(targets)
    assert sorted(w["fanout"]["batch"] for w in workers) == [0, 1, 2, 3]


def throttled_calls(emulator: Emulator) -> tuple[int, int]:
    requests = emulator.ledger.snapshot()["requests"]
    ebs = [r for r in requests if str(r.get("action", "")).startswith(("Failover", "Describe"))]
    return sum(1 for r in ebs if str(r.get("code") or "").startswith("Throttling")), len(ebs)


@pytest.mark.parametrize("shared", [False, True], ids=["each-alone", "shared"])
def test_workers_at_their_share_stay_under_the_regions_bucket(emulator: Emulator, endpoint: str, shared: bool) -> None:
    """Four workers against one bucket of 40 req/s (burst 10, room for a loaded machine bunching a few
    calls): paced at 10 req/s each they are (almost) never throttled; each adapting alone, they spend
    the burst together and are."""
    from chaos.emulator.config import RateLimit

    targets = seed(emulator, n_pairs=118)  # 118 pairs + 1 group = 119 targets: 4 batches of at most 30
    emulator.update_config({"rateLimits": [RateLimit(action="*", rate=40, burst=10).model_dump()]})
    extra = {"FAILOVER_RATE_LIMIT": "40"} if shared else {}
    env = fanout_env(endpoint, FC3, FAILOVER_BATCH_SIZE="30", **extra)
    register(emulator, env)
    result = run(emulator, ALERT, env)
    assert result["fanout"]["workers"] == 4 and result["fanout"]["rateShare"] == (10.0 if shared else None)
    assert_once_each(emulator, targets)
    throttles, calls = throttled_calls(emulator)
    if shared:
        assert {w["fanout"]["rateShare"] for w in worker_results(emulator)} == {10.0}
        assert throttles <= 0.05 * calls, (throttles, calls)
    else:
        assert throttles > 0.05 * calls, (throttles, calls)
