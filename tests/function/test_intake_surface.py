"""The intake package: its public surface, its module map, and triage on its own."""

from __future__ import annotations

import ast
import pkgutil
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from replica_failover import intake
from replica_failover.config import Settings
from replica_failover.intake.parse import parse_alert_callback, parse_event
from replica_failover.intake.triage import Signal, Triage, triage

PACKAGE_DIR = Path(intake.__file__).parent


def make(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"primary_regions": ("cn-hangzhou", "cn-shenzhen"), "dr_region": "cn-shanghai"}
    values.update(overrides)
    return Settings(**values)


def alarm(**overrides: Any) -> Signal:
    values: dict[str, Any] = {
        "kind": "threshold",
        "subject": "alarm rule-1 ALERT",
        "firing": True,
        "level": "CRITICAL",
        "region": "cn-hangzhou",
        "region_origin": "field",
        "alarm": "rule-1",
    }
    values.update(overrides)
    return Signal(**values)


# ------------------------------------------------------------------------------------------------
# public surface


def test_the_package_exports_exactly_the_two_entry_points() -> None:
    assert sorted(intake.__all__) == ["parse_alert_callback", "parse_event"]
    public = {
        name for name, value in vars(intake).items() if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert public == set(intake.__all__)
    assert intake.parse_event is parse_event
    assert intake.parse_alert_callback is parse_alert_callback


def test_the_module_docstring_maps_every_module_and_only_those() -> None:
    modules = {info.name for info in pkgutil.iter_modules([str(PACKAGE_DIR)])}
    assert intake.__doc__ is not None
    mapped = set(re.findall(r"^- :mod:`\.(\w+)`", intake.__doc__, re.MULTILINE))
    assert mapped == modules
    assert {"decode", "payloads", "envelopes", "fields", "region", "triage"} <= modules


def test_triage_imports_no_parsing() -> None:
    tree = ast.parse((PACKAGE_DIR / "triage.py").read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert imported <= {"__future__", "dataclasses", "typing", "replica_failover.config", "replica_failover.incident"}


# ------------------------------------------------------------------------------------------------
# triage on its own


def test_a_firing_critical_alarm_in_a_watched_primary_acts() -> None:
    assert triage(alarm(), make()) == Triage("act", "alarm rule-1 ALERT in watched primary region cn-hangzhou")


def test_the_kill_switch_turns_act_into_plan() -> None:
    decided = triage(alarm(), make(mode="plan-only"))
    assert decided.disposition == "plan"
    assert "FAILOVER_MODE=plan-only" in decided.reason


def test_a_resolved_alarm_is_a_noop_with_its_own_reason() -> None:
    decided = triage(alarm(firing=False, not_firing="alarm resolved"), make())
    assert decided == Triage("noop", "alarm resolved")


@pytest.mark.parametrize(
    ("overrides", "settings", "words"),
    [
        ({"level": "WARN"}, make(), "below FAILOVER_MIN_LEVEL CRITICAL"),
        ({"level": None}, make(), "alarm level unknown"),
        ({"region": None, "region_origin": None, "region_problem": "no region"}, make(), "no region"),
        ({"region": "cn-shanghai"}, make(), "is the DR region"),
        ({"region": "cn-beijing"}, make(), "not a watched primary region"),
    ],
)
def test_what_triage_refuses(overrides: dict[str, Any], settings: Settings, words: str) -> None:
    decided = triage(alarm(**overrides), settings)
    assert decided.disposition == "noop"
    assert words in decided.reason


def test_the_level_floor_applies_to_alarms_not_to_manual_requests() -> None:
    manual = Signal(kind="manual", subject="manual failover", firing=True, region="cn-shenzhen", alarm="manual")
    assert triage(manual, make()).disposition == "act"
    assert triage(alarm(kind="system-event", level="INFO"), make()).disposition == "noop"
    assert triage(alarm(kind="system-event", level="INFO"), make(min_level="INFO")).disposition == "act"


def test_a_manual_dry_run_plans() -> None:
    manual = Signal(
        kind="manual", subject="manual failover", firing=True, region="cn-shenzhen", alarm="manual", requested="plan"
    )
    assert triage(manual, make()) == Triage("plan", "manual failover: dry run requested for primary region cn-shenzhen")


def test_parse_event_records_what_triage_decides() -> None:
    settings = make()
    body = "alertState=ALERT&triggerLevel=WARN&ruleId=rule-1&regionId=cn-hangzhou"
    incident = parse_event(body, settings, account_id=None)
    expected = triage(alarm(level="WARN"), settings)
    assert (incident.disposition, incident.reason) == (expected.disposition, expected.reason)
    incident = parse_event(body.replace("WARN", "CRITICAL"), settings, account_id=None)
    assert (incident.disposition, incident.reason) == ("act", triage(alarm(), settings).reason)
