"""The notification endpoints: a DingTalk-compatible robot and a generic JSON webhook receiver.

* ``POST /robot/send?access_token=T[&timestamp=MS&sign=S]``: verifies like DingTalk's custom
  robot (token, signature within an hour of real time, keywords, payload, 20 messages a minute on
  the emulator clock then a 10-minute block) and answers its ``{"errcode", "errmsg"}``.
* ``POST /hooks/<name>``: Slack/Lark-style incoming webhook; any name; records the JSON body.

Every request is recorded (``GET /_emulator/notifications``) with how it was judged. Fault rules
reach these endpoints only by naming ``service: "robot"`` or ``"webhook"`` (``faults.py``);
``target`` matches the robot's or hook's name.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from werkzeug.wrappers import Request, Response

from chaos.emulator.faults import Firing
from chaos.emulator.notify import robot
from chaos.emulator.notify.models import RobotSpec
from chaos.emulator.notify.signing import verify
from chaos.emulator.notify.store import NotificationStore
from chaos.emulator.shared import Shared
from chaos.emulator.wire import MAX_BODY, ConnectionDropped, delay, json_response, reset_connection

ROBOT_PATH = "/robot/send"
HOOK_PREFIX = "/hooks/"


class NotifyService:
    name = "notify"

    def __init__(self, shared: Shared) -> None:
        self._s = shared
        self.store = NotificationStore()

    @classmethod
    def create(cls, shared: Shared) -> NotifyService:
        return cls(shared)

    # ----- HTTP
    def recognises(self, request: Request) -> bool:
        path = request.path
        return path == ROBOT_PATH or (path.startswith(HOOK_PREFIX) and len(path) > len(HOOK_PREFIX))

    def dispatch(self, request: Request) -> Response:
        entry: dict[str, Any] = {"time": self._s.clock.now(), "wallTime": time.time(), "method": request.method}
        try:
            if request.path == ROBOT_PATH:
                return self._robot(request, entry)
            return self._hook(request, entry)
        except ConnectionDropped:
            entry.update(accepted=False, verification="fault", httpStatus=None)
            raise
        finally:
            self.store.record(entry)

    # ----- lifecycle
    def settle(self) -> None:
        """Nothing to apply: rate windows compare times with the clock."""

    def reset(self) -> None:
        self.store.reset()

    def shutdown(self) -> None:
        """Nothing runs in the background."""

    # ----- the control plane's surface
    def configure_robots(self, specs: Iterable[RobotSpec]) -> list[str]:
        return self.store.configure(specs)

    def robots(self) -> list[dict[str, Any]]:
        return self.store.robots()

    def notifications(self, since: int = 0) -> list[dict[str, Any]]:
        return self.store.records(since)

    def clear_notifications(self) -> None:
        self.store.clear_records()

    # ----- the robot
    def _robot(self, request: Request, entry: dict[str, Any]) -> Response:
        token = request.args.get("access_token", "")
        known = self.store.robot(token) if token else None
        entry.update(kind="robot", target=known[0] if known else None)
        firing = self._fault("robot", "RobotSend", entry["target"])
        if firing is not None:
            entry["fault"] = firing.rule_id
            if firing.rule.phase == "before":
                return self._misbehave(request, firing, entry, robot_shape=True)
        body = _json_body(request)
        entry["body"] = body
        if request.method != "POST":
            return self._robot_answer(entry, robot.NEED_POST, "not-post")
        if known is None:
            return self._robot_answer(entry, robot.TOKEN_NOT_EXIST, "unknown-token")
        _, spec = known
        verification = "unsigned"
        if spec.secret is not None:
            verification = verify(
                spec.secret, request.args.get("timestamp"), request.args.get("sign"), int(time.time() * 1000)
            )
            if verification != "ok":
                code = robot.BAD_TIMESTAMP if verification == "invalid-timestamp" else robot.BAD_SIGN
                return self._robot_answer(entry, code, verification)
        text = robot.message_text(body)
        if text is None:
            return self._robot_answer(entry, robot.BAD_PAYLOAD, "bad-payload")
        if spec.keywords and not any(k in text for k in spec.keywords):
            return self._robot_answer(entry, robot.NO_KEYWORD, "no-keyword")
        if not self.store.take_send_slot(spec.token, self._s.clock.now()):
            return self._robot_answer(entry, robot.TOO_FAST, "rate-limited")
        answer = self._robot_answer(entry, robot.OK, verification)
        entry["accepted"] = True
        if firing is not None:  # phase "after": accepted, then the answer is lost or replaced
            return self._misbehave(request, firing, entry, robot_shape=True)
        return answer

    @staticmethod
    def _robot_answer(entry: dict[str, Any], code: tuple[int, str], verification: str) -> Response:
        errcode, errmsg = code
        entry.update(accepted=False, verification=verification, errcode=errcode, httpStatus=200)
        return json_response(200, {"errcode": errcode, "errmsg": errmsg})

    # ----- the webhook receiver
    def _hook(self, request: Request, entry: dict[str, Any]) -> Response:
        name = request.path[len(HOOK_PREFIX) :]
        entry.update(kind="webhook", target=name)
        firing = self._fault("webhook", "Webhook", name)
        if firing is not None:
            entry["fault"] = firing.rule_id
            if firing.rule.phase == "before":
                return self._misbehave(request, firing, entry, robot_shape=False)
        if request.method != "POST":
            entry.update(accepted=False, verification="not-post", httpStatus=405)
            return json_response(405, {"ok": False, "code": 405, "msg": "Method Not Allowed"})
        body = _json_body(request)
        entry["body"] = body
        if body is None:
            entry.update(accepted=False, verification="bad-payload", httpStatus=400)
            return json_response(400, {"ok": False, "code": 9499, "msg": "Bad Request", "error": "invalid_payload"})
        entry.update(accepted=True, verification="ok", httpStatus=200)
        if firing is not None:
            return self._misbehave(request, firing, entry, robot_shape=False)
        return json_response(200, {"ok": True, "code": 0, "msg": "success"})

    # ----- faults
    def _fault(self, service: str, action: str, target: str | None) -> Firing | None:
        return self._s.faults.decide(
            action=action,
            region=None,
            site=None,
            target=target,
            access_key_id=None,
            now=self._s.clock.now(),
            service=service,
        )

    @staticmethod
    def _misbehave(request: Request, firing: Firing, entry: dict[str, Any], *, robot_shape: bool) -> Response:
        rule = firing.rule
        delay(rule.latency_ms)
        delay(rule.hang_ms)
        if rule.phase == "before":
            entry.update(accepted=False, verification="fault")
        if rule.reset:
            reset_connection(request)
        if rule.error is None:  # latency or hang only: then the normal answer
            entry.setdefault("httpStatus", 200)
            ok: dict[str, Any] = {"errcode": 0, "errmsg": "ok"} if robot_shape else {"ok": True, "code": 0}
            if rule.phase == "before":
                entry["verification"] = "fault-delay-only"
            return json_response(200, ok)
        message = rule.error.message or rule.error.code
        entry["httpStatus"] = rule.error.status
        if robot_shape:
            return json_response(rule.error.status, {"errcode": -1, "errmsg": message})
        return json_response(rule.error.status, {"ok": False, "code": rule.error.status, "msg": message})


def _json_body(request: Request) -> Any:
    """The parsed JSON body, or None when absent, too large or not JSON."""
    if request.content_length and request.content_length > MAX_BODY:
        return None
    raw = request.get_data(cache=True)
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None
