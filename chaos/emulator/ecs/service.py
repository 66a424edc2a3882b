"""The ECS service object the emulator registers: recognition by Version, the control-plane surface."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chaos.emulator.ecs.backend import EcsBackend
from chaos.emulator.ecs.fleet import StandbySpec, standby_instances
from chaos.emulator.ecs.models import DiskRecord, InstanceRecord
from chaos.emulator.ecs.responses import REQUIRED, VERSION, EcsResponse, target
from chaos.emulator.rpc import RpcProduct, RpcService
from chaos.emulator.shared import Shared

PRODUCT = RpcProduct(
    name="ecs",
    code="Ecs",
    version=VERSION,
    required=REQUIRED,
    throttle_code="Throttling",
    host=lambda region: f"ecs.{region}.aliyuncs.com",
    target=target,
)


class EcsService(RpcService):
    def __init__(self, shared: Shared) -> None:
        self.backend = EcsBackend(shared.clock, shared.config, shared.ledger)
        super().__init__(shared, PRODUCT, EcsResponse(self.backend).dispatch)
        shared.events.subscribe(self.backend.on_secondary_disk)
        shared.events.subscribe_drills(self.backend.on_drill_disk)
        shared.events.answer_attached(self.backend.is_attached)

    @classmethod
    def create(cls, shared: Shared) -> EcsService:
        return cls(shared)

    def settle(self) -> None:
        self.backend.settle()

    def reset(self) -> None:
        self.backend.reset()

    # ----- the control plane's surface
    def seed_instances(self, records: Iterable[InstanceRecord]) -> list[str]:
        return self.backend.seed_instances(records)

    def seed_disks(self, records: Iterable[DiskRecord]) -> list[str]:
        """Store disks as given (ValueError when one names an instance that does not exist)."""
        return self.backend.seed_disks(records)

    def seed_standby(self, ebs_snapshot: dict[str, list[dict[str, Any]]], spec: StandbySpec) -> list[str]:
        """A Stopped, tagged standby instance per group and loose pair of ``ebs_snapshot``."""
        return self.backend.seed_instances(standby_instances(ebs_snapshot, spec))

    def instances(self) -> list[dict[str, Any]]:
        with self.backend.lock:
            return [self.backend.instance_doc(r) for r in self.backend.list_instances()]

    def disks(self) -> list[dict[str, Any]]:
        with self.backend.lock:
            return [self.backend.disk_doc(d) for d in self.backend.list_disks()]

    def instance(self, iid: str) -> dict[str, Any] | None:
        return next((d for d in self.instances() if d["InstanceId"] == iid), None)

    def disk(self, did: str) -> dict[str, Any] | None:
        return next((d for d in self.disks() if d["DiskId"] == did), None)

    def hold_starting(self, iid: str, stuck: bool) -> dict[str, Any]:
        """Hold an instance in Starting (the "stuck" fault) or let it go; KeyError when unknown."""
        return self.backend.set_stuck(iid, stuck)
