"""Turn an invocation payload into an :class:`~replica_failover.incident.Incident`.

Accepted shapes (see docs in the reference notes, section 2):

a. CloudMonitor threshold-alert callback, form-encoded or JSON (``alertState``, ``triggerLevel``, ...).
b. CloudMonitor system event (``product``, ``name``, ``level``, ``resourceId`` ARN, ``content.eventId``).
c. EventBridge CloudEvents 1.0 envelope around a or b (``data`` as an object or a JSON string), including
   ``cms:CloudMonitor:AlertWebHook`` events (``data`` is a threshold-alert callback) and native service
   events such as ``ecs:Instance:SystemFailure.Reboot`` whose ``data`` is the event content rather than
   a whole system event: those are read as a system event named after their ``type``.
d. MNS topic-trigger notification (JSON format) around a or b; the message may be base64. STREAM
   format delivers the bare message body, which is handled as a/b directly (base64 included).
e. Manual ``{"action": "plan"|"failover", "primaryRegion": ..., ...}``.

Everything that is not one of those, or is malformed, oversized, too deep, repeats a JSON key or form
field, or carries identifiers that do not look like identifiers, raises
:class:`~replica_failover.errors.EventError`. :func:`parse_alert_callback` is the webhook's stricter
intake: a threshold-alert callback and nothing else. Nothing here
performs I/O; only stdlib and pydantic are imported because this runs on the cold-start path.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictStr, ValidationError
from pydantic.alias_generators import to_camel

from replica_failover.config import (
    LEVEL_RANK,
    MAX_IDS_PER_LIST,
    Level,
    Settings,
    is_group_id,
    is_pair_id,
    is_region_id,
)
from replica_failover.errors import (
    ACCOUNT_MISMATCH,
    BAD_ENCODING,
    INVALID_FIELD,
    MALFORMED_JSON,
    TOO_DEEP,
    TOO_LARGE,
    UNKNOWN_SHAPE,
    EventError,
)
from replica_failover.incident import Disposition, Incident, Kind, RegionOrigin, Source, digest

__all__ = [
    "CloudEventEnvelope",
    "ManualEvent",
    "MnsNotification",
    "SystemEvent",
    "ThresholdAlert",
    "parse_alert_callback",
    "parse_event",
]

# Structural limits. Real payloads are ~2 KB and at most ~5 levels deep (envelope > data > content).
MAX_DEPTH: Final = 16
MAX_NODES: Final = 5_000
MAX_KEY_LEN: Final = 256
MAX_FORM_FIELDS: Final = 256
MAX_UNWRAP: Final = 3  # base64 / envelope layers decoded before we give up
MAX_DIMENSIONS: Final = 64

_FIRING_STATES: Final = frozenset({"ALERT", "ALARM"})
# System-event statuses that mean "it is not going to happen after all".
_RESOLVED_STATUSES: Final = frozenset({"CANCELED", "CANCELLED", "AVOIDED"})
# Legacy numeric alarm levels in the old callback's ``expression`` list (2 = critical ... 4 = info).
_NUMERIC_LEVELS: Final[Mapping[int, Level]] = {2: "CRITICAL", 3: "WARN", 4: "INFO"}
_ACCOUNT_RE: Final = re.compile(r"^[0-9*]{1,32}$")  # docs mask digits with '*'
_INCIDENT_ID_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_TOKEN_RE: Final = re.compile(r"^[A-Za-z_]{1,32}$")
_BASE64_RE: Final = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
_REGION_DIM_KEYS: Final = frozenset({"region", "regionid"})
# A backslash pair, a quote or a bracket: enough to measure JSON nesting without recursing.
_JSON_TOKENS: Final = re.compile(r'\\.|["\[\]{}]', re.DOTALL)
# EventBridge ``type``: <product>:<channel or resource type>:<event>, e.g. ecs:Instance:SystemFailure.Reboot
_EB_TYPE_RE: Final = re.compile(r"^([a-z][a-z0-9-]{0,31}):([A-Za-z][A-Za-z0-9]{0,63}):(.{1,200})$", re.DOTALL)
_EB_ALERT_WEBHOOK: Final = "cms:CloudMonitor:AlertWebHook"
_EB_AUDIT_CHANNELS: Final = frozenset({"ActionTrail", "Config"})  # API-call and config records, never alarms
_SHAPE_NAMES: Final[Mapping[str, str]] = {
    "eventbridge": "an EventBridge event",
    "mns": "an MNS notification",
    "manual": "a manual event",
    "system-event": "a CloudMonitor system event",
    "threshold": "a threshold-alert callback",
    "unknown": "not a CloudMonitor alarm",
}

_M = TypeVar("_M", bound=BaseModel)


# --------------------------------------------------------------------------------------------------
# field types


def _nullable_text(value: Any) -> Any:
    """CloudMonitor sends every value as a string and missing ones as the literal ``"null"``."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("expected a string")
    if isinstance(value, int | float):
        # JSON-bodied callbacks may carry numbers (timestamp, userId)
        return str(value)
    if isinstance(value, str):
        stripped = value.strip()
        return None if stripped in ("", "null", "NULL", "None") else stripped
    raise ValueError("expected a string")


