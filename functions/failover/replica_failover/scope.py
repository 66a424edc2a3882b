"""The deployment's limits on what an operator action may touch: the allow/deny lists, the required
tags and the target cap the failover applies (``FAILOVER_ALLOW_*``/``_DENY_*``, ``FAILOVER_TAGS``,
``FAILOVER_MAX_TARGETS``). The drill and the reverse actions check their events with these.

Every check raises ValueError before anything is called; the caller words it as its own rejection.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from replica_failover.config import Settings


@dataclass(frozen=True)
class Scope:
    allow_pairs: frozenset[str] | None = None
    deny_pairs: frozenset[str] = frozenset()
    allow_groups: frozenset[str] | None = None
    deny_groups: frozenset[str] = frozenset()

    @classmethod
    def of(cls, s: Settings) -> Scope:
        return cls(s.allow_pair_ids, s.deny_pair_ids, s.allow_group_ids, s.deny_group_ids)

    def excludes(self, kind: Literal["pair", "group"], target_id: str) -> bool:
        allow, deny = (self.allow_pairs, self.deny_pairs) if kind == "pair" else (self.allow_groups, self.deny_groups)
        return target_id in deny or (allow is not None and target_id not in allow)

    def check_named(self, pairs: Iterable[str], groups: Iterable[str]) -> None:
        """Named ids the lists exclude are refused, as a failover of them would be."""
        for kind, ids in (("pair", pairs), ("group", groups)):
            barred = sorted(i for i in ids if self.excludes(kind, i))  # type: ignore[arg-type]
            if barred:
                raise ValueError(f"{kind} {barred[0]} is excluded by the function's {kind} allow/deny list")


def required_tags(s: Settings, asked: Mapping[str, str] | None) -> dict[str, str]:
    """The event's tags merged with the ones the function requires; a conflict is refused."""
    tags = s.tag_dict()
    for key, value in (asked or {}).items():
        if tags.get(key, value) != value:
            raise ValueError(f"tags.{key} conflicts with the tag the function requires")
        tags[key] = value
    return tags


def capped(asked: int | None, s: Settings) -> int:
    """The event's cap, never above the function's."""
    return min(asked or s.max_targets, s.max_targets)
