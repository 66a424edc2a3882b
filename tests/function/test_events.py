"""parse_event: real samples, decision rules, hostile input and properties."""

from __future__ import annotations

import base64
import json
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from replica_failover.config import Settings
from replica_failover.errors import EVENT_REASON_CODES, EventError
from replica_failover.incident import Incident
from replica_failover.intake import parse_alert_callback, parse_event

SAMPLES = Path(__file__).parent / "samples"
APIGW_ACCOUNT = "1273560756088235"
APIGW_RULE = "alarmRule_uuid_bf585f0992efef820bdab9920a57e178d8ae545f32f"
ECS_ACCOUNT = "169070********30"  # masked as in the docs


def make(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"primary_regions": ("cn-hangzhou", "cn-shenzhen"), "dr_region": "cn-shanghai"}
    values.update(overrides)
    return Settings(**values)


DEFAULT = make()
INFO = make(min_level="INFO")


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def form(name: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(sample(name).decode()))


def parse(
    raw: bytes | str | dict[str, Any], settings: Settings = DEFAULT, account: str | None = None
) -> Incident:
    return parse_event(raw, settings, account_id=account)


def rejected(raw: object, code: str, settings: Settings = DEFAULT, account: str | None = None) -> EventError:
    with pytest.raises(EventError) as info:
        parse_event(raw, settings, account_id=account)  # type: ignore[arg-type]
    assert info.value.reason_code == code, str(info.value)
    return info.value


# ------------------------------------------------------------------------------------------------
# real samples


def test_apigw_alert_form_encoded() -> None:
    inc = parse(sample("threshold_apigw_alert.txt"), INFO, APIGW_ACCOUNT)
    assert inc.source == "threshold" and inc.kind == "threshold"
    assert inc.disposition == "act"
    assert inc.primary_region == "cn-shenzhen" and inc.region_origin == "dimensions"
    assert inc.dr_region == "cn-shanghai"
    assert inc.level == "INFO" and inc.firing
    assert inc.account_id == APIGW_ACCOUNT
    assert inc.alarm == APIGW_RULE
    assert inc.notification_id == "db5f2204-00ae-11ee-a24f-00163e205386"
    assert inc.observed_at == pytest.approx(1685646149.981)  # 13-digit ms timestamp
    assert inc.requested_action == "failover"
    assert ("region", "cn-shenzhen") in inc.dimensions and ("apiStageName", "RELEASE") in inc.dimensions
    assert inc.incident_key.startswith("thr-") and len(inc.incident_key) == 36
    assert inc.pair_ids == () and inc.group_ids == ()


def test_apigw_alert_is_below_default_min_level() -> None:
    inc = parse(sample("threshold_apigw_alert.txt"))
    assert inc.disposition == "noop"
    assert "INFO is below FAILOVER_MIN_LEVEL CRITICAL" in inc.reason


def test_apigw_recovery_is_noop_with_same_key() -> None:
    alert = parse(sample("threshold_apigw_alert.txt"), INFO)
    ok = parse(sample("threshold_apigw_ok.txt"), INFO)
    assert ok.disposition == "noop" and not ok.firing
    assert "resolved" in ok.reason
    assert ok.level is None
    assert ok.incident_key == alert.incident_key
    assert ok.notification_id != alert.notification_id


def test_ecs_warn_sample_needs_region() -> None:
    inc = parse(sample("threshold_ecs_warn.txt"), make(min_level="WARN"))
    assert inc.disposition == "noop" and inc.firing and inc.level == "WARN"
    assert inc.primary_region is None
    assert inc.reason.startswith("cannot determine")
    assert inc.observed_at == 1508136760.0  # 10-digit seconds timestamp
    assert inc.dimensions == (("instanceId", "i-12****"), ("userId", "12****"))


def test_alarm_region_map_by_alert_name_then_rule_id() -> None:
    by_name = make(min_level="WARN", alarm_region_map=(("ECS_CPU_high", "cn-hangzhou"),))
    inc = parse(sample("threshold_ecs_warn.txt"), by_name)
    assert inc.disposition == "act"
    assert inc.primary_region == "cn-hangzhou" and inc.region_origin == "alarm-map"

    fields = form("threshold_ecs_warn.txt") | {"ruleId": "rule-1"}
    both = make(
        min_level="WARN", alarm_region_map=(("ECS_CPU_high", "cn-hangzhou"), ("rule-1", "cn-shenzhen"))
    )
    assert parse(urllib.parse.urlencode(fields), both).primary_region == "cn-shenzhen"


def test_alarm_map_wins_over_payload_region() -> None:
    mapped = make(min_level="INFO", alarm_region_map=((APIGW_RULE, "cn-hangzhou"),))
    inc = parse(sample("threshold_apigw_alert.txt"), mapped)
    assert inc.primary_region == "cn-hangzhou" and inc.region_origin == "alarm-map"


