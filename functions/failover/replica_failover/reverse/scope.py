"""A reverse request within the deployment's limits (replica_failover/scope.py has the rules)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from replica_failover.scope import Scope, capped, required_tags

if TYPE_CHECKING:
    from replica_failover.config import Settings
    from replica_failover.reverse.models import ReverseRequest

__all__ = ["Scope", "scoped"]


def scoped(req: ReverseRequest, s: Settings) -> ReverseRequest:
    """``req`` within the deployment's limits; ValueError (nothing called yet) when it asks past them."""
    Scope.of(s).check_named(req.pair_ids or [], req.group_ids or [])
    tags = required_tags(s, req.tags)
    asked = req.max_targets if "max_targets" in req.model_fields_set else None
    return req.model_copy(update={"tags": tags, "max_targets": capped(asked, s)})
