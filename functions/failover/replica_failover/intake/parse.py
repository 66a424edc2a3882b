"""The two entry points: :func:`parse_event` (the failover function) and :func:`parse_alert_callback`
(the webhook), and the dispatch from a decoded payload to its builder through any envelopes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from replica_failover.config import Settings
from replica_failover.errors import BAD_ENCODING, MALFORMED_JSON, TOO_DEEP, TOO_LARGE, UNKNOWN_SHAPE, EventError
from replica_failover.incident import Incident
from replica_failover.intake.decode import MAX_UNWRAP, check_tree, json_type, load, parse_form, parse_json
from replica_failover.intake.envelopes import Envelope, unwrap_eventbridge, unwrap_mns
from replica_failover.intake.incidents import check_threshold_fields, from_manual, from_system, from_threshold
from replica_failover.intake.payloads import SHAPE_NAMES, ManualEvent, SystemEvent, ThresholdAlert, shape, validate


def parse_event(raw: bytes | str | Mapping[str, Any], settings: Settings, *, account_id: str | None) -> Incident:
    """Parse one invocation payload. ``account_id`` is the function's account (``context.account_id``).

    Returns an Incident whose ``disposition`` says what to do; raises EventError for rejected input.
    """
    expected_account = account_id.strip() if account_id else None
    payload = load(raw, settings.max_event_bytes)
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
    parsed: object = parse_json(text) if "json" in content_type.lower() or text[0] in "[{" else parse_form(text)
    check_tree(parsed, limit)
    if not isinstance(parsed, dict):
        raise EventError(UNKNOWN_SHAPE, f"expected a JSON object, got {json_type(parsed)}")
    found = shape(parsed)
    if found != "threshold":
        raise EventError(
            UNKNOWN_SHAPE, f"only CloudMonitor threshold-alert callbacks are accepted; this is {SHAPE_NAMES[found]}"
        )
    check_threshold_fields(validate(ThresholdAlert, parsed))
    return parsed


def _dispatch(
    payload: dict[str, Any],
    settings: Settings,
    expected_account: str | None,
    *,
    envelope: Envelope | None,
    layers: int,
) -> Incident:
    found = shape(payload)
    if envelope is not None and found not in ("threshold", "system-event"):
        raise EventError(UNKNOWN_SHAPE, f"{envelope.source} payload must wrap a CloudMonitor alarm or system event")
    if found == "threshold":
        return from_threshold(validate(ThresholdAlert, payload), settings, expected_account, envelope)
    if found == "system-event":
        return from_system(validate(SystemEvent, payload), settings, expected_account, envelope)
    if found == "manual":
        return from_manual(validate(ManualEvent, payload), settings, expected_account)
    if layers >= MAX_UNWRAP:
        raise EventError(TOO_DEEP, "too many nested envelopes")
    if found == "eventbridge":
        inner, env = unwrap_eventbridge(payload, settings.max_event_bytes, layers)
        return _dispatch(inner, settings, expected_account, envelope=env, layers=layers + 1)
    if found == "mns":
        inner, env = unwrap_mns(payload, settings.max_event_bytes, layers)
        return _dispatch(inner, settings, expected_account, envelope=env, layers=layers + 1)
    raise EventError(UNKNOWN_SHAPE, "not a CloudMonitor alarm, system event, EventBridge, MNS or manual event")
