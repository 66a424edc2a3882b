"""What every service gets from the emulator: one configuration, clock, ledger and region, plus the
cross-cutting machinery (authentication, ClientToken store, fault rules, flow control)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from chaos.emulator.auth import Authenticator
from chaos.emulator.clock import Clock
from chaos.emulator.config import EmulatorConfig
from chaos.emulator.faults import FaultEngine
from chaos.emulator.ledger import Ledger
from chaos.emulator.ratelimit import RateLimiter
from chaos.emulator.replica_events import ReplicaEvents
from chaos.emulator.tokens import TokenStore


@dataclass(frozen=True)
class Shared:
    config: Callable[[], EmulatorConfig]
    clock: Clock
    ledger: Ledger
    region: str
    auth: Authenticator
    tokens: TokenStore
    faults: FaultEngine
    limiter: RateLimiter
    jitter: Callable[[], float]  # uniform [0, 1) from the configured seed, for latency jitter
    events: ReplicaEvents = field(default_factory=ReplicaEvents)  # ebs publishes, ecs subscribes
