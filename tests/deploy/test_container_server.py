"""container_server: FC custom-container protocol, served in-process on 127.0.0.1:0 (plus one real subprocess)."""

from __future__ import annotations

import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import container_server as cs
import pytest

from tests.deploy import FUNCTION_DIR, REPO_ROOT, sample_handler

MOD = "tests.deploy.sample_handler"
SECRET = "SK-very-secret-value-4f1c"
TOKEN = "STS-token-value-9a2b"
QUERY_SECRET = "qs-shared-secret-77d1"
BODY_SECRET = "body-shared-secret-31e9"

FC_HEADERS: dict[str, str] = {
    "x-fc-request-id": "req-0001",
    "x-fc-access-key-id": "STS.AKID",
    "x-fc-access-key-secret": SECRET,
    "x-fc-security-token": TOKEN,
    "x-fc-function-name": "failover",
    "x-fc-function-handler": "index.handler",
    "x-fc-function-memory": "512",
    "x-fc-function-timeout": "120",
    "x-fc-service-name": "replica-failover",
    "x-fc-service-logproject": "replica-failover-dr-logs",
    "x-fc-service-logstore": "replica-failover",
    "x-fc-qualifier": "LATEST",
    "x-fc-version-id": "3",
    "x-fc-region": "cn-shanghai",
    "x-fc-account-id": "1234567890123456",
}


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Running:
    server: cs.ContainerServer
    app: cs.ContainerApp
    stream: io.StringIO

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def call(self, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=dict(headers or {}))
            resp = conn.getresponse()
            return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()

    def raw(self, data: bytes) -> bytes:
        """Send raw bytes, return everything the server answers until it closes (or 5 s pass)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(data)
            chunks: list[bytes] = []
            try:
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
            except TimeoutError:
                pass
            return b"".join(chunks)

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]


Serve = Callable[..., Running]


@pytest.fixture
def serve() -> Iterator[Serve]:
    started: list[tuple[cs.ContainerServer, threading.Thread]] = []
    sample_handler.reset()

    def start(*, max_body_bytes: int = cs.MAX_BODY_BYTES, **app_kwargs: Any) -> Running:
        stream = io.StringIO()
        app = cs.ContainerApp(log=cs.JsonLog(stream), **app_kwargs)
        server = cs.make_server(app, "127.0.0.1", 0, max_body_bytes=max_body_bytes)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        started.append((server, thread))
        return Running(server, app, stream)

    yield start
    for server, thread in started:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    sample_handler.reset()


def assert_logs_clean(run: Running) -> list[dict[str, Any]]:
    """Every log line is one JSON object and no secret made it into any of them."""
    text = run.stream.getvalue()
    lines = run.log_lines()
    assert lines, "the server logged nothing"
    assert len(lines) == len(text.splitlines())
    for secret in (SECRET, TOKEN, QUERY_SECRET, BODY_SECRET):
        assert secret not in text
    return lines


# --------------------------------------------------------------------------------------------------
# event invocation


def test_invoke_success_passes_bytes_and_context(serve: Serve) -> None:
    run = serve(handler=f"{MOD}.handler")
    event = json.dumps({"hello": "wörld", "secret": BODY_SECRET}).encode()
    reply = run.call("POST", "/invoke", event, {**FC_HEADERS, "Content-Type": "application/octet-stream"})
    assert reply.status == 200
    assert reply.headers["x-fc-status"] == "200"
    assert reply.headers["content-type"] == "application/json"
    out = reply.json()
    assert out["eventType"] == "bytes"
    assert json.loads(out["event"]) == {"hello": "wörld", "secret": BODY_SECRET}
    ctx = out["context"]
    assert ctx["requestId"] == "req-0001"
    assert (ctx["accessKeyId"], ctx["accessKeySecret"], ctx["securityToken"]) == ("STS.AKID", SECRET, TOKEN)
    assert ctx["function"] == {"name": "failover", "handler": "index.handler", "memory": 512, "timeout": 120}
    assert ctx["service"] == {"name": "replica-failover", "logProject": "replica-failover-dr-logs",
                              "logStore": "replica-failover", "qualifier": "LATEST", "versionId": "3"}  # fmt: skip
    assert (ctx["region"], ctx["accountId"]) == ("cn-shanghai", "1234567890123456")
    lines = assert_logs_clean(run)
    request = [line for line in lines if line["message"] == "request"]
    assert request[-1]["requestId"] == "req-0001"
    assert request[-1]["route"] == "invoke"
    assert request[-1]["status"] == 200


def test_invoke_failure_is_404_with_fc_error_body(serve: Serve) -> None:
    run = serve(handler=f"{MOD}.fail")
    reply = run.call("POST", "/invoke", b"{}", FC_HEADERS)
    assert reply.status == 404
    assert reply.headers["x-fc-status"] == "404"
    err = reply.json()
    assert err["errorType"] == "ValueError"
    assert err["errorMessage"] == "boom for req-0001"
    assert any(frame[2] == "in fail" for frame in err["stackTrace"])
    lines = assert_logs_clean(run)
    assert lines[-1]["status"] == 404
    assert lines[-1]["errorType"] == "ValueError"


@pytest.mark.parametrize(
    ("name", "status", "body", "content_type"),
    [
        ("text", 200, "héllo".encode(), "text/plain; charset=utf-8"),
        ("raw", 200, b"\x00\xffraw", "application/octet-stream"),
        ("nothing", 200, b"", "application/octet-stream"),
    ],
)
def test_return_value_encoding(serve: Serve, name: str, status: int, body: bytes, content_type: str) -> None:
    run = serve(handler=f"{MOD}.{name}")
    reply = run.call("POST", "/invoke", b"x", FC_HEADERS)
    assert (reply.status, reply.body, reply.headers["content-type"]) == (status, body, content_type)


def test_unserialisable_return_value_is_a_failure(serve: Serve) -> None:
    run = serve(handler=f"{MOD}.not_json")
    reply = run.call("POST", "/invoke", b"x", FC_HEADERS)
    assert reply.status == 404
    assert reply.json()["errorType"] == "TypeError"


def test_missing_handler_module_is_reported_per_invocation(serve: Serve) -> None:
    run = serve(handler="tests.deploy.no_such_module.handler")
    run.app.warm_up()  # logs, does not raise
    reply = run.call("POST", "/invoke", b"{}", FC_HEADERS)
    assert reply.status == 404
    assert reply.json()["errorType"] == "ModuleNotFoundError"
    assert any(line["message"] == "handler import failed" for line in assert_logs_clean(run))


def test_context_defaults_and_repr_hide_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FC_TIMEOUT", raising=False)
    monkeypatch.setenv("FC_MEMORY_SIZE", "256")
    ctx = cs.build_context({"x-fc-access-key-secret": SECRET, "x-fc-security-token": TOKEN,
                            "x-fc-function-timeout": "nonsense"})  # fmt: skip
    assert ctx.function.timeout == cs.DEFAULT_TIMEOUT_SECONDS
    assert ctx.function.memory == 256
    assert ctx.request_id  # generated
    assert SECRET not in repr(ctx)
    assert TOKEN not in repr(ctx)
    assert ctx.tracing.parseOpenTracingBaggages() == {}


# --------------------------------------------------------------------------------------------------
# initializer


def test_initialize_runs_once(serve: Serve) -> None:
    run = serve(handler=f"{MOD}.handler", initializer=f"{MOD}.initialize")
    replies = [run.call("POST", "/initialize", b"", {**FC_HEADERS, "x-fc-request-id": f"init-{i}"})
               for i in range(3)]  # fmt: skip
    assert [r.status for r in replies] == [200, 200, 200]
    assert [r.headers["x-fc-status"] for r in replies] == ["200", "200", "200"]
    assert sample_handler.INIT_CALLS == ["init-0"]
    reply = run.call("POST", "/invoke", b"{}", FC_HEADERS)
    assert reply.json()["initCalls"] == 1
    assert sample_handler.INIT_CALLS == ["init-0"]


def test_initialize_once_under_concurrency(serve: Serve) -> None:
    run = serve(handler=f"{MOD}.handler", initializer=f"{MOD}.initialize")
    statuses: list[int] = []
    lock = threading.Lock()

    def hit(path: str) -> None:
        status = run.call("POST", path, b"{}", FC_HEADERS).status
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=hit, args=("/initialize" if i % 2 else "/invoke",)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert statuses == [200] * 10
    assert len(sample_handler.INIT_CALLS) == 1


def test_invoke_runs_initializer_first_when_initialize_was_never_called(serve: Serve) -> None:
    run = serve(handler=f"{MOD}.handler", initializer=f"{MOD}.initialize")
    assert run.call("POST", "/invoke", b"{}", FC_HEADERS).json()["initCalls"] == 1


def test_failed_initializer_is_retried(serve: Serve) -> None:
    run = serve(handler=f"{MOD}.handler", initializer=f"{MOD}.initialize")
    sample_handler.FAIL_INIT.set()
    first = run.call("POST", "/initialize", b"", FC_HEADERS)
    assert (first.status, first.headers["x-fc-status"]) == (404, "404")
    assert first.json()["errorType"] == "RuntimeError"
    assert run.call("POST", "/invoke", b"{}", FC_HEADERS).status == 404  # still not initialised
    sample_handler.FAIL_INIT.clear()
    assert run.call("POST", "/initialize", b"", FC_HEADERS).status == 200
    assert run.app.initialized
    assert len(sample_handler.INIT_CALLS) == 1


def test_initialize_without_initializer_is_a_no_op(serve: Serve) -> None:
    run = serve(handler=f"{MOD}.handler")
    reply = run.call("POST", "/initialize", b"", FC_HEADERS)
    assert (reply.status, reply.body) == (200, b"")


# --------------------------------------------------------------------------------------------------
# HTTP trigger (WSGI)


def test_http_trigger_goes_through_wsgi(serve: Serve) -> None:
    run = serve(handler=f"{MOD}.handler", http_handler=f"{MOD}.wsgi_app")
    headers = {**FC_HEADERS, "x-fc-control-path": "/http-invoke", "Content-Type": "application/x-www-form-urlencoded",
               "x-fc-base-path": "/2016-08-15/proxy/replica-failover/webhook/", "Host": "example.test",
               "X-Custom": "1"}  # fmt: skip
    body = f"alertState=ALERT&secret={BODY_SECRET}".encode()
    target = f"/2016-08-15/proxy/replica-failover/webhook/alarm%20hook?token={QUERY_SECRET}"
    reply = run.call("POST", target, body, headers)
    assert reply.status == 201
    assert reply.headers["x-sample"] == "yes"
    assert reply.headers.get("connection") != "keep-alive"  # hop-by-hop headers of the app are dropped
    env = reply.json()
    assert env["REQUEST_METHOD"] == "POST"
    assert env["SCRIPT_NAME"] == "/2016-08-15/proxy/replica-failover/webhook"
    assert env["PATH_INFO"] == "/alarm hook"
    assert env["QUERY_STRING"] == f"token={QUERY_SECRET}"
    assert env["CONTENT_TYPE"] == "application/x-www-form-urlencoded"
    assert env["CONTENT_LENGTH"] == str(len(body))
    assert env["body"] == body.decode()
    assert env["fc.request_uri"] == f"http://example.test{target}"
    assert env["fcRequestId"] == "req-0001"
    assert env["fcRegion"] == "cn-shanghai"
    assert env["wsgiVersion"] == [1, 0]
    assert "HTTP_X_CUSTOM" in env["httpHeaders"]
    assert "HTTP_X_FC_REQUEST_ID" in env["httpHeaders"]
    assert "HTTP_X_FC_ACCESS_KEY_SECRET" not in env["httpHeaders"]
    assert "HTTP_X_FC_SECURITY_TOKEN" not in env["httpHeaders"]
    lines = assert_logs_clean(run)
    assert lines[-1]["route"] == "http"
    assert lines[-1]["path"] == target.split("?", maxsplit=1)[0]


def test_routing_by_path_and_control_header(serve: Serve) -> None:
    run = serve(handler=f"{MOD}.handler", http_handler=f"{MOD}.wsgi_app")
    # no control header: POST /invoke is the event handler, anything else the WSGI app
    assert run.call("POST", "/invoke", b"{}", FC_HEADERS).json()["eventType"] == "bytes"
    assert run.call("GET", "/anything", b"", FC_HEADERS).status == 201
    # control header wins: an HTTP-trigger request whose path happens to be /invoke stays HTTP
    reply = run.call("POST", "/invoke", b"{}", {**FC_HEADERS, "x-fc-control-path": "/http-invoke"})
    assert (reply.status, reply.json()["PATH_INFO"]) == (201, "/invoke")
    # ... and an event invocation is recognised whatever the path
    assert run.call("POST", "/x", b"{}", {**FC_HEADERS, "x-fc-control-path": "/invoke"}).status == 200
    assert run.call("POST", "/", b"", {**FC_HEADERS, "x-fc-control-path": "/pre-stop"}).status == 200


def test_http_only_server_sends_invoke_path_to_wsgi(serve: Serve) -> None:
    run = serve(http_handler=f"{MOD}.wsgi_app")
    assert run.call("POST", "/invoke", b"{}", FC_HEADERS).status == 201
    reply = run.call("POST", "/x", b"{}", {**FC_HEADERS, "x-fc-control-path": "/invoke"})
    assert (reply.status, reply.json()["errorType"]) == (404, "HandlerNotConfigured")


def test_http_handler_crash_hides_details_from_caller(serve: Serve) -> None:
    run = serve(http_handler=f"{MOD}.wsgi_crash")
    reply = run.call("POST", f"/hook?token={QUERY_SECRET}", b"{}", FC_HEADERS)
    assert reply.status == 500
    assert reply.headers["x-fc-status"] == "404"
    assert b"secret-internal-detail" not in reply.body
    assert reply.json() == {"errorMessage": "internal error", "requestId": "req-0001"}
    lines = assert_logs_clean(run)
    failure = next(line for line in lines if line["message"] == "http handler failed")
    assert failure["errorType"] == "KeyError"


def test_unknown_route_without_http_handler(serve: Serve) -> None:
    run = serve(handler=f"{MOD}.handler")
    reply = run.call("GET", "/nope", b"", FC_HEADERS)
    assert (reply.status, reply.headers["x-fc-status"]) == (404, "404")
    assert reply.json()["errorType"] == "RouteNotFound"


# --------------------------------------------------------------------------------------------------
# hostile / broken requests


def test_oversize_body_is_rejected_without_reading_it(serve: Serve) -> None:
    run = serve(handler=f"{MOD}.handler")
    # Only the headers are sent: the server must answer from Content-Length alone and close.
    answer = run.raw(f"POST /invoke HTTP/1.1\r\nHost: x\r\nContent-Length: {cs.MAX_BODY_BYTES + 1}\r\n\r\n".encode())
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert b"Connection: close" in head
    assert json.loads(body)["errorType"] == "BadRequest"
    assert run.call("POST", "/invoke", b"{}", FC_HEADERS).status == 200  # still serving


def test_body_at_the_limit_is_accepted_and_one_byte_more_is_not(serve: Serve) -> None:
    run = serve(handler=f"{MOD}.handler", max_body_bytes=1024)
    assert run.call("POST", "/invoke", b"a" * 1024, FC_HEADERS).status == 200
    assert run.call("POST", "/invoke", b"a" * 1025, FC_HEADERS).status == 413


def test_chunked_bodies(serve: Serve) -> None:
    run = serve(handler=f"{MOD}.handler", max_body_bytes=1024)
    ok = run.raw(b"POST /invoke HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n")  # fmt: skip
    head, _, body = ok.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert json.loads(body)["event"] == "hello world"
    too_big = run.raw(b"POST /invoke HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"800\r\n" + b"a" * 0x800 + b"\r\n0\r\n\r\n")  # fmt: skip
    assert too_big.startswith(b"HTTP/1.1 413")


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /invoke HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST /invoke HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"POST /invoke HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"POST /invoke HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc",
        b"POST /invoke HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_malformed_requests_get_400_and_the_server_survives(serve: Serve, request_bytes: bytes) -> None:
    run = serve(handler=f"{MOD}.handler")
    assert run.raw(request_bytes).startswith(b"HTTP/1.1 400")
    assert run.call("POST", "/invoke", b"{}", FC_HEADERS).status == 200
    assert_logs_clean(run)


def test_garbage_and_truncated_requests_do_not_kill_the_server(serve: Serve) -> None:
    run = serve(handler=f"{MOD}.handler")
    # http.server treats a request line without a version as HTTP/0.9: body only, no status line
    garbage = run.raw(f"\x00\x01 garbage ?token={QUERY_SECRET}\r\n\r\n".encode())
    assert json.loads(garbage)["status"] == 400
    assert QUERY_SECRET.encode() not in garbage
    assert run.raw(b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n").startswith(b"HTTP/1.1 431")
    # body shorter than announced, then the client hangs up
    with socket.create_connection(("127.0.0.1", run.port), timeout=5) as sock:
        sock.sendall(b"POST /invoke HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nshort")
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(65536).startswith(b"HTTP/1.1 400")
    assert run.call("POST", "/invoke", b"{}", FC_HEADERS).status == 200
    assert_logs_clean(run)


def test_keep_alive_connection_serves_several_requests(serve: Serve) -> None:
    run = serve(handler=f"{MOD}.handler")
    conn = http.client.HTTPConnection("127.0.0.1", run.port, timeout=5)
    try:
        for i in range(3):
            conn.request("POST", "/invoke", body=b"{}", headers={**FC_HEADERS, "x-fc-request-id": f"k{i}"})
            resp = conn.getresponse()
            assert resp.status == 200
            assert json.loads(resp.read())["context"]["requestId"] == f"k{i}"
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------------
# command line


def test_parse_args(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FC_SERVER_PORT", "9123")
    args = cs.parse_args(["--handler", "index.handler", "--initializer", "index.initialize"])
    assert (args.port, args.handler, args.initializer) == (9123, "index.handler", "index.initialize")
    assert args.host == "0.0.0.0"  # noqa: S104 - FC reaches the container on its network interface
    monkeypatch.delenv("FC_SERVER_PORT")
    assert cs.parse_args(["--http-handler", "webhook.handler"]).port == cs.DEFAULT_PORT
    for bad in ([], ["--handler", "index"], ["--handler", "index.handler", "--port", "70000"]):
        with pytest.raises(SystemExit):
            cs.parse_args(bad)


def test_python_dash_m_serves_and_stops_on_sigterm() -> None:
    """The image's real entry point: `python -m container_server` from the code dir, port from the env."""
    env = {**os.environ, "FC_SERVER_PORT": "0", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(  # noqa: S603 - fixed argv: this interpreter and the module under test
        [sys.executable, "-m", "container_server", "--handler", f"{MOD}.handler", "--host", "127.0.0.1",
         "--code-dir", str(REPO_ROOT)],
        cwd=FUNCTION_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        started = json.loads(proc.stdout.readline())
        assert started["message"] == "server started"
        port = int(started["port"])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/invoke", body=b'{"a":1}', headers=FC_HEADERS)
        resp = conn.getresponse()
        assert resp.status == 200
        assert json.loads(resp.read())["event"] == '{"a":1}'
        conn.close()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        for line in out.splitlines():
            json.loads(line)
        assert SECRET not in out
        assert TOKEN not in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
