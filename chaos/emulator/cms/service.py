"""The CloudMonitor service object the emulator registers, and its control-plane surface.

The control plane stores evidence through ``add_events``/``add_datapoints`` and reads it back
with ``events``/``datapoints``; it never touches the backend's lock or lists.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chaos.emulator.cms.backend import CmsBackend
from chaos.emulator.cms.models import DatapointSeed, SystemEventSeed
from chaos.emulator.cms.responses import CmsResponse
from chaos.emulator.cms.urls import REQUIRED, VERSION
from chaos.emulator.errors import ApiError
from chaos.emulator.rpc import RpcProduct, RpcService
from chaos.emulator.shared import Shared

# CloudMonitor on the shared RPC pipeline: reads only (no ClientToken), a RAM refusal is
# Forbidden.Action, flow control answers Throttling.User with the configured status.
PRODUCT = RpcProduct(
    name="cms",
    code="Cms",
    version=VERSION,
    required=REQUIRED,
    throttle_code="Throttling.User",
    host=lambda region: f"metrics.{region}.aliyuncs.com",
    target=lambda params: None,
    forbidden=lambda: ApiError.of("Forbidden.Action"),
    throttle_status_configured=True,
)


class CmsService(RpcService):
    def __init__(self, shared: Shared) -> None:
        self.backend = CmsBackend(shared.clock.now)
        super().__init__(shared, PRODUCT, CmsResponse(self.backend).dispatch)

    @classmethod
    def create(cls, shared: Shared) -> CmsService:
        return cls(shared)

    def reset(self) -> None:
        self.backend.reset()

    # ----- the control plane's surface
    def add_events(self, events: Iterable[SystemEventSeed]) -> list[str]:
        """Store system events stamped on the emulator clock; answers their ids."""
        return self.backend.add_events(events)

    def add_datapoints(self, datapoints: Iterable[DatapointSeed]) -> int:
        return self.backend.add_datapoints(datapoints)

    def events(self) -> list[dict[str, Any]]:
        return self.backend.events()

    def datapoints(self) -> list[dict[str, Any]]:
        return self.backend.datapoints()
