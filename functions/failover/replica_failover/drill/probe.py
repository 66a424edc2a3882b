"""Optional drill step: attach each drill disk to a test instance, run a probe command, detach.

The instance must be in the DR zone the drill disks are created in. One disk at a time (an instance
has few device slots): AttachDisk -> wait ``In_use`` -> probe -> DetachDisk -> wait ``Available``.
The probe is an argv run without a shell, with ``DRILL_DISK_ID``, ``DRILL_DEVICE`` and
``DRILL_TARGET_ID`` in its environment; exit status 0 passes. :meth:`Prober.detach_all` is called in
the drill's ``finally`` before the drills are cleared, so no drill disk stays attached.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from replica_failover.drill.client import DrillApiError

MAX_WAIT_ROUNDS = 10_000


class DiskApi(Protocol):
    def describe_disks(self, region: str, disk_ids: Sequence[str]) -> list[dict[str, Any]]: ...

    def attach_disk(self, region: str, instance_id: str, disk_id: str) -> str: ...

    def detach_disk(self, region: str, instance_id: str, disk_id: str) -> None: ...


class EcsDiskApi:
    """:class:`DiskApi` over the function's ECS adapter (legacy ``aliyunsdkecs``), plus DetachDisk."""

    def __init__(self, ecs: Any) -> None:
        self.ecs = ecs  # replica_failover.recovery.ecs.EcsApi

    def describe_disks(self, region: str, disk_ids: Sequence[str]) -> list[dict[str, Any]]:
        return list(self._guard(lambda: self.ecs.describe_disks(region, disk_ids)))

    def attach_disk(self, region: str, instance_id: str, disk_id: str) -> str:
        return str(self._guard(lambda: self.ecs.attach_disk(region, instance_id, disk_id)))

    def detach_disk(self, region: str, instance_id: str, disk_id: str) -> None:
        from aliyunsdkecs.request.v20140526.DetachDiskRequest import DetachDiskRequest

        req = DetachDiskRequest()
        req.set_InstanceId(instance_id)
        req.set_DiskId(disk_id)
        self._guard(lambda: self.ecs.rpc.send(req, region, write=True))

    @staticmethod
    def _guard(call: Callable[[], Any]) -> Any:
        from replica_failover.ebs import ApiFailure

        try:
            return call()
        except ApiFailure as exc:
            raise DrillApiError(exc.code, exc.status) from None


@dataclass
class ProbeOutcome:
    disk_id: str
    passed: bool
    detail: str  # "exit 0", "exit 3", "timeout", or the API code that stopped it


@dataclass
class Prober:
    disks: DiskApi
    region: str
    instance_id: str
    command: list[str]
    now: Callable[[], float]
    sleep: Callable[[float], object]
    poll_seconds: float = 2.0
    timeout_seconds: float = 300.0
    stage: Callable[[str], None] = lambda _stage: None
    attached: list[str] = field(default_factory=list)

    def probe(self, target_id: str, disk_id: str) -> ProbeOutcome:
        try:
            self.disks.attach_disk(self.region, self.instance_id, disk_id)
            self.attached.append(disk_id)
            if not self._wait(disk_id, "In_use"):
                return ProbeOutcome(disk_id, False, "attach timeout")
            self.stage("attached")
            device = str(self._disk(disk_id).get("Device") or "")
            outcome = self._run(target_id, disk_id, device)
            self.stage("probed")
            self._detach(disk_id)
            return outcome
        except DrillApiError as exc:
            return ProbeOutcome(disk_id, False, exc.code)

    def detach_all(self) -> list[str]:
        """Detach what is still attached; the disk ids that could not be (best effort, never raises)."""
        left: list[str] = []
        for disk_id in list(self.attached):
            try:
                self._detach(disk_id)
            except DrillApiError:
                left.append(disk_id)
        return left

    def _detach(self, disk_id: str) -> None:
        on = self._disk(disk_id).get("Status") in ("In_use", "Attaching")
        if on and self._wait(disk_id, "In_use"):
            self.disks.detach_disk(self.region, self.instance_id, disk_id)
        if disk_id in self.attached and self._wait(disk_id, "Available"):
            self.attached.remove(disk_id)

    def _disk(self, disk_id: str) -> dict[str, Any]:
        found = self.disks.describe_disks(self.region, [disk_id])
        return found[0] if found else {}

    def _wait(self, disk_id: str, status: str) -> bool:
        deadline = self.now() + self.timeout_seconds
        for _ in range(MAX_WAIT_ROUNDS):
            current = self._disk(disk_id).get("Status")
            if current == status or (status == "Available" and current is None):
                return True
            if self.now() >= deadline:
                return False
            self.sleep(self.poll_seconds)
        return False

    def _run(self, target_id: str, disk_id: str, device: str) -> ProbeOutcome:
        if not self.command:
            return ProbeOutcome(disk_id, True, f"attached as {device or '?'}")
        env = {**os.environ, "DRILL_DISK_ID": disk_id, "DRILL_DEVICE": device, "DRILL_TARGET_ID": target_id}
        try:
            done = subprocess.run(  # noqa: S603 - the operator's own probe command, no shell
                self.command, env=env, timeout=self.timeout_seconds, check=False, capture_output=True
            )
        except subprocess.TimeoutExpired:
            return ProbeOutcome(disk_id, False, "timeout")
        except OSError as exc:
            return ProbeOutcome(disk_id, False, f"cannot run probe: {exc.strerror}")
        return ProbeOutcome(disk_id, done.returncode == 0, f"exit {done.returncode}")