def test_legacy_doc_json_sample() -> None:
    mapped = make(alarm_region_map=(("cpu_high_legacy", "cn-hangzhou"),))
    inc = parse(sample("threshold_legacy_doc.json"), mapped)
    assert inc.firing  # alertState ALARM
    assert inc.level == "INFO"  # from the expression list, level 4
    assert inc.disposition == "noop" and "below" in inc.reason
    assert inc.dimensions == (("instanceId", "i-12345"), ("userId", "12345"))
    assert inc.notification_id is None
    assert inc.observed_at == 1508136760.0
    acting = make(min_level="INFO", alarm_region_map=(("cpu_high_legacy", "cn-hangzhou"),))
    assert parse(sample("threshold_legacy_doc.json"), acting).disposition == "act"


def test_system_event_sample() -> None:
    inc = parse(sample("system_event_ecs.json"), DEFAULT, ECS_ACCOUNT)
    assert inc.source == "system-event" and inc.kind == "system-event"
    assert inc.disposition == "act"
    assert inc.primary_region == "cn-hangzhou" and inc.region_origin == "field"
    assert inc.level == "CRITICAL" and inc.firing
    assert inc.account_id == ECS_ACCOUNT
    assert inc.alarm == "Instance:SystemMaintenance.Reboot:Scheduled"
    assert inc.notification_id == "2256A988-0B26-4E2B-820A-8A********E5"
    assert inc.observed_at == pytest.approx(1554783506.922)  # 20190409T121826.922+0800
    assert inc.incident_key.startswith("sys-")


def test_system_event_key_is_the_event_id() -> None:
    event = json.loads(sample("system_event_ecs.json"))
    executing = json.loads(json.dumps(event))
    executing["name"] = "Instance:SystemMaintenance.Reboot:Executing"
    executing["content"]["eventStatus"] = "Executing"
    executing["id"] = "another-delivery"
    assert parse(executing).incident_key == parse(event).incident_key
    other = json.loads(json.dumps(event))
    other["content"]["eventId"] = "e-other"
    assert parse(other).incident_key != parse(event).incident_key


def test_state_change_event_is_info() -> None:
    inc = parse(sample("system_event_state_change.json"))
    assert inc.level == "INFO" and inc.disposition == "noop" and "below" in inc.reason
    assert inc.alarm == "Instance:StateChange"
    assert parse(sample("system_event_state_change.json"), INFO).disposition == "act"


def test_dry_run_system_event_prefers_explicit_region_over_arn() -> None:
    inc = parse(sample("system_event_dry_run.json"))
    assert inc.primary_region == "cn-hangzhou" and inc.region_origin == "field"


def test_system_event_region_from_arn() -> None:
    event = json.loads(sample("system_event_ecs.json"))
    del event["regionId"]
    inc = parse(event)
    assert inc.primary_region == "cn-hangzhou" and inc.region_origin == "arn"


def test_canceled_system_event_is_noop() -> None:
    event = json.loads(sample("system_event_ecs.json"))
    event["name"] = "Instance:SystemMaintenance.Reboot:Canceled"
    event["content"]["eventStatus"] = "Canceled"
    inc = parse(event)
    assert inc.disposition == "noop" and not inc.firing and "Canceled" in inc.reason


def test_eventbridge_around_system_event() -> None:
    direct = parse(sample("system_event_ecs.json"))
    inc = parse(sample("eventbridge_system_event.json"), DEFAULT, ECS_ACCOUNT)
    assert inc.source == "eventbridge" and inc.kind == "system-event"
    assert inc.disposition == "act" and inc.primary_region == "cn-hangzhou"
    assert inc.notification_id == "d3598ce6-09d7-4264-9ba3-5b13c387****"
    assert inc.incident_key == direct.incident_key


def test_eventbridge_around_threshold_with_string_data() -> None:
    inc = parse(sample("eventbridge_threshold.json"), DEFAULT, APIGW_ACCOUNT)
    assert inc.source == "eventbridge" and inc.kind == "threshold"
    # the bus region (aliyunregionid cn-shanghai = DR) is only a last resort; dimensions win
    assert inc.disposition == "act" and inc.primary_region == "cn-shenzhen"
    assert inc.level == "CRITICAL"
    assert inc.notification_id == "7c1e4b2a-3f5d-4a6b-8c9d-0e1f2a3b****"
    assert inc.incident_key == parse(sample("threshold_apigw_alert.txt"), INFO).incident_key


def test_eventbridge_region_fallback_to_bus_region() -> None:
    envelope = json.loads(sample("eventbridge_threshold.json"))
    data = json.loads(envelope["data"])
    data["dimensions"] = "{userId=1273560756088235}"
    envelope["data"] = data
    envelope["aliyunregionid"] = "cn-hangzhou"
    inc = parse(envelope)
    assert inc.primary_region == "cn-hangzhou" and inc.region_origin == "envelope"


def test_mns_json_around_system_event() -> None:
    inc = parse(sample("mns_json_system_event.json"), DEFAULT, ECS_ACCOUNT)
    assert inc.source == "mns" and inc.kind == "system-event" and inc.disposition == "act"
    assert inc.notification_id == "6CC4D900CA59A2CD-1-15180534A8F-20000****"
    assert inc.incident_key == parse(sample("system_event_ecs.json")).incident_key


def test_mns_json_around_base64_threshold() -> None:
    inc = parse(sample("mns_json_threshold_base64.json"), DEFAULT, APIGW_ACCOUNT)
    assert inc.source == "mns" and inc.kind == "threshold"
    assert inc.disposition == "act" and inc.primary_region == "cn-shenzhen"
    assert inc.notification_id == "3405CA51807661353B3A0C1D2E3F****"


