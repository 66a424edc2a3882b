"""Non-disruptive disaster-recovery drills on pairs and groups (Start/Describe/Clear*Drill).

A drill copies the target's latest recovery point to a new pay-as-you-go disk in the secondary's
zone while replication keeps running. Its state machine runs on the emulator clock:
``executing -> executed | execute_failed`` (``drill_executing`` delay) and, on Clear,
``clearing -> cleared | clear_failed`` (``drill_clearing`` delay). A cleared drill leaves
Describe*Drills: the API's Status list has no ``cleared`` value. Drill disks are announced to ECS
(:mod:`chaos.emulator.replica_events`) when the drill is ``executed`` and withdrawn once cleared.
A mixin of :class:`chaos.emulator.ebs.backend.EbsBackend`.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import Field

from chaos.emulator.clock import Clock
from chaos.emulator.config import EmulatorConfig, Model
from chaos.emulator.ebs.models import GroupRecord, PairRecord
from chaos.emulator.ebs.replication import CallContext, Kind
from chaos.emulator.errors import ApiError
from chaos.emulator.ledger import Ledger
from chaos.emulator.replica_events import DrillDisk

# a drill needs a replicating (or stopped) replica; before its first full cycle it has no recovery
# point (RecoverPointNotFound) [INF]
DRILL_FROM = frozenset(
    {"initial_syncing", "normal", "syncing", "manual_syncing", "stopped", "stopping", "stop_failed"}
)
# states Clear is accepted from; executing/clearing answer InvalidStatus (retry later) [INF]
CLEAR_FROM = frozenset({"executed", "execute_failed", "clear_failed"})
DISK_STATUS = {
    "executing": "creating",
    "executed": "created",
    "execute_failed": "",
    "clearing": "deleting",
    "clear_failed": "created",
    "cleared": "deleted",
}
DEFAULT_DELAYS = {"drill_executing": 5.0, "drill_clearing": 2.0}


@dataclass
class Drill:
    kind: Kind
    drill_id: str
    target_id: str
    region_id: str
    zone_id: str
    start_at: int
    recover_point: int
    disks: list[tuple[str, str]]  # (pair id, drill disk id)
    status: str = "executing"
    status_message: str = ""
    due: float | None = None
    fail_execute: bool = False

    def api(self) -> dict[str, Any]:
        disk_status = DISK_STATUS[self.status]
        doc: dict[str, Any] = {
            "DrillId": self.drill_id,
            "Status": self.status,
            "StartAt": self.start_at,
            "RecoverPoint": self.recover_point,
            "StatusMessage": self.status_message,
        }
        infos = [{"PairId": pid, "DrillDiskId": did if disk_status else "", "DrillDiskStatus": disk_status}
                 for pid, did in self.disks]  # fmt: skip
        if self.kind == "pair":
            doc.update(DrillDiskId=infos[0]["DrillDiskId"], DrillDiskStatus=disk_status)
        else:
            doc.update(GroupId=self.target_id, PairsInfo=infos)
        return doc


@dataclass
class DrillKnobs:
    """Fault knobs: the next ``execute_failures`` drills of a target fail; its next ``clear_failures``
    clears end ``clear_failed``."""

    execute_failures: int = 0
    clear_failures: int = 0


class DrillKnobsBody(Model):
    """``POST /_emulator/drills``: the fault knobs of one pair or group (replacing its previous ones)."""

    target: str = Field(min_length=1, max_length=128)
    execute_failures: int = Field(default=0, ge=0, le=1000)
    clear_failures: int = Field(default=0, ge=0, le=1000)


@dataclass
class DrillState:
    drills: dict[str, Drill] = field(default_factory=dict)
    knobs: dict[str, DrillKnobs] = field(default_factory=dict)
    seq: int = 0


class DrillOperations:
    lock: threading.RLock
    pairs: dict[str, PairRecord]
    groups: dict[str, GroupRecord]
    clock: Clock
    ledger: Ledger
    _config: Callable[[], EmulatorConfig]
    _drill: DrillState
    _drill_announce: Callable[[DrillDisk], None] | None

    if TYPE_CHECKING:

        def settle(self) -> None: ...

        def _catch_up(self, rec: PairRecord | GroupRecord, now: float | None = None) -> None: ...

        def _get(self, kind: Kind, rid: str) -> PairRecord | GroupRecord | None: ...

        def current_route(self, rec: PairRecord | GroupRecord) -> tuple[str, str]: ...

    # ------------------------------------------------------------ knobs
    def set_drill_knobs(self, target_id: str, *, execute_failures: int = 0, clear_failures: int = 0) -> None:
        if execute_failures < 0 or clear_failures < 0:
            raise ValueError("failure counts must be >= 0")
        with self.lock:
            self._drill.knobs[target_id] = DrillKnobs(execute_failures, clear_failures)

    def drills(self) -> list[dict[str, Any]]:
        """Every drill not yet cleared (control-plane view), with its target."""
        with self.lock:
            self.settle()
            return [{**d.api(), "TargetId": d.target_id} for _, d in sorted(self._drill.drills.items())]

    # ------------------------------------------------------------ time
    def _settle_drills(self, now: float) -> None:
        for drill in sorted(self._drill.drills.values(), key=lambda d: d.due or 0.0):
            if drill.due is None or drill.due > now:
                continue
            due, before = drill.due, drill.status
            drill.due = None
            if before == "executing":
                if drill.fail_execute:
                    drill.status = "execute_failed"
                    drill.status_message = f"{drill.kind.upper()}_SYNCPOINT_NOT_FOUND"
                else:
                    drill.status = "executed"
                    self._announce_disks(drill, present=True)
            elif before == "clearing":
                knobs = self._drill.knobs.get(drill.target_id)
                if knobs is not None and knobs.clear_failures > 0:
                    knobs.clear_failures -= 1
                    drill.status = "clear_failed"
                else:
                    drill.status = "cleared"
                    self._announce_disks(drill, present=False)
                    del self._drill.drills[drill.drill_id]
            self.ledger.record_transition(
                {"time": due, "targetType": f"{drill.kind}-drill", "targetId": drill.drill_id,
                 "from": before, "to": drill.status}
            )  # fmt: skip

    def _schedule(self, drill: Drill, status: str) -> None:
        key = "drill_executing" if status == "executing" else "drill_clearing"
        delay = self._config().transition_delays.get(key, DEFAULT_DELAYS[key])
        drill.status = status
        drill.due = self.clock.now() + max(0.0, delay)

    def _announce_disks(self, drill: Drill, *, present: bool) -> None:
        if self._drill_announce is None:
            return
        for pid, did in drill.disks:
            source = self.pairs.get(pid)
            self._drill_announce(
                DrillDisk(
                    disk_id=did,
                    region_id=drill.region_id,
                    zone_id=drill.zone_id,
                    pair_id=pid,
                    source_disk_id=source.DestinationDiskId if source else "",
                    present=present,
                )
            )

    def _drill_effect(self, ctx: CallContext, drill: Drill, before: str, after: str) -> None:
        # the drill is the target: a drill is not a state change of its pair or group
        owner = "pairId" if drill.kind == "pair" else "groupId"
        change = {owner: drill.target_id, "from": before, "to": after}
        self.ledger.record_effect(ctx.effect_entry(self.clock.now(), f"{drill.kind}-drill", drill.drill_id, change))

    # ------------------------------------------------------------ operations
    def _drill_target(self, kind: Kind, region: str, rid: str, *, start: bool) -> PairRecord | GroupRecord:
        rec = self._get(kind, rid)
        if rec is None or rec.Status == "deleted":
            raise ApiError.of("NoSuchResource")
        src, dst = self.current_route(rec)
        if region == src and start:
            raise ApiError.of("OperationDenied.StartDrillShouldOnDestRegion")
        if region not in (src, dst):
            raise ApiError.of("NoSuchResource")
        return rec

    def start_drill(self, ctx: CallContext, kind: Kind, region: str, rid: str) -> str:
        with self.lock:
            self.settle()
            rec = self._drill_target(kind, region, rid, start=True)
            if rec.Status not in DRILL_FROM:
                raise ApiError.of("OperationDenied.InvalidStatus")
            if any(d.target_id == rid and d.status != "execute_failed" for d in self._drill.drills.values()):
                raise ApiError.of("OperationDenied")  # one live drill per target until it is cleared [INF]
            self._catch_up(rec)
            if rec.LastRecoverPoint <= 0:
                raise ApiError.of("OperationDenied.RecoverPointNotFound")
            if isinstance(rec, PairRecord):
                members, zone = [rec], rec.DestinationZoneId
            else:
                members = [self.pairs[p] for p in rec.PairIds if p in self.pairs]
                if not members:
                    raise ApiError.of("OperationDenied.NoPairInGroup")
                zone = members[0].DestinationZoneId
            self._drill.seq += 1
            digest = hashlib.sha256(f"{rid}/{self._drill.seq}".encode()).hexdigest()
            drill_id = ("drill-" if kind == "pair" else "pg-drill-") + digest[:16]
            disks = [(m.ReplicaPairId, "d-drill" + hashlib.sha256(f"{drill_id}/{m.ReplicaPairId}".encode())
                      .hexdigest()[:14]) for m in members]  # fmt: skip
            knobs = self._drill.knobs.get(rid)
            fail = knobs is not None and knobs.execute_failures > 0
            if knobs is not None and fail:
                knobs.execute_failures -= 1
            drill = Drill(kind, drill_id, rid, region, zone, int(self.clock.now()), rec.LastRecoverPoint, disks,
                          fail_execute=fail)  # fmt: skip
            self._schedule(drill, "executing")
            self._drill.drills[drill_id] = drill
            self._drill_effect(ctx, drill, "", "executing")
            self.settle()
            return drill_id

    def describe_drills(self, kind: Kind, region: str, rid: str, drill_id: str | None) -> list[dict[str, Any]]:
        with self.lock:
            self.settle()
            self._drill_target(kind, region, rid, start=False)
            found = [d for _, d in sorted(self._drill.drills.items()) if d.target_id == rid and d.kind == kind]
            return [d.api() for d in found if drill_id is None or d.drill_id == drill_id]

    def clear_drill(self, ctx: CallContext, kind: Kind, region: str, rid: str, drill_id: str) -> None:
        with self.lock:
            self.settle()
            rec = self._drill_target(kind, region, rid, start=False)
            if region == self.current_route(rec)[0]:
                raise ApiError.of("OperationDenied.OperateNotAllowedForPrimary")  # [INF]
            drill = self._drill.drills.get(drill_id)
            if drill is None or drill.target_id != rid or drill.kind != kind:
                raise ApiError.of("NoSuchResource")
            if drill.status not in CLEAR_FROM:
                raise ApiError.of("OperationDenied.InvalidStatus")
            before = drill.status
            self._schedule(drill, "clearing")
            self._drill_effect(ctx, drill, before, "clearing")
            self.settle()
