"""Shared by the confirmation tests: the default-policy environment with both notification channels on
the emulator, and what the ledger and the notification endpoints recorded."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import requests
from replica_failover.confirm.policy import DEFAULT_POLICY

from chaos.emulator.app import Emulator
from chaos.emulator.cms.models import SystemEventSeed
from chaos.emulator.faults import FaultError, FaultRule
from tests.conftest import PRIMARY
from tests.function.conftest import base_env

ROOT = Path(__file__).resolve().parents[2]
ROBOT_TOKEN = "robot-token-0123456789"
ROBOT_SECRET = "SEC0123456789abcdef0123456789abcdef"
SYSTEM_EVENT = json.loads((ROOT / "events" / "system-event.json").read_text())
ALARM = json.loads((ROOT / "events" / "threshold-alert.json").read_text())  # region-level: dimensions name a region
MANUAL = json.loads((ROOT / "events" / "manual-failover.json").read_text())
TARGETS = {"pair-0", "pair-1", "pair-2", "pg-1"}  # what seed_basic replicates from the primary


def confirm_env(endpoint: str, **overrides: str) -> dict[str, str]:
    """The documented default policy, both notification channels on the emulator."""
    return base_env(
        endpoint,
        FAILOVER_CONFIRM=DEFAULT_POLICY,
        FAILOVER_VERIFY="false",
        FAILOVER_NOTIFY_DINGTALK_URL=f"http://{endpoint}/robot/send?access_token={ROBOT_TOKEN}",
        FAILOVER_NOTIFY_DINGTALK_SECRET=ROBOT_SECRET,
        FAILOVER_NOTIFY_WEBHOOK_URL=f"http://{endpoint}/hooks/oncall",
        **overrides,
    )


def notifications(endpoint: str) -> list[dict[str, Any]]:
    reply = requests.get(f"http://{endpoint}/_emulator/notifications", timeout=10)
    reply.raise_for_status()
    return list(reply.json()["notifications"])


def writes(emulator: Emulator) -> list[dict[str, Any]]:
    return [r for r in emulator.ledger.snapshot()["requests"] if str(r["action"]).startswith("Failover")]


def effects(emulator: Emulator) -> Counter[str]:
    return Counter(e["targetId"] for e in emulator.ledger.snapshot()["effects"])


def resource_events(n: int, *, first: int = 0) -> list[SystemEventSeed]:
    return [
        SystemEventSeed(
            Product="ECS",
            Name="Instance:SystemFailure.Reboot:Executing",
            Level="CRITICAL",
            RegionId=PRIMARY,
            ResourceId=f"acs:ecs:{PRIMARY}:1234567890123456:instance/i-{i:04d}",
            offset_seconds=-60,
        )
        for i in range(first, first + n)
    ]


def primary_down(emulator: Emulator) -> None:
    """The primary's ebs control plane answers 503 (the probe fails); CloudMonitor still answers."""
    rule = FaultRule(service="ebs", region=PRIMARY, error=FaultError(status=503, code="ServiceUnavailable"))
    emulator.faults.set([rule], emulator.clock.now(), 0)


def robot_texts(endpoint: str) -> list[str]:
    return [n["body"]["markdown"]["text"] for n in notifications(endpoint) if n["kind"] == "robot" and n["accepted"]]
