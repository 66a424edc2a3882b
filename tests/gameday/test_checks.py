"""The hypothesis's checks form one table: each expect field switches its own check, by name, in order."""

from __future__ import annotations

from chaos.gameday.expectations import CHECKS, evaluate
from chaos.gameday.observations import Observations
from chaos.gameday.scenario import Expect, NotificationsExpect, ReverseExpect


def _quiet(ledger: bool = True) -> Observations:
    return Observations(
        primary="cn-hangzhou",
        eligible=set(),
        initial={},
        final={},
        ledger={"requests": [], "effects": []},
        ledger_available=ledger,
        invocation_status=[("#0 alarm (direct)", "completed", None)],
        final_results=[{"status": "completed", "ok": True, "reason": "nothing to do", "targets": []}],
        attempt_results=[],
        fault_rules=[],
    )


def test_names_are_unique_and_in_report_order() -> None:
    names = [c.name for c in CHECKS]
    assert len(names) == len(set(names)) == 42  # 31 + 7 drill-* (drill_checks.py) + 4 reverse-* (reverse_checks.py)
    everything = Expect(
        max_api_calls=1,
        max_write_calls=0,
        max_retries=0,
        min_faults_fired=0,
        result_ok=True,
        result_reason_contains="nothing",
        target_outcomes={"pair-a": ["absent"]},
        eligible_outcomes=["failedOver"],
        failed_reason_contains="x",
        min_fc_attempts=1,
        max_primary_probes=0,
        max_evidence_seconds=1,
        result_fields={"status": ["completed"]},
        notifications=NotificationsExpect(kinds={"hold": 0}, contains=["x"], all_accepted=True),
        result_notification_failures=0,
        reverse=ReverseExpect(steps_per_target={"Start": 1}, final_status=["normal"], new_failover_token=True),
    )
    got = [r.name for r in evaluate(everything, _quiet())]
    # no FC records: no DLQ to read; no event step with maxWriteCalls; no secrets drawn for this run;
    # no recovery world: no recovery checks; no drills expected: no drill checks
    skipped = ("async-failures", "event-writes", "no-secret-leaked")
    assert got == [n for n in names if n not in skipped and not n.startswith(("recovery-", "service-", "drill-"))]


def test_defaults_and_a_staging_account() -> None:
    assert [r.name for r in evaluate(Expect(), _quiet(ledger=False))] == ["completion-time", "result-status"]
    on = evaluate(Expect(), _quiet())
    assert [r.name for r in on][:4] == [c.name for c in CHECKS][:4] and all(r.ok for r in on)
    # a check that would pass on nothing at all says so
    [failed] = [r for r in evaluate(Expect(failed_reason_contains="ebs:"), _quiet()) if not r.ok]
    assert failed.name == "failed-targets-say-why" and "no target reported failed" in failed.message


# --------------------------------------------------------------- confirmation and notifications
def _judge(expect: Expect, obs: Observations) -> dict[str, tuple[bool, str]]:
    return {r.name: (r.ok, r.message) for r in evaluate(expect, obs)}


def _robot(seq: int, title: str, accepted: bool = True) -> dict[str, object]:
    body = {"msgtype": "markdown", "markdown": {"title": title, "text": f"### {title}\n\nIncident `k`"}}
    return {"seq": seq, "kind": "robot", "target": "oncall", "accepted": accepted, "body": body}


def _hook(seq: int, kind: str, text: str, accepted: bool = True) -> dict[str, object]:
    return {"seq": seq, "kind": "webhook", "accepted": accepted, "body": {"text": text, "failover": {"kind": kind}}}


