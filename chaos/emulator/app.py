"""The emulator as one WSGI application: the registered services plus the ``/_emulator`` control plane.

Routing: ``/_emulator/...`` -> control plane; anything else -> the first service in
``services.SERVICES`` that recognises the request (FC: ``/2016-08-15/...``), else the last one
(ebs, RPC on ``/``). One process, one port, one ledger, one clock, one configuration.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from werkzeug.wrappers import Request

from chaos.emulator.auth import Authenticator
from chaos.emulator.clock import Clock
from chaos.emulator.cms.service import CmsService
from chaos.emulator.config import EmulatorConfig
from chaos.emulator.control import CONTROL_PREFIX, ControlPlane
from chaos.emulator.dns.service import DnsService
from chaos.emulator.ebs.backend import EbsBackend
from chaos.emulator.ebs.service import EbsService
from chaos.emulator.ecs.service import EcsService
from chaos.emulator.faults import FaultEngine
from chaos.emulator.fc.service import FcEmulator
from chaos.emulator.ledger import Ledger
from chaos.emulator.notify.service import NotifyService
from chaos.emulator.ratelimit import RateLimiter
from chaos.emulator.services import SERVICES, Service
from chaos.emulator.shared import Shared
from chaos.emulator.tokens import TokenStore
from chaos.emulator.wire import MAX_BODY

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["MAX_BODY", "Emulator"]

S = TypeVar("S")


class Emulator:
    def __init__(
        self, config: EmulatorConfig | None = None, *, region: str = "cn-shanghai", clock: Clock | None = None
    ) -> None:
        self._config = config or EmulatorConfig()
        self._config_lock = threading.Lock()
        self.region = region
        self.clock = clock or Clock()
        self.ledger = Ledger()
        self.tokens = TokenStore(self.clock.now, lambda: self.config().token_window_seconds)
        self.faults = FaultEngine()
        self.limiter = RateLimiter()
        self.auth = Authenticator(self.config)
        self._jitter = random.Random(self._config.seed)
        shared = Shared(
            config=self.config,
            clock=self.clock,
            ledger=self.ledger,
            region=region,
            auth=self.auth,
            tokens=self.tokens,
            faults=self.faults,
            limiter=self.limiter,
            jitter=self._draw_jitter,
        )
        self.services: tuple[Service, ...] = tuple(make(shared) for make in SERVICES)
        self.ebs = self.service(EbsService)
        self.fc = self.service(FcEmulator)
        self.cms = self.service(CmsService)
        self.notify = self.service(NotifyService)
        self.ecs = self.service(EcsService)
        self.dns = self.service(DnsService)
        self.control = ControlPlane(self)

    def service(self, kind: type[S]) -> S:
        """The registered service of class ``kind``."""
        for svc in self.services:
            if isinstance(svc, kind):
                return svc
        raise LookupError(f"no {kind.__name__} registered in chaos.emulator.services.SERVICES")

    @property
    def service_names(self) -> list[str]:
        return [svc.name for svc in self.services]

    @property
    def backend(self) -> EbsBackend:
        """The ebs state, for in-process tests and fixtures (the control plane uses ``self.ebs``)."""
        return self.ebs.backend

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

    def _draw_jitter(self) -> float:
        return self._jitter.random()

    # ------------------------------------------------------------- state
    def advance(self, seconds: float) -> float:
        """Move the emulator clock and apply every transition that fell due."""
        now = self.clock.advance(seconds)
        for svc in self.services:
            svc.settle()
        return now

    def reset(self, *, config: bool = False) -> None:
        if config:
            self.set_config(EmulatorConfig())
        self.ledger.clear()
        self.tokens.clear()
        self.faults.remove()
        self.limiter.clear()
        self.auth.reset()
        for svc in self.services:
            svc.reset()

    def wait_quiet(self, timeout: float) -> bool:
        """Block until no ebs, ecs or alidns request is being processed (or ``timeout``); True when quiet."""
        deadline = time.monotonic() + timeout
        quiet = self.ebs.wait_quiet(timeout)
        for svc in (self.ecs, self.dns):
            quiet = svc.wait_quiet(max(0.0, deadline - time.monotonic())) and quiet
        return quiet

    def shutdown(self) -> None:
        """Stop every service's background work (FC's async workers)."""
        for svc in self.services:
            svc.shutdown()

    # -------------------------------------------------------------- WSGI
    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        path = request.path
        control = path.startswith(CONTROL_PREFIX)
        request.max_content_length = MAX_BODY * 32 if control else MAX_BODY
        if control:
            response = self.control.dispatch(request)
        else:
            svc = next((s for s in self.services if s.recognises(request)), self.services[-1])
            response = svc.dispatch(request)
        return response(environ, start_response)
