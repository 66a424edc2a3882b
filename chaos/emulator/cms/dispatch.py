"""The CloudMonitor request pipeline, the ebs pipeline's pattern without ClientTokens (reads only).

parse -> action -> authenticate -> RAM check -> required parameters -> flow control -> fault
rules -> latency -> operation -> answer; every request lands in the shared ledger with
``service: "cms"``. Errors answer in the gateway's shape (``errors.py``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from werkzeug.wrappers import Request, Response

from chaos.emulator.cms.responses import CmsResponse, check_required
from chaos.emulator.cms.urls import routable
from chaos.emulator.errors import ApiError, new_request_id
from chaos.emulator.faults import Firing
from chaos.emulator.ledger import sanitize
from chaos.emulator.shared import Shared
from chaos.emulator.wire import MAX_BODY, ConnectionDropped, delay, json_response, reset_connection

log = logging.getLogger("chaos.emulator")

SERVICE = "cms"


class CmsDispatcher:
    def __init__(self, shared: Shared, responses: CmsResponse) -> None:
        self._s = shared
        self._responses = responses

    def dispatch(self, request: Request) -> Response:
        started = time.perf_counter()
        request_id = new_request_id()
        entry: dict[str, Any] = {
            "time": self._s.clock.now(),
            "wallTime": time.time(),
            "requestId": request_id,
            "service": SERVICE,
            "method": request.method,
            "path": request.path,
        }
        firing: Firing | None = None
        try:
            params = _params(request)
            action = params.get("Action") or request.headers.get("x-acs-action", "")
            entry.update(action=action, regionId=params.get("RegionId"), params=sanitize(params))
            body, firing = self._handle(request, params, action, request_id, entry)
            response = json_response(200, body)
            entry.update(status=200, code=None)
        except ConnectionDropped:
            entry.update(status=None, code="ConnectionReset")
            raise
        except ApiError as err:
            response = json_response(err.status, _error_body(err, request_id, self._host(entry)))
            entry.update(status=err.status, code=err.code)
        except Exception as exc:  # a bug of ours: answer like the gateway, flag it loudly in the ledger
            log.exception("emulator bug while handling cms %s", entry.get("action"))
            internal = ApiError.of("InternalError")
            response = json_response(500, _error_body(internal, request_id, self._host(entry)))
            entry.update(status=500, code="InternalError", emulatorBug=repr(exc))
        finally:
            entry["durationMs"] = round((time.perf_counter() - started) * 1000, 3)
            if firing is not None:
                entry["fault"] = firing.rule_id
            self._s.ledger.record_request(entry)
        return response

    def _host(self, entry: dict[str, Any]) -> str:
        return f"metrics.{entry.get('regionId') or self._s.region}.aliyuncs.com"

    def _handle(
        self, request: Request, params: dict[str, str], action: str, request_id: str, entry: dict[str, Any]
    ) -> tuple[dict[str, Any], Firing | None]:
        if not routable(request.method, action):
            raise ApiError.of("InvalidApi.NotFound")
        s = self._s
        principal = s.auth.authenticate(request, params)
        entry["accessKeyId"] = principal.access_key_id
        allowed = principal.credential.allowed_actions
        if allowed is not None and action not in allowed and f"cms:{action}" not in allowed:
            raise ApiError.of("Forbidden.Action")
        check_required(action, params)
        config = s.config()
        if not s.limiter.allow(config.rate_limits, principal.access_key_id, action):
            raise ApiError(code="Throttling.User", status=config.throttle_status)
        firing = s.faults.decide(
            action=action,
            region=params.get("RegionId"),
            site=None,
            target=None,
            access_key_id=principal.access_key_id,
            now=s.clock.now(),
            service=SERVICE,
        )
        if firing is not None:
            entry["fault"] = firing.rule_id
            delay(firing.rule.latency_ms)
            if firing.rule.phase == "before":
                _misbehave(request, firing)
        delay(config.latency_ms + (s.jitter() * config.latency_jitter_ms if config.latency_jitter_ms else 0))
        body = self._responses.dispatch(action, params, request_id)
        if firing is not None and firing.rule.phase == "after":
            _misbehave(request, firing)
        return body, firing


def _error_body(err: ApiError, request_id: str, host: str) -> dict[str, str]:
    body = err.body(request_id, host)
    body["Recommend"] = f"https://api.aliyun.com/troubleshoot?q={err.code}&product=Cms&requestId={request_id}"
    return body


def _params(request: Request) -> dict[str, str]:
    if request.content_length and request.content_length > MAX_BODY:
        raise ApiError(code="InvalidParameter", status=413, message="The request body is too large.")
    request.get_data(cache=True)  # keep the raw body: ACS3 hashes it, and .form would consume it
    params = {k: v for k, v in request.args.items()}
    if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
        for k, v in request.form.items():
            params.setdefault(k, v)
    return params


def _misbehave(request: Request, firing: Firing) -> None:
    rule = firing.rule
    delay(rule.hang_ms)
    if rule.reset:
        reset_connection(request)
    if rule.error is not None:
        raise ApiError(code=rule.error.code, status=rule.error.status, message=rule.error.message or "")