def test_the_primary_probe_is_allowed_and_counted_other_primary_calls_are_not() -> None:
    obs = _quiet()
    probe = {"seq": 1, "action": "DescribeDiskReplicaPairs", "regionId": "cn-hangzhou", "site": "production"}
    cms = {"seq": 2, "service": "cms", "action": "DescribeSystemEventAttribute", "regionId": "cn-hangzhou"}
    obs.ledger["requests"] = [probe, cms]
    found = _judge(Expect(max_primary_probes=1, max_api_calls=1), obs)
    assert found["no-call-against-the-primary-site"] == (True, "") and found["primary-probes"][0]
    assert found["api-calls"][0] and obs.api_calls() == 1 and obs.cms_calls() == 1  # CloudMonitor is not ebs
    backup_read = {"seq": 3, "action": "DescribeDiskReplicaPairs", "regionId": "cn-hangzhou", "site": "backup"}
    write = {"seq": 4, "action": "FailoverDiskReplicaPair", "regionId": "cn-hangzhou", "site": None}
    obs.ledger["requests"] += [probe, backup_read, write]
    found = _judge(Expect(max_primary_probes=1), obs)
    ok, message = found["no-call-against-the-primary-site"]
    assert not ok and "#3 DescribeDiskReplicaPairs" in message and "#4 FailoverDiskReplicaPair" in message
    assert found["primary-probes"] == (False, "2 probes of the primary")


def test_notification_checks_read_what_the_endpoints_accepted() -> None:
    obs = _quiet()
    obs.notify_channels = ["robot", "webhook"]
    obs.notifications = [
        _robot(1, "Failover held: cn-hangzhou"),
        _hook(2, "hold", "### Failover held: cn-hangzhou"),
        _robot(3, "Failing over cn-hangzhou"),
        _hook(4, "act", "### Failing over cn-hangzhou", accepted=False),
        _robot(5, "Failover completed"),
        _robot(6, "Failover refused: blast-radius"),
    ]
    wanted = NotificationsExpect(kinds={"hold": 1, "act": 1}, contains=["Failover held", "approve"], all_accepted=True)
    found = _judge(Expect(notifications=wanted), obs)
    assert found["notification-kinds"] == (False, "webhook received 0 act message(s), expected 1")
    assert found["notification-text"] == (False, "no message contains approve")
    assert found["notifications-accepted"] == (False, "#4 webhook: None")
    robot_only = NotificationsExpect(kinds={"hold": 1, "act": 1, "result": 1, "failure": 1}, endpoints=["robot"])
    assert _judge(Expect(notifications=robot_only), obs)["notification-kinds"] == (True, "")
    obs.notifications = []
    assert _judge(Expect(notifications=NotificationsExpect(all_accepted=False)), obs)["notifications-accepted"] == (
        False,
        "no message received",
    )


def test_a_leaked_secret_is_found_and_its_place_named_never_the_secret() -> None:
    obs = _quiet()
    obs.secrets = ["SECdeadbeefdeadbeef", "approval-secret-0123456789"]
    assert _judge(Expect(), obs)["no-secret-leaked"] == (True, "")
    obs.notifications = [_hook(7, "hold", "url https://x/robot/send?sign=SECdeadbeefdeadbeef")]
    obs.logs = '{"event": "ok"}\n{"event": "config", "secret": "approval-secret-0123456789"}\n'
    ok, message = _judge(Expect(), obs)["no-secret-leaked"]
    assert not ok and message == "a secret appears in function log line 2, notification #7 (webhook)"
    assert not any(s in message for s in obs.secrets)
    assert _judge(Expect(no_secret_leaked=False), obs).get("no-secret-leaked") is None


def test_result_fields_and_event_writes_name_the_event() -> None:
    obs = _quiet()
    obs.final_results = [{"status": "held", "confirmation": {"decision": {"act": False}}, "notifications": []}]
    obs.event_results = [("#0 first", obs.final_results[0], {"confirmation.decision.act": [False]})]
    obs.step_writes = [("first", 0, 0), ("approved", 4, 3)]
    found = _judge(Expect(result_fields={"confirmation.evidence.sources.probe.value": [True]}), obs)
    assert found["result-fields"] == (False, 'last result: confirmation.evidence.sources.probe.value was "absent"')
    assert found["event-writes"] == (False, "approved made 4 write call(s), at most 3 allowed")
    obs.final_results[0]["notifications"] = [{"channel": "webhook", "kind": "act", "ok": False, "error": "HTTP 503"}]
    assert _judge(Expect(result_notification_failures=1), obs)["result-notification-failures"][0]
    assert not _judge(Expect(result_notification_failures=2), obs)["result-notification-failures"][0]