def _printable(value: str) -> str:
    # Reject control characters: these strings end up in log lines and must not forge new ones.
    if not value.isprintable():
        raise ValueError("contains control characters")
    return value


def _token(value: str | None) -> str | None:
    if value is not None and _TOKEN_RE.fullmatch(value) is None:
        raise ValueError("expected a short upper-case word like ALERT or CRITICAL")
    return None if value is None else value.upper()


_Name = Annotated[
    Annotated[str, Field(max_length=256), AfterValidator(_printable)] | None, BeforeValidator(_nullable_text)
]
_Text = Annotated[
    Annotated[str, Field(max_length=2048), AfterValidator(_printable)] | None, BeforeValidator(_nullable_text)
]
_Token = Annotated[str | None, BeforeValidator(_token), BeforeValidator(_nullable_text)]
_IdText = Annotated[StrictStr, Field(max_length=80)]


# defer_build: pydantic builds a model's validator on its first use, not at import. An invocation
# parses one or two of these five shapes, so the others never cost anything on the cold-start path.
class _Lenient(BaseModel):
    # Upstream adds fields over time (customLabels, ...): ignore unknown keys rather than reject.
    model_config = ConfigDict(
        extra="ignore", frozen=True, alias_generator=to_camel, populate_by_name=False, defer_build=True
    )


class ThresholdAlert(_Lenient):
    """CloudMonitor threshold (metric) alert callback; every value arrives as a string."""

    alert_state: _Token = Field(...)
    trigger_level: _Token = None
    pre_trigger_level: _Token = None
    alert_name: _Name = None
    rule_id: _Name = None
    user_id: _Name = None
    region_id: _Name = None
    trans_id: _Name = None
    metric_name: _Name = None
    metric_project: _Name = None
    namespace: _Name = None
    instance_name: _Name = None
    dimensions: Any = None
    timestamp: Any = None
    expression: Any = None


class SystemEvent(_Lenient):
    """CloudMonitor system event (ECS/EBS/... events delivered to FC, MNS or EventBridge)."""

    product: _Name = Field(...)
    name: _Name = Field(...)
    level: _Token = None
    resource_id: _Text = None
    region_id: _Name = None
    user_id: _Name = None
    id: _Name = None
    event_time: _Name = None
    status: _Name = None
    content: dict[str, Any] | None = None


class CloudEventEnvelope(BaseModel):
    """EventBridge CloudEvents 1.0 envelope (Alibaba extension attributes included)."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    specversion: Literal["1.0"]
    id: _Name = Field(...)
    source: _Name = Field(...)
    type: _Name = Field(...)
    subject: _Text = None
    time: _Name = None
    aliyunaccountid: _Name = None
    aliyunregionid: _Name = None
    data: Any = None


class MnsNotification(BaseModel):
    """FC MNS topic trigger, NotifyContentFormat=JSON. ``Message`` is the published body."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=False, defer_build=True)

    topic_owner: _Name = Field(None, alias="TopicOwner")
    topic_name: _Name = Field(None, alias="TopicName")
    subscriber: _Name = Field(None, alias="Subscriber")
    subscription_name: _Name = Field(None, alias="SubscriptionName")
    message_id: _Name = Field(None, alias="MessageId")
    message_md5: _Name = Field(None, alias="MessageMD5")
    message_tag: _Name = Field(None, alias="MessageTag")
    message: StrictStr = Field(alias="Message")
    publish_time: Any = Field(None, alias="PublishTime")


