"""Fan-out configuration, read from the environment beside :class:`~replica_failover.config.Settings`.

``FAILOVER_BATCH_SIZE`` [0 = never fan out]: most targets one invocation carries; a larger plan is
fanned out, and so is one that needs more time than is left (split.py). Opt-in, because the
function's role then needs ``fc:InvokeFunction`` on the function itself.
``FAILOVER_RATE_LIMIT`` [unset]: the region's API rate (requests/s) all workers of one incident
share; each worker is paced at ``rate / workers``. ``FAILOVER_MAX_WORKERS`` [100]: most batches
one incident is split into. ``FC_API_VERSION`` [2016-08-15] or 2023-03-30: the FC API the
coordinator invokes through. ``FC_ENDPOINT``, ``FAILOVER_SERVICE``, ``FAILOVER_FUNCTION``: where
the workers run [this function, at FC's regional endpoint]. ``FAILOVER_SHARE_REFRESH_SECONDS`` [5]:
how often a worker re-sizes its share to the workers still running (FC 3.0).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from replica_failover.errors import ConfigError

FC2_API: Final = "2016-08-15"
FC3_API: Final = "2023-03-30"
ApiVersion = Literal["2016-08-15", "2023-03-30"]
_NAME = r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$"

VARIABLES: Final = {
    "batch_size": "FAILOVER_BATCH_SIZE",
    "rate_limit": "FAILOVER_RATE_LIMIT",
    "max_workers": "FAILOVER_MAX_WORKERS",
    "api_version": "FC_API_VERSION",
    "endpoint": "FC_ENDPOINT",
    "service": "FAILOVER_SERVICE",
    "function": "FAILOVER_FUNCTION",
    "share_refresh_seconds": "FAILOVER_SHARE_REFRESH_SECONDS",
}


class FanoutSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    batch_size: int = Field(default=0, ge=0, le=10_000)
    rate_limit: float | None = Field(default=None, gt=0, le=100_000, allow_inf_nan=False)
    max_workers: int = Field(default=100, ge=1, le=1000)
    api_version: ApiVersion = FC2_API
    endpoint: str | None = Field(default=None, pattern=r"^(https?://)?[A-Za-z0-9.:_-]{1,255}/?$")
    service: str | None = Field(default=None, pattern=_NAME)
    function: str | None = Field(default=None, pattern=_NAME)
    # how often a worker re-sizes its rate share to the workers still running (FC 3.0; quota.py)
    share_refresh_seconds: float = Field(default=5.0, ge=0.1, le=300, allow_inf_nan=False)


def load_fanout_settings(env: Mapping[str, str]) -> FanoutSettings:
    """The fan-out settings; raises ConfigError naming the first bad variable."""
    values = {k: env[v].strip() for k, v in VARIABLES.items() if env.get(v, "").strip()}
    try:
        return FanoutSettings.model_validate(values)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        field = str(first.get("loc", ("?",))[0])
        raise ConfigError(VARIABLES.get(field, field), str(first.get("msg", "invalid"))) from None
