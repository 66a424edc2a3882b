"""The emulator as one WSGI application: ebs RPC API, FC invoke API and the ``/_emulator`` control plane.

Routing (moto's ``urls.py`` in one place): ``/_emulator/...`` -> control plane; ``/2016-08-15/...``
-> Function Compute; ``/`` -> ebs. One process, one port, one ledger, one clock.

An ebs request goes through: parse -> action/version -> authenticate -> RAM check -> required
parameters -> flow control -> fault rules (phase before) -> ClientToken claim -> latency ->
backend -> token bind -> fault rules (phase after) -> answer. Every request, whatever happens,
lands in the ledger.
"""

from __future__ import annotations

import json
import logging
import random
import socket
import struct
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pydantic_core
from werkzeug.wrappers import Request, Response

from chaos.emulator.auth import Authenticator
from chaos.emulator.backend import CallContext, EbsBackend
from chaos.emulator.clock import Clock
from chaos.emulator.config import EmulatorConfig
from chaos.emulator.errors import ApiError, new_request_id
from chaos.emulator.faults import FaultEngine, Firing
from chaos.emulator.fc import FcEmulator
from chaos.emulator.ledger import Ledger, sanitize
from chaos.emulator.ratelimit import RateLimiter
from chaos.emulator.responses import REQUIRED, VERSION, WRITE_ACTIONS, ApiCall, EbsResponse, check_required
from chaos.emulator.tokens import TokenStore

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

log = logging.getLogger("chaos.emulator")

MAX_BODY = 1 << 20  # the gateway refuses large bodies; so do we, before parsing
JSON_TYPE = "application/json;charset=utf-8"


class ConnectionDropped(ConnectionResetError):
    """Raised after the emulator reset a connection on purpose; werkzeug treats it as a dropped client."""


