"""The confirmation stage end to end: the handler, the real core SDK against the emulator's CloudMonitor
and ebs APIs, and the emulator's DingTalk robot and webhook receiver. Judged from the ledger (writes,
effects) and from what the notification endpoints recorded (GET /_emulator/notifications)."""

from __future__ import annotations

import json
from collections import Counter

from chaos.emulator.app import Emulator
from chaos.emulator.faults import FaultError, FaultRule
from tests.conftest import PRIMARY
from tests.function.confirm_world import (
    ALARM,
    MANUAL,
    ROBOT_SECRET,
    ROBOT_TOKEN,
    SYSTEM_EVENT,
    TARGETS,
    confirm_env,
    effects,
    notifications,
    primary_down,
    resource_events,
    robot_texts,
    writes,
)
from tests.function.conftest import Invoke


# ----------------------------------------------------------------------------------- hold / act
def test_one_resource_event_is_held_and_notified_with_zero_writes(
    world: Emulator, endpoint: str, invoke: Invoke
) -> None:
    world.cms.add_events(resource_events(1))
    result = invoke(SYSTEM_EVENT, env=confirm_env(endpoint))
    assert (result["status"], result["ok"], result["writeCalls"], result["failure"]) == ("held", False, 0, None)
    assert writes(world) == [] and not effects(world)
    confirmation = result["confirmation"]
    assert confirmation["signal"] == "resource" and confirmation["decision"]["act"] is False
    sources = confirmation["evidence"]["sources"]
    assert sources["cms_events"]["value"] == 1 and confirmation["decision"]["terms"]["events>=5"] == "false"
    # one resource with events already decides; the (healthy) probe is read unless that answer came first
    probe = sources["probe"]
    assert probe["value"] is False or probe["reason"].startswith("not waited for"), probe
    assert 0 < confirmation["gatheringMs"] < 3000  # bounded by FAILOVER_EVIDENCE_TIMEOUT_SECONDS
    # the plan is computed and shown, nothing ran
    assert {t["id"] for t in result["targets"] if t["outcome"] == "pending"} == TARGETS
    # one hold message on each channel, recorded in the result and received by the endpoints
    assert [(n["channel"], n["kind"], n["ok"]) for n in result["notifications"]] == [
        ("dingtalk", "hold", True),
        ("webhook", "hold", True),
    ]
    received = notifications(endpoint)
    robot = [n for n in received if n["kind"] == "robot"]
    assert [(n["accepted"], n["verification"]) for n in robot] == [(True, "ok")]  # signed like DingTalk wants
    text = robot[0]["body"]["markdown"]["text"]
    assert "Failover held" in text and "cms_events" in text and "probe" in text
    hook = [n for n in received if n["kind"] == "webhook"]
    assert hook[0]["body"]["failover"]["kind"] == "hold"
    assert ROBOT_SECRET not in json.dumps(result) and ROBOT_TOKEN not in json.dumps(result)
    assert ROBOT_TOKEN not in json.dumps(received)


def test_an_escalating_outage_acts_on_the_re_notification_once_per_target(
    world: Emulator, endpoint: str, invoke: Invoke
) -> None:
    world.cms.add_events(resource_events(1))
    first = invoke(SYSTEM_EVENT, env=confirm_env(endpoint))
    assert first["status"] == "held" and writes(world) == []
    # later: many resources in trouble and the primary's control plane down
    world.cms.add_events(resource_events(6, first=1))
    primary_down(world)
    again = invoke(SYSTEM_EVENT, env=confirm_env(endpoint))
    assert again["status"] == "completed", again["reason"]
    terms = again["confirmation"]["decision"]["terms"]
    assert terms["resource"] == terms["probe"] == terms["events>=5"] == "true"
    assert again["confirmation"]["evidence"]["sources"]["cms_events"]["value"] == 7
    assert effects(world) == Counter(dict.fromkeys(TARGETS, 1))
    assert {r["regionId"] for r in writes(world)} == {"cn-shanghai"}  # never a write in the primary
    kinds = [(n["channel"], n["kind"]) for n in again["notifications"] if n["ok"]]
    assert kinds == [("dingtalk", "act"), ("webhook", "act"), ("dingtalk", "result"), ("webhook", "result")]
    assert any("Failover completed" in t for t in robot_texts(endpoint))


