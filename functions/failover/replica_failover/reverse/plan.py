"""Targets from the DR site's view, their place in the action's flow and its preconditions -> a plan.

No writes: describes (ebs in the DR region, ``Site=backup``) and ECS DescribeDisks only. A request
that names ids the route does not have, names a group member as a pair, or selects more targets than
its cap is refused here (:class:`Refused`), before any write.

A group's current direction is its members' (``Source*``/``Destination*`` of a group may keep the
site information after a reprotect, the emulator's ``groupReprotectSwapsSite: false``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from replica_failover.reverse.client import DiskLookup, ReverseApi
from replica_failover.reverse.flows import FLOWS, Dir, Place, place
from replica_failover.reverse.models import Kind, Precondition, ReverseRequest, Step, TargetPlan
from replica_failover.reverse.scope import Scope
from replica_failover.reverse.tokens import step_token

ECS_BATCH = 100
ATTACHED_STATES = frozenset({"In_use", "Attaching", "Detaching"})


class Refused(ValueError):
    """The request cannot be run as asked; nothing was written."""


@dataclass
class View:
    """A pair or group as the DR site describes it now (a group with its member pairs)."""

    kind: Kind
    id: str
    record: dict[str, Any]
    members: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        return str(self.record.get("Status", ""))

    @property
    def route(self) -> tuple[str, str]:
        rec = self.members[0] if self.kind == "group" and self.members else self.record
        if "SourceRegion" in rec:
            return str(rec.get("SourceRegion", "")), str(rec.get("DestinationRegion", ""))
        return str(rec.get("SourceRegionId", "")), str(rec.get("DestinationRegionId", ""))

    @property
    def last_recover_point(self) -> int:
        return int(self.record.get("LastRecoverPoint") or 0)

    def direction(self, primary: str, dr: str) -> Dir | None:
        route = self.route
        return "fwd" if route == (primary, dr) else "rev" if route == (dr, primary) else None

    def disks_in(self, region: str) -> list[str]:
        out = []
        for rec in self.members if self.kind == "group" else [self.record]:
            if rec.get("SourceRegion") == region:
                out.append(str(rec.get("SourceDiskId", "")))
            elif rec.get("DestinationRegion") == region:
                out.append(str(rec.get("DestinationDiskId", "")))
        return [d for d in out if d]


def _id(kind: Kind, rec: dict[str, Any]) -> str:
    return str(rec.get("ReplicaPairId" if kind == "pair" else "ReplicaGroupId", ""))


def describe(api: ReverseApi, req: ReverseRequest, kind: Kind, ids: Sequence[str] | None) -> list[View]:
    """Views of ``ids`` (all of the DR region's when None) carrying the request's tags, groups with their
    members."""
    records = api.records(req.dr_region, kind, ids, req.tags)
    views = [View(kind, _id(kind, r), r) for r in records]
    if kind == "group":
        for v in views:
            v.members = api.records(req.dr_region, "pair", None, {}, group_id=v.id)
    return views


def select(api: ReverseApi, req: ReverseRequest, scope: Scope | None = None) -> list[View]:
    """The request's targets on its route, less those the deployment's allow/deny lists exclude."""
    want_pairs = req.pair_ids is not None or req.group_ids is None
    want_groups = req.group_ids is not None or req.pair_ids is None
    found: list[View] = []
    if want_groups:
        groups = describe(api, req, "group", req.group_ids)
        _named(req.group_ids, groups, req)
        found += [g for g in groups if g.direction(req.primary_region, req.dr_region)]
    if want_pairs:
        pairs = describe(api, req, "pair", req.pair_ids)
        _named(req.pair_ids, pairs, req)
        members = sorted(p.id for p in pairs if p.record.get("ReplicaGroupId"))
        if req.pair_ids is not None and members:
            raise Refused(f"{members[0]} is a member of a replica group: name its group (groupIds)")
        loose = [p for p in pairs if not p.record.get("ReplicaGroupId")]
        found += [p for p in loose if p.direction(req.primary_region, req.dr_region)]
    if scope is not None:
        found = [v for v in found if not scope.excludes(v.kind, v.id)]
    if len(found) > req.max_targets:
        raise Refused(f"{len(found)} targets selected, above maxTargets={req.max_targets}: narrow the selection")
    return found


def _named(ids: list[str] | None, views: list[View], req: ReverseRequest) -> None:
    if ids is None:
        return
    by_id = {v.id: v for v in views}
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        tagged = f" with the tags {sorted(req.tags.items())}" if req.tags else ""
        raise Refused(f"unknown to {req.dr_region}{tagged}: {', '.join(unknown[:5])}")
    off = [i for i in ids if by_id[i].direction(req.primary_region, req.dr_region) is None]
    if off:
        raise Refused(f"not on the route {req.primary_region}/{req.dr_region}: {', '.join(off[:5])}")


# ------------------------------------------------------------------ preconditions
@dataclass(frozen=True)
class DiskCheck:
    """Which disks must be detached before the action's writes, where, and what the API answers if not.

    ``strict``: the writes would let the DR side's copy be overwritten or the primary role change while
    the DR side may serve writes; the Failover/Reprotect calls make no attached-disk check we can rely
    on, so a disk we cannot see (region unreadable, disk not listed) blocks the target too."""

    name: str
    region: str
    code: str
    why: str
    strict: bool


def disk_check(req: ReverseRequest) -> DiskCheck:
    if req.action == "undo":
        return DiskCheck("drDisksDetached", req.dr_region, "OperationDenied.StandbyDeviceAttached",
                         "Start needs the DR-side (secondary) disks detached", True)  # fmt: skip
    if req.action == "reprotect":
        return DiskCheck("primaryDisksDetached", req.primary_region, "OperationDenied",
                         "reverse Reprotect and Start need the old primary's disks detached", False)  # fmt: skip
    return DiskCheck("drDisksDetached", req.dr_region, "OperationDenied",
                     "the DR side must be quiesced before the Failover: its disks detached", True)  # fmt: skip


NOT_LISTED = None  # a disk ECS does not list in the region


def detached_time(text: object) -> int:
    """ECS ``DetachedTime`` as epoch seconds, 0 when none. ECS gives it to the minute (``2026-12-01T07:39Z``):
    the end of that minute is taken, so a write up to the detach is never counted as replicated early."""
    for fmt, pad in (("%Y-%m-%dT%H:%M:%SZ", 0), ("%Y-%m-%dT%H:%MZ", 59)):
        try:
            return int(datetime.strptime(str(text), fmt).replace(tzinfo=timezone.utc).timestamp()) + pad
        except ValueError:
            continue
    return 0


def disk_states(
    ecs: DiskLookup | None, region: str, disk_ids: list[str], detached: dict[str, int] | None = None
) -> dict[str, str | None] | str:
    """disk id -> attached instance ("" = detached, None = not listed), or the check's error code.
    ``detached`` (when given) gets each disk's DetachedTime (epoch seconds)."""
    if ecs is None:
        return "NoEcsClient"
    out: dict[str, str | None] = dict.fromkeys(disk_ids, NOT_LISTED)
    try:
        for i in range(0, len(disk_ids), ECS_BATCH):
            for disk in ecs.describe_disks(region, disk_ids[i : i + ECS_BATCH]):
                did = str(disk.get("DiskId"))
                if did not in out:
                    continue
                attached = disk.get("Status") in ATTACHED_STATES or disk.get("InstanceId")
                out[did] = str(disk.get("InstanceId") or disk.get("Status")) if attached else ""
                if detached is not None and not attached:
                    detached[did] = detached_time(disk.get("DetachedTime"))
    except Exception as exc:  # ApiFailure / DrillApiError / a transport error: the region is not readable
        return str(getattr(exc, "code", "") or type(exc).__name__)
    return out


def precondition(check: DiskCheck, disks: list[str], states: dict[str, str | None] | str) -> Precondition:
    if isinstance(states, str):
        then = "blocked: check the DR side's disks are detached, then run again" if check.strict else "the API decides"
        return Precondition(name=check.name, region=check.region, state="unknown", code=states,
                            detail=f"{check.region} not readable ({states}): {then}; {check.why}")  # fmt: skip
    attached = [f"{d} on {states[d]}" for d in disks if states.get(d)]
    if attached:
        return Precondition(name=check.name, region=check.region, state="failed", code=check.code,
                            detail=f"attached: {', '.join(attached[:5])}; {check.why}")  # fmt: skip
    unlisted = [d for d in disks if states.get(d, NOT_LISTED) is NOT_LISTED]
    if unlisted and check.strict:
        return Precondition(name=check.name, region=check.region, state="unknown", code="DiskNotListed",
                            detail=f"not listed by ECS in {check.region}: {', '.join(unlisted[:5])}; check where "
                            f"these disks are and that they are detached; {check.why}")  # fmt: skip
    if not disks and check.strict:
        return Precondition(name=check.name, region=check.region, state="unknown", code="NoDisks",
                            detail=f"no disk of the target found in {check.region}; {check.why}")  # fmt: skip
    return Precondition(name=check.name, region=check.region, state="ok",
                        detail=f"{len(disks)} disk(s) detached in {check.region}")  # fmt: skip


def blocks(check: DiskCheck, pre: Precondition) -> str | None:
    """Why the precondition blocks the target's writes, or None."""
    if pre.state == "failed":
        return f"{check.name}: {pre.detail} (the API is expected to answer {check.code} [inferred])"
    if pre.state == "unknown" and check.strict:
        return f"{check.name} unknown: {pre.detail}"
    return None


@dataclass(frozen=True)
class Gate:
    """The disk precondition of one target read just before a write: why it blocks (or None), and the
    latest DetachedTime of its disks (0: never detached)."""

    pre: Precondition
    blocked: str | None
    last_detached: int


def read_gate(ecs: DiskLookup | None, req: ReverseRequest, view: View) -> Gate:
    check = disk_check(req)
    disks = view.disks_in(check.region)
    detached: dict[str, int] = {}
    pre = precondition(check, disks, disk_states(ecs, check.region, disks, detached) if disks else {})
    return Gate(pre, blocks(check, pre), max(detached.values(), default=0))


# ------------------------------------------------------------------ the plan
def steps_for(req: ReverseRequest, view: View, where: Place) -> list[Step]:
    """Every step of the flow with its region and token; those behind the target marked done."""
    out = []
    flow = FLOWS[req.action]
    at = where.step if where.step is not None and where.step < len(flow) else None
    for k, spec in enumerate(flow):
        src, dst = (req.primary_region, req.dr_region) if spec.before == "fwd" else (req.dr_region, req.primary_region)
        token = step_token(req.action, req.change, view.kind, view.id, src, dst, spec.name)
        state = "todo"
        if where.ordinal is not None and where.ordinal > 2 * k:
            # behind the target; the step before a Start it has to start is proven ours by a token replay
            verify = at is not None and k == at - 1 and flow[at].call == "start"
            state = "verify" if verify else "done"
        out.append(Step(step=spec.name, call=spec.api(view.kind), region=spec.region(req.primary_region, req.dr_region),
                        client_token=token, reverse_replicate=spec.reverse, state=state))  # fmt: skip
    return out


def target_plan(req: ReverseRequest, view: View, now: float) -> TargetPlan:
    d = view.direction(req.primary_region, req.dr_region)
    where = place(req.action, view.status, d)
    src, dst = view.route
    plan = TargetPlan(
        kind=view.kind, id=view.id, status=view.status, direction=f"{src}>{dst}",
        last_recover_point=view.last_recover_point,
        members=[str(m.get("ReplicaPairId")) for m in view.members], reason=where.reason,
    )  # fmt: skip
    if req.action == "failback" and view.last_recover_point:
        plan.rpo_seconds = max(0, int(now) - view.last_recover_point)
    if where.ordinal is None:
        plan.outcome = "skipped"
    elif where.final(req.action):
        plan.outcome = "alreadyDone"
    plan.steps = steps_for(req, view, where)
    return plan


def build(req: ReverseRequest, views: list[View], ecs: DiskLookup | None, now: float) -> list[TargetPlan]:
    """One plan per target; the disk precondition is read for the targets with work left."""
    plans = [target_plan(req, v, now) for v in views]
    check = disk_check(req)
    active = [(p, v) for p, v in zip(plans, views, strict=True) if p.outcome == "planned"]
    disks = {v.id: v.disks_in(check.region) for _, v in active}
    wanted = sorted({d for ds in disks.values() for d in ds})
    detached: dict[str, int] = {}
    states: dict[str, str | None] | str = disk_states(ecs, check.region, wanted, detached) if wanted else {}
    for p, v in active:
        pre = precondition(check, disks[v.id], states)
        p.preconditions.append(pre)
        why = blocks(check, pre)
        if why is not None:
            p.outcome, p.reason = "blocked", why
        last = max((detached.get(d, 0) for d in disks[v.id]), default=0)
        if req.action == "failback" and why is None and v.last_recover_point < last:
            p.reason += f"; the Failover waits for a replication cycle after DetachedTime {last}"
    return plans
