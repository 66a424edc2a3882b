"""After storage fails over: attach the secondary disks to standby instances, start them, switch DNS.

``map`` declares what goes where, ``validate`` checks it against described resources at plan time,
``steps`` decides the next action of each step from what was read, ``ecs``/``dns``/``hook`` talk to
the APIs; in the function, ``prepare`` builds a ``stage`` at plan time, the stage runs it after storage,
and ``report`` shapes its part of the result.
"""

from __future__ import annotations

from collections.abc import Mapping

PLAN_ENV = "FAILOVER_RECOVERY_PLAN"
TAGS_ENV = "FAILOVER_RECOVERY_TAGS"


def configured(env: Mapping[str, str]) -> bool:
    """Whether this function recovers the service at all: a map file, or standby tags read. Here, not
    in ``prepare``, so an invocation without a recovery map never imports the stages (about 2 MB)."""
    return bool(env.get(PLAN_ENV, "").strip()) or env.get(TAGS_ENV, "").strip().lower() in ("1", "true", "yes")
