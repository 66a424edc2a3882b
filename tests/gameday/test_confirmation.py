"""Game-day machinery for confirmation, approval and notifications, against a real emulator on 127.0.0.1.

The function's own notification code sends to the emulator's robot and webhook; the function's own
CloudMonitor source reads the seeded history through aliyun-python-sdk-core; approvals are signed by
``replica-failover approve``'s code and checked by the function's ``verify``.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from replica_failover.approval import Approval, ApprovalError, plan_digest, plan_targets, verify
from replica_failover.confirm import sources
from replica_failover.credentials import Credentials
from replica_failover.notify import messages
from replica_failover.notify.send import notify_all

from chaos.emulator.app import Emulator
from chaos.emulator.cms.models import DatapointSeed, SystemEventSeed
from chaos.emulator.config import DEFAULT_STS_ACCESS_KEY_ID, DEFAULT_STS_ACCESS_KEY_SECRET, DEFAULT_STS_SECURITY_TOKEN
from chaos.emulator.server import RunningEmulator, start
from chaos.gameday.approvals import ApprovalStepError, approval_event
from chaos.gameday.client import HttpControl, LocalControl
from chaos.gameday.notifications import Endpoints, approve_command, kind_of
from chaos.gameday.scenario import ApproveStep, Scenario, load_scenario
from chaos.gameday.world import World, seed_cloud_monitor, unknown_targets

INCIDENT = "alm-0123456789abcdef"


@pytest.fixture
def control() -> Iterator[LocalControl]:
    handle = start(Emulator(region="cn-shanghai"))
    local = LocalControl(handle.emulator, handle.url)
    try:
        yield local
    finally:
        local.close()
        handle.stop()


def _scenario(**extra: object) -> Scenario:
    doc: dict[str, object] = {
        "title": "t",
        "notify": {"dingtalk": {"name": "oncall", "keywords": ["Incident"]}, "webhook": {"name": "ops"}},
        "trigger": {"events": [{"body": {"x": 1}}]},
    }
    doc.update(extra)
    return Scenario.model_validate(doc)


def _world(sc: Scenario, control: LocalControl) -> World:
    world = World.build(sc, Path("."), control, target=None, fc_endpoint=None, logs=io.StringIO())
    assert world.endpoints is not None
    world.endpoints.configure(control)
    return world


class _Item:
    """A plan item as approval.plan_targets reads it."""

    def __init__(self, kind: str, ident: str, token: str) -> None:
        self.kind, self.id, self.client_token, self.decision = kind, ident, token, "failover"


PLAN = plan_targets([_Item("pair", "pair-a", "tok-a"), _Item("group", "pg-b", "tok-b")])  # type: ignore[list-item]


def _send_hold(world: World, *, with_command: bool = True) -> None:
    env = world.function_env()
    targets = [f"{t.kind}:{t.id}:{t.client_token}" for t in PLAN]
    message = messages.hold(
        incident_key=INCIDENT,
        primary_region="cn-hangzhou",
        policy="alarm and probe",
        reason="approval needed",
        terms={"probe": "true"},
        approval_digest=plan_digest(INCIDENT, PLAN) if with_command else None,
        targets=targets if with_command else (),
    )
    records = notify_all(
        message,
        dingtalk_url=env["FAILOVER_NOTIFY_DINGTALK_URL"],
        dingtalk_secret=env["FAILOVER_NOTIFY_DINGTALK_SECRET"],
        webhook_url=env["FAILOVER_NOTIFY_WEBHOOK_URL"],
    )
    assert [r.ok for r in records] == [True, True], records


# ----------------------------------------------------------------------------------- schema
@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"trigger": {"events": [{"approve": {}, "file": "x.json"}]}}, "exactly one of file, body, raw, approve"),
        ({"trigger": {"events": [{"approve": {}, "copies": 2}]}}, "delivered once"),
        ({"trigger": {"events": [{"approve": {"variant": "stolen"}}]}}, "variant"),
        ({"function": {"env": {"CMS_ENDPOINT": "http://x"}}}, "CMS_ENDPOINT is set by the runner"),
        ({"function": {"approvalSecret": "short"}}, "at least 16"),
        ({"notify": {}, "expect": {"notifications": {"kinds": {"hold": 1}}}}, "needs notify.dingtalk"),
        ({"notify": {}, "trigger": {"events": [{"approve": {}}]}}, "approve step reads the hold message"),
        ({"expect": {"notifications": {"kinds": {"page": 1}}}}, "kinds"),
        ({"method": {"actions": [{"when": {"beforeEvent": 0}}]}}, "addSystemEvents"),
    ],
)
def test_invalid_confirmation_scenarios_say_why(patch: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _scenario(**patch)


def test_a_fault_on_an_unconfigured_endpoint_is_a_scenario_error() -> None:
    rules = [
        {"id": "w", "service": "webhook", "target": "slack", "error": {"status": 503}},
        {"id": "r", "service": "robot", "target": "oncall", "error": {"status": 500}},
    ]
    sc = _scenario(method={"faults": rules})
    assert unknown_targets(sc) == ["method.faults[0] (w): webhook slack is not configured under notify (it is ops)"]


def test_the_bundled_scenarios_declare_their_evidence_and_notifications(tmp_path: Path) -> None:
    sc = load_scenario(Path("chaos/scenarios/escalating-outage.yaml"))
    assert [e.RegionId for e in sc.cloud_monitor.system_events] == [
        "cn-hangzhou",
        "cn-beijing",
        "cn-hangzhou",
    ]
    [action] = sc.method.actions
    assert action.when.before_event == 1 and len(action.add_system_events or []) == 7
    assert sc.expect.notifications is not None and sc.expect.notifications.kinds["act"] == 1


# ------------------------------------------------------------------------ world and endpoints
def test_function_env_points_at_the_emulator_and_masks_every_secret(control: LocalControl) -> None:
    sc = _scenario(function={"env": {"FAILOVER_MODE": "approve"}})
    world = _world(sc, control)
    env = world.function_env()
    assert env["CMS_ENDPOINT"] == env["EBS_ENDPOINT"] == control.url
    assert env["FAILOVER_NOTIFY_WEBHOOK_URL"] == f"{control.url}/hooks/ops"
    assert env["FAILOVER_NOTIFY_DINGTALK_URL"].startswith(f"{control.url}/robot/send?access_token=")
    assert env["FAILOVER_APPROVAL_SECRET"] == sc.function.approval_secret
    masked = json.dumps(world.masked_env())
    for secret in world.secrets():
        assert secret not in masked
    # the control plane lists the robot without its token or secret
    listed = json.dumps(control.em.notify.robots())
    assert "oncall" in listed and world.endpoints is not None and world.endpoints.robot_secret not in listed
    # a second run draws other credentials
    assert Endpoints(sc.notify).robot_secret != world.endpoints.robot_secret


def test_no_approval_secret_unless_the_scenario_approves(control: LocalControl) -> None:
    assert "FAILOVER_APPROVAL_SECRET" not in _world(_scenario(), control).function_env()


def test_the_function_notifications_reach_the_robot_and_are_read_back(control: LocalControl) -> None:
    world = _world(_scenario(), control)
    _send_hold(world)
    received = control.notifications()
    assert [(n["kind"], n["accepted"], n["verification"], kind_of(n)) for n in received] == [
        ("robot", True, "ok", "hold"),
        ("webhook", True, "ok", "hold"),
    ]
    command = approve_command(received)
    assert command is not None and command.incident_key == INCIDENT
    assert command.digest == plan_digest(INCIDENT, PLAN) and command.primary_region == "cn-hangzhou"
    assert sorted(command.targets) == ["group:pg-b:tok-b", "pair:pair-a:tok-a"]
    # the robot really checks the signature: a message signed with another secret is refused
    env = world.function_env()
    [record] = notify_all(
        messages.failure(incident_key=INCIDENT, kind="failed", cause="api", reason="x"),
        dingtalk_url=env["FAILOVER_NOTIFY_DINGTALK_URL"],
        dingtalk_secret="SEC" + "0" * 48,
        webhook_url=None,
    )
    assert not record.ok and control.notifications()[-1]["verification"] == "bad-sign"


def test_cloud_monitor_records_are_stamped_on_the_wall_clock(control: LocalControl) -> None:
    """An emulator clock an hour ahead (an external emulator after one run) must not hide the history
    from the function, whose evidence window ends at its own wall clock."""
    control.advance(3600)
    seeds = [
        SystemEventSeed.model_validate(
            {
                "Product": "ECS",
                "Name": "Instance:SystemFailure.Reboot:Executing",
                "RegionId": "cn-hangzhou",
                "ResourceId": f"i-{n}",
                "offsetSeconds": offset,
            }
        )
        for n, offset in ((1, -60), (2, -30), (3, 600))  # the third happens in ten minutes
    ]
    seed_cloud_monitor(control, seeds, [])
    credentials = Credentials(DEFAULT_STS_ACCESS_KEY_ID, DEFAULT_STS_ACCESS_KEY_SECRET, DEFAULT_STS_SECURITY_TOKEN)
    call = sources.cms_caller(credentials, "cn-hangzhou", endpoint=control.url, connect_timeout=2, read_timeout=2)
    counted = sources.count_event_resources(
        call, region="cn-hangzhou", window_minutes=10, min_level="CRITICAL", now_ms=sources.now_ms()
    )
    assert counted == 2
    assert [r["service"] for r in control.ledger()["requests"]] == ["cms"]


# ------------------------------------------------------------------------------- approvals
def _approval(payload: bytes) -> tuple[dict[str, object], Approval]:
    event = json.loads(payload)
    return event, Approval.model_validate(event["approval"])


def test_a_valid_approval_is_exactly_the_offered_plan(control: LocalControl) -> None:
    world = _world(_scenario(), control)
    _send_hold(world)
    event, approval = _approval(approval_event(ApproveStep(approver="alice"), world))
    assert event["action"] == "failover" and event["incidentId"] == INCIDENT and event["primaryRegion"] == "cn-hangzhou"
    secret = world.sc.function.approval_secret
    check = verify(secret, approval, incident_key=INCIDENT, plan_targets=PLAN, now=time.time())
    assert check.approver == "alice" and set(check.run) == set(PLAN) and not check.held and not check.vanished


@pytest.mark.parametrize(
    ("variant", "reason"), [("forged", "bad-signature"), ("expired", "expired"), ("replayed", "other-incident")]
)
def test_bad_approvals_are_rejected_by_the_function(control: LocalControl, variant: str, reason: str) -> None:
    world = _world(_scenario(), control)
    _send_hold(world)
    step = ApproveStep.model_validate({"variant": variant, "replayIncident": "INC-OTHER-1"})
    event, approval = _approval(approval_event(step, world))
    key = str(event["incidentId"])
    assert (key == "INC-OTHER-1") == (variant == "replayed")
    with pytest.raises(ApprovalError) as caught:
        verify(world.sc.function.approval_secret, approval, incident_key=key, plan_targets=PLAN, now=time.time())
    assert caught.value.reason == reason


def test_an_approve_step_without_a_hold_command_is_blocked(control: LocalControl) -> None:
    world = _world(_scenario(), control)
    with pytest.raises(ApprovalStepError, match="no accepted hold message"):
        approval_event(ApproveStep(), world)
    _send_hold(world, with_command=False)  # a hold that needs no approval offers no command
    with pytest.raises(ApprovalStepError, match="no accepted hold message"):
        approval_event(ApproveStep(), world)


def test_datapoints_seeded_over_the_control_plane_reach_the_metric_source(external: RunningEmulator) -> None:
    """HttpControl (``--endpoint``) stores datapoints the function's site-monitoring source reads."""
    http = HttpControl(external.url)
    try:
        http.advance(3600)  # as after an earlier run on the same emulator
        seed = DatapointSeed.model_validate(
            {
                "Namespace": "acs_networkmonitor",
                "MetricName": "Availability",
                "dimensions": {"taskId": "probe-hz"},
                "values": {"Average": 12.5},
                "offsetSeconds": -30,
            }
        )
        seed_cloud_monitor(http, [], [seed])
        credentials = Credentials(DEFAULT_STS_ACCESS_KEY_ID, DEFAULT_STS_ACCESS_KEY_SECRET, DEFAULT_STS_SECURITY_TOKEN)
        call = sources.cms_caller(credentials, "cn-hangzhou", endpoint=http.url, connect_timeout=2, read_timeout=2)
        assert sources.latest_below(call, task_id="probe-hz", threshold=90.0) is True
        assert sources.latest_below(call, task_id="probe-hz", threshold=10.0) is False
    finally:
        http.close()
