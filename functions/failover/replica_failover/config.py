"""Function configuration, read once per instance from environment variables.

Variables (default in brackets; an empty value counts as unset):

``FAILOVER_PRIMARY_REGIONS`` (required)
    Comma-separated primary regions this function watches, e.g. ``cn-hangzhou,cn-shenzhen``.
``FAILOVER_DR_REGION`` [the function's own region]
    Disaster-recovery region that replicas fail over into. Defaults to the ``function_region`` argument,
    else ``ALIBABA_CLOUD_REGION``, else ``FC_REGION``. Must not be one of the primary regions.
``FAILOVER_MIN_LEVEL`` [CRITICAL]
    Lowest alarm level that triggers a failover: ``CRITICAL``, ``WARN`` or ``INFO``.
``FAILOVER_MODE`` [auto]
    ``auto`` or ``plan-only``. ``plan-only`` is the kill switch: every alarm only produces a plan.
``FAILOVER_MAX_TARGETS`` [50]
    Blast-radius cap: most replica pairs + groups one incident may fail over (>= 1).
``FAILOVER_TAGS`` [none]
    ``k=v,k2=v2``: targets must carry all of these tags (at most 20).
``FAILOVER_RESOURCE_GROUP_ID`` [none]
    Only targets in this resource group (``rg-...``).
``FAILOVER_ALLOW_PAIR_IDS`` / ``FAILOVER_DENY_PAIR_IDS`` [none]
    Comma lists of replica pair ids (``pair-...``). An allow list restricts targets to its members.
``FAILOVER_ALLOW_GROUP_IDS`` / ``FAILOVER_DENY_GROUP_IDS`` [none]
    Comma lists of replica group ids (``pg-...``).
``FAILOVER_CONCURRENCY`` [8]
    Parallel API calls, 1-256.
``FAILOVER_RETRY_BUDGET`` [50]
    Retries of errors one invocation may make at once, across all targets (>= 0; 0: no retries). A
    token bucket of this size, refilled at ``FAILOVER_RETRY_RATE``: an empty bucket slows retries
    down until the deadline, it does not end them. Throttled answers take no token.
``FAILOVER_RETRY_RATE`` [5]
    Retry tokens added per second (>= 0; 0: the budget is a plain count that ends retries when spent).
``FAILOVER_MAX_ATTEMPTS`` [0]
    Attempts per API call, first one included; 0: no cap, attempts end at the deadline (a cap ends
    an API blip early: meant for drills and tests).
``FAILOVER_DEADLINE_MARGIN_SECONDS`` [5]
    Stop starting new work this long before the function timeout (>= 0).
``FAILOVER_VERIFY`` [false]
    After failing over, poll until targets report the failed-over state (true/false/1/0/yes/no/on/off).
``FAILOVER_VERIFY_POLL_SECONDS`` [1]
    Interval of that polling (> 0).
``FAILOVER_ALARM_REGION_MAP`` [{}]
    JSON object mapping an alarm rule id or alert name (or system event name) to the primary region it
    watches; used for alarms whose payload does not carry a region, and it wins over the payload.
``FAILOVER_MAX_EVENT_BYTES`` [262144]
    Largest accepted invocation payload; bigger ones are rejected before parsing.
``EBS_ENDPOINT`` [none]
    EBS endpoint override, ``http(s)://host[:port]`` or ``host[:port]`` (e.g. the local emulator).
``FAILOVER_CONNECT_TIMEOUT_SECONDS`` [3] / ``FAILOVER_READ_TIMEOUT_SECONDS`` [10]
    HTTP timeouts of EBS calls (> 0).
``FAILOVER_LOG_LEVEL`` [INFO]
    ``DEBUG``, ``INFO``, ``WARNING`` (or ``WARN``), ``ERROR`` or ``CRITICAL``.

Credentials are deliberately not part of :class:`Settings`: they come from the FC context (or
``ALIBABA_CLOUD_ACCESS_KEY_ID``/...) at call time, so Settings can be logged and cached safely.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Annotated, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from replica_failover.errors import ConfigError

Level = Literal["CRITICAL", "WARN", "INFO"]
Mode = Literal["auto", "plan-only"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

#: Severity order of alarm levels (higher is more severe).
LEVEL_RANK: Final[Mapping[str, int]] = {"INFO": 1, "WARN": 2, "CRITICAL": 3}

# Identifier shapes. They are deliberately narrow: anything matching them is safe to put into an
# API call, a log line or a ClientToken.
REGION_ID_RE: Final = re.compile(r"^[a-z]{2}(?:-[a-z0-9]+){1,3}$")
PAIR_ID_RE: Final = re.compile(r"^pair-[a-z0-9][a-z0-9-]{0,62}$")
GROUP_ID_RE: Final = re.compile(r"^pg-[a-z0-9][a-z0-9-]{0,62}$")
RESOURCE_GROUP_ID_RE: Final = re.compile(r"^rg-[a-z0-9][a-z0-9-]{0,62}$")
_ENDPOINT_RE: Final = re.compile(r"^(?:https?://)?[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})(?::[0-9]{1,5})?/?$")
MAX_REGION_ID_LEN: Final = 32
MAX_IDS_PER_LIST: Final = 100  # the EBS Describe* calls take at most 100 ids
MAX_TAGS: Final = 20  # Tag.N accepts at most 20 entries
MAX_ALARM_MAP_ENTRIES: Final = 1000


def is_region_id(value: str) -> bool:
    """True if ``value`` looks like an Alibaba Cloud region id (``cn-hangzhou``, ``ap-southeast-1``)."""
    return len(value) <= MAX_REGION_ID_LEN and REGION_ID_RE.fullmatch(value) is not None


def is_pair_id(value: str) -> bool:
    return PAIR_ID_RE.fullmatch(value) is not None


def is_group_id(value: str) -> bool:
    return GROUP_ID_RE.fullmatch(value) is not None


def _check_region(value: str) -> str:
    if not is_region_id(value):
        raise ValueError("not a valid region id (expected e.g. cn-hangzhou)")
    return value


def _check_pair_ids(value: frozenset[str]) -> frozenset[str]:
    bad = sorted(v for v in value if not is_pair_id(v))
    if bad:
        raise ValueError(f"not a replica pair id (expected pair-...): {_short(bad[0])}")
    return value


def _check_group_ids(value: frozenset[str]) -> frozenset[str]:
    bad = sorted(v for v in value if not is_group_id(v))
    if bad:
        raise ValueError(f"not a replica group id (expected pg-...): {_short(bad[0])}")
    return value


RegionId = Annotated[str, AfterValidator(_check_region)]
PairIdSet = Annotated[frozenset[str], Field(max_length=MAX_IDS_PER_LIST), AfterValidator(_check_pair_ids)]
GroupIdSet = Annotated[frozenset[str], Field(max_length=MAX_IDS_PER_LIST), AfterValidator(_check_group_ids)]


class Settings(BaseModel):
    """Validated, immutable configuration. Hashable, so it can key caches (e.g. ``functools.cache``).

    Mappings are stored as sorted tuples of pairs (dicts are not hashable); use :meth:`tag_dict` and
    :meth:`region_for_alarm` to read them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    primary_regions: tuple[RegionId, ...] = Field(min_length=1, max_length=64)
    dr_region: RegionId
    min_level: Level = "CRITICAL"
    mode: Mode = "auto"
    max_targets: int = Field(default=50, ge=1, le=10_000)
    tags: tuple[tuple[str, str], ...] = Field(default=(), max_length=MAX_TAGS)
    resource_group_id: str | None = Field(default=None, pattern=RESOURCE_GROUP_ID_RE.pattern)
    allow_pair_ids: PairIdSet | None = None
    deny_pair_ids: PairIdSet = frozenset()
    allow_group_ids: GroupIdSet | None = None
    deny_group_ids: GroupIdSet = frozenset()
    concurrency: int = Field(default=8, ge=1, le=256)
    retry_budget: int = Field(default=50, ge=0, le=100_000)
    retry_rate: float = Field(default=5.0, ge=0, le=10_000, allow_inf_nan=False)
    max_attempts: int = Field(default=0, ge=0, le=10_000)
    deadline_margin_seconds: float = Field(default=5.0, ge=0, le=3600, allow_inf_nan=False)
    verify: bool = False
    verify_poll_seconds: float = Field(default=1.0, gt=0, le=600, allow_inf_nan=False)
    alarm_region_map: tuple[tuple[str, RegionId], ...] = Field(default=(), max_length=MAX_ALARM_MAP_ENTRIES)
    max_event_bytes: int = Field(default=262_144, ge=1024, le=16 * 1024 * 1024)
    ebs_endpoint: str | None = Field(default=None, pattern=_ENDPOINT_RE.pattern)
    connect_timeout_seconds: float = Field(default=3.0, gt=0, le=300, allow_inf_nan=False)
    read_timeout_seconds: float = Field(default=10.0, gt=0, le=900, allow_inf_nan=False)
    log_level: LogLevel = "INFO"

    @model_validator(mode="after")
    def _dr_is_not_primary(self) -> Settings:
        if self.dr_region in self.primary_regions:
            raise ValueError(f"DR region {self.dr_region} is also listed as a primary region")
        return self

    def tag_dict(self) -> dict[str, str]:
        """Required target tags as a fresh dict."""
        return dict(self.tags)

    def region_for_alarm(self, *keys: str | None) -> str | None:
        """First mapped region for ``keys`` (tried in order, e.g. rule id then alert name)."""
        mapping = dict(self.alarm_region_map)
        for key in keys:
            if key is not None and key in mapping:
                return mapping[key]
        return None

    def level_at_least(self, level: str | None) -> bool:
        """True if ``level`` is known and at or above :attr:`min_level`."""
        rank = LEVEL_RANK.get(level) if level is not None else None
        return rank is not None and rank >= LEVEL_RANK[self.min_level]


