"""Where the function's cloud credentials come from: the FC context (STS of the service role) or
the standard environment variables. Never logged, never part of a result: every value resolved is
registered with :mod:`replica_failover.redact`, which masks it wherever an SDK or a log would echo it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from replica_failover.errors import ConfigError
from replica_failover.redact import register


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)
    source: str = "context"


def resolve_credentials(context: Any, env: Mapping[str, str]) -> Credentials:
    """FC context first (its STS keys rotate with the role), then ALIBABA_CLOUD_* variables."""
    creds = _resolve(context, env)
    register(creds.access_key_id, creds.access_key_secret, creds.security_token)
    return creds


def _resolve(context: Any, env: Mapping[str, str]) -> Credentials:
    creds = getattr(context, "credentials", None)
    ak = getattr(creds, "access_key_id", None) or getattr(creds, "accessKeyId", None)
    sk = getattr(creds, "access_key_secret", None) or getattr(creds, "accessKeySecret", None)
    if isinstance(ak, str) and ak and isinstance(sk, str) and sk:
        token = getattr(creds, "security_token", None) or getattr(creds, "securityToken", None)
        return Credentials(ak, sk, token if isinstance(token, str) and token else None, "context")
    ak = env.get("ALIBABA_CLOUD_ACCESS_KEY_ID", "")
    sk = env.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "")
    if ak and sk:
        return Credentials(ak, sk, env.get("ALIBABA_CLOUD_SECURITY_TOKEN") or None, "environment")
    raise ConfigError(
        "ALIBABA_CLOUD_ACCESS_KEY_ID",
        "no credentials: the FC context carries none and ALIBABA_CLOUD_ACCESS_KEY_ID/"
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET are not set",
    )