class ManualEvent(BaseModel):
    """Operator-issued request. Strict: a typo such as ``pairIDs`` must fail, not widen the blast radius."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=False, defer_build=True
    )

    action: Literal["plan", "failover"]
    primary_region: StrictStr | None = Field(None, max_length=64)
    pair_ids: list[_IdText] | None = Field(None, max_length=MAX_IDS_PER_LIST)
    group_ids: list[_IdText] | None = Field(None, max_length=MAX_IDS_PER_LIST)
    reason: Annotated[StrictStr, Field(min_length=1, max_length=512), AfterValidator(_printable)]
    incident_id: StrictStr | None = Field(None, max_length=64)
    account_id: StrictStr | None = Field(None, max_length=32)


# --------------------------------------------------------------------------------------------------
# public entry point


def parse_event(raw: bytes | str | Mapping[str, Any], settings: Settings, *, account_id: str | None) -> Incident:
    """Parse one invocation payload. ``account_id`` is the function's account (``context.account_id``).

    Returns an Incident whose ``disposition`` says what to do; raises EventError for rejected input.
    """
    expected_account = account_id.strip() if account_id else None
    payload = _load(raw, settings)
    return _dispatch(payload, settings, expected_account, envelope=None, layers=0)


def parse_alert_callback(body: bytes, content_type: str, *, limit: int) -> dict[str, Any]:
    """The webhook's intake: a CloudMonitor threshold-alert callback, form-encoded or JSON, and nothing else.

    Returns the callback as a JSON object, checked as :func:`parse_event` would check it before any
    decision (shape, field syntax, dimensions); raises EventError for everything else, including
    manual, system, EventBridge and MNS events. Deciding needs the function's settings and is left to it.
    """
    if len(body) > limit:
        raise EventError(TOO_LARGE, f"body is {len(body)} bytes; the limit is {limit}")
    try:
        text = body.decode("utf-8").lstrip("\ufeff").strip()
    except UnicodeDecodeError:
        raise EventError(BAD_ENCODING, "body is not valid UTF-8") from None
    if not text:
        raise EventError(MALFORMED_JSON, "body is empty")
    parsed: object = _json(text) if "json" in content_type.lower() or text[0] in "[{" else _form(text)
    _check_tree(parsed, limit)
    if not isinstance(parsed, dict):
        raise EventError(UNKNOWN_SHAPE, f"expected a JSON object, got {_json_type(parsed)}")
    shape = _shape(parsed)
    if shape != "threshold":
        raise EventError(
            UNKNOWN_SHAPE, f"only CloudMonitor threshold-alert callbacks are accepted; this is {_SHAPE_NAMES[shape]}"
        )
    _check_threshold_fields(_validate(ThresholdAlert, parsed))
    return parsed


# --------------------------------------------------------------------------------------------------
# decoding


def _load(raw: object, settings: Settings) -> dict[str, Any]:
    limit = settings.max_event_bytes
    if isinstance(raw, Mapping):
        _check_tree(raw, limit)
        return dict(raw)
    if isinstance(raw, bytes | bytearray | memoryview):
        data = bytes(raw)
        # size first: never spend parse time on an oversized body
        if len(data) > limit:
            raise EventError(TOO_LARGE, f"payload is {len(data)} bytes; the limit is {limit}")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise EventError(BAD_ENCODING, "payload is not valid UTF-8") from None
    elif isinstance(raw, str):
        if len(raw) > limit:  # each character is at least one byte
            raise EventError(TOO_LARGE, f"payload is over {limit} bytes")
        try:
            size = len(raw.encode("utf-8"))
        except UnicodeEncodeError:
            raise EventError(BAD_ENCODING, "payload is not valid UTF-8 text") from None
        if size > limit:
            raise EventError(TOO_LARGE, f"payload is {size} bytes; the limit is {limit}")
        text = raw
    else:
        raise EventError(UNKNOWN_SHAPE, f"unsupported payload type {type(raw).__name__}")
    return _decode_text(text, limit, layers=0)


def _decode_text(text: str, limit: int, *, layers: int) -> dict[str, Any]:
    """JSON, form-encoded or base64 text -> a checked JSON object."""
    body = text.strip().lstrip("\ufeff").strip()
    if not body:
        raise EventError(MALFORMED_JSON, "payload is empty")
    parsed: object
    if body[0] in '{["':
        parsed = _json(body)
    elif _looks_base64(body):
        if layers >= MAX_UNWRAP:
            raise EventError(TOO_DEEP, "too many nested encodings")
        try:
            decoded = base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise EventError(BAD_ENCODING, "base64 payload does not decode to UTF-8 text") from None
        return _decode_text(decoded, limit, layers=layers + 1)
    elif "=" in body:
        parsed = _form(body)
    else:
        try:  # a bare JSON scalar (number, true, null) is valid JSON of the wrong shape
            parsed = _loads(body)
        except ValueError:
            raise EventError(MALFORMED_JSON, "payload is neither JSON, form-encoded nor base64") from None
    # depth and size first: whether json.loads itself gives up on deep nesting (RecursionError) depends
    # on the Python version (3.11 does at ~5,000 levels, 3.13 does not), the answer here must not
    _check_tree(parsed, limit)
    if not isinstance(parsed, dict):
        raise EventError(UNKNOWN_SHAPE, f"expected a JSON object, got {_json_type(parsed)}")
    return parsed


def _looks_base64(body: str) -> bool:
    compact = "".join(body.split())
    return len(compact) >= 8 and len(compact) % 4 == 0 and _BASE64_RE.fullmatch(compact) is not None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _json(body: str) -> object:
    try:
        return _loads(body)
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, int digit limit
        raise EventError(MALFORMED_JSON, f"invalid JSON: {str(exc)[:120]}") from None


def _loads(text: str) -> object:
    """json.loads for untrusted text: depth measured first, repeated keys rejected, NaN refused.

    Raises EventError for depth and repeated keys, ValueError for anything else json rejects.
    """
    _check_json_depth(text)
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except RecursionError:  # not reachable after the depth check; kept as a backstop
        raise EventError(TOO_DEEP, "JSON is nested too deeply") from None


def _check_json_depth(text: str) -> None:
    # json.loads recurses once per level and, depending on the Python version, either raises
    # RecursionError or keeps going; the answer must not depend on that, so measure the depth first.
    depth = 0
    in_string = False
    for match in _JSON_TOKENS.finditer(text):
        piece = match.group()
        if piece == '"':
            in_string = not in_string
        elif in_string or len(piece) == 2:  # inside a string, or an escape pair
            continue
        elif piece in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise EventError(TOO_DEEP, f"JSON is nested deeper than {MAX_DEPTH} levels")
        else:
            depth -= 1


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            # last-wins would let a second region or state hide behind the first one a reviewer reads
            raise EventError(INVALID_FIELD, f"JSON key {_quote(key)} appears more than once")
        out[key] = value
    return out


def _form(body: str) -> dict[str, str]:
    try:
        pairs = urllib.parse.parse_qsl(
            body, keep_blank_values=True, encoding="utf-8", errors="strict", max_num_fields=MAX_FORM_FIELDS
        )
    except UnicodeDecodeError:
        raise EventError(BAD_ENCODING, "form field is not valid UTF-8 after percent-decoding") from None
    except ValueError:
        raise EventError(TOO_LARGE, f"form body has more than {MAX_FORM_FIELDS} fields") from None
    if not pairs:
        raise EventError(MALFORMED_JSON, "form-encoded body has no fields")
    out: dict[str, str] = {}
    for key, value in pairs:
        if key in out:
            # an ambiguous duplicate could smuggle a second region or state past a reviewer
            raise EventError(INVALID_FIELD, f"form field {_quote(key)} appears more than once")
        out[key] = value
    return out


def _json_type(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def _check_tree(root: object, limit: int) -> None:
    """Bound depth, node count, key length and total text of a decoded payload (iteratively)."""
    stack: list[tuple[object, int]] = [(root, 1)]
    nodes = 0
    chars = 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise EventError(TOO_LARGE, f"payload has more than {MAX_NODES} values")
        if depth > MAX_DEPTH:
            raise EventError(TOO_DEEP, f"payload is nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, Mapping):
            for key, value in node.items():
                if not isinstance(key, str):
                    raise EventError(INVALID_FIELD, "object keys must be strings")
                if len(key) > MAX_KEY_LEN:
                    raise EventError(INVALID_FIELD, f"an object key is longer than {MAX_KEY_LEN} characters")
                chars += len(key)
                stack.append((value, depth + 1))
        elif isinstance(node, list | tuple):
            stack.extend((item, depth + 1) for item in node)
        elif isinstance(node, str):
            chars += len(node)
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise EventError(INVALID_FIELD, "non-finite number")
        elif node is not None and not isinstance(node, int):  # bool is an int
            raise EventError(INVALID_FIELD, f"unsupported value type {type(node).__name__}")
        if chars > limit:
            raise EventError(TOO_LARGE, f"payload text exceeds {limit} characters")


# --------------------------------------------------------------------------------------------------
# dispatch


@dataclass(frozen=True)
class _Envelope:
    """What a wrapper (EventBridge / MNS) adds to the inner alarm."""

    source: Source
    notification_id: str | None
    accounts: tuple[str | None, ...]
    region: str | None
    arn: str | None
    observed_at: float | None


def _shape(payload: Mapping[str, Any]) -> str:
    if "specversion" in payload:
        return "eventbridge"
    if "TopicOwner" in payload or ("Message" in payload and "MessageId" in payload):
        return "mns"
    if "action" in payload:
        return "manual"
    if "alertState" in payload:
        return "threshold"
    if "product" in payload and "name" in payload:
        return "system-event"
    if "alertName" in payload or "ruleId" in payload:
        return "threshold"  # missing alertState is then reported as an invalid field
    return "unknown"


def _dispatch(
    payload: dict[str, Any],
    settings: Settings,
    expected_account: str | None,
    *,
    envelope: _Envelope | None,
    layers: int,
) -> Incident:
    shape = _shape(payload)
    if envelope is not None and shape not in ("threshold", "system-event"):
        raise EventError(UNKNOWN_SHAPE, f"{envelope.source} payload must wrap a CloudMonitor alarm or system event")
    if shape == "threshold":
        return _from_threshold(_validate(ThresholdAlert, payload), settings, expected_account, envelope)
    if shape == "system-event":
        return _from_system(_validate(SystemEvent, payload), settings, expected_account, envelope)
    if shape == "manual":
        return _from_manual(_validate(ManualEvent, payload), settings, expected_account)
    if layers >= MAX_UNWRAP:
        raise EventError(TOO_DEEP, "too many nested envelopes")
    if shape == "eventbridge":
        cloud_event = _validate(CloudEventEnvelope, payload)
        inner = _eventbridge_data(cloud_event, settings, layers)
        env = _Envelope(
            source="eventbridge",
            notification_id=cloud_event.id,
            accounts=(_account(cloud_event.aliyunaccountid, "aliyunaccountid"),),
            region=_region(cloud_event.aliyunregionid, "aliyunregionid"),
            arn=cloud_event.subject,
            observed_at=_iso_time(cloud_event.time),
        )
        return _dispatch(inner, settings, expected_account, envelope=env, layers=layers + 1)
    if shape == "mns":
        note = _validate(MnsNotification, payload)
        inner = _inner(note.message, settings, layers, "MNS Message")
        env = _Envelope(
            source="mns",
            notification_id=note.message_id,
            # TopicOwner is the topic's account, not necessarily the alarm's: not compared.
            accounts=(),
            region=None,
            arn=None,
            observed_at=_epoch(note.publish_time),
        )
        return _dispatch(inner, settings, expected_account, envelope=env, layers=layers + 1)
    raise EventError(UNKNOWN_SHAPE, "not a CloudMonitor alarm, system event, EventBridge, MNS or manual event")


def _eventbridge_data(event: CloudEventEnvelope, settings: Settings, layers: int) -> dict[str, Any]:
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
        raise EventError(UNKNOWN_SHAPE, f"EventBridge type {_quote(event.type or '')} is an audit record, not an alarm")
    data = _inner(event.data, settings, layers, "EventBridge data")
    shape = _shape(data)
    if event.type == _EB_ALERT_WEBHOOK and shape not in ("threshold", "system-event"):
        raise EventError(
            UNKNOWN_SHAPE, f"{_EB_ALERT_WEBHOOK} data is not a CloudMonitor alert callback ({_SHAPE_NAMES[shape]})"
        )
    if match is not None and channel != "CloudMonitor" and shape == "unknown":
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


def _inner(data: object, settings: Settings, layers: int, what: str) -> dict[str, Any]:
    if isinstance(data, dict):
        return data
    if isinstance(data, str):
        return _decode_text(data, settings.max_event_bytes, layers=layers + 1)
    raise EventError(UNKNOWN_SHAPE, f"{what} must be an object or a string, got {_json_type(data)}")


def _validate(model: type[_M], payload: Mapping[str, Any]) -> _M:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or model.__name__
        raise EventError(INVALID_FIELD, f"{model.__name__}: {where}: {first.get('msg', 'invalid')}") from None


# --------------------------------------------------------------------------------------------------
# field helpers


def _quote(value: str, limit: int = 48) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "...")


def _account(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    if _ACCOUNT_RE.fullmatch(value) is None:
        raise EventError(INVALID_FIELD, f"{field} is not an account id")
    return value


def _region(value: str | None, field: str) -> str | None:
    """Validate an explicit region field: a bad value is an error, not a silent fallback."""
    if value is None:
        return None
    if not is_region_id(value):
        raise EventError(INVALID_FIELD, f"{field} {_quote(value)} is not a region id")
    return value


@dataclass(frozen=True)
class _Arn:
    region: str | None
    account: str | None


def _arn(value: str | None, field: str) -> _Arn | None:
    """``acs:<product>:<region>:<account>:<resource>``; None when ``value`` is not an ARN at all."""
    if value is None or not value.startswith("acs:"):
        return None
    parts = value.split(":", 4)
    if len(parts) != 5:
        return None
    region = parts[2] if parts[2] and is_region_id(parts[2]) else None
    account = parts[3] or None
    if account is not None and _ACCOUNT_RE.fullmatch(account) is None:
        raise EventError(INVALID_FIELD, f"{field} carries an invalid account id")
    return _Arn(region=region, account=account)


def _epoch(value: object) -> float | None:
    """Seconds or milliseconds since the epoch (10 vs 13 digits) -> seconds; None when unusable."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value) if isinstance(value, int | float | str) else math.nan
    except (ValueError, OverflowError):
        return None
    if not math.isfinite(number) or number <= 0:
        return None
    if number >= 1e11:  # milliseconds: 1e11 s would be the year 5138
        number /= 1000.0
    return number if number < 1e11 else None


