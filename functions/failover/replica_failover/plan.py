"""Incident + what the DR region reports -> Plan: which pairs and groups to fail over, and why not others.

Selection: what currently replicates *from* the unhealthy region *into* the DR region (pairs:
``SourceRegion``/``DestinationRegion``; groups: ``SourceRegionId``/``DestinationRegionId``), then the
configured filters. A pair in a group is never failed over on its own: its group is the unit.

ClientToken: each item carries the base of its token chain (token.py): primary region, DR region,
target and replication direction, nothing that moves while the primary replicates. The executor
walks the chain (execute.py); ``client_token`` is round 0, the token a dry run shows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from replica_failover.config import Settings
from replica_failover.incident import Incident
from replica_failover.token import chain_base, round_token

TargetKind = Literal["pair", "group"]
Decision = Literal["failover", "alreadyFailedOver", "skipped"]

ALREADY = frozenset({"failovering", "failovered"})
# not yet replicating, going away, or mid-reversal: a failover would fail or do harm
PAIR_SKIP = {
    "invalid": "the pair is invalid",
    "deleted": "the pair is deleted",
    "deleting": "the pair is being deleted",
    "delete_failed": "the pair failed deletion",
    "creating": "the pair is still being created",
    "created": "the pair has never replicated",
    "create_failed": "the pair failed creation",
    "initial_syncing": "the first full copy has not finished",
    "reprotecting": "a reprotect (reverse replication) is in progress",
    "reprotect_failed": "a reprotect failed; fix it by hand",
}
GROUP_FAILOVER_FROM = frozenset(
    {"manual_syncing", "syncing", "normal", "stopping", "stop_failed", "stopped", "failover_failed"}
)


def can_fail_over(kind: TargetKind, status: str) -> bool:
    """The plan's own rule: would a target in ``status`` be sent a failover call?"""
    if kind == "group":
        return status in GROUP_FAILOVER_FROM
    return bool(status) and status not in PAIR_SKIP and status not in ALREADY


class PlanItem(BaseModel):
    model_config = ConfigDict(frozen=True)
    kind: TargetKind
    id: str
    name: str = ""
    region: str  # where the call goes: the secondary's (DR) region
    source_region: str
    status: str
    decision: Decision
    reason: str
    client_token: str | None = None  # round 0 of the chain
    token_base: str | None = None  # the executor sends round_token(token_base, k)
    members: tuple[str, ...] = ()


class Plan(BaseModel):
    model_config = ConfigDict(frozen=True)
    primary_region: str
    dr_region: str
    items: tuple[PlanItem, ...]
    refused: str | None = None
    considered_pairs: int = 0
    considered_groups: int = 0

    @property
    def to_failover(self) -> tuple[PlanItem, ...]:
        return tuple(i for i in self.items if i.decision == "failover")

    def summary(self) -> dict[str, int]:
        out = {"failover": 0, "alreadyFailedOver": 0, "skipped": 0}
        for item in self.items:
            out[item.decision] += 1
        return out


# Every field of a describe record that build_plan (and token.chain_base) reads: an invocation without
# a recovery map keeps only these, dropping the rest of each record as its page arrives (ebs.py ``fields``).
PAIR_FIELDS = ("ReplicaPairId", "PairName", "SourceRegion", "DestinationRegion", "Status", "ReplicaGroupId",
               "ResourceGroupId", "Tags")  # fmt: skip
GROUP_FIELDS = ("ReplicaGroupId", "GroupName", "SourceRegionId", "DestinationRegionId", "Status", "PairIds",
                "ResourceGroupId", "Tags")  # fmt: skip


def _tags(record: dict[str, Any]) -> dict[str, str]:
    tags = record.get("Tags") or []
    return {str(t.get("TagKey")): str(t.get("TagValue", "")) for t in tags if isinstance(t, dict)}


def _filter_reason(
    kind: TargetKind, rid: str, record: dict[str, Any], settings: Settings, incident: Incident
) -> str | None:
    allow = settings.allow_pair_ids if kind == "pair" else settings.allow_group_ids
    deny = settings.deny_pair_ids if kind == "pair" else settings.deny_group_ids
    wanted = incident.pair_ids if kind == "pair" else incident.group_ids
    if rid in deny:
        return f"{kind} is on the deny list"
    if allow is not None and rid not in allow:
        return f"{kind} is not on the allow list"
    if (incident.pair_ids or incident.group_ids) and rid not in wanted:
        return "not named by the manual request"
    if settings.resource_group_id and record.get("ResourceGroupId") != settings.resource_group_id:
        return f"not in resource group {settings.resource_group_id}"
    have = _tags(record)
    missing = [f"{k}={v}" for k, v in settings.tags if have.get(k) != v]
    if missing:
        return f"missing required tags {', '.join(missing)}"
    return None


