"""The ebs replica state (moto's ``models.py`` backend): pairs, groups, their transitions, describes.

The write operations are in ``replication.py`` (a mixin of :class:`EbsBackend`). Transient
states (``failovering`` …) complete after ``config.transition_delays[state]`` seconds of
emulator time; completion is applied lazily, under the lock, before any read or write, from a
heap of due times, so a test advances the clock instead of sleeping.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar, get_args, get_origin

from pydantic import BaseModel

from chaos.emulator.clock import Clock
from chaos.emulator.config import EmulatorConfig
from chaos.emulator.ebs.drills import DrillOperations, DrillState
from chaos.emulator.ebs.fleet import generate_fleet
from chaos.emulator.ebs.models import FleetSpec, GroupRecord, PairRecord, Tag
from chaos.emulator.ebs.replication import CallContext, Kind, ReplicationOperations
from chaos.emulator.ledger import Ledger
from chaos.emulator.replica_events import ReplicaEvents, SecondaryDisk

__all__ = ["CallContext", "EbsBackend", "Filters", "Kind", "Pager", "snapshot"]
R = TypeVar("R", PairRecord, GroupRecord)
# cuts the matching records (id order) to the page answered, plus the pagination fields
Pager = Callable[[list[R]], tuple[list[R], dict[str, Any]]]

# transient state -> state it settles into
COMPLETES_TO = {
    "creating": "created",
    "initial_syncing": "normal",
    "syncing": "normal",
    "manual_syncing": "stopped",
    "stopping": "stopped",
    "failovering": "failovered",
    "reprotecting": "stopped",
    "deleting": "deleted",
}
# completing these means a replication cycle finished: LastRecoverPoint moves
SYNC_STATES = frozenset({"initial_syncing", "syncing", "manual_syncing"})
# while in these, LastRecoverPoint moves on every replication cycle (config.replication_cycle_seconds)
REPLICATING = frozenset({"normal", "syncing"})


@dataclass
class Filters:
    region_id: str
    ids: frozenset[str] | None = None
    group_id: str | None = None  # pairs only; "-" = in no group
    name: str | None = None
    resource_group_id: str | None = None
    tags: tuple[tuple[str, str | None], ...] = ()


class EbsBackend(ReplicationOperations, DrillOperations):
    def __init__(
        self,
        clock: Clock,
        config: Callable[[], EmulatorConfig],
        ledger: Ledger,
        announce: Callable[[SecondaryDisk], None] | None = None,
        *,
        events: ReplicaEvents | None = None,
    ) -> None:
        self.clock = clock
        self._announce = announce
        self._config = config
        self.ledger = ledger
        self.lock: threading.RLock = ledger.lock
        self.pairs: dict[str, PairRecord] = {}
        self.groups: dict[str, GroupRecord] = {}
        # (kind, id) -> (target status, due, version); heap holds (due, seq, kind, id, version)
        self._pending: dict[tuple[Kind, str], tuple[str, float, int]] = {}
        self._heap: list[tuple[float, int, Kind, str, int]] = []
        self._seq = itertools.count()
        self._last_oneshot: dict[str, float] = {}
        self._drill = DrillState()
        self._drill_announce = events.publish_drill if events is not None else None
        # whether ECS has a disk on an instance (reprotect/start preconditions); without ECS: never
        self._attached: Callable[[str], bool] = events.attached if events is not None else lambda _disk: False

    def config(self) -> EmulatorConfig:
        return self._config()

    # ------------------------------------------------------------------ time
    def settle(self) -> None:
        """Apply every transition whose due time has passed."""
        with self.lock:
            now = self.clock.now()
            while self._heap and self._heap[0][0] <= now:
                due, _, kind, rid, version = heapq.heappop(self._heap)
                current = self._pending.get((kind, rid))
                if current is None or current[2] != version:
                    continue  # superseded by a later operation or a control-plane flip
                del self._pending[(kind, rid)]
                rec = self._get(kind, rid)
                if rec is None:
                    continue
                before = rec.Status
                self._catch_up(rec, due)
                rec.Status = current[0]
                self._role_changed(rec, before)
                if before in SYNC_STATES:
                    rec.LastRecoverPoint = int(due)
                self.ledger.record_transition(
                    {"time": due, "targetType": kind, "targetId": rid, "from": before, "to": rec.Status}
                )
            if self._drill.drills:
                self._settle_drills(now)

    def _catch_up(self, rec: PairRecord | GroupRecord, now: float | None = None) -> None:
        """Move a replicating record's LastRecoverPoint to its latest cycle; call before its status changes.

        Lazy, like transitions: kept as the last point reached and caught up when read or left, so a
        describe costs nothing per record it does not answer.
        """
        if rec.Status not in REPLICATING or rec.LastRecoverPoint <= 0:
            return
        cycle = self._config().replication_cycle_seconds
        t = self.clock.now() if now is None else now
        cycles = int((t - rec.LastRecoverPoint) // cycle)
        if cycles > 0:
            rec.LastRecoverPoint += int(cycles * cycle)

    def _get(self, kind: Kind, rid: str) -> PairRecord | GroupRecord | None:
        return self.pairs.get(rid) if kind == "pair" else self.groups.get(rid)

    def _enter(self, kind: Kind, rec: PairRecord | GroupRecord, transient: str, final: str | None = None) -> None:
        """Put ``rec`` into ``transient``; it completes to ``final`` after the configured delay."""
        rid = rec.ReplicaPairId if isinstance(rec, PairRecord) else rec.ReplicaGroupId
        self._catch_up(rec)
        before, rec.Status = rec.Status, transient
        self._role_changed(rec, before)
        target = final or COMPLETES_TO[transient]
        delay = max(0.0, self._config().transition_delays.get(transient, 1.0))
        version = next(self._seq)
        due = self.clock.now() + delay
        self._pending[(kind, rid)] = (target, due, version)
        heapq.heappush(self._heap, (due, version, kind, rid, version))

    def _set(self, kind: Kind, rec: PairRecord | GroupRecord, status: str) -> None:
        rid = rec.ReplicaPairId if isinstance(rec, PairRecord) else rec.ReplicaGroupId
        self._pending.pop((kind, rid), None)
        self._catch_up(rec)
        before, rec.Status = rec.Status, status
        self._role_changed(rec, before)

    def _role_changed(self, rec: PairRecord | GroupRecord, before: str | None) -> None:
        """Tell ecs when a pair's secondary disk becomes writable (``failovered``) or stops being so."""
        if self._announce is None or not isinstance(rec, PairRecord) or not rec.DestinationDiskId:
            return
        if before is not None and (before == "failovered") == (rec.Status == "failovered"):
            return
        self._announce(
            SecondaryDisk(
                disk_id=rec.DestinationDiskId,
                region_id=rec.DestinationRegion,
                zone_id=rec.DestinationZoneId,
                pair_id=rec.ReplicaPairId,
                writable=rec.Status == "failovered",
            )
        )

    def _effect(self, ctx: CallContext, kind: Kind, rid: str, before: str, after: str, **extra: Any) -> None:
        self.ledger.record_effect(ctx.effect_entry(self.clock.now(), kind, rid, {"from": before, "to": after, **extra}))

    # ------------------------------------------------------------- seeding
    def seed_pairs(self, records: Iterable[PairRecord]) -> list[str]:
        """Seeded states hold, transient ones too (a fleet is a fixture); to make a seeded ``failovering``
        complete, flip it through the control plane, which schedules the transition."""
        with self.lock:
            records = list(records)
            for rec in records:
                if rec.ReplicaGroupId and rec.ReplicaGroupId not in self.groups:
                    raise ValueError(f"{rec.ReplicaPairId}: group {rec.ReplicaGroupId} does not exist; seed it first")
            now = int(self.clock.now())
            for rec in records:
                rec.CreateTime = rec.CreateTime or now - 86_400
                if not rec.LastRecoverPoint and rec.Status not in ("creating", "created", "initial_syncing"):
                    rec.LastRecoverPoint = now - 300
                old = self.pairs.get(rec.ReplicaPairId)
                if old and old.ReplicaGroupId and old.ReplicaGroupId != rec.ReplicaGroupId:
                    self._unlink(old)
                self.pairs[rec.ReplicaPairId] = rec
                self._pending.pop(("pair", rec.ReplicaPairId), None)
                self._role_changed(rec, None)
                if rec.ReplicaGroupId:
                    self._link(rec, self.groups[rec.ReplicaGroupId])
            return [r.ReplicaPairId for r in records]

    def seed_groups(self, records: Iterable[GroupRecord]) -> list[str]:
        with self.lock:
            records = list(records)
            for grp in records:
                if len(grp.PairIds) > 17:
                    raise ValueError(f"{grp.ReplicaGroupId}: at most 17 pairs per group")
                for pid in grp.PairIds:
                    if pid not in self.pairs:
                        raise ValueError(f"{grp.ReplicaGroupId}: pair {pid} does not exist; seed pairs first")
            now = int(self.clock.now())
            for grp in records:
                if not grp.LastRecoverPoint and grp.Status not in ("creating", "created", "initial_syncing"):
                    grp.LastRecoverPoint = now - 300
                members = list(grp.PairIds)
                grp.PairIds = []
                self.groups[grp.ReplicaGroupId] = grp
                self._pending.pop(("group", grp.ReplicaGroupId), None)
                for pid in members:
                    self._link(self.pairs[pid], grp)
            return [g.ReplicaGroupId for g in records]

    def _link(self, pair: PairRecord, grp: GroupRecord) -> None:
        if (pair.SourceRegion, pair.DestinationRegion) != (grp.SourceRegionId, grp.DestinationRegionId):
            raise ValueError(
                f"{pair.ReplicaPairId} replicates {pair.SourceRegion}->{pair.DestinationRegion} but group "
                f"{grp.ReplicaGroupId} replicates {grp.SourceRegionId}->{grp.DestinationRegionId}"
            )
        if pair.ReplicaGroupId and pair.ReplicaGroupId != grp.ReplicaGroupId and pair.ReplicaGroupId in self.groups:
            self._unlink(pair)
        pair.ReplicaGroupId = grp.ReplicaGroupId
        pair.ReplicaGroupName = grp.GroupName
        if pair.ReplicaPairId not in grp.PairIds:
            if len(grp.PairIds) >= 17:
                raise ValueError(f"{grp.ReplicaGroupId}: at most 17 pairs per group")
            grp.PairIds.append(pair.ReplicaPairId)
        grp.PairNumber = len(grp.PairIds)

    def _unlink(self, pair: PairRecord) -> None:
        grp = self.groups.get(pair.ReplicaGroupId)
        if grp and pair.ReplicaPairId in grp.PairIds:
            grp.PairIds.remove(pair.ReplicaPairId)
            grp.PairNumber = len(grp.PairIds)
        pair.ReplicaGroupId = ""
        pair.ReplicaGroupName = ""

    def generate(self, spec: FleetSpec) -> dict[str, list[str]]:
        """N pairs over the routes, statuses drawn by weight, a fraction grouped; same seed, same fleet."""
        pairs, groups = generate_fleet(spec)
        with self.lock:
            self.seed_pairs(pairs)
            self.seed_groups(groups)
        return {"pairs": [p.ReplicaPairId for p in pairs], "groups": [g.ReplicaGroupId for g in groups]}

    def flip(self, kind: Kind, rid: str, status: str, *, complete_to: str | None = None) -> dict[str, Any]:
        """Control-plane state flip (a pair turning ``invalid`` mid-run). Not an API effect."""
        with self.lock:
            self.settle()
            rec = self._get(kind, rid)
            if rec is None:
                raise KeyError(rid)
            before = rec.Status
            if status in COMPLETES_TO or complete_to:
                self._enter(kind, rec, status, complete_to)
            else:
                self._set(kind, rec, status)
            self.ledger.record_transition(
                {
                    "time": self.clock.now(),
                    "targetType": kind,
                    "targetId": rid,
                    "from": before,
                    "to": status,
                    "cause": "control-plane",
                }
            )
            return rec.api()

    def reset(self) -> None:
        with self.lock:
            self.pairs.clear()
            self.groups.clear()
            self._pending.clear()
            self._heap.clear()
            self._last_oneshot.clear()
            self._drill = DrillState()

    # ----------------------------------------------------- control-plane reads
    def records(self, kind: Kind) -> list[dict[str, Any]]:
        """Every record of ``kind`` (deleted ones too) in id order, as API documents, transitions applied."""
        with self.lock:
            self.settle()
            table: dict[str, PairRecord] | dict[str, GroupRecord] = self.pairs if kind == "pair" else self.groups
            return [rec.api() for _, rec in sorted(table.items())]

    def record(self, kind: Kind, rid: str) -> dict[str, Any] | None:
        with self.lock:
            self.settle()
            rec = self._get(kind, rid)
            return None if rec is None else rec.api()

    # ------------------------------------------------------------ describe
    def unknown_ids(self, kind: Kind, ids: frozenset[str]) -> list[str]:
        """The ids in ``ids`` naming no (undeleted) record, sorted."""
        with self.lock:
            table: dict[str, PairRecord] | dict[str, GroupRecord] = self.pairs if kind == "pair" else self.groups
            return sorted(i for i in ids if i not in table or table[i].Status == "deleted")

    def serving_regions(self, kind: Kind, region: str, site: str) -> set[str]:
        """The regions holding the ``site`` view of the records seen from ``region``: for ``production``
        each record's current source region, for ``backup`` its destination region [INF]."""
        with self.lock:
            table: dict[str, PairRecord] | dict[str, GroupRecord] = self.pairs if kind == "pair" else self.groups
            out: set[str] = set()
            for rec in table.values():
                src, dst = self.current_route(rec)
                if region in (src, dst) and rec.Status != "deleted":
                    out.add(src if site == "production" else dst)
            return out

    def describe_pairs(self, f: Filters, page: Pager[PairRecord]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        common = _has_common(f)
        region, ids, group = f.region_id, f.ids, f.group_id

        def keep(pid: str, p: PairRecord) -> bool:
            return (
                region in (p.SourceRegion, p.DestinationRegion)
                and p.Status != "deleted"
                and (ids is None or pid in ids)
                and (group is None or (not p.ReplicaGroupId if group == "-" else p.ReplicaGroupId == group))
                and (not common or _common_match(p.PairName, p.ResourceGroupId, p.Tags, f))
            )

        return self._describe(self.pairs, keep, page)

    def describe_groups(self, f: Filters, page: Pager[GroupRecord]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        common = _has_common(f)
        region, ids = f.region_id, f.ids

        def keep(gid: str, g: GroupRecord) -> bool:
            return (
                region in (g.SourceRegionId, g.DestinationRegionId)
                and g.Status != "deleted"
                and (ids is None or gid in ids)
                and (not common or _common_match(g.GroupName, g.ResourceGroupId, g.Tags, f))
            )

        return self._describe(self.groups, keep, page)

    def _describe(
        self, table: dict[str, R], keep: Callable[[str, R], bool], page: Pager[R]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The records ``keep`` accepts in id order, cut by ``page``; only the page is copied (as dicts).

        Copying every match per call made a describe O(fleet) deep copies; now the filter reads the
        live records under the lock and only the answered page is serialised, still under the lock.
        """
        with self.lock:
            self.settle()
            chosen, meta = page([rec for rid, rec in sorted(table.items()) if keep(rid, rec)])
            for rec in chosen:
                self._catch_up(rec)
            return [snapshot(rec) for rec in chosen], meta


def snapshot(rec: PairRecord | GroupRecord) -> dict[str, Any]:
    """``rec.api()`` (``model_dump()``) for the flat records we keep, about 5x faster.

    Records hold scalars, lists of scalars and lists of flat models (``Tags``), so a copy of the
    instance dict with its lists copied is the same document; tests/emulator/test_bench_smoke.py
    checks the equality field for field. Call it under the backend lock.
    """
    out = dict(rec.__dict__)
    for name, nested in _LIST_FIELDS[rec.__class__]:
        out[name] = [dict(v.__dict__) for v in out[name]] if nested else list(out[name])
    return out


# per record class: its list fields, and whether they hold (flat) models or scalars
_LIST_FIELDS: dict[type[BaseModel], list[tuple[str, bool]]] = {
    cls: [
        (name, isinstance(get_args(f.annotation)[0], type) and issubclass(get_args(f.annotation)[0], BaseModel))
        for name, f in cls.model_fields.items()
        if get_origin(f.annotation) is list
    ]
    for cls in (PairRecord, GroupRecord)
}


def _has_common(f: Filters) -> bool:
    return bool(f.name or f.resource_group_id or f.tags)


def _common_match(name: str, rg: str, tags: list[Tag], f: Filters) -> bool:
    if f.name and f.name.lower() not in name.lower():
        return False
    if f.resource_group_id and rg != f.resource_group_id:
        return False
    have = {(t.TagKey, t.TagValue) for t in tags}
    keys = {t.TagKey for t in tags}
    for key, value in f.tags:
        if value is None and key not in keys:
            return False
        if value is not None and (key, value) not in have:
            return False
    return True
