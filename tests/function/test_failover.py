"""The failover function against the emulator: every fault the function must survive, exact effects in the ledger."""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaos.emulator.app import Emulator
from chaos.emulator.config import Credential
from chaos.emulator.ebs.backend import CallContext
from chaos.emulator.ebs.models import FleetSpec, PairRecord, Tag
from chaos.emulator.faults import FaultError, FaultRule
from tests.conftest import DR, OTHER, PRIMARY, seed_basic
from tests.function.conftest import Invoke

FAILOVER = {"action": "failover", "primaryRegion": PRIMARY, "reason": "test", "incidentId": "inc-1"}
ALERT = {
    "alertName": "region-probe",
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
PRIMARY_PAIRS = ["pair-0", "pair-1", "pair-2"]


def set_faults(emulator: Emulator, *rules: FaultRule) -> None:
    emulator.faults.set(list(rules), emulator.clock.now(), emulator.config().seed)


def effects_per_target(emulator: Emulator) -> Counter[str]:
    return Counter(e["targetId"] for e in emulator.ledger.snapshot()["effects"])


def writes(emulator: Emulator) -> list[dict[str, Any]]:
    return [r for r in emulator.ledger.snapshot()["requests"] if str(r.get("action", "")).startswith("Failover")]


def by_id(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["id"]: t for t in result["targets"]}


# ------------------------------------------------------------------ baseline
def test_alarm_fails_over_pairs_and_groups_once(emulator: Emulator, invoke: Invoke, strict: bool) -> None:
    seed_basic(emulator)
    result = invoke(ALERT)
    assert result["status"] == "completed" and result["ok"] and not result["raised"]
    targets = by_id(result)
    assert {k for k, t in targets.items() if t["outcome"] == "failedOver"} == {*PRIMARY_PAIRS, "pg-1"}
    assert "pair-other" not in targets  # replicates from cn-beijing, not the unhealthy region
    assert targets["pg-1"]["members"] == ["pair-g0", "pair-g1"]
    assert effects_per_target(emulator) == Counter({**dict.fromkeys(PRIMARY_PAIRS, 1), "pg-1": 1})
    # group members never fail over pair by pair
    assert not [w for w in writes(emulator) if w["target"] in ("pair-g0", "pair-g1")]
    assert all(
        r["site"] == "backup" for r in emulator.ledger.snapshot()["requests"] if r["action"].startswith("Describe")
    )
    assert all(w["regionId"] == DR for w in writes(emulator))
    emulator.advance(1)
    assert {p.Status for p in emulator.backend.pairs.values() if p.SourceRegion == PRIMARY} == {"failovered"}


def test_repeated_notifications_add_no_effect(emulator: Emulator, invoke: Invoke, strict: bool) -> None:
    seed_basic(emulator)
    first = invoke(ALERT)
    for n in range(3):  # CloudMonitor re-notifies: new transId, new timestamp
        again = invoke({**ALERT, "transId": f"t-{n + 2}", "timestamp": str(1700000060000 + n)})
        assert again["status"] == "completed"
        assert {t["outcome"] for t in again["targets"]} == {"alreadyFailedOver"}
    assert first["incident"]["incidentKey"] == again["incident"]["incidentKey"]
    assert effects_per_target(emulator) == Counter({**dict.fromkeys(PRIMARY_PAIRS, 1), "pg-1": 1})


def test_eight_concurrent_invocations_of_one_incident(emulator: Emulator, invoke: Invoke, strict: bool) -> None:
    emulator.backend.generate(FleetSpec(pairs=30, routes=[(PRIMARY, DR)], seed=4, group_size=3, grouped_fraction=0.3))
    emulator.update_config({"latencyMs": 20})  # widen the race window
    results: list[dict[str, Any]] = []
    lock = threading.Lock()

    def one(n: int) -> None:
        r = invoke({**ALERT, "transId": f"c-{n}"})
        with lock:
            results.append(r)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == 8 and all(r["status"] == "completed" for r in results)
    effects = effects_per_target(emulator)
    expected = {t["id"] for t in results[0]["targets"] if t["outcome"] in ("failedOver", "alreadyFailedOver")}
    assert set(effects) == expected and set(effects.values()) == {1}


# --------------------------------------------------------------------- faults
def test_504_before_and_after_apply(emulator: Emulator, invoke: Invoke, strict: bool) -> None:
    seed_basic(emulator)
    set_faults(
        emulator,
        FaultRule(
            action="FailoverDiskReplicaPair",
            target="pair-0",
            count=2,
            error=FaultError(status=504, code="RequestTimeout"),
        ),
        FaultRule(
            action="FailoverDiskReplicaPair",
            target="pair-1",
            count=2,
            phase="after",
            error=FaultError(status=504, code="RequestTimeout"),
        ),
        FaultRule(
            action="FailoverDiskReplicaGroup",
            count=1,
            phase="after",
            error=FaultError(status=500, code="InternalError"),
        ),
    )
    result = invoke(ALERT)
    assert result["status"] == "completed"
    t = by_id(result)
    assert t["pair-0"]["attempts"] == 3 and t["pair-0"]["errors"] == ["RequestTimeout"] * 2
    # after an ambiguous answer the function looks first: an applied write is not sent again
    assert t["pair-1"]["attempts"] == 1 and t["pair-1"]["outcome"] == "failedOver"
    assert t["pair-1"]["statusAfter"] == "failovering" and t["pair-1"]["errors"] == ["RequestTimeout"]
    assert t["pg-1"]["attempts"] == 1 and t["pg-1"]["outcome"] == "failedOver"
    assert effects_per_target(emulator) == Counter({**dict.fromkeys(PRIMARY_PAIRS, 1), "pg-1": 1})
    # every retry of a target carried the same ClientToken
    tokens: dict[str, set[str]] = {}
    for w in writes(emulator):
        tokens.setdefault(w["target"], set()).add(w["clientToken"])
    assert all(len(v) == 1 for v in tokens.values())
    # the looks were describes by id, on the DR site
    looks = [
        r for r in emulator.ledger.snapshot()["requests"] if r["params"].get("PairIds") or r["params"].get("GroupIds")
    ]
    assert looks and all(r["site"] == "backup" and r["regionId"] == DR for r in looks)
    assert {i for r in looks for i in (r["params"].get("PairIds") or r["params"].get("GroupIds")).split(",")} >= {
        "pair-0",
        "pair-1",
        "pg-1",
    }


def test_retry_after_a_lost_ack_replays_the_token(emulator: Emulator, invoke: Invoke) -> None:
    """When the look cannot see the write yet (still in flight), the retry carries the same token and is replayed."""
    seed_basic(emulator)
    set_faults(
        emulator,
        # the first call is held past the read timeout, then applied: the look sees "normal", the retry
        # meets the in-flight token (LastTokenProcessing), and a later retry is replayed
        FaultRule(action="FailoverDiskReplicaPair", target="pair-1", count=1, hang_ms=1500),
    )
    result = invoke(ALERT, FAILOVER_READ_TIMEOUT_SECONDS="1")
    t = by_id(result)["pair-1"]
    assert t["outcome"] == "failedOver" and t["errors"][0] == "SDK.HttpError"
    assert effects_per_target(emulator)["pair-1"] == 1
    pair1 = [w for w in writes(emulator) if w["target"] == "pair-1"]
    assert len({w["clientToken"] for w in pair1}) == 1


def test_invalid_status_transient_then_permanent(emulator: Emulator, invoke: Invoke) -> None:
    seed_basic(emulator)
    set_faults(
        emulator,
        FaultRule(
            action="FailoverDiskReplicaPair",
            target="pair-0",
            count=1,
            error=FaultError(status=403, code="OperationDenied.InvalidStatus"),
        ),
    )
    emulator.backend.flip("pair", "pair-2", "normal")
    result = invoke(ALERT)
    assert by_id(result)["pair-0"]["outcome"] == "failedOver" and by_id(result)["pair-0"]["attempts"] == 2
    # permanent: the pair turns invalid between plan and call -> reconciled to skipped, no effect
    emulator.reset()
    seed_basic(emulator)
    set_faults(
        emulator,
        FaultRule(
            action="FailoverDiskReplicaPair",
            target="pair-1",
            count=1,
            error=FaultError(status=403, code="OperationDenied.InvalidStatus"),
        ),
    )
    original = emulator.backend.failover_pair

    def flip_then_fail(ctx: CallContext, region: str, pid: str) -> None:
        emulator.backend.flip("pair", "pair-1", "invalid")
        original(ctx, region, pid)

    emulator.backend.failover_pair = flip_then_fail  # type: ignore[method-assign]
    result = invoke(ALERT)
    assert by_id(result)["pair-1"]["outcome"] == "skipped" and "invalid" in by_id(result)["pair-1"]["reason"]
    assert "pair-1" not in effects_per_target(emulator)


def test_invalid_status_because_someone_else_failed_it_over(emulator: Emulator, invoke: Invoke) -> None:
    """Strict mode: a concurrent actor (another token) failed pair-0 over between our plan and our call."""
    seed_basic(emulator)
    emulator.update_config({"strict": True})
    original = emulator.backend.failover_pair
    raced: list[str] = []

    def race(ctx: CallContext, region: str, pid: str) -> None:
        if pid == "pair-0" and not raced:
            raced.append(pid)
            original(CallContext("other", "FailoverDiskReplicaPair", "operator-token", "someone"), region, pid)
        original(ctx, region, pid)

    emulator.backend.failover_pair = race  # type: ignore[method-assign]
    result = invoke(ALERT)
    assert by_id(result)["pair-0"]["outcome"] == "alreadyFailedOver"
    assert effects_per_target(emulator)["pair-0"] == 1


def test_throttling_is_retried(emulator: Emulator, invoke: Invoke) -> None:
    seed_basic(emulator)
    set_faults(
        emulator,
        FaultRule(action="FailoverDiskReplicaPair", count=3, error=FaultError(status=400, code="Throttling.User")),
    )
    result = invoke(ALERT)
    assert result["status"] == "completed" and result["retries"] >= 3
    assert effects_per_target(emulator) == Counter({**dict.fromkeys(PRIMARY_PAIRS, 1), "pg-1": 1})


def test_last_token_processing_waits_and_rechecks(emulator: Emulator, invoke: Invoke) -> None:
    seed_basic(emulator)
    # the first call hangs past the read timeout while holding its token; the retry meets it in flight
    set_faults(emulator, FaultRule(action="FailoverDiskReplicaPair", target="pair-0", count=1, hang_ms=1500))
    result = invoke(ALERT, FAILOVER_READ_TIMEOUT_SECONDS="1")
    t = by_id(result)["pair-0"]
    assert t["outcome"] == "failedOver" and "SDK.HttpError" in t["errors"]
    assert emulator.ledger.wait_for_requests(len(emulator.ledger.snapshot()["requests"]) + 0, 5)
    assert effects_per_target(emulator)["pair-0"] == 1


@pytest.mark.parametrize(
    ("code", "status", "expect"),
    [
        ("Forbidden", 403, "ebs:FailoverDiskReplicaPair"),
        ("Forbidden.Action", 403, "ebs:FailoverDiskReplicaPair"),
        ("OperationDenied.OperateNotAllowedForPrimary", 403, "FAILOVER_DR_REGION"),
        ("OperationDenied.OperateNotAllowedForStandby", 403, "FAILOVER_DR_REGION"),
        ("OperationDenied", 403, "The operation is not allowed."),
        ("OperationDenied.NoPairInGroup", 403, "no pair in the group"),
    ],
)
def test_permanent_errors_fail_loudly_without_retry(
    emulator: Emulator, invoke: Invoke, code: str, status: int, expect: str
) -> None:
    seed_basic(emulator)
    set_faults(
        emulator,
        FaultRule(action="FailoverDiskReplicaPair", target="pair-0", error=FaultError(status=status, code=code)),
    )
    result = invoke(ALERT)
    t = by_id(result)["pair-0"]
    assert t["outcome"] == "failed" and t["attempts"] == 1 and expect in t["reason"]
    assert result["status"] == "partial" and result["ok"] is False and not result["raised"]
    assert "pair-0" not in effects_per_target(emulator)
    assert effects_per_target(emulator)["pair-1"] == 1  # the others still fail over


def test_real_ram_denial_from_a_restricted_role(emulator: Emulator, invoke: Invoke) -> None:
    seed_basic(emulator)
    role = emulator.config().credential(emulator.config().function_role_access_key_id)
    assert role is not None
    others = [c for c in emulator.config().credentials if c.access_key_id != role.access_key_id]
    restricted = Credential.model_validate(
        {
            **role.model_dump(),
            "allowed_actions": [
                "ebs:DescribeDiskReplicaPairs",
                "ebs:DescribeDiskReplicaGroups",
                "ebs:FailoverDiskReplicaGroup",
            ],
        }
    )
    emulator.update_config({"credentials": [c.model_dump(by_alias=True) for c in [*others, restricted]]})
    result = invoke(ALERT)
    assert {by_id(result)[p]["outcome"] for p in PRIMARY_PAIRS} == {"failed"}
    assert "Forbidden.Action" in by_id(result)["pair-0"]["reason"]
    assert effects_per_target(emulator) == Counter({"pg-1": 1})


def test_no_such_resource_is_skipped(emulator: Emulator, invoke: Invoke) -> None:
    seed_basic(emulator)
    set_faults(
        emulator,
        FaultRule(
            action="FailoverDiskReplicaPair", target="pair-2", error=FaultError(status=404, code="NoSuchResource")
        ),
    )
    result = invoke(ALERT)
    assert by_id(result)["pair-2"]["outcome"] == "skipped" and result["status"] == "completed"


def test_deadline_mid_run_then_reinvocation_finishes(emulator: Emulator, invoke: Invoke, strict: bool) -> None:
    emulator.backend.seed_pairs(
        PairRecord(ReplicaPairId=f"pair-d{i:02d}", SourceRegion=PRIMARY, DestinationRegion=DR) for i in range(12)
    )
    set_faults(emulator, FaultRule(action="FailoverDiskReplicaPair", latency_ms=250))
    first = invoke(ALERT, timeout=2.0, FAILOVER_CONCURRENCY="1")  # deadline = 2 s - 1 s margin
    assert first["status"] == "pending" and first["raised"] is True
    assert 0 < first["summary"]["failedOver"] < 12 and first["summary"]["pending"] > 0
    set_faults(emulator)
    second = invoke(ALERT)
    assert second["status"] == "completed"
    assert second["summary"]["failedOver"] + second["summary"]["alreadyFailedOver"] == 12
    counts = effects_per_target(emulator)
    assert len(counts) == 12 and set(counts.values()) == {1}


def test_200_pairs_with_30_percent_504s_half_after_apply(emulator: Emulator, invoke: Invoke) -> None:
    emulator.backend.generate(FleetSpec(pairs=200, routes=[(PRIMARY, DR)], seed=11))
    set_faults(
        emulator,
        FaultRule(
            action="FailoverDiskReplicaPair",
            probability=0.15,
            phase="before",
            seed=1,
            error=FaultError(status=504, code="RequestTimeout"),
        ),
        FaultRule(
            action="FailoverDiskReplicaPair",
            probability=0.15 / 0.85,
            phase="after",
            seed=2,
            error=FaultError(status=504, code="RequestTimeout"),
        ),
    )
    result = invoke(ALERT, FAILOVER_CONCURRENCY="16", FAILOVER_RETRY_BUDGET="1000", FAILOVER_MAX_ATTEMPTS="12")
    assert result["status"] == "completed", result["reason"]
    assert result["summary"]["failedOver"] == 200
    counts = effects_per_target(emulator)
    assert len(counts) == 200 and set(counts.values()) == {1}
    fired = {str(r["id"]): int(str(r["fired"])) for r in emulator.faults.rules()}
    assert fired["rule-1"] > 10 and fired["rule-2"] > 10


def test_verify_polls_until_failovered(emulator: Emulator, invoke: Invoke) -> None:
    seed_basic(emulator)
    emulator.update_config({"transitionDelays": {"failovering": 0.0}})
    result = invoke(ALERT, FAILOVER_VERIFY="true", FAILOVER_VERIFY_POLL_SECONDS="0.05")
    assert all(t["verified"] for t in result["targets"] if t["outcome"] == "failedOver")
    assert result["summary"]["unverified"] == 0


def test_verify_reports_unverified_at_the_deadline(emulator: Emulator, invoke: Invoke) -> None:
    seed_basic(emulator)
    emulator.clock.freeze(True)  # failovering never completes
    result = invoke(ALERT, timeout=2.0, FAILOVER_VERIFY="true", FAILOVER_VERIFY_POLL_SECONDS="0.1")
    assert result["summary"]["unverified"] == 4 and result["status"] == "completed"


# ------------------------------------------------------------ no-API paths
def test_noop_and_plan_paths_make_no_write_calls(emulator: Emulator, invoke: Invoke) -> None:
    seed_basic(emulator)
    ok = invoke({**ALERT, "alertState": "OK", "triggerLevel": "OK"})
    low = invoke({**ALERT, "triggerLevel": "WARN"})
    other = invoke({**ALERT, "regionId": "cn-qingdao", "dimensions": "{region=cn-qingdao}"})
    assert [r["status"] for r in (ok, low, other)] == ["noop"] * 3
    assert emulator.ledger.snapshot()["requests"] == []  # not even a describe
    plan = invoke({"action": "plan", "primaryRegion": PRIMARY, "reason": "drill"})
    assert plan["status"] == "planned" and plan["summary"]["pending"] == 4
    killed = invoke(ALERT, FAILOVER_MODE="plan-only")
    assert killed["status"] == "planned" and "kill switch" in killed["incident"]["reason"]
    assert writes(emulator) == []


def test_blast_radius_cap_refuses_everything(emulator: Emulator, invoke: Invoke) -> None:
    seed_basic(emulator)
    result = invoke(ALERT, FAILOVER_MAX_TARGETS="3")
    assert result["status"] == "refused" and "FAILOVER_MAX_TARGETS=3" in result["refused"]
    assert writes(emulator) == []


def test_filters_tags_allow_deny(emulator: Emulator, invoke: Invoke) -> None:
    seed_basic(emulator)
    emulator.backend.seed_pairs(
        [
            PairRecord(
                ReplicaPairId="pair-prod",
                SourceRegion=PRIMARY,
                DestinationRegion=DR,
                Tags=[Tag(TagKey="env", TagValue="prod")],
            )
        ]
    )
    result = invoke(ALERT, FAILOVER_TAGS="env=prod")
    assert [t["id"] for t in result["targets"] if t["outcome"] == "failedOver"] == ["pair-prod"]
    emulator.reset()
    seed_basic(emulator)
    result = invoke(ALERT, FAILOVER_DENY_PAIR_IDS="pair-1", FAILOVER_ALLOW_GROUP_IDS="pg-none")
    t = by_id(result)
    assert t["pair-1"]["outcome"] == "skipped" and t["pg-1"]["outcome"] == "skipped"
    assert t["pair-g0"]["outcome"] == "skipped" and "groups fail over as a unit" in t["pair-g0"]["reason"]
    assert set(effects_per_target(emulator)) == {"pair-0", "pair-2"}


def test_manual_failover_of_named_targets(emulator: Emulator, invoke: Invoke) -> None:
    seed_basic(emulator)
    result = invoke({**FAILOVER, "pairIds": ["pair-1", "pair-g0", "pair-nope"], "groupIds": ["pg-1"]})
    t = by_id(result)
    assert t["pair-1"]["outcome"] == "failedOver" and t["pg-1"]["outcome"] == "failedOver"
    assert t["pair-nope"]["outcome"] == "skipped" and t["pair-0"]["outcome"] == "skipped"
    assert set(effects_per_target(emulator)) == {"pair-1", "pg-1"}


def test_describe_failure_is_pending_and_raises(emulator: Emulator, invoke: Invoke) -> None:
    seed_basic(emulator)
    set_faults(emulator, FaultRule(action="DescribeDiskReplicaGroups", error=FaultError(status=503)))
    result = invoke(ALERT, FAILOVER_MAX_ATTEMPTS="2")
    assert result["status"] == "pending" and result["raised"] is True
    assert writes(emulator) == []


def test_primary_site_is_never_called(emulator: Emulator, invoke: Invoke) -> None:
    seed_basic(emulator)
    set_faults(emulator, FaultRule(region=PRIMARY), FaultRule(site="production"))  # the primary is down
    result = invoke(ALERT)
    assert result["status"] == "completed"
    reqs = emulator.ledger.snapshot()["requests"]
    assert all(r["regionId"] == DR for r in reqs) and not [r for r in reqs if r.get("fault")]


def test_logs_are_json_lines_without_secrets(emulator: Emulator, invoke: Invoke) -> None:
    seed_basic(emulator)
    result = invoke(ALERT)
    text = json.dumps(result["logLines"])
    role = emulator.config().credential(emulator.config().function_role_access_key_id)
    assert role is not None and role.security_token
    assert role.access_key_secret not in text and role.security_token not in text
    assert {line["event"] for line in result["logLines"]} >= {"incident", "plan", "target", "result"}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    event=st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=12), c, max_size=5),
            max_leaves=20,
        ).map(json.dumps),
        st.fixed_dictionaries(
            {
                "alertState": st.sampled_from(["ALERT", "OK", "x"]),
                "regionId": st.text(max_size=20),
                "triggerLevel": st.text(max_size=10),
            }
        ).map(json.dumps),
    )
)
def test_fuzzed_events_never_reach_the_api(emulator: Emulator, invoke: Invoke, event: bytes | str) -> None:
    result = invoke(event)
    assert result["status"] in ("rejected", "noop")
    assert emulator.ledger.snapshot()["requests"] == []


def test_ten_megabyte_body_is_rejected_without_calls(emulator: Emulator, invoke: Invoke) -> None:
    result = invoke(b"{" + b" " * (10 * 1024 * 1024) + b"}")
    assert result["status"] == "rejected" and "too-large" in result["reason"]
    assert emulator.ledger.snapshot()["requests"] == []


def test_other_account_is_rejected(emulator: Emulator, invoke: Invoke) -> None:
    seed_basic(emulator)
    result = invoke({**ALERT, "userId": "9999999999999999"})
    assert result["status"] == "rejected" and "account" in result["reason"]
    assert emulator.ledger.snapshot()["requests"] == []


def test_other_region_pairs_untouched_by_a_beijing_alarm(emulator: Emulator, invoke: Invoke) -> None:
    seed_basic(emulator)
    result = invoke({**ALERT, "regionId": OTHER, "dimensions": f"{{region={OTHER}}}"})
    assert [t["id"] for t in result["targets"]] == ["pair-other"]
    assert set(effects_per_target(emulator)) == {"pair-other"}