def _iso_time(value: str | None) -> float | None:
    """ISO 8601 or the compact ``20190409T121826.922+0800`` of system events -> epoch seconds."""
    if value is None:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    for parse in (
        datetime.fromisoformat,
        lambda s: datetime.strptime(s, "%Y%m%dT%H%M%S.%f%z"),
        lambda s: datetime.strptime(s, "%Y%m%dT%H%M%S%z"),
    ):
        try:
            moment = parse(text)
        except (ValueError, OverflowError):
            continue
        if moment.tzinfo is None:
            return None  # a naive time would silently depend on the function's TZ
        try:
            return moment.timestamp()
        except (ValueError, OverflowError, OSError):
            return None
    return None


def _dimensions(raw: object) -> tuple[tuple[str, str], ...]:
    """Dimensions as JSON object, JSON list of objects or Java-map text -> sorted unique pairs."""
    value: object = raw
    if isinstance(value, str):
        text = value.strip()
        if text in ("", "null"):
            return ()
        if text.startswith("["):
            value = _json(text)
        elif text.startswith("{"):
            try:
                value = _loads(text)
            except ValueError:
                value = _java_map(text)
        else:
            raise EventError(INVALID_FIELD, "dimensions must be a JSON object/list or {k=v, ...}")
        _check_tree(value, 1 << 20)
    if value is None:
        return ()
    groups: list[object] = value if isinstance(value, list) else [value]
    pairs: set[tuple[str, str]] = set()
    for group in groups:
        if not isinstance(group, dict):
            raise EventError(INVALID_FIELD, "dimensions must be objects of key/value pairs")
        for raw_key, item in group.items():
            if item is None or isinstance(item, dict | list):
                continue  # nothing usable in a region lookup or key
            key, text_item = str(raw_key).strip(), str(item).strip()
            if len(key) > 128 or len(text_item) > 1024 or not (key.isprintable() and text_item.isprintable()):
                raise EventError(INVALID_FIELD, "a dimension key or value is too long or not printable")
            pairs.add((key, text_item))
    if len(pairs) > MAX_DIMENSIONS:
        raise EventError(INVALID_FIELD, f"more than {MAX_DIMENSIONS} dimensions")
    return tuple(sorted(pairs))


