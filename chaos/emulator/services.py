"""The registry of emulated services: the ONE place a service is added.

The app offers every request outside ``/_emulator/`` to each service in order; the first whose
``recognises(request)`` says yes answers it. The last one is also the catch-all: an unrecognised
request gets its "no such API" answer (ebs: the gateway's ``InvalidApi.NotFound``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from werkzeug.wrappers import Request, Response

from chaos.emulator.cms.service import CmsService
from chaos.emulator.dns.service import DnsService
from chaos.emulator.ebs.service import EbsService
from chaos.emulator.ecs.service import EcsService
from chaos.emulator.fc.service import FcEmulator
from chaos.emulator.notify.service import NotifyService
from chaos.emulator.shared import Shared


class Service(Protocol):
    """What the app and the control plane need from every service."""

    @property
    def name(self) -> str: ...

    def recognises(self, request: Request) -> bool: ...

    def dispatch(self, request: Request) -> Response: ...

    def settle(self) -> None:
        """Apply whatever fell due on the emulator clock (called after it moved)."""

    def reset(self) -> None: ...

    def shutdown(self) -> None: ...


ServiceFactory = Callable[[Shared], Service]

# FC owns a path prefix; ebs (RPC on "/") goes last, being the catch-all. A new RPC service on "/"
# (ecs, cms, alidns) goes before ebs and recognises its requests by its API Version.
SERVICES: tuple[ServiceFactory, ...] = (
    FcEmulator.create,
    NotifyService.create,  # the robot and webhook receiver: their own paths
    EcsService.create,  # Version 2014-05-26
    DnsService.create,  # Version 2015-01-09
    CmsService.create,  # Version 2019-01-01
    EbsService.create,  # the catch-all
)
