"""One signed RPC call to ECS, Alidns or PrivateZone, failing the same way the ebs calls do.

Reuses :class:`replica_failover.ebs.EbsApi`'s client pool and its ``send`` (redaction, transport-error wording);
only the endpoint and the request object differ. Every SDK failure becomes one ``ApiFailure``.
"""

from __future__ import annotations

from typing import Any

from replica_failover.credentials import Credentials
from replica_failover.ebs import EbsApi


class RpcApi(EbsApi):
    """Calls against one product. ``endpoint`` (an env override: the emulator) wins over ``host``,
    the product's public host with ``{region}`` filled in."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        host: str,
        endpoint: str | None,
        connect_timeout: float,
        read_timeout: float,
    ) -> None:
        super().__init__(credentials, endpoint=endpoint, connect_timeout=connect_timeout, read_timeout=read_timeout)
        self._host = host

    def _target(self, region: str) -> tuple[str, str]:
        if self._endpoint:
            return super()._target(region)
        return self._host.format(region=region), "https"

    def prepare(self, request: Any, region: str) -> Any:
        """Point ``request`` (an aliyunsdkcore AcsRequest) at this API's endpoint, JSON answers."""
        host, protocol = self._target(region)
        request.set_endpoint(host)
        request.set_protocol_type(protocol)
        request.set_accept_format("JSON")
        return request

    def send(self, request: Any, region: str, *, write: bool = False) -> dict[str, Any]:
        self.prepare(request, region)
        return super().send(request, region, write=write)