class Emulator:
    def __init__(
        self, config: EmulatorConfig | None = None, *, region: str = "cn-shanghai", clock: Clock | None = None
    ) -> None:
        self._config = config or EmulatorConfig()
        self._config_lock = threading.Lock()
        self.region = region
        self.clock = clock or Clock()
        self.ledger = Ledger()
        self.backend = EbsBackend(self.clock, self.config, self.ledger)
        self.responses = EbsResponse(self.backend)
        self.tokens = TokenStore(self.clock.now, lambda: self.config().token_window_seconds)
        self.faults = FaultEngine()
        self.limiter = RateLimiter()
        self.auth = Authenticator(self.config)
        self.fc = FcEmulator(self.config, self.clock, region)
        self._jitter = random.Random(self._config.seed)
        # ebs requests being processed (incl. held by latency/hang faults): game days wait for zero
        # before counting effects, so a write that lands after the client gave up is still counted
        self._inflight = 0
        self._quiet = threading.Condition()
        from chaos.emulator.control import ControlPlane  # control imports this module's types

        self.control = ControlPlane(self)

    # ------------------------------------------------------------ config
    def config(self) -> EmulatorConfig:
        with self._config_lock:
            return self._config

    def set_config(self, config: EmulatorConfig) -> None:
        with self._config_lock:
            self._config = config
            self._jitter = random.Random(config.seed)

    def update_config(self, patch: dict[str, Any]) -> EmulatorConfig:
        """Merge a partial camelCase document into the current config and validate the whole."""
        with self._config_lock:
            merged = {**self._config.model_dump(by_alias=True), **patch}
            self._config = EmulatorConfig.model_validate(merged)
            self._jitter = random.Random(self._config.seed)
            return self._config

    def advance(self, seconds: float) -> float:
        """Move the emulator clock and apply every transition that fell due."""
        now = self.clock.advance(seconds)
        self.backend.settle()
        return now

    def reset(self, *, config: bool = False) -> None:
        if config:
            self.set_config(EmulatorConfig())
        self.backend.reset()
        self.ledger.clear()
        self.tokens.clear()
        self.faults.remove()
        self.limiter.clear()
        self.auth.reset()
        self.fc.reset()

    # -------------------------------------------------------------- WSGI
    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        request.max_content_length = MAX_BODY * 32 if request.path.startswith("/_emulator") else MAX_BODY
        path = request.path
        if path.startswith("/_emulator"):
            response = self.control.dispatch(request)
        elif self.fc.handles(path):
            response = self.fc.dispatch(request)
        else:
            response = self.ebs(request)
        return response(environ, start_response)

    # --------------------------------------------------------------- ebs
    def wait_quiet(self, timeout: float) -> bool:
        """Block until no ebs request is being processed (or ``timeout``); True when quiet."""
        with self._quiet:
            return self._quiet.wait_for(lambda: self._inflight == 0, timeout=timeout)

    def ebs(self, request: Request) -> Response:
        with self._quiet:
            self._inflight += 1
        try:
            return self._ebs(request)
        finally:
            with self._quiet:
                self._inflight -= 1
                self._quiet.notify_all()

    def _ebs(self, request: Request) -> Response:
        started = time.perf_counter()
        request_id = new_request_id()
        entry: dict[str, Any] = {
            "time": self.clock.now(),
            "wallTime": time.time(),
            "requestId": request_id,
            "method": request.method,
            "path": request.path,
        }
        firing: Firing | None = None
        try:
            params = self._params(request)
            action = params.get("Action") or request.headers.get("x-acs-action", "")
            entry.update(
                action=action,
                regionId=params.get("RegionId"),
                params=sanitize(params),
                clientToken=params.get("ClientToken"),
                site=params.get("Site") or None,
                target=params.get("ReplicaPairId") or params.get("ReplicaGroupId"),
            )
            body, firing = self._handle(request, params, action, request_id, entry)
            response = _json(200, body)
            entry.update(status=200, code=None)
        except ConnectionDropped:
            entry.update(status=None, code="ConnectionReset")
            raise
        except ApiError as err:
            host = f"ebs.{entry.get('regionId') or self.region}.aliyuncs.com"
            response = _json(err.status, err.body(request_id, host))
            entry.update(status=err.status, code=err.code)
        except Exception as exc:  # a bug of ours: answer like the gateway, flag it loudly in the ledger
            log.exception("emulator bug while handling %s", entry.get("action"))
            internal = ApiError.of("InternalError")
            response = _json(500, internal.body(request_id, f"ebs.{self.region}.aliyuncs.com"))
            entry.update(status=500, code="InternalError", emulatorBug=repr(exc))
        finally:
            entry["durationMs"] = round((time.perf_counter() - started) * 1000, 3)
            if firing is not None:
                entry["fault"] = firing.rule_id
            self.ledger.record_request(entry)
        return response

    def _params(self, request: Request) -> dict[str, str]:
        if request.content_length and request.content_length > MAX_BODY:
            raise ApiError(code="InvalidParameter", status=413, message="The request body is too large.")
        request.get_data(cache=True)  # keep the raw body: ACS3 hashes it, and .form would consume it
        params = {k: v for k, v in request.args.items()}
        if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
            for k, v in request.form.items():
                params.setdefault(k, v)
        return params

    def _handle(
        self, request: Request, params: dict[str, str], action: str, request_id: str, entry: dict[str, Any]
    ) -> tuple[dict[str, Any], Firing | None]:
        if request.method not in ("GET", "POST") or request.path != "/" or action not in REQUIRED:
            raise ApiError.of("InvalidApi.NotFound")
        version = params.get("Version") or request.headers.get("x-acs-version", "")
        if version != VERSION:
            raise ApiError.of("InvalidApi.NotFound")
        principal = self.auth.authenticate(request, params)
        entry["accessKeyId"] = principal.access_key_id
        allowed = principal.credential.allowed_actions
        if allowed is not None and action not in allowed and f"ebs:{action}" not in allowed:
            raise ApiError.of("Forbidden.Action")
        check_required(action, params)
        config = self.config()
        if not self.limiter.allow(config.rate_limits, principal.access_key_id, action):
            raise ApiError(code="Throttling.User", status=config.throttle_status)

        # only describes name a site (the backend serving them); writes go to the target's own region
        site = (params.get("Site") or "production") if action.startswith("Describe") else None
        firing = self.faults.decide(
            action=action,
            region=params.get("RegionId"),
            site=site,
            target=params.get("ReplicaPairId") or params.get("ReplicaGroupId"),
            access_key_id=principal.access_key_id,
            now=self.clock.now(),
        )
        if firing is not None:
            entry["fault"] = firing.rule_id
            self._delay(firing.rule.latency_ms)
            if firing.rule.phase == "before":
                self._misbehave(request, firing)

        claim = (
            self.tokens.claim(principal.account_id, action, params.get("ClientToken"), params)
            if action in WRITE_ACTIONS
            else None
        )
        base = config.latency_ms + (self._jitter.random() * config.latency_jitter_ms if config.latency_jitter_ms else 0)
        self._delay(base)  # the token is in flight meanwhile: a duplicate sees LastTokenProcessing
        if claim is not None and claim.replay is not None:
            entry["replayed"] = True
            body = claim.replay
        else:
            ctx = CallContext(request_id, action, params.get("ClientToken"), principal.access_key_id)
            try:
                body = self.responses.dispatch(ApiCall(action, params, ctx))
            except BaseException:
                if claim is not None:
                    self.tokens.release(claim)
                raise
            if claim is not None:
                self.tokens.complete(claim, body)
        if firing is not None and firing.rule.phase == "after":
            self._misbehave(request, firing)
        return body, firing

    def _misbehave(self, request: Request, firing: Firing) -> None:
        rule = firing.rule
        self._delay(rule.hang_ms)
        if rule.reset:
            _reset_connection(request)
        if rule.error is not None:
            raise ApiError(code=rule.error.code, status=rule.error.status, message=rule.error.message or "")

    @staticmethod
    def _delay(ms: float) -> None:
        if ms > 0:
            # the emulator itself is slow here; tests never sleep, they configure this
            time.sleep(ms / 1000.0)


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(encode_json(body), status=status, content_type=JSON_TYPE)


def encode_json(body: dict[str, Any]) -> bytes:
    """``json.dumps(body, separators=(",", ":"))``, byte for byte, three times faster.

    pydantic-core's encoder writes the same compact JSON for the str/int/bool/None/list/dict
    documents the ebs API answers, except that it leaves non-ASCII characters and DEL unescaped;
    such (rare) bodies go through ``json.dumps`` so the bytes stay what they always were.
    """
    try:
        fast = pydantic_core.to_json(body)
    except (ValueError, pydantic_core.PydanticSerializationError):  # e.g. a lone surrogate
        fast = b"\x80"
    if fast.isascii() and b"\x7f" not in fast:
        return fast
    return json.dumps(body, separators=(",", ":")).encode()


def _reset_connection(request: Request) -> None:
    """Abort the TCP connection with RST, as a dying load balancer would."""
    sock = request.environ.get("werkzeug.socket")
    if isinstance(sock, socket.socket):
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    raise ConnectionDropped("connection reset by fault rule")