def test_mns_message_form_encoded_plain_text() -> None:
    note = json.loads(sample("mns_json_system_event.json"))
    note["Message"] = sample("threshold_apigw_alert.txt").decode()
    inc = parse(note, INFO)
    assert inc.source == "mns" and inc.kind == "threshold" and inc.disposition == "act"


def test_mns_stream_bodies() -> None:
    sys_inc = parse(sample("mns_stream_system_event.txt"))
    assert sys_inc.kind == "system-event" and sys_inc.disposition == "act"
    thr = parse(sample("mns_stream_threshold_base64.txt"))
    assert thr.kind == "threshold" and thr.disposition == "act" and thr.level == "CRITICAL"


def test_manual_plan_sample() -> None:
    inc = parse(sample("manual_plan.json"))
    assert inc.source == "manual" and inc.kind == "manual"
    assert inc.disposition == "plan" and inc.requested_action == "plan"
    assert inc.primary_region == "cn-hangzhou" and inc.region_origin == "manual"
    assert inc.pair_ids == ("pair-cn-0abc42", "pair-cn-7mn3a2zx7d901")  # sorted
    assert inc.group_ids == ()
    assert inc.operator_reason == "game day rehearsal"
    assert inc.incident_key.startswith("man-")
    assert inc.level is None and inc.firing


def test_manual_failover_sample() -> None:
    inc = parse(sample("manual_failover.json"))
    assert inc.disposition == "act" and inc.requested_action == "failover"
    assert inc.group_ids == ("pg-5c6d7e8f9a0b",)
    assert inc.incident_key == "INC-2026-0042"
    # min_level applies to alarms only, not to an operator's request
    assert make(min_level="CRITICAL").min_level == "CRITICAL"


# ------------------------------------------------------------------------------------------------
# rules


def threshold(**fields: str) -> dict[str, str]:
    base = {
        "alertName": "probe",
        "ruleId": "rule-probe",
        "alertState": "ALERT",
        "triggerLevel": "CRITICAL",
        "regionId": "cn-hangzhou",
        "userId": "1234567890123456",
        "metricProject": "acs_custom",
        "metricName": "probe_ok",
        "dimensions": '{"region": "cn-hangzhou"}',
        "transId": "t-1",
        "timestamp": "1700000000",
    }
    base.update(fields)
    return base


@pytest.mark.parametrize(
    ("min_level", "level", "acts"),
    [
        ("CRITICAL", "CRITICAL", True),
        ("CRITICAL", "WARN", False),
        ("CRITICAL", "INFO", False),
        ("WARN", "CRITICAL", True),
        ("WARN", "WARN", True),
        ("WARN", "INFO", False),
        ("INFO", "INFO", True),
        ("INFO", "OK", False),
    ],
)
def test_levels(min_level: str, level: str, acts: bool) -> None:
    inc = parse(threshold(triggerLevel=level), make(min_level=min_level))
    assert (inc.disposition == "act") is acts, inc.reason


def test_missing_level_never_acts() -> None:
    fields = threshold()
    del fields["triggerLevel"]
    inc = parse(fields, INFO)
    assert inc.disposition == "noop" and "level unknown" in inc.reason


@pytest.mark.parametrize("state", ["ALERT", "ALARM", "alert"])
def test_firing_states(state: str) -> None:
    assert parse(threshold(alertState=state)).disposition == "act"


def test_ok_and_insufficient_data() -> None:
    ok = parse(threshold(alertState="OK", triggerLevel="OK"))
    assert ok.disposition == "noop" and not ok.firing and "resolved" in ok.reason
    nodata = parse(threshold(alertState="INSUFFICIENT_DATA"))
    assert nodata.disposition == "noop" and not nodata.firing and "INSUFFICIENT_DATA" in nodata.reason
    odd = parse(threshold(alertState="PENDING"))
    assert odd.disposition == "noop" and "PENDING" in odd.reason


def test_unwatched_region() -> None:
    inc = parse(threshold(regionId="cn-beijing", dimensions="{}"))
    assert inc.disposition == "noop" and inc.primary_region == "cn-beijing"
    assert inc.reason == "region cn-beijing is not a watched primary region"


def test_dr_region_is_noop() -> None:
    inc = parse(threshold(regionId="cn-shanghai"))
    assert inc.disposition == "noop" and "DR region" in inc.reason


def test_kill_switch() -> None:
    inc = parse(threshold(), make(mode="plan-only"))
    assert inc.disposition == "plan" and "kill switch" in inc.reason
    assert inc.requested_action == "failover"
    manual = parse(sample("manual_failover.json"), make(mode="plan-only"))
    assert manual.disposition == "plan" and "kill switch" in manual.reason


def test_ambiguous_dimension_regions() -> None:
    dims = json.dumps([{"region": "cn-hangzhou"}, {"region": "cn-shenzhen"}])
    inc = parse(threshold(regionId="null", dimensions=dims))
    assert inc.disposition == "noop" and inc.primary_region is None and "several" in inc.reason