def test_throttled_cloudmonitor_counts_as_unavailable_never_as_evidence(
    world: Emulator, endpoint: str, invoke: Invoke
) -> None:
    world.cms.add_events(resource_events(5))
    throttled = FaultRule(service="cms", error=FaultError(status=400, code="Throttling.User"))
    world.faults.set([throttled], world.clock.now(), 0)
    held = invoke(ALARM, env=confirm_env(endpoint))
    assert held["status"] == "held" and writes(world) == []
    events = held["confirmation"]["evidence"]["sources"]["cms_events"]
    assert events["available"] is False and "Throttling.User" in events["reason"]
    assert held["confirmation"]["decision"]["terms"]["events>=3"] == "unavailable"
    assert "unavailable" in held["reason"]
    # the same alarm with the probe failing: the policy holds without the throttled source
    world.faults.set(
        [throttled, FaultRule(service="ebs", region=PRIMARY, error=FaultError(status=503, code="ServiceUnavailable"))],
        world.clock.now(),
        0,
    )
    acted = invoke(ALARM, env=confirm_env(endpoint))
    assert acted["status"] == "completed" and effects(world) == Counter(dict.fromkeys(TARGETS, 1))
    assert acted["confirmation"]["evidence"]["sources"]["cms_events"]["available"] is False


def test_notification_endpoints_down_do_not_stop_the_failover(world: Emulator, endpoint: str, invoke: Invoke) -> None:
    down = [
        FaultRule(service="robot", error=FaultError(status=500, code="InternalError")),
        FaultRule(service="webhook", reset=True),
    ]
    world.faults.set(down, world.clock.now(), 0)
    result = invoke(MANUAL, env=confirm_env(endpoint))  # a manual request acts under the default policy
    assert result["status"] == "completed" and effects(world) == Counter(dict.fromkeys(TARGETS, 1))
    records = result["notifications"]
    assert [(r["channel"], r["kind"]) for r in records] == [
        ("dingtalk", "act"),
        ("webhook", "act"),
        ("dingtalk", "result"),
        ("webhook", "result"),
    ]
    assert not any(r["ok"] for r in records) and all(r["error"] for r in records)
    assert all(r["attempts"] <= 2 and r["elapsedMs"] < 3500 for r in records)
    assert ROBOT_TOKEN not in json.dumps(result)


def test_a_refused_plan_sends_the_permanent_failure_notice(world: Emulator, endpoint: str, invoke: Invoke) -> None:
    result = invoke(MANUAL, env=confirm_env(endpoint, FAILOVER_MAX_TARGETS="2"))
    assert result["status"] == "refused" and writes(world) == []
    assert [(n["channel"], n["kind"], n["ok"]) for n in result["notifications"]] == [
        ("dingtalk", "failure", True),
        ("webhook", "failure", True),
    ]
    assert any("blast-radius" in t for t in robot_texts(endpoint))


def test_re_notifications_after_the_failover_send_nothing(world: Emulator, endpoint: str, invoke: Invoke) -> None:
    primary_down(world)
    first = invoke(ALARM, env=confirm_env(endpoint))
    assert first["status"] == "completed" and len(first["notifications"]) == 4
    again = invoke(ALARM, env=confirm_env(endpoint))  # CloudMonitor re-notifies while the alarm lasts
    assert again["status"] == "completed" and again["summary"]["alreadyFailedOver"] == len(TARGETS)
    assert again["notifications"] == [] and effects(world) == Counter(dict.fromkeys(TARGETS, 1))


def test_a_decisive_probe_does_not_wait_for_a_hanging_cloudmonitor(
    world: Emulator, endpoint: str, invoke: Invoke
) -> None:
    # a real regional outage may take CloudMonitor's regional endpoint down with the control plane
    hang = FaultRule(service="cms", hang_ms=10_000)
    down = FaultRule(service="ebs", region=PRIMARY, error=FaultError(status=503, code="ServiceUnavailable"))
    world.faults.set([hang, down], world.clock.now(), 0)
    result = invoke(ALARM, env=confirm_env(endpoint))
    assert result["status"] == "completed" and effects(world) == Counter(dict.fromkeys(TARGETS, 1))
    confirmation = result["confirmation"]
    assert confirmation["decision"]["terms"]["probe"] == "true"
    assert confirmation["evidence"]["sources"]["cms_events"]["reason"].startswith("not waited for")
    # decided on the probe's answer, far below the SDK read timeout (2.4 s) and the bound (3 s)
    assert confirmation["gatheringMs"] < 1500
