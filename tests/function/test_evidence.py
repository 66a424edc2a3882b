"""Evidence gathering: parallel, one time bound, never raising; the sources' requests and verdicts,
through the real aliyunsdkcore client against a local HTTP server."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from pytest_localserver.http import WSGIServer
from replica_failover.config import load_settings
from replica_failover.confirm import sources
from replica_failover.confirm.evidence import Evidence, Unavailable, gather
from replica_failover.credentials import Credentials
from replica_failover.ebs import EbsApi
from replica_failover.redact import register
from werkzeug.wrappers import Request, Response

CREDS = Credentials("LTAItestkeyid0001", "test-secret-value-0001", None, "env")


# ---------------------------------------------------------------------------------- gather
def test_sources_run_in_parallel() -> None:
    # the barrier only opens when all three sources are running at the same time
    barrier = threading.Barrier(3, timeout=5)

    def source(value: int) -> Any:
        def run() -> int:
            barrier.wait()
            return value

        return run

    ev = gather({"a": source(1), "b": source(2), "c": source(3)}, timeout=5)
    assert {k: v.value for k, v in ev.sources.items()} == {"a": 1, "b": 2, "c": 3}
    assert all(v.available for v in ev.sources.values())


def test_one_bound_for_all_and_the_slow_one_is_unavailable() -> None:
    hold = threading.Event()
    try:
        started = time.monotonic()
        ev = gather({"slow": lambda: hold.wait(10), "fast": lambda: 7}, timeout=0.3)
        took = time.monotonic() - started
    finally:
        hold.set()
    assert 0.25 <= took < 1.0
    assert 250 <= ev.elapsed_ms < 1000 and ev.timeout_seconds == 0.3
    assert ev.sources["fast"].value == 7
    slow = ev.sources["slow"]
    assert (slow.available, slow.reason) == (False, "timed out after 0.3 s")


def test_failures_are_unavailable_with_a_reason_and_never_raise() -> None:
    register("leaky-secret-0123456789")

    def throttled() -> int:
        raise Unavailable("Throttling.User")

    def buggy() -> int:
        raise RuntimeError("boom with leaky-secret-0123456789")

    def wrong_type() -> Any:
        return "yes"

    ev = gather({"t": throttled, "b": buggy, "s": wrong_type}, timeout=2)
    assert ev.sources["t"].reason == "Throttling.User"
    assert ev.sources["b"].reason == "RuntimeError: boom with ***"
    assert "not a count" in (ev.sources["s"].reason or "")
    assert not any(v.available for v in ev.sources.values())
    assert ev.elapsed_ms < 2000


def test_no_sources_and_zero_timeout() -> None:
    assert gather({}, timeout=1).sources == {}
    hold = threading.Event()
    try:
        ev = gather({"x": lambda: hold.wait(5)}, timeout=0)
    finally:
        hold.set()
    assert not ev.sources["x"].available


def test_facts_from_evidence() -> None:
    ev = gather({"cms_events": lambda: 4, "probe": lambda: True}, timeout=2)
    facts = ev.facts(alarm=True)
    assert (facts.alarm, facts.events, facts.probe, facts.metric) == (True, 4, True, None)
    assert Evidence(sources={}, elapsed_ms=0, timeout_seconds=1).facts(resource=True).events is None


# ------------------------------------------------------------------------- request building
def test_event_and_metric_params() -> None:
    p = sources.events_params(window_minutes=10, now_ms=1_700_000_600_000, page=2)
    assert p == {"StartTime": "1700000000000", "EndTime": "1700000600000", "PageNumber": "2", "PageSize": "100"}
    m = sources.metric_params("task-1")
    assert m["Namespace"] == "acs_networkmonitor" and m["MetricName"] == "Availability"
    assert json.loads(m["Dimensions"]) == [{"taskId": "task-1"}]


def test_cms_request_shape_and_endpoint_override() -> None:
    req = sources.build_cms_request("DescribeSystemEventAttribute", "cn-hangzhou", {"PageNumber": "1"}, None)
    assert (req.get_action_name(), req.get_version(), req.get_product()) == (
        "DescribeSystemEventAttribute",
        "2019-01-01",
        "Cms",
    )
    assert req.get_domain() == "metrics.cn-hangzhou.aliyuncs.com"
    assert req.get_query_params() == {"RegionId": "cn-hangzhou", "PageNumber": "1"}
    assert sources.cms_host("cn-hangzhou", "http://127.0.0.1:9000/") == ("127.0.0.1:9000", "http")


def _event(resource: str, level: str = "CRITICAL", region: str = "cn-hangzhou") -> dict[str, str]:
    return {"ResourceId": resource, "Level": level, "RegionId": region, "Name": "Instance:SystemFailure.Reboot"}


def test_counts_distinct_resources_at_or_above_the_level() -> None:
    seen: list[tuple[str, dict[str, str]]] = []
    page = [_event("i-1"), _event("i-1"), _event("i-2", "WARN"), _event("i-3", "INFO"), _event("i-4", region="cn-x")]

    def call(action: str, params: dict[str, str]) -> dict[str, Any]:
        seen.append((action, params))
        return {"Success": True, "SystemEvents": {"SystemEvent": page}}

    kwargs: dict[str, Any] = {"region": "cn-hangzhou", "window_minutes": 5, "now_ms": 10**12}
    assert sources.count_event_resources(call, min_level="CRITICAL", **kwargs) == 1
    assert sources.count_event_resources(call, min_level="WARN", **kwargs) == 2
    assert sources.count_event_resources(call, min_level="INFO", **kwargs) == 3
    assert seen[0][0] == "DescribeSystemEventAttribute" and seen[0][1]["PageNumber"] == "1"


def test_paging_is_bounded() -> None:
    calls: list[str] = []

    def call(action: str, params: dict[str, str]) -> dict[str, Any]:
        calls.append(params["PageNumber"])
        n = int(params["PageNumber"])
        return {"Success": "true", "SystemEvents": {"SystemEvent": [_event(f"i-{n}-{k}") for k in range(100)]}}

    count = sources.count_event_resources(call, region="cn-hangzhou", window_minutes=5, min_level="WARN", now_ms=1)
    assert calls == ["1", "2", "3", "4", "5"] and count == 500


def test_unsuccessful_body_is_unavailable() -> None:
    def call(action: str, params: dict[str, str]) -> dict[str, Any]:
        return {"Success": False, "Code": "403", "Message": "AccessForbidden"}

    with pytest.raises(Unavailable, match="AccessForbidden"):
        sources.count_event_resources(call, region="cn-hangzhou", window_minutes=5, min_level="WARN", now_ms=1)
    with pytest.raises(Unavailable):
        sources.latest_below(call, task_id="t", threshold=90)


def test_metric_below_threshold() -> None:
    def answer(points: list[dict[str, Any]]) -> Any:
        return lambda action, params: {"Success": True, "Datapoints": json.dumps(points)}

    assert sources.latest_below(answer([{"taskId": "t", "Average": 40.0}]), task_id="t", threshold=90)
    assert not sources.latest_below(answer([{"taskId": "t", "Average": 100}]), task_id="t", threshold=90)
    with pytest.raises(Unavailable, match="no Availability datapoint"):
        sources.latest_below(answer([]), task_id="t", threshold=90)


# ---------------------------------------------------------------- real SDK, local server
class Cloud:
    """Answers EBS and CMS RPC calls the way the services shape them; ``mode`` picks the failure."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.requests: list[dict[str, str]] = []
        self.hold = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        params = {**request.args.to_dict(), **request.form.to_dict()}
        self.requests.append(params)
        if self.mode == "hang":
            self.hold.wait(10)
        body: dict[str, Any]
        if self.mode == "503":
            body, status = {"Code": "ServiceUnavailable", "Message": "The request has failed", "RequestId": "r"}, 503
        elif self.mode == "403":
            body, status = {"Code": "Forbidden.RAM", "Message": "not authorized", "RequestId": "r"}, 403
        elif self.mode == "throttle":
            body, status = {"Code": "Throttling.User", "Message": "flow control", "RequestId": "r"}, 400
        elif params.get("Action") == "DescribeSystemEventAttribute":
            events = [_event("i-1"), _event("i-2"), _event("i-2")]
            body, status = {"Success": True, "Code": "200", "SystemEvents": {"SystemEvent": events}}, 200
        else:
            body, status = {"RequestId": "r", "ReplicaPairs": [], "NextToken": ""}, 200
        return Response(json.dumps(body), status=status, content_type="application/json")(environ, start_response)


