"""Control-plane hardening over real HTTP: loopback Host names only, JSON writes only, index, health."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from chaos.emulator.app import Emulator
from chaos.emulator.control import ENDPOINTS
from chaos.emulator.control_guard import is_loopback_host
from tests.conftest import seed_basic


def call(endpoint: str, method: str, path: str, **kw: Any) -> requests.Response:
    return requests.request(method, f"http://{endpoint}/_emulator/{path}", timeout=5, **kw)


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.0.0.1:8765", "127.9.8.7:1", "localhost", "LOCALHOST:65535", "localhost.", "[::1]", "[::1]:80",
     "::1"],
)  # fmt: skip
def test_loopback_host_names(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize(
    "host",
    ["", "evil.example", "127.0.0.1.evil.example", "localhost.evil.example", "evil-localhost", "10.0.0.1",
     "0.0.0.0", "[::2]", "[::1", "[::1]x", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:99999", "128.0.0.1"],  # noqa: S104
)  # fmt: skip
def test_other_host_names(host: str) -> None:
    assert not is_loopback_host(host)


def test_a_foreign_host_is_refused_reads_and_writes(endpoint: str, emulator: Emulator) -> None:
    seed_basic(emulator)
    headers = {"Host": "attacker.example:8765"}  # what a DNS-rebinding page sends
    r = call(endpoint, "GET", "ledger", headers=headers)
    assert r.status_code == 403 and "loopback" in r.json()["error"]
    r = call(endpoint, "POST", "reset", json={}, headers=headers)
    assert r.status_code == 403
    assert len(emulator.ebs.pairs()) == 6  # nothing was reset
    assert call(endpoint, "GET", "health", headers={"Host": "localhost"}).status_code == 200


@pytest.mark.parametrize(
    ("kw", "status"),
    [
        ({"data": "{}", "headers": {"Content-Type": "text/plain"}}, 415),  # a cross-origin "simple" POST
        ({"data": {"config": "true"}}, 415),  # form-encoded, what curl -d sends
        ({"data": "{}"}, 415),  # no content type at all
        ({}, 415),  # bodiless POST: still a simple request
        ({"data": "{}", "headers": {"Content-Type": "application/json; charset=utf-8"}}, 200),
        ({"json": {}}, 200),
    ],
)
def test_writes_take_json_only(endpoint: str, emulator: Emulator, kw: dict[str, Any], status: int) -> None:
    seed_basic(emulator)
    r = call(endpoint, "POST", "reset", **kw)
    assert r.status_code == status, r.text
    assert len(emulator.ebs.pairs()) == (0 if status == 200 else 6)
    if status == 415:
        assert r.json()["error"] == "control-plane writes take Content-Type: application/json"


def test_patch_needs_json_and_bodiless_delete_does_not(endpoint: str, emulator: Emulator) -> None:
    seed_basic(emulator)
    r = call(endpoint, "PATCH", "pairs/pair-0", data='{"Status": "invalid"}', headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and emulator.ebs.record("pair", "pair-0")["Status"] == "normal"  # type: ignore[index]
    assert call(endpoint, "DELETE", "ledger").json() == {"cleared": True}  # DELETE is always preflighted
    r = call(endpoint, "DELETE", "faults", data="x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415


@pytest.mark.parametrize("path", ["", "/"])
def test_the_index_lists_every_endpoint(endpoint: str, path: str) -> None:
    r = requests.get(f"http://{endpoint}/_emulator{path}", timeout=5)
    assert r.status_code == 200
    listed = {e["path"]: e["methods"] for e in r.json()["endpoints"]}
    assert listed == {f"/_emulator{p}": list(m) for p, _, m, _ in ENDPOINTS}
    assert r.json()["services"] == ["fc", "notify", "ecs", "alidns", "cms", "ebs"]
    for p, methods in listed.items():  # every readable endpoint without a parameter answers
        if "GET" in methods and "<" not in p:
            assert requests.get(f"http://{endpoint}{p}", timeout=5).status_code == 200, p


def test_health_is_a_readiness_probe(endpoint: str) -> None:
    body = call(endpoint, "GET", "health").json()
    assert body["ok"] is True and body["services"] == ["fc", "notify", "ecs", "alidns", "cms", "ebs"]
    assert body["requests"] == 0


def test_wrong_method_and_unknown_path(endpoint: str) -> None:
    assert call(endpoint, "POST", "health", json={}).status_code == 405
    assert call(endpoint, "GET", "nothing").status_code == 404
