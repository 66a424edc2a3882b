"""Payload model -> :class:`~replica_failover.intake.triage.Signal` -> triage -> Incident.

One builder per source model. Each reads and checks the fields it needs, resolves the region, hands
the resulting Signal to :func:`~replica_failover.intake.triage.triage` and records its answer with
the episode's incident key.
"""

from __future__ import annotations

from typing import Final

from pydantic import ValidationError

from replica_failover.approval import Approval
from replica_failover.config import Settings, is_group_id, is_pair_id
from replica_failover.errors import INVALID_FIELD, EventError
from replica_failover.incident import Incident, Source, digest
from replica_failover.intake import fields
from replica_failover.intake.envelopes import Envelope
from replica_failover.intake.payloads import ManualEvent, SystemEvent, ThresholdAlert
from replica_failover.intake.region import RegionCandidates, region_dimensions, resolve_region
from replica_failover.intake.triage import Signal, triage

_FIRING_STATES: Final = frozenset({"ALERT", "ALARM"})
# System-event statuses that mean "it is not going to happen after all".
_RESOLVED_STATUSES: Final = frozenset({"CANCELED", "CANCELLED", "AVOIDED"})


def check_threshold_fields(alert: ThresholdAlert) -> None:
    """The settings-free checks of :func:`from_threshold`: what the webhook can refuse on its own."""
    fields.account(alert.user_id, "userId")
    fields.region(alert.region_id, "regionId")
    fields.dimensions(alert.dimensions)
    fields.legacy_level(alert.expression)


def _source(envelope: Envelope | None, kind: Source) -> Source:
    return envelope.source if envelope else kind


def from_threshold(
    alert: ThresholdAlert, settings: Settings, expected: str | None, envelope: Envelope | None
) -> Incident:
    account = fields.check_accounts(
        expected, [fields.account(alert.user_id, "userId"), *(envelope.accounts if envelope else ())]
    )
    dims = fields.dimensions(alert.dimensions)
    env_arn = fields.arn(envelope.arn, "subject") if envelope else None
    region, origin, problem = resolve_region(
        RegionCandidates(
            mapped=settings.region_for_alarm(alert.rule_id, alert.alert_name),
            explicit=fields.region(alert.region_id, "regionId"),
            dimensions=region_dimensions(dims),
            arn=env_arn.region if env_arn else None,
            envelope=envelope.region if envelope else None,
        )
    )

    state = alert.alert_state or ""
    firing = state in _FIRING_STATES
    if firing:
        not_firing = ""
    elif state == "OK":
        not_firing = "alarm resolved (alertState OK); nothing to do"
    elif state == "INSUFFICIENT_DATA":
        # missing data is not evidence of an outage: failing over on it would be a guess
        not_firing = "alarm has INSUFFICIENT_DATA; not treated as an outage"
    else:
        not_firing = f"alertState {state} is not a firing state"
    # triggerLevel "OK" (or anything new) maps to None: never enough to act on
    level = fields.as_level(alert.trigger_level) if alert.trigger_level else fields.legacy_level(alert.expression)
    alarm = alert.rule_id or alert.alert_name
    instances = {value for key, value in dims if key.lower() == "instanceid"}
    signal = Signal(
        kind="threshold",
        subject=f"alarm {alarm or '(unnamed)'} {state}",
        firing=firing,
        not_firing=not_firing,
        level=level,
        region=region,
        region_origin=origin,
        region_problem=problem,
        resource_id=next(iter(instances)) if len(instances) == 1 else None,
        alarm=alarm,
    )
    decided = triage(signal, settings)
    # transId and timestamp change with every notification, so they stay out of the key.
    key = "thr-" + digest(
        "threshold",
        alert.user_id,
        alert.rule_id or alert.alert_name,
        alert.metric_project or alert.namespace,
        alert.metric_name,
        dims,
        region,
    )
    return Incident(
        source=_source(envelope, "threshold"),
        kind="threshold",
        disposition=decided.disposition,
        reason=decided.reason,
        primary_region=region,
        region_origin=origin,
        dr_region=settings.dr_region,
        level=level if firing else None,
        firing=firing,
        account_id=account,
        alarm=alarm,
        incident_key=key,
        notification_id=(envelope.notification_id if envelope else None) or alert.trans_id,
        observed_at=fields.epoch(alert.timestamp) or (envelope.observed_at if envelope else None),
        requested_action="failover",
        dimensions=dims,
    )


