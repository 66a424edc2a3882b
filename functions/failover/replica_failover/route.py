"""Field types for an operator's route and selection (drill and reverse requests): a region id,
pair and group id lists, tags. Each checks syntax only; scope.py applies the deployment's limits."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from replica_failover.config import GROUP_ID_RE, PAIR_ID_RE, is_region_id


def _region(v: str) -> str:
    if not is_region_id(v):
        raise ValueError("not a valid region id (expected e.g. cn-hangzhou)")
    return v


def _pairs(v: list[str] | None) -> list[str] | None:
    bad = [x for x in v or [] if not PAIR_ID_RE.fullmatch(x)]
    if bad:
        raise ValueError(f"not a replica pair id (expected pair-...): {bad[0][:80]!r}")
    return sorted(set(v)) if v is not None else None


def _groups(v: list[str] | None) -> list[str] | None:
    bad = [x for x in v or [] if not GROUP_ID_RE.fullmatch(x)]
    if bad:
        raise ValueError(f"not a replica group id (expected pg-...): {bad[0][:80]!r}")
    return sorted(set(v)) if v is not None else None


def _tags(v: dict[str, str]) -> dict[str, str]:
    for key, value in v.items():
        if not 1 <= len(key) <= 128 or len(value) > 128 or not (key + value).isprintable():
            raise ValueError("a tag key is 1-128 printable characters, a value at most 128")
    return v


RegionId = Annotated[str, AfterValidator(_region)]
PairIds = Annotated[list[str] | None, AfterValidator(_pairs)]  # sorted, without repeats
GroupIds = Annotated[list[str] | None, AfterValidator(_groups)]
Tags = Annotated[dict[str, str], AfterValidator(_tags)]
