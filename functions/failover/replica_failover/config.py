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
``FAILOVER_OPERATIONS`` [none]
    Comma list of the operator actions this function runs: ``drill``, ``undo``, ``reprotect``,
    ``failback``. Empty on the alarm-triggered failover function (its role cannot run them); the
    operations function, with its own role, lists all four. Another name fails the load.

Confirmation, approval and notifications:

``FAILOVER_CONFIRM`` [the default policy of ``confirm/policy.py``]
    When a signal is enough to act, e.g. ``alarm and (probe or events>=5)``; parsed at load, an error
    names the position. ``FAILOVER_MODE=approve`` also needs ``FAILOVER_APPROVAL_SECRET``.
``FAILOVER_APPROVAL_SECRET`` [none] (secret, at least 16 characters)
    HMAC key of approvals; required in ``approve`` mode. Never in Settings, read by :func:`load_secrets`.
``FAILOVER_EVIDENCE_WINDOW_MINUTES`` [10]
    How far back CloudMonitor system events count (1-1440).
``FAILOVER_EVIDENCE_TIMEOUT_SECONDS`` [3]
    One bound on gathering all evidence in parallel (> 0, at most 30).
``FAILOVER_EVIDENCE_SITE_TASK_ID`` [none] / ``FAILOVER_EVIDENCE_AVAILABILITY_BELOW`` [90]
    Site-monitoring task whose ``Availability`` (percent) below the threshold makes ``metric`` true;
    without a task ``metric`` is unavailable.