@pytest.fixture
def cloud() -> Iterator[tuple[Cloud, str]]:
    app = Cloud()
    server = WSGIServer(application=app)
    server.start()
    try:
        yield app, server.url
    finally:
        app.hold.set()
        server.stop()


def _ebs(url: str, read: float = 2.0) -> EbsApi:
    return EbsApi(CREDS, endpoint=url, connect_timeout=1.0, read_timeout=read)


@pytest.mark.parametrize(("mode", "expected"), [("ok", False), ("503", True)])
def test_probe_verdicts(cloud: tuple[Cloud, str], mode: str, expected: bool) -> None:
    app, url = cloud
    app.mode = mode
    assert sources.probe_failed(_ebs(url), "cn-hangzhou") is expected
    sent = app.requests[-1]
    assert (sent["Action"], sent["RegionId"], sent["Site"], sent["Version"]) == (
        "DescribeDiskReplicaPairs",
        "cn-hangzhou",
        "production",
        "2021-07-30",
    )


@pytest.mark.parametrize(("mode", "fragment"), [("403", "Forbidden.RAM"), ("throttle", "throttled")])
def test_probe_refused_or_throttled_is_unavailable(cloud: tuple[Cloud, str], mode: str, fragment: str) -> None:
    app, url = cloud
    app.mode = mode
    with pytest.raises(Unavailable, match=fragment):
        sources.probe_failed(_ebs(url), "cn-hangzhou")