def test_null_strings_are_none() -> None:
    inc = parse(threshold(regionId="null", ruleId="null", transId="null", dimensions="null"), DEFAULT)
    assert inc.primary_region is None and inc.alarm == "probe" and inc.notification_id is None
    assert inc.dimensions == ()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1700000000", 1700000000.0),
        ("1700000000123", 1700000000.123),
        ("null", None),
        ("yesterday", None),
        ("-5", None),
        ("1e400", None),
    ],
)
def test_timestamps(raw: str, expected: float | None) -> None:
    got = parse(threshold(timestamp=raw)).observed_at
    assert got == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize(
    "dims",
    [
        '{"region": "cn-hangzhou", "instanceId": "i-1"}',
        '[{"region": "cn-hangzhou", "instanceId": "i-1"}]',
        "{region=cn-hangzhou, instanceId=i-1}",
        "{instanceId=i-1,region=cn-hangzhou}",
    ],
)
def test_dimension_formats_normalise_identically(dims: str) -> None:
    inc = parse(threshold(regionId="null", dimensions=dims))
    assert inc.dimensions == (("instanceId", "i-1"), ("region", "cn-hangzhou"))
    assert inc.region_origin == "dimensions"
    canonical = parse(threshold(regionId="null", dimensions='{"instanceId":"i-1","region":"cn-hangzhou"}'))
    assert inc.incident_key == canonical.incident_key


def test_json_body_with_native_types() -> None:
    body: dict[str, Any] = {
        **threshold(),
        "dimensions": {"regionId": "cn-hangzhou", "instanceId": "i-1"},
        "timestamp": 1700000000123,
        "userId": 1234567890123456,
    }
    inc = parse(json.dumps(body))
    assert inc.disposition == "act" and inc.account_id == "1234567890123456"
    assert inc.observed_at == pytest.approx(1700000000.123)


def test_java_map_value_with_comma() -> None:
    inc = parse(threshold(dimensions="{tags=a,b, region=cn-hangzhou}"))
    assert ("tags", "a,b") in inc.dimensions


def test_account_mismatch() -> None:
    rejected(threshold(), "account-mismatch", account="9999999999999999")
    assert parse(threshold(), account="1234567890123456").account_id == "1234567890123456"
    # the function's account is reported when the event does not name one
    fields = threshold()
    del fields["userId"]
    assert parse(fields, account="9999").account_id == "9999"
    rejected(sample("system_event_ecs.json"), "account-mismatch", account="1111111111111111")
    rejected(sample("eventbridge_threshold.json"), "account-mismatch", account="1111111111111111")
    envelope = json.loads(sample("eventbridge_system_event.json"))
    envelope["aliyunaccountid"] = "2222222222222222"  # envelope and payload disagree
    rejected(envelope, "account-mismatch")
    arn_other = json.loads(sample("system_event_ecs.json"))
    arn_other["resourceId"] = "acs:ecs:cn-hangzhou:3333333333333333:instance/i-1"
    rejected(arn_other, "account-mismatch")
    manual = {"action": "plan", "primaryRegion": "cn-hangzhou", "reason": "x", "accountId": "1"}
    rejected(manual, "account-mismatch", account="2")


def test_manual_failover_requires_region() -> None:
    err = rejected({"action": "failover", "reason": "outage"}, "invalid-field")
    assert "primaryRegion" in str(err)
    plan = parse({"action": "plan", "reason": "what if"})
    assert plan.disposition == "noop" and plan.primary_region is None


def test_manual_rules() -> None:
    base = {"action": "failover", "primaryRegion": "cn-hangzhou", "reason": "outage"}
    rejected({**base, "pairIds": ["d-123"]}, "invalid-field")
    rejected({**base, "groupIds": ["pg-OK;DROP"]}, "invalid-field")
    rejected({**base, "pairIDs": ["pair-cn-1"]}, "invalid-field")  # typo must not widen the scope
    rejected({**base, "pairIds": "pair-cn-1"}, "invalid-field")
    rejected({**base, "pairIds": [f"pair-cn-{i}" for i in range(101)]}, "invalid-field")
    rejected({**base, "primaryRegion": "cn-hangzhou\n"}, "invalid-field")
    rejected({**base, "reason": ""}, "invalid-field")
    rejected({**base, "reason": "a\nINFO forged log line"}, "invalid-field")
    rejected({**base, "incidentId": "../../etc"}, "invalid-field")
    rejected({**base, "action": "delete"}, "invalid-field")
    assert parse({**base, "primaryRegion": "cn-beijing"}).disposition == "noop"
    assert parse({**base, "primaryRegion": "cn-shanghai"}).disposition == "noop"
    a = parse({**base, "pairIds": ["pair-cn-b", "pair-cn-a"], "groupIds": ["pg-1"]})
    b = parse(
        {**base, "action": "plan", "pairIds": ["pair-cn-a", "pair-cn-b", "pair-cn-a"], "groupIds": ["pg-1"]}
    )
    assert a.incident_key == b.incident_key and a.pair_ids == ("pair-cn-a", "pair-cn-b")
    assert parse(base).incident_key != a.incident_key


