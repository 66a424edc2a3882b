"""Notifications against a real local HTTP server that checks the DingTalk signature like the robot."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

import pytest
from pytest_localserver.http import WSGIServer
from replica_failover.notify import dingtalk, messages
from replica_failover.notify.send import RateLimiter, send
from werkzeug.wrappers import Request, Response

SECRET = "SECdingtalk-robot-secret-0123456789"
TOKEN = "robot-access-token-abcdef0123456789"


@dataclass
class Robot:
    """A DingTalk robot: verifies timestamp and sign as documented, records what it accepted."""

    mode: str = "ok"  # ok | 5xx | 5xx-once | slow | too-fast
    bodies: list[dict[str, Any]] = field(default_factory=list)
    hits: int = 0
    release: threading.Event = field(default_factory=threading.Event)
    now_ms: int = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        self.hits += 1
        if self.mode == "slow":
            self.release.wait(10)  # held until the test ends: the client must give up first
        if self.mode == "5xx" or (self.mode == "5xx-once" and self.hits == 1):
            return Response("busy", status=503)(environ, start_response)
        body = request.get_data()
        if request.path == "/hook":
            self.bodies.append(json.loads(body))
            return Response("{}", status=200, content_type="application/json")(environ, start_response)
        return self._robot(request, body)(environ, start_response)

    def _robot(self, request: Request, body: bytes) -> Response:
        def reply(code: int, msg: str) -> Response:
            return Response(json.dumps({"errcode": code, "errmsg": msg}), content_type="application/json")

        if request.args.get("access_token") != TOKEN:
            return reply(300001, "token is not exist")
        ts = request.args.get("timestamp", "")
        if not ts.isdigit() or abs(int(ts) - (self.now_ms or int(time.time() * 1000))) > 3600_000:
            return reply(310000, "invalid timestamp")
        mac = hmac.new(SECRET.encode(), f"{ts}\n{SECRET}".encode(), hashlib.sha256).digest()
        # request.args has already URL-decoded the value once, as the robot does
        if request.args.get("sign") != base64.b64encode(mac).decode():
            return reply(310000, "sign not match")
        if self.mode == "too-fast":
            return reply(130101, "send too fast, exceed 20 times per minute")
        self.bodies.append(json.loads(body))
        return reply(0, "ok")


@pytest.fixture
def robot() -> Iterator[tuple[Robot, str]]:
    app = Robot()
    server = WSGIServer(application=app)
    server.start()
    try:
        yield app, server.url
    finally:
        app.release.set()
        server.stop()


def _msg() -> messages.Message:
    return messages.result(
        incident_key="thr-abc", status="partial", counts={"failedOver": 3, "failed": 1}, failures=[("pair-x", "Boom")]
    )


def test_sign_matches_the_documented_recipe() -> None:
    ts = 1_700_000_000_000
    mac = hmac.new(SECRET.encode(), f"{ts}\n{SECRET}".encode(), hashlib.sha256).digest()
    assert unquote_plus(dingtalk.sign(SECRET, ts)) == base64.b64encode(mac).decode()
    url = dingtalk.signed_url(f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}", SECRET, ts)
    assert url.endswith(f"&timestamp={ts}&sign={dingtalk.sign(SECRET, ts)}")


def test_dingtalk_signed_markdown_is_accepted(robot: tuple[Robot, str]) -> None:
    app, url = robot
    record = send("dingtalk", f"{url}/robot/send?access_token={TOKEN}", _msg(), secret=SECRET, limiter=RateLimiter())
    assert (record.ok, record.attempts, record.errcode, record.status) == (True, 1, 0, 200)
    (body,) = app.bodies
    assert body["msgtype"] == "markdown"
    assert "failedOver: 3" in body["markdown"]["text"] and "`pair-x`: Boom" in body["markdown"]["text"]


def test_bad_signature_errcode_is_reported_and_not_retried(robot: tuple[Robot, str]) -> None:
    app, url = robot
    record = send(
        "dingtalk",
        f"{url}/robot/send?access_token={TOKEN}",
        _msg(),
        secret="SECwrong-secret-000000",
        limiter=RateLimiter(),
    )
    assert (record.ok, record.errcode, record.attempts) == (False, 310000, 1)
    assert "sign not match" in (record.error or "")
    assert app.bodies == []


def test_stale_timestamp_is_refused_by_the_robot(robot: tuple[Robot, str]) -> None:
    app, url = robot
    record = send(
        "dingtalk",
        f"{url}/robot/send?access_token={TOKEN}",
        _msg(),
        secret=SECRET,
        limiter=RateLimiter(),
        now_ms=lambda: int(time.time() * 1000) - 2 * 3600_000,
    )
    assert (record.ok, record.errcode) == (False, 310000)
    assert "invalid timestamp" in (record.error or "")
    assert app.bodies == []


def test_too_fast_errcode_is_not_retried(robot: tuple[Robot, str]) -> None:
    app, url = robot
    app.mode = "too-fast"
    record = send("dingtalk", f"{url}/robot/send?access_token={TOKEN}", _msg(), secret=SECRET, limiter=RateLimiter())
    assert (record.ok, record.errcode, record.attempts, app.hits) == (False, 130101, 1, 1)


def test_5xx_is_retried_once(robot: tuple[Robot, str]) -> None:
    app, url = robot
    app.mode = "5xx-once"
    record = send("dingtalk", f"{url}/robot/send?access_token={TOKEN}", _msg(), secret=SECRET, limiter=RateLimiter())
    assert (record.ok, record.attempts, app.hits) == (True, 2, 2)
    app.mode, app.hits = "5xx", 0
    record = send("webhook", f"{url}/hook", _msg())
    assert (record.ok, record.attempts, record.status, app.hits) == (False, 2, 503, 2)
    assert record.error == "HTTP 503"


def test_slow_endpoint_is_bounded(robot: tuple[Robot, str]) -> None:
    app, url = robot
    app.mode = "slow"
    started = time.monotonic()
    record = send("webhook", f"{url}/hook", _msg(), timeout=0.5)
    elapsed = time.monotonic() - started
    assert not record.ok
    assert "timed out" in (record.error or "")
    assert elapsed < 1.5
    assert 400 <= record.elapsed_ms < 1500


def test_endpoint_down_is_a_record_not_an_exception() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    record = send(
        "dingtalk",
        f"http://127.0.0.1:{port}/robot/send?access_token={TOKEN}",
        _msg(),
        secret=SECRET,
        limiter=RateLimiter(),
    )
    assert (record.ok, record.attempts) == (False, 2)
    assert "ConnectionRefusedError" in (record.error or "")
    assert TOKEN not in record.model_dump_json()


def test_garbage_url_never_raises() -> None:
    record = send("webhook", "not a url at all", _msg(), timeout=0.5)
    assert not record.ok and record.error


def test_webhook_carries_text_and_structure(robot: tuple[Robot, str]) -> None:
    app, url = robot
    record = send("webhook", f"{url}/hook", _msg())
    assert (record.ok, record.attempts) == (True, 1)
    (body,) = app.bodies
    assert "Failover partial" in body["text"]
    assert body["failover"]["counts"] == {"failedOver": 3, "failed": 1}
    assert body["failover"]["failures"] == [{"id": "pair-x", "reason": "Boom"}]


def test_client_side_rate_limit_of_20_a_minute(robot: tuple[Robot, str]) -> None:
    app, url = robot
    clock = [1000.0]
    limiter = RateLimiter(clock=lambda: clock[0])
    records = [
        send("dingtalk", f"{url}/robot/send?access_token={TOKEN}", _msg(), secret=SECRET, limiter=limiter)
        for _ in range(21)
    ]
    assert [r.ok for r in records].count(True) == 20
    assert records[-1].attempts == 0 and "rate limit" in (records[-1].error or "")
    assert app.hits == 20
    clock[0] += 60.0
    assert send("dingtalk", f"{url}/robot/send?access_token={TOKEN}", _msg(), secret=SECRET, limiter=limiter).ok


def test_messages_never_carry_a_secret() -> None:
    from replica_failover import redact

    redact.register("approval-secret-value-0001")
    msg = messages.failure(
        incident_key="thr-1", kind="failed", cause="api", reason="boom approval-secret-value-0001 SecurityToken=abc"
    )
    dumped = msg.model_dump_json()
    assert "approval-secret-value-0001" not in dumped and "SecurityToken=abc" not in dumped
    assert msg.data["cause"] == "api"


def test_hold_message_for_approval_names_the_digest_and_command() -> None:
    msg = messages.hold(
        incident_key="thr-1",
        primary_region="cn-hangzhou",
        policy="alarm and probe",
        reason="approval required",
        terms={"alarm": "true", "probe": "unavailable"},
        approval_digest="d" * 64,
        targets=["pair:pair-a:tok"],
    )
    assert (
        "replica-failover approve --incident-key thr-1 --digest " + "d" * 64 + " --primary-region cn-hangzhou"
        " --approver <you> --targets pair:pair-a:tok`"
    ) in msg.text
    assert "`probe`=unavailable" in msg.text
    assert msg.data["evidence"] == {"alarm": "true", "probe": "unavailable"}
    act = messages.act(
        incident_key="thr-1", primary_region="cn-hangzhou", dr_region="cn-shanghai", targets=4, terms={}, approver="bob"
    )
    assert "4 target(s), approved by bob" in act.text


def test_result_names_at_most_twenty_failures() -> None:
    failures = [(f"pair-{i}", "x") for i in range(25)]
    msg = messages.result(incident_key="k", status="failed", counts={"failed": 25}, failures=failures)
    assert len(msg.data["failures"]) == 20 and msg.data["failuresNotNamed"] == 5
    assert "and 5 more" in msg.text


def test_notify_all_sends_to_each_configured_channel(robot: tuple[Robot, str]) -> None:
    from replica_failover.notify.send import notify_all

    app, url = robot
    records = notify_all(
        _msg(), dingtalk_url=f"{url}/robot/send?access_token={TOKEN}", dingtalk_secret=SECRET, webhook_url=f"{url}/hook"
    )
    assert [(r.channel, r.ok) for r in records] == [("dingtalk", True), ("webhook", True)]
    assert len(app.bodies) == 2
    assert notify_all(_msg(), dingtalk_url=None, dingtalk_secret=None, webhook_url=None) == []
