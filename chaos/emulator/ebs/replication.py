"""The ebs write operations (Failover/Reprotect/Start/Stop, pair and group) on the replica state.

Allowed-from states are the documented tables; each operation settles due transitions, checks,
enters the transient state (completed later by :meth:`EbsBackend.settle`) and records one effect,
all under the backend lock. A mixin of :class:`chaos.emulator.ebs.backend.EbsBackend`, which owns
the state and the transition machinery.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from chaos.emulator.clock import Clock
from chaos.emulator.config import EmulatorConfig
from chaos.emulator.ebs.models import GroupRecord, PairRecord
from chaos.emulator.errors import ApiError

Kind = Literal["pair", "group"]

PAIR_FAILOVER_DENIED = frozenset({"invalid", "deleted"})
GROUP_FAILOVER_FROM = frozenset(
    {
        "manual_syncing",
        "syncing",
        "normal",
        "stopping",
        "stop_failed",
        "stopped",
        "failovering",
        "failover_failed",
        "failovered",
    }
)
ALREADY_FAILED_OVER = frozenset({"failovering", "failovered"})
STOP_FROM_PAIR = frozenset({"initial_syncing", "syncing", "manual_syncing", "normal"})
STOP_FROM_GROUP = frozenset({"manual_syncing", "syncing", "normal", "stopping", "stop_failed", "stopped"})
START_FROM_PAIR = frozenset({"created", "stopped"})
START_FROM_GROUP = frozenset({"created", "syncing", "normal", "stopped"})
ONESHOT_FROM_GROUP = frozenset({"created", "manual_syncing", "stopped"})


@dataclass(frozen=True)
class CallContext:
    """Who is asking, for the effect entries."""

    request_id: str
    action: str
    client_token: str | None
    access_key_id: str

    def effect_entry(self, now: float, target_type: str, target_id: str, change: dict[str, Any]) -> dict[str, Any]:
        """A ledger effect of this call on ``target_id``; ``change`` holds its ``from``/``to`` and the rest."""
        return {
            "time": now,
            "requestId": self.request_id,
            "action": self.action,
            "clientToken": self.client_token,
            "accessKeyId": self.access_key_id,
            "targetType": target_type,
            "targetId": target_id,
            **change,
        }


class ReplicationOperations:
    """The API's write operations; the state and ``settle``/``_enter``/``_effect`` come from the backend."""

    lock: threading.RLock
    pairs: dict[str, PairRecord]
    groups: dict[str, GroupRecord]
    clock: Clock
    _config: Callable[[], EmulatorConfig]
    _last_oneshot: dict[str, float]
    _attached: Callable[[str], bool]

    if TYPE_CHECKING:

        def settle(self) -> None: ...

        def _get(self, kind: Kind, rid: str) -> PairRecord | GroupRecord | None: ...

        def _enter(
            self, kind: Kind, rec: PairRecord | GroupRecord, transient: str, final: str | None = None
        ) -> None: ...

        def _effect(self, ctx: CallContext, kind: Kind, rid: str, before: str, after: str, **extra: Any) -> None: ...

    # -------------------------------------------------------------- lookups
    def _locate(self, kind: Kind, region: str, rid: str, *, secondary_only: bool) -> PairRecord | GroupRecord:
        """The record, if ``region`` may operate on it. Failover/Reprotect go to the secondary's region only."""
        rec = self._get(kind, rid)
        if rec is None or rec.Status == "deleted":
            raise ApiError.of("NoSuchResource")
        src, dst = self.current_route(rec)
        if secondary_only and region == src:
            raise ApiError.of("OperationDenied.OperateNotAllowedForPrimary")
        if region != dst and (secondary_only or region != src):
            raise ApiError.of("NoSuchResource")
        return rec

    def _pair_for(self, region: str, pid: str, *, secondary_only: bool) -> PairRecord:
        rec = self._locate("pair", region, pid, secondary_only=secondary_only)
        assert isinstance(rec, PairRecord)
        return rec

    def _group_for(self, region: str, gid: str, *, secondary_only: bool) -> GroupRecord:
        rec = self._locate("group", region, gid, secondary_only=secondary_only)
        assert isinstance(rec, GroupRecord)
        return rec

    def _members(self, g: GroupRecord) -> list[PairRecord]:
        return [self.pairs[pid] for pid in g.PairIds if pid in self.pairs]

    def current_route(self, rec: PairRecord | GroupRecord) -> tuple[str, str]:
        """(current source region, current destination region).

        A group whose ``Source*``/``Destination*`` stay put on reprotect
        (``config.group_reprotect_swaps_site`` false) replicates the way its members do.
        """
        if isinstance(rec, GroupRecord):
            members = self._members(rec)
            if members and not self._config().group_reprotect_swaps_site:
                return members[0].SourceRegion, members[0].DestinationRegion
        return _route(rec)

    def _check_detached(self, disks: list[str], code: str) -> None:
        if any(self._attached(d) for d in disks):
            raise ApiError.of(code)

    # ------------------------------------------------------------ pair ops
    def failover_pair(self, ctx: CallContext, region: str, pid: str) -> None:
        with self.lock:
            self.settle()
            p = self._pair_for(region, pid, secondary_only=True)
            if p.Status in PAIR_FAILOVER_DENIED or (self._config().strict and p.Status in ALREADY_FAILED_OVER):
                raise ApiError.of("OperationDenied.InvalidStatus")
            before = p.Status
            self._enter("pair", p, "failovering")
            self._effect(ctx, "pair", pid, before, "failovering")
            self.settle()

    def reprotect_pair(self, ctx: CallContext, region: str, pid: str, reverse: bool) -> None:
        with self.lock:
            self.settle()
            p = self._pair_for(region, pid, secondary_only=True)
            if p.Status != "failovered":
                raise ApiError.of("OperationDenied.InvalidStatus")
            if reverse:
                # the primary disk becomes the new secondary: it must be detached [INF: the code]
                self._check_detached([p.SourceDiskId], "OperationDenied")
                _swap_pair(p)
            self._enter("pair", p, "reprotecting")
            self._effect(ctx, "pair", pid, "failovered", "reprotecting", reverseReplicate=reverse)
            self.settle()

    def start_pair(self, ctx: CallContext, region: str, pid: str, one_shot: bool) -> None:
        with self.lock:
            self.settle()
            p = self._pair_for(region, pid, secondary_only=False)
            if p.Status not in START_FROM_PAIR:
                raise ApiError.of("OperationDenied.InvalidStatus")
            self._check_detached([p.DestinationDiskId], "OperationDenied.StandbyDeviceAttached")
            self._check_oneshot(pid, p.RPO, one_shot)
            before = p.Status
            transient = "manual_syncing" if one_shot else ("initial_syncing" if before == "created" else "syncing")
            self._enter("pair", p, transient)
            self._effect(ctx, "pair", pid, before, transient, oneShot=one_shot)
            self.settle()

    def stop_pair(self, ctx: CallContext, region: str, pid: str) -> None:
        with self.lock:
            self.settle()
            p = self._pair_for(region, pid, secondary_only=False)
            if p.Status not in STOP_FROM_PAIR:
                raise ApiError.of("OperationDenied.InvalidStatus")
            before = p.Status
            self._enter("pair", p, "stopping")
            self._effect(ctx, "pair", pid, before, "stopping")
            self.settle()

    def _check_oneshot(self, rid: str, rpo: int, one_shot: bool) -> None:
        if not one_shot:
            return
        now = self.clock.now()
        last = self._last_oneshot.get(rid)
        if last is not None and now - last <= rpo / 2:
            raise ApiError.of("OperationDenied.ManualSyncLimit")
        self._last_oneshot[rid] = now

    # ----------------------------------------------------------- group ops
    def failover_group(self, ctx: CallContext, region: str, gid: str) -> None:
        with self.lock:
            self.settle()
            g = self._group_for(region, gid, secondary_only=True)
            allowed = GROUP_FAILOVER_FROM - (ALREADY_FAILED_OVER if self._config().strict else frozenset())
            if g.Status not in allowed:
                raise ApiError.of("OperationDenied.InvalidStatus")
            members = self._members(g)
            if not members:
                raise ApiError.of("OperationDenied.NoPairInGroup")
            if any(m.Status in PAIR_FAILOVER_DENIED for m in members):
                raise ApiError.of("OperationDenied.PairGroupStatusConflict")
            before = g.Status
            self._enter("group", g, "failovering")
            for m in members:
                self._enter("pair", m, "failovering")
            self._effect(ctx, "group", gid, before, "failovering", pairIds=[m.ReplicaPairId for m in members])
            self.settle()

    def reprotect_group(self, ctx: CallContext, region: str, gid: str, reverse: bool) -> None:
        with self.lock:
            self.settle()
            g = self._group_for(region, gid, secondary_only=True)
            members = self._members(g)
            if g.Status != "failovered":
                raise ApiError.of("OperationDenied.InvalidStatus")
            if not members:
                raise ApiError.of("OperationDenied.NoPairInGroup")
            if any(m.Status != "failovered" for m in members):
                raise ApiError.of("OperationDenied.PairGroupStatusConflict")
            if reverse:
                self._check_detached([m.SourceDiskId for m in members], "OperationDenied")
            if reverse and self._config().group_reprotect_swaps_site:
                g.SourceRegionId, g.DestinationRegionId = g.DestinationRegionId, g.SourceRegionId
                g.SourceZoneId, g.DestinationZoneId = g.DestinationZoneId, g.SourceZoneId
            self._enter("group", g, "reprotecting")
            for m in members:
                if reverse:
                    _swap_pair(m)
                self._enter("pair", m, "reprotecting")
            self._effect(
                ctx,
                "group",
                gid,
                "failovered",
                "reprotecting",
                pairIds=[m.ReplicaPairId for m in members],
                reverseReplicate=reverse,
            )
            self.settle()

    def start_group(self, ctx: CallContext, region: str, gid: str, one_shot: bool) -> None:
        with self.lock:
            self.settle()
            g = self._group_for(region, gid, secondary_only=False)
            if g.Status not in (ONESHOT_FROM_GROUP if one_shot else START_FROM_GROUP):
                raise ApiError.of("OperationDenied.InvalidStatus")
            members = self._members(g)
            if not members:
                raise ApiError.of("OperationDenied.NoPairInGroup")
            self._check_detached([m.DestinationDiskId for m in members], "OperationDenied.StandbyDeviceAttached")
            self._check_oneshot(gid, g.RPO, one_shot)
            before = g.Status
            transient = "manual_syncing" if one_shot else ("initial_syncing" if before == "created" else "syncing")
            self._enter("group", g, transient)
            for m in members:
                self._enter("pair", m, transient)
            self._effect(ctx, "group", gid, before, transient, pairIds=list(g.PairIds), oneShot=one_shot)
            self.settle()

    def stop_group(self, ctx: CallContext, region: str, gid: str) -> None:
        with self.lock:
            self.settle()
            g = self._group_for(region, gid, secondary_only=False)
            if g.Status not in STOP_FROM_GROUP:
                raise ApiError.of("OperationDenied.InvalidStatus")
            before = g.Status
            self._enter("group", g, "stopping")
            for m in self._members(g):
                self._enter("pair", m, "stopping")
            self._effect(ctx, "group", gid, before, "stopping", pairIds=list(g.PairIds))
            self.settle()



def _route(rec: PairRecord | GroupRecord) -> tuple[str, str]:
    """(current source region, current destination region): pairs and groups spell them differently."""
    if isinstance(rec, PairRecord):
        return rec.SourceRegion, rec.DestinationRegion
    return rec.SourceRegionId, rec.DestinationRegionId


def _swap_pair(p: PairRecord) -> None:
    # Source*/Destination* are the current direction; Primary*/Standby* stay the initial one
    p.SourceRegion, p.DestinationRegion = p.DestinationRegion, p.SourceRegion
    p.SourceZoneId, p.DestinationZoneId = p.DestinationZoneId, p.SourceZoneId
    p.SourceDiskId, p.DestinationDiskId = p.DestinationDiskId, p.SourceDiskId

