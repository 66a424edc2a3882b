"""The evidence sources: CloudMonitor system events and metrics, and a probe of the primary region's
EBS control plane. Each builds its request here (so it can be checked without a network) and calls
the cloud through the same aliyunsdkcore client as the EBS calls, imported on first use.

* ``cms_events`` - cms 2019-01-01 DescribeSystemEventAttribute in the primary region over the last W
  minutes: the number of DISTINCT resources with an event at or above FAILOVER_MIN_LEVEL. Paging is
  bounded; when the bound cuts it short the count is a lower bound, which can only make ``events>=N``
  false where it might be true, never the reverse.
* ``probe`` - ebs DescribeDiskReplicaPairs (RegionId=primary, Site=production). A timeout, a reset,
  an unreachable endpoint or a 5xx is outage evidence (True); a healthy answer counts against (False);
  throttling or a 4xx such as Forbidden says nothing about the region (unavailable).
* ``metric`` - cms DescribeMetricLast of site-monitoring ``Availability`` (namespace
  ``acs_networkmonitor``, dimension ``taskId``): True when the latest value is below the threshold.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, Final

from replica_failover.config import LEVEL_RANK, Settings
from replica_failover.confirm.evidence import Source, Unavailable
from replica_failover.credentials import Credentials
from replica_failover.ebs import ApiFailure, EbsApi

CMS_VERSION: Final = "2019-01-01"
EVENTS_PAGE_SIZE: Final = 100
MAX_EVENT_PAGES: Final = 5
OUTAGE_CODES: Final = frozenset({"SDK.HttpError", "SDK.ServerUnreachable", "RequestTimeout", "ServiceUnavailable"})

Call = Callable[[str, dict[str, str]], dict[str, Any]]


# ----------------------------------------------------------------------------- requests
def events_params(*, window_minutes: int, now_ms: int, page: int) -> dict[str, str]:
    """DescribeSystemEventAttribute parameters: StartTime/EndTime are epoch milliseconds as strings.
    No Level filter (it takes one level): levels at or above the minimum are kept client-side."""
    return {
        "StartTime": str(now_ms - window_minutes * 60_000),
        "EndTime": str(now_ms),
        "PageNumber": str(page),
        "PageSize": str(EVENTS_PAGE_SIZE),
    }


def metric_params(task_id: str) -> dict[str, str]:
    return {
        "Namespace": "acs_networkmonitor",
        "MetricName": "Availability",
        "Dimensions": json.dumps([{"taskId": task_id}], separators=(",", ":")),
    }


PROBE_PARAMS: Final = {"Site": "production", "MaxResults": "1"}


# ------------------------------------------------------------------------------ sources
def count_event_resources(call: Call, *, region: str, window_minutes: int, min_level: str, now_ms: int) -> int:
    rank = LEVEL_RANK[min_level]
    resources: set[str] = set()
    for page in range(1, MAX_EVENT_PAGES + 1):
        params = events_params(window_minutes=window_minutes, now_ms=now_ms, page=page)
        body = call("DescribeSystemEventAttribute", params)
        if str(body.get("Success", "true")).lower() != "true":
            raise Unavailable(f"DescribeSystemEventAttribute: {body.get('Code')} {str(body.get('Message', ''))[:100]}")
        holder = body.get("SystemEvents") or {}
        events = holder.get("SystemEvent") if isinstance(holder, dict) else None
        events = events if isinstance(events, list) else []
        for event in events:
            if not isinstance(event, dict):
                continue
            if LEVEL_RANK.get(str(event.get("Level", "")).upper(), 0) < rank:
                continue
            if event.get("RegionId") not in (None, "", region):
                continue
            resource = event.get("ResourceId") or event.get("InstanceName")
            if resource:
                resources.add(str(resource))
        if len(events) < EVENTS_PAGE_SIZE:
            break
    return len(resources)


def latest_below(call: Call, *, task_id: str, threshold: float) -> bool:
    body = call("DescribeMetricLast", metric_params(task_id))
    if str(body.get("Success", "true")).lower() != "true":
        raise Unavailable(f"DescribeMetricLast: {body.get('Code')} {str(body.get('Message', ''))[:100]}")
    try:
        points = json.loads(body.get("Datapoints") or "[]")
    except (TypeError, ValueError):
        raise Unavailable("DescribeMetricLast: Datapoints is not JSON") from None
    values = [p.get("Average", p.get("Minimum")) for p in points if isinstance(p, dict)]
    numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if not numbers:
        raise Unavailable(f"no Availability datapoint for task {task_id}")
    return min(numbers) < threshold


def probe_failed(ebs: EbsApi, region: str) -> bool:
    """True: the control plane looks down; False: it answered; Unavailable: it refused us."""
    try:
        ebs.call("DescribeDiskReplicaPairs", region, dict(PROBE_PARAMS))
    except ApiFailure as failure:
        if failure.throttled:
            raise Unavailable(f"probe throttled: {failure.code}") from None
        if failure.code in OUTAGE_CODES or (failure.status is not None and failure.status >= 500):
            return True
        raise Unavailable(f"probe refused: {failure.code} (HTTP {failure.status})") from None
    return False


# ------------------------------------------------------------------------------ transport
def cms_host(region: str, endpoint: str | None) -> tuple[str, str]:
    """(host[:port], protocol) of CloudMonitor: the override (CMS_ENDPOINT), else the regional one."""
    if endpoint:
        protocol = "https" if endpoint.startswith("https://") else "http"
        return endpoint.split("://", 1)[-1].rstrip("/"), protocol
    return f"metrics.{region}.aliyuncs.com", "https"


def build_cms_request(action: str, region: str, params: dict[str, str], endpoint: str | None) -> Any:
    from aliyunsdkcore.request import CommonRequest

    host, protocol = cms_host(region, endpoint)
    request = CommonRequest(domain=host, version=CMS_VERSION, action_name=action, product="Cms")
    request.set_method("POST")
    request.set_protocol_type(protocol)
    request.set_accept_format("JSON")
    request.add_query_param("RegionId", region)
    for key, value in params.items():
        request.add_query_param(key, value)
    return request


def cms_caller(
    credentials: Credentials, region: str, *, endpoint: str | None, connect_timeout: float, read_timeout: float
) -> Call:
    """A CloudMonitor RPC call in ``region``; any error becomes :class:`Unavailable`."""

    def call(action: str, params: dict[str, str]) -> dict[str, Any]:
        from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
        from aliyunsdkcore.auth.credentials import AccessKeyCredential, StsTokenCredential
        from aliyunsdkcore.client import AcsClient

        c = credentials
        cred = (
            StsTokenCredential(c.access_key_id, c.access_key_secret, c.security_token)
            if c.security_token
            else AccessKeyCredential(c.access_key_id, c.access_key_secret)
        )
        client = AcsClient(
            region_id=region, credential=cred, auto_retry=False, timeout=read_timeout, connect_timeout=connect_timeout
        )
        try:
            raw = client.do_action_with_exception(build_cms_request(action, region, params, endpoint))
        except ServerException as exc:
            raise Unavailable(f"{action}: {exc.get_error_code()} (HTTP {exc.get_http_status()})") from None
        except ClientException as exc:
            # the SDK's transport message quotes the signed URL: keep the code only
            raise Unavailable(f"{action}: {exc.get_error_code()}") from None
        try:
            body = json.loads(raw)
        except ValueError:
            raise Unavailable(f"{action}: the response is not JSON") from None
        if not isinstance(body, dict):
            raise Unavailable(f"{action}: the response is not a JSON object")
        return body

    return call


def now_ms() -> int:
    return int(time.time() * 1000)


def _not_configured() -> bool:
    raise Unavailable("not configured (FAILOVER_EVIDENCE_SITE_TASK_ID is unset)")


def build_sources(settings: Settings, credentials: Credentials, region: str, *, at_ms: int) -> dict[str, Source]:
    """The sources for an incident in primary ``region``, as :func:`~.evidence.gather` takes them.

    Each call's own timeouts stay inside the gathering bound (read: 80 % of it), so an unresponsive
    endpoint is reported by the SDK as a timeout - outage evidence for the probe - before the bound
    turns it into "unavailable"."""
    bound = settings.evidence_timeout_seconds
    read = max(0.1, 0.8 * bound)
    connect = min(settings.connect_timeout_seconds, read)
    cms = cms_caller(credentials, region, endpoint=settings.cms_endpoint, connect_timeout=connect, read_timeout=read)
    ebs = EbsApi(credentials, endpoint=settings.ebs_endpoint, connect_timeout=connect, read_timeout=read)
    task = settings.evidence_site_task_id
    threshold = settings.evidence_availability_below

    def events() -> int:
        window, level = settings.evidence_window_minutes, settings.min_level
        return count_event_resources(cms, region=region, window_minutes=window, min_level=level, now_ms=at_ms)

    def metric() -> bool:
        return latest_below(cms, task_id=task, threshold=threshold) if task else _not_configured()

    return {"cms_events": events, "probe": lambda: probe_failed(ebs, region), "metric": metric}
