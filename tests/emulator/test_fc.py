"""FcEmulator end to end: the real ``aliyun-fc2`` client against a local WSGI server."""

from __future__ import annotations

import base64
import email.utils
import json
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import fc2
import pytest
import requests
from fc2.auth import Auth
from pytest_localserver.http import WSGIServer
from werkzeug.wrappers import Request, Response

from chaos.emulator.clock import Clock
from chaos.emulator.config import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    DEFAULT_ACCOUNT_ID,
    DEFAULT_STS_ACCESS_KEY_ID,
    DEFAULT_STS_ACCESS_KEY_SECRET,
    DEFAULT_STS_SECURITY_TOKEN,
    EmulatorConfig,
)
from chaos.emulator.fc import FcEmulator, FunctionSpec, sign, string_to_sign
from chaos.emulator.fc.envgate import EnvGate
from tests.emulator import fc_handlers

H = "tests.emulator.fc_handlers:"
SVC = "failover"
ASYNC = {"x-fc-invocation-type": "Async"}


@dataclass
class Harness:
    emu: FcEmulator
    clock: Clock
    config: EmulatorConfig
    url: str

    def client(
        self,
        key: str = DEFAULT_ACCESS_KEY_ID,
        secret: str = DEFAULT_ACCESS_KEY_SECRET,
        token: str | None = None,
    ) -> Any:
        kwargs: dict[str, Any] = {"endpoint": self.url, "accessKeyID": key, "accessKeySecret": secret}
        if token is not None:
            kwargs["securityToken"] = token
        return fc2.Client(Timeout=10, **kwargs)

    def register(self, name: str, handler: str, **kwargs: Any) -> FunctionSpec:
        spec = FunctionSpec(service=SVC, name=name, handler=H + handler, **kwargs)
        self.emu.register(spec)
        return spec

    def signed_post(
        self,
        path: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        *,
        sign_headers: bool = True,
    ) -> requests.Response:
        """A request signed like the SDK; ``sign_headers=False`` sends headers the signature did not see."""
        base = {"date": email.utils.formatdate(usegmt=True), "content-type": "application/json"}
        signed = {**base, **(headers or {})} if sign_headers else base
        authorization = Auth(DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET).sign_request(
            "POST", path, signed
        )
        sent = {**base, **(headers or {}), "authorization": authorization}
        return requests.post(self.url + path, data=body, headers=sent, timeout=10)


class Target:
    """The emulator the module's server currently routes to (one server, a fresh emulator per test)."""

    emu: FcEmulator | None = None


@Request.application
def app(request: Request) -> Response:
    emu = Target.emu
    if emu is not None and emu.handles(request.path):
        return emu.dispatch(request)
    return Response(json.dumps({"ErrorCode": "NotFound", "ErrorMessage": request.path}), 404)


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    server = WSGIServer(host="127.0.0.1", port=0, application=app, threaded=True)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def fc(server_url: str) -> Iterator[Harness]:
    fc_handlers.reset()
    config = EmulatorConfig()
    clock = Clock()
    emu = FcEmulator(lambda: config, clock)
    emu.retry_backoff_seconds = 0.01  # keep async retries quick
    Target.emu = emu
    try:
        yield Harness(emu, clock, config, server_url)
    finally:
        fc_handlers.release_all()
        Target.emu = None
        emu.shutdown()
        # abandoned (timed-out) handler threads must finish here, not bump the next test's counters
        for thread in threading.enumerate():
            if thread.name.startswith(f"fc-{SVC}-"):
                thread.join(10)


def path(function: str, service: str = SVC) -> str:
    return f"/2016-08-15/services/{service}/functions/{function}/invocations"


def error_of(exc: pytest.ExceptionInfo[Any]) -> dict[str, Any]:
    return dict(json.loads(exc.value.message))


# --------------------------------------------------------------------------- sync


def test_sync_dict_result(fc: Harness) -> None:
    fc.register("echo", "echo")
    resp = fc.client().invoke_function(SVC, "echo", payload=b'{"a": 1}')
    body = json.loads(resp.data)
    assert body["event"] == {"a": 1}
    assert body["requestId"] == resp.headers["X-Fc-Request-Id"]
    assert int(resp.headers["x-fc-invocation-duration"]) >= 0
    [record] = fc.emu.invocations()
    assert record["type"] == "Sync" and record["status"] == "Succeeded"
    assert record["payloadSize"] == 8 and record["attempts"][0]["outcome"] == "Succeeded"