def _java_map(text: str) -> dict[str, str]:
    """``{apiStageName=RELEASE, region=cn-shenzhen}`` (Java ``Map.toString``)."""
    if not text.endswith("}"):
        raise EventError(INVALID_FIELD, "dimensions are neither JSON nor {k=v, ...}")
    out: dict[str, str] = {}
    last: str | None = None
    for chunk in text[1:-1].split(","):
        key, sep, value = chunk.partition("=")
        if sep and key.strip():
            last = key.strip()
            out[last] = value.strip()
        elif last is not None:
            out[last] += "," + chunk  # a value that itself contained a comma
        elif chunk.strip():
            raise EventError(INVALID_FIELD, "dimensions are neither JSON nor {k=v, ...}")
    return out


def _legacy_level(expression: object) -> Level | None:
    """Old callbacks carry ``[{"expression": "...", "level": 4, ...}]`` instead of triggerLevel."""
    if not isinstance(expression, str) or not expression.strip().startswith("["):
        return None
    try:
        rules = _loads(expression)
    except ValueError:
        return None
    if not isinstance(rules, list):
        return None
    best: Level | None = None
    for rule in rules:
        number = rule.get("level") if isinstance(rule, dict) else None
        found = _NUMERIC_LEVELS.get(number) if isinstance(number, int) else None
        if found is not None and (best is None or LEVEL_RANK[found] > LEVEL_RANK[best]):
            best = found
    return best