# Settings field -> environment variable, to name the variable when pydantic rejects a value.
_ENV_OF_FIELD: Final[Mapping[str, str]] = {
    "primary_regions": "FAILOVER_PRIMARY_REGIONS",
    "dr_region": "FAILOVER_DR_REGION",
    "min_level": "FAILOVER_MIN_LEVEL",
    "mode": "FAILOVER_MODE",
    "max_targets": "FAILOVER_MAX_TARGETS",
    "tags": "FAILOVER_TAGS",
    "resource_group_id": "FAILOVER_RESOURCE_GROUP_ID",
    "allow_pair_ids": "FAILOVER_ALLOW_PAIR_IDS",
    "deny_pair_ids": "FAILOVER_DENY_PAIR_IDS",
    "allow_group_ids": "FAILOVER_ALLOW_GROUP_IDS",
    "deny_group_ids": "FAILOVER_DENY_GROUP_IDS",
    "concurrency": "FAILOVER_CONCURRENCY",
    "retry_budget": "FAILOVER_RETRY_BUDGET",
    "retry_rate": "FAILOVER_RETRY_RATE",
    "max_attempts": "FAILOVER_MAX_ATTEMPTS",
    "deadline_margin_seconds": "FAILOVER_DEADLINE_MARGIN_SECONDS",
    "verify": "FAILOVER_VERIFY",
    "verify_poll_seconds": "FAILOVER_VERIFY_POLL_SECONDS",
    "alarm_region_map": "FAILOVER_ALARM_REGION_MAP",
    "max_event_bytes": "FAILOVER_MAX_EVENT_BYTES",
    "ebs_endpoint": "EBS_ENDPOINT",
    "connect_timeout_seconds": "FAILOVER_CONNECT_TIMEOUT_SECONDS",
    "read_timeout_seconds": "FAILOVER_READ_TIMEOUT_SECONDS",
    "log_level": "FAILOVER_LOG_LEVEL",
}