def test_sync_bytes_and_str_results(fc: Harness) -> None:
    fc.register("raw", "raw_bytes")
    fc.register("text", "text")
    client = fc.client()
    assert client.invoke_function(SVC, "raw", payload=b"!").data == b"\x00raw\xff!"
    assert client.invoke_function(SVC, "text").data == "héllo".encode()


def test_handler_error_is_fc_error(fc: Harness) -> None:
    fc.register("boom", "boom")
    with pytest.raises(fc2.FcError) as exc:
        fc.client().invoke_function(SVC, "boom", payload=b"bad input")
    assert exc.value.status_code == 200 and exc.value.err_code == ""
    err = error_of(exc)
    assert err["errorMessage"] == "boom: bad input"
    assert err["errorType"] == "ValueError"
    assert any("in boom" in frame for frame in err["stackTrace"][-1])
    assert err["RequestId"] == exc.value.request_id
    assert fc.emu.invocations()[0]["status"] == "Failed"


def test_sync_timeout_and_abandoned_thread_finishing(fc: Harness) -> None:
    fc.register("slow", "slow", timeout=0.3)
    with pytest.raises(fc2.FcError) as exc:
        fc.client().invoke_function(SVC, "slow")
    assert error_of(exc)["errorMessage"] == "Function timed out after 0.3 seconds"
    [attempt] = fc.emu.invocations()[0]["attempts"]
    assert attempt["outcome"] == "Timeout" and "lateOutcome" not in attempt
    # the handler was not killed: once released it completes, like a lost acknowledgement
    fc_handlers.SLOW_RELEASE.set()
    for thread in threading.enumerate():
        if thread.name.startswith(f"fc-{SVC}-slow-"):
            thread.join(10)
    assert fc_handlers.count("slow:finished") == 1
    assert fc.emu.invocations()[0]["attempts"][0]["lateOutcome"] == "Succeeded"


def test_log_tail(fc: Harness) -> None:
    fc.register("chatty", "chatty")
    resp = fc.client().invoke_function(SVC, "chatty", headers={"x-fc-log-type": "Tail"})
    assert resp.data == b"ok"
    logged = base64.b64decode(resp.headers["X-Fc-Log-Result"]).decode()
    request_id = resp.headers["X-Fc-Request-Id"]
    assert f"FC Invoke Start RequestId: {request_id}" in logged
    assert "hello from print" in logged
    assert f"{request_id} [WARNING] warned via root" in logged
    assert "[INFO] info via context logger" in logged
    assert logged.endswith(f"FC Invoke End RequestId: {request_id}\n")


# --------------------------------------------------------------------------- async


def test_async_success(fc: Harness) -> None:
    fc.register("echo", "echo")
    resp = fc.client().invoke_function(SVC, "echo", payload=b"{}", headers=ASYNC)
    assert resp.data == b""
    request_id = resp.headers["X-Fc-Request-Id"]
    raw = fc.signed_post(path("echo"), b"{}", ASYNC)
    assert raw.status_code == 202 and raw.content == b""
    assert fc.emu.wait_idle(10)
    records = fc.emu.invocations()
    assert [r["requestId"] for r in records] == [request_id, raw.headers["X-Fc-Request-Id"]]
    assert all(r["type"] == "Async" and r["status"] == "Succeeded" for r in records)
    assert all(len(r["attempts"]) == 1 for r in records)
    assert fc.emu.async_failures() == []


def test_async_retries_then_success(fc: Harness) -> None:
    fc.register("flaky", "flaky")
    fc.client().invoke_function(SVC, "flaky", payload=b'{"key": "k", "fail": 2}', headers=ASYNC)
    assert fc.emu.wait_idle(10)
    [record] = fc.emu.invocations()
    assert record["status"] == "Succeeded"
    assert [a["outcome"] for a in record["attempts"]] == ["Error", "Error", "Succeeded"]
    assert record["attempts"][0]["errorMessage"] == "attempt 1 failed"
    assert fc_handlers.count("flaky:k") == 3
    assert fc.emu.async_failures() == []


def test_async_retries_exhausted_go_to_on_failure(fc: Harness) -> None:
    destination = f"acs:fc:cn-shanghai:{DEFAULT_ACCOUNT_ID}:services/{SVC}/functions/dead-letter"
    fc.register("flaky", "flaky", max_async_retry_attempts=2, on_failure=destination)
    resp = fc.client().invoke_function(SVC, "flaky", payload=b'{"key": "x", "fail": 99}', headers=ASYNC)
    assert fc.emu.wait_idle(10)
    [record] = fc.emu.invocations()
    assert record["status"] == "Failed" and len(record["attempts"]) == 3
    [failure] = fc.emu.async_failures()
    assert failure["requestId"] == resp.headers["X-Fc-Request-Id"]
    assert failure["destination"] == destination
    assert failure["reason"] == "RetriesExhausted" and failure["attempts"] == 3
    assert failure["lastError"] == {"errorType": "RuntimeError", "errorMessage": "attempt 3 failed"}


