"""The act / plan / noop policy: what one parsed signal means for this function's settings.

:func:`triage` sees only a :class:`Signal` (what the event says, already parsed and checked) and the
settings; it parses nothing and performs no I/O, so it can be called and tested on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from replica_failover.config import Level, Settings
from replica_failover.incident import Kind, RegionOrigin, RequestedAction

Triaged = Literal["act", "plan", "noop"]


@dataclass(frozen=True, kw_only=True)
class Signal:
    """What one alarm, system event or manual request says, independent of how it was delivered."""

    kind: Kind
    """``threshold``, ``system-event`` or ``manual``."""
    subject: str
    """How reasons name the signal, e.g. ``alarm rule-1 ALERT`` or ``ECS system event Instance:...``."""
    firing: bool
    """The alarm is active (manual requests always are)."""
    not_firing: str = ""
    """Why the signal is not firing (resolved, insufficient data, no usable level); "" while firing."""
    level: Level | None = None
    """CRITICAL / WARN / INFO; None when the payload gives none (or an unusable one)."""
    region: str | None = None
    """The primary region the signal is about, None when it cannot be told."""
    region_origin: RegionOrigin | None = None
    region_problem: str = ""
    """Why ``region`` is None ("" when it is set)."""
    resource_id: str | None = None
    """The one resource the payload names (a system event's resource ARN, an ``instanceId`` dimension)."""
    alarm: str | None = None
    """Rule id, alert name or system event name; ``manual`` for an operator's request."""
    requested: RequestedAction = "failover"
    """A manual event may ask for a dry run (``plan``); alarms always ask for a failover."""


@dataclass(frozen=True)
class Triage:
    disposition: Triaged
    reason: str


def triage(signal: Signal, settings: Settings) -> Triage:
    """Decide: fail over (``act``), only plan (``plan``), or do nothing (``noop``), with the reason."""
    if not signal.firing:
        return Triage("noop", signal.not_firing)
    # an operator's request is not an alarm level: the level floor applies to alarms only
    if signal.kind != "manual" and not settings.level_at_least(signal.level):
        if signal.level is None:
            return Triage("noop", f"alarm level unknown; only {settings.min_level} and above fail over")
        return Triage("noop", f"level {signal.level} is below FAILOVER_MIN_LEVEL {settings.min_level}")
    region = signal.region
    if region is None:
        return Triage("noop", signal.region_problem)
    if region == settings.dr_region:
        return Triage("noop", f"region {region} is the DR region {settings.dr_region}; nothing to fail over into")
    if region not in settings.primary_regions:
        return Triage("noop", f"region {region} is not a watched primary region")
    what = signal.subject
    if signal.requested == "plan":
        return Triage("plan", f"{what}: dry run requested for primary region {region}")
    if settings.mode == "plan-only":
        return Triage("plan", f"kill switch: FAILOVER_MODE=plan-only, so {what} in {region} only produces a plan")
    return Triage("act", f"{what} in watched primary region {region}")
