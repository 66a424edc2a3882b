"""Where the function's notifications go during a game day, and how the judge reads them back.

The emulator serves a DingTalk-compatible robot (``/robot/send``) and a JSON webhook receiver
(``/hooks/<name>``). :class:`Endpoints` draws the robot's access token and secret for one run,
configures the robot and yields the function's ``FAILOVER_NOTIFY_*`` environment. The emulator
records every message it received; :func:`kind_of` tells which of the function's messages a record
is (hold, act, result, failure) from its title, as a reader of the chat would, and
:func:`approve_command` finds the ``replica-failover approve`` command a hold message offers.
"""

from __future__ import annotations

import re
import secrets
import shlex
from dataclasses import dataclass, field
from typing import Any

from chaos.emulator.notify.models import RobotSpec
from chaos.gameday.client import EmulatorControl
from chaos.gameday.scenario import Notify

ROBOT_PATH = "/robot/send"
HOOK_PREFIX = "/hooks/"
# the function's titles (notify/messages.py): "Failover held: r", "Failing over r", "Failover <status>",
# "Failover <kind>: <cause>"
_TITLES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("hold", re.compile(r"^#*\s*Failover held\b")),
    ("act", re.compile(r"^#*\s*Failing over\b")),
    ("failure", re.compile(r"^#*\s*Failover [a-z-]+: ")),
    ("result", re.compile(r"^#*\s*Failover [a-z-]+\s*$")),
)
_COMMAND = re.compile(r"replica-failover approve [^`\n]+")


@dataclass
class Endpoints:
    """One run's notification endpoints: the robot's credentials are drawn fresh, never written anywhere."""

    notify: Notify
    robot_token: str = field(default_factory=lambda: secrets.token_hex(16))
    robot_secret: str = field(default_factory=lambda: "SEC" + secrets.token_hex(24))

    def env(self, url: str) -> dict[str, str]:
        """The function's notification settings, pointing at the emulator at ``url``."""
        out: dict[str, str] = {}
        robot, hook = self.notify.dingtalk, self.notify.webhook
        if robot is not None:
            out["FAILOVER_NOTIFY_DINGTALK_URL"] = f"{url}{ROBOT_PATH}?access_token={self.robot_token}"
            if robot.signed:
                out["FAILOVER_NOTIFY_DINGTALK_SECRET"] = self.robot_secret
        if hook is not None:
            out["FAILOVER_NOTIFY_WEBHOOK_URL"] = f"{url}{HOOK_PREFIX}{hook.name}"
        return out

    def configure(self, control: EmulatorControl) -> None:
        robot = self.notify.dingtalk
        if robot is None:
            return
        spec = RobotSpec(
            token=self.robot_token,
            secret=self.robot_secret if robot.signed else None,
            name=robot.name,
            keywords=list(robot.keywords),
        )
        control.configure_robots([spec])

    def secrets(self) -> list[str]:
        """What must never appear in a message, a result or a log line."""
        out = []
        if self.notify.dingtalk is not None:
            out.append(self.robot_token)
            if self.notify.dingtalk.signed:
                out.append(self.robot_secret)
        return out


def text_of(record: dict[str, Any]) -> str:
    """The message text a human reads: the robot's markdown/text, the webhook's ``text``."""
    body = record.get("body")
    if not isinstance(body, dict):
        return ""
    if record.get("kind") == "robot":
        for part in ("markdown", "text"):
            inner = body.get(part)
            if isinstance(inner, dict):
                return "\n\n".join(str(inner.get(k) or "") for k in ("title", "text", "content") if inner.get(k))
        return ""
    return str(body.get("text") or "")


def kind_of(record: dict[str, Any]) -> str:
    """hold | act | result | failure | other: from the webhook's structured ``failover.kind`` when it
    has one, else from the message's first line (the robot's markdown heading)."""
    body = record.get("body")
    if isinstance(body, dict) and isinstance(body.get("failover"), dict):
        kind = body["failover"].get("kind")
        if isinstance(kind, str):
            return kind
    text = text_of(record)
    if record.get("kind") == "robot" and isinstance(body, dict) and isinstance(body.get("markdown"), dict):
        text = str(body["markdown"].get("text") or "")
    first = text.strip().splitlines()[0] if text.strip() else ""
    for kind, pattern in _TITLES:
        if pattern.search(first):
            return kind
    return "other"


@dataclass(frozen=True)
class ApproveCommand:
    """The ``replica-failover approve`` command a hold message printed, parsed into its options."""

    incident_key: str
    digest: str
    primary_region: str
    targets: list[str]


def approve_command(records: list[dict[str, Any]]) -> ApproveCommand | None:
    """The command in the latest accepted hold message that offers one, or None."""
    for record in reversed(records):
        if not record.get("accepted") or kind_of(record) != "hold":
            continue
        found = _COMMAND.search(text_of(record))
        if found is None:
            continue
        options = _options(shlex.split(found.group(0))[2:])
        try:
            return ApproveCommand(
                incident_key=options["--incident-key"],
                digest=options["--digest"],
                primary_region=options["--primary-region"],
                targets=[t for t in options["--targets"].split(",") if t],
            )
        except KeyError:
            continue
    return None


def _options(words: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for flag, value in zip(words[::2], words[1::2], strict=False):
        if flag.startswith("--"):
            out[flag] = value
    return out