def test_envelopes_only_wrap_alarms() -> None:
    envelope = json.loads(sample("eventbridge_system_event.json"))
    envelope["data"] = json.loads(sample("manual_failover.json"))
    rejected(envelope, "unknown-shape")
    note = json.loads(sample("mns_json_system_event.json"))
    note["Message"] = sample("manual_failover.json").decode()
    rejected(note, "unknown-shape")
    note["Message"] = json.dumps(json.loads(sample("mns_json_system_event.json")))  # MNS in MNS
    rejected(note, "unknown-shape")
    envelope["data"] = 42
    rejected(envelope, "unknown-shape")
    envelope["data"] = sample("system_event_ecs.json").decode()
    envelope["specversion"] = "0.3"
    rejected(envelope, "invalid-field")


def test_str_bytes_and_mapping_agree() -> None:
    raw = sample("system_event_ecs.json")
    assert parse(raw) == parse(raw.decode()) == parse(json.loads(raw))


def test_for_rejection_incident() -> None:
    err = rejected(b"{", "malformed-json")
    inc = Incident.for_rejection(err, dr_region="cn-shanghai")
    assert inc.disposition == "reject" and inc.incident_key.startswith("rej-")
    assert "malformed-json" in inc.reason


# ------------------------------------------------------------------------------------------------
# hostile input


def test_too_large_is_checked_before_parsing() -> None:
    small = make(max_event_bytes=1024)
    # invalid UTF-8 *and* too big: the size check must come first
    rejected(b"\xff" * 2000, "too-large", small)
    rejected("{" + " " * 2000 + "}", "too-large", small)
    rejected("é" * 600, "too-large", small)  # 600 chars, 1200 bytes
    rejected({"alertState": "ALERT", "alertName": "x" * 2000}, "too-large", small)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", "malformed-json"),
        (b"   ", "malformed-json"),
        (b"{", "malformed-json"),
        (b'{"a": NaN}', "malformed-json"),
        (b'{"a": 1} trailing', "malformed-json"),
        (b"just words", "malformed-json"),
        (b"\xff\xfe{}", "bad-encoding"),
        ("{\"a\": \"\ud800\"}", "bad-encoding"),
        (b"alertName=%FF", "bad-encoding"),
        (b"[1, 2]", "unknown-shape"),
        (b'"a string"', "unknown-shape"),
        (b"42", "unknown-shape"),
        (b"null", "unknown-shape"),
        (b"{}", "unknown-shape"),
        (b'{"hello": "world"}', "unknown-shape"),
        (b"hello=world", "unknown-shape"),
        (b"[" * 100_000 + b"]" * 100_000, "too-deep"),
        (b"[" * 200_000 + b"]" * 200_000, "too-large"),
        (b"[" * 5_000 + b"]" * 5_000, "too-deep"),
        (b'{"a":' * 40 + b"1" + b"}" * 40, "too-deep"),
        (b"alertState=ALERT&alertState=OK", "invalid-field"),
        (b"&".join(b"k%d=v" % i for i in range(300)), "too-large"),
        (b"AAAAAAAA", "malformed-json"),
        (base64.b64encode(base64.b64encode(base64.b64encode(base64.b64encode(b'{"a":1}')))), "too-deep"),
    ],
    ids=lambda value: repr(value)[:40] if isinstance(value, bytes | str) else None,
)
def test_hostile_bytes(raw: bytes | str, code: str) -> None:
    rejected(raw, code)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"regionId": "cn-hangzhou;rm -rf /"}, "invalid-field"),
        ({"regionId": "CN-HANGZHOU"}, "invalid-field"),
        ({"alertName": "x" * 5000}, "invalid-field"),
        ({"alertName": "evil\nINFO fake log line"}, "invalid-field"),
        ({"alertState": "ALERT; DROP"}, "invalid-field"),
        ({"triggerLevel": "C" * 100}, "invalid-field"),
        ({"userId": "../../admin"}, "invalid-field"),
        ({"dimensions": "not dims"}, "invalid-field"),
        ({"dimensions": "{no-equals-here}"}, "invalid-field"),
        ({"dimensions": '["x"]'}, "invalid-field"),
        ({"dimensions": "{k=v\u0000}"}, "invalid-field"),
        ({"dimensions": json.dumps({f"k{i}": "v" for i in range(65)})}, "invalid-field"),
        ({"dimensions": "[" * 40 + "]" * 40}, "too-deep"),
    ],
)
def test_hostile_threshold_fields(fields: dict[str, str], code: str) -> None:
    rejected(threshold(**fields), code)


def test_hostile_json_types() -> None:
    base: dict[str, Any] = dict(threshold())
    rejected({**base, "alertName": ["a"]}, "invalid-field")
    rejected({**base, "alertState": {"x": 1}}, "invalid-field")
    rejected({**base, "alertState": True}, "invalid-field")
    rejected({**base, "dimensions": [1, 2]}, "invalid-field")
    system: dict[str, Any] = {"product": "ECS", "name": "x", "level": "CRITICAL"}
    rejected(json.dumps({**system, "content": "str"}), "invalid-field")
    rejected(json.dumps({**system, "content": {"eventId": ["e"]}}), "invalid-field")
    rejected({**system, "resourceId": "acs:ecs:cn-hangzhou:evil-acct:instance/i"}, "invalid-field")
    rejected({1: "x"}, "invalid-field")
    rejected({"alertState": object()}, "invalid-field")
    rejected({"alertState": float("nan")}, "invalid-field")
    rejected(12345, "unknown-shape")
    rejected({"TopicOwner": "1", "MessageId": "m", "Message": {"not": "a string"}}, "invalid-field")
    envelope = {"specversion": "1.0", "id": "i", "source": "s", "type": "t"}
    rejected(envelope, "unknown-shape")  # no data
    data = json.loads(sample("system_event_ecs.json"))
    rejected({**envelope, "data": data, "aliyunregionid": "x;y"}, "invalid-field")


