"""The ebs request pipeline: from a WSGI request to an answer, with every request in the ledger.

parse -> action/version -> authenticate -> RAM check -> required parameters -> flow control ->
fault rules (phase before) -> ClientToken claim -> latency -> operation handler -> token bind ->
fault rules (phase after) -> answer. Errors answer in the gateway's shape (errors.py).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from werkzeug.wrappers import Request, Response

from chaos.emulator.ebs.backend import CallContext, Kind
from chaos.emulator.ebs.responses import ApiCall, EbsResponse, check_required
from chaos.emulator.ebs.urls import WRITE_ACTIONS, routable
from chaos.emulator.errors import ApiError, new_request_id
from chaos.emulator.faults import Firing
from chaos.emulator.ledger import sanitize
from chaos.emulator.shared import Shared
from chaos.emulator.wire import MAX_BODY, ConnectionDropped, delay, json_response, reset_connection

log = logging.getLogger("chaos.emulator")
SITE_DESCRIBES = frozenset({"DescribeDiskReplicaPairs", "DescribeDiskReplicaGroups"})


class EbsDispatcher:
    def __init__(self, shared: Shared, responses: EbsResponse) -> None:
        self._s = shared
        self._responses = responses
        # requests being processed (incl. held by latency/hang faults): game days wait for zero
        # before counting effects, so a write that lands after the client gave up is still counted
        self._inflight = 0
        self._quiet = threading.Condition()

    def wait_quiet(self, timeout: float) -> bool:
        """Block until no ebs request is being processed (or ``timeout``); True when quiet."""
        with self._quiet:
            return self._quiet.wait_for(lambda: self._inflight == 0, timeout=timeout)

    def dispatch(self, request: Request) -> Response:
        with self._quiet:
            self._inflight += 1
        try:
            return self._dispatch(request)
        finally:
            with self._quiet:
                self._inflight -= 1
                self._quiet.notify_all()

    def _dispatch(self, request: Request) -> Response:
        started = time.perf_counter()
        request_id = new_request_id()
        entry: dict[str, Any] = {
            "time": self._s.clock.now(),
            "wallTime": time.time(),
            "requestId": request_id,
            "method": request.method,
            "path": request.path,
        }
        firing: Firing | None = None
        try:
            params = _params(request)
            action = params.get("Action") or request.headers.get("x-acs-action", "")
            entry.update(
                action=action,
                regionId=params.get("RegionId"),
                params=sanitize(params),
                clientToken=params.get("ClientToken"),
                site=params.get("Site") or None,
                target=_target(params),
            )
            body, firing = self._handle(request, params, action, request_id, entry)
            response = json_response(200, body)
            entry.update(status=200, code=None)
        except ConnectionDropped:
            entry.update(status=None, code="ConnectionReset")
            raise
        except ApiError as err:
            host = f"ebs.{entry.get('regionId') or self._s.region}.aliyuncs.com"
            response = json_response(err.status, err.body(request_id, host))
            entry.update(status=err.status, code=err.code)
        except Exception as exc:  # a bug of ours: answer like the gateway, flag it loudly in the ledger
            log.exception("emulator bug while handling %s", entry.get("action"))
            internal = ApiError.of("InternalError")
            response = json_response(500, internal.body(request_id, f"ebs.{self._s.region}.aliyuncs.com"))
            entry.update(status=500, code="InternalError", emulatorBug=repr(exc))
        finally:
            entry["durationMs"] = round((time.perf_counter() - started) * 1000, 3)
            if firing is not None:
                entry["fault"] = firing.rule_id
            self._s.ledger.record_request(entry)
        return response

    def _site_outage(self, params: dict[str, str], action: str, site: str, access_key_id: str) -> Firing | None:
        """The production view comes from each record's source region: a fault rule on such a region
        other than ``RegionId`` (a region outage) fails the describe too. The backup view is served by
        ``RegionId`` alone, so the DR region answers while the primary is out [INF]."""
        region = params.get("RegionId") or ""
        kind: Kind = "pair" if action == "DescribeDiskReplicaPairs" else "group"
        for serving in sorted(self._responses.backend.serving_regions(kind, region, site) - {region}):
            firing = self._s.faults.decide(
                action=action, region=serving, site=site, target=_target(params),
                access_key_id=access_key_id, now=self._s.clock.now(),
            )  # fmt: skip
            if firing is not None:
                return firing
        return None

    def _handle(
        self, request: Request, params: dict[str, str], action: str, request_id: str, entry: dict[str, Any]
    ) -> tuple[dict[str, Any], Firing | None]:
        version = params.get("Version") or request.headers.get("x-acs-version", "")
        if not routable(request.method, request.path, action, version):
            raise ApiError.of("InvalidApi.NotFound")
        s = self._s
        principal = s.auth.authenticate(request, params)
        entry["accessKeyId"] = principal.access_key_id
        allowed = principal.credential.allowed_actions
        if allowed is not None and action not in allowed and f"ebs:{action}" not in allowed:
            raise ApiError.of("Forbidden.Action")
        check_required(action, params)
        config = s.config()
        if not s.limiter.allow(config.rate_limits, principal.access_key_id, action):
            raise ApiError(code="Throttling.User", status=config.throttle_status)

        # only describes name a site (the backend serving them); writes go to the target's own region
        site = (params.get("Site") or "production") if action.startswith("Describe") else None
        firing = s.faults.decide(
            action=action,
            region=params.get("RegionId"),
            site=site,
            target=_target(params),
            access_key_id=principal.access_key_id,
            now=s.clock.now(),
        )
        if firing is None and site == "production" and action in SITE_DESCRIBES:
            firing = self._site_outage(params, action, site, principal.access_key_id)
        if firing is not None:
            entry["fault"] = firing.rule_id
            delay(firing.rule.latency_ms)
            if firing.rule.phase == "before":
                _misbehave(request, firing)

        claim = (
            s.tokens.claim(principal.account_id, action, params.get("ClientToken"), params)
            if action in WRITE_ACTIONS
            else None
        )
        delay(config.latency_ms + (s.jitter() * config.latency_jitter_ms if config.latency_jitter_ms else 0))
        # the token is in flight meanwhile: a duplicate sees LastTokenProcessing
        if claim is not None and claim.replay is not None:
            entry["replayed"] = True
            body = claim.replay
        else:
            ctx = CallContext(request_id, action, params.get("ClientToken"), principal.access_key_id)
            try:
                body = self._responses.dispatch(ApiCall(action, params, ctx))
            except BaseException:
                if claim is not None:
                    s.tokens.release(claim)
                raise
            if claim is not None:
                s.tokens.complete(claim, body)
        if firing is not None and firing.rule.phase == "after":
            _misbehave(request, firing)
        return body, firing


def _target(params: dict[str, str]) -> str | None:
    return params.get("ReplicaPairId") or params.get("ReplicaGroupId") or params.get("PairId") or params.get("GroupId")


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
