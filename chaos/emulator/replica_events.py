"""ebs -> ecs coupling: ebs announces when a replica's secondary disk changes role, ecs listens.

Neither package imports the other; both see this bus through :class:`chaos.emulator.shared.Shared`.
Handlers run synchronously under the shared ledger lock, so the disk turns ``Available`` in the same
instant the pair reads ``failovered``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SecondaryDisk:
    """A pair's secondary (destination) disk and whether it may be attached and written now."""

    disk_id: str
    region_id: str
    zone_id: str
    pair_id: str
    writable: bool


Listener = Callable[[SecondaryDisk], None]


@dataclass
class ReplicaEvents:
    _listeners: list[Listener] = field(default_factory=list)

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def publish(self, event: SecondaryDisk) -> None:
        for listener in self._listeners:
            listener(event)
