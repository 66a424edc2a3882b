"""The alidns service object the emulator registers: recognition by Version, the control-plane surface."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from werkzeug.wrappers import Request, Response

from chaos.emulator.dns.backend import DnsBackend
from chaos.emulator.dns.models import DomainRecord
from chaos.emulator.dns.responses import REQUIRED, VERSION, DnsResponse, target
from chaos.emulator.rpc import RpcDispatcher, RpcProduct, request_version
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


class DnsService:
    name = "alidns"

    def __init__(self, shared: Shared) -> None:
        self.backend = DnsBackend(shared.clock, shared.ledger)
        self._dispatcher = RpcDispatcher(shared, PRODUCT, DnsResponse(self.backend).dispatch)

    @classmethod
    def create(cls, shared: Shared) -> DnsService:
        return cls(shared)

    def recognises(self, request: Request) -> bool:
        return request.path == "/" and request_version(request) == VERSION

    def dispatch(self, request: Request) -> Response:
        return self._dispatcher.dispatch(request)

    def settle(self) -> None:
        """Nothing is transient."""

    def reset(self) -> None:
        self.backend.reset()

    def shutdown(self) -> None:
        """Nothing runs in the background."""

    def wait_quiet(self, timeout: float) -> bool:
        """Block until no request is being processed (or ``timeout``); True when quiet."""
        return self._dispatcher.wait_quiet(timeout)

    # ----- the control plane's surface
    def seed_records(self, records: Iterable[DomainRecord]) -> list[str]:
        return self.backend.seed(records)

    def records(self) -> list[dict[str, Any]]:
        return self.backend.all()

    def record(self, rid: str) -> dict[str, Any] | None:
        return next((r for r in self.backend.all() if r["RecordId"] == rid), None)