def test_async_event_age_exceeded(fc: Harness) -> None:
    fc.register("aged", "age_gate", max_async_event_age_seconds=60)
    fc.client().invoke_function(SVC, "aged", headers=ASYNC)
    assert fc_handlers.AGE_ENTERED.wait(10)
    fc.clock.advance(120)  # before the retry: the event is now older than its maximum age
    fc_handlers.AGE_PROCEED.set()
    assert fc.emu.wait_idle(10)
    [record] = fc.emu.invocations()
    assert record["status"] == "Expired" and len(record["attempts"]) == 1
    assert fc_handlers.count("age") == 1
    [failure] = fc.emu.async_failures()
    assert failure["reason"] == "EventAgeExceeded" and failure["destination"] is None


def test_async_timeout_is_retried_with_same_request_id(fc: Harness) -> None:
    fc.register("slow", "slow", timeout=0.2, max_async_retry_attempts=1)
    resp = fc.client().invoke_function(SVC, "slow", headers=ASYNC)
    assert fc.emu.wait_idle(10)
    [record] = fc.emu.invocations()
    assert record["requestId"] == resp.headers["X-Fc-Request-Id"]
    assert [a["outcome"] for a in record["attempts"]] == ["Timeout", "Timeout"]
    assert fc.emu.async_failures()[0]["lastError"]["errorType"] == "FunctionTimeout"


def test_async_queue_is_bounded_and_reset_drops_everything(fc: Harness) -> None:
    emu = FcEmulator(lambda: fc.config, fc.clock, async_workers=1, max_queued=1)
    Target.emu = emu
    try:
        emu.register(FunctionSpec(service=SVC, name="slow", handler=H + "slow"))
        client = fc.client()
        client.invoke_function(SVC, "slow", headers=ASYNC)
        assert fc_handlers.SLOW_ENTERED.wait(10)  # the only worker is busy
        client.invoke_function(SVC, "slow", headers=ASYNC)  # queued
        with pytest.raises(fc2.FcError) as exc:
            client.invoke_function(SVC, "slow", headers=ASYNC)
        assert exc.value.status_code == 429 and exc.value.err_code == "ResourceExhausted"
        assert [r["status"] for r in emu.invocations()] == ["Running", "Queued", "Rejected"]
        emu.reset()
        assert emu.functions() == [] and emu.invocations() == []
        fc_handlers.SLOW_RELEASE.set()
        assert emu.wait_idle(10)
        assert fc_handlers.count("slow:finished") == 1  # the queued one was dropped
        assert emu.invocations() == [] and emu.async_failures() == []
    finally:
        emu.shutdown()


# --------------------------------------------------------------------------- authentication


def test_sts_credentials(fc: Harness) -> None:
    fc.register("echo", "echo")
    ok = fc.client(DEFAULT_STS_ACCESS_KEY_ID, DEFAULT_STS_ACCESS_KEY_SECRET, DEFAULT_STS_SECURITY_TOKEN)
    assert json.loads(ok.invoke_function(SVC, "echo", payload=b"1").data)["event"] == 1
    for token in ("CAIS-wrong", None):
        with pytest.raises(fc2.FcError) as exc:
            fc.client(DEFAULT_STS_ACCESS_KEY_ID, DEFAULT_STS_ACCESS_KEY_SECRET, token).invoke_function(
                SVC, "echo", payload=b"1"
            )
        assert exc.value.status_code == 403 and exc.value.err_code == "AccessDenied"
    assert len(fc.emu.invocations()) == 1


def test_unknown_key_and_wrong_secret(fc: Harness) -> None:
    fc.register("echo", "echo")
    with pytest.raises(fc2.FcError) as exc:
        fc.client("LTAI-nobody", "x").invoke_function(SVC, "echo", payload=b"1")
    assert exc.value.status_code == 403 and exc.value.err_code == "InvalidAccessKeyID"
    assert error_of(exc)["ErrorMessage"] == "invalid access key ID 'LTAI-nobody'"
    with pytest.raises(fc2.FcError) as exc:
        fc.client(secret="not-the-secret").invoke_function(SVC, "echo", payload=b"1")
    assert exc.value.status_code == 403 and exc.value.err_code == "SignatureNotMatch"


