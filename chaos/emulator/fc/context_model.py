"""The ``context`` object FC's Python 3 runtime passes to handlers and initializers: its shape only.

Standard library only, so fc/child.py can load this file by path into a process whose memory is
measured, without importing the emulator's packages.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    # repr=False: a logged or printed context must not show the secret or the STS token
    access_key_secret: str = field(repr=False)
    # None when the function role resolves to a permanent key (FC itself always hands out STS)
    security_token: str | None = field(repr=False)


@dataclass(frozen=True)
class FunctionMeta:
    name: str
    handler: str
    memory: int  # MB
    timeout: float  # seconds


@dataclass(frozen=True)
class ServiceMeta:
    name: str
    log_project: str
    log_store: str
    qualifier: str
    version_id: str


@dataclass
class Tracing:
    span_context: str | None = None
    jaeger_endpoint: str | None = None
    span_baggages: dict[str, str] = field(default_factory=dict)

    def parseOpenTracingBaggages(self) -> dict[str, str]:  # FC's camelCase name
        return dict(self.span_baggages)


@dataclass(frozen=True)
class FcContext:
    """The ``context`` FC's Python 3 runtime passes to handlers and initializers."""

    request_id: str
    credentials: Credentials
    function: FunctionMeta
    service: ServiceMeta
    region: str
    account_id: str
    tracing: Tracing = field(default_factory=Tracing)

    def getLogger(self) -> logging.Logger:  # FC's camelCase name
        logger = logging.getLogger("fc.function")
        # FC's logger emits INFO; a process whose root logger is at WARNING would drop it
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)
        return logger