def test_threshold_missing_alert_state() -> None:
    rejected({"alertName": "x", "ruleId": "r"}, "invalid-field")


# ------------------------------------------------------------------------------------------------
# properties

finite = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.none() | st.booleans() | st.integers() | finite | st.text(max_size=30)
json_values = st.recursive(
    scalars,
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=12), kids, max_size=5),
    max_leaves=30,
)
THRESHOLD_KEYS = [
    "alertState", "triggerLevel", "alertName", "ruleId", "userId", "regionId", "dimensions", "timestamp",
    "transId", "expression", "metricName", "product", "name", "level", "resourceId", "content", "action",
    "primaryRegion", "reason", "specversion", "id", "data", "Message", "MessageId",
]


def outcome(raw: object, settings: Settings = DEFAULT) -> Incident | EventError:
    try:
        return parse_event(raw, settings, account_id=None)  # type: ignore[arg-type]
    except EventError as exc:
        assert exc.reason_code in EVENT_REASON_CODES
        return exc


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_arbitrary_bytes(raw: bytes) -> None:
    result = outcome(raw)
    assert not (isinstance(result, Incident) and result.disposition == "act")


@hsettings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json(value: object) -> None:
    for raw in (json.dumps(value), value if isinstance(value, dict) else json.dumps(value).encode()):
        result = outcome(raw)
        assert not (isinstance(result, Incident) and result.disposition == "act")


@hsettings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(THRESHOLD_KEYS), json_values, max_size=10))
def test_shape_keys_with_garbage_values_only_raise_event_error(value: dict[str, Any]) -> None:
    outcome(value)
    outcome(json.dumps(value))
    outcome(urllib.parse.urlencode({k: str(v) for k, v in value.items()}))


PLAUSIBLE = [
    "ALERT", "ALARM", "OK", "INSUFFICIENT_DATA", "CRITICAL", "WARN", "INFO", "null", "",
    "cn-hangzhou", "cn-shanghai", "cn-beijing", "acs:ecs:cn-hangzhou:1:instance/i", "acs:ecs::",
    "acs:x:cn-hangzhou:abc:r", "{region=cn-hangzhou}", "{region=cn-hangzhou, region=cn-shenzhen}",
    "[{}]", "[1]", "{", "{a}", "1700000000", "1700000000000", "20190409T121826.922+0800",
    "2019-04-09T04:18:26Z", "1.0", "plan", "failover", "pair-cn-1", "pg-1", "eyJhIjoxfQ==",
    "1234567890123456",
]
EXTRA_KEYS = [
    "pairIds", "groupIds", "aliyunregionid", "subject", "TopicOwner", "eventTime", "incidentId", "accountId",
]
plausible = st.sampled_from(PLAUSIBLE)
field_values = (
    plausible | scalars | st.lists(plausible, max_size=3) | st.dictionaries(plausible, plausible, max_size=3)
)


@hsettings(max_examples=500, deadline=None)
@given(st.dictionaries(st.sampled_from([*THRESHOLD_KEYS, *EXTRA_KEYS]), field_values, max_size=12))
def test_plausible_fields_only_raise_event_error(value: dict[str, Any]) -> None:
    for settings in (DEFAULT, INFO, make(mode="plan-only")):
        result = outcome(value, settings)
        if isinstance(result, Incident):
            assert result.dr_region == "cn-shanghai"
            assert result.primary_region is None or result.primary_region in {
                "cn-hangzhou", "cn-shanghai", "cn-beijing", "cn-shenzhen"
            }
            if settings.mode == "plan-only":
                assert result.disposition != "act"


@hsettings(max_examples=200, deadline=None)
@given(
    trans=st.uuids(),
    timestamp=st.integers(min_value=1_500_000_000, max_value=1_900_000_000),
    millis=st.booleans(),
    state=st.sampled_from(["ALERT", "ALARM", "OK"]),
    level=st.sampled_from(["CRITICAL", "WARN", "INFO", "OK"]),
    dim_order=st.booleans(),
)
def test_incident_key_stable_across_renotifications(
    *,
    trans: Any, timestamp: int, millis: bool, state: str, level: str, dim_order: bool
) -> None:
    first = parse(threshold())
    dims = "{region=cn-hangzhou}" if dim_order else '{"region":"cn-hangzhou"}'
    again = parse(
        threshold(
            transId=str(trans),
            timestamp=str(timestamp * 1000 if millis else timestamp),
            alertState=state,
            triggerLevel=level,
            dimensions=dims,
        )
    )
    assert again.incident_key == first.incident_key