def test_disabled_key_and_denied_action(fc: Harness) -> None:
    fc.register("echo", "echo")
    fc.config.credentials[0].allowed_actions = ["ebs:DescribeDiskReplicaPairs"]
    with pytest.raises(fc2.FcError) as exc:
        fc.client().invoke_function(SVC, "echo", payload=b"1")
    assert exc.value.status_code == 403 and exc.value.err_code == "AccessDenied"
    fc.config.credentials[0].enabled = False
    with pytest.raises(fc2.FcError) as exc:
        fc.client().invoke_function(SVC, "echo", payload=b"1")
    assert exc.value.err_code == "InvalidAccessKeyID"


def test_tampered_request_is_rejected(fc: Harness) -> None:
    fc.register("echo", "echo")
    good = fc.signed_post(path("echo"), b"[1]", {"x-fc-invocation-type": "Sync"})
    assert good.status_code == 200 and json.loads(good.content)["event"] == [1]
    # an x-fc-* header the signature did not cover
    bad = fc.signed_post(path("echo"), b"[1]", {"x-fc-invocation-type": "Async"}, sign_headers=False)
    assert bad.status_code == 403
    assert bad.json()["ErrorCode"] == "SignatureNotMatch" and bad.headers["X-Fc-Request-Id"]
    # a different function than the one signed
    headers = {"date": email.utils.formatdate(usegmt=True), "content-type": "application/json"}
    signature = sign(DEFAULT_ACCESS_KEY_SECRET, string_to_sign("POST", path("other"), headers))
    headers["authorization"] = f"FC {DEFAULT_ACCESS_KEY_ID}:{signature}"
    moved = requests.post(fc.url + path("echo"), data=b"1", headers=headers, timeout=10)
    assert moved.status_code == 403 and moved.json()["ErrorCode"] == "SignatureNotMatch"
    missing = requests.post(fc.url + path("echo"), data=b"1", timeout=10)
    assert missing.status_code == 400 and missing.json()["ErrorCode"] == "MissingRequiredHeader"
    assert fc.emu.invocations()[0]["status"] == "Succeeded" and len(fc.emu.invocations()) == 1


def test_unexpected_error_is_json_500(fc: Harness) -> None:
    def broken() -> EmulatorConfig:
        raise RuntimeError("config store unavailable")

    emu = FcEmulator(broken, fc.clock)
    request = Request.from_values(path=path("echo"), method="POST", data=b"{}")
    resp = emu.dispatch(request)
    assert resp.status_code == 500 and resp.json == {
        "ErrorCode": "InternalServerError",
        "ErrorMessage": "an internal error has occurred. Please retry.",
    }


# --------------------------------------------------------------------------- routing


def test_unknown_service_function_and_alias(fc: Harness) -> None:
    fc.register("echo", "echo")
    client = fc.client()
    cases = [
        (("nosuch", "echo"), {}, "ServiceNotFound", "service 'nosuch' does not exist"),
        ((SVC, "nosuch"), {}, "FunctionNotFound", f"function 'nosuch' does not exist in service '{SVC}'"),
        (
            (SVC, "echo"),
            {"qualifier": "prod"},
            "AliasNotFound",
            f"alias 'prod' of service '{SVC}' does not exist",
        ),
        (
            (SVC, "echo"),
            {"qualifier": "3"},
            "VersionNotFound",
            f"version '3' of service '{SVC}' does not exist",
        ),
    ]
    for args, kwargs, code, message in cases:
        with pytest.raises(fc2.FcError) as exc:
            client.invoke_function(*args, payload=b"1", **kwargs)
        assert (exc.value.status_code, exc.value.err_code) == (404, code)
        assert error_of(exc)["ErrorMessage"] == message
    other = fc.signed_post("/2016-08-15/services")
    assert other.status_code == 400 and other.json()["ErrorCode"] == "PathNotSupported"


def test_qualifier(fc: Harness) -> None:
    fc.register("ctx", "context_dump", qualifier="prod")
    client = fc.client()
    latest = json.loads(client.invoke_function(SVC, "ctx", qualifier="LATEST").data)
    assert latest["service"]["qualifier"] == "LATEST" and latest["service"]["version_id"] == "LATEST"
    prod = json.loads(client.invoke_function(SVC, "ctx", qualifier="prod").data)
    assert prod["service"]["qualifier"] == "prod"
    assert [r["qualifier"] for r in fc.emu.invocations()] == ["LATEST", "prod"]


# --------------------------------------------------------------------------- runtime


