"""The request pipeline shared by the RPC services on ``/`` (ebs, ecs, alidns, cms).

parse -> action/version -> authenticate -> RAM check -> required parameters (and the product's own
checks) -> flow control -> fault rules (phase before) -> ClientToken claim -> latency -> handler ->
token bind -> fault rules (phase after) -> answer; every request in the ledger. What differs per
product is an :class:`RpcProduct`: its operation table, error codes and hosts, and the hooks below
(the defaults are the plain case; ebs uses them all).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request, Response

from chaos.emulator.errors import ApiError, new_request_id
from chaos.emulator.faults import Firing
from chaos.emulator.ledger import sanitize
from chaos.emulator.shared import Shared
from chaos.emulator.wire import MAX_BODY, ConnectionDropped, delay, json_response, reset_connection

log = logging.getLogger("chaos.emulator")

FORBIDDEN_RAM = "User not authorized to operate on the specified resource, or this API doesn't support RAM."
Handler = Callable[[str, Mapping[str, str], "RpcContext"], dict[str, Any]]


@dataclass(frozen=True)
class RpcContext:
    request_id: str
    action: str
    access_key_id: str


def _forbidden_ram() -> ApiError:
    return ApiError(code="Forbidden.RAM", status=403, message=FORBIDDEN_RAM)


def _no_check(action: str, params: Mapping[str, str]) -> None:
    """No parameter rule beyond the required ones."""


def _no_site(action: str, params: Mapping[str, str]) -> str | None:
    return None


def _no_regions(action: str, params: Mapping[str, str], site: str | None) -> Iterable[str]:
    return ()


def _no_fields(params: Mapping[str, str]) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class RpcProduct:
    name: str  # the RAM prefix ("ecs", "alidns"), the ledger's "service" and the fault rules' service
    code: str  # the product code in the error's Recommend link ("Ecs", "Alidns")
    version: str
    required: Mapping[str, tuple[str, ...]]
    throttle_code: str  # the code a flow-control refusal answers
    host: Callable[[str], str]  # region -> HostId in error bodies
    target: Callable[[Mapping[str, str]], str | None]  # the resource a request names, for faults and the ledger
    forbidden: Callable[[], ApiError] = _forbidden_ram  # the answer to an action the RAM policy lacks
    throttle_status_configured: bool = False  # True: a refusal answers EmulatorConfig.throttle_status
    check: Callable[[str, Mapping[str, str]], None] = _no_check  # raises on a bad parameter, after the required
    site: Callable[[str, Mapping[str, str]], str | None] = _no_site  # the site a request reads, for fault rules
    # regions besides RegionId whose fault rules also reach a request (read lazily, after RegionId's missed)
    fault_regions: Callable[[str, Mapping[str, str], str | None], Iterable[str]] = _no_regions
    idempotent: frozenset[str] = frozenset()  # actions whose ClientToken replays the first answer
    ledger_fields: Callable[[Mapping[str, str]], dict[str, Any]] = _no_fields  # more of a request's ledger entry


def request_params(request: Request) -> dict[str, str]:
    """Query and form parameters (first value per key; the query wins); the raw body stays readable for ACS3."""
    if request.content_length and request.content_length > MAX_BODY:
        raise ApiError(code="InvalidParameter", status=413, message="The request body is too large.")
    request.get_data(cache=True)  # keep the raw body: ACS3 hashes it, and .form would consume it
    params = {k: v for k, v in request.args.items()}
    if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
        for k, v in request.form.items():
            params.setdefault(k, v)
    return params


def request_version(request: Request) -> str:
    """The API version a request names, wherever the SDK put it: query, ``x-acs-version`` or form body."""
    version = request.args.get("Version") or request.headers.get("x-acs-version", "")
    if not version and request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
        request.get_data(cache=True)  # keep the raw body for ACS3's hash before .form reads it
        version = request.form.get("Version", "")
    return version


def _invalid_parameter(name: str) -> ApiError:
    return ApiError.of("InvalidParameter", name)


def int_param(
    params: Mapping[str, str],
    name: str,
    lo: int,
    hi: int,
    default: int,
    invalid: Callable[[str], ApiError] = _invalid_parameter,
) -> int:
    """An optional integer parameter within ``lo..hi``; ``default`` when absent or empty."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(name) from None
    if not lo <= value <= hi:
        raise invalid(name)
    return value


