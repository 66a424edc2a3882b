"""Which primary region an event is about, and where that answer came from.

An event can name a region in several places; :func:`resolve_region` takes them in a fixed order of
trust (the operator's alarm map, an explicit field, dimensions, the resource ARN, the envelope) and
refuses to guess when the dimensions disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, NamedTuple

from replica_failover.config import is_region_id
from replica_failover.incident import RegionOrigin

_REGION_DIM_KEYS: Final = frozenset({"region", "regionid"})


@dataclass(frozen=True)
class RegionCandidates:
    """Places the unhealthy region may come from, in priority order."""

    mapped: str | None = None
    explicit: str | None = None
    dimensions: tuple[str, ...] = ()
    arn: str | None = None
    envelope: str | None = None


class RegionResolution(NamedTuple):
    region: str | None
    origin: RegionOrigin | None
    problem: str
    """Why no region was found ("" when one was)."""


def region_dimensions(dims: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """The distinct region ids named by ``region``/``regionId`` dimensions (any case), sorted."""
    return tuple(sorted({value for key, value in dims if key.lower() in _REGION_DIM_KEYS and is_region_id(value)}))


def resolve_region(c: RegionCandidates) -> RegionResolution:
    # The operator's alarm map wins: it is an explicit statement about what that alarm watches,
    # e.g. a probe whose own dimensions name the prober's region rather than the target's.
    if c.mapped:
        return RegionResolution(c.mapped, "alarm-map", "")
    if c.explicit:
        return RegionResolution(c.explicit, "field", "")
    if len(set(c.dimensions)) > 1:
        names = ", ".join(sorted(set(c.dimensions)))
        return RegionResolution(None, None, f"cannot determine the unhealthy region: dimensions name several ({names})")
    if c.dimensions:
        return RegionResolution(c.dimensions[0], "dimensions", "")
    if c.arn:
        return RegionResolution(c.arn, "arn", "")
    if c.envelope:
        return RegionResolution(c.envelope, "envelope", "")
    return RegionResolution(
        None,
        None,
        "cannot determine the unhealthy region from the event "
        "(no region field, dimension, ARN or FAILOVER_ALARM_REGION_MAP entry)",
    )