def test_context_fields(fc: Harness) -> None:
    fc.register("ctx", "context_dump", memory_size=256, timeout=30, log_project="proj", log_store="store")
    resp = fc.client().invoke_function(SVC, "ctx")
    ctx = json.loads(resp.data)
    assert ctx["request_id"] == resp.headers["X-Fc-Request-Id"]
    assert ctx["credentials"] == {
        "access_key_id": DEFAULT_STS_ACCESS_KEY_ID,
        "access_key_secret": DEFAULT_STS_ACCESS_KEY_SECRET,
        "security_token": DEFAULT_STS_SECURITY_TOKEN,
    }
    assert ctx["function"] == {"name": "ctx", "handler": H + "context_dump", "memory": 256, "timeout": 30}
    assert ctx["service"] == {
        "name": SVC,
        "log_project": "proj",
        "log_store": "store",
        "qualifier": "LATEST",
        "version_id": "LATEST",
    }
    assert ctx["region"] == "cn-shanghai" and ctx["account_id"] == DEFAULT_ACCOUNT_ID
    assert ctx["tracing"] == {"span_context": None, "jaeger_endpoint": None, "span_baggages": {}}


def test_environment_applied_and_restored(fc: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FC_TEST_EXISTING", "outside")
    monkeypatch.delenv("FC_TEST_REGION", raising=False)
    fc.register("env", "env", environment={"FC_TEST_REGION": "cn-hangzhou", "FC_TEST_EXISTING": "inside"})
    resp = fc.client().invoke_function(SVC, "env", payload=b'["FC_TEST_REGION", "FC_TEST_EXISTING"]')
    assert json.loads(resp.data) == {"FC_TEST_REGION": "cn-hangzhou", "FC_TEST_EXISTING": "inside"}
    assert os.environ["FC_TEST_EXISTING"] == "outside"
    assert "FC_TEST_REGION" not in os.environ


def test_same_environment_runs_concurrently(fc: Harness) -> None:
    for name in ("left", "right"):
        fc.register(name, "rendezvous", environment={"FC_TEST_SHARED": "1"})
    client = fc.client()
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda name: client.invoke_function(SVC, name).data, ["left", "right"]))
    assert results == [b"met", b"met"]


def test_env_gate_excludes_other_environments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FC_TEST_GATE", raising=False)
    gate = EnvGate()
    one, two = {"FC_TEST_GATE": "1"}, {"FC_TEST_GATE": "2"}
    assert gate.acquire(one)
    joined = threading.Event()

    def same() -> None:
        if gate.acquire(one, timeout=10):
            joined.set()
            gate.release()

    worker = threading.Thread(target=same)
    worker.start()
    assert joined.wait(10)  # same mapping joins while the first holder is inside
    worker.join(10)
    assert not gate.acquire(two, timeout=0.05)  # a different mapping waits
    assert os.environ["FC_TEST_GATE"] == "1"
    gate.release()
    assert "FC_TEST_GATE" not in os.environ
    assert gate.acquire(two, timeout=1)
    assert os.environ["FC_TEST_GATE"] == "2"
    gate.release()
    assert "FC_TEST_GATE" not in os.environ


def test_initializer_runs_once(fc: Harness) -> None:
    fc.register("init", "inits", initializer=H + "initialize")
    client = fc.client()
    results = [json.loads(client.invoke_function(SVC, "init").data) for _ in range(3)]
    assert results == [{"inits": 1, "calls": n} for n in (1, 2, 3)]


def test_failed_initializer_is_retried(fc: Harness) -> None:
    fc.register("init", "inits", initializer=H + "initialize_fails_once")
    client = fc.client()
    with pytest.raises(fc2.FcError) as exc:
        client.invoke_function(SVC, "init")
    assert error_of(exc)["errorMessage"] == "initializer failed"
    assert json.loads(client.invoke_function(SVC, "init").data) == {"inits": 1, "calls": 1}
    assert json.loads(client.invoke_function(SVC, "init").data) == {"inits": 1, "calls": 2}


def test_spec_uses_camel_case_aliases() -> None:
    spec = FunctionSpec.model_validate(
        {"service": "s", "name": "f", "handler": H + "echo", "maxAsyncRetryAttempts": 0, "onFailure": "arn"}
    )
    assert spec.max_async_retry_attempts == 0 and spec.on_failure == "arn"
    with pytest.raises(ValueError, match=r"package\.module:function"):
        FunctionSpec(service="s", name="f", handler="not a handler")


def test_the_context_credentials_repr_hides_the_secret_and_the_token() -> None:
    from chaos.emulator.fc.context import Credentials

    shown = repr(Credentials("LTAI-canary-id", "canary-secret-value", "canary-sts-token"))
    assert "LTAI-canary-id" in shown
    assert "canary-secret-value" not in shown and "canary-sts-token" not in shown