# Variables whose values are never quoted back in errors (an endpoint may embed user:password).
_UNECHOED: Final = frozenset({"EBS_ENDPOINT"})

_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})


def _short(value: str, limit: int = 64) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "...")


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _split_list(env: Mapping[str, str], name: str) -> list[str] | None:
    raw = _get(env, name)
    if raw is None:
        return None
    items = [item.strip() for item in raw.split(",")]
    items = [item for item in items if item]
    if not items:
        raise ConfigError(name, "must list at least one value (or be unset)")
    return items


def _int(env: Mapping[str, str], name: str) -> int | None:
    raw = _get(env, name)
    if raw is None:
        return None
    try:
        return int(raw, 10)
    except ValueError:
        raise ConfigError(name, f"must be an integer, got {_short(raw)}") from None


def _float(env: Mapping[str, str], name: str, unit: str = "seconds") -> float | None:
    raw = _get(env, name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, f"must be a number of {unit}, got {_short(raw)}") from None
    if not math.isfinite(value):
        raise ConfigError(name, "must be a finite number")
    return value


def _bool(env: Mapping[str, str], name: str) -> bool | None:
    raw = _get(env, name)
    if raw is None:
        return None
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(name, f"must be true/false (or 1/0, yes/no, on/off), got {_short(raw)}")


