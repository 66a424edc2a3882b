"""The CloudMonitor operations: parameter validation, then the backend's queries.

Parameters arrive as strings. A bad value answers ``400 ParameterInvalid`` ("Illegal
parameters."), CloudMonitor's own code for it; a missing required one the gateway's
``MissingParameter``. Success bodies carry ``Code: "200"`` and ``Success`` as the API does.
"""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import Mapping
from typing import Any

from chaos.emulator.cms.backend import CmsBackend, EventFilters, parse_keywords
from chaos.emulator.cms.models import LEVELS
from chaos.emulator.errors import ApiError
from chaos.emulator.rpc import RpcContext, int_param

DEFAULT_METRIC_LOOKBACK_MS = 3600 * 1000  # DescribeMetricLast without StartTime looks back one hour
PERIODS = frozenset({"15", "60", "300", "900", "3600"})


def invalid(name: str) -> ApiError:
    return ApiError(code="ParameterInvalid", status=400, message=f"Illegal parameters. {name} is invalid.")


def _millis(params: Mapping[str, str], name: str, *, dates: bool) -> int | None:
    """Epoch milliseconds; with ``dates`` also ``YYYY-MM-DD HH:MM:SS`` (read as UTC)."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if raw.isdigit() and len(raw) <= 14:
        return int(raw)
    if dates:
        try:
            return calendar.timegm(time.strptime(raw, "%Y-%m-%d %H:%M:%S")) * 1000
        except ValueError:
            pass
    raise invalid(name)


def _window(params: Mapping[str, str], *, dates: bool) -> tuple[int | None, int | None]:
    start, end = _millis(params, "StartTime", dates=dates), _millis(params, "EndTime", dates=dates)
    if start is not None and end is not None and start > end:
        raise invalid("StartTime")
    return start, end


def _selectors(raw: str | None) -> list[dict[str, str]] | None:
    """``Dimensions``: a JSON object or a list of them; each matches datapoints carrying its pairs."""
    if raw is None or raw == "":
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        raise invalid("Dimensions") from None
    items = doc if isinstance(doc, list) else [doc]
    if not items or len(items) > 50:
        raise invalid("Dimensions")
    selectors = []
    for item in items:
        if not isinstance(item, dict) or not all(isinstance(v, (str, int, float)) for v in item.values()):
            raise invalid("Dimensions")
        selectors.append({str(k): str(v) for k, v in item.items()})
    return selectors


class CmsResponse:
    def __init__(self, backend: CmsBackend) -> None:
        self.backend = backend

    def dispatch(self, action: str, params: Mapping[str, str], ctx: RpcContext) -> dict[str, Any]:
        if action == "DescribeSystemEventAttribute":
            return self.describe_system_event_attribute(params, ctx.request_id)
        return self.describe_metric_last(params, ctx.request_id)

    def describe_system_event_attribute(self, params: Mapping[str, str], request_id: str) -> dict[str, Any]:
        level = params.get("Level") or None
        if level is not None and level not in LEVELS:
            raise invalid("Level")
        page = int_param(params, "PageNumber", 1, 100_000_000, 1, invalid)
        size = int_param(params, "PageSize", 1, 100, 10, invalid)
        start, end = _window(params, dates=False)
        filters = EventFilters(
            product=params.get("Product") or None,
            event_type=params.get("EventType") or None,
            name=params.get("Name") or None,
            level=level,
            status=params.get("Status") or None,
            group_id=params.get("GroupId") or None,
            keywords=parse_keywords(params.get("SearchKeywords", "")),
        )
        found = self.backend.query_events(filters, start, end)
        shown = found[(page - 1) * size : page * size]
        for event in shown:
            del event["EventType"]  # a filter, not a field of the answer
        return {
            "RequestId": request_id,
            "Code": "200",
            "Message": "success",
            "Success": "true",
            "SystemEvents": {"SystemEvent": shown},
        }

    def describe_metric_last(self, params: Mapping[str, str], request_id: str) -> dict[str, Any]:
        period = params.get("Period") or "60"
        if period not in PERIODS:
            raise invalid("Period")
        length = int_param(params, "Length", 1, 1440, 1000, invalid)
        selectors = _selectors(params.get("Dimensions"))
        start, end = _window(params, dates=True)
        end = end if end is not None else self.backend.now_ms()
        start = start if start is not None else end - DEFAULT_METRIC_LOOKBACK_MS
        points = self.backend.last_datapoints(params["Namespace"], params["MetricName"], selectors, start, end)
        return {
            "RequestId": request_id,
            "Code": "200",
            "Message": "",
            "Success": True,
            "Period": period,
            # the API answers the datapoints as a JSON string, not as a list
            "Datapoints": json.dumps(points[:length], separators=(",", ":")),
        }
