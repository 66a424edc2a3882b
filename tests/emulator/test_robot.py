"""The DingTalk-compatible robot and the JSON webhook receiver, over HTTP on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.parse
from typing import Any

import pytest
import requests

from chaos.emulator.app import Emulator
from chaos.emulator.faults import FaultError, FaultRule
from chaos.emulator.notify import robot_signature, signed_query

TOKEN, SECRET = "tok0123456789abcdef", "SEC0123456789abcdef0123456789abcdef"
TEXT = {"msgtype": "text", "text": {"content": "failover: pair-0 cn-hangzhou -> cn-shanghai"}}


@pytest.fixture
def base(endpoint: str) -> str:
    return f"http://{endpoint}"


@pytest.fixture
def robot(base: str) -> str:
    r = requests.post(
        f"{base}/_emulator/robots", json={"robots": [{"token": TOKEN, "secret": SECRET, "name": "oncall"}]}, timeout=5
    )
    assert r.status_code == 200 and r.json()["configured"] == ["oncall"]
    return base


def send(base: str, body: Any, *, token: str = TOKEN, secret: str = SECRET, skew_s: float = 0) -> Any:
    """Sign with the real clock moved by ``skew_s`` (the robot checks real time, like DingTalk)."""
    ts = int((time.time() + skew_s) * 1000)
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    r = requests.post(
        f"{base}/robot/send?{signed_query(token, secret, ts)}",
        data=data,
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert r.status_code == 200
    return r.json()


def notifications(base: str, since: int = 0) -> list[dict[str, Any]]:
    r = requests.get(f"{base}/_emulator/notifications", params={"since": since}, timeout=5)
    assert r.status_code == 200
    return list(r.json()["notifications"])


def test_signature_matches_the_documented_recipe() -> None:
    # DingTalk's published Python sample, verbatim in substance
    timestamp, secret = "1700000000000", "SECabc"
    string_to_sign = f"{timestamp}\n{secret}"
    hmac_code = hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"), digestmod=hashlib.sha256).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(hmac_code))
    assert urllib.parse.quote_plus(robot_signature(secret, timestamp)) == sign
    assert signed_query("t", secret, int(timestamp)) == f"access_token=t&timestamp={timestamp}&sign={sign}"
    assert robot_signature(secret, timestamp) != robot_signature(secret, "1700000000001")


def test_good_signature_is_accepted_and_recorded(robot: str) -> None:
    assert send(robot, TEXT) == {"errcode": 0, "errmsg": "ok"}
    [record] = notifications(robot)
    assert record["kind"] == "robot" and record["target"] == "oncall"
    assert record["accepted"] is True and record["verification"] == "ok" and record["errcode"] == 0
    assert record["body"] == TEXT and record["seq"] == 1
    listing = requests.get(f"{robot}/_emulator/robots", timeout=5).text
    everything = listing + json.dumps(notifications(robot))
    assert TOKEN not in everything and SECRET not in everything
    assert json.loads(listing) == {"robots": [{"name": "oncall", "signed": True, "keywords": []}]}


@pytest.mark.parametrize(
    ("kwargs", "errcode", "errmsg", "verification"),
    [
        ({"secret": "SECwrong"}, 310000, "sign not match", "bad-sign"),
        ({"skew_s": -3601}, 310000, "invalid timestamp", "invalid-timestamp"),
        ({"skew_s": 3660}, 310000, "invalid timestamp", "invalid-timestamp"),
        ({"token": "nosuchtoken"}, 300001, "token is not exist", "unknown-token"),
    ],
)
def test_bad_or_stale_signatures_are_rejected(
    robot: str, kwargs: dict[str, Any], errcode: int, errmsg: str, verification: str
) -> None:
    answer = send(robot, TEXT, **kwargs)
    assert answer["errcode"] == errcode and answer["errmsg"].startswith(errmsg)
    [record] = notifications(robot)
    assert record["accepted"] is False and record["verification"] == verification and record["errcode"] == errcode


def test_unsigned_request_to_a_signed_robot_is_rejected(robot: str) -> None:
    r = requests.post(f"{robot}/robot/send?access_token={TOKEN}", json=TEXT, timeout=5)
    assert r.json()["errcode"] == 310000


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"",
        {"msgtype": "text"},
        {"msgtype": "text", "text": {"content": ""}},
        {"msgtype": "voice", "voice": {}},
        {"msgtype": "markdown", "markdown": {"title": "t"}},
        [1, 2],
    ],
)
def test_bad_payload_is_rejected(robot: str, body: Any) -> None:
    assert send(robot, body)["errcode"] == 40035
    assert notifications(robot)[0]["verification"] == "bad-payload"


def test_keywords_are_enforced(base: str) -> None:
    requests.post(
        f"{base}/_emulator/robots", json={"robots": [{"token": "kw", "keywords": ["failover"]}]}, timeout=5
    ).raise_for_status()
    r = requests.post(f"{base}/robot/send?access_token=kw", json=TEXT, timeout=5)
    assert r.json() == {"errcode": 0, "errmsg": "ok"}
    other = {"msgtype": "markdown", "markdown": {"title": "hello", "text": "nothing here"}}
    r = requests.post(f"{base}/robot/send?access_token=kw", json=other, timeout=5)
    assert r.json()["errcode"] == 310000 and r.json()["errmsg"].startswith("keywords not in content")
    assert [n["verification"] for n in notifications(base)] == ["unsigned", "no-keyword"]


def test_the_21st_message_within_a_minute_is_refused_then_blocked(robot: str, emulator: Emulator) -> None:
    emulator.clock.freeze(True)
    answers = [send(robot, TEXT)["errcode"] for _ in range(21)]
    assert answers == [0] * 20 + [130101]
    emulator.advance(61)  # the minute has passed, but the robot blocks for ten
    assert send(robot, TEXT)["errcode"] == 130101
    emulator.advance(600)
    assert send(robot, TEXT)["errcode"] == 0
    records = notifications(robot)
    assert [r["seq"] for r in records] == list(range(1, 24))
    assert sum(r["accepted"] for r in records) == 21
    assert [r["verification"] for r in records if not r["accepted"]] == ["rate-limited"] * 2
    assert notifications(robot, since=22)[0]["seq"] == 23


def test_messages_spread_over_minutes_are_not_limited(robot: str, emulator: Emulator) -> None:
    emulator.clock.freeze(True)
    for _ in range(3):
        assert [send(robot, TEXT)["errcode"] for _ in range(15)] == [0] * 15
        emulator.advance(60)


def test_webhook_records_json_in_order_with_the_robot(robot: str) -> None:
    slack = {"text": "failover started"}
    lark = {"msg_type": "text", "content": {"text": "failover started"}}
    assert requests.post(f"{robot}/hooks/slack", json=slack, timeout=5).json()["ok"] is True
    assert send(robot, TEXT)["errcode"] == 0
    assert requests.post(f"{robot}/hooks/lark", json=lark, timeout=5).json()["code"] == 0
    bad = requests.post(f"{robot}/hooks/lark", data=b"{oops", timeout=5)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_payload"
    assert requests.get(f"{robot}/hooks/lark", timeout=5).status_code == 405
    records = notifications(robot)
    assert [(r["kind"], r["target"], r["accepted"]) for r in records] == [
        ("webhook", "slack", True),
        ("robot", "oncall", True),
        ("webhook", "lark", True),
        ("webhook", "lark", False),
        ("webhook", "lark", False),
    ]
    assert records[0]["body"] == slack and records[2]["body"] == lark and records[3]["body"] is None
    cleared = requests.delete(f"{robot}/_emulator/notifications", timeout=5)
    assert cleared.json() == {"cleared": True} and notifications(robot) == []


def test_fault_rules_reach_the_notification_endpoints_only_by_name(robot: str, emulator: Emulator) -> None:
    now = emulator.clock.now()
    # an "everything fails" rule hits the cloud APIs, not the notification endpoints
    emulator.faults.set([FaultRule(error=FaultError(status=503))], now, 0)
    assert send(robot, TEXT)["errcode"] == 0
    assert requests.post(f"{robot}/hooks/x", json={}, timeout=5).status_code == 200

    emulator.faults.set(
        [
            FaultRule(service="robot", count=1, error=FaultError(status=500, code="InternalError")),
            FaultRule(service="webhook", target="down", reset=True),
            FaultRule(service="webhook", target="late", phase="after", error=FaultError(status=502, code="BadGateway")),
        ],
        now,
        0,
    )
    r = requests.post(
        f"{robot}/robot/send?{signed_query(TOKEN, SECRET, int(time.time() * 1000))}", json=TEXT, timeout=5
    )
    assert r.status_code == 500 and r.json()["errcode"] == -1
    assert send(robot, TEXT)["errcode"] == 0  # count spent
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{robot}/hooks/down", json={"text": "x"}, timeout=5)
    assert requests.post(f"{robot}/hooks/up", json={"text": "x"}, timeout=5).status_code == 200
    late = requests.post(f"{robot}/hooks/late", json={"text": "x"}, timeout=5)
    assert late.status_code == 502
    records = notifications(robot)[2:]
    assert [(r["target"], r["accepted"], r["verification"], r.get("fault")) for r in records] == [
        ("oncall", False, "fault", "rule-1"),
        ("oncall", True, "ok", None),
        ("down", False, "fault", "rule-2"),
        ("up", True, "ok", None),
        ("late", True, "ok", "rule-3"),  # received, then the answer was lost
    ]
