"""FC 3.0 (2023-03-30) on the FcEmulator: the official ``alibabacloud_fc20230330`` client over 127.0.0.1.

Same registry, runtime, async queue and records as the FC 2.0 API; these tests cover the 3.0 wire:
ACS3 signing, service-less names, ``qualifier`` as a query parameter, async tasks and their statuses.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from alibabacloud_fc20230330 import models as m
from alibabacloud_fc20230330.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.utils_models import Config
from darabonba.runtime import RuntimeOptions
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
from chaos.emulator.fc import FcEmulator, FunctionSpec
from tests.emulator import fc_handlers

H = "tests.emulator.fc_handlers:"
SVC = "fc3svc"
WAIT = 10.0


class Target:
    emu: FcEmulator | None = None


@Request.application
def app(request: Request) -> Response:
    emu = Target.emu
    if emu is not None and emu.handles(request.path):
        return emu.dispatch(request)
    return Response(json.dumps({"Code": "NotFound", "Message": request.path}), 404)


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    server = WSGIServer(host="127.0.0.1", port=0, application=app, threaded=True)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@dataclass
class Harness:
    emu: FcEmulator
    clock: Clock
    config: EmulatorConfig
    url: str

    def client(
        self, key: str = DEFAULT_ACCESS_KEY_ID, secret: str = DEFAULT_ACCESS_KEY_SECRET, token: str | None = None
    ) -> Client:
        endpoint = self.url.removeprefix("http://")
        return Client(
            Config(
                access_key_id=key,
                access_key_secret=secret,
                security_token=token,
                region_id="cn-shanghai",
                endpoint=endpoint,
                protocol="http",
                read_timeout=10_000,
                connect_timeout=5_000,
            )
        )

    def register(self, name: str, handler: str, **kwargs: Any) -> FunctionSpec:
        spec = FunctionSpec(service=kwargs.pop("service", SVC), name=name, handler=H + handler, **kwargs)
        self.emu.register(spec)
        return spec

    def invoke(
        self,
        function: str,
        body: bytes = b"",
        *,
        client: Client | None = None,
        qualifier: str | None = None,
        **headers: str,
    ) -> m.InvokeFunctionResponse:
        return (client or self.client()).invoke_function_with_options(
            function,
            m.InvokeFunctionRequest(body=body, qualifier=qualifier),
            m.InvokeFunctionHeaders(**headers),
            RuntimeOptions(),
        )

    def task(self, function: str, task_id: str) -> dict[str, Any]:
        resp = self.client().get_async_task(function, task_id, m.GetAsyncTaskRequest())
        result: dict[str, Any] = resp.body.to_map()
        return result

    def tasks(self, function: str, **query: Any) -> dict[str, Any]:
        resp = self.client().list_async_tasks(function, m.ListAsyncTasksRequest(**query))
        result: dict[str, Any] = resp.body.to_map()
        return result


@pytest.fixture
def fc(server_url: str) -> Iterator[Harness]:
    fc_handlers.reset()
    config = EmulatorConfig()
    clock = Clock(frozen=True)
    # one worker: a second async task waits behind a first one the test holds in its handler
    emu = FcEmulator(lambda: config, clock, async_workers=1)
    emu.retry_backoff_seconds = 0.01
    Target.emu = emu
    try:
        yield Harness(emu, clock, config, server_url)
    finally:
        fc_handlers.release_all()
        Target.emu = None
        emu.shutdown()
        for thread in threading.enumerate():
            if thread.name.startswith(f"fc-{SVC}-"):
                thread.join(10)


def async_headers(task_id: str | None = None) -> dict[str, str]:
    headers = {"x_fc_invocation_type": "Async"}
    if task_id is not None:
        headers["x_fc_async_task_id"] = task_id
    return headers


def fc_error(exc: pytest.ExceptionInfo[ClientException]) -> tuple[int | None, str | None, dict[str, Any]]:
    data: dict[str, Any] = dict(exc.value.data or {})
    return exc.value.status_code, exc.value.code, data


# --------------------------------------------------------------------------- sync


def test_sync_invocation_returns_the_result(fc: Harness) -> None:
    fc.register("echo", "echo")
    resp = fc.invoke("echo", b'{"a": 1}')
    assert resp.status_code == 200
    body = json.loads(resp.body.read())
    assert body["event"] == {"a": 1}
    assert body["requestId"] == resp.headers["x-fc-request-id"]
    (record,) = fc.emu.invocations()
    assert (record["api"], record["type"], record["status"]) == ("2023-03-30", "Sync", "Succeeded")
    assert record["qualifier"] == "LATEST" and record["service"] == SVC


def test_sync_handler_error_and_log_tail(fc: Harness) -> None:
    fc.register("boom", "boom")
    fc.register("chatty", "chatty")
    resp = fc.invoke("boom", b"bad input")
    assert resp.status_code == 200 and resp.headers["x-fc-error-type"] == "UnhandledInvocationError"
    assert json.loads(resp.body.read())["errorMessage"] == "boom: bad input"
    tail = fc.invoke("chatty", x_fc_log_type="Tail")
    assert tail.body.read() == b"ok"
    logged = base64.b64decode(tail.headers["x-fc-log-result"]).decode()
    assert f"FC Invoke Start RequestId: {tail.headers['x-fc-request-id']}" in logged
    assert "hello from print" in logged


def test_sts_credentials_and_service_dollar_name(fc: Harness) -> None:
    fc.register("echo", "echo")
    fc.register("echo", "text", service="other")
    sts = fc.client(DEFAULT_STS_ACCESS_KEY_ID, DEFAULT_STS_ACCESS_KEY_SECRET, DEFAULT_STS_SECURITY_TOKEN)
    assert fc.invoke("other$echo", client=sts).body.read() == "héllo".encode()
    assert json.loads(fc.invoke(f"{SVC}$echo", b"1", client=sts).body.read())["event"] == 1
    # the bare name is ambiguous across two services: the emulator says which form to use
    with pytest.raises(ClientException) as exc:
        fc.invoke("echo")
    status, code, data = fc_error(exc)
    assert (status, code) == (400, "InvalidArgument") and "service$echo" in data["Message"]


def test_qualifier_is_a_query_parameter(fc: Harness) -> None:
    fc.register("echo", "echo", qualifier="prod")
    fc.invoke("echo", b"{}", qualifier="prod")
    assert fc.emu.invocations()[0]["qualifier"] == "prod"
    with pytest.raises(ClientException) as exc:
        fc.invoke("echo", b"{}", qualifier="staging")
    status, code, data = fc_error(exc)
    assert (status, code) == (404, "AliasNotFound")
    assert data["Message"] == "alias 'staging' of function 'echo' does not exist"
    assert len(fc.emu.invocations()) == 1


# --------------------------------------------------------------------------- errors, signatures


def test_unknown_function_is_function_not_found(fc: Harness) -> None:
    with pytest.raises(ClientException) as exc:
        fc.invoke("nope", b"{}", **async_headers("t1"))
    status, code, data = fc_error(exc)
    assert (status, code) == (404, "FunctionNotFound")
    assert data["Message"] == "function 'nope' does not exist" and data["RequestId"]
    assert exc.value.request_id == data["RequestId"]
    assert fc.emu.invocations() == []


@pytest.mark.parametrize(
    ("key", "secret", "status", "code"),
    [
        (DEFAULT_ACCESS_KEY_ID, "not-the-secret", 403, "SignatureNotMatch"),
        ("LTAI-unknown", DEFAULT_ACCESS_KEY_SECRET, 403, "InvalidAccessKeyID"),
        (DEFAULT_STS_ACCESS_KEY_ID, DEFAULT_STS_ACCESS_KEY_SECRET, 403, "AccessDenied"),  # no STS token sent
    ],
)
def test_bad_credentials_invoke_nothing(fc: Harness, key: str, secret: str, status: int, code: str) -> None:
    fc.register("echo", "echo")
    with pytest.raises(ClientException) as exc:
        fc.invoke("echo", b"{}", client=fc.client(key, secret), **async_headers())
    assert fc_error(exc)[:2] == (status, code)
    assert secret not in json.dumps(exc.value.data)
    assert fc.emu.invocations() == []


def test_unsigned_and_fc2_signed_requests_are_refused(fc: Harness) -> None:
    fc.register("echo", "echo")
    url = f"{fc.url}/2023-03-30/functions/echo/invocations"
    bare = requests.post(url, data=b"{}", timeout=10)
    assert bare.status_code == 400 and bare.json()["Code"] == "MissingRequiredHeader"
    fc2_style = requests.post(url, data=b"{}", headers={"Authorization": "FC key:sig"}, timeout=10)
    assert fc2_style.status_code == 400 and fc2_style.json()["Code"] == "InvalidArgument"
    unknown = requests.delete(f"{fc.url}/2023-03-30/functions/echo", timeout=10)
    assert unknown.status_code == 400 and unknown.json()["Code"] == "PathNotSupported"
    assert fc.emu.invocations() == []


def test_ram_policy_without_invoke_is_access_denied(fc: Harness) -> None:
    fc.register("echo", "echo")
    fc.config.credentials[0].allowed_actions = ["fc:GetAsyncTask"]
    with pytest.raises(ClientException) as exc:
        fc.invoke("echo")
    status, code, data = fc_error(exc)
    assert (status, code) == (403, "AccessDenied")
    assert f"acs:fc:cn-shanghai:{DEFAULT_ACCOUNT_ID}:functions/echo" in data["Message"]
    assert fc.emu.invocations() == []


# --------------------------------------------------------------------------- async tasks


def test_async_202_and_task_through_its_statuses(fc: Harness) -> None:
    fc.register("slow", "slow")
    fc.register("echo", "echo")
    started = fc.clock.now()
    first = fc.invoke("slow", b"{}", **async_headers("first-task"))
    assert first.status_code == 202 and first.body.read() == b""
    assert first.headers["x-fc-async-task-id"] == "first-task" and first.headers["x-fc-request-id"]
    assert fc_handlers.SLOW_ENTERED.wait(WAIT)
    second = fc.invoke("echo", b'{"n": 2}', **async_headers("_second-task"))
    running, queued = fc.task("slow", "first-task"), fc.task("echo", "_second-task")
    assert running["status"] == "Running" and queued["status"] == "Enqueued"  # the one worker is busy
    assert queued["requestId"] == second.headers["x-fc-request-id"]
    assert queued["functionArn"] == f"acs:fc:cn-shanghai:{DEFAULT_ACCOUNT_ID}:functions/echo"
    assert queued["startedTime"] == round(started * 1000) and "endTime" not in queued
    assert queued["taskPayload"] == '{"n": 2}'

    fc.clock.advance(5)  # the emulator clock dates the task's end and its events
    fc_handlers.SLOW_RELEASE.set()
    assert fc.emu.wait_idle(WAIT)
    done = fc.task("slow", "first-task")
    assert done["status"] == "Succeeded" and done["returnPayload"] == "finished late"
    assert done["endTime"] == round((started + 5) * 1000) and done["alreadyRetriedTimes"] == 0
    assert [e["status"] for e in done["events"]] == ["Enqueued", "Running", "Succeeded"]
    assert fc.task("echo", "_second-task")["status"] == "Succeeded"


def test_async_task_retrying_then_failed(fc: Harness) -> None:
    fc.register("flaky", "flaky", max_async_retry_attempts=1)
    fc.invoke("flaky", json.dumps({"key": "f", "fail": 5}).encode(), **async_headers("retry-me"))
    assert fc.emu.wait_idle(WAIT)
    task = fc.task("flaky", "retry-me")
    assert task["status"] == "Failed" and task["alreadyRetriedTimes"] == 1
    assert task["taskErrorMessage"] == "attempt 2 failed"
    statuses = [e["status"] for e in task["events"]]
    assert statuses == ["Enqueued", "Running", "Retrying", "Running", "Failed"]
    assert fc_handlers.count("flaky:f") == 2
    (failure,) = fc.emu.async_failures()  # the same give-up record as an FC 2.0 async call
    assert failure["reason"] == "RetriesExhausted"


def test_async_task_expires_on_the_emulator_clock(fc: Harness) -> None:
    fc.register("slow", "slow")
    fc.register("echo", "echo", max_async_event_age_seconds=60)
    fc.invoke("slow", b"{}", **async_headers("blocker"))
    assert fc_handlers.SLOW_ENTERED.wait(WAIT)
    fc.invoke("echo", b"{}", **async_headers("too-old"))
    fc.clock.advance(61)  # older than its maximum event age before a worker picks it up
    fc_handlers.SLOW_RELEASE.set()
    assert fc.emu.wait_idle(WAIT)
    task = fc.task("echo", "too-old")
    assert task["status"] == "Expired" and "durationMs" not in task
    assert [e["status"] for e in task["events"]] == ["Enqueued", "Expired"]


def test_duplicate_task_id_is_409_and_runs_once(fc: Harness) -> None:
    fc.register("flaky", "flaky")
    payload = json.dumps({"key": "dup", "fail": 0}).encode()
    fc.invoke("flaky", payload, **async_headers("once-only"))
    with pytest.raises(ClientException) as exc:
        fc.invoke("flaky", payload, **async_headers("once-only"))
    status, code, data = fc_error(exc)
    assert (status, code) == (409, "AsyncTaskAlreadyExists") and "once-only" in data["Message"]
    assert fc.emu.wait_idle(WAIT)
    assert fc_handlers.count("flaky:dup") == 1
    assert sorted(r["status"] for r in fc.emu.invocations()) == ["Rejected", "Succeeded"]


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"x_fc_invocation_type": "Async", "x_fc_async_task_id": "9starts-with-digit"}, "must start with"),
        ({"x_fc_invocation_type": "Async", "x_fc_async_task_id": "x" * 129}, "at most 128"),
        ({"x_fc_async_task_id": "sync-task"}, "needs x-fc-invocation-type: Async"),
        ({"x_fc_invocation_type": "Later"}, "invalid invocation type"),
    ],
)
def test_bad_invocation_headers_invoke_nothing(fc: Harness, headers: dict[str, str], message: str) -> None:
    fc.register("echo", "echo")
    with pytest.raises(ClientException) as exc:
        fc.invoke("echo", b"{}", **headers)
    status, code, data = fc_error(exc)
    assert (status, code) == (400, "InvalidArgument") and message in data["Message"]
    assert fc.emu.invocations() == []


def test_get_unknown_task_is_404(fc: Harness) -> None:
    fc.register("echo", "echo")
    with pytest.raises(ClientException) as exc:
        fc.task("echo", "never-made")
    assert fc_error(exc)[:2] == (404, "AsyncTaskNotFound")


def test_list_async_tasks_filters_and_pages(fc: Harness) -> None:
    fc.register("echo", "echo")
    for n in range(5):
        fc.invoke("echo", b"{}", **async_headers(f"batch-{n}"))
        fc.clock.advance(1)
    fc.invoke("echo", b"{}", **async_headers("other-0"))
    assert fc.emu.wait_idle(WAIT)
    newest_first = fc.tasks("echo", prefix="batch-")
    assert [t["taskId"] for t in newest_first["tasks"]] == [f"batch-{n}" for n in (4, 3, 2, 1, 0)]
    assert "nextToken" not in newest_first and "taskPayload" not in newest_first["tasks"][0]
    page1 = fc.tasks("echo", prefix="batch-", limit=2, sort_order_by_time="asc", include_payload=True)
    assert [t["taskId"] for t in page1["tasks"]] == ["batch-0", "batch-1"] and page1["tasks"][0]["taskPayload"] == "{}"
    page2 = fc.tasks("echo", prefix="batch-", limit=2, sort_order_by_time="asc", next_token=page1["nextToken"])
    assert [t["taskId"] for t in page2["tasks"]] == ["batch-2", "batch-3"]
    begin = fc.tasks("echo", started_time_begin=page1["tasks"][1]["startedTime"], sort_order_by_time="asc")
    assert [t["taskId"] for t in begin["tasks"]] == ["batch-1", "batch-2", "batch-3", "batch-4", "other-0"]
    assert fc.tasks("echo", status="Failed")["tasks"] == []
    with pytest.raises(ClientException) as exc:
        fc.tasks("echo", limit=101)
    assert fc_error(exc)[:2] == (400, "InvalidArgument")


def test_stop_async_task(fc: Harness) -> None:
    fc.register("slow", "slow")
    fc.register("flaky", "flaky")
    fc.invoke("slow", b"{}", **async_headers("blocker"))
    assert fc_handlers.SLOW_ENTERED.wait(WAIT)
    fc.invoke("flaky", json.dumps({"key": "stopped", "fail": 0}).encode(), **async_headers("to-stop"))
    fc.client().stop_async_task("flaky", "to-stop", m.StopAsyncTaskRequest())
    assert fc.task("flaky", "to-stop")["status"] == "Stopping"
    fc_handlers.SLOW_RELEASE.set()
    assert fc.emu.wait_idle(WAIT)
    assert fc.task("flaky", "to-stop")["status"] == "Stopped"
    assert fc_handlers.count("flaky:stopped") == 0  # never ran
    with pytest.raises(ClientException) as exc:  # a finished task cannot be stopped
        fc.client().stop_async_task("slow", "blocker", m.StopAsyncTaskRequest())
    assert fc_error(exc)[:2] == (400, "InvalidArgument")


def test_reset_forgets_tasks(fc: Harness) -> None:
    fc.register("echo", "echo")
    fc.invoke("echo", b"{}", **async_headers("before-reset"))
    assert fc.emu.wait_idle(WAIT)
    fc.emu.reset()
    fc.register("echo", "echo")
    fc.invoke("echo", b"{}", **async_headers("before-reset"))  # the id is free again
    assert fc.emu.wait_idle(WAIT)
    assert fc.task("echo", "before-reset")["status"] == "Succeeded"
