"""The ECS state: instances and disks, their transient states on the emulator clock, the write operations.

``Starting``/``Stopping`` (instances) and ``Attaching``/``Detaching`` (disks) complete after
``config.transition_delays[<state>]`` seconds of emulator time, applied lazily under the lock before
every read or write (as ebs does). An instance marked *stuck* stays in ``Starting`` until released.
Secondary disks of replica pairs come from ebs through :mod:`chaos.emulator.replica_events`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any, Literal

from chaos.emulator.clock import Clock
from chaos.emulator.config import EmulatorConfig
from chaos.emulator.ecs.errors import ecs_error
from chaos.emulator.ecs.models import DiskRecord, InstanceRecord
from chaos.emulator.ledger import Ledger
from chaos.emulator.replica_events import DrillDisk, SecondaryDisk
from chaos.emulator.rpc import RpcContext

Kind = Literal["instance", "disk"]
# transient state -> (state it settles into, default seconds when the config names no delay)
COMPLETES_TO: dict[str, tuple[str, float]] = {
    "Starting": ("Running", 10.0),
    "Stopping": ("Stopped", 5.0),
    "Attaching": ("In_use", 2.0),
    "Detaching": ("Available", 2.0),
}
# a secondary disk before its pair reads failovered: it exists but cannot be attached [INF]
LOCKED = "Unavailable"
NOT_FOUND = "The specified InstanceId does not exist."


Caller = RpcContext  # who asks (request id, action, access key), for the effect entries


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


class EcsBackend:
    def __init__(self, clock: Clock, config: Callable[[], EmulatorConfig], ledger: Ledger) -> None:
        self.clock = clock
        self._config = config
        self.ledger = ledger
        self.lock: threading.RLock = ledger.lock
        self.instances: dict[str, InstanceRecord] = {}
        self.disks: dict[str, DiskRecord] = {}
        self._pending: dict[tuple[Kind, str], tuple[str, float]] = {}  # -> (target status, due)
        self.stuck: set[str] = set()  # instance ids held in Starting

    # ------------------------------------------------------------------ time
    def settle(self) -> None:
        with self.lock:
            now = self.clock.now()
            for key, (target, due) in sorted(self._pending.items(), key=lambda kv: kv[1][1]):
                kind, rid = key
                if due > now or (kind == "instance" and rid in self.stuck):
                    continue
                del self._pending[key]
                rec = self.instances.get(rid) if kind == "instance" else self.disks.get(rid)
                if rec is None:
                    continue
                before = rec.Status
                rec.Status = target
                if isinstance(rec, InstanceRecord) and target == "Running":
                    rec.StartTime = _iso(due)
                self.ledger.record_transition(
                    {"time": due, "service": "ecs", "targetType": kind, "targetId": rid, "from": before, "to": target}
                )

    def _enter(self, kind: Kind, rec: InstanceRecord | DiskRecord, transient: str) -> None:
        rid = rec.InstanceId if isinstance(rec, InstanceRecord) else rec.DiskId
        target, default = COMPLETES_TO[transient]
        rec.Status = transient
        delay = max(0.0, self._config().transition_delays.get(transient, default))
        self._pending[(kind, rid)] = (target, self.clock.now() + delay)

    def _effect(self, who: Caller, kind: Kind, rid: str, before: str, after: str, **extra: Any) -> None:
        self.ledger.record_effect(
            {
                "time": self.clock.now(),
                "service": "ecs",
                "requestId": who.request_id,
                "action": who.action,
                "accessKeyId": who.access_key_id,
                "targetType": kind,
                "targetId": rid,
                "from": before,
                "to": after,
                **extra,
            }
        )

    # ------------------------------------------------------------- seeding
    def seed_instances(self, records: Iterable[InstanceRecord]) -> list[str]:
        with self.lock:
            out = []
            for rec in records:
                self.instances[rec.InstanceId] = rec
                self._pending.pop(("instance", rec.InstanceId), None)
                out.append(rec.InstanceId)
            return out

    def seed_disks(self, records: Iterable[DiskRecord]) -> list[str]:
        with self.lock:
            records = list(records)
            for rec in records:
                if rec.InstanceId and rec.InstanceId not in self.instances:
                    raise ValueError(f"{rec.DiskId}: instance {rec.InstanceId} does not exist; seed it first")
            for rec in records:
                if rec.InstanceId and rec.Status == "Available":
                    rec.Status = "In_use"
                self.disks[rec.DiskId] = rec
                self._pending.pop(("disk", rec.DiskId), None)
            return [r.DiskId for r in records]

    def on_secondary_disk(self, event: SecondaryDisk) -> None:
        """ebs says a secondary disk may (not) be written now; an attached disk is left as it is."""
        if not event.disk_id:
            return
        with self.lock:
            status = "Available" if event.writable else LOCKED
            disk = self.disks.get(event.disk_id)
            if disk is None:
                zone = event.zone_id or f"{event.region_id}-a"  # a pair seeded without zone [INF]
                # ids and zones were validated as ebs records; construct skips re-validation (big fleets)
                disk = DiskRecord.model_construct(
                    DiskId=event.disk_id, RegionId=event.region_id, ZoneId=zone, Status=status,
                    ReplicaPairId=event.pair_id,
                )  # fmt: skip
                self.disks[disk.DiskId] = disk
            elif disk.Status in ("Available", LOCKED):
                # not a ledger transition of its own: it mirrors the pair's, which the ledger has
                disk.Status = status

    def on_drill_disk(self, event: DrillDisk) -> None:
        """A drill disk appears (``Available``, pay-as-you-go) or is deleted, even if attached [INF]."""
        with self.lock:
            if not event.present:
                self.disks.pop(event.disk_id, None)
                self._pending.pop(("disk", event.disk_id), None)
                return
            like = self.disks.get(event.source_disk_id)
            self.disks[event.disk_id] = DiskRecord.model_construct(
                DiskId=event.disk_id, RegionId=event.region_id, ZoneId=event.zone_id or f"{event.region_id}-b",
                Status="Available", Category=like.Category if like else "cloud_essd", Size=like.Size if like else 40,
                DiskName=f"drill-{event.pair_id}",
            )  # fmt: skip

    def is_attached(self, disk_id: str) -> bool:
        """Whether ``disk_id`` is on an instance (attaching, in use or detaching); unknown disks are not."""
        with self.lock:
            self.settle()
            disk = self.disks.get(disk_id)
            return disk is not None and disk.Status in ("In_use", "Attaching", "Detaching")

    def set_stuck(self, instance_id: str, stuck: bool) -> dict[str, Any]:
        with self.lock:
            self.settle()
            rec = self.instances.get(instance_id)
            if rec is None:
                raise KeyError(instance_id)
            (self.stuck.add if stuck else self.stuck.discard)(instance_id)
            self.settle()
            return self.instance_doc(rec)

    def reset(self) -> None:
        with self.lock:
            self.instances.clear()
            self.disks.clear()
            self._pending.clear()
            self.stuck.clear()

    # ------------------------------------------------------------ reads
    def instance_doc(self, rec: InstanceRecord) -> dict[str, Any]:
        doc = rec.model_dump()
        doc["Tags"] = {"Tag": doc["Tags"]}
        doc["OperationLocks"] = {"LockReason": []}
        return doc

    def disk_doc(self, rec: DiskRecord) -> dict[str, Any]:
        doc = rec.model_dump(exclude={"ReplicaPairId"})
        doc["Tags"] = {"Tag": doc["Tags"]}
        attached = rec.Status in ("In_use", "Detaching", "Attaching")
        if not attached:
            doc["Device"] = ""
        doc["Attachments"] = {"Attachment": [{"InstanceId": rec.InstanceId, "Device": rec.Device}] if attached else []}
        locks = [{"LockReason": "replication"}] if rec.Status == LOCKED else []  # [INF]
        doc["OperationLocks"] = {"OperationLock": locks}
        return doc

    def list_instances(self) -> list[InstanceRecord]:
        """Every instance in id order, transitions applied; call under the lock."""
        self.settle()
        return [rec for _, rec in sorted(self.instances.items())]

    def list_disks(self) -> list[DiskRecord]:
        self.settle()
        return [rec for _, rec in sorted(self.disks.items())]

    # ------------------------------------------------------------ writes
    def _instance(self, iid: str, region: str | None) -> InstanceRecord:
        rec = self.instances.get(iid)
        if rec is None or (region and rec.RegionId != region):
            raise ecs_error("InvalidInstanceId.NotFound")
        return rec

    def _disk(self, did: str, region: str | None) -> DiskRecord:
        rec = self.disks.get(did)
        if rec is None or (region and rec.RegionId != region):
            raise ecs_error("InvalidDiskId.NotFound")
        return rec

    def attach_disk(self, who: Caller, region: str | None, iid: str, did: str, *, bootable: bool,
                    delete_with_instance: bool) -> None:  # fmt: skip
        with self.lock:
            self.settle()
            inst, disk = self._instance(iid, region), self._disk(did, region)
            if disk.InstanceId and disk.Status in ("In_use", "Attaching", "Detaching"):
                if disk.InstanceId != iid:
                    raise ecs_error("InvalidDisk.InUse")
                raise ecs_error("IncorrectDiskStatus")
            if disk.Status != "Available":
                raise ecs_error("IncorrectDiskStatus")
            if disk.ZoneId != inst.ZoneId:
                raise ecs_error("ResourcesNotInSameZone")
            if inst.Status not in ("Running", "Stopped") or (bootable and inst.Status != "Stopped"):
                raise ecs_error("IncorrectInstanceStatus", status=400)
            if bootable and disk.Type != "system":
                raise ecs_error("InvalidDisk.DiskNotBootable")
            used = {d.Device for d in self.disks.values() if d.InstanceId == iid and d.Device}
            disk.Device = "/dev/xvda" if bootable else next(
                f"/dev/xvd{c}" for c in "bcdefghijklmnopqrstuvwxyz" if f"/dev/xvd{c}" not in used
            )  # fmt: skip
            disk.InstanceId = iid
            disk.DeleteWithInstance = delete_with_instance
            disk.AttachedTime = _iso(self.clock.now())
            self._enter("disk", disk, "Attaching")
            self._effect(who, "disk", did, "Available", "Attaching", instanceId=iid, device=disk.Device)

    def detach_disk(self, who: Caller, region: str | None, iid: str, did: str) -> None:
        with self.lock:
            self.settle()
            inst, disk = self._instance(iid, region), self._disk(did, region)
            if disk.Status in ("Available", LOCKED) or not disk.InstanceId:
                raise ecs_error("InvalidDisk.AlreadyDetached")
            if disk.InstanceId != iid:
                raise ecs_error("DependencyViolation")
            if disk.Status != "In_use":
                raise ecs_error("IncorrectDiskStatus")
            if inst.Status not in ("Running", "Stopped") or (disk.Type == "system" and inst.Status != "Stopped"):
                raise ecs_error("IncorrectInstanceStatus")
            disk.DetachedTime = _iso(self.clock.now())
            self._enter("disk", disk, "Detaching")
            disk.InstanceId = ""
            self._effect(who, "disk", did, "In_use", "Detaching", instanceId=iid)

    def start_or_stop(self, who: Caller, region: str, ids: list[str], *, start: bool, success_first: bool,
                      dry_run: bool) -> list[dict[str, str]]:  # fmt: skip
        """Start (Stopped -> Starting) or stop (Running -> Stopping) each instance, as StartInstances /
        StopInstances answer it: AllTogether refuses the whole batch on the first bad instance;
        SuccessFirst acts on the good ones and reports each."""
        need, transient = ("Stopped", "Starting") if start else ("Running", "Stopping")
        with self.lock:
            self.settle()
            results: list[dict[str, str]] = []
            ok: list[InstanceRecord] = []
            for iid in ids:
                rec = self.instances.get(iid)
                if rec is None or rec.RegionId != region:
                    if not success_first:
                        raise ecs_error("InvalidInstanceId.NotFound")
                    results.append(_result(iid, "InvalidInstanceId.NotFound", NOT_FOUND, "", ""))
                elif rec.Status != need:
                    if not success_first:
                        raise ecs_error("IncorrectInstanceStatus")
                    results.append(_result(iid, "IncorrectInstanceStatus",
                                           "The current status of the resource does not support this operation.",
                                           rec.Status, rec.Status))  # fmt: skip
                else:
                    ok.append(rec)
                    results.append(_result(iid, "200", "success", need, transient))
            if dry_run:
                raise ecs_error("DRYRUN.SUCCESS")
            for rec in ok:
                self._enter("instance", rec, transient)
                self._effect(who, "instance", rec.InstanceId, need, transient)
            return results


def _result(iid: str, code: str, message: str, previous: str, current: str) -> dict[str, str]:
    return {"InstanceId": iid, "Code": code, "Message": message, "PreviousStatus": previous, "CurrentStatus": current}