def bool_param(
    params: Mapping[str, str], name: str, default: bool, invalid: Callable[[str], ApiError] = _invalid_parameter
) -> bool:
    """An optional ``true``/``false`` parameter (any case); ``default`` when absent or empty."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() not in ("true", "false"):
        raise invalid(name)
    return raw.lower() == "true"


class RpcDispatcher:
    def __init__(self, shared: Shared, product: RpcProduct, handler: Handler) -> None:
        self._s = shared
        self._p = product
        self._handler = handler
        # requests being processed (incl. held by latency/hang faults): game days wait for zero
        # before counting effects, so a write that lands after the client gave up is still counted
        self._inflight = 0
        self._quiet = threading.Condition()

    def wait_quiet(self, timeout: float) -> bool:
        """Block until no request of this product is being processed (or ``timeout``); True when quiet."""
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
            "service": self._p.name,
            "method": request.method,
            "path": request.path,
        }
        firing: Firing | None = None
        try:
            params = request_params(request)
            action = params.get("Action") or request.headers.get("x-acs-action", "")
            entry.update(
                action=action,
                regionId=params.get("RegionId"),
                params=sanitize(params),
                **self._p.ledger_fields(params),
                target=self._p.target(params),
            )
            body, firing = self._handle(request, params, action, request_id, entry)
            response = json_response(200, body)
            entry.update(status=200, code=None)
        except ConnectionDropped:
            entry.update(status=None, code="ConnectionReset")
            raise
        except ApiError as err:
            response = json_response(err.status, self._error_body(err, request_id, entry.get("regionId")))
            entry.update(status=err.status, code=err.code)
        except Exception as exc:  # a bug of ours: answer like the gateway, flag it loudly in the ledger
            log.exception("emulator bug while handling %s", entry.get("action"))
            internal = ApiError.of("InternalError")
            response = json_response(500, self._error_body(internal, request_id, None))
            entry.update(status=500, code="InternalError", emulatorBug=repr(exc))
        finally:
            entry["durationMs"] = round((time.perf_counter() - started) * 1000, 3)
            if firing is not None:
                entry["fault"] = firing.rule_id
            self._s.ledger.record_request(entry)
        return response

    def _error_body(self, err: ApiError, request_id: str, region: str | None) -> dict[str, str]:
        body = err.body(request_id, self._p.host(region or self._s.region))
        body["Recommend"] = (
            f"https://api.aliyun.com/troubleshoot?q={err.code}&product={self._p.code}&requestId={request_id}"
        )
        return body

    def _handle(
        self, request: Request, params: dict[str, str], action: str, request_id: str, entry: dict[str, Any]
    ) -> tuple[dict[str, Any], Firing | None]:
        p, s = self._p, self._s
        version = params.get("Version") or request.headers.get("x-acs-version", "")
        routed = request.method in ("GET", "POST") and request.path == "/" and version == p.version
        if not routed or action not in p.required:
            raise ApiError.of("InvalidApi.NotFound")
        principal = s.auth.authenticate(request, params)
        entry["accessKeyId"] = principal.access_key_id
        allowed = principal.credential.allowed_actions
        if allowed is not None and action not in allowed and f"{p.name}:{action}" not in allowed:
            raise p.forbidden()
        for name in p.required[action]:
            if not params.get(name):
                raise ApiError.of("MissingParameter", name)
        p.check(action, params)
        config = s.config()
        if not s.limiter.allow(config.rate_limits, principal.access_key_id, action):
            if p.throttle_status_configured:
                raise ApiError(code=p.throttle_code, status=config.throttle_status)
            raise ApiError.of(p.throttle_code)
        firing = self._decide(action, params, principal.access_key_id)
        if firing is not None:
            entry["fault"] = firing.rule_id
            delay(firing.rule.latency_ms)
            if firing.rule.phase == "before":
                _misbehave(request, firing)
        claim = (
            s.tokens.claim(principal.account_id, action, params.get("ClientToken"), params)
            if action in p.idempotent
            else None
        )
        delay(config.latency_ms + (s.jitter() * config.latency_jitter_ms if config.latency_jitter_ms else 0))
        # the token is in flight meanwhile: a duplicate sees LastTokenProcessing
        if claim is not None and claim.replay is not None:
            entry["replayed"] = True
            body = claim.replay
        else:
            try:
                body = self._handler(action, params, RpcContext(request_id, action, principal.access_key_id))
            except BaseException:
                if claim is not None:
                    s.tokens.release(claim)
                raise
            if claim is not None:
                s.tokens.complete(claim, body)
        if firing is not None and firing.rule.phase == "after":
            _misbehave(request, firing)
        return body, firing

    def _decide(self, action: str, params: Mapping[str, str], access_key_id: str) -> Firing | None:
        """The first fault rule that reaches this request: RegionId's, then the product's other regions'."""
        p, s = self._p, self._s
        site = p.site(action, params)
        for region in itertools.chain((params.get("RegionId"),), p.fault_regions(action, params, site)):
            firing = s.faults.decide(
                action=action,
                region=region,
                site=site,
                target=p.target(params),
                access_key_id=access_key_id,
                now=s.clock.now(),
                service=p.name,  # a rule with service: ecs / alidns reaches only that product
            )
            if firing is not None:
                return firing
        return None


class ActionMethods:
    """Responses with one method per action, named after it (``DescribeDisks``); a method answers its
    body without the RequestId, which :meth:`dispatch` adds. Its ``dispatch`` is the pipeline's handler."""

    def dispatch(self, action: str, params: Mapping[str, str], ctx: RpcContext) -> dict[str, Any]:
        handler: Callable[[Mapping[str, str], RpcContext], dict[str, Any]] = getattr(self, action)
        return {"RequestId": ctx.request_id, **handler(params, ctx)}


class RpcService:
    """What an RPC product's service object shares: recognised on ``/`` by its Version, answered by the
    pipeline. A subclass adds its backend, ``create``, ``reset`` and its control-plane surface."""

    def __init__(self, shared: Shared, product: RpcProduct, handler: Handler) -> None:
        self.product = product
        self._dispatcher = RpcDispatcher(shared, product, handler)

    @property
    def name(self) -> str:
        return self.product.name

    def recognises(self, request: Request) -> bool:
        return request.path == "/" and request_version(request) == self.product.version

    def dispatch(self, request: Request) -> Response:
        return self._dispatcher.dispatch(request)

    def settle(self) -> None:
        """Nothing to apply unless the product has transitions on the clock."""

    def shutdown(self) -> None:
        """Nothing runs in the background."""

    def wait_quiet(self, timeout: float) -> bool:
        """Block until no request of this product is being processed (or ``timeout``); True when quiet."""
        return self._dispatcher.wait_quiet(timeout)


def _misbehave(request: Request, firing: Firing) -> None:
    rule = firing.rule
    delay(rule.hang_ms)
    if rule.reset:
        reset_connection(request)
    if rule.error is not None:
        raise ApiError(code=rule.error.code, status=rule.error.status, message=rule.error.message or "")