def test_probe_timeout_and_refused_connection_are_outage(cloud: tuple[Cloud, str]) -> None:
    app, url = cloud
    app.mode = "hang"
    assert sources.probe_failed(_ebs(url, read=0.3), "cn-hangzhou") is True
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert sources.probe_failed(_ebs(f"http://127.0.0.1:{port}"), "cn-hangzhou") is True


def test_built_sources_against_the_local_cloud(cloud: tuple[Cloud, str]) -> None:
    app, url = cloud
    settings = load_settings(
        {
            "FAILOVER_PRIMARY_REGIONS": "cn-hangzhou",
            "EBS_ENDPOINT": url,
            "CMS_ENDPOINT": url,
            "FAILOVER_EVIDENCE_TIMEOUT_SECONDS": "2",
        },
        function_region="cn-shanghai",
    )
    ev = gather(sources.build_sources(settings, CREDS, "cn-hangzhou", at_ms=1_700_000_000_000), timeout=2)
    assert ev.sources["cms_events"].value == 2
    assert ev.sources["probe"].value is False
    assert ev.sources["metric"].reason == "not configured (FAILOVER_EVIDENCE_SITE_TASK_ID is unset)"
    cms = next(r for r in app.requests if r["Action"] == "DescribeSystemEventAttribute")
    assert (cms["Version"], cms["RegionId"], cms["StartTime"], cms["EndTime"]) == (
        "2019-01-01",
        "cn-hangzhou",
        str(1_700_000_000_000 - 10 * 60_000),
        "1700000000000",
    )


def test_cms_errors_are_unavailable(cloud: tuple[Cloud, str]) -> None:
    app, url = cloud
    app.mode = "403"
    call = sources.cms_caller(CREDS, "cn-hangzhou", endpoint=url, connect_timeout=1, read_timeout=1)
    with pytest.raises(Unavailable, match=r"Forbidden.RAM \(HTTP 403\)"):
        call("DescribeMetricLast", sources.metric_params("t"))
