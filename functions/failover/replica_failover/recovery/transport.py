"""One signed RPC call to ECS, Alidns or PrivateZone, failing the same way the ebs calls do.

Reuses :class:`replica_failover.ebs.EbsApi`'s client pool, redaction and transport-error wording;
only the endpoint and the request object differ. Every SDK failure becomes one ``ApiFailure``.
"""

from __future__ import annotations

import json
from typing import Any

from replica_failover.credentials import Credentials
from replica_failover.ebs import MAX_MESSAGE, ApiFailure, EbsApi
from replica_failover.redact import redact_text


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
        from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException

        host, _ = self._target(region)
        self.prepare(request, region)
        try:
            with self._client(region) as client:
                raw = client.do_action_with_exception(request)
        except ServerException as exc:
            self.stats.count(write)
            raise ApiFailure(
                exc.get_error_code() or "Unknown",
                redact_text(str(exc.get_error_msg() or ""))[:MAX_MESSAGE],
                exc.get_http_status(),
                exc.get_request_id(),
            ) from None
        except ClientException as exc:
            self.stats.count(write)
            code = exc.get_error_code() or "SDK.ClientError"
            message = str(exc.get_error_msg())
            cause = self._transport_cause(message, host) if code == "SDK.HttpError" else redact_text(message)
            raise ApiFailure(code, cause[:MAX_MESSAGE]) from None
        self.stats.count(write)
        try:
            body = json.loads(raw)
        except ValueError:
            raise ApiFailure("SDK.UnknownServerError", "response is not JSON") from None
        if not isinstance(body, dict):
            raise ApiFailure("SDK.UnknownServerError", "response is not a JSON object")
        return body
