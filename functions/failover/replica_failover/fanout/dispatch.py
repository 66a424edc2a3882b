"""Async invocations of this function, one per batch, through FC 2.0 (aliyun-fc2) or FC 3.0
(alibabacloud-fc20230330) as ``FC_API_VERSION`` says. Both SDKs are imported only here.

FC 3.0 de-duplicates by ``x-fc-async-task-id``: a second invocation with a used id is answered 409
(AsyncTaskAlreadyExists), which here means "already dispatched" and counts as success. FC 2.0 takes
the same id as ``X-Fc-Stateful-Async-Invocation-Id`` (stateful async invocation must be enabled on the
function); its documentation does not say that a reused id is refused, so on FC 2.0 a re-run
coordinator may start a second worker for a batch. That worker re-reads the targets' state and sends
the same ClientTokens as the first, so the targets still see one effect each; only the work doubles.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from replica_failover.credentials import Credentials
from replica_failover.fanout.settings import FC2_API, FC3_API, FanoutSettings

Dispatched = Literal["new", "existing", "failed", "refused"]
# answers a retry of the coordinator cannot change (no permission, no such function, a bad request)
PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 413})


@dataclass(frozen=True)
class FcTarget:
    api_version: str
    endpoint: str
    service: str
    function: str
    credentials: Credentials = field(repr=False)


def fc_target(fan: FanoutSettings, context: Any, credentials: Credentials) -> FcTarget:
    """Where the workers run: this function, unless FAILOVER_SERVICE/FAILOVER_FUNCTION say otherwise."""
    region = getattr(context, "region", None) or ""
    account = getattr(context, "account_id", None) or ""
    if fan.endpoint:
        endpoint = fan.endpoint if "://" in fan.endpoint else f"https://{fan.endpoint}"
    elif fan.api_version == FC2_API:
        endpoint = f"https://{account}.{region}-internal.fc.aliyuncs.com"
    else:
        endpoint = f"https://fcv3.{region}.aliyuncs.com"
    fn = getattr(context, "function", None)
    svc = getattr(context, "service", None)
    function = fan.function or str(getattr(fn, "name", "") or "")
    service = fan.service or str(getattr(svc, "name", "") or "") or function
    return FcTarget(fan.api_version, endpoint.rstrip("/"), service, function, credentials)


@dataclass(frozen=True)
class Outcome:
    dispatched: Dispatched
    request_id: str | None = None
    error: str | None = None


class Invoker:
    """One client for the whole dispatch (the SDK's connection pool is reused)."""

    def __init__(self, target: FcTarget, *, timeout: float = 10.0) -> None:
        self.target = target
        self._timeout = timeout
        self._client: Any = None

    def invoke(self, payload: bytes, task: str) -> Outcome:
        if not self.target.function:
            return Outcome("failed", error="no function name (FAILOVER_FUNCTION, or the FC context's)")
        if self.target.api_version == FC3_API:
            return self._v3(payload, task)
        return self._v2(payload, task)

    def _v3(self, payload: bytes, task: str) -> Outcome:
        from alibabacloud_fc20230330 import models
        from alibabacloud_fc20230330.client import Client
        from alibabacloud_tea_openapi.exceptions import ClientException, ServerException
        from alibabacloud_tea_openapi.utils_models import Config
        from darabonba.runtime import RuntimeOptions

        if self._client is None:
            proto, _, host = self.target.endpoint.partition("://")
            c = self.target.credentials
            ms = round(self._timeout * 1000)
            self._client = Client(
                Config(
                    access_key_id=c.access_key_id,
                    access_key_secret=c.access_key_secret,
                    security_token=c.security_token,
                    endpoint=host,
                    protocol=proto,
                    connect_timeout=ms,
                    read_timeout=ms,
                )
            )
        try:
            resp = self._client.invoke_function_with_options(
                self.target.function,
                models.InvokeFunctionRequest(body=payload),
                models.InvokeFunctionHeaders(x_fc_invocation_type="Async", x_fc_async_task_id=task),
                RuntimeOptions(),
            )
        except (ClientException, ServerException) as exc:
            if exc.status_code == 409:
                return Outcome("existing", error=str(exc.code))
            return _refused_or_failed(exc.status_code, str(exc.code))
        except Exception as exc:  # transport errors come wrapped in the SDK's own types
            return Outcome("failed", error=f"FC unreachable: {type(exc).__name__}")
        headers: Mapping[str, Any] = resp.headers or {}
        return Outcome("new", request_id=str(headers.get("x-fc-request-id", "")) or None)

    def _v2(self, payload: bytes, task: str) -> Outcome:
        import fc2
        from fc2.fc_exceptions import FcError

        if self._client is None:
            c = self.target.credentials
            self._client = fc2.Client(
                endpoint=self.target.endpoint,
                accessKeyID=c.access_key_id,
                accessKeySecret=c.access_key_secret,
                securityToken=c.security_token or "",
                Timeout=self._timeout,
            )
        headers = {"x-fc-invocation-type": "Async", "x-fc-stateful-async-invocation-id": task}
        try:
            resp = self._client.invoke_function(self.target.service, self.target.function, payload, headers=headers)
        except FcError as exc:
            if exc.status_code == 409:
                return Outcome("existing", error=str(exc.err_code)[:64])
            return _refused_or_failed(exc.status_code, str(exc.err_code))
        except Exception as exc:  # requests' connection errors after aliyun-fc2's own retries
            return Outcome("failed", error=f"FC unreachable: {type(exc).__name__}")
        return Outcome("new", request_id=str(resp.headers.get("X-Fc-Request-Id", "")) or None)


def _refused_or_failed(status: int | None, code: str) -> Outcome:
    kind: Dispatched = "refused" if status in PERMANENT_STATUSES else "failed"
    return Outcome(kind, error=f"FC answered HTTP {status} {code[:64]}")
