"""The deployment's limits on what a reverse action may touch: the same allow/deny lists, required
tags and target cap the failover and the drill apply (``FAILOVER_ALLOW_*``/``_DENY_*``,
``FAILOVER_TAGS``, ``FAILOVER_MAX_TARGETS``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from replica_failover.config import Settings
    from replica_failover.reverse.models import Kind, ReverseRequest


@dataclass(frozen=True)
class Scope:
    allow_pairs: frozenset[str] | None = None
    deny_pairs: frozenset[str] = frozenset()
    allow_groups: frozenset[str] | None = None
    deny_groups: frozenset[str] = frozenset()

    @classmethod
    def of(cls, s: Settings) -> Scope:
        return cls(s.allow_pair_ids, s.deny_pair_ids, s.allow_group_ids, s.deny_group_ids)

    def excludes(self, kind: Kind, target_id: str) -> bool:
        allow, deny = (self.allow_pairs, self.deny_pairs) if kind == "pair" else (self.allow_groups, self.deny_groups)
        return target_id in deny or (allow is not None and target_id not in allow)


def scoped(req: ReverseRequest, s: Settings) -> ReverseRequest:
    """``req`` within the deployment's limits; ValueError (nothing called yet) when it asks past them."""
    scope = Scope.of(s)
    for kind, ids in (("pair", req.pair_ids or []), ("group", req.group_ids or [])):
        barred = sorted(i for i in ids if scope.excludes(kind, i))  # type: ignore[arg-type]
        if barred:
            raise ValueError(f"{kind} {barred[0]} is excluded by the function's {kind} allow/deny list")
    tags = s.tag_dict()
    for key, value in req.tags.items():
        if tags.get(key, value) != value:
            raise ValueError(f"tags.{key} conflicts with the tag the function requires")
        tags[key] = value
    asked = req.max_targets if "max_targets" in req.model_fields_set else s.max_targets
    return req.model_copy(update={"tags": tags, "max_targets": min(asked, s.max_targets)})
