"""Intake: turn an invocation payload into an :class:`~replica_failover.incident.Incident`.

Accepted shapes (docs/event-shapes.md has samples of each):

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
intake: a threshold-alert callback and nothing else. Nothing here performs I/O; only stdlib and
pydantic are imported because this runs on the cold-start path.

Where each concern lives:

- :mod:`.decode`: bytes/str/base64/form/JSON -> a JSON object; size, depth and node limits; repeated keys.
- :mod:`.payloads`: the source models (ThresholdAlert, SystemEvent, ManualEvent) and which one a payload is.
- :mod:`.envelopes`: EventBridge (CloudEvents) and MNS wrappers, unwrapped to the alarm inside.
- :mod:`.fields`: field readers: epoch/ISO times, dimensions (JSON or Java map), levels, ids, accounts, ARNs.
- :mod:`.region`: which primary region the event is about, and where that came from.
- :mod:`.triage`: the act/plan/noop policy over a typed :class:`~.triage.Signal`; no parsing in it.
- :mod:`.incidents`: one builder per source model: payload -> Signal -> triage -> Incident.
- :mod:`.parse`: the two entry points and the dispatch through envelopes.
"""

from replica_failover.intake.parse import parse_alert_callback, parse_event

__all__ = ["parse_alert_callback", "parse_event"]