# One set per shape of item: pydantic keeps, on each instance, the set of fields it was given (about
# 0.7 KB, near half a PlanItem; 7 MB at 10,000 targets), and the items of one shape were all given the
# same ones. PlanItem is frozen, so no set is added to in place: model_copy copies it first.
_FIELDS_GIVEN: dict[frozenset[str], set[str]] = {}


def _item(base: dict[str, Any], decision: Decision, reason: str, chain: str | None = None) -> PlanItem:
    token = round_token(chain, 0) if chain else None
    item = PlanItem.model_validate(
        {**base, "decision": decision, "reason": reason, "client_token": token, "token_base": chain}
    )
    given = item.__pydantic_fields_set__
    object.__setattr__(item, "__pydantic_fields_set__", _FIELDS_GIVEN.setdefault(frozenset(given), given))
    return item


def build_plan(
    incident: Incident, settings: Settings, pairs: Iterable[dict[str, Any]], groups: Iterable[dict[str, Any]]
) -> Plan:
    assert incident.primary_region is not None
    primary, dr = incident.primary_region, incident.dr_region
    items: list[PlanItem] = []
    selected_groups: dict[str, dict[str, Any]] = {}
    n_pairs = n_groups = 0

    for g in groups:
        if (g.get("SourceRegionId"), g.get("DestinationRegionId")) != (primary, dr):
            continue
        n_groups += 1
        gid = str(g.get("ReplicaGroupId", ""))
        status = str(g.get("Status", ""))
        members = tuple(str(p) for p in (g.get("PairIds") or []))
        base: dict[str, Any] = {
            "kind": "group",
            "id": gid,
            "name": str(g.get("GroupName", "")),
            "region": dr,
            "source_region": primary,
            "status": status,
            "members": members,
        }
        why = _filter_reason("group", gid, g, settings, incident)
        if why:
            items.append(_item(base, "skipped", why))
            continue
        selected_groups[gid] = g
        if status in ALREADY:
            items.append(_item(base, "alreadyFailedOver", f"group is {status}"))
        elif status not in GROUP_FAILOVER_FROM:
            items.append(_item(base, "skipped", f"group status {status} cannot fail over"))
        else:
            chain = chain_base(primary, dr, "group", g)
            items.append(_item(base, "failover", "replicates from the unhealthy region", chain))

    for p in pairs:
        if (p.get("SourceRegion"), p.get("DestinationRegion")) != (primary, dr):
            continue
        n_pairs += 1
        pid = str(p.get("ReplicaPairId", ""))
        status = str(p.get("Status", ""))
        group = str(p.get("ReplicaGroupId") or "")
        base = {
            "kind": "pair",
            "id": pid,
            "name": str(p.get("PairName", "")),
            "region": dr,
            "source_region": primary,
            "status": status,
        }
        if group:
            if group in selected_groups:
                continue  # the group's item covers it
            why = f"member of group {group}, which is not selected; groups fail over as a unit"
            items.append(_item(base, "skipped", why))
            continue
        why = _filter_reason("pair", pid, p, settings, incident)
        if why:
            items.append(_item(base, "skipped", why))
        elif status in ALREADY:
            items.append(_item(base, "alreadyFailedOver", f"pair is {status}"))
        elif status in PAIR_SKIP or not status:
            items.append(_item(base, "skipped", PAIR_SKIP.get(status, "unknown status")))
        else:
            chain = chain_base(primary, dr, "pair", p)
            items.append(_item(base, "failover", "replicates from the unhealthy region", chain))

    # manual requests name ids that may not exist or not replicate from that region: say so
    named = {("pair", i) for i in incident.pair_ids} | {("group", i) for i in incident.group_ids}
    for kind, rid in sorted(named - {(i.kind, i.id) for i in items}):
        base = {"kind": kind, "id": rid, "region": dr, "source_region": primary, "status": "unknown"}
        items.append(_item(base, "skipped", f"not found replicating {primary} -> {dr}"))

    items.sort(key=lambda i: (i.kind != "group", i.id))
    plan = Plan(
        primary_region=primary, dr_region=dr, items=tuple(items), considered_pairs=n_pairs, considered_groups=n_groups
    )
    n = len(plan.to_failover)
    if n > settings.max_targets:
        return plan.model_copy(
            update={
                "refused": (
                    f"blast-radius cap: {n} pairs+groups would fail over, more than FAILOVER_MAX_TARGETS="
                    f"{settings.max_targets}; nothing was done. Raise the cap or fail over by hand with a manual event."
                )
            }
        )
    return plan