def _regions(env: Mapping[str, str], name: str) -> tuple[str, ...] | None:
    items = _split_list(env, name)
    if items is None:
        return None
    for item in items:
        if not is_region_id(item):
            raise ConfigError(name, f"{_short(item)} is not a valid region id (expected e.g. cn-hangzhou)")
    # keep the operator's order but drop duplicates
    return tuple(dict.fromkeys(items))


def _tags(env: Mapping[str, str], name: str) -> tuple[tuple[str, str], ...] | None:
    items = _split_list(env, name)
    if items is None:
        return None
    tags: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise ConfigError(name, f"expected k=v pairs separated by commas, got {_short(item)}")
        if len(key) > 128 or len(value) > 128:
            raise ConfigError(name, "tag keys and values are limited to 128 characters")
        if not (key.isprintable() and value.isprintable()):
            raise ConfigError(name, "tag keys and values must be printable")
        if key in tags:
            raise ConfigError(name, f"tag key {_short(key)} is given twice")
        tags[key] = value
    if len(tags) > MAX_TAGS:
        raise ConfigError(name, f"at most {MAX_TAGS} tags are supported")
    return tuple(sorted(tags.items()))


def _alarm_map(env: Mapping[str, str], name: str) -> tuple[tuple[str, str], ...] | None:
    raw = _get(env, name)
    if raw is None:
        return None
    try:
        parsed = json.loads(raw)
    except (ValueError, RecursionError):
        raise ConfigError(
            name, 'must be a JSON object like {"<ruleId or alertName>": "cn-hangzhou"}'
        ) from None
    if not isinstance(parsed, dict):
        raise ConfigError(name, "must be a JSON object mapping an alarm rule id or alert name to a region")
    out: list[tuple[str, str]] = []
    for key, value in parsed.items():
        if not key or len(key) > 256:
            raise ConfigError(name, "keys must be non-empty alarm names of at most 256 characters")
        if not isinstance(value, str) or not is_region_id(value):
            raise ConfigError(name, f"value for {_short(key)} must be a region id string")
        out.append((key, value))
    return tuple(sorted(out))


def _choice(env: Mapping[str, str], name: str, choices: Mapping[str, str]) -> str | None:
    raw = _get(env, name)
    if raw is None:
        return None
    value = choices.get(raw.lower())
    if value is None:
        allowed = "|".join(sorted(set(choices.values())))
        raise ConfigError(name, f"must be one of {allowed}, got {_short(raw)}")
    return value