def _as_level(value: str | None) -> Level | None:
    if value == "CRITICAL":
        return "CRITICAL"
    if value == "WARN":
        return "WARN"
    if value == "INFO":
        return "INFO"
    return None


def _check_accounts(expected: str | None, found: Iterable[str | None]) -> str | None:
    """All accounts the event names must agree with each other and with the function's account."""
    named = sorted({account for account in found if account})
    if len(named) > 1:
        raise EventError(ACCOUNT_MISMATCH, f"event names several accounts: {', '.join(named)}")
    event_account = named[0] if named else None
    if expected and event_account and event_account != expected:
        raise EventError(ACCOUNT_MISMATCH, f"event belongs to account {event_account}, the function runs in {expected}")
    return event_account or expected


@dataclass(frozen=True)
class _RegionCandidates:
    """Places the unhealthy region may come from, in priority order."""

    mapped: str | None = None
    explicit: str | None = None
    dimensions: tuple[str, ...] = ()
    arn: str | None = None
    envelope: str | None = None


def _resolve_region(c: _RegionCandidates) -> tuple[str | None, RegionOrigin | None, str]:
    # The operator's alarm map wins: it is an explicit statement about what that alarm watches,
    # e.g. a probe whose own dimensions name the prober's region rather than the target's.
    if c.mapped:
        return c.mapped, "alarm-map", ""
    if c.explicit:
        return c.explicit, "field", ""
    if len(set(c.dimensions)) > 1:
        names = ", ".join(sorted(set(c.dimensions)))
        return None, None, f"cannot determine the unhealthy region: dimensions name several ({names})"
    if c.dimensions:
        return c.dimensions[0], "dimensions", ""
    if c.arn:
        return c.arn, "arn", ""
    if c.envelope:
        return c.envelope, "envelope", ""
    return (
        None,
        None,
        "cannot determine the unhealthy region from the event "
        "(no region field, dimension, ARN or FAILOVER_ALARM_REGION_MAP entry)",
    )


