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


@dataclass(frozen=True)
class DrillDisk:
    """A drill's disk in the secondary's zone: created when the drill is executed, gone once cleared."""

    disk_id: str
    region_id: str
    zone_id: str
    pair_id: str
    source_disk_id: str  # the secondary disk it copies (ECS takes its category and size)
    present: bool


Listener = Callable[[SecondaryDisk], None]
DrillListener = Callable[[DrillDisk], None]
# ebs asks ecs whether a disk is attached (reprotect and start preconditions); no ecs: never attached
AttachedQuery = Callable[[str], bool]


@dataclass
class ReplicaEvents:
    _listeners: list[Listener] = field(default_factory=list)
    _drill_listeners: list[DrillListener] = field(default_factory=list)
    _attached: list[AttachedQuery] = field(default_factory=list)

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def publish(self, event: SecondaryDisk) -> None:
        for listener in self._listeners:
            listener(event)

    def subscribe_drills(self, listener: DrillListener) -> None:
        self._drill_listeners.append(listener)

    def publish_drill(self, event: DrillDisk) -> None:
        for listener in self._drill_listeners:
            listener(event)

    def answer_attached(self, query: AttachedQuery) -> None:
        self._attached.append(query)

    def attached(self, disk_id: str) -> bool:
        return bool(disk_id) and any(query(disk_id) for query in self._attached)