def load_settings(env: Mapping[str, str], *, function_region: str | None = None) -> Settings:
    """Build :class:`Settings` from ``env`` (usually ``os.environ``).

    ``function_region`` is the region the function runs in (``context.region``); it is the default
    DR region. Raises :class:`ConfigError` naming the offending variable.
    """
    values: dict[str, object] = {}

    primaries = _regions(env, "FAILOVER_PRIMARY_REGIONS")
    if primaries is None:
        raise ConfigError("FAILOVER_PRIMARY_REGIONS", "is required: comma-separated primary region ids")
    values["primary_regions"] = primaries

    dr = _get(env, "FAILOVER_DR_REGION")
    if dr is None:
        dr = (function_region or "").strip() or _get(env, "ALIBABA_CLOUD_REGION") or _get(env, "FC_REGION")
    if dr is None:
        raise ConfigError(
            "FAILOVER_DR_REGION", "is not set and the function region is unknown (no FC context region)"
        )
    if not is_region_id(dr):
        raise ConfigError("FAILOVER_DR_REGION", f"{_short(dr)} is not a valid region id")
    if dr in primaries:
        raise ConfigError(
            "FAILOVER_DR_REGION", f"DR region {dr} must not be one of FAILOVER_PRIMARY_REGIONS"
        )
    values["dr_region"] = dr

    optional: dict[str, object | None] = {
        "min_level": _choice(
            env, "FAILOVER_MIN_LEVEL", {"critical": "CRITICAL", "warn": "WARN", "info": "INFO"}
        ),
        "mode": _choice(env, "FAILOVER_MODE", {"auto": "auto", "plan-only": "plan-only"}),
        "max_targets": _int(env, "FAILOVER_MAX_TARGETS"),
        "tags": _tags(env, "FAILOVER_TAGS"),
        "resource_group_id": _get(env, "FAILOVER_RESOURCE_GROUP_ID"),
        "allow_pair_ids": _id_set(env, "FAILOVER_ALLOW_PAIR_IDS"),
        "deny_pair_ids": _id_set(env, "FAILOVER_DENY_PAIR_IDS"),
        "allow_group_ids": _id_set(env, "FAILOVER_ALLOW_GROUP_IDS"),
        "deny_group_ids": _id_set(env, "FAILOVER_DENY_GROUP_IDS"),
        "concurrency": _int(env, "FAILOVER_CONCURRENCY"),
        "retry_budget": _int(env, "FAILOVER_RETRY_BUDGET"),
        "retry_rate": _float(env, "FAILOVER_RETRY_RATE", "retries per second"),
        "max_attempts": _int(env, "FAILOVER_MAX_ATTEMPTS"),
        "deadline_margin_seconds": _float(env, "FAILOVER_DEADLINE_MARGIN_SECONDS"),
        "verify": _bool(env, "FAILOVER_VERIFY"),
        "verify_poll_seconds": _float(env, "FAILOVER_VERIFY_POLL_SECONDS"),
        "alarm_region_map": _alarm_map(env, "FAILOVER_ALARM_REGION_MAP"),
        "max_event_bytes": _int(env, "FAILOVER_MAX_EVENT_BYTES"),
        "ebs_endpoint": _get(env, "EBS_ENDPOINT"),
        "connect_timeout_seconds": _float(env, "FAILOVER_CONNECT_TIMEOUT_SECONDS"),
        "read_timeout_seconds": _float(env, "FAILOVER_READ_TIMEOUT_SECONDS"),
        "log_level": _choice(
            env,
            "FAILOVER_LOG_LEVEL",
            {
                "debug": "DEBUG",
                "info": "INFO",
                "warn": "WARNING",
                "warning": "WARNING",
                "error": "ERROR",
                "critical": "CRITICAL",
            },
        ),
    }
    values.update({k: v for k, v in optional.items() if v is not None})

    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        raise _config_error(exc) from None


def _id_set(env: Mapping[str, str], name: str) -> frozenset[str] | None:
    items = _split_list(env, name)
    return None if items is None else frozenset(items)


def _config_error(exc: ValidationError) -> ConfigError:
    """Turn the first pydantic error into a ConfigError naming the variable, without the raw input."""
    first = exc.errors(include_url=False, include_input=False)[0]
    loc = first.get("loc") or ()
    field = str(loc[0]) if loc else ""
    # a model-level error (no field) is the DR/primary overlap check
    variable = _ENV_OF_FIELD.get(field, field or "FAILOVER_DR_REGION")
    message = str(first.get("msg", "invalid value"))
    if variable in _UNECHOED or field == "ebs_endpoint":
        message = "must look like http(s)://host[:port] or host[:port] (no credentials or path)"
    elif field == "resource_group_id":
        message = "must be a resource group id like rg-aek2...; " + message
    return ConfigError(variable, message)
