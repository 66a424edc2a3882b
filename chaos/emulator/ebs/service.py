"""The ebs service object the emulator registers: wiring, request recognition, the control-plane surface.

The control plane and seed files talk to ebs only through the typed methods here (``seed_pairs``,
``flip``, ``snapshot``…), never through the backend's lock or tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from werkzeug.wrappers import Request

from chaos.emulator.ebs import product
from chaos.emulator.ebs.backend import EbsBackend, Kind
from chaos.emulator.ebs.models import FleetSpec, GroupRecord, PairRecord
from chaos.emulator.ebs.responses import EbsResponse
from chaos.emulator.rpc import RpcService
from chaos.emulator.shared import Shared


class EbsService(RpcService):
    def __init__(self, shared: Shared) -> None:
        events = shared.events
        self.backend = EbsBackend(shared.clock, shared.config, shared.ledger, events.publish, events=events)
        super().__init__(shared, product.product(self.backend), product.handler(EbsResponse(self.backend)))

    @classmethod
    def create(cls, shared: Shared) -> EbsService:
        return cls(shared)

    def recognises(self, request: Request) -> bool:
        """RPC calls go to ``/``; as the last registered service ebs also answers unknown paths."""
        return request.path == "/"

    def settle(self) -> None:
        """Apply the transitions that fell due (after the clock moved)."""
        self.backend.settle()

    def reset(self) -> None:
        self.backend.reset()

    # ----- the control plane's surface
    def seed_pairs(self, records: Iterable[PairRecord]) -> list[str]:
        """Store pairs as given (ValueError when one names a group that does not exist)."""
        return self.backend.seed_pairs(records)

    def seed_groups(self, records: Iterable[GroupRecord]) -> list[str]:
        return self.backend.seed_groups(records)

    def generate(self, spec: FleetSpec) -> dict[str, list[str]]:
        return self.backend.generate(spec)

    def flip(self, kind: Kind, rid: str, status: str, *, complete_to: str | None = None) -> dict[str, Any]:
        """Set a record's status (KeyError when it does not exist); transient ones complete later."""
        return self.backend.flip(kind, rid, status, complete_to=complete_to)

    def pairs(self) -> list[dict[str, Any]]:
        return self.backend.records("pair")

    def groups(self) -> list[dict[str, Any]]:
        return self.backend.records("group")

    def record(self, kind: Kind, rid: str) -> dict[str, Any] | None:
        return self.backend.record(kind, rid)

    def group_members(self, gid: str) -> list[str]:
        """The pair ids of group ``gid`` (empty when there is no such group)."""
        doc = self.backend.record("group", gid)
        return list(doc["PairIds"]) if doc else []

    def drills(self) -> list[dict[str, Any]]:
        """Every drill not yet cleared, as Describe*Drills shows it, plus its ``TargetId``."""
        return self.backend.drills()

    def set_drill_knobs(self, target: str, *, execute_failures: int = 0, clear_failures: int = 0) -> None:
        """The target's next N drills end ``execute_failed``; its next N clears end ``clear_failed``."""
        self.backend.set_drill_knobs(target, execute_failures=execute_failures, clear_failures=clear_failures)

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        """Every pair and group, transitions applied, as API documents."""
        with self.backend.lock:
            return {"pairs": self.pairs(), "groups": self.groups()}
