"""CloudMonitor's state: the system-event history and metric datapoints, and the queries on them.

Records are stamped on the emulator clock when stored; a query sees only what has happened by
the emulator's "now", so advancing the clock makes scheduled events appear and moves the
"last W minutes" windows.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from chaos.emulator.cms.models import DatapointSeed, SystemEventSeed


@dataclass(frozen=True)
class EventFilters:
    product: str | None = None
    event_type: str | None = None
    name: str | None = None
    level: str | None = None
    status: str | None = None
    group_id: str | None = None
    # OR of alternatives, each an AND of lower-case terms ("a and b or c")
    keywords: tuple[tuple[str, ...], ...] = ()


def parse_keywords(text: str) -> tuple[tuple[str, ...], ...]:
    """``"a and b or c"`` -> ``(("a", "b"), ("c",))``; ``or`` binds loosest."""
    alternatives = []
    for alternative in text.lower().split(" or "):
        terms = tuple(t.strip() for t in alternative.split(" and ") if t.strip())
        if terms:
            alternatives.append(terms)
    return tuple(alternatives)


class CmsBackend:
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._lock = threading.Lock()
        self._events: list[dict[str, Any]] = []
        self._datapoints: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def reset(self) -> None:
        with self._lock:
            self._events.clear()
            self._datapoints.clear()
            self._ids = itertools.count(1)

    def now_ms(self) -> int:
        return int(self._now() * 1000)

    # ------------------------------------------------------------ storing
    def add_events(self, seeds: Iterable[SystemEventSeed]) -> list[str]:
        now = self._now()
        ids: list[str] = []
        with self._lock:
            for seed in seeds:
                content = seed.Content
                event_id = seed.Id or f"evt-{next(self._ids):08d}"
                record = {
                    "Id": event_id,
                    "Time": seed.stamp(now),
                    "Product": seed.Product,
                    "Name": seed.Name,
                    "Level": seed.Level,
                    "Status": seed.Status,
                    "RegionId": seed.RegionId,
                    "ResourceId": seed.ResourceId,
                    "InstanceName": seed.InstanceName,
                    "GroupId": seed.GroupId,
                    "Content": content if isinstance(content, str) else json.dumps(content, ensure_ascii=False),
                    "EventType": seed.EventType,
                }
                self._events.append(record)
                ids.append(event_id)
        return ids

    def add_datapoints(self, seeds: Iterable[DatapointSeed]) -> int:
        now = self._now()
        with self._lock:
            before = len(self._datapoints)
            for seed in seeds:
                self._datapoints.append(
                    {
                        "Namespace": seed.Namespace,
                        "MetricName": seed.MetricName,
                        "timestamp": seed.stamp(now),
                        "dimensions": dict(seed.dimensions),
                        "values": dict(seed.values),
                    }
                )
            return len(self._datapoints) - before

    def events(self) -> list[dict[str, Any]]:
        """Every stored event (happened or scheduled), oldest first."""
        with self._lock:
            return sorted((dict(e) for e in self._events), key=lambda e: (e["Time"], e["Id"]))

    def datapoints(self) -> list[dict[str, Any]]:
        with self._lock:
            return sorted((dict(d) for d in self._datapoints), key=lambda d: d["timestamp"])

    # ------------------------------------------------------------ queries
    def query_events(self, f: EventFilters, start_ms: int | None, end_ms: int | None) -> list[dict[str, Any]]:
        """Matching events that happened in [start, end] (end capped at now), newest first."""
        end = min(end_ms if end_ms is not None else self.now_ms(), self.now_ms())
        start = start_ms if start_ms is not None else 0
        with self._lock:
            found = [dict(e) for e in self._events if start <= e["Time"] <= end and _matches(e, f)]
        found.sort(key=lambda e: (-e["Time"], e["Id"]))
        return found

    def last_datapoints(
        self,
        namespace: str,
        metric: str,
        selectors: list[dict[str, str]] | None,
        start_ms: int,
        end_ms: int,
    ) -> list[dict[str, Any]]:
        """The newest datapoint per dimension set in [start, end] (end capped at now)."""
        end = min(end_ms, self.now_ms())
        latest: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
        with self._lock:
            for d in self._datapoints:
                if d["Namespace"] != namespace or d["MetricName"] != metric:
                    continue
                if not start_ms <= d["timestamp"] <= end:
                    continue
                dims = d["dimensions"]
                if selectors is not None and not any(all(dims.get(k) == v for k, v in s.items()) for s in selectors):
                    continue
                key = tuple(sorted(dims.items()))
                if key not in latest or d["timestamp"] >= latest[key]["timestamp"]:
                    latest[key] = d
        return [{"timestamp": d["timestamp"], **d["dimensions"], **d["values"]} for _, d in sorted(latest.items())]


def _matches(e: dict[str, Any], f: EventFilters) -> bool:
    if f.product is not None and e["Product"].lower() != f.product.lower():
        return False
    for field, want in (
        ("EventType", f.event_type),
        ("Name", f.name),
        ("Level", f.level),
        ("Status", f.status),
        ("GroupId", f.group_id),
    ):
        if want is not None and e[field] != want:
            return False
    if f.keywords:
        text = e["Content"].lower()
        return any(all(term in text for term in alt) for alt in f.keywords)
    return True
