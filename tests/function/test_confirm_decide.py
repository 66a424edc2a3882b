"""Signal classification and the act/hold decision, gathering only the evidence that matters."""

from __future__ import annotations

import threading
from collections.abc import Mapping

import pytest
from replica_failover.confirm.decide import classify, confirm
from replica_failover.confirm.evidence import Source, Unavailable
from replica_failover.confirm.policy import DEFAULT_POLICY, Policy
from replica_failover.incident import Incident


def _incident(kind: str, origin: str | None) -> Incident:
    return Incident.model_validate(
        {
            "source": kind if kind != "unknown" else "unknown",
            "kind": kind,
            "disposition": "act",
            "reason": "test",
            "primary_region": "cn-hangzhou",
            "region_origin": origin,
            "dr_region": "cn-shanghai",
            "firing": True,
            "incident_key": "k",
        }
    )


@pytest.mark.parametrize(
    ("kind", "origin", "signal"),
    [
        ("threshold", "alarm-map", "alarm"),
        ("threshold", "dimensions", "resource"),
        ("threshold", "field", "resource"),
        ("system-event", "alarm-map", "resource"),
        ("system-event", "arn", "resource"),
        ("manual", "manual", "manual"),
    ],
)
def test_classify(kind: str, origin: str, signal: str) -> None:
    assert classify(_incident(kind, origin)) == signal


class Counting:
    def __init__(self, values: Mapping[str, int | bool | None]) -> None:
        self.values = values
        self.called: list[str] = []
        self.lock = threading.Lock()

    def __call__(self) -> dict[str, Source]:
        def make(name: str) -> Source:
            def run() -> int | bool:
                with self.lock:
                    self.called.append(name)
                value = self.values[name]
                if value is None:
                    raise Unavailable("throttled")
                return value

            return run

        return {name: make(name) for name in self.values}


def test_manual_acts_without_gathering() -> None:
    src = Counting({"probe": True, "cms_events": 9, "metric": True})
    c = confirm(Policy(DEFAULT_POLICY), "manual", src, timeout=2)
    assert c.decision.act and c.evidence is None and src.called == []


def test_resource_under_alarm_only_policy_holds_without_gathering() -> None:
    src = Counting({"probe": True, "cms_events": 9, "metric": True})
    c = confirm(Policy("alarm and probe"), "resource", src, timeout=2)
    assert not c.decision.act and c.evidence is None and src.called == []


def test_only_the_named_sources_are_gathered() -> None:
    src = Counting({"probe": True, "cms_events": 9, "metric": True})
    c = confirm(Policy("alarm and probe"), "alarm", src, timeout=2)
    assert c.decision.act and src.called == ["probe"]
    assert c.evidence is not None and set(c.evidence.sources) == {"probe"}


def test_default_policy_region_alarm() -> None:
    held = confirm(
        Policy(DEFAULT_POLICY), "alarm", Counting({"probe": False, "cms_events": 1, "metric": None}), timeout=2
    )
    assert not held.decision.act
    assert held.decision.terms["metric"] == "unavailable" and held.decision.value == "unknown"
    acted = confirm(
        Policy(DEFAULT_POLICY), "alarm", Counting({"probe": None, "cms_events": 3, "metric": None}), timeout=2
    )
    assert acted.decision.act


def test_default_policy_resource_signal() -> None:
    lone = confirm(
        Policy(DEFAULT_POLICY), "resource", Counting({"probe": True, "cms_events": 4, "metric": True}), timeout=2
    )
    assert not lone.decision.act
    wide = confirm(
        Policy(DEFAULT_POLICY), "resource", Counting({"probe": True, "cms_events": 5, "metric": None}), timeout=2
    )
    assert wide.decision.act


@pytest.mark.parametrize(
    ("dimensions", "signal"),
    [
        ((("region", "cn-hangzhou"), ("userId", "1234567890123456")), "alarm"),
        ((("regionId", "cn-hangzhou"),), "alarm"),
        ((("instanceId", "i-bp1"), ("region", "cn-hangzhou")), "resource"),
        ((("diskId", "d-bp1"), ("userId", "1")), "resource"),
    ],
)
def test_a_threshold_alarm_scoped_to_a_region_is_region_level(
    dimensions: tuple[tuple[str, str], ...], signal: str
) -> None:
    incident = _incident("threshold", "dimensions").model_copy(update={"dimensions": dimensions})
    assert classify(incident) == signal
