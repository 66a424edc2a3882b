"""Emulator configuration: the pydantic model behind ``GET|POST /_emulator/config``.

JSON uses camelCase (``latencyMs``); Python uses snake_case. Unknown keys are rejected so a
typo in a game-day file fails loudly instead of silently testing the wrong thing.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

DEFAULT_ACCOUNT_ID = "1234567890123456"

# Documented in README.md ("Emulator credentials"). Not secrets: they only open the local emulator.
DEFAULT_ACCESS_KEY_ID = "LTAI5tEmulatorKey0001"
DEFAULT_ACCESS_KEY_SECRET = "emulator-secret-0001"  # noqa: S105 - documented local-only key
DEFAULT_STS_ACCESS_KEY_ID = "STS.EmulatorRoleKey01"
DEFAULT_STS_ACCESS_KEY_SECRET = "emulator-sts-secret-01"  # noqa: S105 - documented local-only key
DEFAULT_STS_SECURITY_TOKEN = "CAIS-emulator-sts-token-01"  # noqa: S105 - documented local-only token


class Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class Credential(Model):
    """One accepted access key. With ``security_token`` set it is an STS key: the token must match."""

    access_key_id: str = Field(min_length=1, max_length=128)
    access_key_secret: str = Field(min_length=1, max_length=256)
    security_token: str | None = None
    account_id: str = DEFAULT_ACCOUNT_ID
    # None: every action allowed (like AdministratorAccess); else others answer 403 Forbidden.Action
    allowed_actions: list[str] | None = None
    enabled: bool = True


def default_credentials() -> list[Credential]:
    return [
        Credential(access_key_id=DEFAULT_ACCESS_KEY_ID, access_key_secret=DEFAULT_ACCESS_KEY_SECRET),
        Credential(
            access_key_id=DEFAULT_STS_ACCESS_KEY_ID,
            access_key_secret=DEFAULT_STS_ACCESS_KEY_SECRET,
            security_token=DEFAULT_STS_SECURITY_TOKEN,
        ),
    ]


class RateLimit(Model):
    """A token bucket per (access key, action). ``action="*"`` covers every ebs action."""

    action: str = "*"
    rate: float = Field(gt=0, description="sustained requests per second")
    burst: int = Field(default=0, ge=0, description="bucket size; 0 means max(1, rate)")


def default_transition_delays() -> dict[str, float]:
    # seconds on the emulator clock before a transient state completes
    return {
        "creating": 1.0,
        "initial_syncing": 5.0,
        "syncing": 5.0,
        "manual_syncing": 2.0,
        "stopping": 1.0,
        "failovering": 1.0,
        "reprotecting": 1.0,
        "deleting": 1.0,
        "drill_executing": 5.0,
        "drill_clearing": 2.0,
    }


class FcKnobs(Model):
    """How the emulator's FC runs invocations (not FC API behaviour: the emulator's own limits)."""

    # async invocations run at once; real FC scales out instances, the emulator keeps a few threads
    async_concurrency: int = Field(default=4, ge=1, le=256)
    # "thread": handlers run in the emulator's process; "process": one child process per attempt,
    # killed at its timeout, its peak RSS recorded on the attempt (peakRssMb)
    isolation: Literal["thread", "process"] = "thread"


class EmulatorConfig(Model):
    latency_ms: float = Field(default=0.0, ge=0, le=120_000)
    latency_jitter_ms: float = Field(default=0.0, ge=0, le=120_000)
    transition_delays: dict[str, float] = Field(default_factory=default_transition_delays)
    strict: bool = Field(
        default=False,
        description="an already failovering/failovered pair or group answers OperationDenied.InvalidStatus",
    )
    token_window_seconds: float = Field(default=86_400.0, gt=0)
    # a replicating (normal/syncing) pair or group moves LastRecoverPoint on by one cycle per cycle of
    # emulator time; the API's only RPO is 900 s. Frozen once replication stops (stopped, failover...)
    replication_cycle_seconds: float = Field(default=900.0, ge=1, le=86_400)
    credentials: list[Credential] = Field(default_factory=default_credentials)
    # the identity FC hands to invoked functions (context.credentials): the STS key by default
    function_role_access_key_id: str = DEFAULT_STS_ACCESS_KEY_ID
    rate_limits: list[RateLimit] = Field(default_factory=list)
    throttle_status: int = Field(default=400, ge=400, le=599)
    timestamp_tolerance_seconds: float = Field(default=900.0, gt=0)
    account_id: str = DEFAULT_ACCOUNT_ID
    seed: int = 0
    # ReprotectDiskReplicaGroup(ReverseReplicate=true): swap the group's Source*/Destination* (the
    # default) or keep them ("site information unchanged"); members swap either way [INF]
    group_reprotect_swaps_site: bool = True
    # Describe* naming ids that do not exist: leave them out ("empty") or answer 404 NoSuchResource [INF]
    describe_unknown_ids: Literal["empty", "NoSuchResource"] = "empty"
    fc: FcKnobs = Field(default_factory=FcKnobs)

    def credential(self, access_key_id: str) -> Credential | None:
        for cred in self.credentials:
            if cred.access_key_id == access_key_id:
                return cred
        return None