@hsettings(max_examples=100, deadline=None)
@given(rule=st.text(alphabet="abcdefghij-_0123456789", min_size=1, max_size=30))
def test_incident_key_differs_across_rules_and_regions(rule: Any) -> None:
    base = parse(threshold(ruleId="rule-probe"))
    other_rule = parse(threshold(ruleId="x" + rule))
    other_region = parse(threshold(regionId="cn-shenzhen", dimensions='{"region": "cn-shenzhen"}'))
    keys = {base.incident_key, other_rule.incident_key, other_region.incident_key}
    assert len(keys) == 3


# ------------------------------------------------------------------------------------------------
# native EventBridge events (events/ samples) and cms:CloudMonitor:AlertWebHook

EVENTS = Path(__file__).resolve().parents[2] / "events"
EVENTS_ACCOUNT = "1234567890123456"


def event_file(name: str) -> bytes:
    return (EVENTS / name).read_bytes()


def native(**data_changes: Any) -> dict[str, Any]:
    envelope: dict[str, Any] = json.loads(event_file("eventbridge-ecs-native.json"))
    for key, value in data_changes.items():
        if value is None:
            envelope["data"].pop(key, None)
        else:
            envelope["data"][key] = value
    return envelope


def test_native_ecs_event_sample() -> None:
    inc = parse(event_file("eventbridge-ecs-native.json"), DEFAULT, EVENTS_ACCOUNT)
    assert inc.source == "eventbridge" and inc.kind == "system-event"
    assert inc.disposition == "act" and inc.firing and inc.level == "CRITICAL"
    assert inc.primary_region == "cn-hangzhou" and inc.region_origin == "field"
    assert inc.alarm == "Instance:SystemFailure.Reboot:Executing"
    assert inc.account_id == EVENTS_ACCOUNT
    assert inc.notification_id == "5d2c9a41-6e0b-4f3a-9c8d-7b1e2f3a4c5d"
    assert inc.observed_at == pytest.approx(1795440615.0)  # envelope time 2026-11-23T21:30:15+08:00
    # the same ECS event delivered by CloudMonitor (same eventId) is the same incident
    assert inc.incident_key == parse(event_file("system-event.json")).incident_key
    assert inc.incident_key == parse(event_file("eventbridge.json")).incident_key


def test_native_event_level_field_variants() -> None:
    assert parse(native(level=None, eventLevel="CRITICAL")).disposition == "act"
    assert parse(native(level="critical")).level == "CRITICAL"
    warn = parse(native(level="WARN"))
    assert warn.disposition == "noop" and "WARN is below FAILOVER_MIN_LEVEL CRITICAL" in warn.reason
    assert parse(native(level="WARN"), make(min_level="WARN")).disposition == "act"
    # no level anywhere: nothing is guessed, so nothing is done
    unknown = parse(native(level=None))
    assert unknown.disposition == "noop" and not unknown.firing and "(missing)" in unknown.reason


def test_native_event_status_and_content_variants() -> None:
    avoided = parse(native(eventStatus="Avoided"))
    assert avoided.disposition == "noop" and not avoided.firing and "Avoided" in avoided.reason
    assert avoided.alarm == "Instance:SystemFailure.Reboot:Avoided"
    no_status = parse(native(eventStatus=None))
    assert no_status.alarm == "Instance:SystemFailure.Reboot" and no_status.disposition == "act"
    # the content nested under data.content, the level beside it
    envelope = native()
    data = envelope["data"]
    envelope["data"] = {"level": "CRITICAL", "content": {k: v for k, v in data.items() if k != "level"}}
    nested = parse(envelope)
    assert nested.disposition == "act" and nested.incident_key == parse(native()).incident_key
    # data as a JSON string
    as_string = native()
    as_string["data"] = json.dumps(as_string["data"])
    assert parse(as_string) == parse(native())


def test_native_event_region_sources() -> None:
    # a bare instance id as resourceId and no regionId: the envelope's subject ARN names the region
    inc = parse(native(regionId=None, resourceId="i-bp1d4c7e2f9a0b3c5d6e"))
    assert inc.primary_region == "cn-hangzhou" and inc.region_origin == "arn"
    no_arn = native(regionId=None, resourceId=None)
    del no_arn["subject"]
    bus = parse(no_arn)
    assert bus.primary_region == "cn-hangzhou" and bus.region_origin == "envelope"
    other = parse(native(regionId="cn-beijing"))
    assert other.disposition == "noop" and "not a watched primary region" in other.reason
    dr = native()
    dr["data"]["regionId"] = "cn-shanghai"
    assert "DR region" in parse(dr).reason


def test_native_event_account_and_field_checks() -> None:
    rejected(event_file("eventbridge-ecs-native.json"), "account-mismatch", account="9999999999999999")
    rejected(native(resourceId="acs:ecs:cn-hangzhou:2222222222222222:instance/i-1"), "account-mismatch")
    rejected(native(regionId="cn-hangzhou;x"), "invalid-field")
    rejected(native(level=["CRITICAL"]), "invalid-field")
    rejected(native(eventId=["e-1"]), "invalid-field")
    rejected(native(eventStatus="Exec\nuting"), "invalid-field")


@pytest.mark.parametrize("event_type", ["ecs:ActionTrail:ApiCall", "ecs:Config:ConfigurationItemChangeNotification"])
def test_audit_event_types_are_refused(event_type: str) -> None:
    envelope = native()
    envelope["type"] = event_type
    err = rejected(envelope, "unknown-shape")
    assert "audit record" in str(err)