def _decide(
    settings: Settings,
    *,
    firing: bool,
    state_reason: str,
    level: Level | None,
    level_applies: bool,
    region: str | None,
    region_problem: str,
    requested: Literal["failover", "plan"],
    what: str,
) -> tuple[Disposition, str]:
    if not firing:
        return "noop", state_reason
    if level_applies and not settings.level_at_least(level):
        if level is None:
            return "noop", f"alarm level unknown; only {settings.min_level} and above fail over"
        return "noop", f"level {level} is below FAILOVER_MIN_LEVEL {settings.min_level}"
    if region is None:
        return "noop", region_problem
    if region == settings.dr_region:
        return "noop", f"region {region} is the DR region {settings.dr_region}; nothing to fail over into"
    if region not in settings.primary_regions:
        return "noop", f"region {region} is not a watched primary region"
    if requested == "plan":
        return "plan", f"{what}: dry run requested for primary region {region}"
    if settings.mode == "plan-only":
        return "plan", f"kill switch: FAILOVER_MODE=plan-only, so {what} in {region} only produces a plan"
    return "act", f"{what} in watched primary region {region}"


def _source(envelope: _Envelope | None, kind: Source) -> Source:
    return envelope.source if envelope else kind


# --------------------------------------------------------------------------------------------------
# builders


def _check_threshold_fields(alert: ThresholdAlert) -> None:
    """The settings-free checks of :func:`_from_threshold`: what the webhook can refuse on its own."""
    _account(alert.user_id, "userId")
    _region(alert.region_id, "regionId")
    _dimensions(alert.dimensions)
    _legacy_level(alert.expression)


def _from_threshold(
    alert: ThresholdAlert, settings: Settings, expected: str | None, envelope: _Envelope | None
) -> Incident:
    account = _check_accounts(expected, [_account(alert.user_id, "userId"), *(envelope.accounts if envelope else ())])
    dims = _dimensions(alert.dimensions)
    dim_regions = tuple(
        sorted({value for key, value in dims if key.lower() in _REGION_DIM_KEYS and is_region_id(value)})
    )
    env_arn = _arn(envelope.arn, "subject") if envelope else None
    region, origin, problem = _resolve_region(
        _RegionCandidates(
            mapped=settings.region_for_alarm(alert.rule_id, alert.alert_name),
            explicit=_region(alert.region_id, "regionId"),
            dimensions=dim_regions,
            arn=env_arn.region if env_arn else None,
            envelope=envelope.region if envelope else None,
        )
    )

    state = alert.alert_state or ""
    firing = state in _FIRING_STATES
    if state == "OK":
        state_reason = "alarm resolved (alertState OK); nothing to do"
    elif state == "INSUFFICIENT_DATA":
        # missing data is not evidence of an outage: failing over on it would be a guess
        state_reason = "alarm has INSUFFICIENT_DATA; not treated as an outage"
    else:
        state_reason = f"alertState {state} is not a firing state"
    # triggerLevel "OK" (or anything new) maps to None: never enough to act on
    level = _as_level(alert.trigger_level) if alert.trigger_level else _legacy_level(alert.expression)
    alarm = alert.rule_id or alert.alert_name
    disposition, reason = _decide(
        settings,
        firing=firing,
        state_reason=state_reason,
        level=level,
        level_applies=True,
        region=region,
        region_problem=problem,
        requested="failover",
        what=f"alarm {alarm or '(unnamed)'} {state}",
    )
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
        disposition=disposition,
        reason=reason,
        primary_region=region,
        region_origin=origin,
        dr_region=settings.dr_region,
        level=level if firing else None,
        firing=firing,
        account_id=account,
        alarm=alarm,
        incident_key=key,
        notification_id=(envelope.notification_id if envelope else None) or alert.trans_id,
        observed_at=_epoch(alert.timestamp) or (envelope.observed_at if envelope else None),
        requested_action="failover",
        dimensions=dims,
    )


