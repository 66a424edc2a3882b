"""The optional pre-switch hook: a synchronous FC invoke of a named function (e.g. a health check).

The traffic switch waits until the hook answers: an answer without an FC function error lets it go
ahead ("passed"); a function error (FC answers 200 with ``X-Fc-Error-Type``) refuses it ("failed");
throttling, 5xx and transport errors leave it for the next round. Endpoint: ``FC_ENDPOINT`` (the
emulator) or ``https://<account>.<region>-internal.fc.aliyuncs.com``. aliyun-fc2 is imported on
first use: only a recovery with a hook pays for it.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from replica_failover.credentials import Credentials
from replica_failover.ebs import ApiFailure
from replica_failover.recovery.map import Hook
from replica_failover.redact import redact_text

Verdict = Literal["passed", "failed"]


def fc_endpoint(endpoint: str | None, account_id: str | None, region: str) -> str | None:
    if endpoint:
        return endpoint
    return f"https://{account_id}.{region}-internal.fc.aliyuncs.com" if account_id else None


class HookApi:
    def __init__(self, credentials: Credentials, hook: Hook, *, endpoint: str, service: str, timeout: float) -> None:
        self._credentials = credentials
        self.hook = hook
        self.endpoint = endpoint
        self.service = hook.service or service
        self.timeout = timeout

    def invoke(self, payload: dict[str, Any]) -> Verdict:
        """The hook's verdict; raises ApiFailure (code, status) when FC itself did not answer it."""
        import fc2  # the SDK the rest of the project invokes FC with

        c = self._credentials
        client = fc2.Client(
            endpoint=self.endpoint,
            accessKeyID=c.access_key_id,
            accessKeySecret=c.access_key_secret,
            securityToken=c.security_token or "",
            Timeout=self.timeout,
        )
        try:
            client.invoke_function(
                self.service,
                self.hook.function,
                payload=json.dumps(payload).encode(),
                headers={"x-fc-invocation-type": "Sync"},
                qualifier=self.hook.qualifier,
            )
        except fc2.FcError as exc:
            status = int(getattr(exc, "status_code", 0) or 0)
            if status == 200:  # the function ran and raised: it refuses the switch
                return "failed"
            code = str(getattr(exc, "err_code", "") or "FcError")
            raise ApiFailure(code, redact_text(str(getattr(exc, "message", exc)))[:300], status or None) from None
        except OSError as exc:  # requests' transport errors (RequestException is an OSError)
            raise ApiFailure("SDK.HttpError", redact_text(type(exc).__name__)) from None
        return "passed"