def test_native_event_that_is_not_an_alarm_inside() -> None:
    envelope = native()
    envelope["data"] = json.loads(event_file("manual-failover.json"))
    rejected(envelope, "unknown-shape")  # manual events never travel inside an envelope
    envelope["data"] = 7
    rejected(envelope, "unknown-shape")


def test_alert_webhook_event_sample() -> None:
    inc = parse(event_file("eventbridge-alert-webhook.json"), DEFAULT, EVENTS_ACCOUNT)
    assert inc.source == "eventbridge" and inc.kind == "threshold"
    assert inc.disposition == "act" and inc.level == "CRITICAL"
    # dimensions name the region; the bus region (cn-shanghai, the DR region) is only a last resort
    assert inc.primary_region == "cn-hangzhou" and inc.region_origin == "dimensions"
    assert inc.notification_id == "8e4f2a17-3b5c-4d6e-9f01-a2b3c4d5e6f7"
    assert inc.incident_key == parse(event_file("threshold-alert.json")).incident_key
    assert inc.incident_key == parse(event_file("threshold-alert.form.txt")).incident_key


def test_alert_webhook_event_data_forms() -> None:
    envelope = json.loads(event_file("eventbridge-alert-webhook.json"))
    envelope["data"] = event_file("threshold-alert.form.txt").decode()
    assert parse(envelope).disposition == "act"
    envelope["data"] = json.loads(event_file("alert-ok.json"))
    ok = parse(envelope)
    assert ok.disposition == "noop" and not ok.firing
    envelope["data"] = {"hello": "world"}
    err = rejected(envelope, "unknown-shape")
    assert "cms:CloudMonitor:AlertWebHook" in str(err)
    envelope["data"] = {k: v for k, v in json.loads(event_file("threshold-alert.json")).items() if k != "alertState"}
    rejected(envelope, "invalid-field")
    rejected(event_file("eventbridge-alert-webhook.json"), "account-mismatch", account="1111111111111111")


# ------------------------------------------------------------------------------------------------
# repeated keys and depth, whatever the Python version


@pytest.mark.parametrize(
    "raw",
    [
        b'{"alertState": "OK", "alertName": "x", "alertState": "ALERT"}',
        b'{"specversion": "1.0", "id": "i", "source": "s", "type": "t", "data": {"product": "ECS", "name": "n",'
        b' "level": "CRITICAL", "level": "INFO"}}',
        json.dumps({"alertState": "ALERT", "dimensions": '{"region": "a", "region": "b"}'}).encode(),
        json.dumps({"Message": '{"alertState": "OK", "alertState": "ALERT"}', "MessageId": "m"}).encode(),
    ],
    ids=["top level", "inside EventBridge data", "inside dimensions", "inside an MNS message"],
)
def test_repeated_json_keys_are_rejected(raw: bytes) -> None:
    err = rejected(raw, "invalid-field")
    assert "appears more than once" in str(err)


def test_depth_is_measured_before_json_recurses() -> None:
    rejected(b"[" * 30_000 + b"]" * 30_000, "too-deep")
    rejected(b'{"a":' * 30_000 + b"1" + b"}" * 30_000, "too-deep", make(max_event_bytes=1 << 20))
    # brackets inside strings, escaped quotes included, are text, not nesting
    name = '\\"' + "[" * 40 + "{" * 40
    inc = parse(('{"alertState": "ALERT", "alertName": "' + name + '", "regionId": "cn-hangzhou"}').encode())
    assert inc.kind == "threshold" and inc.alarm == '"' + "[" * 40 + "{" * 40


# ------------------------------------------------------------------------------------------------
# the webhook's intake agrees with the function's parser


def test_alert_callback_accepts_the_threshold_samples_only() -> None:
    form_type = "application/x-www-form-urlencoded"
    as_form = parse_alert_callback(event_file("threshold-alert.form.txt"), form_type, limit=65536)
    as_json = parse_alert_callback(event_file("threshold-alert.json"), "application/json", limit=65536)
    assert as_form == as_json == json.loads(event_file("threshold-alert.json"))
    for name in ("system-event.json", "eventbridge.json", "eventbridge-ecs-native.json",
                 "eventbridge-alert-webhook.json", "mns-topic.json", "manual-plan.json", "manual-failover.json"):
        with pytest.raises(EventError) as info:
            parse_alert_callback(event_file(name), "application/json", limit=65536)
        assert info.value.reason_code == "unknown-shape", name


@hsettings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from([*THRESHOLD_KEYS, *EXTRA_KEYS]), field_values, max_size=12))
def test_what_the_webhook_accepts_the_function_parses_as_an_alarm(value: dict[str, Any]) -> None:
    raw = json.dumps(value).encode()
    try:
        accepted = parse_alert_callback(raw, "application/json", limit=65536)
    except EventError as exc:
        assert exc.reason_code in EVENT_REASON_CODES
        return
    try:
        inc = parse_event(json.dumps(accepted), DEFAULT, account_id=None)
    except EventError as exc:  # only the account check needs the function's context
        assert exc.reason_code == "account-mismatch", exc
        return
    assert inc.kind == "threshold" and inc.source == "threshold"
