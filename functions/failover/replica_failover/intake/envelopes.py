"""The wrappers an alarm can arrive in: EventBridge (CloudEvents 1.0) and MNS topic notifications.

Each ``unwrap_*`` returns the inner payload (still to be dispatched) and an :class:`Envelope`: what
the wrapper itself says about the alarm (delivery id, account, region, resource ARN, time).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from replica_failover.errors import UNKNOWN_SHAPE, EventError
from replica_failover.intake import fields
from replica_failover.intake.decode import decode_text, json_type, quote
from replica_failover.intake.payloads import SHAPE_NAMES, Name, Text, shape, validate

# EventBridge ``type``: <product>:<channel or resource type>:<event>, e.g. ecs:Instance:SystemFailure.Reboot
_EB_TYPE_RE: Final = re.compile(r"^([a-z][a-z0-9-]{0,31}):([A-Za-z][A-Za-z0-9]{0,63}):(.{1,200})$", re.DOTALL)
_EB_ALERT_WEBHOOK: Final = "cms:CloudMonitor:AlertWebHook"
_EB_AUDIT_CHANNELS: Final = frozenset({"ActionTrail", "Config"})  # API-call and config records, never alarms


class CloudEventEnvelope(BaseModel):
    """EventBridge CloudEvents 1.0 envelope (Alibaba extension attributes included)."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    specversion: Literal["1.0"]
    id: Name = Field(...)
    source: Name = Field(...)
    type: Name = Field(...)
    subject: Text = None
    time: Name = None
    aliyunaccountid: Name = None
    aliyunregionid: Name = None
    data: Any = None


class MnsNotification(BaseModel):
    """FC MNS topic trigger, NotifyContentFormat=JSON. ``Message`` is the published body."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=False, defer_build=True)

    topic_owner: Name = Field(None, alias="TopicOwner")
    topic_name: Name = Field(None, alias="TopicName")
    subscriber: Name = Field(None, alias="Subscriber")
    subscription_name: Name = Field(None, alias="SubscriptionName")
    message_id: Name = Field(None, alias="MessageId")
    message_md5: Name = Field(None, alias="MessageMD5")
    message_tag: Name = Field(None, alias="MessageTag")
    message: StrictStr = Field(alias="Message")
    publish_time: Any = Field(None, alias="PublishTime")


@dataclass(frozen=True)
class Envelope:
    """What a wrapper (EventBridge / MNS) adds to the inner alarm."""

    source: Literal["eventbridge", "mns"]
    notification_id: str | None
    accounts: tuple[str | None, ...]
    region: str | None
    arn: str | None
    observed_at: float | None


def unwrap_eventbridge(payload: Mapping[str, Any], limit: int, layers: int) -> tuple[dict[str, Any], Envelope]:
    event = validate(CloudEventEnvelope, payload)
    inner = _eventbridge_data(event, limit, layers)
    return inner, Envelope(
        source="eventbridge",
        notification_id=event.id,
        accounts=(fields.account(event.aliyunaccountid, "aliyunaccountid"),),
        region=fields.region(event.aliyunregionid, "aliyunregionid"),
        arn=event.subject,
        observed_at=fields.iso_time(event.time),
    )


def unwrap_mns(payload: Mapping[str, Any], limit: int, layers: int) -> tuple[dict[str, Any], Envelope]:
    note = validate(MnsNotification, payload)
    inner = _inner(note.message, limit, layers, "MNS Message")
    return inner, Envelope(
        source="mns",
        notification_id=note.message_id,
        # TopicOwner is the topic's account, not necessarily the alarm's: not compared.
        accounts=(),
        region=None,
        arn=None,
        observed_at=fields.epoch(note.publish_time),
    )


def _eventbridge_data(event: CloudEventEnvelope, limit: int, layers: int) -> dict[str, Any]:
    """The alarm inside an EventBridge event, by ``type``:

    - ``cms:CloudMonitor:AlertWebHook``: ``data`` is a threshold-alert callback;
    - ``<product>:CloudMonitor:<event>``: ``data`` is a whole CloudMonitor system event;
    - ``<product>:<resource type>:<event>`` (native, e.g. ``ecs:Instance:SystemFailure.Reboot``):
      ``data`` is the event content, read as a system event named ``<resource type>:<event>``;
    - ``<product>:ActionTrail:*`` and ``<product>:Config:*`` are audit records and are refused.
    """
    match = _EB_TYPE_RE.fullmatch(event.type or "")
    channel = match.group(2) if match else None
    if channel in _EB_AUDIT_CHANNELS:
        raise EventError(UNKNOWN_SHAPE, f"EventBridge type {quote(event.type or '')} is an audit record, not an alarm")
    data = _inner(event.data, limit, layers, "EventBridge data")
    found = shape(data)
    if event.type == _EB_ALERT_WEBHOOK and found not in ("threshold", "system-event"):
        raise EventError(
            UNKNOWN_SHAPE, f"{_EB_ALERT_WEBHOOK} data is not a CloudMonitor alert callback ({SHAPE_NAMES[found]})"
        )
    if match is not None and channel != "CloudMonitor" and found == "unknown":
        return _native_system_event(match.group(1), match.group(2), match.group(3), data, event.subject)
    return data


def _native_system_event(
    product: str, resource_type: str, event_name: str, data: Mapping[str, Any], subject: str | None
) -> dict[str, Any]:
    """A native service event's ``data`` (the event content) as the system event CloudMonitor would send.

    Tolerant on purpose: the level may be ``level`` or ``eventLevel``, the content may sit in
    ``data.content`` or be ``data`` itself, and the resource ARN may be ``data.resourceId`` or the
    envelope's ``subject``. Nothing is invented: without a level the event is never acted on.
    """
    nested = data.get("content")
    content: Mapping[str, Any] = nested if isinstance(nested, dict) else data
    status = content.get("eventStatus")
    name = f"{resource_type}:{event_name}"
    if isinstance(status, str) and status.strip() and ":" not in event_name:
        name += f":{status.strip()}"
    resource_id = data.get("resourceId")
    if not (isinstance(resource_id, str) and resource_id.startswith("acs:")) and subject and subject.startswith("acs:"):
        resource_id = subject  # a bare instance id carries no region or account; the ARN does
    level = data.get("level")
    synthesised = {
        "product": data.get("product") or product.upper(),
        "name": name,
        "level": data.get("eventLevel") if level is None else level,
        "resourceId": resource_id,
        "regionId": data.get("regionId"),
        "userId": data.get("userId"),
        "eventTime": data.get("eventTime"),
        "content": dict(content),
    }
    return {key: value for key, value in synthesised.items() if value is not None}


def _inner(data: object, limit: int, layers: int, what: str) -> dict[str, Any]:
    if isinstance(data, dict):
        return data
    if isinstance(data, str):
        return decode_text(data, limit, layers=layers + 1)
    raise EventError(UNKNOWN_SHAPE, f"{what} must be an object or a string, got {json_type(data)}")