``FAILOVER_NOTIFY_DINGTALK_URL`` / ``FAILOVER_NOTIFY_DINGTALK_SECRET`` [none] (secrets)
    DingTalk custom robot webhook (``https://oapi.dingtalk.com/robot/send?access_token=...``) and its
    ``SEC...`` signing secret.
``FAILOVER_NOTIFY_WEBHOOK_URL`` [none] (secret: such URLs embed a token)
    Generic JSON webhook (``{"text": ...}``, Slack/Lark-compatible).
``CMS_ENDPOINT`` [none]
    CloudMonitor endpoint override, like ``EBS_ENDPOINT``.

Credentials are deliberately not part of :class:`Settings`: they come from the FC context (or
``ALIBABA_CLOUD_ACCESS_KEY_ID``/...) at call time, so Settings can be logged and cached safely.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from replica_failover.confirm.policy import DEFAULT_POLICY, MAX_POLICY_LENGTH, Policy, PolicyError
from replica_failover.errors import ConfigError
from replica_failover.redact import register_env

Level = Literal["CRITICAL", "WARN", "INFO"]
Mode = Literal["auto", "plan-only", "approve"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
Operation = Literal["drill", "undo", "reprotect", "failback"]
#: The operator actions (replica_failover/operations.py routes them), in the order settings list them.
OPERATIONS: Final[tuple[Operation, ...]] = ("drill", "undo", "reprotect", "failback")

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
    max_targets: int = Field(default=50, ge=1, le=100_000)  # the blast-radius cap: an operator's choice
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
    operations: tuple[Operation, ...] = ()
    confirm: str = Field(default=DEFAULT_POLICY, min_length=1, max_length=4 * MAX_POLICY_LENGTH)
    evidence_window_minutes: int = Field(default=10, ge=1, le=1440)
    evidence_timeout_seconds: float = Field(default=3.0, gt=0, le=30, allow_inf_nan=False)
    evidence_site_task_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    evidence_availability_below: float = Field(default=90.0, gt=0, le=100, allow_inf_nan=False)
    cms_endpoint: str | None = Field(default=None, pattern=_ENDPOINT_RE.pattern)
    notify_dingtalk: bool = False
    """A DingTalk robot is configured (its URL and secret stay out of Settings: :func:`load_secrets`)."""
    notify_webhook: bool = False

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
    "operations": "FAILOVER_OPERATIONS",
    "confirm": "FAILOVER_CONFIRM",
    "evidence_window_minutes": "FAILOVER_EVIDENCE_WINDOW_MINUTES",
    "evidence_timeout_seconds": "FAILOVER_EVIDENCE_TIMEOUT_SECONDS",
    "evidence_site_task_id": "FAILOVER_EVIDENCE_SITE_TASK_ID",
    "evidence_availability_below": "FAILOVER_EVIDENCE_AVAILABILITY_BELOW",
    "cms_endpoint": "CMS_ENDPOINT",
}

# Variables whose values are never quoted back in errors (an endpoint may embed user:password).
_UNECHOED: Final = frozenset(
    {
        "EBS_ENDPOINT",
        "CMS_ENDPOINT",
        "FAILOVER_APPROVAL_SECRET",
        "FAILOVER_NOTIFY_DINGTALK_URL",
        "FAILOVER_NOTIFY_DINGTALK_SECRET",
        "FAILOVER_NOTIFY_WEBHOOK_URL",
    }
)
#: Their values are secrets: the redactor masks them wherever they would be output.
SECRET_VARIABLES: Final = (
    "FAILOVER_APPROVAL_SECRET",
    "FAILOVER_NOTIFY_DINGTALK_URL",
    "FAILOVER_NOTIFY_DINGTALK_SECRET",
    "FAILOVER_NOTIFY_WEBHOOK_URL",
)
MIN_APPROVAL_SECRET: Final = 16
_DINGTALK_URL_RE: Final = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?/[^\s#]*[?&]access_token=[^&\s#]+[^\s#]*")
_WEBHOOK_URL_RE: Final = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:/[^\s#]*)?")

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
        "mode": _choice(env, "FAILOVER_MODE", {"auto": "auto", "plan-only": "plan-only", "approve": "approve"}),
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
    values.update(_confirm_values(env, values.get("mode")))
    operations = _operations(env, "FAILOVER_OPERATIONS")
    if operations:
        values["operations"] = operations

    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        raise _config_error(exc) from None


def _operations(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """The operator actions enabled here, in OPERATIONS order; an unknown name is a ConfigError."""
    items = [item.lower() for item in _split_list(env, name) or []]
    unknown = sorted(set(items) - set(OPERATIONS))
    if unknown:
        raise ConfigError(name, f"unknown action {_short(unknown[0])}: use {', '.join(OPERATIONS)}")
    return tuple(op for op in OPERATIONS if op in items)


def _confirm_values(env: Mapping[str, str], mode: object) -> dict[str, object]:
    """The confirmation, evidence and notification settings; the secrets are checked, never kept."""
    register_env(*SECRET_VARIABLES)
    out: dict[str, object] = {}
    policy = _get(env, "FAILOVER_CONFIRM")
    if policy is not None:
        try:
            out["confirm"] = str(Policy(policy))
        except PolicyError as exc:
            raise ConfigError("FAILOVER_CONFIRM", str(exc)) from None
    secret = _get(env, "FAILOVER_APPROVAL_SECRET")
    if secret is not None and len(secret) < MIN_APPROVAL_SECRET:
        raise ConfigError("FAILOVER_APPROVAL_SECRET", f"must be at least {MIN_APPROVAL_SECRET} characters")
    if mode == "approve" and secret is None:
        raise ConfigError("FAILOVER_APPROVAL_SECRET", "is required when FAILOVER_MODE=approve")
    dingtalk = _get(env, "FAILOVER_NOTIFY_DINGTALK_URL")
    if dingtalk is not None:
        if not _DINGTALK_URL_RE.fullmatch(dingtalk):
            raise ConfigError(
                "FAILOVER_NOTIFY_DINGTALK_URL", "must look like https://oapi.dingtalk.com/robot/send?access_token=..."
            )
        out["notify_dingtalk"] = True
    if _get(env, "FAILOVER_NOTIFY_DINGTALK_SECRET") is not None and dingtalk is None:
        raise ConfigError("FAILOVER_NOTIFY_DINGTALK_SECRET", "is set but FAILOVER_NOTIFY_DINGTALK_URL is not")
    webhook = _get(env, "FAILOVER_NOTIFY_WEBHOOK_URL")
    if webhook is not None:
        if not _WEBHOOK_URL_RE.fullmatch(webhook):
            raise ConfigError("FAILOVER_NOTIFY_WEBHOOK_URL", "must be an http(s) URL")
        out["notify_webhook"] = True
    numbers: dict[str, object | None] = {
        "evidence_window_minutes": _int(env, "FAILOVER_EVIDENCE_WINDOW_MINUTES"),
        "evidence_timeout_seconds": _float(env, "FAILOVER_EVIDENCE_TIMEOUT_SECONDS"),
        "evidence_site_task_id": _get(env, "FAILOVER_EVIDENCE_SITE_TASK_ID"),
        "evidence_availability_below": _float(env, "FAILOVER_EVIDENCE_AVAILABILITY_BELOW", "percent"),
        "cms_endpoint": _get(env, "CMS_ENDPOINT"),
    }
    out.update({k: v for k, v in numbers.items() if v is not None})
    return out


@dataclass(frozen=True)
class Secrets:
    """The confirmation and notification secrets, read when needed and never part of Settings."""

    approval_secret: str | None = field(default=None, repr=False)
    dingtalk_url: str | None = field(default=None, repr=False)
    dingtalk_secret: str | None = field(default=None, repr=False)
    webhook_url: str | None = field(default=None, repr=False)


def load_secrets(env: Mapping[str, str]) -> Secrets:
    """The secret variables (validated by :func:`load_settings`), registered with the redactor."""
    register_env(*SECRET_VARIABLES)
    return Secrets(
        approval_secret=_get(env, "FAILOVER_APPROVAL_SECRET"),
        dingtalk_url=_get(env, "FAILOVER_NOTIFY_DINGTALK_URL"),
        dingtalk_secret=_get(env, "FAILOVER_NOTIFY_DINGTALK_SECRET"),
        webhook_url=_get(env, "FAILOVER_NOTIFY_WEBHOOK_URL"),
    )


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
    if variable in _UNECHOED or field in ("ebs_endpoint", "cms_endpoint"):
        message = "must look like http(s)://host[:port] or host[:port] (no credentials or path)"
    elif field == "resource_group_id":
        message = "must be a resource group id like rg-aek2...; " + message
    return ConfigError(variable, message)