def _content_text(content: Mapping[str, Any] | None, field: str) -> str | None:
    if content is None:
        return None
    value = content.get(field)
    if value is None:
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise EventError(INVALID_FIELD, f"content.{field} must be a string")
    text = str(value).strip()
    if len(text) > 256 or not text.isprintable():
        raise EventError(INVALID_FIELD, f"content.{field} is too long or not printable")
    return text or None


def _from_system(event: SystemEvent, settings: Settings, expected: str | None, envelope: _Envelope | None) -> Incident:
    arn = _arn(event.resource_id, "resourceId")
    env_arn = _arn(envelope.arn, "subject") if envelope else None
    account = _check_accounts(
        expected,
        [
            _account(event.user_id, "userId"),
            arn.account if arn else None,
            *(envelope.accounts if envelope else ()),
        ],
    )
    event_id = _content_text(event.content, "eventId")
    name = event.name or ""
    # name is <ResourceType>:<Event>[:<Status>]; content.eventStatus says the same on newer events
    name_parts = name.split(":")
    status = _content_text(event.content, "eventStatus") or (name_parts[2] if len(name_parts) >= 3 else None)
    region, origin, problem = _resolve_region(
        _RegionCandidates(
            mapped=settings.region_for_alarm(event.name, f"{event.product}:{event.name}"),
            explicit=_region(event.region_id, "regionId"),
            arn=(arn.region if arn else None) or (env_arn.region if env_arn else None),
            envelope=envelope.region if envelope else None,
        )
    )
    raw_level = event.level
    level = _as_level(raw_level)
    if status is not None and status.upper() in _RESOLVED_STATUSES:
        firing, state_reason = False, f"system event status {status}: nothing is going to happen"
    elif level is None:
        firing = False
        state_reason = f"system event level {raw_level or '(missing)'} is not INFO, WARN or CRITICAL"
    else:
        firing, state_reason = True, ""
    disposition, reason = _decide(
        settings,
        firing=firing,
        state_reason=state_reason,
        level=level,
        level_applies=True,
        region=region,
        region_problem=problem,
        requested="failover",
        what=f"{event.product} system event {name}",
    )
    if event_id:
        key = "sys-" + digest("system-event", event_id)
    else:
        # no event id: identify the episode by what happened to which resource, minus the status
        key = "sys-" + digest(
            "system-event", event.user_id, event.product, ":".join(name_parts[:2]), event.resource_id, region
        )
    observed = _iso_time(event.event_time) or _iso_time(_content_text(event.content, "publishTime"))
    return Incident(
        source=_source(envelope, "system-event"),
        kind="system-event",
        disposition=disposition,
        reason=reason,
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


def _id_tuple(values: list[str] | None, check: Any, field: str, example: str) -> tuple[str, ...]:
    if not values:
        return ()
    for value in values:
        if not check(value):
            raise EventError(INVALID_FIELD, f"{field} entry {_quote(value)} is not an id like {example}")
    return tuple(sorted(set(values)))


def _from_manual(event: ManualEvent, settings: Settings, expected: str | None) -> Incident:
    account = _check_accounts(expected, [_account(event.account_id, "accountId")])
    region = _region(event.primary_region, "primaryRegion")
    if event.action == "failover" and region is None:
        # never infer the region for a human-issued failover: it must be stated
        raise EventError(INVALID_FIELD, "a manual failover must name primaryRegion explicitly")
    pair_ids = _id_tuple(event.pair_ids, is_pair_id, "pairIds", "pair-cn-...")
    group_ids = _id_tuple(event.group_ids, is_group_id, "groupIds", "pg-...")
    if event.incident_id is not None and _INCIDENT_ID_RE.fullmatch(event.incident_id) is None:
        raise EventError(INVALID_FIELD, "incidentId must be 1-64 characters of [A-Za-z0-9._:-]")
    disposition, reason = _decide(
        settings,
        firing=True,
        state_reason="",
        level=None,
        level_applies=False,  # an operator's request is not an alarm level
        region=region,
        region_problem="manual plan without primaryRegion: nothing to plan",
        requested=event.action,
        what="manual failover",
    )
    key = event.incident_id or "man-" + digest("manual", region, pair_ids, group_ids)
    kind: Kind = "manual"
    return Incident(
        source="manual",
        kind=kind,
        disposition=disposition,
        reason=reason,
        primary_region=region,
        region_origin="manual" if region else None,
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
    )
