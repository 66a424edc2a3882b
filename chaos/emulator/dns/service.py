"""The alidns service object the emulator registers: recognition by Version, the control-plane surface."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chaos.emulator.dns.backend import DnsBackend
from chaos.emulator.dns.models import DomainRecord
from chaos.emulator.dns.responses import REQUIRED, VERSION, DnsResponse, target
from chaos.emulator.rpc import RpcProduct, RpcService
from chaos.emulator.shared import Shared

PRODUCT = RpcProduct(
    name="alidns",
    code="Alidns",
    version=VERSION,
    required=REQUIRED,
    throttle_code="Throttling.User",
    host=lambda _region: "alidns.aliyuncs.com",
    target=target,
)


class DnsService(RpcService):
    def __init__(self, shared: Shared) -> None:
        self.backend = DnsBackend(shared.clock, shared.ledger)
        super().__init__(shared, PRODUCT, DnsResponse(self.backend).dispatch)

    @classmethod
    def create(cls, shared: Shared) -> DnsService:
        return cls(shared)

    def reset(self) -> None:
        self.backend.reset()

    # ----- the control plane's surface
    def seed_records(self, records: Iterable[DomainRecord]) -> list[str]:
        return self.backend.seed(records)

    def records(self) -> list[dict[str, Any]]:
        return self.backend.all()

    def record(self, rid: str) -> dict[str, Any] | None:
        return next((r for r in self.backend.all() if r["RecordId"] == rid), None)
