"""Field readers: times, dimensions, alarm levels, ids and accounts, each checked as it is read.

A value that is present but malformed raises :class:`~replica_failover.errors.EventError`; a value
that is merely unusable (an unparseable timestamp) reads as None.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from replica_failover.config import LEVEL_RANK, Level, is_region_id
from replica_failover.errors import ACCOUNT_MISMATCH, INVALID_FIELD, EventError
from replica_failover.intake.decode import check_tree, loads, parse_json, quote

MAX_DIMENSIONS: Final = 64
# Legacy numeric alarm levels in the old callback's ``expression`` list (2 = critical ... 4 = info).
_NUMERIC_LEVELS: Final[Mapping[int, Level]] = {2: "CRITICAL", 3: "WARN", 4: "INFO"}
_ACCOUNT_RE: Final = re.compile(r"^[0-9*]{1,32}$")  # docs mask digits with '*'
_INCIDENT_ID_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


def account(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    if _ACCOUNT_RE.fullmatch(value) is None:
        raise EventError(INVALID_FIELD, f"{field} is not an account id")
    return value


def check_accounts(expected: str | None, found: Iterable[str | None]) -> str | None:
    """All accounts the event names must agree with each other and with the function's account."""
    named = sorted({name for name in found if name})
    if len(named) > 1:
        raise EventError(ACCOUNT_MISMATCH, f"event names several accounts: {', '.join(named)}")
    event_account = named[0] if named else None
    if expected and event_account and event_account != expected:
        raise EventError(ACCOUNT_MISMATCH, f"event belongs to account {event_account}, the function runs in {expected}")
    return event_account or expected


def region(value: str | None, field: str) -> str | None:
    """Validate an explicit region field: a bad value is an error, not a silent fallback."""
    if value is None:
        return None
    if not is_region_id(value):
        raise EventError(INVALID_FIELD, f"{field} {quote(value)} is not a region id")
    return value


@dataclass(frozen=True)
class Arn:
    region: str | None
    account: str | None


def arn(value: str | None, field: str) -> Arn | None:
    """``acs:<product>:<region>:<account>:<resource>``; None when ``value`` is not an ARN at all."""
    if value is None or not value.startswith("acs:"):
        return None
    parts = value.split(":", 4)
    if len(parts) != 5:
        return None
    found_region = parts[2] if parts[2] and is_region_id(parts[2]) else None
    found_account = parts[3] or None
    if found_account is not None and _ACCOUNT_RE.fullmatch(found_account) is None:
        raise EventError(INVALID_FIELD, f"{field} carries an invalid account id")
    return Arn(region=found_region, account=found_account)


def epoch(value: object) -> float | None:
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


def iso_time(value: str | None) -> float | None:
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


def dimensions(raw: object) -> tuple[tuple[str, str], ...]:
    """Dimensions as JSON object, JSON list of objects or Java-map text -> sorted unique pairs."""
    value: object = raw
    if isinstance(value, str):
        text = value.strip()
        if text in ("", "null"):
            return ()
        if text.startswith("["):
            value = parse_json(text)
        elif text.startswith("{"):
            try:
                value = loads(text)
            except ValueError:
                value = _java_map(text)
        else:
            raise EventError(INVALID_FIELD, "dimensions must be a JSON object/list or {k=v, ...}")
        check_tree(value, 1 << 20)
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


def legacy_level(expression: object) -> Level | None:
    """Old callbacks carry ``[{"expression": "...", "level": 4, ...}]`` instead of triggerLevel."""
    if not isinstance(expression, str) or not expression.strip().startswith("["):
        return None
    try:
        rules = loads(expression)
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


def as_level(value: str | None) -> Level | None:
    """CRITICAL / WARN / INFO; anything else (``OK``, a new word) is no level at all."""
    if value == "CRITICAL":
        return "CRITICAL"
    if value == "WARN":
        return "WARN"
    if value == "INFO":
        return "INFO"
    return None


def content_text(content: Mapping[str, Any] | None, field: str) -> str | None:
    """A short printable string from a system event's ``content``."""
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


def id_tuple(values: list[str] | None, check: Callable[[str], bool], field: str, example: str) -> tuple[str, ...]:
    """Ids a manual event names, each checked by ``check``, sorted and deduplicated."""
    if not values:
        return ()
    for value in values:
        if not check(value):
            raise EventError(INVALID_FIELD, f"{field} entry {quote(value)} is not an id like {example}")
    return tuple(sorted(set(values)))


def incident_id(value: str | None) -> str | None:
    if value is not None and _INCIDENT_ID_RE.fullmatch(value) is None:
        raise EventError(INVALID_FIELD, "incidentId must be 1-64 characters of [A-Za-z0-9._:-]")
    return value