def from_system(event: SystemEvent, settings: Settings, expected: str | None, envelope: Envelope | None) -> Incident:
    arn = fields.arn(event.resource_id, "resourceId")
    env_arn = fields.arn(envelope.arn, "subject") if envelope else None
    account = fields.check_accounts(
        expected,
        [
            fields.account(event.user_id, "userId"),
            arn.account if arn else None,
            *(envelope.accounts if envelope else ()),
        ],
    )
    event_id = fields.content_text(event.content, "eventId")
    name = event.name or ""
    # name is <ResourceType>:<Event>[:<Status>]; content.eventStatus says the same on newer events
    name_parts = name.split(":")
    status = fields.content_text(event.content, "eventStatus") or (name_parts[2] if len(name_parts) >= 3 else None)
    region, origin, problem = resolve_region(
        RegionCandidates(
            mapped=settings.region_for_alarm(event.name, f"{event.product}:{event.name}"),
            explicit=fields.region(event.region_id, "regionId"),
            arn=(arn.region if arn else None) or (env_arn.region if env_arn else None),
            envelope=envelope.region if envelope else None,
        )
    )
    level = fields.as_level(event.level)
    if status is not None and status.upper() in _RESOLVED_STATUSES:
        firing, not_firing = False, f"system event status {status}: nothing is going to happen"
    elif level is None:
        firing = False
        not_firing = f"system event level {event.level or '(missing)'} is not INFO, WARN or CRITICAL"
    else:
        firing, not_firing = True, ""
    signal = Signal(
        kind="system-event",
        subject=f"{event.product} system event {name}",
        firing=firing,
        not_firing=not_firing,
        level=level,
        region=region,
        region_origin=origin,
        region_problem=problem,
        resource_id=event.resource_id,
        alarm=name,
    )
    decided = triage(signal, settings)
    if event_id:
        key = "sys-" + digest("system-event", event_id)
    else:
        # no event id: identify the episode by what happened to which resource, minus the status
        key = "sys-" + digest(
            "system-event", event.user_id, event.product, ":".join(name_parts[:2]), event.resource_id, region
        )
    observed = fields.iso_time(event.event_time) or fields.iso_time(fields.content_text(event.content, "publishTime"))
    return Incident(
        source=_source(envelope, "system-event"),
        kind="system-event",
        disposition=decided.disposition,
        reason=decided.reason,
        primary_region=region,
        region_origin=origin,
        dr_region=settings.dr_region,
        level=level if firing else None,
        firing=firing,
        account_id=account,
        alarm=name,
        incident_key=key,
        notification_id=(envelope.notification_id if envelope else None) or event.id or event_id,
        observed_at=observed or (envelope.observed_at if envelope else None),
        requested_action="failover",
    )


def from_manual(event: ManualEvent, settings: Settings, expected: str | None) -> Incident:
    account = fields.check_accounts(expected, [fields.account(event.account_id, "accountId")])
    region = fields.region(event.primary_region, "primaryRegion")
    if event.action == "failover" and region is None:
        # never infer the region for a human-issued failover: it must be stated
        raise EventError(INVALID_FIELD, "a manual failover must name primaryRegion explicitly")
    pair_ids = fields.id_tuple(event.pair_ids, is_pair_id, "pairIds", "pair-cn-...")
    group_ids = fields.id_tuple(event.group_ids, is_group_id, "groupIds", "pg-...")
    incident_id = fields.incident_id(event.incident_id)
    approval = _approval(event)
    signal = Signal(
        kind="manual",
        subject="manual failover",
        firing=True,
        region=region,
        region_origin="manual" if region else None,
        region_problem="manual plan without primaryRegion: nothing to plan",
        alarm="manual",
        requested=event.action,
    )
    decided = triage(signal, settings)
    key = incident_id or "man-" + digest("manual", region, pair_ids, group_ids)
    return Incident(
        source="manual",
        kind="manual",
        disposition=decided.disposition,
        reason=decided.reason,
        primary_region=region,
        region_origin=signal.region_origin,
        dr_region=settings.dr_region,
        level=None,
        firing=True,
        account_id=account,
        alarm="manual",
        incident_key=key,
        notification_id=None,
        observed_at=None,
        pair_ids=pair_ids,
        group_ids=group_ids,
        requested_action=event.action,
        operator_reason=event.reason,
        approval=approval,
    )


def _approval(event: ManualEvent) -> Approval | None:
    """The event's approval, checked for shape here (its signature is checked against the plan later)."""
    if event.approval is None:
        return None
    if event.action != "failover":
        raise EventError(INVALID_FIELD, "approval goes with action failover, not a dry run")
    try:
        return Approval.model_validate(event.approval)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "approval"
        raise EventError(INVALID_FIELD, f"approval: {where}: {first.get('msg', 'invalid')}") from None
