"""The emulator's FC knobs: ``fc.asyncConcurrency`` (async invocations at once) and
``fc.isolation = "process"`` (one child process per attempt, its peak RSS on the attempt), through
the official FC 3.0 client over 127.0.0.1."""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from alibabacloud_fc20230330 import models as m
from alibabacloud_fc20230330.client import Client
from alibabacloud_tea_openapi.utils_models import Config
from darabonba.runtime import RuntimeOptions

from chaos.emulator.app import Emulator
from chaos.emulator.config import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET
from chaos.emulator.fc import FunctionSpec

HERE = "tests.emulator.test_fc_isolation:"
_lock = threading.Lock()
_running = {"now": 0, "max": 0}
_barrier = threading.Barrier(6, timeout=10)


def pid(event: bytes, context: Any) -> dict[str, Any]:
    return {"pid": os.getpid(), "env": os.environ.get("ISO_VAR"), "key": context.credentials.access_key_id}


def hold_40_mb(event: bytes, context: Any) -> int:
    block = bytearray(40 * 1024 * 1024)
    for i in range(0, len(block), 4096):  # touch every page: resident, not just reserved
        block[i] = 1
    return len(block)


def forever(event: bytes, context: Any) -> None:
    threading.Event().wait()


def all_six_at_once(event: bytes, context: Any) -> str:
    _barrier.wait()
    return "met"


def counted(event: bytes, context: Any) -> str:
    with _lock:
        _running["now"] += 1
        _running["max"] = max(_running["max"], _running["now"])
    try:
        threading.Event().wait(0.05)  # overlap, if the queue lets invocations overlap
    finally:
        with _lock:
            _running["now"] -= 1
    return "ok"


def client(endpoint: str) -> Client:
    return Client(
        Config(
            access_key_id=DEFAULT_ACCESS_KEY_ID,
            access_key_secret=DEFAULT_ACCESS_KEY_SECRET,
            endpoint=endpoint,
            protocol="http",
            read_timeout=20_000,
            connect_timeout=5_000,
        )
    )


def invoke(endpoint: str, name: str, body: bytes = b"{}", **headers: str) -> bytes:
    resp = client(endpoint).invoke_function_with_options(
        name, m.InvokeFunctionRequest(body=body), m.InvokeFunctionHeaders(**headers), RuntimeOptions()
    )
    raw = resp.body
    return bytes(raw.read() if hasattr(raw, "read") else raw or b"")


def register(emulator: Emulator, name: str, handler: str, **kwargs: Any) -> None:
    emulator.fc.register(FunctionSpec(service="iso", name=name, handler=HERE + handler, **kwargs))


def test_process_isolation_runs_each_attempt_in_its_own_process(emulator: Emulator, endpoint: str) -> None:
    emulator.update_config({"fc": {"isolation": "process"}})
    register(emulator, "pid", "pid", environment={"ISO_VAR": "set-for-the-function"})
    first = json.loads(invoke(endpoint, "pid"))
    second = json.loads(invoke(endpoint, "pid"))
    assert first["pid"] != os.getpid() and second["pid"] not in (os.getpid(), first["pid"])
    assert first["env"] == "set-for-the-function" and "ISO_VAR" not in os.environ
    # the function role's STS key, handed over on stdin like the thread runtime's context
    assert first["key"] == emulator.config().function_role_access_key_id
    rss = [i["attempts"][0]["peakRssMb"] for i in emulator.fc.invocations()]
    assert all(isinstance(r, float) and 5 < r < 200 for r in rss), rss


def test_peak_rss_is_the_childs_own(emulator: Emulator, endpoint: str) -> None:
    emulator.update_config({"fc": {"isolation": "process"}})
    register(emulator, "pid", "pid")
    register(emulator, "big", "hold_40_mb")
    invoke(endpoint, "pid")
    assert invoke(endpoint, "big") == str(40 * 1024 * 1024).encode()
    small, big = (i["attempts"][0]["peakRssMb"] for i in emulator.fc.invocations())
    assert big - small >= 38, (small, big)


def test_a_timed_out_child_is_killed(emulator: Emulator, endpoint: str) -> None:
    emulator.update_config({"fc": {"isolation": "process"}})
    register(emulator, "hang", "forever", timeout=1)
    assert json.loads(invoke(endpoint, "hang"))["errorType"] == "FunctionTimeout"
    [attempt] = emulator.fc.invocations()[0]["attempts"]
    assert attempt["outcome"] == "Timeout" and "lateOutcome" not in attempt and attempt.get("peakRssMb") is None


def test_async_concurrency_knob_lets_six_run_at_once(emulator: Emulator, endpoint: str) -> None:
    emulator.update_config({"fc": {"asyncConcurrency": 6}})
    register(emulator, "six", "all_six_at_once", max_async_retry_attempts=0)
    for _ in range(6):
        invoke(endpoint, "six", x_fc_invocation_type="Async")
    assert emulator.fc.wait_idle(20)
    assert [i["status"] for i in emulator.fc.invocations()] == ["Succeeded"] * 6


def test_async_concurrency_knob_bounds_what_runs_at_once(emulator: Emulator, endpoint: str) -> None:
    emulator.update_config({"fc": {"asyncConcurrency": 2}})
    register(emulator, "counted", "counted")
    for _ in range(8):
        invoke(endpoint, "counted", x_fc_invocation_type="Async")
    assert emulator.fc.wait_idle(20)
    assert [i["status"] for i in emulator.fc.invocations()] == ["Succeeded"] * 8
    assert _running["max"] == 2


def test_bad_knobs_are_refused(emulator: Emulator) -> None:
    import pydantic
    import pytest

    for bad in ({"isolation": "vm"}, {"asyncConcurrency": 0}, {"asyncConcurrency": 1000}, {"typo": 1}):
        with pytest.raises(pydantic.ValidationError):
            emulator.update_config({"fc": bad})
    assert emulator.config().fc.async_concurrency == 4 and emulator.config().fc.isolation == "thread"
