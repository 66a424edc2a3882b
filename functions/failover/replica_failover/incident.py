"""The Incident: what one invocation payload means, independent of the channel that delivered it.

It is the first stage of event -> Incident -> Plan -> Execution -> Result and holds only validated,
ASCII-safe identifiers, so later stages can pass them to API calls without re-checking.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from replica_failover.approval import Approval
from replica_failover.config import Level
from replica_failover.errors import EventError

# "unknown" only appears on rejected payloads (see Incident.for_rejection)
Source = Literal["threshold", "system-event", "eventbridge", "mns", "manual", "unknown"]
Kind = Literal["threshold", "system-event", "manual", "unknown"]
Disposition = Literal["act", "plan", "noop", "reject"]
RequestedAction = Literal["failover", "plan"]
RegionOrigin = Literal["field", "dimensions", "arn", "alarm-map", "envelope", "manual"]


class Incident(BaseModel):
    """One alarm notification (or manual request), normalised. Frozen and hashable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Source
    """Delivery channel: the outermost shape (``eventbridge``/``mns`` for envelopes)."""
    kind: Kind
    """Shape of the innermost payload: ``threshold``, ``system-event`` or ``manual``."""
    disposition: Disposition
    """``act``: fail over; ``plan``: dry run only; ``noop``: nothing to do; ``reject``: invalid input."""
    reason: str
    """Why this disposition, for humans and logs."""
    primary_region: str | None
    """The unhealthy (watched primary) region, or None when it could not be determined."""
    region_origin: RegionOrigin | None = None
    """Where :attr:`primary_region` came from."""
    dr_region: str
    level: Level | None = None
    """Alarm level (CRITICAL/WARN/INFO); None for manual events, resolved alarms and unknown levels."""
    firing: bool
    """True while the alarm is active (ALERT/ALARM, or a system event); manual events count as firing."""
    account_id: str | None = None
    """Account the event belongs to, when it says so."""
    alarm: str | None = None
    """Rule id / alert name / system event name / ``manual``."""
    incident_key: str
    """Stable id of this alarm episode: identical across re-notifications of the same alarm."""
    notification_id: str | None = None
    """Per-delivery id (transId, event id, CloudEvents id, MNS MessageId)."""
    observed_at: float | None = None
    """When the alarm was observed, epoch seconds."""
    pair_ids: tuple[str, ...] = ()
    """Manual restriction to these replica pairs (empty: no restriction)."""
    group_ids: tuple[str, ...] = ()
    """Manual restriction to these replica groups (empty: no restriction)."""
    requested_action: RequestedAction = "failover"
    dimensions: tuple[tuple[str, str], ...] = ()
    """Normalised (sorted) alarm dimensions, for logs."""
    operator_reason: str | None = None
    """The free-text ``reason`` of a manual event."""
    approval: Approval | None = Field(default=None, exclude=True)
    """A manual event's signed approval (checked against the plan before any write; kept out of dumps)."""

    @classmethod
    def for_rejection(cls, error: EventError, *, dr_region: str, source: Source = "unknown") -> Incident:
        """An Incident recording a rejected payload, so the handler can log every outcome the same way.

        The key is derived from the error only, never from the (untrusted) input.
        """
        return cls(
            source=source,
            kind="unknown",
            disposition="reject",
            reason=f"{error.reason_code}: {error.message}"[:1024],
            primary_region=None,
            dr_region=dr_region,
            firing=False,
            incident_key="rej-" + digest(error.reason_code, error.message),
            requested_action="plan",
        )


def digest(*parts: object) -> str:
    """32 hex chars of SHA-256 over a canonical JSON encoding of ``parts`` (stable across runs)."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(blob.encode("ascii")).hexdigest()[:32]
