"""CloudMonitor's evidence APIs through the real legacy SDK (CommonRequest, product Cms, 2019-01-01),
and the primary-region probe under a region-outage fault rule."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest

from chaos.emulator.app import Emulator
from chaos.emulator.cms.models import DatapointSeed, SystemEventSeed
from chaos.emulator.config import DEFAULT_ACCESS_KEY_ID, RateLimit
from chaos.emulator.faults import FaultError, FaultRule
from tests.conftest import DR, PRIMARY, EbsCall, seed_basic

CmsCall = Callable[..., dict[str, Any]]

EVENT_FIELDS = {
    "Id",
    "Time",
    "Product",
    "Name",
    "Level",
    "Status",
    "RegionId",
    "ResourceId",
    "InstanceName",
    "GroupId",
    "Content",
}


def cms_call(client: AcsClient, endpoint: str, action: str, **params: Any) -> dict[str, Any]:
    request = CommonRequest(domain=endpoint, version="2019-01-01", action_name=action, product="Cms")
    request.set_method("POST")
    for key, value in params.items():
        request.add_query_param(key, value if isinstance(value, str) else json.dumps(value))
    return dict(json.loads(client.do_action_with_exception(request)))


@pytest.fixture
def cms(legacy_client: AcsClient, endpoint: str) -> CmsCall:
    def call(action: str, **params: Any) -> dict[str, Any]:
        return cms_call(legacy_client, endpoint, action, **params)

    return call


def now_ms(emulator: Emulator) -> int:
    return int(emulator.clock.now() * 1000)


def events(body: dict[str, Any]) -> list[dict[str, Any]]:
    assert body["Code"] == "200" and body["Success"] == "true"
    return list(body["SystemEvents"]["SystemEvent"])


def server_error(excinfo: pytest.ExceptionInfo[ServerException]) -> tuple[int, str]:
    return excinfo.value.get_http_status(), excinfo.value.get_error_code()


# ------------------------------------------------------------------ system events
def test_system_events_last_minutes_follow_the_emulator_clock(emulator: Emulator, cms: CmsCall) -> None:
    emulator.clock.freeze(True)
    content = {"eventId": "e-1", "eventStatus": "Executing", "regionId": PRIMARY}
    emulator.cms.add_events(
        [
            SystemEventSeed(Product="ECS", Name="Instance:SystemFailure.Reboot:Executing", offset_seconds=-1800),
            SystemEventSeed(
                Product="ECS",
                Name="Instance:SystemFailure.Reboot:Executing",
                offset_seconds=-120,
                RegionId=PRIMARY,
                ResourceId=f"acs:ecs:{PRIMARY}:1234567890123456:instance/i-1",
                InstanceName="db-1",
                Content=content,
            ),
            SystemEventSeed(Product="ECS", Name="Disk:Stalled:Executing", offset_seconds=300, RegionId=PRIMARY),
        ]
    )
    window = 10 * 60 * 1000
    found = events(cms("DescribeSystemEventAttribute", Product="ECS", StartTime=str(now_ms(emulator) - window)))
    assert [e["Name"] for e in found] == ["Instance:SystemFailure.Reboot:Executing"]
    event = found[0]
    assert set(event) == EVENT_FIELDS
    assert event["RegionId"] == PRIMARY and event["InstanceName"] == "db-1" and event["Level"] == "CRITICAL"
    assert event["ResourceId"].endswith("instance/i-1")
    assert isinstance(event["Content"], str) and json.loads(event["Content"]) == content
    assert event["Time"] == now_ms(emulator) - 120_000

    emulator.advance(400)  # the scheduled event happens; the window moves with the clock
    found = events(cms("DescribeSystemEventAttribute", Product="ECS", StartTime=str(now_ms(emulator) - window)))
    assert [e["Name"] for e in found] == ["Disk:Stalled:Executing", "Instance:SystemFailure.Reboot:Executing"]
    # no window: everything that has happened, newest first; EndTime excludes the newest
    everything = events(cms("DescribeSystemEventAttribute", PageSize=100))
    assert len(everything) == 3 and everything[-1]["Time"] < everything[0]["Time"]
    before = events(cms("DescribeSystemEventAttribute", EndTime=str(now_ms(emulator) - 200_000)))
    assert [e["Name"] for e in before] == ["Instance:SystemFailure.Reboot:Executing"] * 2


def test_system_event_filters_keywords_and_pages(emulator: Emulator, cms: CmsCall) -> None:
    emulator.clock.freeze(True)
    emulator.cms.add_events(
        [
            SystemEventSeed(Product="ECS", Name=f"n{i}", Level=level, Status=status, Content=text, offset_seconds=-i)
            for i, (level, status, text) in enumerate(
                [
                    ("CRITICAL", "Executing", "region outage disk io hang"),
                    ("WARN", "Executed", "disk io slow"),
                    ("INFO", "Executing", "maintenance window"),
                    ("CRITICAL", "Executed", "network outage"),
                ]
            )
        ]
    )

    def call(**p: Any) -> list[str]:
        return [e["Name"] for e in events(cms("DescribeSystemEventAttribute", **p))]

    assert call(Level="CRITICAL") == ["n0", "n3"]
    assert call(Status="Executing") == ["n0", "n2"]
    assert call(Product="ecs", Name="n1") == ["n1"]
    assert call(Product="RDS") == []
    assert call(SearchKeywords="disk and outage") == ["n0"]
    assert call(SearchKeywords="maintenance or network") == ["n2", "n3"]
    assert call(PageSize=3) == ["n0", "n1", "n2"]
    assert call(PageSize=3, PageNumber=2) == ["n3"]
    assert call(PageSize=3, PageNumber=3) == []


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"Level": "FATAL"}, 400, "ParameterInvalid"),
        ({"PageSize": "101"}, 400, "ParameterInvalid"),
        ({"PageNumber": "0"}, 400, "ParameterInvalid"),
        ({"StartTime": "yesterday"}, 400, "ParameterInvalid"),
        ({"StartTime": "2000", "EndTime": "1000"}, 400, "ParameterInvalid"),
    ],
)
def test_bad_event_parameters_answer_parameter_invalid(
    cms: CmsCall, params: dict[str, str], status: int, code: str
) -> None:
    with pytest.raises(ServerException) as excinfo:
        cms("DescribeSystemEventAttribute", **params)
    assert server_error(excinfo) == (status, code)
    assert "Illegal parameters" in excinfo.value.get_error_msg()


# -------------------------------------------------------------------- metrics
def test_metric_last_answers_the_newest_point_per_instance_as_a_json_string(emulator: Emulator, cms: CmsCall) -> None:
    emulator.clock.freeze(True)
    probe = {"Namespace": "acs_networkmonitor", "MetricName": "Availability"}
    emulator.cms.add_datapoints(
        [
            DatapointSeed(**probe, dimensions={"taskId": "t-primary"}, values={"Average": 100}, offset_seconds=-7200),
            DatapointSeed(**probe, dimensions={"taskId": "t-primary"}, values={"Average": 40}, offset_seconds=-120),
            DatapointSeed(**probe, dimensions={"taskId": "t-primary"}, values={"Average": 0}, offset_seconds=-60),
            DatapointSeed(**probe, dimensions={"taskId": "t-dr"}, values={"Average": 100}, offset_seconds=-60),
            DatapointSeed(**probe, dimensions={"taskId": "t-primary"}, values={"Average": 100}, offset_seconds=120),
            DatapointSeed(Namespace="acs_ecs_dashboard", MetricName="CPUUtilization", values={"Average": 5}),
        ]
    )
    body = cms("DescribeMetricLast", **probe)
    assert body["Code"] == "200" and body["Success"] is True and body["Period"] == "60"
    assert isinstance(body["Datapoints"], str)
    points = json.loads(body["Datapoints"])
    t = now_ms(emulator) - 60_000
    assert points == [
        {"timestamp": t, "taskId": "t-dr", "Average": 100},
        {"timestamp": t, "taskId": "t-primary", "Average": 0},
    ]
    only = json.loads(cms("DescribeMetricLast", **probe, Dimensions=[{"taskId": "t-primary"}])["Datapoints"])
    assert [p["Average"] for p in only] == [0]

    emulator.advance(180)  # the future point has happened; the old ones are past the hour for neither
    only = json.loads(cms("DescribeMetricLast", **probe, Dimensions={"taskId": "t-primary"})["Datapoints"])
    assert [p["Average"] for p in only] == [100]
    emulator.advance(3600)
    assert json.loads(cms("DescribeMetricLast", **probe)["Datapoints"]) == []


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"MetricName": "Availability"}, "MissingParameter"),
        ({"Namespace": "acs_networkmonitor"}, "MissingParameter"),
        ({"Namespace": "n", "MetricName": "m", "Dimensions": "{not json"}, "ParameterInvalid"),
        ({"Namespace": "n", "MetricName": "m", "Dimensions": "[1, 2]"}, "ParameterInvalid"),
        ({"Namespace": "n", "MetricName": "m", "Period": "7"}, "ParameterInvalid"),
        ({"Namespace": "n", "MetricName": "m", "Length": "5000"}, "ParameterInvalid"),
        ({"Namespace": "n", "MetricName": "m", "EndTime": "2019-02-30 10:00"}, "ParameterInvalid"),
    ],
)
def test_bad_metric_parameters(cms: CmsCall, emulator: Emulator, params: dict[str, str], code: str) -> None:
    with pytest.raises(ServerException) as excinfo:
        cms("DescribeMetricLast", **params)
    assert server_error(excinfo) == (400, code)
    entry = emulator.ledger.snapshot()["requests"][-1]
    assert entry["service"] == "cms" and entry["code"] == code and entry["status"] == 400


def test_metric_window_accepts_dates(emulator: Emulator, cms: CmsCall) -> None:
    emulator.cms.add_datapoints(
        [DatapointSeed(Namespace="n", MetricName="m", values={"Maximum": 3}, Time=1_548_928_800_000)]
    )  # 2019-01-31 10:00:00 UTC
    body = cms("DescribeMetricLast", Namespace="n", MetricName="m", StartTime="2019-01-31 09:55:00",
               EndTime="2019-01-31 10:05:00")  # fmt: skip
    assert json.loads(body["Datapoints"]) == [{"timestamp": 1_548_928_800_000, "Maximum": 3}]


# ------------------------------------------------------- auth, throttling, faults
def test_throttling_fault_then_recovery(emulator: Emulator, cms: CmsCall) -> None:
    emulator.faults.set(
        [
            FaultRule(
                service="cms",
                action="DescribeMetricLast",
                count=1,
                error=FaultError(
                    status=400, code="Throttling.User", message="Request was denied due to user flow control."
                ),
            )
        ],
        emulator.clock.now(),
        0,
    )
    with pytest.raises(ServerException) as excinfo:
        cms("DescribeMetricLast", Namespace="n", MetricName="m")
    assert server_error(excinfo) == (400, "Throttling.User")
    assert excinfo.value.get_error_msg() == "Request was denied due to user flow control."
    assert cms("DescribeMetricLast", Namespace="n", MetricName="m")["Success"] is True
    assert cms("DescribeSystemEventAttribute")["Success"] == "true"  # the rule named the action
    assert emulator.faults.rules()[0]["fired"] == 1


def test_rate_limit_answers_throttling_user(emulator: Emulator, cms: CmsCall) -> None:
    emulator.update_config({"rateLimits": [RateLimit(action="DescribeMetricLast", rate=0.001, burst=2).model_dump()]})
    for _ in range(2):
        cms("DescribeMetricLast", Namespace="n", MetricName="m")
    with pytest.raises(ServerException) as excinfo:
        cms("DescribeMetricLast", Namespace="n", MetricName="m")
    assert server_error(excinfo) == (400, "Throttling.User")
    cms("DescribeSystemEventAttribute")  # another action, another bucket


def test_signature_is_verified(endpoint: str) -> None:
    wrong = AcsClient(DEFAULT_ACCESS_KEY_ID, "not-the-secret", DR, timeout=10, connect_timeout=5)
    with pytest.raises(ServerException) as excinfo:
        cms_call(wrong, endpoint, "DescribeSystemEventAttribute")
    assert server_error(excinfo) == (400, "SignatureDoesNotMatch")


def test_unknown_cms_action_is_not_found(cms: CmsCall) -> None:
    with pytest.raises(ServerException) as excinfo:
        cms("PutEventRule", RuleName="r")
    assert server_error(excinfo) == (404, "InvalidApi.NotFound")


# --------------------------------------------------------------- control plane
def test_control_plane_stores_and_lists_evidence(endpoint: str, emulator: Emulator) -> None:
    base = f"http://{endpoint}/_emulator/cms"
    r = requests.post(
        f"{base}/system-events",
        json={"events": [{"Product": "ECS", "Name": "X", "offsetSeconds": -5, "Content": {"a": 1}}]},
        timeout=5,
    )
    assert r.status_code == 200 and r.json() == {"stored": ["evt-00000001"]}
    listed = requests.get(f"{base}/system-events", timeout=5).json()
    assert [e["Content"] for e in listed["systemEvents"]] == ['{"a": 1}']
    r = requests.post(
        f"{base}/metrics",
        json={"datapoints": [{"Namespace": "n", "MetricName": "m", "values": {"Average": 1}}]},
        timeout=5,
    )
    assert r.json() == {"stored": 1}
    assert len(requests.get(f"{base}/metrics", timeout=5).json()["datapoints"]) == 1
    bad: dict[str, Any]
    for bad in (
        {"events": [{"Product": "ECS"}]},
        {"events": [{"Product": "ECS", "Name": "X", "Level": "FATAL"}]},
        {"events": [{"Product": "ECS", "Name": "X", "Time": 1, "offsetSeconds": 1}]},
        {"event": []},
    ):
        r = requests.post(f"{base}/system-events", json=bad, timeout=5)
        assert r.status_code == 400 and r.json()["error"] == "invalid SeedSystemEvents document"
    assert len(emulator.cms.events()) == 1
    emulator.reset()
    assert emulator.cms.events() == [] and emulator.cms.datapoints() == []


# ----------------------------------------------------- the primary-region probe
def test_region_outage_fails_the_primary_probe_while_dr_answers(emulator: Emulator, ebs: EbsCall, cms: CmsCall) -> None:
    emulator.clock.freeze(True)
    seed_basic(emulator)
    outage = FaultRule(region=PRIMARY, duration_seconds=600, error=FaultError(status=503, code="ServiceUnavailable"))
    emulator.faults.set([outage], emulator.clock.now(), 0)
    with pytest.raises(ServerException) as excinfo:
        ebs("DescribeDiskReplicaPairs", RegionId=PRIMARY, Site="production")
    assert server_error(excinfo) == (503, "ServiceUnavailable")
    dr = ebs("DescribeDiskReplicaPairs", RegionId=DR, Site="backup", MaxResults=100)
    assert {p["ReplicaPairId"] for p in dr["ReplicaPairs"]} >= {"pair-0", "pair-1", "pair-2"}
    assert cms("DescribeSystemEventAttribute", RegionId=DR)["Success"] == "true"
    with pytest.raises(ServerException) as excinfo:
        cms("DescribeSystemEventAttribute", RegionId=PRIMARY)  # the primary's CloudMonitor is down too
    assert server_error(excinfo) == (503, "ServiceUnavailable")
    emulator.advance(600)
    assert "ReplicaPairs" in ebs("DescribeDiskReplicaPairs", RegionId=PRIMARY, Site="production")
