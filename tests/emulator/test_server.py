"""``chaos.emulator.server.start``: the keep-alive handler the CLI and the benchmark serve with.

(The other tests serve through pytest-localserver, i.e. werkzeug's own handler.)
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from aliyunsdkcore.client import AcsClient

from benchmarks.emulator_bench import signed_query
from chaos.emulator.app import Emulator
from chaos.emulator.config import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET
from chaos.emulator.faults import FaultRule
from chaos.emulator.server import RunningEmulator, running
from tests.conftest import DR, legacy_call, seed_basic


@pytest.fixture
def served(emulator: Emulator) -> Iterator[RunningEmulator]:
    with running(emulator, "127.0.0.1", 0) as handle:
        yield handle


def connect(handle: RunningEmulator) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(handle.host, handle.port, timeout=10)


def signed(action: str, **params: str) -> str:
    return signed_query({"Action": action, "RegionId": DR, **params}, DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET)


def test_keep_alive_serves_many_requests_on_one_connection(emulator: Emulator, served: RunningEmulator) -> None:
    seed_basic(emulator)
    conn = connect(served)
    for _ in range(3):
        conn.request("POST", "/?" + signed("DescribeDiskReplicaPairs"), headers={"Content-Length": "0"})
        resp = conn.getresponse()
        body = json.loads(resp.read())
        assert resp.status == 200 and body["TotalCount"] == 6
        assert resp.getheader("Connection") is None
        assert resp.getheader("Content-Type") == "application/json;charset=utf-8"
        assert int(resp.getheader("Content-Length", "0")) > 0 and resp.getheader("Date")
    conn.request("GET", "/_emulator/health")
    assert json.loads(conn.getresponse().read())["requests"] == 3
    conn.close()


def test_form_body_is_consumed_before_the_next_request(emulator: Emulator, served: RunningEmulator) -> None:
    seed_basic(emulator)
    conn = connect(served)
    query = signed("FailoverDiskReplicaPair", ReplicaPairId="pair-0", ClientToken="form-1")
    conn.request("POST", "/", body=query, headers={"Content-Type": "application/x-www-form-urlencoded"})
    first = conn.getresponse()
    assert first.status == 200, first.read()
    first.read()
    conn.request("GET", "/_emulator/pairs/pair-0")  # same connection: the body did not leak into it
    assert json.loads(conn.getresponse().read())["Status"] == "failovering"
    conn.close()


def test_connection_close_http10_chunked_and_folded_headers(served: RunningEmulator) -> None:
    conn = connect(served)
    conn.request("GET", "/_emulator/health", headers={"Connection": "close"})
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("Connection") == "close"
    resp.read()
    conn.close()

    def raw(request: bytes) -> bytes:
        with socket.create_connection((served.host, served.port), timeout=10) as sock:
            sock.sendall(request)
            chunks = []
            while data := sock.recv(65536):  # the server closes: bounded by its answer
                chunks.append(data)
            return b"".join(chunks)

    answer = raw(b"GET /_emulator/health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200") and b"Connection: close" in answer
    # chunked request bodies go through werkzeug's own path, which answers and closes
    body = json.dumps({"advance": 1}).encode()
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    answer = raw(b"POST /_emulator/clock HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                 b"Content-Type: application/json\r\n\r\n" + chunked)  # fmt: skip
    assert answer.startswith(b"HTTP/1.1 200") and b'"frozen"' in answer
    # an obsolete folded header line is left to the stdlib's parser, as before
    answer = raw(b"GET /_emulator/health HTTP/1.1\r\nHost: localhost\r\nX-Long: a\r\n b\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200")
    assert b"400 - Bad request syntax" in raw(b"BROKEN\r\n\r\n")  # the stdlib's answer, unchanged


def test_reset_fault_drops_the_connection_and_the_next_call_works(emulator: Emulator, served: RunningEmulator) -> None:
    seed_basic(emulator)
    emulator.faults.set([FaultRule(action="FailoverDiskReplicaPair", reset=True, phase="after", count=1)],
                        emulator.clock.now(), 0)  # fmt: skip
    conn = connect(served)
    conn.request("POST", "/?" + signed("FailoverDiskReplicaPair", ReplicaPairId="pair-0", ClientToken="r"),
                 headers={"Content-Length": "0"})  # fmt: skip
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
        conn.getresponse().read()
    conn.close()
    assert emulator.ledger.wait_for_requests(1, timeout=10)
    assert emulator.ledger.snapshot()["requests"][0]["code"] == "ConnectionReset"
    client = AcsClient(DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, DR, timeout=10, connect_timeout=5)
    retry = legacy_call(client, served.endpoint, "FailoverDiskReplicaPair", RegionId=DR, ReplicaPairId="pair-0",
                        ClientToken="r")  # fmt: skip
    assert retry["RequestId"] == emulator.ledger.snapshot()["effects"][0]["requestId"]  # a replay


def test_stop_closes_idle_keep_alive_connections(emulator: Emulator) -> None:
    with running(emulator, "127.0.0.1", 0) as handle:
        conn = connect(handle)
        conn.request("GET", "/_emulator/health?" + urlencode({"x": "1"}))
        assert conn.getresponse().read()
        sock = conn.sock
        assert sock is not None
    sock.settimeout(10)
    assert sock.recv(1) == b""  # the server ended the idle connection on stop
    conn.close()
