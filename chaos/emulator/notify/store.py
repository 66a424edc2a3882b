"""The notification endpoints' state: configured robots, their send history, received messages.

Records are kept in arrival order, each with what the endpoint decided (``verification``,
``errcode``), so a test can assert both what was sent and how it was judged.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from chaos.emulator.notify.models import RobotSpec

RATE_PER_MINUTE = 20
BLOCK_SECONDS = 600.0


@dataclass
class _Robot:
    spec: RobotSpec
    name: str
    sent: deque[float] = field(default_factory=deque)  # emulator times of accepted messages
    blocked_until: float = 0.0


class NotificationStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._robots: dict[str, _Robot] = {}
        self._records: list[dict[str, Any]] = []

    def reset(self) -> None:
        with self._lock:
            self._robots.clear()
            self._records.clear()

    # ----------------------------------------------------------- robots
    def configure(self, specs: Iterable[RobotSpec]) -> list[str]:
        """Add or replace robots by token; answers their names."""
        names = []
        with self._lock:
            for spec in specs:
                name = spec.name or f"robot-{len(self._robots) + 1}"
                self._robots[spec.token] = _Robot(spec, name)
                names.append(name)
        return names

    def robot(self, token: str) -> tuple[str, RobotSpec] | None:
        with self._lock:
            robot = self._robots.get(token)
            return (robot.name, robot.spec) if robot else None

    def robots(self) -> list[dict[str, Any]]:
        """Names and settings, never tokens or secrets."""
        with self._lock:
            return [
                {"name": r.name, "signed": r.spec.secret is not None, "keywords": list(r.spec.keywords)}
                for r in self._robots.values()
            ]

    def take_send_slot(self, token: str, now: float) -> bool:
        """Count one message against the robot's 20 per minute; False (and a block) when over."""
        with self._lock:
            robot = self._robots[token]
            if now < robot.blocked_until:
                return False
            while robot.sent and robot.sent[0] <= now - 60.0:
                robot.sent.popleft()
            if len(robot.sent) >= RATE_PER_MINUTE:
                robot.blocked_until = now + BLOCK_SECONDS
                return False
            robot.sent.append(now)
            return True

    # ---------------------------------------------------------- records
    def record(self, entry: dict[str, Any]) -> int:
        with self._lock:
            entry["seq"] = len(self._records) + 1
            self._records.append(entry)
            return int(entry["seq"])

    def records(self, since: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._records[since:]]

    def clear_records(self) -> None:
        with self._lock:
            self._records.clear()
